//! Shared gRPC plumbing: serving with health and reflection, callers, shutdown.
