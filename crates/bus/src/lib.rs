//! Event bus: durable streams with consumer groups and ephemeral pub/sub; in-process and Redis.
