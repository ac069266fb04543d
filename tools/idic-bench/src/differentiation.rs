//! Differentiation benchmarks: fitting BG/NBD + Gamma-Gamma from stored transactions
//! (read, fit, save), `GetCustomerValue` under load with 1M transactions stored, and
//! the value-skew computation over 1M customers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use hdrhistogram::Histogram;
use idic_differentiation::domain::{Amount, OrderLine, Transaction, TransactionKind};
use idic_differentiation::refit::{self, ValueSettings};
use idic_differentiation::store::{DifferentiationStore, MIGRATIONS, SqlDifferentiationStore};
use idic_proto::v1 as pb;
use idic_runtime::ServiceName;
use idic_testkit::transactions::{TransactionConfig, generate_transactions};
use idic_value::TimeUnit;
use idic_value::skew::{self, TierCutoffs};
use tonic::transport::Endpoint;

use crate::duration::parse_duration;
use crate::machine::utc_now;

#[derive(Debug, Subcommand)]
pub enum DifferentiationBench {
    /// Fit BG/NBD + Gamma-Gamma from transactions stored in SQLite to saved parameters.
    Fit(FitArgs),
    /// GetCustomerValue under load on the all-in-one server with many transactions.
    Value(ValueArgs),
    /// Skew figures (Lorenz, Gini, top shares, tiers) over many customers' values.
    Skew(SkewArgs),
}

#[derive(Debug, Args)]
pub struct FitArgs {
    #[arg(long, default_value_t = 100_000)]
    pub customers: usize,
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// `database.sqlite_mmap_mb` of the store (the service's default when absent).
    #[arg(long)]
    pub sqlite_mmap_mb: Option<u64>,
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValueArgs {
    /// Transactions stored.
    #[arg(long, default_value_t = 1_000_000)]
    pub transactions: usize,
    /// Customers in identity the transactions belong to.
    #[arg(long, default_value_t = 10_000)]
    pub customers: usize,
    /// Requests in flight; several (comma-separated) run one after another on the
    /// same seeded data.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    pub concurrency: Vec<usize>,
    /// RPCs measured, one after another: `value` (GetCustomerValue), `needs`
    /// (GetCustomerNeeds).
    #[arg(long, value_delimiter = ',', default_value = "value")]
    pub rpc: Vec<Rpc>,
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long, default_value_t = 2)]
    pub server_threads: usize,
    /// `database.sqlite_mmap_mb` of the suite (its default when absent).
    #[arg(long)]
    pub sqlite_mmap_mb: Option<u64>,
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// A per-customer read measured by `idic-bench differentiation value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rpc {
    Value,
    Needs,
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Value => "GetCustomerValue",
            Rpc::Needs => "GetCustomerNeeds",
        }
    }
}

#[derive(Debug, Args)]
pub struct SkewArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub customers: usize,
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

pub fn run(command: DifferentiationBench) -> anyhow::Result<()> {
    match command {
        DifferentiationBench::Fit(args) => fit(&args),
        DifferentiationBench::Value(args) => value(&args),
        DifferentiationBench::Skew(args) => skew_bench(&args),
    }
}

fn report(markdown: Option<&PathBuf>, text: &str) -> anyhow::Result<()> {
    println!("{text}");
    if let Some(path) = markdown {
        crate::report::append_markdown(path, text)?;
    }
    Ok(())
}

fn to_transactions(
    config: &TransactionConfig,
    customer_ids: Option<&[String]>,
) -> Vec<Transaction> {
    generate_transactions(config)
        .into_iter()
        .map(|t| Transaction {
            customer_id: match customer_ids {
                Some(ids) => ids[t.customer_index % ids.len()].clone(),
                None => format!("cus_{}", t.customer_index),
            },
            anchor: t.customer_ref.clone(),
            order_id: t.order_id,
            kind: TransactionKind::Purchase,
            occurred_at_micros: t.occurred_at_micros,
            amount: Amount {
                currency: t.currency,
                minor_units: t.amount_minor,
            },
            margin_minor: None,
            lines: vec![OrderLine {
                product: t.product,
                category: t.category,
                quantity: 1,
                amount_minor: t.amount_minor,
            }],
            channel: 0,
            commitment_months: 0,
        })
        .collect()
}

async fn sqlite_store(
    dir: &std::path::Path,
    mmap_mb: Option<u64>,
) -> anyhow::Result<SqlDifferentiationStore> {
    let mut config = idic_runtime::Config {
        data_dir: dir.to_path_buf(),
        ..idic_runtime::Config::default()
    };
    if let Some(mmap_mb) = mmap_mb {
        config.database.sqlite_mmap_mb = mmap_mb;
    }
    let database =
        idic_runtime::storage::connect(&config, ServiceName::Differentiation, &MIGRATIONS).await?;
    Ok(SqlDifferentiationStore::new(database))
}

fn settings() -> ValueSettings {
    ValueSettings {
        time_unit: TimeUnit::Week,
        horizon_periods: 52,
        cutoffs: TierCutoffs::default(),
        model_currency: None,
        max_segments: 8,
    }
}

/// `idic-bench differentiation fit`
fn fit(args: &FitArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let store = sqlite_store(dir.path(), args.sqlite_mmap_mb).await?;
        let config = TransactionConfig { customers: args.customers, seed: 1, ..TransactionConfig::default() };
        let transactions = to_transactions(&config, None);
        let loaded = Instant::now();
        for chunk in transactions.chunks(20_000) {
            store.insert_transactions_bulk(chunk).await?;
        }
        println!("stored {} transactions of {} customers in {:.1} s", transactions.len(), args.customers, loaded.elapsed().as_secs_f64());
        let end = config.start_micros + config.horizon_days * 86_400_000_000;
        let settings = settings();
        let mut lines = vec![format!(
            "differentiation fit, {} customers, {} transactions, SQLite, {} (load before: {})",
            args.customers,
            transactions.len(),
            utc_now(),
            crate::machine::load_average()
        )];
        for run in 0..args.runs {
            let started = Instant::now();
            let refit::Fitted { model, data, .. } = refit::fit_models(&store, &settings, end, TimeUnit::Week).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let fit_seconds = started.elapsed().as_secs_f64();
            let rescored = Instant::now();
            refit::rescore(&store, &settings, &model, &data).await?;
            let rescore_seconds = rescored.elapsed().as_secs_f64();
            let per_customer_us = fit_seconds * 1e6 / model.customers as f64;
            // lifetimes (Python) reference on this machine: 0.25 s for 23,570 customers.
            let reference_us = 0.25e6 / 23_570.0;
            lines.push(format!(
                "run {}: read+fit+save {:.3} s ({per_customer_us:.2} µs/customer; lifetimes reference {reference_us:.2} µs/customer, {:.1}x), then scores/tiers/RFM/segments/snapshot {:.3} s; r={:.3} alpha={:.3} a={:.3} b={:.3} p={:.3} q={:.3} gamma={:.3}; load {}",
                run + 1,
                fit_seconds,
                reference_us / per_customer_us,
                rescore_seconds,
                model.bg_nbd.r,
                model.bg_nbd.alpha,
                model.bg_nbd.a,
                model.bg_nbd.b,
                model.gamma_gamma.p,
                model.gamma_gamma.q,
                model.gamma_gamma.gamma,
                crate::machine::load_average()
            ));
        }
        report(args.markdown.as_ref(), &lines.join("\n"))
    })
}

/// `idic-bench differentiation skew`
fn skew_bench(args: &SkewArgs) -> anyhow::Result<()> {
    // Values shaped like predicted CLV: most small, a long tail, some zero.
    let values: Vec<f64> = (0..args.customers)
        .map(|i| {
            let u = ((i as u64).wrapping_mul(2_654_435_761) % 1_000_003) as f64 / 1_000_003.0;
            if u < 0.1 {
                0.0
            } else {
                (1.0 / (1.0 - u * 0.999)).powf(1.5)
            }
        })
        .collect();
    let started = Instant::now();
    let figures = skew::skew(&values, 20);
    let placements = skew::place(&values, &TierCutoffs::default());
    let seconds = started.elapsed().as_secs_f64();
    report(
        args.markdown.as_ref(),
        &format!(
            "differentiation skew over {} customers: Lorenz + Gini + top shares + tiers + rank percentiles in {seconds:.3} s (Gini {:.3}, {} placements); {} load {}",
            args.customers,
            figures.gini,
            placements.len(),
            utc_now(),
            crate::machine::load_average()
        ),
    )
}

/// `idic-bench differentiation value`
fn value(args: &ValueArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads.max(1))
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
    config.differentiation.refit_interval_secs = 0;
    if let Some(mmap_mb) = args.sqlite_mmap_mb {
        config.database.sqlite_mmap_mb = mmap_mb;
    }
    let application = runtime
        .block_on(idic::Application::build(config))
        .context("starting the suite")?;
    let url = format!("http://{}", application.grpc_address());
    let stop = tokio_util::sync::CancellationToken::new();
    runtime.spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
    let outcome = runtime.block_on(async {
        let channel = Endpoint::from_shared(url.clone())?.connect().await?;
        let mut identity = pb::identity_service_client::IdentityServiceClient::new(channel.clone());
        let seeded = Instant::now();
        let mut customer_ids = Vec::with_capacity(args.customers);
        for index in 0..args.customers {
            let response = identity
                .upsert_record(pb::UpsertRecordRequest {
                    record: Some(pb::SourceRecord {
                        source_system: "bench".into(),
                        source_record_id: format!("c{index}"),
                        identifiers: vec![pb::Identifier {
                            kind: pb::IdentifierKind::LoyaltyId as i32,
                            value: format!("B{index}"),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    strict: false,
                })
                .await?;
            customer_ids.push(response.into_inner().customer_id);
        }
        // The transactions go straight into differentiation's database (same files).
        let store = sqlite_store(data_dir.path(), None).await?;
        let mut stored = 0;
        let mut seed = 0;
        while stored < args.transactions {
            seed += 1;
            let generator = TransactionConfig { customers: 50_000, seed, reference_prefix: format!("S{seed}-"), ..TransactionConfig::default() };
            let mut batch = to_transactions(&generator, Some(&customer_ids));
            batch.truncate(args.transactions - stored);
            for chunk in batch.chunks(20_000) {
                stored += store.insert_transactions_bulk(chunk).await? as usize;
            }
        }
        println!("seeded {} customers and {stored} transactions in {:.1} s", customer_ids.len(), seeded.elapsed().as_secs_f64());
        let mut differentiation = pb::differentiation_service_client::DifferentiationServiceClient::new(channel.clone());
        let refit_started = Instant::now();
        differentiation.refit_models(pb::RefitModelsRequest::default()).await?;
        println!("refit over {stored} transactions in {:.1} s", refit_started.elapsed().as_secs_f64());
        let skew_started = Instant::now();
        let skew = differentiation.get_value_skew(pb::GetValueSkewRequest {}).await?.into_inner();
        let skew_ms = skew_started.elapsed().as_secs_f64() * 1e3;

        let ids = Arc::new(customer_ids);
        let mut lines = Vec::new();
        for &rpc in &args.rpc {
            for &concurrency in &args.concurrency {
                let load_before = crate::machine::load_average();
                let (histogram, errors) = closed_loop(&differentiation, &ids, rpc, concurrency, args.duration).await?;
                lines.push(format!(
                    "differentiation {}, {stored} transactions over {} customers, {concurrency} in flight, {:?}, {} server threads: {} calls ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {errors} errors; GetValueSkew (snapshot of {}) {skew_ms:.1} ms; {} load before {load_before}, after {}",
                    rpc.name(),
                    ids.len(),
                    args.duration,
                    args.server_threads,
                    histogram.len(),
                    histogram.len() as f64 / args.duration.as_secs_f64(),
                    histogram.value_at_quantile(0.5) as f64 / 1e3,
                    histogram.value_at_quantile(0.99) as f64 / 1e3,
                    histogram.max() as f64 / 1e3,
                    skew.customers,
                    utc_now(),
                    crate::machine::load_average()
                ));
            }
        }
        let text = lines.join("\n");
        report(args.markdown.as_ref(), &text)
    });
    stop.cancel();
    runtime.shutdown_timeout(Duration::from_secs(5));
    outcome
}

type Client =
    pb::differentiation_service_client::DifferentiationServiceClient<tonic::transport::Channel>;

/// `concurrency` workers calling `rpc` back to back, by customer id, for `duration`:
/// the latency histogram (µs) and the failed calls.
async fn closed_loop(
    differentiation: &Client,
    ids: &Arc<Vec<String>>,
    rpc: Rpc,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let deadline = Instant::now() + duration;
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let mut client = differentiation.clone();
        let histogram = histogram.clone();
        let ids = ids.clone();
        workers.push(tokio::spawn(async move {
            let mut index = worker * 7_919;
            let mut local =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
            let mut errors = 0u64;
            while Instant::now() < deadline {
                index = (index + 104_729) % ids.len();
                let customer = Some(pb::CustomerRef {
                    r#ref: Some(pb::customer_ref::Ref::CustomerId(ids[index].clone())),
                });
                let started = Instant::now();
                let ok = match rpc {
                    Rpc::Value => client
                        .get_customer_value(pb::GetCustomerValueRequest { customer })
                        .await
                        .is_ok(),
                    Rpc::Needs => client
                        .get_customer_needs(pb::GetCustomerNeedsRequest { customer })
                        .await
                        .is_ok(),
                };
                let micros = started.elapsed().as_micros() as u64;
                if ok {
                    local.record(micros.max(1)).unwrap_or(());
                } else {
                    errors += 1;
                }
            }
            histogram
                .lock()
                .map(|mut h| h.add(&local).unwrap_or(()))
                .unwrap_or(());
            errors
        }));
    }
    let mut errors = 0;
    for worker in workers {
        errors += worker.await?;
    }
    let histogram = histogram
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    Ok((histogram, errors))
}
