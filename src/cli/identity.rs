//! Identity commands: `idic import records`, `idic export clusters`, `idic whois`,
//! `idic identity estimate`, `idic identity recluster`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_runtime::warnings::WarningCounts;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::records_csv::RecordCsv;

use super::ClientArgs;
use super::client::connect;
use super::output;
use super::warnings::print_warning_counts;

#[derive(Debug, Args)]
pub struct ImportRecordsArgs {
    /// CSV with a header: source_system, source_record_id, channel, given_name,
    /// middle_name, family_name, organization_name, date_of_birth, email, phone,
    /// street_number, street, address_line2, locality, postcode, region, country, and
    /// id:KIND columns (id:loyalty, id:account, id:device, id:national; any other
    /// id:SYSTEM is an external id of that system).
    pub file: PathBuf,
    /// Records per message on the stream.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Refuse a row with any cell that cannot be read (a phone, an e-mail, a date, a
    /// country, a channel), instead of storing it with a warning.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct ExportClustersArgs {
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct WhoisArgs {
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    /// A loyalty id.
    #[arg(long)]
    pub loyalty: Option<String>,
    /// "Given Family"; with --postcode, --dob or --street for a fuzzy look-up.
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub postcode: Option<String>,
    /// YYYY-MM-DD
    #[arg(long)]
    pub dob: Option<String>,
    #[arg(long)]
    pub street: Option<String>,
    #[arg(long, default_value_t = 10)]
    pub max: u32,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Estimate the match parameters from the stored records (EM) and use them.
    Estimate(ClientArgs),
    /// Re-score and re-cluster the whole base with the current parameters; customer
    /// ids stay by the survivor rules, MERGED/SPLIT events go out.
    Recluster(ReclusterArgs),
}

#[derive(Debug, Args)]
pub struct ReclusterArgs {
    /// Report what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Records per batch (0: the server's default, 10,000).
    #[arg(long, default_value_t = 0)]
    pub batch: u32,
    /// Print the summary as one JSON object, and no progress bar.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

type Client = IdentityServiceClient<super::client::SuiteChannel>;

fn count_rows(path: &Path) -> anyhow::Result<u64> {
    let mut reader = csv::Reader::from_path(path)?;
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record)? {
        rows += 1;
    }
    Ok(rows)
}

/// `idic import records FILE.csv`
pub async fn import_records(args: &ImportRecordsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch > 0 && args.batch <= 10_000,
        "--batch must be between 1 and 10000"
    );
    let total =
        count_rows(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut client =
        Client::new(connect(&args.client).await?).max_encoding_message_size(64 * 1024 * 1024);
    let progress = ProgressBar::new(total);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (sender, receiver) = mpsc::channel::<pb::ImportRecordsRequest>(4);
    let path = args.file.clone();
    let batch = args.batch;
    let strict = args.strict;
    let reader_progress = progress.clone();
    // Reading and parsing the CSV runs beside the stream, so the network never waits on it.
    let reader = tokio::task::spawn_blocking(move || -> anyhow::Result<CsvOutcome> {
        let mut reader = RecordCsv::open(&path)?;
        let mut outcome = CsvOutcome::default();
        let mut records = Vec::with_capacity(batch);
        let mut row: u64 = 0;
        while let Some(record) = reader.next_record()? {
            row += 1;
            let warnings = reader.row_warnings();
            if !warnings.is_empty() {
                if strict {
                    outcome.refuse(row, &record, warnings);
                    continue;
                }
                outcome.warn(warnings);
            }
            records.push(record);
            if records.len() == batch {
                reader_progress.inc(batch as u64);
                if sender
                    .blocking_send(pb::ImportRecordsRequest {
                        records: std::mem::take(&mut records),
                        strict,
                    })
                    .is_err()
                {
                    return Ok(outcome);
                }
            }
        }
        reader_progress.inc(records.len() as u64);
        if !records.is_empty() {
            let _ = sender.blocking_send(pb::ImportRecordsRequest { records, strict });
        }
        Ok(outcome)
    });
    let started = Instant::now();
    let response = client.import_records(ReceiverStream::new(receiver)).await;
    let csv_outcome = reader.await.context("the CSV reader stopped")??;
    progress.finish_and_clear();
    let summary = response
        .map_err(|status| anyhow::anyhow!("import failed: {}", status.message()))?
        .into_inner();
    let seconds = started.elapsed().as_secs_f64();
    let received = summary.received + csv_outcome.refused.len() as u64;
    println!(
        "records: {} received, {} stored, {} unchanged, {} rejected in {:.1} s ({:.0} records/s)",
        received,
        summary.accepted,
        summary.unchanged,
        summary.rejected + csv_outcome.refused.len() as u64,
        seconds,
        received as f64 / seconds.max(1e-9)
    );
    println!(
        "customers: {} new, {} merged into others",
        summary.customers_created, summary.customers_merged
    );
    print_import_warnings(&summary, &csv_outcome);
    let mut rejected: Vec<(u64, String, String)> = csv_outcome.refused.clone();
    rejected.extend(summary.errors.iter().map(|error| {
        let key = error
            .key
            .as_ref()
            .map(|k| format!("{}/{}", k.source_system, k.source_record_id))
            .unwrap_or_default();
        let fields: Vec<String> = error
            .fields
            .iter()
            .map(|f| match f.field.as_str() {
                // A refusal of the whole record (nothing usable) names no field.
                "" => f.description.clone(),
                field => format!("{field}: {}", f.description),
            })
            .collect();
        (csv_outcome.row_of(error.index), key, fields.join("; "))
    }));
    rejected.sort_by_key(|(row, _, _)| *row);
    for (row, key, fields) in rejected.iter().take(20) {
        // Numbered as lines of the file, the header being line 1.
        println!("  row {} ({key}): {fields}", row + 1);
    }
    let rejected_total = summary.rejected + csv_outcome.refused.len() as u64;
    if rejected_total > 20 {
        println!("  ... and {} more rejected rows", rejected_total - 20);
    }
    Ok(())
}

/// What reading the CSV found that the server does not see: the warnings of cells the
/// wire record cannot carry, and, with --strict, the rows refused for them.
#[derive(Debug, Default)]
struct CsvOutcome {
    warnings: WarningCounts,
    /// (data row from 1, key, reasons).
    refused: Vec<(u64, String, String)>,
}

impl CsvOutcome {
    fn warn(&mut self, warnings: &[pb::FieldWarning]) {
        self.warnings.add_all(warnings);
    }

    /// The data row (from 1) of the record the server saw at `index` (from 0): the
    /// rows refused here were not sent.
    fn row_of(&self, index: u64) -> u64 {
        let mut row = index + 1;
        for (refused, _, _) in &self.refused {
            if *refused <= row {
                row += 1;
            }
        }
        row
    }

    fn refuse(&mut self, row: u64, record: &pb::SourceRecord, warnings: &[pb::FieldWarning]) {
        let reasons: Vec<String> = warnings
            .iter()
            .map(|warning| format!("{}: {}", warning.field, warning.reason))
            .collect();
        self.refused.push((
            row,
            format!("{}/{}", record.source_system, record.source_record_id),
            reasons.join("; "),
        ));
    }
}

/// The import's warnings per field and reason, the server's and the CSV reader's
/// together, most frequent first.
fn print_import_warnings(summary: &pb::ImportRecordsResponse, csv: &CsvOutcome) {
    let mut counts = csv.warnings.clone();
    for count in &summary.warning_counts {
        counts.add(&count.field, &count.reason, count.count);
    }
    print_warning_counts(
        &format!(
            "warnings: {} records stored with fields kept as received and not matched on (--strict refuses them)",
            summary.warned
        ),
        counts,
    );
}

/// `idic export clusters`: one row per record, written as the stream arrives.
pub async fn export_clusters(args: &ExportClustersArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(&args.client).await?);
    let mut stream = client
        .export_clusters(pb::ExportClustersRequest {})
        .await?
        .into_inner();
    let mut out = output::stdout();
    match args.format {
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(&mut out);
            writer.write_record(["source_system", "source_record_id", "customer_id"])?;
            while let Some(assignment) = stream.next().await {
                let assignment = assignment?;
                writer.write_record([
                    &assignment.source_system,
                    &assignment.source_record_id,
                    &assignment.customer_id,
                ])?;
            }
            // The csv writer buffers rows of its own: flushed here, not only on drop,
            // so that every row reaches `out` and a write error is not swallowed.
            writer.flush()?;
        }
        ExportFormat::Jsonl => {
            while let Some(assignment) = stream.next().await {
                let assignment = assignment?;
                let line = serde_json::json!({
                    "source_system": assignment.source_system,
                    "source_record_id": assignment.source_record_id,
                    "customer_id": assignment.customer_id,
                });
                writeln!(out, "{line}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// `idic whois`
pub async fn whois(args: &WhoisArgs) -> anyhow::Result<()> {
    let identifier = |kind: pb::IdentifierKind, value: &str| pb::Identifier {
        kind: kind as i32,
        value: value.to_owned(),
        ..Default::default()
    };
    let query = match (&args.email, &args.phone, &args.loyalty, &args.name) {
        (Some(email), None, None, None) => {
            pb::resolve_request::Query::Identifier(identifier(pb::IdentifierKind::Email, email))
        }
        (None, Some(phone), None, None) => {
            pb::resolve_request::Query::Identifier(identifier(pb::IdentifierKind::Phone, phone))
        }
        (None, None, Some(loyalty), None) => pb::resolve_request::Query::Identifier(identifier(
            pb::IdentifierKind::LoyaltyId,
            loyalty,
        )),
        (email, phone, None, Some(name)) => {
            let (given, family) = name.trim().rsplit_once(' ').unwrap_or(("", name.trim()));
            let address =
                (args.postcode.is_some() || args.street.is_some()).then(|| pb::PostalAddress {
                    postcode: args.postcode.clone().unwrap_or_default(),
                    street: args.street.clone().unwrap_or_default(),
                    ..Default::default()
                });
            pb::resolve_request::Query::Partial(pb::SourceRecord {
                name: Some(pb::PersonName {
                    given: given.to_owned(),
                    family: family.to_owned(),
                    ..Default::default()
                }),
                date_of_birth: args.dob.clone().unwrap_or_default(),
                emails: email.iter().cloned().collect(),
                phones: phone.iter().cloned().collect(),
                addresses: address.into_iter().collect(),
                ..Default::default()
            })
        }
        _ => anyhow::bail!(
            "give one of --email, --phone, --loyalty, or --name with --postcode/--dob/--street"
        ),
    };
    let mut client = Client::new(connect(&args.client).await?);
    let response = client
        .resolve(pb::ResolveRequest {
            query: Some(query),
            max_candidates: args.max,
        })
        .await
        .map_err(|status| anyhow::anyhow!("{}", status.message()))?
        .into_inner();
    if response.candidates.is_empty() {
        println!("no candidate");
        return Ok(());
    }
    println!(
        "{:<40} {:>7} {:>11}  {:<5} {:<28} matched",
        "customer", "score", "probability", "match", "name"
    );
    for candidate in response.candidates {
        println!(
            "{:<40} {:>7.1} {:>11.4}  {:<5} {:<28} {}",
            candidate.customer_id,
            candidate.score,
            candidate.probability,
            if candidate.above_threshold {
                "yes"
            } else {
                "no"
            },
            candidate.display_name,
            candidate.matched_fields.join(",")
        );
    }
    Ok(())
}

/// `idic identity estimate`
pub async fn estimate(args: &ClientArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(args).await?);
    let report = client
        .estimate_parameters(pb::EstimateParametersRequest::default())
        .await?
        .into_inner();
    println!(
        "parameters version {}: {} random pairs, {} candidate pairs, {} EM iterations ({}), prior {:.6}, household ratio {:.2}, {:.1} s",
        report.version,
        report.random_pairs,
        report.candidate_pairs,
        report.iterations,
        if report.converged {
            "converged"
        } else {
            "not converged"
        },
        report.prior,
        report.household_ratio,
        report.seconds
    );
    Ok(())
}

/// `idic identity recluster`: a progress bar (on a terminal, unless `--json`) while the
/// server works, then the summary.
pub async fn recluster(args: &ReclusterArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(&args.client).await?);
    let mut stream = client
        .recluster(pb::ReclusterRequest {
            dry_run: args.dry_run,
            batch_size: args.batch,
        })
        .await?
        .into_inner();
    let progress = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut last = None;
    while let Some(message) = stream.message().await? {
        let Some(summary) = message.summary else {
            continue;
        };
        progress.set_length(summary.records_total);
        progress.set_position(summary.records_done);
        progress.set_message(format!(
            "{} merged, {} split",
            summary.customers_merged, summary.customers_split
        ));
        if message.done {
            last = Some(summary);
        }
    }
    progress.finish_and_clear();
    let summary = last.context("the server ended the recluster without a summary")?;
    if args.json {
        println!("{}", recluster_json(&summary));
    } else {
        println!("{}", recluster_text(&summary));
    }
    Ok(())
}

fn recluster_json(summary: &pb::ReclusterSummary) -> serde_json::Value {
    serde_json::json!({
        "dry_run": summary.dry_run,
        "records": summary.records_done,
        "components_examined": summary.components_examined,
        "components_changed": summary.components_changed,
        "merged": summary.customers_merged,
        "split": summary.customers_split,
        "customers_created": summary.customers_created,
        "records_moved": summary.records_moved,
        "links_added": summary.links_added,
        "links_removed": summary.links_removed,
        "links_reweighted": summary.links_reweighted,
        "seconds": summary.seconds,
    })
}

fn recluster_text(summary: &pb::ReclusterSummary) -> String {
    format!(
        "{}{} records, {} components examined ({} changed): {} customers merged, {} split, {} created, {} records moved; links {} added, {} removed, {} re-weighed; took {:.1} s",
        if summary.dry_run {
            "dry run, nothing changed: "
        } else {
            ""
        },
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
        summary.seconds
    )
}
