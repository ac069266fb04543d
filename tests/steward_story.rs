//! A data steward's merges after unmerges, through gRPC (issue 13, item 7): a merge
//! joins every record of the named customers, reports every absorbed customer, and a
//! restart gives the same customers.

use std::collections::BTreeMap;

use futures::StreamExt;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_runtime::peers::PeerChannel;
use idic_testkit::TestSuite;

type Client = IdentityServiceClient<PeerChannel>;

fn address(number: &str, street: &str) -> pb::PostalAddress {
    pb::PostalAddress {
        street_number: number.into(),
        street: street.into(),
        locality: "Springfield".into(),
        postcode: "62704".into(),
        region: "IL".into(),
        country: "US".into(),
        ..Default::default()
    }
}

/// A person's four records: two identical, a call center's near-duplicate (nickname,
/// other phone format, abbreviated street, no e-mail) and a web form's (name and e-mail).
fn four_records(person: &Person) -> Vec<pb::SourceRecord> {
    let full = |id: &str| pb::SourceRecord {
        source_system: "crm".into(),
        source_record_id: id.into(),
        channel: pb::Channel::Web as i32,
        name: Some(pb::PersonName {
            given: person.given.into(),
            family: person.family.into(),
            ..Default::default()
        }),
        date_of_birth: person.dob.into(),
        emails: vec![person.email.into()],
        phones: vec![person.phone.into()],
        addresses: vec![address(person.number, person.street)],
        ..Default::default()
    };
    let mut call = full(&format!("{}-3", person.prefix));
    call.source_system = "callcenter".into();
    call.name.as_mut().unwrap().given = person.nickname.into();
    call.emails.clear();
    call.phones = vec![person.phone_local.into()];
    call.addresses = vec![address(person.number, person.street_short)];
    let mut web = full(&format!("{}-4", person.prefix));
    web.source_system = "webshop".into();
    web.phones.clear();
    web.addresses.clear();
    web.date_of_birth.clear();
    vec![
        full(&format!("{}-1", person.prefix)),
        full(&format!("{}-2", person.prefix)),
        call,
        web,
    ]
}

struct Person {
    prefix: &'static str,
    given: &'static str,
    nickname: &'static str,
    family: &'static str,
    dob: &'static str,
    email: &'static str,
    phone: &'static str,
    phone_local: &'static str,
    number: &'static str,
    street: &'static str,
    street_short: &'static str,
}

const ANN: Person = Person {
    prefix: "ann",
    given: "Ann",
    nickname: "Annie",
    family: "Lee",
    dob: "1984-03-02",
    email: "ann.lee@example.com",
    phone: "+1 217 555 0148",
    phone_local: "(217) 555-0148",
    number: "12",
    street: "High Street",
    street_short: "High St.",
};

const BOB: Person = Person {
    prefix: "bob",
    given: "Robert",
    nickname: "Bob",
    family: "Stone",
    dob: "1979-11-20",
    email: "bob.stone@example.net",
    phone: "+1 217 555 0199",
    phone_local: "(217) 555-0199",
    number: "40",
    street: "Oak Avenue",
    street_short: "Oak Ave",
};

async fn upsert(identity: &mut Client, record: pb::SourceRecord) -> String {
    identity
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(record),
            strict: false,
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id
}

/// Every record's customer, by "system/id".
async fn clusters(identity: &mut Client) -> BTreeMap<String, String> {
    identity
        .export_clusters(pb::ExportClustersRequest {})
        .await
        .unwrap()
        .into_inner()
        .map(|item| {
            let item = item.unwrap();
            (
                format!("{}/{}", item.source_system, item.source_record_id),
                item.customer_id,
            )
        })
        .collect()
        .await
}

async fn merge(identity: &mut Client, ids: &[&str]) -> pb::MergeResponse {
    identity
        .merge(pb::MergeRequest {
            customer_ids: ids.iter().map(|id| id.to_string()).collect(),
            reason: "same customer, confirmed by phone".into(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn unmerge(identity: &mut Client, system: &str, id: &str) -> pb::UnmergeResponse {
    identity
        .unmerge(pb::UnmergeRequest {
            records: vec![pb::RecordKey {
                source_system: system.into(),
                source_record_id: id.into(),
            }],
            reason: "checking".into(),
            block_remerge: false,
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn merges_after_unmerges_join_every_record_and_report_every_absorbed_customer() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let mut customer_of_person = Vec::new();
    for person in [&ANN, &BOB] {
        let mut ids = Vec::new();
        for record in four_records(person) {
            ids.push(upsert(&mut identity, record).await);
        }
        ids.dedup();
        assert_eq!(
            ids.len(),
            1,
            "{}'s four records are one customer",
            person.given
        );
        customer_of_person.push(ids[0].clone());
    }
    let (ann, bob) = (&customer_of_person[0], &customer_of_person[1]);

    let ann_out = unmerge(&mut identity, "crm", "ann-1").await;
    assert_eq!(ann_out.customer_id, *ann);
    let bob_out = unmerge(&mut identity, "webshop", "bob-4").await;
    assert_eq!(bob_out.customer_id, *bob);

    let merged = merge(&mut identity, &[ann, bob]).await;
    assert_eq!(merged.customer_id, *ann, "the older customer survives");
    assert_eq!(merged.merged_customer_ids, std::slice::from_ref(bob));
    let after_merge = clusters(&mut identity).await;
    let in_ann = after_merge.values().filter(|id| *id == ann).count();
    assert_eq!(
        in_ann, 6,
        "every record of both customers: {after_merge:#?}"
    );
    assert_eq!(after_merge["crm/ann-1"], ann_out.new_customer_id);
    assert_eq!(after_merge["webshop/bob-4"], bob_out.new_customer_id);

    let merged = merge(&mut identity, &[&ann_out.new_customer_id, bob]).await;
    assert_eq!(merged.customer_id, *ann, "a merged id names its survivor");
    assert_eq!(
        merged.merged_customer_ids,
        std::slice::from_ref(&ann_out.new_customer_id)
    );
    let merged = merge(&mut identity, &[ann, &bob_out.new_customer_id]).await;
    assert_eq!(
        merged.merged_customer_ids,
        std::slice::from_ref(&bob_out.new_customer_id)
    );
    let before_restart = clusters(&mut identity).await;
    assert!(
        before_restart.values().all(|id| id == ann),
        "the steward joined all eight records: {before_restart:#?}"
    );

    let suite = suite.restart().await;
    let mut identity = suite.identity();
    assert_eq!(clusters(&mut identity).await, before_restart);
    suite.stop().await.unwrap();
}
