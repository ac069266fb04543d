//! The `idic` command line: `serve` (the default), `config`, and client commands that
//! reach a running suite at `--server`.

mod client;
mod customization;
pub mod differentiation;
mod identity;
mod interaction;
mod output;
mod reference;
mod serve;
mod warnings;

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
    Health(client::HealthArgs),
    /// Load data into a running suite.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export data from a running suite.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Who is this? Ranked candidate customers for an identifier or a partial record.
    Whois(identity::WhoisArgs),
    /// Identity administration.
    #[command(subcommand)]
    Identity(identity::IdentityCommand),
    /// Customer value: refit the models, one customer's value, the base's skew.
    #[command(subcommand)]
    Value(differentiation::ValueCommand),
    /// The tailored offering for a customer, with a reason for every choice.
    Offer(customization::OfferArgs),
    /// Ranked packaging options for an order.
    Packaging(customization::PackagingArgs),
    /// The catalog of modular components: import, list.
    #[command(subcommand)]
    Catalog(customization::CatalogCommand),
    /// What the agent sees when the customer calls: who, value, open threads, last
    /// contacts, preferences, consent, the suggested next step.
    Context(interaction::ContextArgs),
    /// The customer's contacts across channels, newest first, filtered.
    Timeline(interaction::TimelineArgs),
    /// Record one contact with a customer.
    RecordInteraction(Box<interaction::RecordInteractionArgs>),
    /// Reports over a period.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Contacts and cost per channel, automated share, repeat contacts, time to resolve.
    Channels(interaction::ChannelReportArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Stream a CSV of source records to identity (ImportRecords).
    Records(identity::ImportRecordsArgs),
    /// Record a CSV of transactions with differentiation (RecordTransactions).
    Transactions(differentiation::ImportTransactionsArgs),
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Every record's customer: source_system, source_record_id, customer_id.
    Clusters(identity::ExportClustersArgs),
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
    /// Runs the command. A reader that closed our standard output early (`| head`)
    /// ends it quietly, with success.
    pub async fn run(self) -> anyhow::Result<()> {
        output::ignore_broken_pipe(self.dispatch().await)
    }

    async fn dispatch(self) -> anyhow::Result<()> {
        match self.command {
            None => serve::serve(self.config.as_deref(), self.serve).await,
            Some(Command::Serve(args)) => serve::serve(self.config.as_deref(), args).await,
            Some(Command::Config(args)) => serve::print_config(self.config.as_deref(), args),
            Some(Command::Health(args)) => client::health(&args).await,
            Some(Command::Import(ImportCommand::Records(args))) => {
                identity::import_records(&args).await
            }
            Some(Command::Import(ImportCommand::Transactions(args))) => {
                differentiation::import_transactions(&args).await
            }
            Some(Command::Value(differentiation::ValueCommand::Refit(args))) => {
                differentiation::refit(&args).await
            }
            Some(Command::Value(differentiation::ValueCommand::Customer(args))) => {
                differentiation::customer(&args).await
            }
            Some(Command::Value(differentiation::ValueCommand::Skew(args))) => {
                differentiation::skew(&args).await
            }
            Some(Command::Export(ExportCommand::Clusters(args))) => {
                identity::export_clusters(&args).await
            }
            Some(Command::Whois(args)) => identity::whois(&args).await,
            Some(Command::Identity(identity::IdentityCommand::Estimate(args))) => {
                identity::estimate(&args).await
            }
            Some(Command::Identity(identity::IdentityCommand::Recluster(args))) => {
                identity::recluster(&args).await
            }
            Some(Command::Offer(args)) => customization::offer(&args).await,
            Some(Command::Packaging(args)) => customization::packaging(&args).await,
            Some(Command::Catalog(customization::CatalogCommand::Import(args))) => {
                customization::import_catalog(&args).await
            }
            Some(Command::Catalog(customization::CatalogCommand::List(args))) => {
                customization::list_catalog(&args).await
            }
            Some(Command::Context(args)) => interaction::context(&args).await,
            Some(Command::Timeline(args)) => interaction::timeline(&args).await,
            Some(Command::RecordInteraction(args)) => interaction::record_interaction(&args).await,
            Some(Command::Report(ReportCommand::Channels(args))) => {
                interaction::channel_report(&args).await
            }
        }
    }
}
