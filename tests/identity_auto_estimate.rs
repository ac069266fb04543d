//! The automatic estimate after an import, through identity's gRPC API: an import that
//! leaves a base of at least 10,000 records without estimated parameters starts
//! `EstimateParameters` and a `Recluster` in the background, one at a time, and the
//! clusters it ends with are those of an explicit estimate and recluster. Below the
//! threshold, with parameters already estimated, or switched off, nothing runs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use idic_proto::v1 as pb;
use idic_proto::v1::auto_estimate::Outcome;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_runtime::peers::PeerChannel;
use idic_testkit::generator::{GeneratorConfig, generate, write_records_csv};
use idic_testkit::identity::{change_events, cluster_rows};
use idic_testkit::{Backend, SuiteOptions, TestSuite};
use tonic::Code;

type Client = IdentityServiceClient<PeerChannel>;

/// The fewest records the automatic step runs at (documented, and in the answer).
const MIN_RECORDS: usize = 10_000;

/// `count` generated records (our generator, a tuning seed), as the wire carries them.
fn generated(count: usize) -> Vec<pb::SourceRecord> {
    let records = generate(&GeneratorConfig::new(count, 7));
    let mut csv = Vec::new();
    write_records_csv(&records, &mut csv).unwrap();
    let mut reader = idic::records_csv::RecordCsv::from_reader(csv.as_slice()).unwrap();
    let mut out = Vec::with_capacity(count);
    while let Some(record) = reader.next_record().unwrap() {
        out.push(record);
    }
    assert_eq!(out.len(), count);
    out
}

async fn import(
    client: &mut Client,
    records: &[pb::SourceRecord],
    skip_auto_estimate: bool,
) -> pb::ImportRecordsResponse {
    let batches: Vec<pb::ImportRecordsRequest> = records
        .chunks(1_000)
        .map(|chunk| pb::ImportRecordsRequest {
            records: chunk.to_vec(),
            strict: false,
            skip_auto_estimate,
        })
        .collect();
    client
        .import_records(futures::stream::iter(batches))
        .await
        .expect("the import runs")
        .into_inner()
}

fn outcome(summary: &pb::ImportRecordsResponse) -> Outcome {
    summary
        .auto_estimate
        .as_ref()
        .expect("the summary says what the automatic step did")
        .outcome()
}

/// Waits until no estimate or recluster holds identity's claim: a dry run is refused
/// FAILED_PRECONDITION while one runs.
async fn wait_until_idle(client: &mut Client) {
    let began = Instant::now();
    loop {
        match client
            .recluster(pb::ReclusterRequest {
                dry_run: true,
                batch_size: 0,
            })
            .await
        {
            Ok(stream) => {
                let _: Vec<_> = stream.into_inner().collect().await;
                return;
            }
            Err(status) if status.code() == Code::FailedPrecondition => {
                assert!(
                    began.elapsed() < Duration::from_secs(600),
                    "the automatic step did not end"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("dry run: {status:?}"),
        }
    }
}

/// The version an explicit estimate saves: one more than the versions before it.
async fn estimate(client: &mut Client) -> u64 {
    client
        .estimate_parameters(pb::EstimateParametersRequest::default())
        .await
        .expect("estimated")
        .into_inner()
        .version
}

async fn recluster(client: &mut Client) {
    let messages: Vec<pb::ReclusterProgress> = client
        .recluster(pb::ReclusterRequest {
            dry_run: false,
            batch_size: 0,
        })
        .await
        .expect("the recluster starts")
        .into_inner()
        .map(|message| message.expect("the recluster runs"))
        .collect()
        .await;
    assert!(messages.last().is_some_and(|last| last.done));
}

/// The clusters as sets of record keys, whatever their ids.
async fn partition(client: &mut Client) -> BTreeSet<BTreeSet<(String, String)>> {
    let mut clusters: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for row in cluster_rows(client).await {
        clusters
            .entry(row.customer_id)
            .or_default()
            .insert((row.source_system, row.source_record_id));
    }
    clusters.into_values().collect()
}

/// The MERGED and SPLIT events a recluster with the estimate emitted, by actor.
async fn recluster_events(client: &mut Client) -> BTreeMap<String, usize> {
    let mut actors = BTreeMap::new();
    for event in change_events(client, 0, Duration::from_millis(500)).await {
        if event.reason.starts_with("recluster") {
            *actors.entry(event.actor).or_insert(0) += 1;
        }
    }
    actors
}

/// A fresh base of 10,000 records: the import starts the step, a second import and a
/// steward's estimate meanwhile start nothing, and the base ends with estimated
/// parameters (version 1) and the clusters of an explicit estimate and recluster.
async fn an_import_estimates_and_reclusters(backend: Backend) {
    let records = generated(MIN_RECORDS);
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let mut client = suite.identity();
    let summary = import(&mut client, &records, false).await;
    assert_eq!(summary.accepted, MIN_RECORDS as u64, "{:?}", summary.errors);
    let auto = summary.auto_estimate.unwrap();
    assert_eq!(auto.outcome(), Outcome::Started, "{auto:?}");
    assert_eq!(auto.records, MIN_RECORDS as u64);
    assert_eq!(auto.min_records, MIN_RECORDS as u64);

    // While it runs (seconds: 700,000 pairs sampled, then 10,000 records re-scored),
    // one at a time: another import's end starts nothing, a steward's estimate waits.
    let again = import(&mut client, &records[..10], false).await;
    assert_eq!(outcome(&again), Outcome::AlreadyRunning);
    let refused = client
        .estimate_parameters(pb::EstimateParametersRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

    wait_until_idle(&mut client).await;
    let automatic = partition(&mut client).await;
    let automatic_events = recluster_events(&mut client).await;
    // Estimated now: a later import starts nothing.
    let later = import(&mut client, &records[..10], false).await;
    assert_eq!(outcome(&later), Outcome::AlreadyEstimated);
    // The automatic estimate saved version 1, so an explicit one is version 2.
    assert_eq!(estimate(&mut client).await, 2);
    suite.stop().await.unwrap();

    // The same records, the step switched off by configuration: what an operator gets
    // with `idic identity estimate` and `idic identity recluster` by hand.
    let Some(suite) = TestSuite::start_with(
        SuiteOptions::new(backend).configure(|config| config.identity.auto_estimate = false),
    )
    .await
    else {
        unreachable!("the server was there a moment ago")
    };
    let mut client = suite.identity();
    let summary = import(&mut client, &records, false).await;
    assert_eq!(outcome(&summary), Outcome::SwitchedOff);
    let on_priors = partition(&mut client).await;
    // Nothing was estimated: the first explicit estimate is version 1.
    assert_eq!(estimate(&mut client).await, 1);
    recluster(&mut client).await;
    let explicit = partition(&mut client).await;
    let explicit_events = recluster_events(&mut client).await;
    suite.stop().await.unwrap();

    assert!(
        on_priors != explicit,
        "the estimate changes clusters on this data (else this test shows nothing)"
    );
    let differing = automatic.symmetric_difference(&explicit).count();
    assert_eq!(
        differing, 0,
        "clusters of the automatic step and of an explicit run differ"
    );
    // The same MERGED and SPLIT events, named for who ran the recluster.
    let explicit_count: usize = explicit_events.values().sum();
    assert!(explicit_count > 0);
    assert_eq!(
        automatic_events,
        BTreeMap::from([("auto-estimate".to_owned(), explicit_count)])
    );
}

// Several workers, as a server has: the import sent while the estimate samples waits
// for the engine's lock on a worker, and on a one-thread runtime that wait would also
// stop the leader's lease renewals (PostgreSQL then ends the lease session after 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_import_estimates_and_reclusters_on_the_embedded_default() {
    an_import_estimates_and_reclusters(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_import_estimates_and_reclusters_on_postgres() {
    an_import_estimates_and_reclusters(Backend::Postgres).await;
}

/// Below 10,000 records, or asked not to, an import starts nothing: no parameters are
/// saved (the first explicit estimate is version 1).
#[tokio::test]
async fn a_small_import_or_one_that_asks_not_to_starts_nothing() {
    let records = generated(MIN_RECORDS);
    let suite = TestSuite::start().await;
    let mut client = suite.identity();
    let small = import(&mut client, &records[..MIN_RECORDS - 1], false).await;
    let auto = small.auto_estimate.unwrap();
    assert_eq!(auto.outcome(), Outcome::TooFewRecords, "{auto:?}");
    assert_eq!(auto.records, MIN_RECORDS as u64 - 1);
    // The base reaches 10,000 with an import that asks for no automatic step.
    let asked_not_to = import(&mut client, &records[MIN_RECORDS - 1..], true).await;
    assert_eq!(outcome(&asked_not_to), Outcome::SwitchedOff);
    wait_until_idle(&mut client).await;
    assert_eq!(estimate(&mut client).await, 1);
    suite.stop().await.unwrap();
}

/// `idic import records` prints what the automatic step did, and `--no-auto-estimate`
/// reaches the server.
#[tokio::test]
async fn the_cli_summary_says_what_the_automatic_step_did() {
    let suite = TestSuite::start().await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "source_system,source_record_id,given_name,family_name,email\ncrm,1,Ann,Lee,ann@example.com\n",
    )
    .unwrap();
    let runs: [(&[&str], &str); 2] = [
        (
            &[],
            "automatic estimate and recluster: not run: 1 records, it runs from 10000",
        ),
        (
            &["--no-auto-estimate"],
            "automatic estimate and recluster: switched off",
        ),
    ];
    for (extra, expected) in runs {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_idic"))
            .args(["import", "records"])
            .arg(file.path())
            .args(extra)
            .args(["--server", &suite.endpoint()])
            .output()
            .await
            .expect("idic runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        assert!(stdout.contains(expected), "{extra:?}: {stdout}");
    }
    suite.stop().await.unwrap();
}
