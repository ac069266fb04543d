//! `idic`: the all-in-one server and command-line client. See `idic --help`.

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    idic::cli::Cli::parse().run().await
}
