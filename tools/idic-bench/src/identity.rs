//! Identity benchmarks: accuracy and order independence on generated records with
//! ground truth, and bulk import of a large file into a separately running `idic`
//! (speed, peak memory, storage per record).
//!
//! Data come from the test kit's generator and go through the same CSV reader as
//! `idic import records`, then over gRPC (`ImportRecords`), so the figures are those a
//! user loading a file would see.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use idic::records_csv::RecordCsv;
use idic_matching::blocking::block_keys;
use idic_matching::features::Features;
use idic_matching::normalize::{NormalizeOptions, normalize_record};
use idic_matching::record::{RawAddress, RawIdentifier, RawRecord};
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_testkit::generator::{
    DamageRates, GeneratedRecord, GeneratorConfig, apply_second_damage, generate, pairwise_scores,
    partition, write_records_csv,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::suite::{clusters, default_threshold_bits, start_suite};

#[derive(Debug, Subcommand)]
pub enum IdentityBench {
    /// Pairwise precision, recall and F1 against the generator's ground truth, blocking
    /// recall, and whether shuffled orders give identical clusters.
    Accuracy(AccuracyArgs),
    /// Bulk import of a generated file into a separately started `idic`: time, peak
    /// memory of the server, storage per record.
    Import(ImportArgs),
    /// Pairwise precision, recall and F1 on the public FEBRL data sets, with and
    /// without the national id (see `.ci/febrl.sh` for the files).
    Febrl(crate::febrl::FebrlArgs),
}

#[derive(Debug, Args)]
pub struct AccuracyArgs {
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Import the same records in this many shuffled orders and compare the clusters.
    #[arg(long, default_value_t = 3)]
    pub shuffles: usize,
    /// Append the results to this markdown file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Print this many missed and false pairs, field by field (for tuning).
    #[arg(long, default_value_t = 0)]
    pub diagnose: usize,
    /// The match threshold in bits (default: the configuration's default).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Which fields the generated sources collect: `as-collected` (realistic: sign-ups
    /// with an e-mail only, tills with a phone) or `full` (every record with most
    /// fields, the shape of the classic linkage benchmarks).
    #[arg(long, value_enum, default_value_t = FormsArg::AsCollected)]
    pub forms: FormsArg,
    /// Also apply the second damage model (replaced values, swapped names, national
    /// id typos, impossible dates, invalid phones, missing fields), which our rules
    /// were not tuned on.
    #[arg(long)]
    pub second_damage: bool,
}

/// `--forms`: see [`Forms`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormsArg {
    AsCollected,
    Full,
}

impl FormsArg {
    fn config(self, records: usize, seed: u64) -> GeneratorConfig {
        match self {
            FormsArg::AsCollected => GeneratorConfig::new(records, seed),
            FormsArg::Full => GeneratorConfig::full_forms(records, seed),
        }
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub records: usize,
    #[arg(long, default_value_t = 11)]
    pub seed: u64,
    /// The `idic` binary to start (default: beside this one).
    #[arg(long)]
    pub idic: Option<PathBuf>,
    /// Load into PostgreSQL (and Redis at --redis-url) instead of the embedded default.
    #[arg(long)]
    pub database_url: Option<String>,
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Records per ImportRecords message.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Keep the server running after the import and print its address (for load runs).
    #[arg(long)]
    pub keep_running: bool,
    /// Append the results to this markdown file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// After the import, run `EstimateParameters` and then `Recluster` twice (the
    /// second finds nothing to do) and report each one's time and the server's peak
    /// memory while it ran.
    #[arg(long)]
    pub recluster: bool,
    /// After the import (embedded only): stop the server (SIGTERM: it writes its
    /// engine snapshot), start it again from the snapshot, then once more without it
    /// (rebuilt from the tables), and report each restart's time to listening, peak
    /// memory and the snapshot's size.
    #[arg(long)]
    pub restart: bool,
}

pub async fn run(command: IdentityBench) -> anyhow::Result<()> {
    match command {
        IdentityBench::Accuracy(args) => accuracy(args).await,
        IdentityBench::Import(args) => import(args).await,
        IdentityBench::Febrl(args) => crate::febrl::run(args).await,
    }
}

// ----- data -------------------------------------------------------------------------

/// Generates records as `config` says and writes them as the import CSV.
fn generated_file(
    config: &GeneratorConfig,
    directory: &Path,
    second_damage: bool,
) -> anyhow::Result<(Vec<GeneratedRecord>, PathBuf)> {
    let (records, seed) = (config.records, config.seed);
    let started = Instant::now();
    let mut generated = generate(config);
    if second_damage {
        apply_second_damage(&mut generated, &DamageRates::default(), seed);
    }
    let path = directory.join(format!("records-{records}-{seed}.csv"));
    write_records_csv(
        &generated,
        std::io::BufWriter::new(std::fs::File::create(&path)?),
    )?;
    let entities = generated
        .iter()
        .map(|r| r.entity_id)
        .collect::<std::collections::HashSet<_>>()
        .len();
    println!(
        "data: {} generated records of {} entities (seed {seed}) in {:.1} s -> {}",
        generated.len(),
        entities,
        started.elapsed().as_secs_f64(),
        path.display()
    );
    Ok((generated, path))
}

/// Why records were refused, counted per field and description, so that a run with
/// refusals says what the data held that identity would not keep.
fn print_refusals(summary: &pb::ImportRecordsResponse) {
    let mut reasons: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for error in &summary.errors {
        for field in &error.fields {
            *reasons
                .entry((field.field.clone(), field.description.clone()))
                .or_default() += 1;
        }
    }
    for ((field, description), count) in reasons {
        println!("  refused for {field}: {description} ({count} of the first listed)");
    }
}

/// Writes `records` in the order given by `order` as a CSV file.
fn reordered_file(records: &[GeneratedRecord], order: &[usize], path: &Path) -> anyhow::Result<()> {
    let shuffled: Vec<GeneratedRecord> =
        order.iter().map(|index| records[*index].clone()).collect();
    write_records_csv(
        &shuffled,
        std::io::BufWriter::new(std::fs::File::create(path)?),
    )?;
    Ok(())
}

fn shuffled_order(count: usize, seed: u64) -> Vec<usize> {
    // Fisher-Yates with a xorshift generator: reproducible without extra crates.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut order: Vec<usize> = (0..count).collect();
    for index in (1..count).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(index, (state % (index as u64 + 1)) as usize);
    }
    order
}

// ----- import over gRPC -------------------------------------------------------------

/// Streams the CSV at `path` to `ImportRecords` and returns the answer and the time.
async fn stream_file(
    channel: Channel,
    path: &Path,
    batch: usize,
) -> anyhow::Result<(pb::ImportRecordsResponse, Duration)> {
    let mut client =
        IdentityServiceClient::new(channel).max_encoding_message_size(256 * 1024 * 1024);
    let (sender, receiver) = mpsc::channel::<pb::ImportRecordsRequest>(4);
    let path = path.to_path_buf();
    let started = Instant::now();
    let reader = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut csv = RecordCsv::open(&path)?;
        let mut records = Vec::with_capacity(batch);
        while let Some(record) = csv.next_record()? {
            records.push(record);
            if records.len() == batch
                && sender
                    .blocking_send(pb::ImportRecordsRequest {
                        records: std::mem::take(&mut records),
                        strict: false,
                        // The bench runs estimate and recluster itself, when asked and timed.
                        skip_auto_estimate: true,
                    })
                    .is_err()
            {
                return Ok(());
            }
        }
        if !records.is_empty() {
            let _ = sender.blocking_send(pb::ImportRecordsRequest {
                records,
                strict: false,
                // The bench runs estimate and recluster itself, when asked and timed.
                skip_auto_estimate: true,
            });
        }
        Ok(())
    });
    let response = client.import_records(ReceiverStream::new(receiver)).await;
    reader.await??;
    let elapsed = started.elapsed();
    let response = response
        .map_err(|status| anyhow::anyhow!("import failed: {status}"))?
        .into_inner();
    Ok((response, elapsed))
}

// ----- accuracy ---------------------------------------------------------------------

/// Blocking recall: true pairs (same entity) that share at least one blocking key.
/// Reachable: true pairs joined by a chain of such pairs within the entity, the most a
/// linker that needs some shared evidence can recover. Returns (blocked, reachable,
/// true pairs).
fn blocking_recall(records: &[GeneratedRecord]) -> (u64, u64, u64) {
    let options = NormalizeOptions::default();
    let mut by_entity: BTreeMap<u64, Vec<Vec<u64>>> = BTreeMap::new();
    for record in records {
        let Ok(normalized) = normalize_record(&raw_record(record), &options) else {
            continue;
        };
        by_entity
            .entry(record.entity_id)
            .or_default()
            .push(block_keys(&Features::of(&normalized)));
    }
    let (mut pairs, mut blocked, mut reachable) = (0u64, 0u64, 0u64);
    for keys in by_entity.values() {
        let mut parent: Vec<usize> = (0..keys.len()).collect();
        fn root(parent: &mut [usize], mut item: usize) -> usize {
            while parent[item] != item {
                item = parent[item];
            }
            item
        }
        for (index, a) in keys.iter().enumerate() {
            for (offset, b) in keys[index + 1..].iter().enumerate() {
                pairs += 1;
                if a.iter().any(|key| b.binary_search(key).is_ok()) {
                    blocked += 1;
                    let (x, y) = (
                        root(&mut parent, index),
                        root(&mut parent, index + 1 + offset),
                    );
                    parent[x] = y;
                }
            }
        }
        let mut sizes: HashMap<usize, u64> = HashMap::new();
        for item in 0..keys.len() {
            *sizes.entry(root(&mut parent, item)).or_default() += 1;
        }
        reachable += sizes.values().map(|n| n * (n - 1) / 2).sum::<u64>();
    }
    (blocked, reachable, pairs)
}

/// What `idic identity estimate` finds for `MatchParameters::household_ratio` on
/// these records (all candidate pairs of blocking).
fn household_ratio(records: &[GeneratedRecord]) -> f64 {
    let options = NormalizeOptions::default();
    let features: Vec<Features> = records
        .iter()
        .filter_map(|record| normalize_record(&raw_record(record), &options).ok())
        .map(|normalized| Features::of(&normalized))
        .collect();
    let mut blocks: HashMap<u64, Vec<usize>> = HashMap::new();
    for (index, record) in features.iter().enumerate() {
        for key in block_keys(record) {
            blocks.entry(key).or_default().push(index);
        }
    }
    let mut pairs: Vec<(usize, usize)> = blocks
        .values()
        .flat_map(|members| {
            members
                .iter()
                .enumerate()
                .flat_map(move |(i, a)| members[i + 1..].iter().map(move |b| (*a, *b)))
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut params = idic_matching::params::MatchParameters::default();
    idic_matching::em::estimate_household_ratio(
        pairs.iter().map(|(a, b)| (&features[*a], &features[*b])),
        &mut params,
    );
    params.household_ratio
}

fn raw_record(record: &GeneratedRecord) -> RawRecord {
    let one = |value: &str| {
        if value.is_empty() {
            Vec::new()
        } else {
            vec![value.to_owned()]
        }
    };
    let address = RawAddress {
        street_number: record.street_number.clone(),
        street: record.street.clone(),
        address_line2: record.address_line2.clone(),
        locality: record.locality.clone(),
        postcode: record.postcode.clone(),
        region: record.region.clone(),
        country: record.country.clone(),
    };
    let identifiers = [
        (idic_matching::record::IdKind::Loyalty, &record.loyalty_id),
        (idic_matching::record::IdKind::Account, &record.account_code),
        (idic_matching::record::IdKind::National, &record.national_id),
        (idic_matching::record::IdKind::Device, &record.device_id),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(kind, value)| RawIdentifier {
        kind,
        system: String::new(),
        value: value.clone(),
    })
    .collect();
    RawRecord {
        given_name: record.given_name.clone(),
        middle_name: record.middle_name.clone(),
        family_name: record.family_name.clone(),
        organization_name: record.organization_name.clone(),
        date_of_birth: record.date_of_birth.clone(),
        emails: one(&record.email),
        phones: one(&record.phone),
        addresses: if address == RawAddress::default() {
            Vec::new()
        } else {
            vec![address]
        },
        identifiers,
        ..RawRecord::default()
    }
}

async fn accuracy(args: AccuracyArgs) -> anyhow::Result<()> {
    let workspace = tempfile::tempdir()?;
    let (records, path) = generated_file(
        &args.forms.config(args.records, args.seed),
        workspace.path(),
        args.second_damage,
    )?;
    println!(
        "forms: {:?}{}",
        args.forms,
        if args.second_damage {
            ", second damage model"
        } else {
            ""
        }
    );
    let truth = GeneratedRecord::truth_pairs(&records);
    let (blocked, reachable, true_pairs) = blocking_recall(&records);
    let evidence = format!(
        "blocking recall: {blocked} of {true_pairs} true pairs share a blocking key ({:.4}); {reachable} ({:.4}) are reachable through chains of such pairs, the recall ceiling for a linker that needs shared evidence",
        blocked as f64 / true_pairs.max(1) as f64,
        reachable as f64 / true_pairs.max(1) as f64
    );
    println!("{evidence}");
    let households = household_ratio(&records);
    println!(
        "household ratio of candidate pairs: {households:.3} (households present from {})",
        idic_matching::params::HOUSEHOLD_RATIO_PRESENT
    );

    let mut report = String::new();
    let mut partitions = Vec::new();
    for run in 0..args.shuffles.max(1) {
        let file = if run == 0 {
            path.clone()
        } else {
            let shuffled = workspace.path().join(format!("shuffled-{run}.csv"));
            reordered_file(
                &records,
                &shuffled_order(records.len(), args.seed + run as u64),
                &shuffled,
            )?;
            shuffled
        };
        let data = tempfile::tempdir_in(workspace.path())?;
        let (channel, stop, task) = start_suite(data.path(), args.threshold).await?;
        let (summary, elapsed) = stream_file(channel.clone(), &file, 1000).await?;
        let assignments = clusters(channel).await?;
        stop.cancel();
        task.await??;
        let counts = pairwise_scores(&truth, &assignments);
        let customers = assignments
            .iter()
            .map(|(_, c)| c.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len();
        let line = format!(
            "order {run}: {} records ({} rejected) -> {customers} customers in {:.1} s; precision {:.4}, recall {:.4}, F1 {:.4} (TP {}, FP {}, FN {})",
            summary.received,
            summary.rejected,
            elapsed.as_secs_f64(),
            counts.precision(),
            counts.recall(),
            counts.f1(),
            counts.true_positives,
            counts.false_positives,
            counts.false_negatives
        );
        println!("{line}");
        report.push_str(&format!("- {line}\n"));
        if run == 0 {
            print_refusals(&summary);
        }
        if run == 0 && args.diagnose > 0 {
            diagnose(
                &records,
                &assignments,
                args.diagnose,
                args.threshold.unwrap_or_else(default_threshold_bits),
            );
        }
        partitions.push(partition(&assignments));
    }
    let identical = partitions.windows(2).all(|pair| pair[0] == pair[1]);
    let verdict = if identical {
        format!(
            "order independence: the {} orders gave identical clusters",
            partitions.len()
        )
    } else {
        let differing = partitions
            .iter()
            .skip(1)
            .map(|other| {
                other
                    .iter()
                    .filter(|group| partitions[0].binary_search(group).is_err())
                    .count()
            })
            .collect::<Vec<_>>();
        format!(
            "order independence: clusters DIFFER between orders (groups not in the first order: {differing:?})"
        )
    };
    println!("{verdict}");
    if let Some(markdown) = args.markdown {
        let machine = crate::machine::Machine::describe();
        let text = format!(
            "\n### Identity accuracy, {} records (seed {}, forms {:?}), threshold {} bits\n\n{}, {}\n\n- {evidence}\n{report}- {verdict}\n",
            args.records,
            args.seed,
            args.forms,
            args.threshold.unwrap_or_else(default_threshold_bits),
            machine.summary(),
            crate::machine::utc_now(),
        );
        crate::report::append_markdown(&markdown, &text)?;
    }
    Ok(())
}

/// Prints sample false negatives (same entity, different customers) and false
/// positives (different entities, same customer) with each field's comparison.
fn diagnose(
    records: &[GeneratedRecord],
    assignments: &[(String, String)],
    limit: usize,
    threshold: f64,
) {
    use idic_matching::params::MatchParameters;
    use idic_matching::score::{RecordAll, compare};
    let customer_of: HashMap<&str, &str> = assignments
        .iter()
        .map(|(k, c)| (k.as_str(), c.as_str()))
        .collect();
    let options = NormalizeOptions::default();
    let params = MatchParameters::default();
    let features = |record: &GeneratedRecord| {
        normalize_record(&raw_record(record), &options)
            .ok()
            .map(|n| Features::of(&n))
    };
    let describe = |record: &GeneratedRecord| {
        format!(
            "{}/{} [{} | {} | {} | {} | {} | {} {} {} | L{} A{} N{} D{}]",
            record.source_system,
            record.source_record_id,
            record.given_name,
            record.family_name,
            record.date_of_birth,
            record.email,
            record.phone,
            record.street_number,
            record.street,
            record.postcode,
            record.loyalty_id,
            record.account_code,
            record.national_id,
            record.device_id
        )
    };
    let explain = |a: &GeneratedRecord, b: &GeneratedRecord| {
        let (Some(fa), Some(fb)) = (features(a), features(b)) else {
            return "(not normalizable)".to_owned();
        };
        let mut fields = RecordAll::default();
        let score = compare(&fa, &fb, &params, &mut fields);
        let shared = block_keys(&fa)
            .iter()
            .any(|key| block_keys(&fb).contains(key));
        let levels: Vec<String> = fields
            .0
            .iter()
            .map(|o| format!("{}={}({:.1})", o.field.name(), o.level_name(), o.weight))
            .collect();
        format!(
            "total {:.1} rule {:?} conflict {:?} blocked-together {shared}: {}",
            score.total,
            score.rule,
            score.separation(threshold),
            levels.join(" ")
        )
    };
    let mut by_entity: BTreeMap<u64, Vec<&GeneratedRecord>> = BTreeMap::new();
    for record in records {
        by_entity.entry(record.entity_id).or_default().push(record);
    }
    // Where the missed pairs are: not compared (no shared key), compared but below the
    // threshold, or kept apart by a conflict.
    let (mut unblocked, mut below, mut conflicted, mut linkable) = (0u64, 0u64, 0u64, 0u64);
    let mut conflict_causes: BTreeMap<&'static str, u64> = BTreeMap::new();
    for members in by_entity.values() {
        for (index, a) in members.iter().enumerate() {
            for b in &members[index + 1..] {
                if customer_of.get(a.key().as_str()) == customer_of.get(b.key().as_str()) {
                    continue;
                }
                let (Some(fa), Some(fb)) = (features(a), features(b)) else {
                    continue;
                };
                let score = compare(&fa, &fb, &params, &mut idic_matching::score::NoRecord);
                if !block_keys(&fa)
                    .iter()
                    .any(|key| block_keys(&fb).contains(key))
                {
                    unblocked += 1;
                } else if score.separation(threshold).is_some() {
                    conflicted += 1;
                    *conflict_causes
                        .entry(conflict_cause(&fa, &fb, &params))
                        .or_default() += 1;
                } else if !score.is_link(threshold) {
                    below += 1;
                } else {
                    linkable += 1;
                }
            }
        }
    }
    println!(
        "missed pairs: {unblocked} share no blocking key, {conflicted} conflict, {below} below {threshold} bits or uncorroborated, {linkable} linkable (kept apart by clustering)"
    );
    println!("conflicts by cause: {conflict_causes:?}");
    println!("--- missed pairs (same entity, different customers)");
    let mut shown = 0;
    'entities: for members in by_entity.values() {
        for (index, a) in members.iter().enumerate() {
            for b in &members[index + 1..] {
                if customer_of.get(a.key().as_str()) != customer_of.get(b.key().as_str()) {
                    if std::env::var("DIAGNOSE_SCORE_MIN")
                        .ok()
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(|min| {
                            let (Some(fa), Some(fb)) = (features(a), features(b)) else {
                                return true;
                            };
                            compare(&fa, &fb, &params, &mut idic_matching::score::NoRecord).total
                                < min
                        })
                    {
                        continue;
                    }
                    println!("{}\n{}\n  {}", describe(a), describe(b), explain(a, b));
                    shown += 1;
                    if shown >= limit {
                        break 'entities;
                    }
                    continue 'entities;
                }
            }
        }
    }
    println!("--- false pairs (different entities, same customer)");
    let by_key: HashMap<String, &GeneratedRecord> = records.iter().map(|r| (r.key(), r)).collect();
    let mut by_customer: HashMap<&str, Vec<&GeneratedRecord>> = HashMap::new();
    for (key, customer) in assignments {
        if let Some(record) = by_key.get(key) {
            by_customer
                .entry(customer.as_str())
                .or_default()
                .push(record);
        }
    }
    let mut customers: Vec<_> = by_customer.into_iter().collect();
    customers.sort_by_key(|(id, _)| *id);
    print_false_links(&customers, &params, threshold, &features);
    let mut shown = 0;
    'customers: for (_, members) in customers {
        for (index, a) in members.iter().enumerate() {
            for b in &members[index + 1..] {
                if a.entity_id != b.entity_id {
                    println!("{}\n{}\n  {}", describe(a), describe(b), explain(a, b));
                    shown += 1;
                    if shown >= limit {
                        break 'customers;
                    }
                    continue 'customers;
                }
            }
        }
    }
}

/// The evidence of the direct links between records of different entities in one
/// customer (chains aside), most frequent first: what the false merges rest on.
fn print_false_links(
    customers: &[(&str, Vec<&GeneratedRecord>)],
    params: &idic_matching::params::MatchParameters,
    threshold: f64,
    features: &impl Fn(&GeneratedRecord) -> Option<Features>,
) {
    use idic_matching::score::{RecordAll, compare};
    let mut evidence: HashMap<String, u64> = HashMap::new();
    let mut links = 0u64;
    for (_, members) in customers {
        let members: Vec<_> = members
            .iter()
            .filter_map(|r| Some((*r, features(r)?)))
            .collect();
        for (index, (a, fa)) in members.iter().enumerate() {
            for (b, fb) in &members[index + 1..] {
                if a.entity_id == b.entity_id {
                    continue;
                }
                let mut fields = RecordAll::default();
                if !compare(fa, fb, params, &mut fields).is_link(threshold) {
                    continue;
                }
                links += 1;
                let key: Vec<String> = fields
                    .0
                    .iter()
                    .map(|o| format!("{}={}", o.field.name(), o.level_name()))
                    .collect();
                let mut key = key.join(" ");
                if fa.generation.is_some() != fb.generation.is_some() {
                    key.push_str(" [suffix on one side]");
                }
                *evidence.entry(key).or_default() += 1;
            }
        }
    }
    let mut evidence: Vec<_> = evidence.into_iter().collect();
    evidence.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    println!("--- direct links between different entities: {links}, by evidence");
    for (key, count) in evidence.iter().take(20) {
        println!("{count:6}  {key}");
    }
}

/// Which part of two records makes them different persons, for the tuning summary.
fn conflict_cause(
    a: &Features,
    b: &Features,
    params: &idic_matching::params::MatchParameters,
) -> &'static str {
    use idic_matching::params::Field;
    use idic_matching::score::{RecordAll, compare};
    let mut fields = RecordAll::default();
    compare(a, b, params, &mut fields);
    let disagrees = |field: Field| {
        fields
            .0
            .iter()
            .any(|o| o.field == field && o.level == field.disagree_level())
    };
    match (disagrees(Field::GivenName), disagrees(Field::BirthDate)) {
        (true, true) => "given name and birth date",
        (true, false) => "given name",
        (false, true) => "birth date",
        (false, false) => "middle initial, suffix or national id",
    }
}

// ----- bulk import ------------------------------------------------------------------

/// A started `idic serve` process.
struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_server(
    binary: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    redis_url: Option<&str>,
) -> anyhow::Result<Server> {
    let mut command = Command::new(binary);
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("IDIC_LOG_FILTER", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    if let Some(url) = redis_url {
        command.env("REDIS_URL", url);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines.next().context("idic exited before listening")??;
        if let Some(rest) = line.strip_prefix("IDIC suite listening on ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, address })
}

/// Peak resident memory of a process (VmHWM), in bytes.
fn peak_memory(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// The sizes of identity's SQLite database file and of its write-ahead log (pages not
/// yet copied back into the file; its size at a given moment depends on when the last
/// checkpoint ran), not the other services' files.
fn identity_files_size(data_dir: &Path) -> (u64, u64) {
    let size = |name: &str| {
        std::fs::metadata(data_dir.join(name))
            .map(|meta| meta.len())
            .unwrap_or(0)
    };
    (size("identity.db"), size("identity.db-wal"))
}

async fn postgres_identity_bytes(url: &str) -> anyhow::Result<u64> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await?;
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS BIGINT) FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'identity' AND c.relkind = 'r'",
    )
    .fetch_one(&mut connection)
    .await?;
    Ok(row.get::<i64, _>(0) as u64)
}

/// The server's CPU time over a phase, and what the rest of the machine used
/// meanwhile: under load, the server's CPU time compares between runs where the
/// elapsed time does not.
fn cpu_used(
    pid: u32,
    before: (Option<Duration>, Option<Duration>),
    elapsed: Duration,
    load_before: &str,
) -> String {
    let server = crate::cpu::process_cpu(pid)
        .zip(before.0)
        .map(|(after, before)| after.saturating_sub(before));
    let machine = crate::cpu::machine_busy()
        .zip(before.1)
        .map(|(after, before)| after.saturating_sub(before));
    let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
    match (server, machine) {
        (Some(server), Some(machine)) => format!(
            "server CPU {:.1} s ({:.2} cores on average); other processes {:.2} cores; load average before {load_before}, after {}",
            server.as_secs_f64(),
            server.as_secs_f64() / seconds,
            machine.saturating_sub(server).as_secs_f64() / seconds,
            crate::machine::load_average()
        ),
        _ => format!(
            "server CPU not measured; load average before {load_before}, after {}",
            crate::machine::load_average()
        ),
    }
}

/// Resets a process's peak resident memory (VmHWM) to its current size, so that the
/// next reading is the peak of what runs from now on.
fn reset_peak_memory(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

fn mebibytes(bytes: Option<u64>) -> String {
    bytes.map_or("unknown".to_owned(), |bytes| {
        format!("{:.0} MiB", bytes as f64 / 1048576.0)
    })
}

/// `EstimateParameters`, then `Recluster` twice, each timed with the server's peak
/// memory while it ran; a line per step.
async fn estimate_and_recluster(channel: Channel, pid: u32) -> anyhow::Result<Vec<String>> {
    let mut client = IdentityServiceClient::new(channel);
    let mut lines = Vec::new();
    let peak_reset = reset_peak_memory(pid);
    let started = Instant::now();
    let estimate = client
        .estimate_parameters(pb::EstimateParametersRequest::default())
        .await?
        .into_inner();
    lines.push(format!(
        "EstimateParameters: version {}, {} random and {} candidate pairs, {} EM iterations, in {:.1} s; server peak memory {}",
        estimate.version,
        estimate.random_pairs,
        estimate.candidate_pairs,
        estimate.iterations,
        started.elapsed().as_secs_f64(),
        if peak_reset { mebibytes(peak_memory(pid)) } else { "not measured".to_owned() }
    ));
    for run in ["first", "second (same parameters)"] {
        let peak_reset = reset_peak_memory(pid);
        let load_before = crate::machine::load_average();
        let cpu_before = (crate::cpu::process_cpu(pid), crate::cpu::machine_busy());
        let started = Instant::now();
        let mut stream = client
            .recluster(pb::ReclusterRequest::default())
            .await?
            .into_inner();
        let mut last = None;
        while let Some(message) = stream.message().await? {
            if message.done {
                last = message.summary;
            }
        }
        let elapsed = started.elapsed();
        let summary = last.context("the recluster ended without a summary")?;
        lines.push(format!(
            "Recluster, {run} run: {} records, {} components examined, {} changed: {} customers merged, {} split, {} created, {} records moved; links {} added, {} removed, {} re-weighed; in {:.1} s end to end; server peak memory {}",
            summary.records_done,
            summary.components_examined,
            summary.components_changed,
            summary.customers_merged,
            summary.customers_split,
            summary.customers_created,
            summary.records_moved,
            summary.links_added,
            summary.links_removed,
            summary.links_reweighted,
            elapsed.as_secs_f64(),
            if peak_reset { mebibytes(peak_memory(pid)) } else { "not measured".to_owned() }
        ));
        lines.push(format!(
            "  {}",
            cpu_used(pid, cpu_before, elapsed, &load_before)
        ));
    }
    Ok(lines)
}

/// Stops a server with SIGTERM and returns how long it took to exit (the drain, then
/// identity's snapshot of the final state).
fn stop_server(mut server: Server) -> anyhow::Result<Duration> {
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()?;
    server.child.wait()?;
    Ok(started.elapsed())
}

/// Bytes of the snapshot files in identity's snapshot directory.
fn snapshot_bytes(data_dir: &Path) -> u64 {
    std::fs::read_dir(data_dir.join("identity-snapshots"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.metadata().ok())
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0)
}

/// One start on `data_dir`: time to listening and the peak memory once listening.
fn timed_start(binary: &Path, data_dir: &Path) -> anyhow::Result<(Server, Duration, Option<u64>)> {
    let started = Instant::now();
    let server = start_server(binary, data_dir, None, None)?;
    let elapsed = started.elapsed();
    let peak = peak_memory(server.child.id());
    Ok((server, elapsed, peak))
}

/// Restarts the embedded server from its snapshot, then from the tables alone; a line
/// per step. Returns the last server started.
fn restart_with_and_without_snapshot(
    server: Server,
    binary: &Path,
    data_dir: &Path,
) -> anyhow::Result<(Vec<String>, Server)> {
    let mut lines = Vec::new();
    let load = crate::machine::load_average();
    let stopped = stop_server(server)?;
    let snapshot = snapshot_bytes(data_dir);
    anyhow::ensure!(snapshot > 0, "the server wrote no snapshot at shutdown");
    lines.push(format!(
        "stop (SIGTERM, drain, snapshot written): {:.1} s; snapshot on disk {:.1} MiB (load average before {load})",
        stopped.as_secs_f64(),
        snapshot as f64 / 1048576.0
    ));
    let load = crate::machine::load_average();
    let (server, elapsed, peak) = timed_start(binary, data_dir)?;
    lines.push(format!(
        "restart from the snapshot: {:.2} s to listening, peak memory (VmHWM) {} (load average before {load})",
        elapsed.as_secs_f64(),
        mebibytes(peak)
    ));
    stop_server(server)?;
    std::fs::remove_dir_all(data_dir.join("identity-snapshots"))?;
    let load = crate::machine::load_average();
    let (server, elapsed, peak) = timed_start(binary, data_dir)?;
    lines.push(format!(
        "restart without a snapshot (rebuilt from the tables): {:.2} s to listening, peak memory (VmHWM) {} (load average before {load})",
        elapsed.as_secs_f64(),
        mebibytes(peak)
    ));
    Ok((lines, server))
}

fn default_idic_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name("idic"))
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let workspace = tempfile::tempdir()?;
    let (_records, path) = generated_file(
        &GeneratorConfig::new(args.records, args.seed),
        workspace.path(),
        false,
    )?;
    let binary = match &args.idic {
        Some(path) => path.clone(),
        None => default_idic_binary()?,
    };
    let data_dir = workspace.path().join("data");
    let server = start_server(
        &binary,
        &data_dir,
        args.database_url.as_deref(),
        args.redis_url.as_deref(),
    )?;
    let channel = Channel::from_shared(format!("http://{}", server.address))?
        .connect()
        .await?;
    let load_before = crate::machine::load_average();
    let cpu_before = (
        crate::cpu::process_cpu(server.child.id()),
        crate::cpu::machine_busy(),
    );
    let (summary, elapsed) = stream_file(channel.clone(), &path, args.batch).await?;
    let cpu_line = cpu_used(server.child.id(), cpu_before, elapsed, &load_before);
    let peak = peak_memory(server.child.id());
    // (total, of which the SQLite write-ahead log)
    let storage = match &args.database_url {
        Some(url) => postgres_identity_bytes(url)
            .await
            .ok()
            .map(|bytes| (bytes, 0)),
        None => {
            let (file, wal) = identity_files_size(&data_dir);
            Some((file + wal, wal))
        }
    };
    let rate = summary.received as f64 / elapsed.as_secs_f64();
    let engine = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "embedded SQLite"
    };
    let mut lines = vec![
        format!(
            "import on {engine}: {} records ({} rejected) -> {} customers created, {} merged away, in {:.1} s end to end ({rate:.0} records/s)",
            summary.received,
            summary.rejected,
            summary.customers_created,
            summary.customers_merged,
            elapsed.as_secs_f64()
        ),
        format!(
            "server peak memory (VmHWM): {}",
            peak.map_or("unknown".to_owned(), |bytes| format!(
                "{:.0} MiB",
                bytes as f64 / 1048576.0
            ))
        ),
    ];
    lines.push(cpu_line);
    if args.recluster {
        lines.extend(estimate_and_recluster(channel.clone(), server.child.id()).await?);
    }
    let server = if args.restart && args.database_url.is_none() {
        let (lines_of_restart, server) =
            restart_with_and_without_snapshot(server, &binary, &data_dir)?;
        lines.extend(lines_of_restart);
        server
    } else {
        server
    };
    if let Some((bytes, wal)) = storage {
        let wal_note = if args.database_url.is_none() {
            format!(
                " (of which {:.1} MiB write-ahead log not yet checkpointed)",
                wal as f64 / 1048576.0
            )
        } else {
            String::new()
        };
        lines.push(format!(
            "identity storage: {:.1} MiB, {:.0} bytes per source record{wal_note}",
            bytes as f64 / 1048576.0,
            bytes as f64 / summary.received.max(1) as f64
        ));
    }
    for line in &lines {
        println!("{line}");
    }
    if let Some(markdown) = &args.markdown {
        let machine = crate::machine::Machine::describe();
        let mut text = format!(
            "\n### Identity bulk import, {} records (seed {}) on {engine}\n\n{}, {}\n\n",
            args.records,
            args.seed,
            machine.summary(),
            crate::machine::utc_now()
        );
        for line in &lines {
            text.push_str(&format!("- {line}\n"));
        }
        crate::report::append_markdown(markdown, &text)?;
    }
    if args.keep_running {
        println!(
            "server at http://{} (Ctrl-C to stop), data directory {}, records {}",
            server.address,
            data_dir.display(),
            path.display()
        );
        tokio::signal::ctrl_c().await?;
    }
    drop(server);
    Ok(())
}
