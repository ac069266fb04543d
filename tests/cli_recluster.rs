//! `idic identity recluster` as an operator runs it against a running suite: after the
//! match threshold changed, `--dry-run --json` says what would change and changes
//! nothing, the real run prints its summary and splits the customer, and a second run
//! finds nothing to do.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use futures::StreamExt as _;
use idic_proto::v1 as pb;
use idic_testkit::TestSuite;

const IDIC: &str = env!("CARGO_BIN_EXE_idic");

/// Runs `idic ARGS... --server URL` to the end, outside the test's runtime thread.
async fn idic(suite: &TestSuite, args: &[&str]) -> Output {
    let mut command = Command::new(IDIC);
    command
        .args(args)
        .args(["--server", &suite.endpoint()])
        .env_remove("IDIC_API_KEY");
    let output = tokio::task::spawn_blocking(move || command.output().expect("idic runs"))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "idic {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

async fn json(suite: &TestSuite, args: &[&str]) -> serde_json::Value {
    let output = idic(suite, args).await;
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn ann(system: &str, id: &str) -> pb::SourceRecord {
    pb::SourceRecord {
        source_system: system.into(),
        source_record_id: id.into(),
        name: Some(pb::PersonName {
            given: "Ann".into(),
            family: "Lee".into(),
            ..Default::default()
        }),
        date_of_birth: "1984-03-02".into(),
        emails: vec!["ann.lee@example.com".into()],
        ..Default::default()
    }
}

async fn customers(suite: &TestSuite) -> BTreeMap<String, String> {
    suite
        .identity()
        .export_clusters(pb::ExportClustersRequest {})
        .await
        .unwrap()
        .into_inner()
        .map(|row| {
            let row = row.unwrap();
            (row.source_record_id, row.customer_id)
        })
        .collect()
        .await
}

#[tokio::test]
async fn recluster_prints_a_summary_and_applies_a_new_threshold() {
    let suite = TestSuite::start().await;
    let mut client = suite.identity();
    for record in [ann("crm", "1"), ann("web", "2")] {
        client
            .upsert_record(pb::UpsertRecordRequest {
                record: Some(record),
                strict: false,
            })
            .await
            .unwrap();
    }
    let before = customers(&suite).await;
    assert_eq!(before["1"], before["2"]);
    let weight = client
        .explain_match(pb::ExplainMatchRequest {
            subject: Some(pb::explain_match_request::Subject::Pair(pb::RecordPair {
                a: Some(pb::RecordKey {
                    source_system: "crm".into(),
                    source_record_id: "1".into(),
                }),
                b: Some(pb::RecordKey {
                    source_system: "web".into(),
                    source_record_id: "2".into(),
                }),
            })),
        })
        .await
        .unwrap()
        .into_inner()
        .links[0]
        .total_weight;
    let suite = suite
        .restart_with(move |config| config.identity.match_threshold = Some(weight + 1.0))
        .await;

    let predicted = json(&suite, &["identity", "recluster", "--dry-run", "--json"]).await;
    assert_eq!(predicted["dry_run"], true);
    assert_eq!(predicted["records"], 2);
    assert_eq!(predicted["split"], 1);
    assert_eq!(predicted["records_moved"], 1);
    assert_eq!(customers(&suite).await, before, "a dry run changes nothing");

    let output = idic(&suite, &["identity", "recluster", "--batch", "1"]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("2 records") && text.contains("0 customers merged, 1 split"),
        "{text}"
    );
    let after = customers(&suite).await;
    assert_eq!(after["1"], before["1"], "the earliest record keeps the id");
    assert_ne!(after["2"], before["2"]);

    let again = json(&suite, &["identity", "recluster", "--json"]).await;
    assert_eq!(again["dry_run"], false);
    assert_eq!(again["split"], 0);
    assert_eq!(again["merged"], 0);
    assert_eq!(again["records_moved"], 0);
    assert_eq!(again["components_examined"], 2);
    suite.stop().await.unwrap();
}
