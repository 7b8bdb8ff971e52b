//! The gRPC contracts of Ultra's services, generated from `proto/ultra/v1` at build time.

/// Package `ultra.v1`: messages, clients (`*_client`) and servers (`*_server`).
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("ultra.v1");
}

/// The encoded `FileDescriptorSet` of every Ultra proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("ultra_descriptor");
