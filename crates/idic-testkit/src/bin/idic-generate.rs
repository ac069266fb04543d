//! `idic-generate`: writes a file of realistic customer records for
//! `idic import records` and, separately, the ground truth for scoring.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use idic_testkit::generator::{
    Country, GeneratorConfig, generate_with_summary, write_records_csv, write_truth_csv,
};

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
