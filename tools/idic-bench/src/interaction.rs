//! Interaction benchmarks: `RecordInteraction` throughput (unary calls sharing the
//! group-commit writer, or `RecordInteractions` batches) on SQLite or PostgreSQL, and
//! `GetContext` latency with 1,000,000 interactions stored and the heaviest customers
//! holding 500 each.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use hdrhistogram::Histogram;
use idic_interaction::domain::{Interaction, NewInteraction, ThreadRequest};
use idic_interaction::store::{InteractionStore, MIGRATIONS, SqlInteractionStore};
use idic_proto::v1 as pb;
use idic_runtime::ServiceName;
use idic_runtime::config::SecretUrl;
use tonic::transport::{Channel, Endpoint};

use crate::duration::parse_duration;
use crate::machine::utc_now;

#[derive(Debug, Subcommand)]
pub enum InteractionBench {
    /// RecordInteraction throughput and latency on the all-in-one server.
    Record(RecordArgs),
    /// GetContext latency with many interactions stored.
    Context(ContextArgs),
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Customers the interactions are spread over (created in identity first).
    #[arg(long, default_value_t = 2_000)]
    pub customers: usize,
    /// Calls in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Interactions per call: 1 measures RecordInteraction, more RecordInteractions.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long, default_value_t = 2)]
    pub server_threads: usize,
    /// PostgreSQL instead of the embedded SQLite default (e.g. postgres://...).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ContextArgs {
    /// Interactions stored in all.
    #[arg(long, default_value_t = 1_000_000)]
    pub interactions: usize,
    /// Customers holding `heavy_size` interactions each; the rest hold the remainder.
    #[arg(long, default_value_t = 1_000)]
    pub heavy_customers: usize,
    #[arg(long, default_value_t = 500)]
    pub heavy_size: usize,
    /// Customers sharing what the heavy ones do not hold.
    #[arg(long, default_value_t = 9_000)]
    pub light_customers: usize,
    /// Calls in flight; several (`1,4,16`) measure each in turn on the same data.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4, 16])]
    pub concurrency: Vec<usize>,
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long, default_value_t = 2)]
    pub server_threads: usize,
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Keeps the embedded data here and reuses an earlier seeding of the same shape
    /// (the seeding takes minutes); a temporary directory when absent.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

pub fn run(command: InteractionBench) -> anyhow::Result<()> {
    match command {
        InteractionBench::Record(args) => record(&args),
        InteractionBench::Context(args) => context(&args),
    }
}

fn report(markdown: Option<&PathBuf>, text: &str) -> anyhow::Result<()> {
    println!("{text}");
    if let Some(path) = markdown {
        crate::report::append_markdown(path, text)?;
    }
    Ok(())
}

fn by_id(id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::CustomerId(id.to_owned())),
    })
}

/// The all-in-one suite in this process, with its data directory.
struct Suite {
    runtime: tokio::runtime::Runtime,
    url: String,
    stop: tokio_util::sync::CancellationToken,
    config: idic_runtime::Config,
    _data_dir: Option<tempfile::TempDir>,
}

fn start_suite(
    server_threads: usize,
    database_url: Option<&str>,
    kept_data: Option<&Path>,
) -> anyhow::Result<Suite> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(server_threads.max(1))
        .enable_all()
        .build()?;
    let (data_dir, temporary) = match kept_data {
        Some(path) => (path.to_path_buf(), None),
        None => {
            let temporary = tempfile::tempdir()?;
            (temporary.path().to_path_buf(), Some(temporary))
        }
    };
    let mut config = idic_runtime::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_listen: None,
        data_dir,
        ..idic_runtime::Config::default()
    };
    config.log_filter = "warn".into();
    config.database_url = database_url.map(SecretUrl::new);
    let application = runtime
        .block_on(idic::Application::build(config))
        .context("starting the suite")?;
    let url = format!("http://{}", application.grpc_address());
    let config = application.config().clone();
    let stop = tokio_util::sync::CancellationToken::new();
    runtime.spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
    Ok(Suite {
        runtime,
        url,
        stop,
        config,
        _data_dir: temporary,
    })
}

/// Creates `count` customers in identity; returns their ids.
async fn seed_customers(
    channel: &Channel,
    count: usize,
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let mut identity = pb::identity_service_client::IdentityServiceClient::new(channel.clone());
    let mut ids = Vec::with_capacity(count);
    for index in 0..count {
        let response = identity
            .upsert_record(pb::UpsertRecordRequest {
                record: Some(pb::SourceRecord {
                    source_system: "bench".into(),
                    source_record_id: format!("{prefix}{index}"),
                    identifiers: vec![pb::Identifier {
                        kind: pb::IdentifierKind::LoyaltyId as i32,
                        value: format!("{prefix}L{index}"),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                strict: false,
            })
            .await?;
        ids.push(response.into_inner().customer_id);
    }
    Ok(ids)
}

fn call_request(customer_id: &str, sequence: u64) -> pb::RecordInteractionRequest {
    let kinds = [
        pb::InteractionType::Call,
        pb::InteractionType::WebVisit,
        pb::InteractionType::Email,
        pb::InteractionType::Inquiry,
    ];
    let kind = kinds[(sequence % 4) as usize];
    pb::RecordInteractionRequest {
        customer: by_id(customer_id),
        channel: match kind {
            pb::InteractionType::Call => pb::Channel::CallCenter,
            pb::InteractionType::Email => pb::Channel::Email,
            _ => pb::Channel::Web,
        } as i32,
        r#type: kind as i32,
        topic: format!("topic {}", sequence % 20),
        summary: "benchmark contact with a summary of typical length for a call note".into(),
        agent: if kind == pb::InteractionType::Call {
            "agent-1".into()
        } else {
            String::new()
        },
        cost: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: 250,
        }),
        needs: if sequence.is_multiple_of(10) {
            vec![pb::ExpressedNeed {
                key: "contact_time".into(),
                value: "evenings".into(),
            }]
        } else {
            Vec::new()
        },
        idempotency_key: format!("bench-{sequence}"),
        ..Default::default()
    }
}

/// `idic-bench interaction record`
fn record(args: &RecordArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch >= 1 && args.batch <= 1000,
        "--batch must be 1 to 1000"
    );
    let suite = start_suite(args.server_threads, args.database_url.as_deref(), None)?;
    let backend = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let outcome = suite.runtime.block_on(async {
        let channel = Endpoint::from_shared(suite.url.clone())?.connect().await?;
        let ids = Arc::new(seed_customers(&channel, args.customers, "r").await?);
        let client = pb::interaction_service_client::InteractionServiceClient::new(channel.clone());
        let sequence = Arc::new(AtomicU64::new(0));
        // Warm the resolve cache and the connections.
        let warm_until = Instant::now() + Duration::from_secs(2);
        let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
        let load_before = crate::machine::load_average();
        let deadline = warm_until + args.duration;
        let mut workers = Vec::new();
        for _ in 0..args.concurrency {
            let mut client = client.clone();
            let ids = ids.clone();
            let sequence = sequence.clone();
            let histogram = histogram.clone();
            let batch = args.batch;
            workers.push(tokio::spawn(async move {
                let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
                let (mut recorded, mut errors) = (0u64, 0u64);
                loop {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    let measuring = now >= warm_until;
                    let first = sequence.fetch_add(batch as u64, Ordering::Relaxed);
                    let started = Instant::now();
                    let outcome = if batch == 1 {
                        let id = &ids[(first as usize) % ids.len()];
                        client.record_interaction(call_request(id, first)).await.map(|_| 1)
                    } else {
                        let interactions = (first..first + batch as u64)
                            .map(|n| call_request(&ids[(n as usize) % ids.len()], n))
                            .collect();
                        client
                            .record_interactions(pb::RecordInteractionsRequest { interactions, strict: false })
                            .await
                            .map(|response| response.into_inner().created)
                    };
                    let micros = started.elapsed().as_micros() as u64;
                    if !measuring {
                        continue;
                    }
                    match outcome {
                        Ok(created) => {
                            recorded += created;
                            local.record(micros.max(1)).unwrap_or(());
                        }
                        Err(status) => {
                            // The first failure of each worker says what went wrong.
                            if errors == 0 {
                                eprintln!("RecordInteraction failed: {:?} {}", status.code(), status.message());
                            }
                            errors += 1;
                        }
                    }
                }
                histogram.lock().map(|mut h| h.add(&local).unwrap_or(())).unwrap_or(());
                (recorded, errors)
            }));
        }
        let (mut recorded, mut errors) = (0, 0);
        for worker in workers {
            let (worker_recorded, worker_errors) = worker.await?;
            recorded += worker_recorded;
            errors += worker_errors;
        }
        let histogram = histogram.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
        let rpc = if args.batch == 1 { "RecordInteraction".to_owned() } else { format!("RecordInteractions x{}", args.batch) };
        let text = format!(
            "interaction {rpc} on {backend}, {} customers, {} calls in flight, {:?}, {} server threads: {recorded} interactions ({:.0}/s), call p50 {:.2} ms, p99 {:.2} ms, {errors} errors; {} load before {load_before}, after {}",
            ids.len(),
            args.concurrency,
            args.duration,
            args.server_threads,
            recorded as f64 / args.duration.as_secs_f64(),
            histogram.value_at_quantile(0.5) as f64 / 1e3,
            histogram.value_at_quantile(0.99) as f64 / 1e3,
            utc_now(),
            crate::machine::load_average()
        );
        report(args.markdown.as_ref(), &text)
    });
    suite.stop.cancel();
    suite.runtime.shutdown_timeout(Duration::from_secs(5));
    outcome
}

/// A stored interaction of the context benchmark: every 25th a complaint with a thread,
/// every 10th with an expressed preference.
fn stored_interaction(customer_id: &str, sequence: usize, at_micros: i64) -> NewInteraction {
    let complaint = sequence.is_multiple_of(25);
    let interaction = Interaction {
        interaction_id: format!("int_b{sequence:09}"),
        idempotency_key: format!("seed-{sequence}"),
        customer_id: customer_id.to_owned(),
        anchor: format!("id:{customer_id}"),
        channel: 1 + (sequence % 5) as i32,
        kind: if complaint {
            8
        } else {
            1 + (sequence % 7) as i32
        },
        direction: 1,
        occurred_at_micros: at_micros,
        recorded_at_micros: at_micros,
        thread_id: String::new(),
        thread_status: 0,
        topic: format!("topic {}", sequence % 30),
        summary: "seeded contact".into(),
        needs: if sequence.is_multiple_of(10) {
            vec![(format!("pref{}", sequence % 7), "yes".into())]
        } else {
            Vec::new()
        },
        outcome: String::new(),
        sentiment: 2,
        agent: String::new(),
        cost: None,
        automated: false,
    };
    NewInteraction {
        thread: if complaint {
            ThreadRequest::Open(format!("thr_b{sequence:09}"))
        } else {
            ThreadRequest::None
        },
        interaction,
        requested_status: 0,
    }
}

/// `idic-bench interaction context`
/// What a kept seeding was made for; reused only for the same.
fn seed_shape(args: &ContextArgs) -> [usize; 4] {
    [
        args.interactions,
        args.heavy_customers,
        args.heavy_size,
        args.light_customers,
    ]
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContextSeed {
    shape: [usize; 4],
    heavy: Vec<String>,
}

fn read_seed(path: &Path) -> anyhow::Result<Option<ContextSeed>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Creates the customers in identity and stores the interactions straight into
/// interaction's storage; returns the heavy customers' ids.
async fn seed_context(
    suite: &Suite,
    channel: &Channel,
    args: &ContextArgs,
) -> anyhow::Result<Vec<String>> {
    let seeded = Instant::now();
    let heavy = seed_customers(channel, args.heavy_customers, "h").await?;
    let light = seed_customers(channel, args.light_customers, "l").await?;
    // Interactions go straight into interaction's storage (the same database).
    let database =
        idic_runtime::storage::connect(&suite.config, ServiceName::Interaction, &MIGRATIONS)
            .await?;
    let store = SqlInteractionStore::without_announcements(database);
    let heavy_total = (args.heavy_customers * args.heavy_size).min(args.interactions);
    let start_micros: i64 = 1_700_000_000_000_000;
    let mut batch = Vec::with_capacity(5_000);
    for sequence in 0..args.interactions {
        let customer = if sequence < heavy_total {
            &heavy[sequence % heavy.len()]
        } else {
            &light[sequence % light.len().max(1)]
        };
        batch.push(stored_interaction(
            customer,
            sequence,
            start_micros + sequence as i64 * 1_000_000,
        ));
        if batch.len() == 5_000 {
            store.write_group(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        store.write_group(batch).await?;
    }
    println!(
        "seeded {} customers and {} interactions in {:.1} s",
        heavy.len() + light.len(),
        args.interactions,
        seeded.elapsed().as_secs_f64()
    );
    Ok(heavy)
}

fn context(args: &ContextArgs) -> anyhow::Result<()> {
    let suite = start_suite(
        args.server_threads,
        args.database_url.as_deref(),
        args.data_dir.as_deref(),
    )?;
    let backend = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let outcome = suite.runtime.block_on(async {
        let channel = Endpoint::from_shared(suite.url.clone())?.connect().await?;
        let shape = seed_shape(args);
        let kept = args.data_dir.as_deref().map(|dir| dir.join("context-seed.json"));
        let heavy = match kept.as_deref().map(read_seed).transpose()?.flatten() {
            Some(seed) if seed.shape == shape => {
                println!("reusing the seeding kept in {}", args.data_dir.as_deref().unwrap_or(Path::new("")).display());
                seed.heavy
            }
            _ => {
                let heavy = seed_context(&suite, &channel, args).await?;
                if let Some(path) = &kept {
                    std::fs::write(path, serde_json::to_vec(&ContextSeed { shape, heavy: heavy.clone() })?)?;
                }
                heavy
            }
        };
        let ids = Arc::new(heavy);
        for &concurrency in &args.concurrency {
            let client = pb::interaction_service_client::InteractionServiceClient::new(channel.clone());
            let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
            let warm_until = Instant::now() + Duration::from_secs(3);
            let deadline = warm_until + args.duration;
            let load_before = crate::machine::load_average();
            let mut workers = Vec::new();
            for worker in 0..concurrency {
                let mut client = client.clone();
                let histogram = histogram.clone();
                let ids = ids.clone();
                workers.push(tokio::spawn(async move {
                    let mut index = worker * 7_919;
                    let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
                    let (mut errors, mut degraded) = (0u64, 0u64);
                    loop {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        index = (index + 104_729) % ids.len();
                        let started = Instant::now();
                        let outcome = client
                            .get_context(pb::GetContextRequest { customer: by_id(&ids[index]), recent_limit: 10 })
                            .await;
                        let micros = started.elapsed().as_micros() as u64;
                        if now < warm_until {
                            continue;
                        }
                        match outcome {
                            Ok(response) => {
                                if !response.get_ref().degraded.is_empty() {
                                    degraded += 1;
                                }
                                local.record(micros.max(1)).unwrap_or(());
                            }
                            Err(_) => errors += 1,
                        }
                    }
                    histogram.lock().map(|mut h| h.add(&local).unwrap_or(())).unwrap_or(());
                    (errors, degraded)
                }));
            }
            let (mut errors, mut degraded) = (0, 0);
            for worker in workers {
                let (worker_errors, worker_degraded) = worker.await?;
                errors += worker_errors;
                degraded += worker_degraded;
            }
            let histogram = histogram.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
            let text = format!(
                "interaction GetContext on {backend}, {} interactions stored, the {} heaviest customers holding {} each (asked), {} in flight, {:?}, {} server threads: {} calls ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {errors} errors, {degraded} degraded; {} load before {load_before}, after {}",
                args.interactions,
                ids.len(),
                args.heavy_size,
                concurrency,
                args.duration,
                args.server_threads,
                histogram.len(),
                histogram.len() as f64 / args.duration.as_secs_f64(),
                histogram.value_at_quantile(0.5) as f64 / 1e3,
                histogram.value_at_quantile(0.99) as f64 / 1e3,
                histogram.max() as f64 / 1e3,
                utc_now(),
                crate::machine::load_average()
            );
    report(args.markdown.as_ref(), &text)?;
        }
        Ok(())
    });
    suite.stop.cancel();
    suite.runtime.shutdown_timeout(Duration::from_secs(5));
    outcome
}
