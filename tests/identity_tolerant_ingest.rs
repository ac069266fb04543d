//! Tolerant ingest through identity's gRPC API: a record with fields that cannot be
//! read (a phone outside any numbering plan, the 31st of February) is stored, warned
//! about with each field's path and reason, kept as received for provenance and
//! export, and matched on its other fields; `strict` refuses it as before, and a
//! record with nothing usable is refused either way.

use futures::StreamExt;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_runtime::peers::PeerChannel;
use idic_testkit::{Backend, SuiteOptions, TestSuite};
use tonic::Code;
use tonic_types::StatusExt;

type Client = IdentityServiceClient<PeerChannel>;

const INVALID_PHONE: &str = "+1 421 616 3490";
const IMPOSSIBLE_DATE: &str = "1984-02-31";

fn ann(system: &str, id: &str) -> pb::SourceRecord {
    pb::SourceRecord {
        source_system: system.into(),
        source_record_id: id.into(),
        channel: pb::Channel::Web as i32,
        name: Some(pb::PersonName {
            given: "Ann".into(),
            family: "Lee".into(),
            ..Default::default()
        }),
        date_of_birth: "1984-03-02".into(),
        emails: vec!["ann.lee@example.com".into()],
        phones: vec!["+1 217 555 0148".into()],
        addresses: vec![pb::PostalAddress {
            street_number: "12".into(),
            street: "High Street".into(),
            locality: "Springfield".into(),
            postcode: "62704".into(),
            region: "IL".into(),
            country: "US".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Ann from another source, with a dead phone number and an impossible birth date.
fn dirty_ann(id: &str) -> pb::SourceRecord {
    pb::SourceRecord {
        date_of_birth: IMPOSSIBLE_DATE.into(),
        phones: vec![INVALID_PHONE.into()],
        ..ann("callcenter", id)
    }
}

async fn upsert(
    client: &mut Client,
    record: pb::SourceRecord,
    strict: bool,
) -> Result<pb::UpsertRecordResponse, tonic::Status> {
    client
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(record),
            strict,
        })
        .await
        .map(tonic::Response::into_inner)
}

fn by_id(id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::CustomerId(id.into())),
    })
}

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    let mut fields: Vec<String> = status
        .get_error_details()
        .bad_request()
        .expect("field violations")
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect();
    fields.sort();
    fields
}

async fn stored_keys(client: &mut Client) -> Vec<String> {
    let mut keys: Vec<String> = client
        .export_clusters(pb::ExportClustersRequest {})
        .await
        .unwrap()
        .into_inner()
        .map(|assignment| {
            let assignment = assignment.unwrap();
            format!(
                "{}/{}",
                assignment.source_system, assignment.source_record_id
            )
        })
        .collect()
        .await;
    keys.sort();
    keys
}

#[tokio::test]
async fn a_record_with_an_invalid_phone_and_an_impossible_date_is_stored_warned_and_matched() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let clean = upsert(&mut identity, ann("webshop", "u-1"), false)
        .await
        .unwrap();
    assert!(clean.warnings.is_empty(), "{:?}", clean.warnings);

    let dirty = upsert(&mut identity, dirty_ann("c-1"), false)
        .await
        .expect("a record with unreadable fields is kept");
    // Matched on its name, e-mail and address: it joins the clean twin.
    assert_eq!(dirty.outcome(), pb::ResolutionOutcome::Joined);
    assert_eq!(dirty.customer_id, clean.customer_id);
    let mut warnings = dirty.warnings.clone();
    warnings.sort_by(|a, b| a.field.cmp(&b.field));
    assert_eq!(
        warnings,
        [
            pb::FieldWarning {
                field: "record.date_of_birth".into(),
                reason: "is not a date that exists".into(),
                value: IMPOSSIBLE_DATE.into(),
            },
            pb::FieldWarning {
                field: "record.phones[0]".into(),
                reason: "is not a valid phone number for region US".into(),
                value: INVALID_PHONE.into(),
            },
        ]
    );

    // The golden record keeps the readable values and shows the unread ones with the
    // record they came from.
    let customer = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_id(&clean.customer_id),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(customer.records.len(), 2);
    let golden = customer.golden.unwrap();
    assert_eq!(golden.date_of_birth, "1984-03-02");
    let mut unread: Vec<(String, String, String)> = golden
        .unread
        .iter()
        .map(|value| {
            let record = value.record.clone().unwrap();
            (
                format!("{}/{}", record.source_system, record.source_record_id),
                value.field.clone(),
                value.value.clone(),
            )
        })
        .collect();
    unread.sort();
    assert_eq!(
        unread,
        [
            (
                "callcenter/c-1".to_owned(),
                "date_of_birth".to_owned(),
                IMPOSSIBLE_DATE.to_owned()
            ),
            (
                "callcenter/c-1".to_owned(),
                "phones[0]".to_owned(),
                INVALID_PHONE.to_owned()
            ),
        ]
    );

    // The export gives the record back as received.
    let export = identity
        .export_customer(pb::ExportCustomerRequest {
            customer: by_id(&clean.customer_id),
        })
        .await
        .unwrap()
        .into_inner();
    let exported = export
        .records
        .iter()
        .find(|record| record.source_record_id == "c-1")
        .expect("the dirty record is exported");
    assert_eq!(exported.phones, [INVALID_PHONE]);
    assert_eq!(exported.date_of_birth, IMPOSSIBLE_DATE);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn strict_refuses_what_tolerance_keeps_and_stores_nothing() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let status = upsert(&mut identity, dirty_ann("c-1"), true)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        ["record.date_of_birth", "record.phones[0]"]
    );
    assert!(stored_keys(&mut identity).await.is_empty());
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_record_with_a_key_and_only_unreadable_fields_is_refused() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let garbage = pb::SourceRecord {
        source_system: "crm".into(),
        source_record_id: "g-1".into(),
        date_of_birth: IMPOSSIBLE_DATE.into(),
        emails: vec!["not an e-mail".into()],
        phones: vec!["000-0000".into()],
        ..Default::default()
    };
    let status = upsert(&mut identity, garbage, false).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("no usable field"),
        "{}",
        status.message()
    );
    // The refusal says why each field did not count.
    assert_eq!(
        violated_fields(&status),
        [
            "record",
            "record.date_of_birth",
            "record.emails[0]",
            "record.phones[0]"
        ]
    );
    // Without its key a record is refused, however good its fields.
    let keyless = pb::SourceRecord {
        source_record_id: String::new(),
        ..ann("webshop", "")
    };
    let status = upsert(&mut identity, keyless, false).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["record.source_record_id"]);
    assert!(stored_keys(&mut identity).await.is_empty());
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_channel_number_is_a_warning_naming_the_valid_ones() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let record = pb::SourceRecord {
        channel: 99,
        ..ann("webshop", "u-1")
    };
    let response = upsert(&mut identity, record.clone(), false).await.unwrap();
    assert_eq!(response.warnings.len(), 1);
    assert_eq!(response.warnings[0].field, "record.channel");
    assert_eq!(response.warnings[0].value, "99");
    assert!(
        response.warnings[0].reason.contains("CHANNEL_CALL_CENTER"),
        "{}",
        response.warnings[0].reason
    );
    let strict = upsert(
        &mut identity,
        pb::SourceRecord {
            source_record_id: "u-2".into(),
            ..record
        },
        true,
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&strict), ["record.channel"]);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn an_import_counts_warnings_per_field_and_reason_and_strict_batches_refuse() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let second_dirty = pb::SourceRecord {
        phones: vec!["+1 421 616 3491".into()],
        date_of_birth: "1990-01-01".into(),
        ..dirty_ann("c-2")
    };
    let tolerant = pb::ImportRecordsRequest {
        records: vec![ann("webshop", "u-1"), dirty_ann("c-1"), second_dirty],
        strict: false,
        skip_auto_estimate: false,
    };
    let strict = pb::ImportRecordsRequest {
        records: vec![ann("webshop", "u-9"), dirty_ann("c-9")],
        strict: true,
        skip_auto_estimate: false,
    };
    let summary = identity
        .import_records(futures::stream::iter([tolerant, strict]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.received, 5);
    assert_eq!(summary.accepted, 4);
    assert_eq!(summary.rejected, 1);
    assert_eq!(summary.warned, 2);
    let counts: Vec<(&str, &str, u64)> = summary
        .warning_counts
        .iter()
        .map(|count| (count.field.as_str(), count.reason.as_str(), count.count))
        .collect();
    assert_eq!(
        counts,
        [
            ("phones", "is not a valid phone number for region US", 2),
            ("date_of_birth", "is not a date that exists", 1),
        ]
    );
    let per_record: Vec<(u64, String, usize)> = summary
        .warnings
        .iter()
        .map(|record| {
            (
                record.index,
                record.key.clone().unwrap().source_record_id,
                record.warnings.len(),
            )
        })
        .collect();
    assert_eq!(
        per_record,
        [(1, "c-1".to_owned(), 2), (2, "c-2".to_owned(), 1)]
    );
    assert_eq!(summary.errors.len(), 1);
    assert_eq!(summary.errors[0].index, 4);
    assert_eq!(
        stored_keys(&mut identity).await,
        [
            "callcenter/c-1",
            "callcenter/c-2",
            "webshop/u-1",
            "webshop/u-9"
        ]
    );
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_reads_kept_records_as_their_write_did() {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(Backend::Embedded)).await else {
        return;
    };
    let mut identity = suite.identity();
    let clean = upsert(&mut identity, ann("webshop", "u-1"), false)
        .await
        .unwrap();
    let dirty = pb::SourceRecord {
        identifiers: vec![pb::Identifier {
            kind: pb::IdentifierKind::LoyaltyId as i32,
            value: "L-777".into(),
            ..Default::default()
        }],
        ..dirty_ann("c-1")
    };
    let dirty = upsert(&mut identity, dirty, false).await.unwrap();
    assert_eq!(dirty.customer_id, clean.customer_id);

    let suite = suite.restart().await;
    let mut identity = suite.identity();
    // Only the dirty record has the loyalty id: it must have been read back whole.
    let card_only = pb::SourceRecord {
        source_system: "pos".into(),
        source_record_id: "p-1".into(),
        identifiers: vec![pb::Identifier {
            kind: pb::IdentifierKind::LoyaltyId as i32,
            value: "L777".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let card = upsert(&mut identity, card_only, false).await.unwrap();
    assert_eq!(card.customer_id, clean.customer_id);
    suite.stop().await.unwrap();
}
