//! Users service: organisations, users, memberships, login and tokens.
