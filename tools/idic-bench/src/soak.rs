//! The soak: mixed traffic at a steady rate for a bounded time against the all-in-one
//! suite in this process, on embedded SQLite or on PostgreSQL plus Redis, to see what
//! only time shows: the error rate, whether p99 latency drifts from the first minute to
//! the last, and whether memory grows.
//!
//! Every request is one of five kinds in turn: `Resolve`, `GetContext`,
//! `RecordInteraction` (a new one each time), `GetTailoredOffering` and
//! `RecordTransactions` (a new order each time), for customers picked round-robin.
//! The load is open-loop: latency is measured from each request's scheduled send time,
//! so a server that falls behind shows it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use hdrhistogram::Histogram;
use idic_proto::v1 as pb;
use idic_runtime::config::SecretUrl;
use sqlx::Connection as _;
use tonic::transport::Channel;

use crate::duration::parse_duration;
use crate::load::FixedRateSchedule;
use crate::machine::{Machine, load_average, utc_now};

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Requests per second in total, the five kinds in turn.
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Customers the traffic is spread over (created before the clock starts).
    #[arg(long, default_value_t = 200)]
    pub customers: usize,
    #[arg(long, default_value_t = 2)]
    pub server_threads: usize,
    /// PostgreSQL server to create a fresh database on (dropped at the end); the
    /// embedded SQLite default when absent.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Redis for cache and events, with `--database-url` (a fresh key prefix).
    #[arg(long, env = "BENCH_REDIS_URL")]
    pub redis_url: Option<String>,
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// What one minute of the soak saw.
struct Minute {
    latency: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    /// Largest resident memory sampled during the minute, bytes.
    peak_memory: u64,
}

impl Minute {
    fn new() -> Minute {
        Minute {
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            errors: BTreeMap::new(),
            peak_memory: 0,
        }
    }

    fn requests(&self) -> u64 {
        self.latency.len() + self.errors.values().sum::<u64>()
    }
}

type Minutes = Arc<Mutex<Vec<Minute>>>;

fn minute_of(minutes: &Minutes, index: usize) -> std::sync::MutexGuard<'_, Vec<Minute>> {
    let mut all = minutes
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    while all.len() <= index {
        all.push(Minute::new());
    }
    all
}

pub fn run(args: &SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.redis_url.is_none() || args.database_url.is_some(),
        "--redis-url goes with --database-url"
    );
    let backend = if args.database_url.is_some() {
        "PostgreSQL + Redis"
    } else {
        "embedded SQLite"
    };
    let database = args
        .database_url
        .as_deref()
        .map(FreshDatabase::create)
        .transpose()?;
    let suite = start_suite(
        args,
        database.as_ref().map(|database| database.url.as_str()),
    )?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let started_at = utc_now();
    let minutes: Minutes = Arc::default();
    let outcome = client_runtime.block_on(async {
        let channel = Channel::from_shared(suite.url.clone())?.connect_lazy();
        let customers = seed(&channel, args.customers).await?;
        soak(&channel, &customers, args, &minutes).await;
        anyhow::Ok(())
    });
    suite.stop.cancel();
    drop(suite);
    if let Some(database) = database {
        database.drop_database()?;
    }
    outcome?;
    let report = report(args, backend, &started_at, &minutes);
    println!("{report}");
    if let Some(path) = &args.markdown {
        crate::report::append_markdown(path, &report)?;
    }
    Ok(())
}

/// A database created for one soak on the server of `--database-url`.
struct FreshDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    fn create(admin_url: &str) -> anyhow::Result<FreshDatabase> {
        let name = format!("idic_soak_{}", uuid_like());
        block_on_admin(admin_url, &format!("CREATE DATABASE {name}"))?;
        let mut url = url::Url::parse(admin_url).context("--database-url is not a URL")?;
        url.set_path(&name);
        Ok(FreshDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    fn drop_database(self) -> anyhow::Result<()> {
        block_on_admin(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!("{nanos:x}")
}

fn block_on_admin(url: &str, statement: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut connection = sqlx::PgConnection::connect(url)
            .await
            .context("connecting to --database-url")?;
        sqlx::Executor::execute(&mut connection, statement).await?;
        connection.close().await?;
        anyhow::Ok(())
    })
}

struct Suite {
    _runtime: tokio::runtime::Runtime,
    url: String,
    stop: tokio_util::sync::CancellationToken,
    _data_dir: tempfile::TempDir,
}

fn start_suite(args: &SoakArgs, database_url: Option<&str>) -> anyhow::Result<Suite> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads.max(1))
        .thread_name(crate::targets::SERVER_THREAD_NAME)
        .enable_all()
        .build()?;
    let data_dir = tempfile::tempdir()?;
    let mut config = idic_runtime::Config {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_listen: None,
        data_dir: data_dir.path().to_path_buf(),
        ..idic_runtime::Config::default()
    };
    config.log_filter = "warn".into();
    config.database_url = database_url.map(SecretUrl::new);
    config.redis_url = args.redis_url.clone().map(SecretUrl::new);
    config.redis.key_prefix = format!("idic-soak-{}", uuid_like());
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

fn loyalty(index: usize) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::LoyaltyId as i32,
            value: format!("SOAK-{index}"),
            ..Default::default()
        })),
    })
}

fn eur(minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: "EUR".into(),
        minor_units,
    })
}

/// The customers and a small catalog, before the clock starts.
async fn seed(channel: &Channel, customers: usize) -> anyhow::Result<Vec<usize>> {
    let mut identity = pb::identity_service_client::IdentityServiceClient::new(channel.clone());
    for index in 0..customers {
        identity
            .upsert_record(pb::UpsertRecordRequest {
                record: Some(pb::SourceRecord {
                    source_system: "soak".into(),
                    source_record_id: format!("soak-{index}"),
                    identifiers: vec![pb::Identifier {
                        kind: pb::IdentifierKind::LoyaltyId as i32,
                        value: format!("SOAK-{index}"),
                        ..Default::default()
                    }],
                    emails: vec![format!("soak{index}@example.com")],
                    ..Default::default()
                }),
                strict: false,
            })
            .await
            .context("creating the soak's customers")?;
    }
    let component = |id: &str, slot: pb::Slot, cost: i64| pb::Component {
        component_id: id.into(),
        slot: slot as i32,
        name: id.into(),
        cost: eur(cost),
        available: true,
        ..Default::default()
    };
    pb::customization_service_client::CustomizationServiceClient::new(channel.clone())
        .upsert_components(pb::UpsertComponentsRequest {
            components: vec![
                component("packaging.standard", pb::Slot::Packaging, 50),
                component("packaging.eco", pb::Slot::Packaging, 80),
                component("delivery.standard", pb::Slot::Delivery, 400),
                component("invoice.itemized", pb::Slot::InvoiceFormat, 5),
            ],
        })
        .await
        .context("storing the soak's catalog")?;
    Ok((0..customers).collect())
}

/// The RPC of request `sequence` of the mix.
const MIX: [&str; 5] = [
    "Resolve",
    "GetContext",
    "RecordInteraction",
    "GetTailoredOffering",
    "RecordTransactions",
];

/// One request of the mix; `Err` carries the RPC and the status code's name.
async fn one_request(channel: Channel, sequence: u64, customer: usize) -> Result<(), String> {
    let rpc = MIX[(sequence % 5) as usize];
    let failed = |status: tonic::Status| format!("{rpc} {:?}", status.code());
    match sequence % 5 {
        0 => pb::identity_service_client::IdentityServiceClient::new(channel)
            .resolve(pb::ResolveRequest {
                query: Some(pb::resolve_request::Query::Identifier(pb::Identifier {
                    kind: pb::IdentifierKind::Email as i32,
                    value: format!("soak{customer}@example.com"),
                    ..Default::default()
                })),
                max_candidates: 3,
            })
            .await
            .map(drop)
            .map_err(failed),
        1 => pb::interaction_service_client::InteractionServiceClient::new(channel)
            .get_context(pb::GetContextRequest {
                customer: loyalty(customer),
                recent_limit: 10,
            })
            .await
            .map(drop)
            .map_err(failed),
        2 => pb::interaction_service_client::InteractionServiceClient::new(channel)
            .record_interaction(pb::RecordInteractionRequest {
                customer: loyalty(customer),
                channel: pb::Channel::CallCenter as i32,
                r#type: pb::InteractionType::Call as i32,
                summary: format!("soak call {sequence}"),
                idempotency_key: format!("soak-call-{sequence}"),
                ..Default::default()
            })
            .await
            .map(drop)
            .map_err(failed),
        3 => pb::customization_service_client::CustomizationServiceClient::new(channel)
            .get_tailored_offering(pb::GetTailoredOfferingRequest {
                customer: loyalty(customer),
                channel: pb::Channel::Web as i32,
                ..Default::default()
            })
            .await
            .map(drop)
            .map_err(failed),
        _ => pb::differentiation_service_client::DifferentiationServiceClient::new(channel)
            .record_transactions(pb::RecordTransactionsRequest {
                transactions: vec![pb::TransactionInput {
                    customer: loyalty(customer),
                    order_id: format!("soak-order-{sequence}"),
                    kind: pb::TransactionKind::Purchase as i32,
                    occurred_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
                    amount: eur(2_500),
                    lines: vec![pb::OrderLine {
                        product: "soak".into(),
                        category: "books".into(),
                        quantity: 1,
                        amount: eur(2_500),
                    }],
                    channel: pb::Channel::Web as i32,
                    ..Default::default()
                }],
                strict: false,
            })
            .await
            .map(drop)
            .map_err(failed),
    }
}

async fn soak(channel: &Channel, customers: &[usize], args: &SoakArgs, minutes: &Minutes) {
    let start = Instant::now();
    let schedule = FixedRateSchedule::new(start, args.rate.max(1)).expect("a positive rate");
    let total = schedule.requests_in(args.duration);
    let sampler = {
        let minutes = minutes.clone();
        tokio::spawn(async move {
            loop {
                let index = (start.elapsed().as_secs() / 60) as usize;
                let memory = idic_runtime::observability::resident_memory_bytes().unwrap_or(0);
                {
                    let mut all = minute_of(&minutes, index);
                    all[index].peak_memory = all[index].peak_memory.max(memory);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let tracker = tokio_util::task::TaskTracker::new();
    for sequence in 0..total {
        let due = schedule.send_time(sequence);
        tokio::time::sleep_until(due.into()).await;
        let channel = channel.clone();
        let customer = customers[(sequence / 5) as usize % customers.len()];
        let minutes = minutes.clone();
        tracker.spawn(async move {
            let answer = tokio::time::timeout(
                Duration::from_secs(30),
                one_request(channel, sequence, customer),
            )
            .await
            .unwrap_or_else(|_| Err("client timeout (30 s)".to_owned()));
            let index = (due.duration_since(start).as_secs() / 60) as usize;
            let mut all = minute_of(&minutes, index);
            match answer {
                Ok(()) => {
                    let micros = due.elapsed().as_micros().max(1) as u64;
                    let _ = all[index].latency.record(micros.min(60_000_000));
                }
                Err(code) => *all[index].errors.entry(code).or_insert(0) += 1,
            }
        });
    }
    tracker.close();
    tracker.wait().await;
    sampler.abort();
}

fn millis(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

fn mebibytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn report(args: &SoakArgs, backend: &str, started_at: &str, minutes: &Minutes) -> String {
    let minutes = minutes
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let full: Vec<&Minute> = minutes
        .iter()
        .filter(|minute| minute.requests() > 0)
        .collect();
    let mut text = format!(
        "### Soak: {backend}, {} requests/s for {:.0} s\n\n\
         Started {started_at}; {}; load average at the end {}; {} customers; the \
         suite in this process ({} server threads), load from 1 more thread; mix: \
         Resolve, GetContext, RecordInteraction, GetTailoredOffering, \
         RecordTransactions in turn; latency from the scheduled send time.\n\n\
         | minute | requests | errors | p50 ms | p99 ms | max ms | peak RSS MiB |\n\
         |---|---|---|---|---|---|---|\n",
        args.rate,
        args.duration.as_secs_f64(),
        Machine::describe().summary(),
        load_average(),
        args.customers,
        args.server_threads,
    );
    for (index, minute) in full.iter().enumerate() {
        let errors: u64 = minute.errors.values().sum();
        text.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.0} |\n",
            index + 1,
            minute.requests(),
            errors,
            millis(&minute.latency, 0.5),
            millis(&minute.latency, 0.99),
            minute.latency.max() as f64 / 1000.0,
            mebibytes(minute.peak_memory),
        ));
    }
    let requests: u64 = full.iter().map(|minute| minute.requests()).sum();
    let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
    for minute in &full {
        for (code, count) in &minute.errors {
            *errors.entry(code.as_str()).or_insert(0) += count;
        }
    }
    let failed: u64 = errors.values().sum();
    if let (Some(first), Some(last)) = (full.first(), full.last()) {
        let (p99_first, p99_last) = (millis(&first.latency, 0.99), millis(&last.latency, 0.99));
        text.push_str(&format!(
            "\nError rate {:.3} % ({failed} of {requests}{}); p99 first minute {p99_first:.1} ms, \
             last minute {p99_last:.1} ms (drift {:+.0} %); peak resident memory first minute \
             {:.0} MiB, last minute {:.0} MiB (growth {:+.0} MiB).\n",
            100.0 * failed as f64 / requests.max(1) as f64,
            if errors.is_empty() {
                String::new()
            } else {
                format!(": {errors:?}")
            },
            100.0 * (p99_last - p99_first) / p99_first.max(0.001),
            mebibytes(first.peak_memory),
            mebibytes(last.peak_memory),
            mebibytes(last.peak_memory) - mebibytes(first.peak_memory),
        ));
    }
    text
}
