//! `idic demo`: starts the suite in this process on the embedded default (SQLite in a
//! fresh data directory, in-process cache and events), builds a small company in it
//! (customers recorded across channels, a year of purchases with a skewed value
//! distribution, contacts including open complaints, a catalog) through the same
//! commands a user runs, then walks the four IDIC steps with one customer. The suite
//! keeps running afterwards so that the user can explore the data (`--exit` stops it).

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use idic_datagen::activity::{self, ActivityConfig, CustomerReference};
use idic_datagen::generator::{
    GeneratedRecord, GeneratorConfig, generate_with_summary, write_records_csv,
};
use idic_datagen::transactions::transactions_csv;
use idic_proto::v1 as pb;
use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use idic_runtime::config::Config;
use idic_runtime::{ServiceName, shutdown};
use indicatif::{ProgressBar, ProgressStyle};

use super::args::parse_customer_ref;
use super::client::{ClientArgs, SuiteChannel, answer, connect, status_error};
use super::{customization, differentiation, identity, interaction, output};
use crate::Application;

/// The catalog and the order of `examples/`, which the README's walkthrough uses too.
const CATALOG: &str = include_str!("../../examples/catalog.json");
const ORDER: &str = include_str!("../../examples/order.json");

/// Source records per real customer the generator writes on average (measured on
/// its default settings: 800 records for 274 customers with seed 18): the demo asks
/// for this many records per customer wanted.
const RECORDS_PER_CUSTOMER: f64 = 2.9;

/// Midnight UTC a year before now: the year of purchases and contacts ends today, so
/// that the value models see customers who are still active.
fn year_start_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    (now.div_euclid(86_400) - 365) * 86_400 * 1_000_000
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// About how many customers the company has.
    #[arg(long, default_value_t = 10_000)]
    pub customers: usize,
    /// Same seed, same company.
    #[arg(long, default_value_t = 18)]
    pub seed: u64,
    /// The suite's gRPC address (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// The admin address: /metrics, /healthz (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub admin_listen: SocketAddr,
    /// Keep the data (and the generated files) in this new or empty directory
    /// instead of a temporary one removed when the demo stops.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Stop the suite after the walk-through instead of leaving it running.
    #[arg(long)]
    pub exit: bool,
}

/// Typed clients of the four services, all on one channel.
struct Clients {
    identity: IdentityServiceClient<SuiteChannel>,
    differentiation: DifferentiationServiceClient<SuiteChannel>,
    interaction: InteractionServiceClient<SuiteChannel>,
    customization: CustomizationServiceClient<SuiteChannel>,
}

impl Clients {
    async fn connect(suite: &ClientArgs) -> anyhow::Result<Clients> {
        let channel = connect(suite).await?;
        Ok(Clients {
            identity: IdentityServiceClient::new(channel.clone()),
            differentiation: DifferentiationServiceClient::new(channel.clone()),
            interaction: InteractionServiceClient::new(channel.clone()),
            customization: CustomizationServiceClient::new(channel),
        })
    }
}

/// Writes what `render` prints to standard output at once (standard output is not
/// held across the awaits of the walk).
fn show(render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> anyhow::Result<()> {
    let mut buffer = Vec::new();
    render(&mut buffer)?;
    let mut out = output::stdout();
    out.write_all(&buffer)?;
    out.flush()?;
    Ok(())
}

fn heading(title: &str) -> anyhow::Result<()> {
    show(|out| {
        writeln!(out)?;
        writeln!(
            out,
            "━━ {title} {}",
            "━".repeat(70usize.saturating_sub(title.len()))
        )
    })
}

fn say(text: &str) -> anyhow::Result<()> {
    show(|out| writeln!(out, "{text}"))
}

/// The data directory: the one asked for (new or empty), or a temporary one.
fn data_directory(asked: Option<&Path>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match asked {
        Some(path) => {
            if path.exists() {
                let empty = std::fs::read_dir(path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .next()
                    .is_none();
                anyhow::ensure!(
                    empty,
                    "{} is not empty: the demo starts from nothing (give a new directory)",
                    path.display()
                );
            } else {
                std::fs::create_dir_all(path)
                    .with_context(|| format!("creating {}", path.display()))?;
            }
            Ok((path.to_path_buf(), None))
        }
        None => {
            let temporary = tempfile::Builder::new().prefix("idic-demo-").tempdir()?;
            Ok((temporary.path().to_path_buf(), Some(temporary)))
        }
    }
}

/// `idic demo`
pub async fn demo(
    config_file: Option<&Path>,
    client: &ClientArgs,
    args: &DemoArgs,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (50..=200_000).contains(&args.customers),
        "--customers must be between 50 and 200000"
    );
    let (data_dir, temporary) = data_directory(args.data_dir.as_deref())?;
    let mut config = Config::load(config_file)?;
    // The embedded default, whatever the environment says about PostgreSQL or Redis.
    config.database_url = None;
    config.redis_url = None;
    config.listen = args.listen;
    config.admin_listen = Some(args.admin_listen);
    config.data_dir = data_dir.clone();
    config.services = ServiceName::ALL.to_vec();
    let config = config.validated()?;
    let control_group_percent = config.customization.control_group_percent;
    let application = Application::build(config).await.with_context(|| {
        format!(
            "starting the suite on {} (is another suite running there? try --listen 127.0.0.1:0)",
            args.listen
        )
    })?;
    let address = application.grpc_address();
    let admin = application.admin_address();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let signalled = shutdown::signal();
    let server = tokio::spawn(application.run_until_stopped(async move {
        tokio::select! {
            _ = stopped => {}
            () = signalled => {}
        }
    }));
    let suite = ClientArgs {
        server: format!("http://{address}"),
        api_key: client.api_key.clone(),
        json: false,
    };
    say(&format!(
        "IDIC demo: the suite runs in this process at http://{address}, data in {}",
        data_dir.display()
    ))?;
    let walked = walk(&suite, args, &data_dir, control_group_percent).await;
    let walk = match walked {
        Ok(walk) => walk,
        Err(error) => {
            let _ = stop.send(());
            let _ = server.await;
            return Err(error);
        }
    };
    if args.exit {
        let _ = stop.send(());
        server.await??;
        say(&format!(
            "\nThe demo took {:.1} s; the suite stopped (--exit)",
            walk.seconds
        ))?;
        return Ok(());
    }
    show(|out| write_keep_exploring(out, &walk, address, admin, &data_dir, temporary.is_some()))?;
    // Runs until Ctrl-C (or SIGTERM); `stop` is kept so that the server does not end early.
    let result = server.await?;
    drop(stop);
    result
}

/// What the walk found, for the closing hints.
struct Walk {
    customer_id: String,
    reference: String,
    offering_id: String,
    seconds: f64,
}

fn write_keep_exploring(
    out: &mut impl Write,
    walk: &Walk,
    address: SocketAddr,
    admin: Option<SocketAddr>,
    data_dir: &Path,
    temporary: bool,
) -> io::Result<()> {
    let server = format!("--server http://{address}");
    writeln!(out)?;
    writeln!(out, "━━ Keep exploring {}", "━".repeat(53))?;
    writeln!(
        out,
        "The demo took {:.1} s. The suite keeps running at http://{address} with all this data{}.",
        walk.seconds,
        admin.map_or_else(String::new, |admin| format!(
            " (metrics at http://{admin}/metrics)"
        ))
    )?;
    writeln!(out, "In another terminal, try:")?;
    for command in [
        format!("idic customer {} {server}", walk.customer_id),
        format!("idic context '{}' {server}", walk.reference),
        format!("idic timeline {} {server}", walk.customer_id),
        format!("idic offering {} {server}", walk.offering_id),
        format!("idic value list --tier A --limit 10 {server}"),
        format!("idic strategy {server}"),
        format!("idic report skew --svg skew.svg {server}"),
        format!("idic report channels --svg channels.svg {server}"),
        format!("idic report learning --svg learning.svg {server}"),
        format!("idic export customer {} {server} --json", walk.customer_id),
    ] {
        writeln!(out, "  {command}")?;
    }
    writeln!(
        out,
        "The generated files (records.csv, transactions.csv, interactions.csv, catalog.json, order.json) and charts are in {}.",
        data_dir.display()
    )?;
    writeln!(
        out,
        "Ctrl-C stops the suite{}.",
        if temporary {
            " and removes that directory"
        } else {
            ""
        }
    )
}

/// Builds the company and walks the four steps.
async fn walk(
    suite: &ClientArgs,
    args: &DemoArgs,
    data_dir: &Path,
    control_group_percent: u8,
) -> anyhow::Result<Walk> {
    let started = Instant::now();
    let company = build_company(suite, args, data_dir).await?;
    let mut clients = Clients::connect(suite).await?;
    let chosen = choose_customer(&mut clients, &company, control_group_percent).await?;
    identify(&mut clients, &company, &chosen).await?;
    differentiate(suite, &mut clients, &chosen, data_dir).await?;
    interact(&mut clients, &chosen).await?;
    let offering_id = customize_and_learn(&mut clients, &chosen, data_dir).await?;
    reports(&mut clients, data_dir).await?;
    Ok(Walk {
        customer_id: chosen.customer_id,
        reference: chosen.reference.reference,
        offering_id,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The generated company: its records, and each real customer's reference.
struct Company {
    records: Vec<GeneratedRecord>,
    references: Vec<CustomerReference>,
}

fn spinner(message: &str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(message.to_owned());
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

async fn build_company(
    suite: &ClientArgs,
    args: &DemoArgs,
    data_dir: &Path,
) -> anyhow::Result<Company> {
    heading("0. A company of your own")?;
    let generating = spinner("inventing customers, a year of purchases and contacts");
    let records_wanted = (args.customers as f64 * RECORDS_PER_CUSTOMER).round() as usize;
    let seed = args.seed;
    let files = data_dir.to_path_buf();
    let (generated, references, purchases, contacts) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let generated = generate_with_summary(&GeneratorConfig::new(records_wanted, seed));
            let references = activity::customer_references(&generated.records);
            let config = ActivityConfig {
                seed,
                start_micros: year_start_micros(),
                days: 365,
                currency: "EUR".to_owned(),
            };
            let purchases = activity::transactions(&references, &config);
            let contacts = activity::interactions(&references, &config);
            let mut records_csv = Vec::new();
            write_records_csv(&generated.records, &mut records_csv)?;
            write_file(&files.join("records.csv"), &records_csv)?;
            write_file(
                &files.join("transactions.csv"),
                transactions_csv(&purchases).as_bytes(),
            )?;
            write_file(
                &files.join("interactions.csv"),
                activity::interactions_csv(&contacts).as_bytes(),
            )?;
            write_file(&files.join("catalog.json"), CATALOG.as_bytes())?;
            write_file(&files.join("order.json"), ORDER.as_bytes())?;
            Ok((generated, references, purchases, contacts))
        })
        .await??;
    generating.finish_and_clear();
    let summary = generated.summary;
    let complaints = contacts.iter().filter(|c| c.kind == "complaint").count();
    say(&format!(
        "{} customers ({} persons, {} organizations) recorded {} times by 7 systems \
         (crm, webshop, call center, loyalty, point of sale, newsletter, partner),\n\
         {} purchases over the last year and {} contacts ({} complaints). Importing them as `idic import` does:",
        summary.entities,
        summary.persons,
        summary.organizations,
        summary.records,
        purchases.len(),
        contacts.len(),
        complaints
    ))?;
    say("\n$ idic import records records.csv")?;
    identity::import_records_with_summary(
        suite,
        &identity::ImportRecordsArgs {
            file: data_dir.join("records.csv"),
            batch: 1000,
            strict: false,
            no_auto_estimate: false,
        },
    )
    .await?;
    say("\n$ idic import transactions transactions.csv")?;
    differentiation::import_transactions_with_summary(
        suite,
        &differentiation::ImportTransactionsArgs {
            file: data_dir.join("transactions.csv"),
            batch: 1000,
            strict: false,
        },
    )
    .await?;
    say("\n$ idic import interactions interactions.csv")?;
    interaction::import_interactions_with_summary(
        suite,
        &interaction::ImportInteractionsArgs {
            file: data_dir.join("interactions.csv"),
            batch: 1000,
        },
    )
    .await?;
    say("\n$ idic catalog import catalog.json")?;
    customization::run_catalog(
        suite,
        customization::CatalogCommand::Import(customization::CatalogImportArgs {
            file: data_dir.join("catalog.json"),
        }),
    )
    .await?;
    say("\n$ idic value refit")?;
    let fitting = spinner("fitting BG/NBD and Gamma-Gamma on the purchases");
    let mut client = DifferentiationServiceClient::new(connect(suite).await?);
    let refit = answer(client.refit_models(pb::RefitModelsRequest::default())).await?;
    fitting.finish_and_clear();
    let model = refit.model.unwrap_or_default();
    say(&format!(
        "value models fitted on {} customers in {:.0} ms: lifetime value, tiers and skew are ready",
        model.customers, model.fit_millis
    ))?;
    Ok(Company {
        records: generated.records,
        references,
    })
}

/// The customer the walk follows.
struct Chosen {
    reference: CustomerReference,
    customer_id: String,
    customer: pb::Customer,
    name: String,
}

/// A tier A customer recorded by three systems or more, merged into one customer,
/// and under the learning policy (not in the control group), so that the last step
/// can show learning. Falls back to tiers B to D when tier A has none.
async fn choose_customer(
    clients: &mut Clients,
    company: &Company,
    control_group_percent: u8,
) -> anyhow::Result<Chosen> {
    let by_anchor: std::collections::HashMap<String, &CustomerReference> = company
        .references
        .iter()
        .map(|reference| (reference.reference.to_lowercase(), reference))
        .collect();
    for tier in [pb::Tier::A, pb::Tier::B, pb::Tier::C, pb::Tier::D] {
        let listed = answer(
            clients
                .differentiation
                .list_customers(pb::ListCustomersRequest {
                    tier: tier as i32,
                    segment_id: String::new(),
                    page: Some(pb::PageRequest {
                        page_size: 200,
                        page_token: String::new(),
                    }),
                }),
        )
        .await?;
        for summary in listed.customers {
            if idic_customization::service::proposed_control_group(
                &summary.customer_id,
                control_group_percent,
            ) {
                continue;
            }
            let Ok(found) = clients
                .identity
                .get_customer(pb::GetCustomerRequest {
                    customer: parse_customer_ref(&summary.customer_id).ok(),
                })
                .await
            else {
                continue;
            };
            let Some(customer) = found.into_inner().customer else {
                continue;
            };
            let systems: BTreeSet<&str> = customer
                .records
                .iter()
                .map(|record| record.source_system.as_str())
                .collect();
            if systems.len() < 3 {
                continue;
            }
            // The reference the generated rows use for this customer.
            let golden = customer.golden.clone().unwrap_or_default();
            let reference = golden
                .identifiers
                .iter()
                .filter(|identifier| identifier.kind == pb::IdentifierKind::LoyaltyId as i32)
                .map(|identifier| format!("loyalty:{}", identifier.value))
                .chain(golden.emails.iter().map(|email| format!("email:{email}")))
                .find_map(|anchor| by_anchor.get(&anchor.to_lowercase()).copied());
            let Some(reference) = reference else {
                continue;
            };
            let name = if golden.organization_name.is_empty() {
                format!("{} {}", golden.given_name, golden.family_name)
            } else {
                golden.organization_name.clone()
            };
            return Ok(Chosen {
                reference: reference.clone(),
                customer_id: customer.customer_id.clone(),
                customer,
                name,
            });
        }
    }
    anyhow::bail!(
        "no customer recorded by three systems was merged: try another --seed or more --customers"
    )
}

/// Step 1: the customer's records as each system wrote them, the one customer they
/// became, and why.
async fn identify(clients: &mut Clients, company: &Company, chosen: &Chosen) -> anyhow::Result<()> {
    heading("1. Identify: one customer behind many records")?;
    let linked: BTreeSet<(String, String)> = chosen
        .customer
        .records
        .iter()
        .map(|record| {
            (
                record.source_system.clone(),
                record.source_record_id.clone(),
            )
        })
        .collect();
    let records: Vec<&GeneratedRecord> = company
        .records
        .iter()
        .filter(|record| {
            linked.contains(&(
                record.source_system.clone(),
                record.source_record_id.clone(),
            ))
        })
        .collect();
    show(|out| {
        writeln!(
            out,
            "{} systems recorded {}, each in its own way:",
            records
                .iter()
                .map(|record| record.source_system.as_str())
                .collect::<BTreeSet<_>>()
                .len(),
            chosen.name
        )?;
        writeln!(
            out,
            "  {:<22} {:<12} {:<24} {:<30} {:<16} {:<8} loyalty",
            "record", "channel", "name", "e-mail", "phone", "postcode"
        )?;
        for record in &records {
            writeln!(
                out,
                "  {:<22} {:<12} {:<24} {:<30} {:<16} {:<8} {}",
                record.key(),
                record.channel,
                format!("{} {}", record.given_name, record.family_name).trim(),
                record.email,
                record.phone,
                record.postcode,
                record.loyalty_id
            )?;
        }
        writeln!(
            out,
            "\nIdentity matched them into one customer with one golden record:"
        )?;
        Ok(())
    })?;
    let mut buffer = Vec::new();
    identity::write_customer(&mut buffer, &chosen.customer)?;
    show(|out| out.write_all(&buffer))?;
    let first = chosen
        .customer
        .records
        .first()
        .context("the customer has no records")?;
    let explanation = answer(clients.identity.explain_match(pb::ExplainMatchRequest {
        subject: Some(pb::explain_match_request::Subject::Record(pb::RecordKey {
            source_system: first.source_system.clone(),
            source_record_id: first.source_record_id.clone(),
        })),
    }))
    .await?;
    show(|out| {
        writeln!(
            out,
            "\nWhy? Each link with the weight of evidence of every field (`idic identity explain {}/{}`):",
            first.source_system, first.source_record_id
        )?;
        identity::write_explanation(out, &explanation)
    })
}

/// Step 2: the value skew, the strategy it calls for, and where this customer stands.
async fn differentiate(
    suite: &ClientArgs,
    clients: &mut Clients,
    chosen: &Chosen,
    data_dir: &Path,
) -> anyhow::Result<()> {
    heading("2. Differentiate: who is worth what, and what they need")?;
    let skew = answer(
        clients
            .differentiation
            .get_value_skew(pb::GetValueSkewRequest {}),
    )
    .await?;
    let strategy = answer(
        clients
            .differentiation
            .get_strategy(pb::GetStrategyRequest {}),
    )
    .await?;
    let chart = data_dir.join("skew.svg");
    super::charts::write_skew_svg(&chart, &skew)?;
    show(|out| {
        differentiation::write_skew(out, &skew)?;
        writeln!(out, "(the Lorenz curve: {})", chart.display())?;
        writeln!(out, "\nThe strategy this base calls for (`idic strategy`):")?;
        differentiation::write_strategy(out, &strategy)?;
        writeln!(
            out,
            "\n{} (`idic value customer {}`):",
            chosen.name, chosen.customer_id
        )
    })?;
    differentiation::run(
        suite,
        differentiation::ValueCommand::Customer(differentiation::CustomerArgs {
            reference: chosen.customer_id.clone(),
        }),
    )
    .await
}

/// Step 3: the customer writes, agrees to e-mail updates, then calls: what the agent sees.
async fn interact(clients: &mut Clients, chosen: &Chosen) -> anyhow::Result<()> {
    heading("3. Interact: every contact continues the last one")?;
    let customer = || Some(parse_customer_ref(&chosen.customer_id).ok()).flatten();
    say(&format!(
        "Today {} writes an e-mail asking for less plastic in parcels, agrees to e-mail\n\
         updates about orders, then calls the call center: a parcel arrived damaged.",
        chosen.name
    ))?;
    let now = prost_types::Timestamp::from(std::time::SystemTime::now());
    let earlier = |minutes: i64| prost_types::Timestamp {
        seconds: now.seconds - minutes * 60,
        nanos: 0,
    };
    clients
        .interaction
        .record_interaction(pb::RecordInteractionRequest {
            customer: customer(),
            channel: pb::Channel::Email as i32,
            r#type: pb::InteractionType::Email as i32,
            direction: pb::Direction::Inbound as i32,
            occurred_at: Some(earlier(30)),
            topic: "packaging".into(),
            summary: "asks for less plastic in parcels".into(),
            needs: vec![pb::ExpressedNeed {
                key: "packaging".into(),
                value: "less_plastic".into(),
            }],
            idempotency_key: "demo-email-packaging".into(),
            ..Default::default()
        })
        .await
        .map_err(status_error)?;
    clients
        .interaction
        .record_consent(pb::RecordConsentRequest {
            customer: customer(),
            channel: pb::Channel::Email as i32,
            purpose: "service".into(),
            status: pb::ConsentStatus::Granted as i32,
            decided_at: Some(earlier(20)),
            source: "web preference center".into(),
            idempotency_key: "demo-consent-email".into(),
        })
        .await
        .map_err(status_error)?;
    clients
        .interaction
        .record_interaction(pb::RecordInteractionRequest {
            customer: customer(),
            channel: pb::Channel::CallCenter as i32,
            r#type: pb::InteractionType::Complaint as i32,
            direction: pb::Direction::Inbound as i32,
            occurred_at: Some(earlier(1)),
            topic: "damaged item".into(),
            summary: "the espresso cups arrived broken".into(),
            sentiment: pb::Sentiment::Negative as i32,
            agent: "agent-17".into(),
            cost: Some(pb::Money {
                currency: "EUR".into(),
                minor_units: 650,
            }),
            idempotency_key: "demo-call-complaint".into(),
            ..Default::default()
        })
        .await
        .map_err(status_error)?;
    let context = answer(clients.interaction.get_context(pb::GetContextRequest {
        customer: customer(),
        recent_limit: 5,
    }))
    .await?;
    show(|out| {
        writeln!(
            out,
            "\nWhat the agent sees when the call comes in (`idic context {}`):",
            chosen.customer_id
        )?;
        interaction::write_context(out, &context)
    })
}

/// The chosen packaging of an offering, and another eligible one.
fn packaging_of(offering: &pb::Offering) -> Option<(String, Option<String>)> {
    let choice = offering
        .choices
        .iter()
        .find(|choice| choice.slot == pb::Slot::Packaging as i32)?;
    let chosen = choice.component.as_ref()?.component_id.clone();
    let other = choice
        .alternatives
        .iter()
        .filter_map(|alternative| alternative.component.as_ref())
        .map(|component| component.component_id.clone())
        .next();
    Some((chosen, other))
}

/// Steps 4 and 5: the tailored offering and packaging for an order, with reasons;
/// the customer's answer recorded, and the next offering changed by it.
async fn customize_and_learn(
    clients: &mut Clients,
    chosen: &Chosen,
    data_dir: &Path,
) -> anyhow::Result<String> {
    heading("4. Customize: this order, packed for this customer")?;
    let order: serde_json::Value = serde_json::from_str(ORDER)?;
    let order = customization::parse_order(&order)?;
    let request = |idempotency_key: &str| pb::GetTailoredOfferingRequest {
        customer: parse_customer_ref(&chosen.customer_id).ok(),
        order: Some(order.clone()),
        channel: pb::Channel::CallCenter as i32,
        occasion: String::new(),
        idempotency_key: idempotency_key.to_owned(),
    };
    let offering = answer(
        clients
            .customization
            .get_tailored_offering(request("demo-offer-1")),
    )
    .await?;
    let packaging = answer(clients.customization.get_packaging_options(
        pb::GetPackagingOptionsRequest {
            customer: parse_customer_ref(&chosen.customer_id).ok(),
            order: Some(order.clone()),
        },
    ))
    .await?;
    show(|out| {
        writeln!(
            out,
            "The order ({}): an espresso machine and three bags of coffee beans.\n\
             The offering, with a reason for every choice (`idic offer {} --order order.json`):",
            data_dir.join("order.json").display(),
            chosen.customer_id
        )?;
        customization::write_offering(out, &offering)?;
        writeln!(
            out,
            "\nPackaging options, ranked (`idic packaging {} --order order.json`):",
            chosen.customer_id
        )?;
        customization::write_packaging(out, &packaging)
    })?;

    heading("5. Learn: the customer's answer changes the next offering")?;
    let (offered, other) = packaging_of(&offering).context("the offering has no packaging")?;
    let Some(other) = other else {
        say("only one packaging is eligible for this order: nothing to change")?;
        return Ok(offering.offering_id);
    };
    let mut outcomes: Vec<pb::SlotOutcome> = offering
        .choices
        .iter()
        .filter(|choice| choice.slot != pb::Slot::Packaging as i32)
        .map(|choice| pb::SlotOutcome {
            slot: choice.slot,
            outcome: pb::OutcomeKind::Accepted as i32,
            changed_to: String::new(),
        })
        .collect();
    outcomes.push(pb::SlotOutcome {
        slot: pb::Slot::Packaging as i32,
        outcome: pb::OutcomeKind::Changed as i32,
        changed_to: other.clone(),
    });
    clients
        .customization
        .record_outcome(pb::RecordOutcomeRequest {
            offering_id: offering.offering_id.clone(),
            outcomes,
            channel: pb::Channel::CallCenter as i32,
        })
        .await
        .map_err(status_error)?;
    let accepted: String = offering
        .choices
        .iter()
        .filter(|choice| choice.slot != pb::Slot::Packaging as i32)
        .filter_map(|choice| pb::Slot::try_from(choice.slot).ok())
        .map(|slot| {
            format!(
                " --accepted {}",
                slot.as_str_name()
                    .trim_start_matches("SLOT_")
                    .to_lowercase()
            )
        })
        .collect();
    say(&format!(
        "{} accepts the offering but takes {other} instead of {offered}:\n\
         $ idic outcome {}{accepted} --changed packaging={other}",
        chosen.name, offering.offering_id
    ))?;
    let next = answer(
        clients
            .customization
            .get_tailored_offering(request("demo-offer-2")),
    )
    .await?;
    let (now_offered, _) = packaging_of(&next).context("the offering has no packaging")?;
    let reason = next
        .choices
        .iter()
        .find(|choice| choice.slot == pb::Slot::Packaging as i32)
        .and_then(|choice| choice.reason.as_ref())
        .map(|reason| reason.text.clone())
        .unwrap_or_default();
    say(&format!(
        "The next offering packs with {now_offered} ({}): {reason}",
        if now_offered == other {
            "changed by the answer"
        } else {
            "NOT changed"
        }
    ))?;
    say(&format!(
        "Why did we offer that? `idic offering {}` shows the stored offering, its inputs and outcomes.",
        next.offering_id
    ))?;
    Ok(offering.offering_id)
}

/// The base in pictures: the channel report and the learning curve so far.
async fn reports(clients: &mut Clients, data_dir: &Path) -> anyhow::Result<()> {
    heading("Reports")?;
    let now = prost_types::Timestamp::from(std::time::SystemTime::now());
    let channels = answer(
        clients
            .interaction
            .get_channel_report(pb::GetChannelReportRequest {
                period: Some(pb::TimeRange {
                    start: Some(prost_types::Timestamp {
                        seconds: year_start_micros() / 1_000_000,
                        nanos: 0,
                    }),
                    end: Some(now),
                }),
                repeat_window_days: 7,
            }),
    )
    .await?;
    let chart = data_dir.join("channels.svg");
    super::charts::write_channels_svg(&chart, &channels)?;
    show(|out| {
        writeln!(
            out,
            "Contacts and cost per channel over the year (`idic report channels`):"
        )?;
        interaction::write_channel_report(out, &channels)?;
        writeln!(out, "(chart: {})", chart.display())
    })?;
    let learning = answer(clients.customization.get_learning_report(
        pb::GetLearningReportRequest {
            period_seconds: 86_400,
        },
    ))
    .await?;
    let chart = data_dir.join("learning.svg");
    let drawn = super::charts::write_learning_svg(&chart, &learning, 1).is_ok();
    show(|out| {
        writeln!(
            out,
            "\nOffer acceptance, learning policy against the control group (`idic report learning`):"
        )?;
        customization::write_learning(out, &learning)?;
        if drawn {
            writeln!(out, "(chart: {})", chart.display())?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Counts rows per value, for the tests of the company's shape.
#[cfg(test)]
fn count_by<T: Ord + Clone>(
    items: impl IntoIterator<Item = T>,
) -> std::collections::BTreeMap<T, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for item in items {
        *counts.entry(item).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalog_and_order_parse() {
        let (components, rules) = customization::parse_catalog(CATALOG).unwrap();
        let slots = count_by(components.iter().map(|component| component.slot));
        assert_eq!(slots.len(), 6, "every slot has components: {slots:?}");
        assert!(rules.unwrap().len() >= 5);
        let order: serde_json::Value = serde_json::from_str(ORDER).unwrap();
        assert_eq!(customization::parse_order(&order).unwrap().lines.len(), 2);
    }

    #[test]
    fn a_given_data_directory_must_be_empty() {
        let directory = tempfile::tempdir().unwrap();
        assert!(data_directory(Some(directory.path())).is_ok());
        std::fs::write(directory.path().join("x"), "x").unwrap();
        assert!(data_directory(Some(directory.path())).is_err());
        let (path, temporary) = data_directory(None).unwrap();
        assert!(path.exists() && temporary.is_some());
    }
}
