//! Differentiation commands: `idic import transactions`, `idic value refit`,
//! `idic value customer`, `idic value skew`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use idic_proto::v1 as pb;
use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_runtime::money::{format_major, format_money, minor_unit_exponent};
use indicatif::{ProgressBar, ProgressStyle};

use super::ClientArgs;
use super::client::connect;

type Client = DifferentiationServiceClient<super::client::SuiteChannel>;

#[derive(Debug, Args)]
pub struct ImportTransactionsArgs {
    /// CSV with a header: customer_ref (KIND:VALUE with the kinds of the records
    /// import's id:KIND columns, e.g. loyalty:12345 or email:ann@example.com, or a
    /// customer id), order_id, occurred_at (RFC 3339 or YYYY-MM-DD), amount (decimal,
    /// e.g. 12.50; negative for a return), currency, and optional margin, category,
    /// product.
    pub file: PathBuf,
    /// Transactions per RecordTransactions call (at most 1000).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TimeUnitArg {
    Day,
    Week,
}

#[derive(Debug, Args)]
pub struct RefitArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
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
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct CustomerArgs {
    /// KIND:VALUE (e.g. loyalty:12345) or a customer id.
    pub reference: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct SkewArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum ValueCommand {
    /// Fit BG/NBD and Gamma-Gamma on the stored transactions; print the parameters.
    Refit(RefitArgs),
    /// One customer's value: revenue, RFM, predicted lifetime value, tier.
    Customer(CustomerArgs),
    /// The value skew of the base: Gini, top shares, tiers, Lorenz curve.
    Skew(SkewArgs),
}

/// A customer reference from `KIND:VALUE` or a customer id.
pub fn parse_reference(text: &str) -> anyhow::Result<pb::CustomerRef> {
    let text = text.trim();
    anyhow::ensure!(!text.is_empty(), "the customer reference is empty");
    let Some((kind, value)) = text.split_once(':') else {
        return Ok(pb::CustomerRef {
            r#ref: Some(pb::customer_ref::Ref::CustomerId(text.to_owned())),
        });
    };
    let (kind, system) = match kind {
        "email" => (pb::IdentifierKind::Email, ""),
        "phone" => (pb::IdentifierKind::Phone, ""),
        "loyalty" => (pb::IdentifierKind::LoyaltyId, ""),
        "account" => (pb::IdentifierKind::AccountCode, ""),
        "device" => (pb::IdentifierKind::DeviceId, ""),
        "national" => (pb::IdentifierKind::NationalId, ""),
        system => (pb::IdentifierKind::ExternalId, system),
    };
    Ok(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: kind as i32,
            value: value.to_owned(),
            system: system.to_owned(),
            address: None,
        })),
    })
}

/// Days since the epoch of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// RFC 3339 (`2025-03-01T10:30:00Z`, `...+02:00`, fractions) or `YYYY-MM-DD`
/// (midnight UTC, or the end of that day when `end_of_day`).
pub fn parse_time(text: &str, end_of_day: bool) -> anyhow::Result<prost_types::Timestamp> {
    let text = text.trim();
    let invalid = || anyhow::anyhow!("'{text}' is not a date (YYYY-MM-DD) or an RFC 3339 time");
    let number = |range: std::ops::Range<usize>| -> anyhow::Result<i64> {
        text.get(range)
            .and_then(|part| part.parse().ok())
            .ok_or_else(invalid)
    };
    if text.len() < 10 || text.as_bytes()[4] != b'-' || text.as_bytes()[7] != b'-' {
        return Err(invalid());
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    anyhow::ensure!(
        (1..=12).contains(&month) && (1..=31).contains(&day),
        invalid()
    );
    let days = days_from_civil(year, month, day);
    if text.len() == 10 {
        let seconds = days * 86_400 + if end_of_day { 86_399 } else { 0 };
        let nanos = if end_of_day { 999_999_000 } else { 0 };
        return Ok(prost_types::Timestamp { seconds, nanos });
    }
    let separator = text.as_bytes()[10];
    anyhow::ensure!(
        matches!(separator, b'T' | b't' | b' ') && text.len() >= 19,
        invalid()
    );
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    anyhow::ensure!(hour < 24 && minute < 60 && second < 61, invalid());
    let mut rest = &text[19..];
    let mut nanos = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits: String = fraction.chars().take_while(char::is_ascii_digit).collect();
        anyhow::ensure!(!digits.is_empty(), invalid());
        let padded = format!("{:0<9}", &digits[..digits.len().min(9)]);
        nanos = padded.parse().map_err(|_| invalid())?;
        rest = &fraction[digits.len()..];
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        offset if offset.len() == 6 && (offset.starts_with('+') || offset.starts_with('-')) => {
            let hours: i64 = offset[1..3].parse().map_err(|_| invalid())?;
            let minutes: i64 = offset[4..6].parse().map_err(|_| invalid())?;
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return Err(invalid()),
    };
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Ok(prost_types::Timestamp {
        seconds,
        nanos: i32::try_from(nanos)?,
    })
}

/// A decimal amount ("12.5", "-3.00") in the currency's minor units, exactly.
pub fn parse_amount(text: &str, currency: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let invalid = || anyhow::anyhow!("'{text}' is not an amount of {currency}");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let exponent = minor_unit_exponent(currency) as usize;
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > exponent
    {
        return Err(invalid());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<exponent$}")
            .parse()
            .map_err(|_| invalid())?
    };
    let minor = whole
        .checked_mul(10i64.pow(exponent as u32))
        .and_then(|value| value.checked_add(fraction))
        .ok_or_else(invalid)?;
    Ok(if negative { -minor } else { minor })
}

/// One CSV row as a transaction.
fn transaction_of(
    row: &csv::StringRecord,
    columns: &HashMap<String, usize>,
) -> anyhow::Result<pb::TransactionInput> {
    let get = |name: &str| {
        columns
            .get(name)
            .and_then(|&i| row.get(i))
            .unwrap_or("")
            .trim()
    };
    let currency = get("currency").to_uppercase();
    let amount = parse_amount(get("amount"), &currency).context("amount")?;
    let margin = match get("margin") {
        "" => None,
        text => Some(parse_amount(text, &currency).context("margin")?.abs()),
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
    Ok(pb::TransactionInput {
        customer: Some(parse_reference(get("customer_ref")).context("customer_ref")?),
        order_id: get("order_id").to_owned(),
        kind: kind as i32,
        occurred_at: Some(parse_time(get("occurred_at"), false).context("occurred_at")?),
        amount: Some(pb::Money {
            currency,
            minor_units: amount.abs(),
        }),
        margin_minor_units: margin,
        lines,
        channel: 0,
        commitment_months: 0,
    })
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
}

/// `idic import transactions FILE.csv`
pub async fn import_transactions(args: &ImportTransactionsArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let report = record_transactions_file(args).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} rows in {seconds:.1} s: {} transactions recorded, {} already recorded, {} customers created, {} rejected",
        report.rows, report.created, report.duplicates, report.customers_created, report.rejected
    );
    for error in report.errors.iter().take(20) {
        println!("  {error}");
    }
    if report.errors.len() > 20 {
        println!("  ... and {} more", report.errors.len() - 20);
    }
    Ok(())
}

/// Sends the file's rows in batches. A row the server refuses (malformed, or naming an
/// identifier several customers share) is rejected with its line and the import goes
/// on; only a failure of the server itself stops it.
pub async fn record_transactions_file(
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
    let mut client = Client::new(connect(&args.client).await?);
    let progress = ProgressBar::new(rows.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} transactions  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut created, mut duplicates, mut customers_created, mut rejected) =
        (0u64, 0u64, 0u64, 0u64);
    let mut errors: Vec<String> = Vec::new();
    for (chunk_index, chunk) in rows.chunks(args.batch).enumerate() {
        let mut batch = Vec::with_capacity(chunk.len());
        for (offset, row) in chunk.iter().enumerate() {
            // Line numbers count the header as line 1.
            let line = chunk_index * args.batch + offset + 2;
            match transaction_of(row, &columns) {
                Ok(transaction) => batch.push((line, transaction)),
                Err(error) => {
                    rejected += 1;
                    errors.push(format!("line {line}: {error:#}"));
                }
            }
        }
        if !batch.is_empty() {
            let request = pb::RecordTransactionsRequest {
                transactions: batch.iter().map(|(_, t)| t.clone()).collect(),
            };
            match client.record_transactions(request).await {
                Ok(response) => {
                    let response = response.into_inner();
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
                            })
                            .await
                        {
                            Ok(response) => {
                                let response = response.into_inner();
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
    })
}

fn print_json(value: serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
}

fn time_text(timestamp: Option<&prost_types::Timestamp>) -> serde_json::Value {
    timestamp.map_or(serde_json::Value::Null, |t| {
        serde_json::json!(format!("{}s", t.seconds))
    })
}

/// `idic value refit`
pub async fn refit(args: &RefitArgs) -> anyhow::Result<()> {
    let observation_end = args
        .observation_end
        .as_deref()
        .map(|text| parse_time(text, true))
        .transpose()?;
    let holdout_end = args
        .holdout_end
        .as_deref()
        .map(|text| parse_time(text, true))
        .transpose()?;
    let time_unit = match args.time_unit {
        None => String::new(),
        Some(TimeUnitArg::Day) => "day".to_owned(),
        Some(TimeUnitArg::Week) => "week".to_owned(),
    };
    let mut client = Client::new(connect(&args.client).await?);
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
    if args.json {
        print_json(serde_json::json!({
            "model_id": model.model_id,
            "observation_end_unix_seconds": model.observation_end.as_ref().map(|t| t.seconds),
            "time_unit": model.time_unit,
            "currency": model.currency,
            "customers": model.customers,
            "bg_nbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "log_likelihood": bg.log_likelihood,
                "diagnostics": diagnostics_json(&bg_diagnostics)},
            "gamma_gamma": {"p": gg.p, "q": gg.q, "gamma": gg.gamma, "log_likelihood": gg.log_likelihood, "customers": gg.customers,
                "diagnostics": diagnostics_json(&gg_diagnostics), "spend_basis": gg.spend_basis},
            "fit_millis": model.fit_millis,
            "holdout": response.holdout.as_ref().map(holdout_json),
        }));
    } else {
        println!(
            "model {} on {} customers ({}, per {})",
            model.model_id, model.customers, model.currency, model.time_unit
        );
        println!(
            "BG/NBD       r={:.4} alpha={:.4} a={:.4} b={:.4}  LL={:.2}",
            bg.r, bg.alpha, bg.a, bg.b, bg.log_likelihood
        );
        println!(
            "Gamma-Gamma  p={:.4} q={:.4} gamma={:.4}  LL={:.2} ({} repeat customers)",
            gg.p, gg.q, gg.gamma, gg.log_likelihood, gg.customers
        );
        println!("fitted in {:.1} ms", model.fit_millis);
        println!(
            "BG/NBD       {}; Gamma-Gamma {}; spend per order from {}",
            fit_state(&bg_diagnostics),
            fit_state(&gg_diagnostics),
            gg.spend_basis
        );
        if let Some(holdout) = &response.holdout {
            print_holdout(holdout, &model.time_unit);
        }
    }
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
        "holdout_end_unix_seconds": holdout.holdout_end.as_ref().map(|t| t.seconds),
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

fn print_holdout(holdout: &pb::HoldoutCheck, time_unit: &str) {
    println!(
        "holdout: {:.1} {time_unit}s after the observation end, {} customers",
        holdout.periods, holdout.customers
    );
    println!(
        "{:>22} {:>10} {:>10} {:>10}",
        "purchases before", "customers", "predicted", "actual"
    );
    for row in &holdout.rows {
        let label = format!(
            "{}{}",
            row.calibration_purchases,
            if row.or_more { "+" } else { "" }
        );
        println!(
            "{label:>22} {:>10} {:>10.3} {:>10.3}",
            row.customers, row.predicted_purchases, row.actual_purchases
        );
    }
    println!(
        "{:>22} {:>10} {:>10.1} {:>10.1}",
        "total", holdout.customers, holdout.predicted_total, holdout.actual_total
    );
}

fn tier_name(tier: i32) -> &'static str {
    match pb::Tier::try_from(tier) {
        Ok(pb::Tier::A) => "A",
        Ok(pb::Tier::B) => "B",
        Ok(pb::Tier::C) => "C",
        Ok(pb::Tier::D) => "D",
        _ => "-",
    }
}

/// `idic value customer REF`
pub async fn customer(args: &CustomerArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(&args.client).await?);
    let value = client
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: Some(parse_reference(&args.reference)?),
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
    if args.json {
        print_json(serde_json::json!({
            "customer_id": value.customer_id,
            "revenue": money(&value.revenue),
            "margin": money(&value.margin),
            "order_count": value.order_count,
            "first_purchase": time_text(value.first_purchase_at.as_ref()),
            "last_purchase": time_text(value.last_purchase_at.as_ref()),
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
        }));
        return Ok(());
    }
    println!("customer      {}", value.customer_id);
    println!("revenue       {}", money(&value.revenue).join(", "));
    println!("margin        {}", money(&value.margin).join(", "));
    println!("orders        {}", value.order_count);
    if !value.model_available {
        println!("(no model fitted yet: run `idic value refit`)");
        return Ok(());
    }
    println!(
        "RFM           R{} F{} M{}",
        rfm.recency, rfm.frequency, rfm.monetary
    );
    println!(
        "next {} {}s: {:.2} purchases expected, P(alive) {:.2}",
        value.horizon_periods, value.time_unit, value.expected_purchases, value.probability_alive
    );
    println!(
        "spend/order   {}",
        format_major(value.expected_average_spend, &value.model_currency)
    );
    println!(
        "predicted CLV {}",
        format_major(value.predicted_clv, &value.model_currency)
    );
    println!(
        "rank          {:.1} percentile, tier {}",
        value.rank_percentile,
        tier_name(value.tier)
    );
    Ok(())
}

/// `idic value skew`
pub async fn skew(args: &SkewArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(&args.client).await?);
    let skew = client
        .get_value_skew(pb::GetValueSkewRequest {})
        .await
        .map_err(|status| {
            anyhow::anyhow!("GetValueSkew: {:?}: {}", status.code(), status.message())
        })?
        .into_inner();
    if args.json {
        print_json(serde_json::json!({
            "computed_at_unix_seconds": skew.computed_at.as_ref().map(|t| t.seconds),
            "value_measure": skew.value_measure,
            "customers": skew.customers,
            "zero_value_customers": skew.zero_value_customers,
            "gini": skew.gini,
            "top_shares": skew.top_shares.iter().map(|t| serde_json::json!({"top_percent": t.top_percent, "value_share": t.value_share})).collect::<Vec<_>>(),
            "tiers": skew.tiers.iter().map(|t| serde_json::json!({"tier": tier_name(t.tier), "customers": t.customers, "threshold": t.threshold, "value_share": t.value_share})).collect::<Vec<_>>(),
            "lorenz": skew.lorenz.iter().map(|p| [p.customer_share, p.value_share]).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    println!(
        "{} customers ({} with zero value), value = {}",
        skew.customers, skew.zero_value_customers, skew.value_measure
    );
    println!("Gini {:.3}", skew.gini);
    for top in &skew.top_shares {
        println!(
            "top {:>4}% bring {:>5.1}% of value",
            top.top_percent,
            top.value_share * 100.0
        );
    }
    for tier in &skew.tiers {
        println!(
            "tier {}: {:>8} customers, from {:.2}, {:>5.1}% of value",
            tier_name(tier.tier),
            tier.customers,
            tier.threshold,
            tier.value_share * 100.0
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact() {
        assert_eq!(parse_amount("12.5", "EUR").unwrap(), 1250);
        assert_eq!(parse_amount("-3", "EUR").unwrap(), -300);
        assert_eq!(parse_amount("1000", "JPY").unwrap(), 1000);
        assert!(parse_amount("1.234", "EUR").is_err());
        assert!(parse_amount("abc", "EUR").is_err());
        assert!(parse_amount("", "EUR").is_err());
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1970-01-02", false).unwrap().seconds, 86_400);
        assert_eq!(parse_time("1970-01-01", true).unwrap().seconds, 86_399);
        assert_eq!(
            parse_time("2025-01-01T00:00:00Z", false).unwrap().seconds,
            1_735_689_600
        );
        assert_eq!(
            parse_time("2025-01-01T02:00:00+02:00", false)
                .unwrap()
                .seconds,
            1_735_689_600
        );
        assert_eq!(
            parse_time("2025-01-01T00:00:00.5Z", false).unwrap().nanos,
            500_000_000
        );
        assert!(parse_time("01/02/2025", false).is_err());
    }

    #[test]
    fn references_parse() {
        let reference = parse_reference("loyalty:123").unwrap();
        assert!(
            matches!(reference.r#ref, Some(pb::customer_ref::Ref::Identifier(ref i)) if i.value == "123")
        );
        let reference = parse_reference("cus_abc").unwrap();
        assert!(matches!(
            reference.r#ref,
            Some(pb::customer_ref::Ref::CustomerId(_))
        ));
    }
}
