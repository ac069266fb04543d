//! The independent corpus's scripts (tools/corpus) still run against the import format:
//! 2,000 Faker records (seed 5, not one the figures use) are generated, imported
//! through the CSV reader `idic import records` uses, every one kept (the corpus holds
//! invalid phones and impossible dates), and the clusters evaluated by
//! `tools/corpus/evaluate.py`. No accuracy floor: the corpus is a measurement set, and
//! its figures are in docs/benchmarks.md.
//!
//! Needs python3 with the pinned Faker (`.ci/run` installs it); without it the test is
//! skipped, except under CI, where it fails.

use std::path::Path;
use std::process::Command;

use idic_proto::v1 as pb;
use idic_testkit::TestSuite;
use idic_testkit::identity::cluster_rows;

const RECORDS: usize = 2_000;

fn faker_available() -> bool {
    Command::new("python3")
        .args(["-c", "import faker"])
        .status()
        .is_ok_and(|status| status.success())
}

fn python(script: &str, args: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("python3")
        .arg(root.join("tools/corpus").join(script))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_faker_corpus_is_imported_whole_and_evaluated() {
    if !faker_available() {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs Faker: pip install -r tools/corpus/requirements.txt"
        );
        eprintln!("skipped: python3 without Faker (pip install -r tools/corpus/requirements.txt)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let count = RECORDS.to_string();
    let (records, truth, clusters, report) = (
        path("records.csv"),
        path("truth.csv"),
        path("clusters.csv"),
        path("report.json"),
    );
    python(
        "faker_corpus.py",
        &[
            "--records",
            &count,
            "--seed",
            "5",
            "--profile",
            "collected",
            "--out",
            &records,
            "--truth",
            &truth,
        ],
    );

    let mut reader = idic::records_csv::RecordCsv::open(Path::new(&records)).unwrap();
    let mut batch = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        batch.push(record);
    }
    assert_eq!(batch.len(), RECORDS);
    let suite = TestSuite::start().await;
    let mut client = suite.identity();
    let summary = client
        .import_records(futures::stream::iter([pb::ImportRecordsRequest {
            records: batch,
            strict: false,
            skip_auto_estimate: false,
        }]))
        .await
        .unwrap()
        .into_inner();
    // Invalid phones, impossible dates, placeholders: kept with warnings, never refused.
    assert_eq!(summary.rejected, 0, "{:?}", summary.errors);
    assert_eq!(summary.accepted, RECORDS as u64);
    assert!(summary.warned > 0, "the corpus has unreadable fields");

    let mut out = String::from("source_system,source_record_id,customer_id\n");
    for row in cluster_rows(&mut client).await {
        out.push_str(&format!(
            "{},{},{}\n",
            row.source_system, row.source_record_id, row.customer_id
        ));
    }
    suite.stop().await.unwrap();
    std::fs::write(&clusters, out).unwrap();

    python(
        "evaluate.py",
        &[
            "--records",
            &records,
            "--truth",
            &truth,
            "--clusters",
            &clusters,
            "--json",
            &report,
        ],
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["records"], RECORDS);
    for figure in ["precision", "recall", "f1", "recall_ceiling"] {
        let value = report[figure].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&value), "{figure} {value}");
    }
    assert!(report["true_pairs"].as_u64().unwrap() > 0);
    eprintln!("{report}");
}
