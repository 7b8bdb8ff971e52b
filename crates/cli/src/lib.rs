//! Library side of the `ultra` binary: the in-process platform that `ultra serve` runs and
//! that end-to-end tests start on ephemeral ports.

pub mod http_client;
pub mod platform;
