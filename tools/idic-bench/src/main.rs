//! `idic-bench`: load generator for the IDIC suite. See `idic-bench --help`.

#![forbid(unsafe_code)]

use clap::Parser;

/// The same allocator as the `idic` binary, so that the in-process servers (bare and
/// suite alike) are measured allocating as production does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    idic_bench::runner::run(idic_bench::cli::Cli::parse())
}
