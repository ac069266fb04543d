//! `idic-generate`: writes a file of realistic customer records for
//! `idic import records` and, separately, the ground truth for scoring; optionally
//! also the population's transactions (`idic import transactions`) and contacts
//! (`idic import interactions`) over a period.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use idic_testkit::activity::{self, ActivityConfig};
use idic_testkit::generator::{
    Country, GeneratorConfig, generate_with_summary, write_records_csv, write_truth_csv,
};
use idic_testkit::transactions::transactions_csv;

/// Generate customer records with known duplicates.
#[derive(Debug, Parser)]
#[command(name = "idic-generate", version)]
struct Args {
    /// Number of records to write.
    #[arg(long)]
    records: usize,
    /// Same seed and size, same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Record file (CSV).
    #[arg(long)]
    out: PathBuf,
    /// Ground-truth file (CSV: source_system,source_record_id,entity_id).
    #[arg(long)]
    truth: PathBuf,
    /// Country of addresses and phone numbers.
    #[arg(long, default_value = "US")]
    country: Country,
    /// Every source collects most fields (the classic linkage benchmarks' shape)
    /// instead of what each really collects.
    #[arg(long)]
    full_forms: bool,
    /// Also write the population's purchases over the period (CSV for `idic import
    /// transactions`), keyed by an identifier each customer's records carry.
    #[arg(long)]
    transactions: Option<PathBuf>,
    /// Also write the population's contacts over the period (CSV for `idic import
    /// interactions`), complaints among them.
    #[arg(long)]
    interactions: Option<PathBuf>,
    /// First day of the period of transactions and interactions (YYYY-MM-DD).
    #[arg(long, default_value = "2025-01-01")]
    start: String,
    /// Length of that period in days.
    #[arg(long, default_value_t = 365)]
    days: i64,
}

/// Microseconds since the epoch of midnight UTC of a `YYYY-MM-DD` date.
fn start_micros(date: &str) -> anyhow::Result<i64> {
    let parts: Vec<i64> = date
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("--start '{date}' is not YYYY-MM-DD"))?;
    let [year, month, day] = parts[..] else {
        anyhow::bail!("--start '{date}' is not YYYY-MM-DD");
    };
    anyhow::ensure!(
        (1..=12).contains(&month) && (1..=31).contains(&day),
        "--start '{date}' is not a date"
    );
    // Days from civil (H. Hinnant).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Ok((era * 146_097 + day_of_era - 719_468) * 86_400_000_000)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let mut config = if args.full_forms {
        GeneratorConfig::full_forms(args.records, args.seed)
    } else {
        GeneratorConfig::new(args.records, args.seed)
    };
    config.country = args.country;
    let generated = generate_with_summary(&config);
    let generated_in = started.elapsed();

    write_file(&args.out, |out| write_records_csv(&generated.records, out))?;
    write_file(&args.truth, |out| write_truth_csv(&generated.records, out))?;
    if args.transactions.is_some() || args.interactions.is_some() {
        anyhow::ensure!(args.days > 0, "--days must be positive");
        let references = activity::customer_references(&generated.records);
        let config = ActivityConfig {
            seed: args.seed,
            start_micros: start_micros(&args.start)?,
            days: args.days,
            currency: "EUR".to_owned(),
        };
        if let Some(path) = &args.transactions {
            let rows = activity::transactions(&references, &config);
            write_file(path, |out| {
                out.write_all(transactions_csv(&rows).as_bytes())
            })?;
            println!(
                "wrote {} transactions of {} customers to {}",
                rows.len(),
                references.len(),
                path.display()
            );
        }
        if let Some(path) = &args.interactions {
            let rows = activity::interactions(&references, &config);
            write_file(path, |out| {
                out.write_all(activity::interactions_csv(&rows).as_bytes())
            })?;
            println!(
                "wrote {} interactions of {} customers to {}",
                rows.len(),
                references.len(),
                path.display()
            );
        }
    }

    let summary = generated.summary;
    println!(
        "wrote {} records to {} and their truth to {}",
        summary.records,
        args.out.display(),
        args.truth.display()
    );
    println!(
        "entities: {} ({} persons, {} organizations); households: {} with {} members",
        summary.entities,
        summary.persons,
        summary.organizations,
        summary.households,
        summary.household_members
    );
    println!(
        "seconds: {:.2} generating, {:.2} in total",
        generated_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    // The process ends here: letting it release the memory at once is faster than
    // dropping a million records string by string (half a second).
    std::mem::forget(generated);
    Ok(())
}

fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write(&mut out)
        .and_then(|()| out.flush())
        .with_context(|| format!("writing {}", path.display()))
}
