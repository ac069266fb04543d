//! The `idic` binary as a user runs it against a running suite: every format of every
//! export command prints every row on its real standard output, a reader that stops
//! early (`| head`) ends the command quietly, and `idic health --service` asks only
//! about the services a process serves.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Output, Stdio};

use futures::StreamExt as _;
use idic_proto::v1 as pb;
use idic_runtime::ServiceName;
use idic_testkit::{Backend, SuiteOptions, TestSuite};

const IDIC: &str = env!("CARGO_BIN_EXE_idic");

/// Runs `idic ARGS... --server URL` to the end, outside the test's runtime thread.
async fn idic(suite: &TestSuite, args: &[&str]) -> Output {
    let mut command = Command::new(IDIC);
    command
        .args(args)
        .args(["--server", &suite.endpoint()])
        .env_remove("IDIC_API_KEY");
    tokio::task::spawn_blocking(move || command.output().expect("idic runs"))
        .await
        .unwrap()
}

/// `count` records of distinct persons, imported over the stream.
async fn import_persons(suite: &TestSuite, count: usize) {
    let records: Vec<pb::SourceRecord> = (0..count)
        .map(|index| pb::SourceRecord {
            source_system: "crm".into(),
            source_record_id: format!("r{index:05}"),
            name: Some(pb::PersonName {
                given: format!("Given{index}"),
                family: format!("Family{index}"),
                ..Default::default()
            }),
            emails: vec![format!("person{index}@example.com")],
            ..Default::default()
        })
        .collect();
    let batches: Vec<pb::ImportRecordsRequest> = records
        .chunks(500)
        .map(|chunk| pb::ImportRecordsRequest {
            records: chunk.to_vec(),
            strict: false,
            skip_auto_estimate: false,
        })
        .collect();
    let summary = suite
        .identity()
        .import_records(futures::stream::iter(batches))
        .await
        .expect("the import runs")
        .into_inner();
    assert_eq!(summary.accepted, count as u64);
}

/// Every (source system, record id, customer id) as the RPC streams it.
async fn assignments(suite: &TestSuite) -> BTreeSet<(String, String, String)> {
    let mut stream = suite
        .identity()
        .export_clusters(pb::ExportClustersRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut rows = BTreeSet::new();
    while let Some(row) = stream.next().await {
        let row = row.unwrap();
        rows.insert((row.source_system, row.source_record_id, row.customer_id));
    }
    rows
}

#[tokio::test]
async fn every_export_format_prints_every_row() {
    let suite = TestSuite::start().await;
    import_persons(&suite, 1200).await;
    let expected = assignments(&suite).await;
    assert_eq!(expected.len(), 1200);

    for format in [None, Some("csv")] {
        let mut args = vec!["export", "clusters"];
        args.extend(format.iter().flat_map(|format| ["--format", format]));
        let output = idic(&suite, &args).await;
        assert!(output.status.success(), "{output:?}");
        let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, ["source_system", "source_record_id", "customer_id"]);
        let printed: BTreeSet<(String, String, String)> = reader
            .records()
            .map(|row| {
                let row = row.unwrap();
                (row[0].to_owned(), row[1].to_owned(), row[2].to_owned())
            })
            .collect();
        assert_eq!(printed, expected, "format {format:?}");
    }

    let output = idic(&suite, &["export", "clusters", "--format", "jsonl"]).await;
    assert!(output.status.success(), "{output:?}");
    let printed: BTreeSet<(String, String, String)> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let field = |name: &str| row[name].as_str().unwrap().to_owned();
            (
                field("source_system"),
                field("source_record_id"),
                field("customer_id"),
            )
        })
        .collect();
    assert_eq!(printed, expected);
    suite.stop().await.unwrap();
}

/// Like `idic export clusters | head -1`: the reader takes one line and closes the
/// pipe while the command still has rows to write.
#[tokio::test]
async fn a_reader_that_stops_early_ends_the_export_quietly() {
    let suite = TestSuite::start().await;
    // About 40 bytes a row: far more than a pipe buffers (64 KiB).
    import_persons(&suite, 5000).await;
    for format in ["csv", "jsonl"] {
        let mut command = Command::new(IDIC);
        command
            .args(["export", "clusters", "--format", format])
            .args(["--server", &suite.endpoint()])
            .env_remove("IDIC_API_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("idic runs");
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let mut first = String::new();
            stdout.read_line(&mut first).unwrap();
            assert!(!first.is_empty());
            drop(stdout);
            let status = child.wait().unwrap();
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            (status, stderr)
        })
        .await
        .unwrap();
        let (status, stderr) = output;
        assert!(status.success(), "{format}: {status:?}, stderr: {stderr}");
        assert!(stderr.is_empty(), "{format}: {stderr}");
    }
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn health_asks_about_the_services_a_process_serves() {
    let options = SuiteOptions::new(Backend::Embedded)
        .configure(|config| config.services = vec![ServiceName::Differentiation]);
    let suite = TestSuite::start_with(options).await.unwrap();
    let all = idic(&suite, &["health"]).await;
    assert!(
        !all.status.success(),
        "identity is not served here: {all:?}"
    );
    let served = idic(&suite, &["health", "--service", "differentiation"]).await;
    assert!(served.status.success(), "{served:?}");
    let text = String::from_utf8(served.stdout).unwrap();
    assert!(
        text.contains("idic.v1.DifferentiationService") && text.contains("Serving"),
        "{text}"
    );
    assert!(!text.contains("Identity"), "{text}");
    suite.stop().await.unwrap();
}
