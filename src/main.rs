//! `idic`: the all-in-one server and command-line client. See `idic --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    idic::cli::Cli::parse().run().await
}
