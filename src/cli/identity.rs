//! Identity commands: `idic import records`, `idic export clusters`, `idic whois`,
//! `idic customer`, `idic erase`, `idic export customer`, and `idic identity ...`
//! (merge, unmerge, explain, history, lookup, watch, estimate, recluster).

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

use super::args::parse_customer_ref;
use super::client::{ClientArgs, answer, connect, status_error};
use super::output::{self, fail_if_rejected, time_text};
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
    /// Do not start the automatic parameter estimate and recluster that an import
    /// otherwise starts while the base has no estimated parameters and holds at least
    /// 10,000 records (the server's `identity.auto_estimate` can switch it off for all).
    #[arg(long)]
    pub no_auto_estimate: bool,
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
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Estimate the match parameters from the stored records (EM) and use them.
    Estimate,
    /// Merge customers into the first one given (an operator's decision).
    Merge(MergeArgs),
    /// Split source records off their customer into a new one.
    Unmerge(UnmergeArgs),
    /// Why are these records one customer? Field by field weights of each link.
    Explain(ExplainArgs),
    /// A customer's merges, splits and erasures, newest first.
    History(CustomerRefArgs),
    /// The customer id a reference resolves to exactly (no fuzzy matching).
    Lookup(CustomerRefArgs),
    /// Print merges, splits and erasures as they happen (Ctrl-C to stop).
    Watch(WatchArgs),
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
}

#[derive(Debug, Args)]
pub struct CustomerRefArgs {
    /// The customer (REF): a customer id, KIND:VALUE (KIND email, phone, loyalty,
    /// account, device, national), SYSTEM:VALUE or external:SYSTEM:VALUE for an external
    /// id, or a bare e-mail address or phone number.
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The customer, as for `idic customer`.
    pub reference: String,
    /// Why (kept in the merge history, e.g. "GDPR art. 17 request 2026-114").
    #[arg(long)]
    pub reason: String,
    /// Really erase: without it nothing is done.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Two or more customer ids; the first survives.
    #[arg(required = true, num_args = 2..)]
    pub customer_ids: Vec<String>,
    #[arg(long, default_value = "")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct UnmergeArgs {
    /// Source records as SYSTEM/RECORD_ID, split off together into one new customer.
    #[arg(required = true)]
    pub records: Vec<String>,
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Never merge them back automatically.
    #[arg(long)]
    pub block_remerge: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A source record as SYSTEM/RECORD_ID: the links that put it in its customer.
    pub record: String,
    /// A second record: compare the two directly.
    pub other: Option<String>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Replay every change since the first.
    #[arg(long)]
    pub from_start: bool,
    /// Replay the changes after this event id.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
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

/// `idic identity ...`
pub async fn run(client: &ClientArgs, command: IdentityCommand) -> anyhow::Result<()> {
    match command {
        IdentityCommand::Estimate => estimate(client).await,
        IdentityCommand::Merge(args) => merge(client, &args).await,
        IdentityCommand::Unmerge(args) => unmerge(client, &args).await,
        IdentityCommand::Explain(args) => explain(client, &args).await,
        IdentityCommand::History(args) => history(client, &args).await,
        IdentityCommand::Lookup(args) => lookup(client, &args).await,
        IdentityCommand::Watch(args) => watch(client, &args).await,
        IdentityCommand::Recluster(args) => recluster(client, &args).await,
    }
}

/// `idic import records FILE.csv`: fails when any row was rejected, after the summary.
pub async fn import_records(
    client_args: &ClientArgs,
    args: &ImportRecordsArgs,
) -> anyhow::Result<()> {
    let rejected = import_records_with_summary(client_args, args).await?;
    fail_if_rejected(rejected, "rows")
}

/// Streams the file and prints the summary; the number of rows rejected.
pub async fn import_records_with_summary(
    client_args: &ClientArgs,
    args: &ImportRecordsArgs,
) -> anyhow::Result<u64> {
    anyhow::ensure!(
        args.batch > 0 && args.batch <= 10_000,
        "--batch must be between 1 and 10000"
    );
    let total =
        count_rows(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut client =
        Client::new(connect(client_args).await?).max_encoding_message_size(64 * 1024 * 1024);
    let progress = ProgressBar::new(total);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (sender, receiver) = mpsc::channel::<pb::ImportRecordsRequest>(4);
    let path = args.file.clone();
    let batch = args.batch;
    let strict = args.strict;
    let skip_auto_estimate = args.no_auto_estimate;
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
                        skip_auto_estimate,
                    })
                    .is_err()
                {
                    return Ok(outcome);
                }
            }
        }
        reader_progress.inc(records.len() as u64);
        if !records.is_empty() {
            let _ = sender.blocking_send(pb::ImportRecordsRequest {
                records,
                strict,
                skip_auto_estimate,
            });
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
    let mut out = output::stdout();
    writeln!(
        out,
        "records: {} received, {} stored, {} unchanged, {} rejected in {:.1} s ({:.0} records/s)",
        received,
        summary.accepted,
        summary.unchanged,
        summary.rejected + csv_outcome.refused.len() as u64,
        seconds,
        received as f64 / seconds.max(1e-9)
    )?;
    writeln!(
        out,
        "customers: {} new, {} merged into others",
        summary.customers_created, summary.customers_merged
    )?;
    print_import_warnings(&mut out, &summary, &csv_outcome)?;
    if let Some(auto) = &summary.auto_estimate {
        writeln!(out, "{}", auto_estimate_text(auto))?;
    }
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
        writeln!(out, "  row {} ({key}): {fields}", row + 1)?;
    }
    let rejected_total = summary.rejected + csv_outcome.refused.len() as u64;
    if rejected_total > 20 {
        writeln!(out, "  ... and {} more rejected rows", rejected_total - 20)?;
    }
    out.flush()?;
    Ok(rejected_total)
}

/// The import summary's line on the automatic estimate and recluster.
fn auto_estimate_text(auto: &pb::AutoEstimate) -> String {
    use pb::auto_estimate::Outcome;
    let what = match auto.outcome() {
        Outcome::Started => format!(
            "started in the background ({} records, no estimated parameters yet); the server logs when it ends, and /metrics counts idic_identity_auto_estimate_runs_total{{event=\"finished\"}}",
            auto.records
        ),
        Outcome::SwitchedOff => "switched off".to_owned(),
        Outcome::TooFewRecords => format!(
            "not run: {} records, it runs from {}",
            auto.records, auto.min_records
        ),
        Outcome::AlreadyEstimated => "not needed: parameters were estimated already".to_owned(),
        Outcome::AlreadyRunning => {
            "not started: an estimate or recluster is running already".to_owned()
        }
        Outcome::NotChecked => {
            "not started: the server could not read its parameters (the next import asks again)"
                .to_owned()
        }
        Outcome::Unspecified => "not reported by the server".to_owned(),
    };
    format!("automatic estimate and recluster: {what}")
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
fn print_import_warnings(
    out: &mut impl Write,
    summary: &pb::ImportRecordsResponse,
    csv: &CsvOutcome,
) -> std::io::Result<()> {
    let mut counts = csv.warnings.clone();
    for count in &summary.warning_counts {
        counts.add(&count.field, &count.reason, count.count);
    }
    print_warning_counts(
        out,
        &format!(
            "warnings: {} records stored with fields kept as received and not matched on (--strict refuses them)",
            summary.warned
        ),
        counts,
    )
}

/// `idic export clusters`: one row per record, written as the stream arrives.
pub async fn export_clusters(
    client_args: &ClientArgs,
    args: &ExportClustersArgs,
) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
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
pub async fn whois(client_args: &ClientArgs, args: &WhoisArgs) -> anyhow::Result<()> {
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
    let mut client = Client::new(connect(client_args).await?);
    let response = client
        .resolve(pb::ResolveRequest {
            query: Some(query),
            max_candidates: args.max,
        })
        .await
        .map_err(|status| anyhow::anyhow!("{}", status.message()))?
        .into_inner();
    output::print(
        client_args.json,
        response,
        "ResolveResponse",
        |out, response| {
            if response.candidates.is_empty() {
                writeln!(out, "no candidate")?;
                return Ok(());
            }
            writeln!(
                out,
                "{:<40} {:>7} {:>11}  {:<5} {:<28} matched",
                "customer", "score", "probability", "match", "name"
            )?;
            for candidate in response.candidates {
                writeln!(
                    out,
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
                )?;
            }
            Ok(())
        },
    )
}

/// `idic identity estimate`
async fn estimate(args: &ClientArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(args).await?);
    let report =
        answer(client.estimate_parameters(pb::EstimateParametersRequest::default())).await?;
    output::print(
        args.json,
        report,
        "EstimateParametersResponse",
        |out, report| {
            writeln!(
                out,
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
            )?;
            Ok(())
        },
    )
}

/// `SYSTEM/RECORD_ID`, as the import summary names a record.
fn parse_record_key(text: &str) -> anyhow::Result<pb::RecordKey> {
    let (system, id) = text
        .trim()
        .split_once('/')
        .filter(|(system, id)| !system.is_empty() && !id.is_empty())
        .with_context(|| format!("'{text}' is not a record: SYSTEM/RECORD_ID"))?;
    Ok(pb::RecordKey {
        source_system: system.to_owned(),
        source_record_id: id.to_owned(),
    })
}

fn record_text(key: Option<&pb::RecordKey>) -> String {
    key.map_or_else(String::new, |key| {
        format!("{}/{}", key.source_system, key.source_record_id)
    })
}

fn channel_text(channel: i32) -> String {
    pb::Channel::try_from(channel).map_or_else(
        |_| channel.to_string(),
        |channel| {
            channel
                .as_str_name()
                .trim_start_matches("CHANNEL_")
                .to_lowercase()
                .replace('_', "-")
        },
    )
}

/// `idic customer REF`: the golden record with the provenance of each field.
pub async fn customer(client_args: &ClientArgs, args: &CustomerRefArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.get_customer(pb::GetCustomerRequest {
        customer: Some(parse_customer_ref(&args.reference)?),
    }))
    .await?;
    output::print(
        client_args.json,
        response,
        "GetCustomerResponse",
        |out, response| {
            let customer = response.customer.context("no customer in the response")?;
            write_customer(out, &customer)?;
            Ok(())
        },
    )
}

pub fn write_customer(out: &mut impl Write, customer: &pb::Customer) -> anyhow::Result<()> {
    writeln!(out, "customer  {}", customer.customer_id)?;
    writeln!(
        out,
        "since     {}   updated {}",
        time_text(customer.created_at.as_ref()),
        time_text(customer.updated_at.as_ref())
    )?;
    if !customer.aliases.is_empty() {
        writeln!(out, "aliases   {}", customer.aliases.join(", "))?;
    }
    let golden = customer.golden.clone().unwrap_or_default();
    writeln!(out, "\ngolden record (field, value, from record, by rule):")?;
    let name = [
        golden.given_name.as_str(),
        golden.middle_name.as_str(),
        golden.family_name.as_str(),
    ]
    .iter()
    .filter(|part| !part.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" ");
    let addresses: Vec<String> = golden
        .addresses
        .iter()
        .map(|address| {
            [
                format!("{} {}", address.street_number, address.street)
                    .trim()
                    .to_owned(),
                address.address_line2.clone(),
                format!("{} {}", address.postcode, address.locality)
                    .trim()
                    .to_owned(),
                address.region.clone(),
                address.country.clone(),
            ]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
        })
        .collect();
    let identifiers: Vec<String> = golden
        .identifiers
        .iter()
        .map(|identifier| {
            let kind = pb::IdentifierKind::try_from(identifier.kind)
                .map(|kind| {
                    kind.as_str_name()
                        .trim_start_matches("IDENTIFIER_KIND_")
                        .to_lowercase()
                })
                .unwrap_or_default();
            if identifier.system.is_empty() {
                format!("{kind}:{}", identifier.value)
            } else {
                format!("{}:{}", identifier.system, identifier.value)
            }
        })
        .collect();
    let fields: [(&str, String); 7] = [
        ("name", name),
        ("organization_name", golden.organization_name.clone()),
        ("date_of_birth", golden.date_of_birth.clone()),
        ("emails", golden.emails.join(", ")),
        ("phones", golden.phones.join(", ")),
        ("addresses", addresses.join(" | ")),
        ("identifiers", identifiers.join(", ")),
    ];
    for (field, value) in fields {
        if value.is_empty() {
            continue;
        }
        // Provenance is keyed by the golden record's field names; the name's parts
        // share the given name's source in the table.
        let key = if field == "name" { "given_name" } else { field };
        let source = golden
            .provenance
            .get(key)
            .map(|provenance| {
                format!(
                    "  <- {} ({}, {} record(s) agree)",
                    record_text(provenance.record.as_ref()),
                    provenance.rule,
                    provenance.support
                )
            })
            .unwrap_or_default();
        writeln!(out, "  {field:<18} {value}{source}")?;
    }
    for unread in &golden.unread {
        writeln!(
            out,
            "  {:<18} {:?} kept as received from {}: {}",
            unread.field,
            unread.value,
            record_text(unread.record.as_ref()),
            unread.reason
        )?;
    }
    writeln!(out, "\nlinked records ({}):", customer.records.len())?;
    for record in &customer.records {
        writeln!(
            out,
            "  {:<32} {:<12} {}",
            format!("{}/{}", record.source_system, record.source_record_id),
            channel_text(record.channel),
            time_text(record.observed_at.as_ref())
        )?;
    }
    Ok(())
}

/// `idic erase REF --reason ... --yes`
pub async fn erase(client_args: &ClientArgs, args: &EraseArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.yes,
        "erasing cannot be undone: add --yes to erase '{}'",
        args.reference
    );
    anyhow::ensure!(!args.reason.trim().is_empty(), "--reason must not be empty");
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.erase_customer(pb::EraseCustomerRequest {
        customer: Some(parse_customer_ref(&args.reference)?),
        reason: args.reason.clone(),
    }))
    .await?;
    output::print(
        client_args.json,
        response,
        "EraseCustomerResponse",
        |out, response| {
            writeln!(
                out,
                "erased {}: {} source record(s), with its data in every service",
                response.customer_id, response.records_erased
            )?;
            Ok(())
        },
    )
}

/// `idic export customer REF`: always JSON, the subject-access answer.
pub async fn export_customer(
    client_args: &ClientArgs,
    args: &CustomerRefArgs,
) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.export_customer(pb::ExportCustomerRequest {
        customer: Some(parse_customer_ref(&args.reference)?),
    }))
    .await?;
    let mut out = output::stdout();
    output::write_message(&mut out, &response, "ExportCustomerResponse")?;
    out.flush()?;
    Ok(())
}

async fn merge(client_args: &ClientArgs, args: &MergeArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.merge(pb::MergeRequest {
        customer_ids: args.customer_ids.clone(),
        reason: args.reason.clone(),
    }))
    .await?;
    output::print(
        client_args.json,
        response,
        "MergeResponse",
        |out, response| {
            writeln!(
                out,
                "merged {} into {}",
                response.merged_customer_ids.join(", "),
                response.customer_id
            )?;
            Ok(())
        },
    )
}

async fn unmerge(client_args: &ClientArgs, args: &UnmergeArgs) -> anyhow::Result<()> {
    let records = args
        .records
        .iter()
        .map(|text| parse_record_key(text))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.unmerge(pb::UnmergeRequest {
        records,
        reason: args.reason.clone(),
        block_remerge: args.block_remerge,
    }))
    .await?;
    output::print(
        client_args.json,
        response,
        "UnmergeResponse",
        |out, response| {
            writeln!(
                out,
                "split {} record(s) off {} into the new customer {}",
                args.records.len(),
                response.customer_id,
                response.new_customer_id
            )?;
            Ok(())
        },
    )
}

async fn explain(client_args: &ClientArgs, args: &ExplainArgs) -> anyhow::Result<()> {
    let record = parse_record_key(&args.record)?;
    let subject = match &args.other {
        Some(other) => pb::explain_match_request::Subject::Pair(pb::RecordPair {
            a: Some(record),
            b: Some(parse_record_key(other)?),
        }),
        None => pb::explain_match_request::Subject::Record(record),
    };
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.explain_match(pb::ExplainMatchRequest {
        subject: Some(subject),
    }))
    .await?;
    output::print(
        client_args.json,
        response,
        "ExplainMatchResponse",
        |out, response| {
            write_explanation(out, &response)?;
            Ok(())
        },
    )
}

/// Each link: the two records, its probability, and the weight of every field.
pub fn write_explanation(
    out: &mut impl Write,
    response: &pb::ExplainMatchResponse,
) -> std::io::Result<()> {
    if !response.customer_id.is_empty() {
        writeln!(out, "customer {}", response.customer_id)?;
    }
    if response.links.is_empty() {
        writeln!(out, "no links: the record stands alone")?;
    }
    for link in &response.links {
        writeln!(
            out,
            "{} ~ {}: weight {:.1}, probability {:.4} ({} the threshold {:.2})",
            record_text(link.a.as_ref()),
            record_text(link.b.as_ref()),
            link.total_weight,
            link.probability,
            if link.above_threshold {
                "above"
            } else {
                "below"
            },
            response.match_threshold
        )?;
        for field in &link.fields {
            writeln!(
                out,
                "    {:<16} {:<14} {:>+7.2}",
                field.field, field.level, field.weight
            )?;
        }
        for rule in &link.rules {
            writeln!(out, "    rule: {rule}")?;
        }
        for conflict in &link.conflicts {
            writeln!(out, "    conflict: {conflict}")?;
        }
        for note in &link.notes {
            writeln!(out, "    note: {note}")?;
        }
    }
    Ok(())
}

fn change_kind_text(kind: i32) -> String {
    pb::ChangeKind::try_from(kind).map_or_else(
        |_| kind.to_string(),
        |kind| {
            kind.as_str_name()
                .trim_start_matches("CHANGE_KIND_")
                .to_lowercase()
        },
    )
}

fn write_change(out: &mut impl Write, event: &pb::ChangeEvent) -> std::io::Result<()> {
    let others = if event.absorbed_customer_ids.is_empty() {
        event.new_customer_ids.join(", ")
    } else {
        event.absorbed_customer_ids.join(", ")
    };
    writeln!(
        out,
        "{:>8}  {}  {:<7} {}  {}  by {}{}",
        event.event_id,
        time_text(event.occurred_at.as_ref()),
        change_kind_text(event.kind),
        event.customer_id,
        others,
        if event.actor.is_empty() {
            "-"
        } else {
            &event.actor
        },
        if event.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", event.reason)
        }
    )
}

async fn history(client_args: &ClientArgs, args: &CustomerRefArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let customer = parse_customer_ref(&args.reference)?;
    let mut events = Vec::new();
    let mut page_token = String::new();
    loop {
        let response = answer(client.get_merge_history(pb::GetMergeHistoryRequest {
            customer: Some(customer.clone()),
            page: Some(pb::PageRequest {
                page_size: 1000,
                page_token,
            }),
        }))
        .await?;
        events.extend(response.events);
        page_token = response
            .page
            .map(|page| page.next_page_token)
            .unwrap_or_default();
        if page_token.is_empty() {
            break;
        }
    }
    let mut out = output::stdout();
    if client_args.json {
        let response = pb::GetMergeHistoryResponse { events, page: None };
        output::write_message(&mut out, &response, "GetMergeHistoryResponse")?;
    } else if events.is_empty() {
        writeln!(out, "no merges, splits or erasures")?;
    } else {
        writeln!(
            out,
            "{:>8}  {:<20}  {:<7} customer  absorbed/new  by: reason",
            "event", "at", "kind"
        )?;
        for event in &events {
            write_change(&mut out, event)?;
        }
    }
    out.flush()?;
    Ok(())
}

async fn lookup(client_args: &ClientArgs, args: &CustomerRefArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.lookup_customer_id(pb::LookupCustomerIdRequest {
        customer: Some(parse_customer_ref(&args.reference)?),
    }))
    .await?;
    output::print(
        client_args.json,
        response,
        "LookupCustomerIdResponse",
        |out, response| {
            writeln!(out, "{}", response.customer_id)?;
            Ok(())
        },
    )
}

async fn watch(client_args: &ClientArgs, args: &WatchArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let mut stream = answer(client.watch_changes(pb::WatchChangesRequest {
        after_event_id: args.after,
        from_start: args.from_start,
    }))
    .await?;
    let mut out = output::stdout();
    while let Some(event) = stream.next().await {
        let event = event.map_err(status_error)?;
        if client_args.json {
            output::write_message_line(&mut out, &event, "ChangeEvent")?;
        } else {
            write_change(&mut out, &event)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// `idic identity recluster`: a progress bar (on a terminal, unless `--json`) while the
/// server works, then the summary.
pub async fn recluster(client_args: &ClientArgs, args: &ReclusterArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let mut stream = answer(client.recluster(pb::ReclusterRequest {
        dry_run: args.dry_run,
        batch_size: args.batch,
    }))
    .await?;
    let progress = if client_args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut last = None;
    while let Some(message) = stream.message().await.map_err(status_error)? {
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
    let mut out = output::stdout();
    if client_args.json {
        writeln!(out, "{}", recluster_json(&summary))?;
    } else {
        writeln!(out, "{}", recluster_text(&summary))?;
    }
    out.flush()?;
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
