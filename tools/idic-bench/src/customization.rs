//! Customization benchmarks: `GetTailoredOffering` with its three-way fan-out at a
//! fixed rate on the all-in-one server, next to the health check at the same rate;
//! the same with one dependency made to hang (every answer must still come within the
//! caller's deadline, marked degraded); and the learning simulation (learner, static
//! rules and oracle acceptance over time).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use idic_offer::simulation::{self, SimulationConfig};
use idic_proto::v1 as pb;
use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::duration::parse_duration;
use crate::machine::{Machine, utc_now};

#[derive(Debug, Subcommand)]
pub enum CustomizationBench {
    /// GetTailoredOffering at a fixed rate (and the health check at the same rate, the
    /// baseline), on the all-in-one server with seeded customers.
    Offering(OfferingArgs),
    /// GetTailoredOffering with one dependency pointed at a listener that accepts
    /// connections and never answers: every answer within the deadline, degraded.
    Hang(HangArgs),
    /// The learning simulation: acceptance over time of the learner, static rules and
    /// an oracle that knows each segment's hidden preferences.
    Learning(LearningArgs),
}

#[derive(Debug, Clone, Args)]
pub struct LoadSettings {
    /// Requests per second.
    #[arg(long, default_value_t = 500)]
    pub rate: u64,
    /// Measured time (`20s`, `1m`).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before measuring, discarded.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// The caller's deadline sent with each request (`grpc-timeout`).
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    pub deadline: Duration,
    /// Customers seeded (identity, transactions, preferences, consents).
    #[arg(long, default_value_t = 2000)]
    pub customers: usize,
    /// HTTP/2 connections the load is spread over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Worker threads of the server's runtime.
    #[arg(long, default_value_t = 2)]
    pub server_threads: usize,
    /// Also append the result to this Markdown file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OfferingArgs {
    #[command(flatten)]
    pub load: LoadSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dependency {
    Identity,
    Differentiation,
    Interaction,
}

#[derive(Debug, Args)]
pub struct HangArgs {
    /// The dependency that hangs.
    #[arg(long, value_enum, default_value = "interaction")]
    pub dependency: Dependency,
    #[command(flatten)]
    pub load: LoadSettings,
}

#[derive(Debug, Args)]
pub struct LearningArgs {
    #[arg(long, default_value_t = 20_000)]
    pub offers: usize,
    #[arg(long, default_value_t = 1000)]
    pub window: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

pub fn run(command: CustomizationBench) -> anyhow::Result<()> {
    match command {
        CustomizationBench::Offering(args) => offering(&args.load, None),
        CustomizationBench::Hang(args) => offering(&args.load, Some(args.dependency)),
        CustomizationBench::Learning(args) => learning(&args),
    }
}

/// The suite in-process on its own runtime, SQLite in a temporary directory.
struct Suite {
    _runtime: tokio::runtime::Runtime,
    url: String,
    stop: tokio_util::sync::CancellationToken,
    _data_dir: tempfile::TempDir,
}

fn start_suite(threads: usize, hang: Option<(Dependency, String)>) -> anyhow::Result<Suite> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("bench-server")
        .enable_all()
        .build()?;
    let data_dir = tempfile::tempdir()?;
    let mut config = idic_runtime::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_listen: None,
        data_dir: data_dir.path().to_path_buf(),
        ..idic_runtime::Config::default()
    };
    config.log_filter = "warn".into();
    if let Some((dependency, address)) = hang {
        match dependency {
            Dependency::Identity => config.peers.identity = Some(address),
            Dependency::Differentiation => config.peers.differentiation = Some(address),
            Dependency::Interaction => config.peers.interaction = Some(address),
        }
    }
    let application = runtime
        .block_on(idic::Application::build(config))
        .context("starting the suite")?;
    let url = format!("http://{}", application.grpc_address());
    let stop = tokio_util::sync::CancellationToken::new();
    runtime.spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
    Ok(Suite {
        _runtime: runtime,
        url,
        stop,
        _data_dir: data_dir,
    })
}

/// A listener that accepts and never answers, on the server's runtime.
fn hanging_listener(runtime: &tokio::runtime::Runtime) -> anyhow::Result<String> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = format!("http://{}", listener.local_addr()?);
    runtime.spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    Ok(address)
}

fn email(index: usize) -> String {
    format!("customer{index}@bench.example")
}

fn by_email(index: usize) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::Email as i32,
            value: email(index),
            ..Default::default()
        })),
    })
}

fn money(minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: "EUR".into(),
        minor_units,
    })
}

/// The benchmark catalog: three to four components per slot, with constraints,
/// eligibility by tier, preferences and consent-checked channels.
fn catalog() -> Vec<pb::Component> {
    use pb::Slot::*;
    let component = |id: &str, slot: pb::Slot, cost: i64| pb::Component {
        component_id: id.into(),
        slot: slot as i32,
        name: id.replace('.', " "),
        cost: money(cost),
        available: true,
        ..Default::default()
    };
    let mut eco = component("packaging.eco", Packaging, 120);
    eco.answers_preferences = vec!["packaging=less_plastic".into()];
    let mut gift = component("packaging.gift", Packaging, 300);
    gift.requires = vec!["delivery.standard".into()];
    gift.price = money(250);
    let mut bulk = component("packaging.bulk", Packaging, 40);
    bulk.min_order_quantity = 50;
    let mut monthly = component("invoice.monthly", InvoiceFormat, 10);
    monthly.eligible_tiers = vec!["A".into(), "B".into()];
    let mut express = component("delivery.express", Delivery, 900);
    express.incompatible_with = vec!["packaging.gift".into()];
    express.price = money(500);
    let mut email = component("communication.email", Communication, 1);
    email.channel = pb::Channel::Email as i32;
    let mut app = component("communication.app", Communication, 2);
    app.channel = pb::Channel::MobileApp as i32;
    vec![
        component("product.standard", ProductOption, 0),
        component("product.extended-warranty", ProductOption, 800),
        component("product.engraving", ProductOption, 300),
        component("packaging.standard", Packaging, 50),
        eco,
        gift,
        bulk,
        component("invoice.itemized", InvoiceFormat, 5),
        monthly,
        component("invoice.e-invoice", InvoiceFormat, 2),
        component("delivery.standard", Delivery, 400),
        express,
        component("delivery.pickup", Delivery, 150),
        component("service.standard", ServiceLevel, 0),
        component("service.priority", ServiceLevel, 600),
        email,
        app,
        component("communication.none", Communication, 0),
    ]
}

/// Catalog, rules, and customers in identity, differentiation and interaction.
async fn seed(url: &str, customers: usize) -> anyhow::Result<()> {
    let channel = Endpoint::from_shared(url.to_owned())?.connect().await?;
    let mut customization = CustomizationServiceClient::new(channel.clone());
    customization
        .upsert_components(pb::UpsertComponentsRequest {
            components: catalog(),
        })
        .await?;
    customization
        .publish_rules(pb::PublishRulesRequest {
            rules: vec![pb::OfferRule {
                rule_id: "tier-a-monthly".into(),
                effect: pb::OfferRuleEffect::Default as i32,
                component_id: "invoice.monthly".into(),
                condition: Some(pb::OfferRuleCondition {
                    tiers: vec!["A".into()],
                    ..Default::default()
                }),
                priority: 10,
                explanation: "tier A business account".into(),
            }],
            expected_version: 0,
        })
        .await?;
    let mut identity = pb::identity_service_client::IdentityServiceClient::new(channel.clone());
    let mut differentiation =
        pb::differentiation_service_client::DifferentiationServiceClient::new(channel.clone());
    let mut interaction =
        pb::interaction_service_client::InteractionServiceClient::new(channel.clone());
    let mut transactions = Vec::new();
    for index in 0..customers {
        identity
            .upsert_record(pb::UpsertRecordRequest {
                record: Some(pb::SourceRecord {
                    source_system: "bench".into(),
                    source_record_id: format!("c{index}"),
                    name: Some(pb::PersonName {
                        given: format!("Given{index}"),
                        family: format!("Family{index}"),
                        ..Default::default()
                    }),
                    emails: vec![email(index)],
                    ..Default::default()
                }),
                strict: false,
            })
            .await?;
        for order in 0..(1 + index % 4) {
            transactions.push(pb::TransactionInput {
                customer: by_email(index),
                order_id: format!("o{index}-{order}"),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: 1_760_000_000
                        + (index * 7_919 + order * 86_400 * 30) as i64 % 20_000_000,
                    nanos: 0,
                }),
                amount: money(1_000 + (index as i64 % 97) * 300),
                ..Default::default()
            });
        }
        if index.is_multiple_of(3) {
            interaction
                .record_interaction(pb::RecordInteractionRequest {
                    customer: by_email(index),
                    channel: pb::Channel::CallCenter as i32,
                    r#type: pb::InteractionType::Call as i32,
                    summary: "packaging wish".into(),
                    needs: vec![pb::ExpressedNeed {
                        key: "packaging".into(),
                        value: "less_plastic".into(),
                    }],
                    idempotency_key: format!("bench-call-{index}"),
                    ..Default::default()
                })
                .await?;
        }
        if index.is_multiple_of(2) {
            interaction
                .record_consent(pb::RecordConsentRequest {
                    customer: by_email(index),
                    channel: pb::Channel::Email as i32,
                    purpose: "service".into(),
                    status: if index.is_multiple_of(4) {
                        pb::ConsentStatus::Granted
                    } else {
                        pb::ConsentStatus::Denied
                    } as i32,
                    source: "bench".into(),
                    ..Default::default()
                })
                .await?;
        }
    }
    for batch in transactions.chunks(1000) {
        differentiation
            .record_transactions(pb::RecordTransactionsRequest {
                transactions: batch.to_vec(),
                strict: false,
            })
            .await?;
    }
    if let Err(status) = differentiation
        .refit_models(pb::RefitModelsRequest::default())
        .await
    {
        println!("note: RefitModels failed ({status:?}); tiers may be unknown");
    }
    Ok(())
}

/// Outcome of one fixed-rate phase.
struct Phase {
    latency: Histogram<u64>,
    errors: u64,
    degraded: u64,
    late: u64,
    answered: u64,
    /// Degraded answers by missing source.
    missing: std::collections::BTreeMap<String, u64>,
}

#[derive(Clone, Copy)]
enum Request {
    Offering,
    Health,
}

/// `rate` requests per second for `length`; latency from the scheduled send time.
async fn fixed_rate(
    channels: &[Channel],
    request: Request,
    rate: u64,
    length: Duration,
    deadline: Duration,
    customers: usize,
) -> anyhow::Result<Phase> {
    let phase = Arc::new(Mutex::new(Phase {
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        errors: 0,
        degraded: 0,
        late: 0,
        answered: 0,
        missing: std::collections::BTreeMap::new(),
    }));
    let total = rate * length.as_millis() as u64 / 1000;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..total {
        let due = start + Duration::from_micros(index * 1_000_000 / rate);
        tokio::time::sleep_until(due).await;
        let channel = channels[index as usize % channels.len()].clone();
        let phase = phase.clone();
        tasks.spawn(async move {
            let outcome = match request {
                Request::Offering => {
                    let mut grpc = tonic::Request::new(pb::GetTailoredOfferingRequest {
                        customer: by_email((index as usize * 7_919) % customers),
                        channel: pb::Channel::Web as i32,
                        ..Default::default()
                    });
                    grpc.set_timeout(deadline);
                    CustomizationServiceClient::new(channel)
                        .get_tailored_offering(grpc)
                        .await
                        .map(|response| response.into_inner().missing_sources)
                }
                Request::Health => {
                    let mut grpc = tonic::Request::new(HealthCheckRequest {
                        service: "idic.v1.CustomizationService".into(),
                    });
                    grpc.set_timeout(deadline);
                    HealthClient::new(channel)
                        .check(grpc)
                        .await
                        .map(|_| Vec::new())
                }
            };
            let took = due.elapsed();
            let mut phase = phase.lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                Ok(missing) => {
                    phase.answered += 1;
                    phase.degraded += u64::from(!missing.is_empty());
                    for source in missing {
                        *phase.missing.entry(source).or_default() += 1;
                    }
                    phase.late += u64::from(took > deadline);
                    let _ = phase.latency.record(took.as_micros().max(1) as u64);
                }
                Err(_) => phase.errors += 1,
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let phase = Arc::try_unwrap(phase)
        .map_err(|_| anyhow::anyhow!("a request task outlived the phase"))?
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    Ok(phase)
}

fn millis(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

fn offering(settings: &LoadSettings, hang: Option<Dependency>) -> anyhow::Result<()> {
    let bootstrap = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let hanging = match hang {
        Some(dependency) => Some((dependency, hanging_listener(&bootstrap)?)),
        None => None,
    };
    let suite = start_suite(settings.server_threads, hanging)?;
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-client")
        .enable_all()
        .build()?;
    let result = client.block_on(async {
        let seeding = Instant::now();
        seed(&suite.url, settings.customers).await?;
        println!(
            "seeded {} customers in {:.1} s",
            settings.customers,
            seeding.elapsed().as_secs_f64()
        );
        let mut channels = Vec::new();
        for _ in 0..settings.connections.max(1) {
            channels.push(
                Endpoint::from_shared(suite.url.clone())?
                    .tcp_nodelay(true)
                    .connect()
                    .await?,
            );
        }
        let load_before = crate::machine::load_average();
        fixed_rate(
            &channels,
            Request::Offering,
            settings.rate,
            settings.warmup,
            settings.deadline,
            settings.customers,
        )
        .await?;
        let offers = fixed_rate(
            &channels,
            Request::Offering,
            settings.rate,
            settings.duration,
            settings.deadline,
            settings.customers,
        )
        .await?;
        let health = fixed_rate(
            &channels,
            Request::Health,
            settings.rate,
            settings.duration,
            settings.deadline,
            settings.customers,
        )
        .await?;
        anyhow::Ok((offers, health, load_before, crate::machine::load_average()))
    });
    suite.stop.cancel();
    let (offers, health, load_before, load_after) = result?;
    let p = |phase: &Phase, q: f64| phase.latency.value_at_quantile(q);
    let title = match hang {
        None => "GetTailoredOffering, three-way fan-out, all-in-one server".to_owned(),
        Some(dependency) => format!("GetTailoredOffering with {dependency:?} hanging"),
    };
    let mut text = format!(
        "### {title}\n\n{} — {}; load average before {load_before}, after {load_after}\n\n\
         {} req/s for {:?}, deadline {:?}, {} customers, {} connections, {} server threads\n\n\
         | request | answered | errors | degraded | past deadline | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|---|---|\n",
        utc_now(),
        Machine::describe().summary(),
        settings.rate,
        settings.duration,
        settings.deadline,
        settings.customers,
        settings.connections,
        settings.server_threads,
    );
    for (name, phase) in [("GetTailoredOffering", &offers), ("Health/Check", &health)] {
        text.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            phase.answered,
            phase.errors,
            phase.degraded,
            phase.late,
            millis(p(phase, 0.5)),
            millis(p(phase, 0.9)),
            millis(p(phase, 0.99)),
            millis(phase.latency.max()),
        ));
    }
    if !offers.missing.is_empty() {
        text.push_str(&format!(
            "\ndegraded answers by missing source: {:?}\n",
            offers.missing
        ));
    }
    let ratio = p(&offers, 0.99) as f64 / p(&health, 0.99).max(1) as f64;
    text.push_str(&format!(
        "\np99 ratio GetTailoredOffering / health check: {ratio:.1}x\n"
    ));
    if hang.is_some() {
        let all_degraded = offers.degraded == offers.answered && offers.errors == 0;
        text.push_str(&format!(
            "every answer within the deadline: {}; every answer degraded: {all_degraded}\n",
            offers.late == 0 && offers.errors == 0
        ));
    } else {
        text.push_str(&format!(
            "target p99 <= 25 ms: {}\n",
            if p(&offers, 0.99) <= 25_000 {
                "met"
            } else {
                "NOT met"
            }
        ));
    }
    print!("{text}");
    if let Some(path) = &settings.markdown {
        crate::report::append_markdown(path, &text)?;
    }
    Ok(())
}

fn learning(args: &LearningArgs) -> anyhow::Result<()> {
    let config = SimulationConfig {
        seed: args.seed,
        offers: args.offers,
        window: args.window,
        ..SimulationConfig::default()
    };
    let started = std::time::Instant::now();
    let report = simulation::run(&config);
    let mut text = format!(
        "### Learning simulation\n\n{} — {}\n\n{} segments with hidden preferences, {} components per slot x 6 slots, \
         {} customers ({:.0}% of (customer, slot) pairs with a personal favourite), seed {}, bounded exploration {:.0}%\n\n\
         | offers | learner | static rules | oracle | learner / oracle |\n|---|---|---|---|---|\n",
        utc_now(),
        Machine::describe().summary(),
        config.segments,
        config.components_per_slot,
        config.customers,
        config.personal_share * 100.0,
        config.seed,
        config.bandit.max_exploration * 100.0,
    );
    for window in &report.windows {
        text.push_str(&format!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.1}% |\n",
            window.offers,
            window.learner,
            window.static_rules,
            window.oracle,
            100.0 * window.learner / window.oracle
        ));
    }
    let reached = report.offers_to_reach(0.9);
    let last = report.windows.last().copied();
    text.push_str(&format!(
        "\nlearner reached 90% of the oracle after {} offers (target: within 20,000); \
         last window: learner {:.3} vs static rules {:.3} ({}); simulated in {:.1} s\n",
        reached.map_or("never".to_owned(), |offers| offers.to_string()),
        last.map_or(0.0, |w| w.learner),
        last.map_or(0.0, |w| w.static_rules),
        if last.is_some_and(|w| w.learner > w.static_rules) {
            "beats static rules"
        } else {
            "does NOT beat static rules"
        },
        started.elapsed().as_secs_f64(),
    ));
    print!("{text}");
    if let Some(path) = &args.markdown {
        crate::report::append_markdown(path, &text)?;
    }
    Ok(())
}
