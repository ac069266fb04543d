//! An identifier several customers share (a household's phone) is the caller's
//! problem, not the suite's: every service answers FAILED_PRECONDITION naming the
//! identifier and the candidate customers, stores nothing, and `idic import
//! transactions` rejects that row with its line and goes on.

use idic::cli::ClientArgs;
use idic::cli::differentiation::{ImportTransactionsArgs, record_transactions_file};
use idic_proto::v1 as pb;
use idic_proto::v1::customer_ref;
use idic_testkit::{Backend, SuiteOptions, TestSuite};
use tonic::Code;

const SHARED_PHONE: &str = "+1 217 555 0148";

fn by_phone() -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::Phone as i32,
            value: SHARED_PHONE.to_owned(),
            ..Default::default()
        })),
    })
}

fn by_id(id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(customer_ref::Ref::CustomerId(id.to_owned())),
    })
}

/// Two people of one household: same family, address and phone, other given name
/// and birth date, so identity keeps them apart and the phone names both.
async fn household(suite: &TestSuite) -> (String, String) {
    let mut identity = suite.identity();
    let mut ids = Vec::new();
    for (id, given, dob) in [
        ("h-1", "Ann", "1984-03-02"),
        ("h-2", "Thomas", "1981-11-20"),
    ] {
        let customer_id = identity
            .upsert_record(pb::UpsertRecordRequest {
                record: Some(pb::SourceRecord {
                    source_system: "crm".into(),
                    source_record_id: id.into(),
                    channel: pb::Channel::CallCenter as i32,
                    name: Some(pb::PersonName {
                        given: given.into(),
                        family: "Lee".into(),
                        ..Default::default()
                    }),
                    date_of_birth: dob.into(),
                    phones: vec![SHARED_PHONE.into()],
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
                }),
                strict: false,
            })
            .await
            .unwrap()
            .into_inner()
            .customer_id;
        ids.push(customer_id);
    }
    assert_ne!(ids[0], ids[1], "a household stays apart");
    (ids[0].clone(), ids[1].clone())
}

/// FAILED_PRECONDITION whose message names the identifier and both customers.
fn assert_names_the_household(status: &tonic::Status, ann: &str, tom: &str, rpc: &str) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{rpc}: {status:?}");
    let message = status.message();
    assert!(message.contains(SHARED_PHONE), "{rpc}: {message}");
    assert!(
        message.contains(ann) && message.contains(tom),
        "{rpc}: {message}"
    );
}

fn transaction(order: &str, reference: Option<pb::CustomerRef>) -> pb::TransactionInput {
    pb::TransactionInput {
        customer: reference,
        order_id: order.into(),
        kind: pb::TransactionKind::Purchase as i32,
        occurred_at: Some(prost_types::Timestamp {
            seconds: 1_772_445_600,
            nanos: 0,
        }),
        amount: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: 3499,
        }),
        ..Default::default()
    }
}

async fn a_shared_identifier_is_a_failed_precondition(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let (ann, tom) = household(&suite).await;
    let mut interaction = suite.interaction();
    let mut differentiation = suite.differentiation();

    let context = interaction
        .get_context(pb::GetContextRequest {
            customer: by_phone(),
            recent_limit: 5,
        })
        .await
        .unwrap_err();
    assert_names_the_household(&context, &ann, &tom, "GetContext");
    let recorded = interaction
        .record_interaction(pb::RecordInteractionRequest {
            customer: by_phone(),
            channel: pb::Channel::CallCenter as i32,
            r#type: pb::InteractionType::Call as i32,
            topic: "billing".into(),
            idempotency_key: "call-shared".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_names_the_household(&recorded, &ann, &tom, "RecordInteraction");
    let timeline = interaction
        .list_timeline(pb::ListTimelineRequest {
            customer: by_phone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_names_the_household(&timeline, &ann, &tom, "ListTimeline");
    let value = differentiation
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: by_phone(),
        })
        .await
        .unwrap_err();
    assert_names_the_household(&value, &ann, &tom, "GetCustomerValue");
    let transactions = differentiation
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![
                transaction("ord-ann", by_id(&ann)),
                transaction("ord-shared", by_phone()),
            ],
            strict: false,
        })
        .await
        .unwrap_err();
    assert_names_the_household(&transactions, &ann, &tom, "RecordTransactions");
    let offering = suite
        .customization()
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: by_phone(),
            idempotency_key: "offer-shared".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_names_the_household(&offering, &ann, &tom, "GetTailoredOffering");

    // Nothing was stored by the refused calls.
    for customer in [&ann, &tom] {
        let context = interaction
            .get_context(pb::GetContextRequest {
                customer: by_id(customer),
                recent_limit: 5,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(context.interaction_count, 0, "{context:?}");
    }
    let ann_value = differentiation
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: by_id(&ann),
        })
        .await;
    match ann_value {
        Err(status) => assert_eq!(status.code(), Code::NotFound, "{status:?}"),
        Ok(value) => assert_eq!(value.into_inner().value.unwrap().order_count, 0),
    }

    // The import rejects the shared row by its line and records the rows around it,
    // in its batch and after it.
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("transactions.csv");
    let csv = format!(
        "customer_ref,order_id,occurred_at,amount,currency\n\
         {ann},imp-1,2026-03-01,34.99,EUR\n\
         phone:{SHARED_PHONE},imp-2,2026-03-02,10.00,EUR\n\
         {tom},imp-3,2026-03-03,5.00,EUR\n\
         {ann},imp-4,2026-03-04,7.50,EUR\n"
    );
    std::fs::write(&file, csv).unwrap();
    let client = ClientArgs {
        server: suite.endpoint(),
        api_key: None,
        json: false,
    };
    let report = record_transactions_file(
        &client,
        &ImportTransactionsArgs {
            file,
            batch: 2,
            strict: false,
        },
    )
    .await
    .expect("the import goes on past the shared row");
    assert_eq!((report.rows, report.created, report.rejected), (4, 3, 1));
    assert_eq!(report.errors.len(), 1);
    assert!(
        report.errors[0].starts_with("line 3: "),
        "{:?}",
        report.errors
    );
    assert!(report.errors[0].contains(&ann) && report.errors[0].contains(&tom));
    let tom_value = differentiation
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: by_id(&tom),
        })
        .await
        .unwrap()
        .into_inner()
        .value
        .unwrap();
    assert_eq!(tom_value.order_count, 1);

    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_shared_identifier_is_a_failed_precondition_on_sqlite() {
    a_shared_identifier_is_a_failed_precondition(Backend::Embedded).await;
}

#[tokio::test]
async fn a_shared_identifier_is_a_failed_precondition_on_postgres() {
    a_shared_identifier_is_a_failed_precondition(Backend::Postgres).await;
}
