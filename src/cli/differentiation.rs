//! Differentiation commands: `idic import transactions`, `idic value refit`,
//! `idic value customer`, `idic value skew` (also `idic report skew`), `idic value
//! list`, `idic needs`, `idic strategy`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use idic_proto::v1 as pb;
use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_runtime::money::{format_major, format_money};
use idic_runtime::warnings::WarningCounts;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::{parse_amount, parse_customer_ref, parse_time, parse_time_through_day};
use super::client::{ClientArgs, answer, connect};
use super::labels::tier_name;
use super::output::{self, fail_if_rejected, time_json, time_text};
use super::warnings::print_warning_counts;

type Client = DifferentiationServiceClient<super::client::SuiteChannel>;

#[derive(Debug, Args)]
pub struct ImportTransactionsArgs {
    /// CSV with a header: customer_ref (a customer reference as
    /// every command reads one: a customer id, KIND:VALUE such as loyalty:12345,
    /// SYSTEM:VALUE for an external id, or a bare e-mail or phone), order_id, occurred_at (RFC 3339 or YYYY-MM-DD), amount (decimal,
    /// e.g. 12.50; negative for a return), currency, and optional margin, category,
    /// product.
    pub file: PathBuf,
    /// Transactions per RecordTransactions call (at most 1000).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Refuse a row with an optional cell that cannot be read (margin, category,
    /// product), instead of recording it without that cell and warning.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TimeUnitArg {
    Day,
    Week,
}

#[derive(Debug, Args)]
pub struct RefitArgs {
    /// Fit on transactions up to this date (YYYY-MM-DD, end of day UTC, or RFC 3339);
    /// default now.
    #[arg(long)]
    pub observation_end: Option<String>,
    /// The models' time unit; default from the server's configuration.
    #[arg(long, value_enum)]
    pub time_unit: Option<TimeUnitArg>,
    /// Also compare predicted with actual purchases made after the observation end up
    /// to this date (YYYY-MM-DD, end of day UTC, or RFC 3339), per number of purchases
    /// before it.
    #[arg(long)]
    pub holdout_end: Option<String>,
}

#[derive(Debug, Args)]
pub struct CustomerArgs {
    /// The customer (REF): a customer id, KIND:VALUE (KIND email, phone, loyalty,
    /// account, device, national), SYSTEM:VALUE or external:SYSTEM:VALUE for an external
    /// id, or a bare e-mail address or phone number.
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct SkewArgs {
    /// Also draw the Lorenz curve (top 2% and 20% marked, tier bands, Gini) into
    /// this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this tier: A, B, C or D.
    #[arg(long)]
    pub tier: Option<String>,
    /// Only this needs segment.
    #[arg(long, default_value = "")]
    pub segment: String,
    /// At most this many customers, by value.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum ValueCommand {
    /// Fit BG/NBD and Gamma-Gamma on the stored transactions; print the parameters.
    Refit(RefitArgs),
    /// One customer's value: revenue, RFM, predicted lifetime value, tier.
    Customer(CustomerArgs),
    /// The value skew of the base: Gini, top shares, tiers, Lorenz curve.
    Skew(SkewArgs),
    /// The customers of a tier (or segment), most valuable first.
    List(ListArgs),
}

/// `idic value ...`
pub async fn run(client: &ClientArgs, command: ValueCommand) -> anyhow::Result<()> {
    match command {
        ValueCommand::Refit(args) => refit(client, &args).await,
        ValueCommand::Customer(args) => customer(client, &args).await,
        ValueCommand::Skew(args) => skew(client, &args).await,
        ValueCommand::List(args) => list(client, &args).await,
    }
}

/// One CSV row as a transaction, and the optional cells left out because they could
/// not be read (refused instead with `strict`).
fn transaction_of(
    row: &csv::StringRecord,
    columns: &HashMap<String, usize>,
    strict: bool,
) -> anyhow::Result<(pb::TransactionInput, Vec<pb::FieldWarning>)> {
    let get = |name: &str| {
        columns
            .get(name)
            .and_then(|&i| row.get(i))
            .unwrap_or("")
            .trim()
    };
    let currency = get("currency").to_uppercase();
    let amount = parse_amount(get("amount"), &currency).context("amount")?;
    let mut warnings = Vec::new();
    let margin = match get("margin") {
        "" => None,
        text => match parse_amount(text, &currency) {
            Ok(margin) => Some(margin.abs()),
            Err(error) if strict => return Err(error.context("margin")),
            Err(_) => {
                warnings.push(pb::FieldWarning {
                    field: "margin".to_owned(),
                    reason: format!("is not an amount in {currency}; left out"),
                    value: text.to_owned(),
                });
                None
            }
        },
    };
    let kind = if amount < 0 {
        pb::TransactionKind::Return
    } else {
        pb::TransactionKind::Purchase
    };
    let category = get("category");
    let product = get("product");
    let lines = if category.is_empty() && product.is_empty() {
        Vec::new()
    } else {
        vec![pb::OrderLine {
            product: product.to_owned(),
            category: category.to_owned(),
            quantity: 1,
            amount: Some(pb::Money {
                currency: currency.clone(),
                minor_units: amount.abs(),
            }),
        }]
    };
    let transaction = pb::TransactionInput {
        customer: Some(parse_customer_ref(get("customer_ref")).context("customer_ref")?),
        order_id: get("order_id").to_owned(),
        kind: kind as i32,
        occurred_at: Some(parse_time(get("occurred_at")).context("occurred_at")?),
        amount: Some(pb::Money {
            currency,
            minor_units: amount.abs(),
        }),
        margin_minor_units: margin,
        lines,
        channel: 0,
        commitment_months: 0,
    };
    Ok((transaction, warnings))
}

/// What an import did: counts, and one message per rejected row naming its line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: usize,
    pub created: u64,
    pub duplicates: u64,
    pub customers_created: u64,
    pub rejected: u64,
    pub errors: Vec<String>,
    /// Optional cells left out of recorded transactions, per field and reason.
    pub warnings: WarningCounts,
}

/// `idic import transactions FILE.csv`
pub async fn import_transactions(
    client: &ClientArgs,
    args: &ImportTransactionsArgs,
) -> anyhow::Result<()> {
    let rejected = import_transactions_with_summary(client, args).await?;
    fail_if_rejected(rejected, "rows")
}

/// Records the file and prints the summary; the number of rows rejected.
pub async fn import_transactions_with_summary(
    client: &ClientArgs,
    args: &ImportTransactionsArgs,
) -> anyhow::Result<u64> {
    let started = Instant::now();
    let report = record_transactions_file(client, args).await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut out = output::stdout();
    writeln!(
        out,
        "{} rows in {seconds:.1} s: {} transactions recorded, {} already recorded, {} customers created, {} rejected",
        report.rows, report.created, report.duplicates, report.customers_created, report.rejected
    )?;
    print_warning_counts(
        &mut out,
        "warnings: cells left out of recorded transactions (--strict refuses such rows)",
        report.warnings.clone(),
    )?;
    for error in report.errors.iter().take(20) {
        writeln!(out, "  {error}")?;
    }
    if report.errors.len() > 20 {
        writeln!(out, "  ... and {} more", report.errors.len() - 20)?;
    }
    out.flush()?;
    Ok(report.rejected)
}

/// Sends the file's rows in batches. A row the server refuses (malformed, or naming an
/// identifier several customers share) is rejected with its line and the import goes
/// on; only a failure of the server itself stops it.
pub async fn record_transactions_file(
    client_args: &ClientArgs,
    args: &ImportTransactionsArgs,
) -> anyhow::Result<ImportReport> {
    anyhow::ensure!(
        (1..=1000).contains(&args.batch),
        "--batch must be between 1 and 1000"
    );
    let mut reader = csv::Reader::from_path(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let columns: HashMap<String, usize> = reader
        .headers()?
        .iter()
        .enumerate()
        .map(|(i, name)| (name.trim().to_owned(), i))
        .collect();
    for required in [
        "customer_ref",
        "order_id",
        "occurred_at",
        "amount",
        "currency",
    ] {
        anyhow::ensure!(
            columns.contains_key(required),
            "the CSV has no '{required}' column"
        );
    }
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let mut client = Client::new(connect(client_args).await?);
    let progress = ProgressBar::new(rows.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} transactions  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut created, mut duplicates, mut customers_created, mut rejected) =
        (0u64, 0u64, 0u64, 0u64);
    let mut errors: Vec<String> = Vec::new();
    let mut warnings = WarningCounts::default();
    for (chunk_index, chunk) in rows.chunks(args.batch).enumerate() {
        let mut batch = Vec::with_capacity(chunk.len());
        for (offset, row) in chunk.iter().enumerate() {
            // Line numbers count the header as line 1.
            let line = chunk_index * args.batch + offset + 2;
            match transaction_of(row, &columns, args.strict) {
                Ok((transaction, row_warnings)) => {
                    warnings.add_all(&row_warnings);
                    batch.push((line, transaction));
                }
                Err(error) => {
                    rejected += 1;
                    errors.push(format!("line {line}: {error:#}"));
                }
            }
        }
        if !batch.is_empty() {
            let request = pb::RecordTransactionsRequest {
                transactions: batch.iter().map(|(_, t)| t.clone()).collect(),
                strict: args.strict,
            };
            match client.record_transactions(request).await {
                Ok(response) => {
                    let response = response.into_inner();
                    for result in &response.results {
                        warnings.add_all(&result.warnings);
                    }
                    created += response.created;
                    duplicates += response.duplicates;
                    customers_created += response
                        .results
                        .iter()
                        .filter(|r| r.customer_created)
                        .count() as u64;
                }
                Err(status)
                    if matches!(
                        status.code(),
                        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition
                    ) =>
                {
                    // One bad row (malformed, or naming an identifier several customers
                    // share) rejects its batch and stores nothing of it: send the rows one
                    // by one to keep the good ones and name the bad by their line.
                    for (line, transaction) in batch {
                        match client
                            .record_transactions(pb::RecordTransactionsRequest {
                                transactions: vec![transaction],
                                strict: args.strict,
                            })
                            .await
                        {
                            Ok(response) => {
                                let response = response.into_inner();
                                for result in &response.results {
                                    warnings.add_all(&result.warnings);
                                }
                                created += response.created;
                                duplicates += response.duplicates;
                                customers_created += response
                                    .results
                                    .iter()
                                    .filter(|r| r.customer_created)
                                    .count()
                                    as u64;
                            }
                            Err(status) => {
                                rejected += 1;
                                errors.push(format!("line {line}: {}", status.message()));
                            }
                        }
                    }
                }
                Err(status) => anyhow::bail!(
                    "RecordTransactions failed: {:?}: {}",
                    status.code(),
                    status.message()
                ),
            }
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    Ok(ImportReport {
        rows: rows.len(),
        created,
        duplicates,
        customers_created,
        rejected,
        errors,
        warnings,
    })
}

/// `idic value refit`
async fn refit(client_args: &ClientArgs, args: &RefitArgs) -> anyhow::Result<()> {
    let observation_end = args
        .observation_end
        .as_deref()
        .map(parse_time_through_day)
        .transpose()?;
    let holdout_end = args
        .holdout_end
        .as_deref()
        .map(parse_time_through_day)
        .transpose()?;
    let time_unit = match args.time_unit {
        None => String::new(),
        Some(TimeUnitArg::Day) => "day".to_owned(),
        Some(TimeUnitArg::Week) => "week".to_owned(),
    };
    let mut client = Client::new(connect(client_args).await?);
    let response = client
        .refit_models(pb::RefitModelsRequest {
            observation_end,
            time_unit,
            holdout_end,
        })
        .await
        .map_err(|status| {
            anyhow::anyhow!("RefitModels: {:?}: {}", status.code(), status.message())
        })?
        .into_inner();
    let model = response.model.context("no model in the response")?;
    let bg = model.bg_nbd.unwrap_or_default();
    let gg = model.gamma_gamma.unwrap_or_default();
    let bg_diagnostics = bg.diagnostics.clone().unwrap_or_default();
    let gg_diagnostics = gg.diagnostics.clone().unwrap_or_default();
    let mut out = output::stdout();
    if client_args.json {
        output::write_json(
            &mut out,
            &serde_json::json!({
                "model_id": model.model_id,
                "observation_end": time_json(model.observation_end.as_ref()),
                "time_unit": model.time_unit,
                "currency": model.currency,
                "customers": model.customers,
                "bg_nbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "log_likelihood": bg.log_likelihood,
                    "diagnostics": diagnostics_json(&bg_diagnostics)},
                "gamma_gamma": {"p": gg.p, "q": gg.q, "gamma": gg.gamma, "log_likelihood": gg.log_likelihood, "customers": gg.customers,
                    "diagnostics": diagnostics_json(&gg_diagnostics), "spend_basis": gg.spend_basis},
                "fit_millis": model.fit_millis,
                "holdout": response.holdout.as_ref().map(holdout_json),
            }),
        )?;
    } else {
        writeln!(
            out,
            "model {} on {} customers ({}, per {})",
            model.model_id, model.customers, model.currency, model.time_unit
        )?;
        writeln!(
            out,
            "BG/NBD       r={:.4} alpha={:.4} a={:.4} b={:.4}  LL={:.2}",
            bg.r, bg.alpha, bg.a, bg.b, bg.log_likelihood
        )?;
        writeln!(
            out,
            "Gamma-Gamma  p={:.4} q={:.4} gamma={:.4}  LL={:.2} ({} repeat customers)",
            gg.p, gg.q, gg.gamma, gg.log_likelihood, gg.customers
        )?;
        writeln!(out, "fitted in {:.1} ms", model.fit_millis)?;
        writeln!(
            out,
            "BG/NBD       {}; Gamma-Gamma {}; spend per order from {}",
            fit_state(&bg_diagnostics),
            fit_state(&gg_diagnostics),
            gg.spend_basis
        )?;
        if let Some(holdout) = &response.holdout {
            print_holdout(&mut out, holdout, &model.time_unit)?;
        }
    }
    out.flush()?;
    // Warnings go to stderr, so that they show even when the output is piped.
    for warning in bg_diagnostics
        .warnings
        .iter()
        .chain(&gg_diagnostics.warnings)
    {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

fn fit_state(diagnostics: &pb::FitDiagnostics) -> &'static str {
    match (diagnostics.converged, diagnostics.identified) {
        (true, true) => "converged, identified",
        (true, false) => "converged, NOT identified",
        (false, true) => "NOT converged",
        (false, false) => "NOT converged, NOT identified",
    }
}

fn diagnostics_json(diagnostics: &pb::FitDiagnostics) -> serde_json::Value {
    serde_json::json!({
        "converged": diagnostics.converged,
        "identified": diagnostics.identified,
        "warnings": diagnostics.warnings,
    })
}

fn holdout_json(holdout: &pb::HoldoutCheck) -> serde_json::Value {
    serde_json::json!({
        "holdout_end": time_json(holdout.holdout_end.as_ref()),
        "periods": holdout.periods,
        "customers": holdout.customers,
        "predicted_total": holdout.predicted_total,
        "actual_total": holdout.actual_total,
        "rows": holdout.rows.iter().map(|row| serde_json::json!({
            "calibration_purchases": row.calibration_purchases,
            "or_more": row.or_more,
            "customers": row.customers,
            "predicted_purchases": row.predicted_purchases,
            "actual_purchases": row.actual_purchases,
        })).collect::<Vec<_>>(),
    })
}

fn print_holdout(
    out: &mut impl Write,
    holdout: &pb::HoldoutCheck,
    time_unit: &str,
) -> std::io::Result<()> {
    writeln!(
        out,
        "holdout: {:.1} {time_unit}s after the observation end, {} customers",
        holdout.periods, holdout.customers
    )?;
    writeln!(
        out,
        "{:>22} {:>10} {:>10} {:>10}",
        "purchases before", "customers", "predicted", "actual"
    )?;
    for row in &holdout.rows {
        let label = format!(
            "{}{}",
            row.calibration_purchases,
            if row.or_more { "+" } else { "" }
        );
        writeln!(
            out,
            "{label:>22} {:>10} {:>10.3} {:>10.3}",
            row.customers, row.predicted_purchases, row.actual_purchases
        )?;
    }
    writeln!(
        out,
        "{:>22} {:>10} {:>10.1} {:>10.1}",
        "total", holdout.customers, holdout.predicted_total, holdout.actual_total
    )
}

/// `idic value customer REF`
async fn customer(client_args: &ClientArgs, args: &CustomerArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let value = client
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: Some(parse_customer_ref(&args.reference)?),
        })
        .await
        .map_err(|status| {
            anyhow::anyhow!(
                "GetCustomerValue: {:?}: {}",
                status.code(),
                status.message()
            )
        })?
        .into_inner()
        .value
        .context("no value in the response")?;
    let money = |list: &[pb::Money]| -> Vec<String> {
        list.iter()
            .map(|m| format_money(m.minor_units, &m.currency))
            .collect()
    };
    let rfm = value.rfm.unwrap_or_default();
    let mut out = output::stdout();
    if client_args.json {
        output::write_json(
            &mut out,
            &serde_json::json!({
                "customer_id": value.customer_id,
                "revenue": money(&value.revenue),
                "margin": money(&value.margin),
                "order_count": value.order_count,
                "first_purchase": time_json(value.first_purchase_at.as_ref()),
                "last_purchase": time_json(value.last_purchase_at.as_ref()),
                "rfm": {"recency": rfm.recency, "frequency": rfm.frequency, "monetary": rfm.monetary},
                "expected_purchases": value.expected_purchases,
                "probability_alive": value.probability_alive,
                "expected_average_spend": value.expected_average_spend,
                "predicted_clv": value.predicted_clv,
                "model_currency": value.model_currency,
                "horizon": format!("{} {}", value.horizon_periods, value.time_unit),
                "rank_percentile": value.rank_percentile,
                "tier": tier_name(value.tier),
                "model_available": value.model_available,
            }),
        )?;
        out.flush()?;
        return Ok(());
    }
    writeln!(out, "customer      {}", value.customer_id)?;
    writeln!(out, "revenue       {}", money(&value.revenue).join(", "))?;
    writeln!(out, "margin        {}", money(&value.margin).join(", "))?;
    writeln!(out, "orders        {}", value.order_count)?;
    if !value.model_available {
        writeln!(out, "(no model fitted yet: run `idic value refit`)")?;
        out.flush()?;
        return Ok(());
    }
    writeln!(
        out,
        "RFM           R{} F{} M{}",
        rfm.recency, rfm.frequency, rfm.monetary
    )?;
    writeln!(
        out,
        "next {} {}s: {:.2} purchases expected, P(alive) {:.2}",
        value.horizon_periods, value.time_unit, value.expected_purchases, value.probability_alive
    )?;
    writeln!(
        out,
        "spend/order   {}",
        format_major(value.expected_average_spend, &value.model_currency)
    )?;
    writeln!(
        out,
        "predicted CLV {}",
        format_major(value.predicted_clv, &value.model_currency)
    )?;
    writeln!(
        out,
        "rank          {:.1} percentile, tier {}",
        value.rank_percentile,
        tier_name(value.tier)
    )?;
    out.flush()?;
    Ok(())
}

/// `idic value skew` and `idic report skew`
pub async fn skew(client_args: &ClientArgs, args: &SkewArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let skew = answer(client.get_value_skew(pb::GetValueSkewRequest {})).await?;
    if let Some(path) = &args.svg {
        super::charts::write_skew_svg(path, &skew)?;
    }
    output::print(
        client_args.json,
        skew,
        "GetValueSkewResponse",
        |out, skew| {
            write_skew(out, &skew)?;
            if let Some(path) = &args.svg {
                writeln!(out, "chart: {}", path.display())?;
            }
            Ok(())
        },
    )
}

/// The skew as the terminal shows it.
pub fn write_skew(out: &mut impl Write, skew: &pb::GetValueSkewResponse) -> std::io::Result<()> {
    writeln!(
        out,
        "{} customers ({} with zero value), value = {}",
        skew.customers, skew.zero_value_customers, skew.value_measure
    )?;
    writeln!(out, "Gini {:.3}", skew.gini)?;
    for top in &skew.top_shares {
        writeln!(
            out,
            "top {:>4}% bring {:>5.1}% of value",
            top.top_percent,
            top.value_share * 100.0
        )?;
    }
    for tier in &skew.tiers {
        writeln!(
            out,
            "tier {}: {:>8} customers, from {:.2}, {:>5.1}% of value",
            tier_name(tier.tier),
            tier.customers,
            tier.threshold,
            tier.value_share * 100.0
        )?;
    }
    Ok(())
}

fn parse_tier(text: &str) -> anyhow::Result<pb::Tier> {
    match text.trim().to_ascii_uppercase().trim_start_matches("TIER_") {
        "A" => Ok(pb::Tier::A),
        "B" => Ok(pb::Tier::B),
        "C" => Ok(pb::Tier::C),
        "D" => Ok(pb::Tier::D),
        _ => anyhow::bail!("'{text}' is not a tier: A, B, C or D"),
    }
}

/// `idic value list --tier A`
async fn list(client_args: &ClientArgs, args: &ListArgs) -> anyhow::Result<()> {
    let tier = args.tier.as_deref().map(parse_tier).transpose()?;
    let mut client = Client::new(connect(client_args).await?);
    let mut customers = Vec::new();
    let mut page_token = String::new();
    while customers.len() < args.limit as usize {
        let response = answer(client.list_customers(pb::ListCustomersRequest {
            tier: tier.map_or(0, |tier| tier as i32),
            segment_id: args.segment.clone(),
            page: Some(pb::PageRequest {
                page_size: (args.limit as usize - customers.len()).min(1000) as u32,
                page_token,
            }),
        }))
        .await?;
        customers.extend(response.customers);
        page_token = response
            .page
            .map(|page| page.next_page_token)
            .unwrap_or_default();
        if page_token.is_empty() {
            break;
        }
    }
    customers.truncate(args.limit as usize);
    let mut out = output::stdout();
    if client_args.json {
        let response = pb::ListCustomersResponse {
            customers,
            page: None,
        };
        output::write_message(&mut out, &response, "ListCustomersResponse")?;
    } else {
        writeln!(
            out,
            "{:<40} {:>4} {:>10} {:>14} {:>14}  segment",
            "customer", "tier", "rank", "predicted CLV", "historical"
        )?;
        for customer in &customers {
            writeln!(
                out,
                "{:<40} {:>4} {:>9.1}% {:>14.2} {:>14.2}  {}",
                customer.customer_id,
                tier_name(customer.tier),
                customer.rank_percentile,
                customer.predicted_clv,
                customer.historical_value,
                customer.segment_id
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `idic needs REF`
pub async fn needs(client_args: &ClientArgs, reference: &str) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.get_customer_needs(pb::GetCustomerNeedsRequest {
        customer: Some(parse_customer_ref(reference)?),
    }))
    .await?;
    output::print(
        client_args.json,
        response,
        "GetCustomerNeedsResponse",
        |out, response| {
            let needs = response.needs.unwrap_or_default();
            writeln!(out, "customer  {}", needs.customer_id)?;
            writeln!(
                out,
                "segment   {} {}",
                needs.segment_id,
                if needs.segment_label.is_empty() {
                    String::new()
                } else {
                    format!("({})", needs.segment_label)
                }
            )?;
            let customer_type = pb::CustomerType::try_from(needs.customer_type)
                .map(|kind| {
                    kind.as_str_name()
                        .trim_start_matches("CUSTOMER_TYPE_")
                        .to_lowercase()
                        .replace('_', " ")
                })
                .unwrap_or_default();
            writeln!(
                out,
                "type      {customer_type}: {}",
                needs.customer_type_explanation
            )?;
            if !needs.affinities.is_empty() {
                writeln!(out, "{:<20} {:>7} {:>6}", "category", "share", "lift")?;
                for affinity in &needs.affinities {
                    writeln!(
                        out,
                        "{:<20} {:>6.1}% {:>6.2}",
                        affinity.category,
                        affinity.share * 100.0,
                        affinity.lift
                    )?;
                }
            }
            for preference in &needs.preferences {
                writeln!(
                    out,
                    "prefers   {} = {}  ({})",
                    preference.key,
                    preference.value,
                    time_text(preference.expressed_at.as_ref())
                )?;
            }
            Ok(())
        },
    )
}

/// `idic strategy`
pub async fn strategy(client_args: &ClientArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let strategy = answer(client.get_strategy(pb::GetStrategyRequest {})).await?;
    output::print(
        client_args.json,
        strategy,
        "GetStrategyResponse",
        |out, strategy| {
            write_strategy(out, &strategy)?;
            Ok(())
        },
    )
}

/// The strategy as the terminal shows it.
pub fn write_strategy(
    out: &mut impl Write,
    strategy: &pb::GetStrategyResponse,
) -> std::io::Result<()> {
    writeln!(
        out,
        "value skew    Gini {:.2}, top 20% bring {:.0}% of value{}",
        strategy.gini,
        strategy.top_20_share * 100.0,
        if strategy.high_value_skew {
            " (high)"
        } else {
            " (low)"
        }
    )?;
    writeln!(
        out,
        "needs spread  {:.2} over {} segment(s){}",
        strategy.needs_differentiation,
        strategy.needs_segments,
        if strategy.high_needs_spread {
            " (high)"
        } else {
            " (low)"
        }
    )?;
    writeln!(out, "focus         {}", strategy.focus)?;
    writeln!(out, "why           {}", strategy.explanation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transactions_csv(text: &str) -> (HashMap<String, usize>, Vec<csv::StringRecord>) {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let columns = reader
            .headers()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, name)| (name.to_owned(), i))
            .collect();
        let rows = reader.records().map(Result::unwrap).collect();
        (columns, rows)
    }

    #[test]
    fn an_unreadable_margin_is_left_out_with_a_warning_unless_strict() {
        let (columns, rows) = transactions_csv(
            "customer_ref,order_id,occurred_at,amount,currency,margin,category\n\
             loyalty:1,o-1,2025-01-01,12.50,EUR,n/a,books\n\
             loyalty:1,o-2,2025-01-01,abc,EUR,1.00,books\n",
        );
        let (transaction, warnings) = transaction_of(&rows[0], &columns, false).unwrap();
        assert_eq!(transaction.margin_minor_units, None);
        assert_eq!(transaction.amount.unwrap().minor_units, 1250);
        assert_eq!(transaction.lines[0].category, "books");
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].field, "margin");
        assert_eq!(warnings[0].value, "n/a");
        let strict = transaction_of(&rows[0], &columns, true).unwrap_err();
        assert!(format!("{strict:#}").starts_with("margin"), "{strict:#}");
        // A required cell still refuses the row.
        assert!(transaction_of(&rows[1], &columns, false).is_err());
    }
}
