//! Compiles `proto/` with protox (pure Rust, so no system `protoc` is needed), writes the
//! encoded descriptor set to `OUT_DIR/stancer_descriptor.bin` for server reflection, and
//! generates the prost messages and tonic client and server from the same descriptors.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["stancer/v1/stancer.proto"], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("stancer_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
