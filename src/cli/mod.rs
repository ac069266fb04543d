//! The `idic` command line: `serve` (the default), `config`, and client commands that
//! reach a running suite at `--server`.

mod client;
mod serve;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "idic",
    version,
    about = "The IDIC suite: identify, differentiate, interact, customize",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A TOML configuration file (layered over the defaults, under the environment).
    #[arg(long, global = true, env = "IDIC_CONFIG")]
    pub config: Option<PathBuf>,

    /// With no command, `idic` serves: these are `idic serve`'s flags.
    #[command(flatten)]
    pub serve: serve::ServeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run all or some services (the default with no command).
    Serve(serve::ServeArgs),
    /// Print the effective configuration, secrets masked.
    Config(serve::ServeArgs),
    /// Ask a running suite whether each service is serving.
    Health(ClientArgs),
}

/// How client commands reach the suite.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The suite's gRPC address.
    #[arg(long, env = "IDIC_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// API key, when the suite has authentication on.
    #[arg(long, env = "IDIC_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            None => serve::serve(self.config.as_deref(), self.serve).await,
            Some(Command::Serve(args)) => serve::serve(self.config.as_deref(), args).await,
            Some(Command::Config(args)) => serve::print_config(self.config.as_deref(), args),
            Some(Command::Health(args)) => client::health(&args).await,
        }
    }
}
