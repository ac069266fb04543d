//! `idic-bench`: load generator for the IDIC suite. See `idic-bench --help`.

#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> anyhow::Result<()> {
    idic_bench::runner::run(idic_bench::cli::Cli::parse())
}
