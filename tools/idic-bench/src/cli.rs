//! The command line: `idic-bench run` measures one target, `idic-bench baseline`
//! measures the bare server and the suite with the same settings and compares them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use crate::duration::parse_duration;
use crate::scenario::Scenario;
use crate::targets::TargetKind;

/// Requests in flight and connections that gave the bare server its best throughput
/// with one server and one client worker thread on a 2-core machine (see
/// docs/benchmarks.md): beyond 128 in flight throughput no longer grows, only latency.
const DEFAULT_CONCURRENCY: usize = 128;
const DEFAULT_CONNECTIONS: usize = 1;

/// Load generator for the IDIC suite: gRPC load over loopback, latency histograms.
#[derive(Debug, Parser)]
#[command(name = "idic-bench", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure one target in one mode.
    Run(RunArgs),
    /// Measure the bare tonic server and the suite with the same settings, at maximum
    /// throughput and at a fixed rate, and print the suite/bare ratios.
    Baseline(BaselineArgs),
    /// Identity benchmarks: accuracy and order independence against ground truth, and
    /// bulk import into a separately started `idic`.
    #[command(subcommand)]
    Identity(crate::identity::IdentityBench),
    /// Customization benchmarks: tailored offering under load, with a hanging
    /// dependency, and the learning simulation.
    #[command(subcommand)]
    Customization(crate::customization::CustomizationBench),
    /// Differentiation benchmarks: model fit from stored transactions, GetCustomerValue
    /// under load with 1M transactions, value skew over 1M customers.
    #[command(subcommand)]
    Differentiation(crate::differentiation::DifferentiationBench),
    /// Interaction benchmarks: RecordInteraction throughput on SQLite or PostgreSQL,
    /// GetContext latency with 1M interactions stored.
    #[command(subcommand)]
    Interaction(crate::interaction::InteractionBench),
    /// Mixed traffic at a steady rate for a bounded time (embedded, or PostgreSQL plus
    /// Redis): error rate, p99 drift from the first minute to the last, memory growth.
    Soak(crate::soak::SoakArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "suite")]
    pub target: TargetKind,
    /// The server to measure with `--target external` (loopback only).
    #[arg(long, required_if_eq("target", "external"))]
    pub server: Option<String>,
    /// Fixed-rate (open-loop) mode: requests per second in total.
    #[arg(long, conflicts_with = "concurrency")]
    pub rate: Option<u64>,
    /// Max-throughput (closed-loop) mode: requests in flight in total (the default mode).
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Requests in flight in total for the max-throughput comparison.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Requests per second for the fixed-rate comparison; 0 skips it.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    /// Repeat the whole comparison this many times; the report gives the median.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Settings shared by every command.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The request to send.
    #[arg(long, value_enum, default_value = "health-check")]
    pub scenario: Scenario,
    /// HTTP/2 connections, each its own tonic channel; requests are spread over them.
    #[arg(long, default_value_t = DEFAULT_CONNECTIONS)]
    pub connections: usize,
    /// Measured time per run (`15s`, `500ms`, `2m`; a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load applied before measuring, to warm connections and caches; discarded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// A request not answered within this time is counted as DEADLINE_EXCEEDED.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Worker threads of the in-process server's tokio runtime.
    #[arg(long, default_value_t = 1)]
    pub server_threads: usize,
    /// Worker threads of the load generator's tokio runtime.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Before each measurement, wait up to this long for other processes to leave the
    /// CPUs alone (below 10% of a core for 2 s); 0 does not wait.
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    pub wait_for_idle: Duration,
    /// Also append the results as a Markdown section to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Records CSV whose fields the resolve scenarios ask about (the file imported).
    #[arg(long)]
    pub queries: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn external_needs_a_server_and_rate_excludes_concurrency() {
        assert!(Cli::try_parse_from(["idic-bench", "run", "--target", "external"]).is_err());
        assert!(
            Cli::try_parse_from(["idic-bench", "run", "--rate", "10", "--concurrency", "4"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["idic-bench", "baseline", "--duration", "3s"]).is_ok());
    }
}
