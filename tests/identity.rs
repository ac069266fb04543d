//! Identity through its gRPC API, as a call center, a web shop and a data steward use
//! it: records from several channels become one customer, households stay apart, bad
//! input is refused with the field named, writes are idempotent, steward actions are
//! audited and reversible, erasure leaves a tombstone, and a restart loses nothing.

use futures::StreamExt;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_runtime::peers::PeerChannel;
use idic_testkit::{Backend, SuiteOptions, TestSuite};
use tonic::Code;
use tonic_types::StatusExt;

type Client = IdentityServiceClient<PeerChannel>;

struct Person<'a> {
    system: &'a str,
    id: &'a str,
    given: &'a str,
    family: &'a str,
    dob: &'a str,
    email: &'a str,
    phone: &'a str,
    street: &'a str,
}

fn record(person: &Person) -> pb::SourceRecord {
    pb::SourceRecord {
        source_system: person.system.into(),
        source_record_id: person.id.into(),
        channel: pb::Channel::Web as i32,
        name: Some(pb::PersonName {
            given: person.given.into(),
            family: person.family.into(),
            ..Default::default()
        }),
        date_of_birth: person.dob.into(),
        emails: if person.email.is_empty() {
            vec![]
        } else {
            vec![person.email.into()]
        },
        phones: if person.phone.is_empty() {
            vec![]
        } else {
            vec![person.phone.into()]
        },
        addresses: if person.street.is_empty() {
            vec![]
        } else {
            vec![pb::PostalAddress {
                street_number: "12".into(),
                street: person.street.into(),
                locality: "Springfield".into(),
                postcode: "62704".into(),
                region: "IL".into(),
                country: "US".into(),
                ..Default::default()
            }]
        },
        ..Default::default()
    }
}

async fn upsert(client: &mut Client, person: &Person<'_>) -> pb::UpsertRecordResponse {
    client
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(record(person)),
            strict: false,
        })
        .await
        .unwrap_or_else(|status| panic!("upsert {}: {status}", person.id))
        .into_inner()
}

fn by_email(email: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::Email as i32,
            value: email.into(),
            ..Default::default()
        })),
    })
}

fn by_id(id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::CustomerId(id.into())),
    })
}

fn key(system: &str, id: &str) -> pb::RecordKey {
    pb::RecordKey {
        source_system: system.into(),
        source_record_id: id.into(),
    }
}

const ANN_WEB: Person = Person {
    system: "webshop",
    id: "u-1",
    given: "Ann",
    family: "Lee",
    dob: "1984-03-02",
    email: "ann.lee@example.com",
    phone: "+1 217 555 0148",
    street: "High Street",
};

/// The call center typed a nickname, another phone format and an abbreviated street.
const ANN_CALL: Person = Person {
    system: "callcenter",
    id: "c-77",
    given: "Annie",
    family: "Lee",
    dob: "19840302",
    email: "",
    phone: "(217) 555-0148",
    street: "High St.",
};

#[tokio::test]
async fn records_from_several_channels_become_one_customer() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let first = upsert(&mut identity, &ANN_WEB).await;
    assert_eq!(first.outcome(), pb::ResolutionOutcome::Created);
    let second = upsert(&mut identity, &ANN_CALL).await;
    assert_eq!(second.outcome(), pb::ResolutionOutcome::Joined);
    assert_eq!(second.customer_id, first.customer_id);

    let customer = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_email("ANN.LEE@example.com"),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(customer.customer_id, first.customer_id);
    assert_eq!(customer.records.len(), 2);
    let golden = customer.golden.unwrap();
    assert_eq!(golden.family_name, "Lee");
    assert_eq!(golden.date_of_birth, "1984-03-02");
    assert_eq!(golden.phones, ["+12175550148"]);
    assert_eq!(golden.provenance["family_name"].support, 2);
    assert_eq!(golden.provenance["family_name"].rule, "only_value");

    // "Who is calling?" from the phone number alone.
    let resolved = identity
        .resolve(pb::ResolveRequest {
            query: Some(pb::resolve_request::Query::Identifier(pb::Identifier {
                kind: pb::IdentifierKind::Phone as i32,
                value: "217.555.0148".into(),
                ..Default::default()
            })),
            max_candidates: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.candidates.len(), 1);
    assert_eq!(resolved.candidates[0].customer_id, first.customer_id);
    assert_eq!(resolved.candidates[0].probability, 1.0);
    assert!(resolved.candidates[0].display_name.contains("Lee"));

    // And fuzzily, from a name with a typo and the birth date.
    let fuzzy = identity
        .resolve(pb::ResolveRequest {
            query: Some(pb::resolve_request::Query::Partial(pb::SourceRecord {
                name: Some(pb::PersonName {
                    given: "Anne".into(),
                    family: "Lee".into(),
                    ..Default::default()
                }),
                date_of_birth: "1984-03-02".into(),
                ..Default::default()
            })),
            max_candidates: 5,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fuzzy.candidates[0].customer_id, first.customer_id);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_retried_write_changes_nothing() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let first = upsert(&mut identity, &ANN_WEB).await;
    let again = upsert(&mut identity, &ANN_WEB).await;
    assert_eq!(again.outcome(), pb::ResolutionOutcome::Unchanged);
    assert_eq!(again.customer_id, first.customer_id);
    let customer = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_id(&first.customer_id),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(customer.records.len(), 1);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn bad_records_are_refused_with_their_fields_and_nothing_is_stored() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let mut bad = record(&ANN_WEB);
    bad.emails = vec!["ann.lee@@example".into()];
    bad.date_of_birth = "1984-02-30".into();
    bad.source_record_id = String::new();
    let status = identity
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(bad),
            strict: true,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let details = status.get_error_details();
    let mut fields: Vec<String> = details
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "record.date_of_birth",
            "record.emails[0]",
            "record.source_record_id"
        ]
    );

    let empty = pb::SourceRecord {
        source_system: "crm".into(),
        source_record_id: "1".into(),
        ..Default::default()
    };
    let status = identity
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(empty),
            strict: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("no usable field"),
        "{}",
        status.message()
    );

    let missing = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_email("ann.lee@example.com"),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let exported: Vec<_> = identity
        .export_clusters(pb::ExportClustersRequest {})
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert!(exported.is_empty(), "nothing was stored");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_household_sharing_address_and_phone_stays_apart() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let ann = upsert(&mut identity, &ANN_WEB).await;
    let tom = Person {
        system: "crm",
        id: "h-2",
        given: "Thomas",
        dob: "1981-11-20",
        email: "",
        ..ANN_WEB
    };
    let tom = upsert(&mut identity, &tom).await;
    // Twins: same family, birth date, address and phone, other given name.
    let twin = Person {
        system: "crm",
        id: "h-3",
        given: "Beth",
        email: "",
        ..ANN_WEB
    };
    let twin = upsert(&mut identity, &twin).await;
    assert_ne!(ann.customer_id, tom.customer_id);
    assert_ne!(ann.customer_id, twin.customer_id);
    assert_ne!(tom.customer_id, twin.customer_id);

    let explained = identity
        .explain_match(pb::ExplainMatchRequest {
            subject: Some(pb::explain_match_request::Subject::Pair(pb::RecordPair {
                a: Some(key("webshop", "u-1")),
                b: Some(key("crm", "h-3")),
            })),
        })
        .await
        .unwrap()
        .into_inner();
    let pair = &explained.links[0];
    assert!(!pair.above_threshold);
    assert!(
        !pair.conflicts.is_empty(),
        "the explanation says why they stay apart"
    );
    // Thomas's record at the same number makes it the household's, and it says so.
    assert!(
        pair.notes
            .iter()
            .any(|note| note.contains("the household's, no evidence of one person")),
        "{:?}",
        pair.notes
    );
    let given = pair
        .fields
        .iter()
        .find(|f| f.field == "given_name")
        .unwrap();
    assert_eq!(given.level, "disagree");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_record_that_links_two_customers_merges_them_and_the_oldest_id_survives() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let mut changes = identity
        .watch_changes(pb::WatchChangesRequest::default())
        .await
        .unwrap()
        .into_inner();
    // Two records of one person with nothing in common yet but name and birth date
    // in a common name: kept apart until a third record bridges them.
    let older = upsert(
        &mut identity,
        &Person {
            email: "ann.lee@example.com",
            phone: "",
            street: "",
            ..ANN_WEB
        },
    )
    .await;
    let newer = upsert(
        &mut identity,
        &Person {
            system: "pos",
            id: "p-9",
            email: "",
            phone: "+1 217 555 0199",
            street: "",
            dob: "",
            ..ANN_WEB
        },
    )
    .await;
    assert_ne!(older.customer_id, newer.customer_id);
    let bridge = upsert(
        &mut identity,
        &Person {
            system: "crm",
            id: "b-1",
            email: "ann.lee@example.com",
            phone: "+1 217 555 0199",
            street: "",
            ..ANN_WEB
        },
    )
    .await;
    assert_eq!(bridge.outcome(), pb::ResolutionOutcome::Merged);
    assert_eq!(
        bridge.customer_id, older.customer_id,
        "the oldest id survives"
    );
    assert_eq!(
        bridge.merged_customer_ids,
        std::slice::from_ref(&newer.customer_id)
    );

    // The absorbed id still resolves, as an alias.
    let customer = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_id(&newer.customer_id),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(customer.customer_id, older.customer_id);
    assert_eq!(customer.aliases, std::slice::from_ref(&newer.customer_id));

    let event = tokio::time::timeout(std::time::Duration::from_secs(5), changes.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.kind(), pb::ChangeKind::Merged);
    assert_eq!(event.customer_id, older.customer_id);
    assert_eq!(
        event.absorbed_customer_ids,
        std::slice::from_ref(&newer.customer_id)
    );
    assert_eq!(event.actor, "auto");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn stewards_merge_and_unmerge_with_an_audit_trail_and_blocks() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let ann = upsert(&mut identity, &ANN_WEB).await;
    let other = upsert(
        &mut identity,
        &Person {
            system: "crm",
            id: "x-1",
            given: "Anna",
            family: "Leigh",
            dob: "",
            email: "anna@example.org",
            phone: "",
            street: "",
        },
    )
    .await;
    assert_ne!(ann.customer_id, other.customer_id);

    let refused = identity
        .merge(pb::MergeRequest {
            customer_ids: vec![ann.customer_id.clone(), other.customer_id.clone()],
            reason: " ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let merged = identity
        .merge(pb::MergeRequest {
            customer_ids: vec![other.customer_id.clone(), ann.customer_id.clone()],
            reason: "same person, confirmed by phone".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        merged.customer_id, ann.customer_id,
        "the older customer survives"
    );

    let unmerged = identity
        .unmerge(pb::UnmergeRequest {
            records: vec![key("crm", "x-1")],
            reason: "merged by mistake".into(),
            block_remerge: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unmerged.customer_id, ann.customer_id);
    assert_ne!(unmerged.new_customer_id, ann.customer_id);

    // A later record carrying both e-mails links to both sides, which would join them
    // again; the steward's block keeps them apart and the record joins its closer side.
    let mut bridge = record(&Person {
        system: "crm",
        id: "x-2",
        given: "Anna",
        family: "Leigh",
        dob: "",
        email: "anna@example.org",
        phone: "",
        street: "",
    });
    bridge.emails.push("ann.lee@example.com".into());
    let bridge = identity
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(bridge),
            strict: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bridge.customer_id, unmerged.new_customer_id);
    let ann_now = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_id(&ann.customer_id),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(ann_now.records.len(), 1, "the blocked side stays apart");

    let history = identity
        .get_merge_history(pb::GetMergeHistoryRequest {
            customer: by_id(&ann.customer_id),
            page: None,
        })
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<_> = history
        .events
        .iter()
        .map(|e| (e.kind(), e.reason.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (pb::ChangeKind::Split, "merged by mistake"),
            (pb::ChangeKind::Merged, "same person, confirmed by phone")
        ]
    );
    assert!(
        history.events.iter().all(|e| e.actor == "anonymous"),
        "the caller is recorded as the actor"
    );
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn erasure_keeps_only_a_tombstone() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let ann = upsert(&mut identity, &ANN_WEB).await;
    upsert(&mut identity, &ANN_CALL).await;
    let export = identity
        .export_customer(pb::ExportCustomerRequest {
            customer: by_id(&ann.customer_id),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.records.len(), 2);
    let erased = identity
        .erase_customer(pb::EraseCustomerRequest {
            customer: by_id(&ann.customer_id),
            reason: "GDPR request 42".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(erased.records_erased, 2);
    let gone = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_id(&ann.customer_id),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert!(gone.message().contains("erased"), "{}", gone.message());
    let by_mail = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_email("ann.lee@example.com"),
        })
        .await
        .unwrap_err();
    assert_eq!(by_mail.code(), Code::NotFound);
    let exported: Vec<_> = identity
        .export_clusters(pb::ExportClustersRequest {})
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert!(exported.is_empty());
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn parallel_writers_of_the_same_person_end_with_one_customer() {
    let suite = TestSuite::start().await;
    let mut writers = Vec::new();
    for writer in 0..8 {
        let mut identity = suite.identity();
        writers.push(tokio::spawn(async move {
            let id = format!("w-{writer}");
            let person = Person {
                system: "webshop",
                id: &id,
                ..ANN_WEB
            };
            upsert(&mut identity, &person).await.customer_id
        }));
    }
    let mut ids = Vec::new();
    for writer in writers {
        ids.push(writer.await.unwrap());
    }
    let mut identity = suite.identity();
    let customer = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_email("ann.lee@example.com"),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(customer.records.len(), 8, "one customer holds every record");
    suite.stop().await.unwrap();
}

async fn survives_a_restart(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let mut identity = suite.identity();
    let ann = upsert(&mut identity, &ANN_WEB).await;
    upsert(&mut identity, &ANN_CALL).await;
    let other = upsert(
        &mut identity,
        &Person {
            system: "crm",
            id: "x-1",
            given: "Anna",
            family: "Leigh",
            dob: "",
            email: "anna@example.org",
            phone: "",
            street: "",
        },
    )
    .await;
    identity
        .merge(pb::MergeRequest {
            customer_ids: vec![ann.customer_id.clone(), other.customer_id.clone()],
            reason: "confirmed".into(),
        })
        .await
        .unwrap();

    let suite = suite.restart().await;
    let mut identity = suite.identity();
    let customer = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_id(&other.customer_id),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(customer.customer_id, ann.customer_id);
    assert_eq!(customer.records.len(), 3);
    // The in-memory index was rebuilt: the phone still finds the customer, and a new
    // record still joins it.
    let again = upsert(
        &mut identity,
        &Person {
            id: "u-2",
            ..ANN_WEB
        },
    )
    .await;
    assert_eq!(again.customer_id, ann.customer_id);
    let history = identity
        .get_merge_history(pb::GetMergeHistoryRequest {
            customer: by_id(&ann.customer_id),
            page: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.events.len(), 1);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn nothing_is_lost_across_a_restart_on_sqlite() {
    survives_a_restart(Backend::Embedded).await;
}

#[tokio::test]
async fn nothing_is_lost_across_a_restart_on_postgres() {
    survives_a_restart(Backend::Postgres).await;
}
