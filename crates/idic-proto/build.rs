//! Compiles the contracts in `proto/` with protox (pure Rust, no system `protoc`) and
//! generates prost messages and tonic clients and servers from the descriptors.

use std::path::PathBuf;

use prost::Message;

const PROTO_ROOT: &str = "../../proto";
const FILES: &[&str] = &[
    "idic/v1/common.proto",
    "idic/v1/identity.proto",
    "idic/v1/differentiation.proto",
    "idic/v1/interaction.proto",
    "idic/v1/customization.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let descriptors = protox::compile(FILES, [PROTO_ROOT])?;

    // Server reflection serves this set, so clients need no .proto files.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("idic_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Undecodable requests are the caller's mistake: see `src/codec.rs`.
        .codec_path("crate::codec::IdicCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
