//! `Recluster` through identity's gRPC API, on the embedded default and on
//! PostgreSQL: records are imported, the parameters change (here the match threshold,
//! as an operator's redeploy changes it), and a recluster re-scores and re-clusters the
//! whole base. Survivors keep their ids, MERGED/SPLIT events go out on WatchChanges, a
//! dry run predicts the real run and changes nothing, a second run with the same
//! parameters is a no-op, and the clusters are those a fresh import in any order gives.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_runtime::peers::PeerChannel;
use idic_testkit::identity::change_events;
use idic_testkit::{Backend, SuiteOptions, TestSuite};
use tonic::Code;

type Client = IdentityServiceClient<PeerChannel>;

/// (source system, record id)
type Key = (String, String);

const DEFAULT_THRESHOLD: f64 = 15.0;

fn at(day: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: 1_577_836_800 + day * 86_400,
        nanos: 0,
    })
}

fn person(
    system: &str,
    id: &str,
    day: i64,
    given: &str,
    family: &str,
    dob: &str,
) -> pb::SourceRecord {
    let lower = given.to_lowercase();
    pb::SourceRecord {
        source_system: system.into(),
        source_record_id: id.into(),
        channel: pb::Channel::Web as i32,
        name: Some(pb::PersonName {
            given: given.into(),
            family: family.into(),
            ..Default::default()
        }),
        date_of_birth: dob.into(),
        emails: vec![format!("{lower}.{}@example.com", family.to_lowercase())],
        addresses: vec![pb::PostalAddress {
            street_number: "12".into(),
            street: format!("{family} Street"),
            locality: "Springfield".into(),
            postcode: "62704".into(),
            country: "US".into(),
            ..Default::default()
        }],
        observed_at: at(day),
        ..Default::default()
    }
}

/// Ann twice, Bob three times (linked by their scores), Carl twice (linked by a shared
/// national id, a rule that no threshold undoes) and Dee once.
fn records() -> Vec<pb::SourceRecord> {
    let carl = |system: &str, id: &str, day: i64| pb::SourceRecord {
        identifiers: vec![pb::Identifier {
            kind: pb::IdentifierKind::NationalId as i32,
            value: "123-45-6789".into(),
            ..Default::default()
        }],
        ..person(system, id, day, "Carl", "Ortiz", "1970-07-07")
    };
    vec![
        person("crm", "a1", 1, "Ann", "Lee", "1984-03-02"),
        person("web", "a2", 2, "Ann", "Lee", "1984-03-02"),
        person("crm", "b1", 3, "Bob", "Marsh", "1990-11-20"),
        person("web", "b2", 4, "Bob", "Marsh", "1990-11-20"),
        person("shop", "b3", 5, "Bob", "Marsh", "1990-11-20"),
        carl("crm", "c1", 6),
        carl("web", "c2", 7),
        person("crm", "d1", 8, "Dee", "Quinn", "1979-05-05"),
    ]
}

fn key(system: &str, id: &str) -> Key {
    (system.to_owned(), id.to_owned())
}

async fn import(client: &mut Client, records: Vec<pb::SourceRecord>) {
    let count = records.len() as u64;
    let summary = client
        .import_records(futures::stream::iter([pb::ImportRecordsRequest {
            records,
            strict: false,
            skip_auto_estimate: false,
        }]))
        .await
        .expect("the import runs")
        .into_inner();
    assert_eq!(summary.accepted, count, "{summary:?}");
}

/// Every record's customer.
async fn assignments(client: &mut Client) -> BTreeMap<Key, String> {
    client
        .export_clusters(pb::ExportClustersRequest {})
        .await
        .unwrap()
        .into_inner()
        .map(|row| {
            let row = row.unwrap();
            ((row.source_system, row.source_record_id), row.customer_id)
        })
        .collect()
        .await
}

/// The clusters as sets of record keys, whatever their ids.
fn partition(assignments: &BTreeMap<Key, String>) -> BTreeSet<BTreeSet<Key>> {
    let mut clusters: BTreeMap<&str, BTreeSet<Key>> = BTreeMap::new();
    for (key, customer) in assignments {
        clusters.entry(customer).or_default().insert(key.clone());
    }
    clusters.into_values().collect()
}

/// Runs a recluster to its end: every progress message, the last one done.
async fn recluster(
    client: &mut Client,
    dry_run: bool,
    batch_size: u32,
) -> Vec<pb::ReclusterProgress> {
    let messages: Vec<pb::ReclusterProgress> = client
        .recluster(pb::ReclusterRequest {
            dry_run,
            batch_size,
        })
        .await
        .expect("the recluster starts")
        .into_inner()
        .map(|message| message.expect("the recluster runs"))
        .collect()
        .await;
    let last = messages.last().expect("a final message");
    assert!(last.done, "{messages:?}");
    assert_eq!(
        messages.iter().filter(|message| message.done).count(),
        1,
        "one final message"
    );
    messages
}

async fn summary_of(client: &mut Client, dry_run: bool) -> pb::ReclusterSummary {
    let messages = recluster(client, dry_run, 0).await;
    let summary = messages.last().unwrap().summary.unwrap();
    assert_eq!(summary.dry_run, dry_run);
    summary
}

/// The committed change events after `after`: the stored ones are replayed at once,
/// so a short quiet spell ends the list.
async fn events_after(client: &mut Client, after: u64) -> Vec<pb::ChangeEvent> {
    change_events(client, after, Duration::from_millis(400)).await
}

async fn last_event_id(client: &mut Client) -> u64 {
    events_after(client, 0)
        .await
        .last()
        .map_or(0, |event| event.event_id)
}

async fn pair_weight(client: &mut Client, a: &Key, b: &Key) -> f64 {
    let record = |key: &Key| pb::RecordKey {
        source_system: key.0.clone(),
        source_record_id: key.1.clone(),
    };
    let explanation = client
        .explain_match(pb::ExplainMatchRequest {
            subject: Some(pb::explain_match_request::Subject::Pair(pb::RecordPair {
                a: Some(record(a)),
                b: Some(record(b)),
            })),
        })
        .await
        .unwrap()
        .into_inner();
    explanation.links[0].total_weight
}

/// The counts a summary reports about customers and records.
fn outcome(summary: &pb::ReclusterSummary) -> [u64; 5] {
    [
        summary.components_changed,
        summary.customers_merged,
        summary.customers_split,
        summary.customers_created,
        summary.records_moved,
    ]
}

fn assert_no_op(summary: &pb::ReclusterSummary) {
    assert_eq!(outcome(summary), [0; 5], "{summary:?}");
    assert_eq!(
        (summary.links_added, summary.links_removed),
        (0, 0),
        "{summary:?}"
    );
}

/// The whole story on one backend: a threshold raised above the Ann and Bob pairs'
/// weights splits them, lowered again merges them back.
async fn threshold_changes_are_reclustered(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let mut client = suite.identity();
    import(&mut client, records()).await;
    let imported = assignments(&mut client).await;
    let ann = imported[&key("crm", "a1")].clone();
    let bob = imported[&key("crm", "b1")].clone();
    let carl = imported[&key("crm", "c1")].clone();
    assert_eq!(imported[&key("web", "a2")], ann);
    assert_eq!(imported[&key("web", "b2")], bob);
    assert_eq!(imported[&key("shop", "b3")], bob);
    assert_eq!(imported[&key("web", "c2")], carl);
    assert_eq!(partition(&imported).len(), 4);

    // The parameters the import used: nothing to do.
    let before = last_event_id(&mut client).await;
    let unchanged = summary_of(&mut client, false).await;
    assert_no_op(&unchanged);
    assert_eq!(unchanged.records_total, 8);
    assert_eq!(unchanged.records_done, 8);
    assert_eq!(unchanged.components_examined, 4);
    assert!(events_after(&mut client, before).await.is_empty());
    assert_eq!(assignments(&mut client).await, imported);

    // A threshold above every Ann and Bob pair.
    let pairs = [
        (key("crm", "a1"), key("web", "a2")),
        (key("crm", "b1"), key("web", "b2")),
        (key("crm", "b1"), key("shop", "b3")),
        (key("web", "b2"), key("shop", "b3")),
    ];
    let mut highest = f64::MIN;
    for (a, b) in &pairs {
        highest = highest.max(pair_weight(&mut client, a, b).await);
    }
    assert!(
        highest >= DEFAULT_THRESHOLD,
        "the pairs link at the default"
    );
    let raised = highest + 1.0;
    let suite = suite
        .restart_with(move |config| config.identity.match_threshold = Some(raised))
        .await;
    let mut client = suite.identity();
    assert_eq!(
        assignments(&mut client).await,
        imported,
        "a restart changes nothing"
    );

    // A dry run predicts and changes nothing.
    let before = last_event_id(&mut client).await;
    let predicted = summary_of(&mut client, true).await;
    assert_eq!(outcome(&predicted), [2, 0, 2, 3, 3], "{predicted:?}");
    assert_eq!(predicted.links_removed, 4, "{predicted:?}");
    assert_eq!(assignments(&mut client).await, imported);
    assert!(events_after(&mut client, before).await.is_empty());

    // The real run does what the dry run said.
    let split = summary_of(&mut client, false).await;
    assert_eq!(outcome(&split), outcome(&predicted), "{split:?}");
    assert_eq!(split.links_removed, 4);
    let after_split = assignments(&mut client).await;
    // Survivors keep their ids: each part holds one record, so the earliest observed
    // keeps it. Carl's rule link and Dee are untouched.
    assert_eq!(after_split[&key("crm", "a1")], ann);
    assert_eq!(after_split[&key("crm", "b1")], bob);
    assert_eq!(after_split[&key("crm", "c1")], carl);
    assert_eq!(after_split[&key("web", "c2")], carl);
    assert_eq!(after_split[&key("crm", "d1")], imported[&key("crm", "d1")]);
    assert_eq!(partition(&after_split).len(), 7);
    let ann_part = after_split[&key("web", "a2")].clone();
    let bob_parts: BTreeSet<String> = [key("web", "b2"), key("shop", "b3")]
        .iter()
        .map(|key| after_split[key].clone())
        .collect();
    assert_eq!(bob_parts.len(), 2);
    let events = events_after(&mut client, before).await;
    let splits: BTreeMap<String, BTreeSet<String>> = events
        .iter()
        .map(|event| {
            assert_eq!(event.kind(), pb::ChangeKind::Split, "{event:?}");
            assert_eq!(event.reason, "recluster with the current parameters");
            (
                event.customer_id.clone(),
                event.new_customer_ids.iter().cloned().collect(),
            )
        })
        .collect();
    assert_eq!(
        splits,
        BTreeMap::from([
            (ann.clone(), BTreeSet::from([ann_part.clone()])),
            (bob.clone(), bob_parts.clone()),
        ])
    );

    // Again with the same parameters: nothing.
    let before = last_event_id(&mut client).await;
    assert_no_op(&summary_of(&mut client, false).await);
    assert!(events_after(&mut client, before).await.is_empty());
    assert_eq!(assignments(&mut client).await, after_split);

    // Back to the default threshold: the parts merge into the oldest customers.
    let suite = suite
        .restart_with(|config| config.identity.match_threshold = Some(DEFAULT_THRESHOLD))
        .await;
    let mut client = suite.identity();
    let merged = summary_of(&mut client, false).await;
    assert_eq!(outcome(&merged), [2, 3, 0, 0, 3], "{merged:?}");
    let after_merge = assignments(&mut client).await;
    assert_eq!(after_merge, imported, "the ids of the first import survive");
    let events = events_after(&mut client, before).await;
    let merges: BTreeMap<String, BTreeSet<String>> = events
        .iter()
        .map(|event| {
            assert_eq!(event.kind(), pb::ChangeKind::Merged, "{event:?}");
            (
                event.customer_id.clone(),
                event.absorbed_customer_ids.iter().cloned().collect(),
            )
        })
        .collect();
    assert_eq!(
        merges,
        BTreeMap::from([
            (ann.clone(), BTreeSet::from([ann_part.clone()])),
            (bob.clone(), bob_parts)
        ])
    );
    // The absorbed ids now answer with their survivor.
    let looked_up = client
        .lookup_customer_id(pb::LookupCustomerIdRequest {
            customer: Some(pb::CustomerRef {
                r#ref: Some(pb::customer_ref::Ref::CustomerId(ann_part)),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(looked_up.customer_id, ann);

    let before = last_event_id(&mut client).await;
    assert_no_op(&summary_of(&mut client, false).await);
    assert!(events_after(&mut client, before).await.is_empty());
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_threshold_change_is_reclustered_on_the_embedded_default() {
    threshold_changes_are_reclustered(Backend::Embedded).await;
}

#[tokio::test]
async fn a_threshold_change_is_reclustered_on_postgres() {
    threshold_changes_are_reclustered(Backend::Postgres).await;
}

/// The clusters a recluster leaves are those a fresh import gives with the same
/// threshold, in any order of the records.
#[tokio::test]
async fn reclustered_clusters_match_fresh_imports_in_any_order() {
    let suite = TestSuite::start().await;
    let mut client = suite.identity();
    import(&mut client, records()).await;
    let weight = pair_weight(&mut client, &key("crm", "a1"), &key("web", "a2")).await;
    // Between Ann's pair and the others, if they differ; else above all of them.
    let raised = weight + 0.5;
    let suite = suite
        .restart_with(move |config| config.identity.match_threshold = Some(raised))
        .await;
    let mut client = suite.identity();
    recluster(&mut client, false, 3).await;
    let reclustered = partition(&assignments(&mut client).await);
    suite.stop().await.unwrap();

    let orders: [fn(&mut Vec<pb::SourceRecord>); 3] = [
        |_| {},
        |records| records.reverse(),
        |records| records.rotate_left(3),
    ];
    for reorder in orders {
        let Some(fresh) = TestSuite::start_with(
            SuiteOptions::new(Backend::Embedded)
                .configure(move |config| config.identity.match_threshold = Some(raised)),
        )
        .await
        else {
            unreachable!("the embedded suite needs no server")
        };
        let mut client = fresh.identity();
        let mut shuffled = records();
        reorder(&mut shuffled);
        import(&mut client, shuffled).await;
        assert_eq!(partition(&assignments(&mut client).await), reclustered);
        fresh.stop().await.unwrap();
    }
}

/// Progress comes batch by batch, and a bad batch size is refused by name.
#[tokio::test]
async fn progress_comes_per_batch_and_a_bad_batch_size_is_refused() {
    let suite = TestSuite::start().await;
    let mut client = suite.identity();
    import(&mut client, records()).await;
    let messages = recluster(&mut client, true, 2).await;
    let done: Vec<u64> = messages
        .iter()
        .map(|message| message.summary.as_ref().unwrap().records_done)
        .collect();
    assert_eq!(
        done,
        [2, 4, 6, 8, 8],
        "four batches of two, then the summary"
    );

    let refused = client
        .recluster(pb::ReclusterRequest {
            dry_run: false,
            batch_size: 100_001,
        })
        .await
        .expect_err("too large a batch");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("batch_size"), "{refused:?}");
    suite.stop().await.unwrap();
}
