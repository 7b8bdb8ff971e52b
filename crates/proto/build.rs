//! Compiles `proto/ultra/v1/*.proto` with protox (pure Rust: no system `protoc`), writes the
//! descriptor set for gRPC server reflection, and generates the tonic clients and servers.

use std::path::PathBuf;

use prost::Message;

const FILES: [&str; 11] = [
    "ultra/v1/common.proto",
    "ultra/v1/events.proto",
    "ultra/v1/users.proto",
    "ultra/v1/files.proto",
    "ultra/v1/simulation.proto",
    "ultra/v1/results.proto",
    "ultra/v1/billing.proto",
    "ultra/v1/analytics.proto",
    "ultra/v1/privacy.proto",
    "ultra/v1/sso.proto",
    "ultra/v1/organizations.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let descriptors = protox::compile(FILES, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("ultra_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
