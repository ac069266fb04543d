//! The `idic` command line: `serve` (the default), `config`, and client commands that
//! reach a running suite at `--server`. The client flags (`--server`, `--api-key`,
//! `--json`) are global: they may come before or after the subcommand.

pub(crate) mod args;
pub(crate) mod charts;
mod client;
mod customization;
mod demo;
pub mod differentiation;
mod identity;
mod interaction;
mod labels;
mod output;
mod serve;
mod warnings;

pub use self::client::ClientArgs;

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "idic",
    version,
    about = "The IDIC suite: identify, differentiate, interact, customize"
)]
pub struct Cli {
    /// A TOML configuration file (layered over the defaults, under the environment).
    #[arg(long, global = true, env = "IDIC_CONFIG")]
    pub config: Option<PathBuf>,

    /// How client commands reach the suite and print.
    #[command(flatten)]
    pub client: ClientArgs,

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
    /// One customer's golden record: each field with the record and rule it came from,
    /// the linked source records, aliases.
    Customer(identity::CustomerRefArgs),
    /// Erase a customer in all four services (records, contacts, transactions,
    /// offerings); it cannot be undone.
    Erase(identity::EraseArgs),
    /// Identity administration: merge, unmerge, explain, history, watch, estimate.
    #[command(subcommand)]
    Identity(identity::IdentityCommand),
    /// Customer value: refit the models, one customer's value, the base's skew, tier lists.
    #[command(subcommand)]
    Value(differentiation::ValueCommand),
    /// A customer's needs: category affinities, expressed preferences, segment, type.
    Needs(identity::CustomerRefArgs),
    /// The one-to-one strategy the base's value skew and needs spread call for.
    Strategy,
    /// The tailored offering for a customer, with a reason for every choice.
    Offer(customization::OfferArgs),
    /// Why did we offer this? A stored offering, the inputs it was built from, its outcomes.
    Offering(customization::OfferingArgs),
    /// Record how the customer answered an offering, slot by slot.
    Outcome(customization::OutcomeArgs),
    /// Ranked packaging options for an order.
    Packaging(customization::PackagingArgs),
    /// The catalog of modular components: import, list, rules.
    #[command(subcommand)]
    Catalog(customization::CatalogCommand),
    /// What the agent sees when the customer calls: who, value, open threads, last
    /// contacts, preferences, consent, the suggested next step.
    Context(interaction::ContextArgs),
    /// The customer's contacts across channels, newest first, filtered; --follow for new ones.
    Timeline(interaction::TimelineArgs),
    /// Every new contact with any customer as it is recorded (the live feed).
    Feed(interaction::FeedArgs),
    /// One thread (a conversation across contacts) with all its steps.
    Thread(interaction::ThreadArgs),
    /// A customer's threads, newest activity first.
    Threads(interaction::ThreadsArgs),
    /// A customer's preferences and consent per channel and purpose.
    Preferences(identity::CustomerRefArgs),
    /// Record or check consent for a channel and purpose.
    #[command(subcommand)]
    Consent(interaction::ConsentCommand),
    /// Record one contact with a customer.
    RecordInteraction(Box<interaction::RecordInteractionArgs>),
    /// Reports over the base, as tables or, with --svg FILE, as a picture.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Print a completion script: `idic completions bash > /etc/bash_completion.d/idic`.
    Completions(CompletionsArgs),
    /// Start the suite with a small company in it and walk the four IDIC steps; the
    /// suite keeps running for you to explore (Ctrl-C stops it).
    Demo(demo::DemoArgs),
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The value skew: Lorenz curve, top 2% and 20%, tiers, Gini.
    Skew(differentiation::SkewArgs),
    /// Contacts and cost per channel, automated share, repeat contacts, time to resolve.
    Channels(interaction::ChannelReportArgs),
    /// Acceptance of tailored offerings against the control group, over time.
    Learning(customization::LearningArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Stream a CSV of source records to identity (ImportRecords).
    Records(identity::ImportRecordsArgs),
    /// Record a CSV of transactions with differentiation (RecordTransactions).
    Transactions(differentiation::ImportTransactionsArgs),
    /// Record a CSV of contacts with interaction (RecordInteractions).
    Interactions(interaction::ImportInteractionsArgs),
    /// Ingest Segment or RudderStack events from a JSON file (IngestSegmentEvents).
    Segment(interaction::ImportSegmentArgs),
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Every record's customer: source_system, source_record_id, customer_id.
    Clusters(identity::ExportClustersArgs),
    /// Everything the four services hold about one customer, as JSON.
    Customer(identity::CustomerRefArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

impl Cli {
    /// Runs the command. A reader that closed our standard output early (`| head`)
    /// ends it quietly, with success.
    pub async fn run(self) -> anyhow::Result<()> {
        output::ignore_broken_pipe(self.dispatch().await)
    }

    async fn dispatch(self) -> anyhow::Result<()> {
        let client = &self.client;
        let Some(command) = self.command else {
            return serve::serve(self.config.as_deref(), self.serve).await;
        };
        // The serve flags before a command would be ignored: refused instead. (clap's
        // `args_conflicts_with_subcommands` would refuse the global flags too.)
        anyhow::ensure!(
            self.serve.is_empty(),
            "the serve flags (--listen, --admin-listen, --data-dir, --service) go after `idic serve`, not before a command"
        );
        match command {
            Command::Serve(args) => serve::serve(self.config.as_deref(), args).await,
            Command::Config(args) => serve::print_config(self.config.as_deref(), args),
            Command::Health(args) => client::health(client, &args).await,
            Command::Import(command) => import(client, command).await,
            Command::Export(ExportCommand::Clusters(args)) => {
                identity::export_clusters(client, &args).await
            }
            Command::Export(ExportCommand::Customer(args)) => {
                identity::export_customer(client, &args).await
            }
            Command::Whois(args) => identity::whois(client, &args).await,
            Command::Customer(args) => identity::customer(client, &args).await,
            Command::Erase(args) => identity::erase(client, &args).await,
            Command::Identity(command) => identity::run(client, command).await,
            Command::Value(command) => differentiation::run(client, command).await,
            Command::Needs(args) => differentiation::needs(client, &args.reference).await,
            Command::Strategy => differentiation::strategy(client).await,
            Command::Offer(args) => customization::offer(client, &args).await,
            Command::Offering(args) => customization::offering(client, &args).await,
            Command::Outcome(args) => customization::outcome(client, &args).await,
            Command::Packaging(args) => customization::packaging(client, &args).await,
            Command::Catalog(command) => customization::run_catalog(client, command).await,
            Command::Context(args) => interaction::context(client, &args).await,
            Command::Timeline(args) => interaction::timeline(client, &args).await,
            Command::Feed(args) => interaction::feed(client, &args).await,
            Command::Thread(args) => interaction::thread(client, &args).await,
            Command::Threads(args) => interaction::threads(client, &args).await,
            Command::Preferences(args) => interaction::preferences(client, &args.reference).await,
            Command::Consent(command) => interaction::consent(client, command).await,
            Command::RecordInteraction(args) => {
                interaction::record_interaction(client, &args).await
            }
            Command::Report(ReportCommand::Skew(args)) => {
                differentiation::skew(client, &args).await
            }
            Command::Report(ReportCommand::Channels(args)) => {
                interaction::channel_report(client, &args).await
            }
            Command::Report(ReportCommand::Learning(args)) => {
                customization::learning_report(client, &args).await
            }
            Command::Completions(args) => completions(args.shell),
            Command::Demo(args) => demo::demo(self.config.as_deref(), client, &args).await,
        }
    }
}

async fn import(client: &ClientArgs, command: ImportCommand) -> anyhow::Result<()> {
    match command {
        ImportCommand::Records(args) => identity::import_records(client, &args).await,
        ImportCommand::Transactions(args) => {
            differentiation::import_transactions(client, &args).await
        }
        ImportCommand::Interactions(args) => interaction::import_interactions(client, &args).await,
        ImportCommand::Segment(args) => interaction::import_segment(client, &args).await,
    }
}

/// `idic completions SHELL`
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    // Generated into memory first: clap_complete panics on a failed write.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "idic", &mut script);
    let mut out = output::stdout();
    std::io::Write::write_all(&mut out, &script)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn client_flags_go_before_or_after_the_subcommand() {
        for line in [
            "idic --server http://x:1 --json value skew",
            "idic value skew --server http://x:1 --json",
            "idic --json value --server http://x:1 skew",
        ] {
            let cli = Cli::try_parse_from(line.split(' ')).expect(line);
            assert_eq!(cli.client.server, "http://x:1", "{line}");
            assert!(cli.client.json, "{line}");
        }
        let cli = Cli::try_parse_from(["idic", "--listen", "127.0.0.1:1"]).unwrap();
        assert!(cli.command.is_none() && !cli.serve.is_empty());
        let cli = Cli::try_parse_from(["idic", "--listen", "127.0.0.1:1", "strategy"]).unwrap();
        assert!(cli.command.is_some() && !cli.serve.is_empty());
    }
}
