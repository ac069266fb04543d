//! Each service's first read RPC, end to end from gRPC to storage, on the embedded
//! default and on PostgreSQL with Redis. Data is seeded through the services' stores
//! (identity through its write RPCs; the other services' write RPCs arrive with later
//! issues); references resolve through identity.

use idic_differentiation::domain::{Amount, Transaction, TransactionKind};
use idic_differentiation::store::{DifferentiationStore, SqlDifferentiationStore};
use idic_proto::v1 as pb;
use idic_proto::v1::{
    CustomerRef, GetCustomerRequest, GetCustomerValueRequest, Identifier, IdentifierKind,
    ListComponentsRequest, ListTimelineRequest, PageRequest, Slot, customer_ref,
};
use idic_runtime::ServiceName;
use idic_runtime::storage::connect;
use idic_testkit::{Backend, SuiteOptions, TestSuite};

fn by_id(id: &str) -> Option<CustomerRef> {
    Some(CustomerRef {
        r#ref: Some(customer_ref::Ref::CustomerId(id.to_owned())),
    })
}

fn by_email(email: &str) -> Option<CustomerRef> {
    Some(CustomerRef {
        r#ref: Some(customer_ref::Ref::Identifier(Identifier {
            kind: IdentifierKind::Email as i32,
            value: email.to_owned(),
            ..Identifier::default()
        })),
    })
}

/// Ann through the identity API, plus a second customer merged into her, so that
/// she has an alias. Returns (customer id, alias).
async fn seed_identity(suite: &TestSuite) -> (String, String) {
    let mut identity = suite.identity();
    let record = |system: &str, id: &str, given: &str, email: &str| pb::SourceRecord {
        source_system: system.into(),
        source_record_id: id.into(),
        channel: pb::Channel::Web as i32,
        name: Some(pb::PersonName {
            given: given.into(),
            family: "Lee".into(),
            ..Default::default()
        }),
        emails: vec![email.into()],
        ..Default::default()
    };
    let ann = identity
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(record("webshop", "u-17", "Ann", "ann.lee@example.com")),
            strict: false,
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id;
    let other = identity
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(record("crm", "c-3", "A.", "a.lee@work.example")),
            strict: false,
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id;
    assert_ne!(ann, other);
    identity
        .merge(pb::MergeRequest {
            customer_ids: vec![ann.clone(), other.clone()],
            reason: "same person".into(),
        })
        .await
        .unwrap();
    (ann, other)
}

async fn seed_the_rest(suite: &TestSuite, customer_id: &str) {
    let differentiation = SqlDifferentiationStore::new(
        connect(
            &suite.config,
            ServiceName::Differentiation,
            &idic_differentiation::store::MIGRATIONS,
        )
        .await
        .unwrap(),
    );
    for (order, amount) in [("o-1", 4_200), ("o-2", 1_300)] {
        differentiation
            .insert_transaction(&Transaction {
                order_id: order.into(),
                kind: TransactionKind::Purchase,
                customer_id: customer_id.into(),
                occurred_at_micros: 1_700_000_100_000_000,
                amount: Amount {
                    currency: "EUR".into(),
                    minor_units: amount,
                },
                margin_minor: None,
                anchor: customer_id.into(),
                lines: Vec::new(),
                channel: 0,
                commitment_months: 0,
            })
            .await
            .unwrap();
    }
    // Interactions arrive through RecordInteraction, keyed by their idempotency keys.
    for n in 0..3 {
        suite
            .interaction()
            .record_interaction(pb::RecordInteractionRequest {
                customer: by_id(customer_id),
                channel: pb::Channel::CallCenter as i32,
                r#type: pb::InteractionType::Call as i32,
                direction: pb::Direction::Inbound as i32,
                occurred_at: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: n * 1_000,
                }),
                topic: "delivery".into(),
                summary: format!("call {n}"),
                idempotency_key: format!("key-{n}"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let components = [
        ("packaging.eco", Slot::Packaging),
        ("delivery.express", Slot::Delivery),
    ]
    .into_iter()
    .map(|(id, slot)| pb::Component {
        component_id: id.into(),
        slot: slot as i32,
        name: id.into(),
        cost: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: 150,
        }),
        available: true,
        ..Default::default()
    })
    .collect();
    suite
        .customization()
        .upsert_components(pb::UpsertComponentsRequest { components })
        .await
        .unwrap();
}

async fn read_paths(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let (ann, alias) = seed_identity(&suite).await;
    seed_the_rest(&suite, &ann).await;

    // Identity: by id, by alias, by identifier in any case; unknown is NOT_FOUND.
    for reference in [by_id(&ann), by_id(&alias), by_email("Ann.Lee@EXAMPLE.com")] {
        let customer = suite
            .identity()
            .get_customer(GetCustomerRequest {
                customer: reference,
            })
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap();
        assert_eq!(customer.customer_id, ann);
        assert_eq!(customer.aliases, std::slice::from_ref(&alias));
        assert_eq!(customer.golden.unwrap().family_name, "Lee");
        assert_eq!(customer.records.len(), 2);
    }
    let unknown = suite
        .identity()
        .get_customer(GetCustomerRequest {
            customer: by_id("cus_nobody"),
        })
        .await;
    assert_eq!(unknown.unwrap_err().code(), tonic::Code::NotFound);

    // Differentiation resolves the e-mail through identity, then sums the orders.
    let value = suite
        .differentiation()
        .get_customer_value(GetCustomerValueRequest {
            customer: by_email("ann.lee@example.com"),
        })
        .await
        .unwrap()
        .into_inner()
        .value
        .unwrap();
    assert_eq!(value.customer_id, ann);
    assert_eq!(value.order_count, 2);
    assert_eq!(value.revenue[0].minor_units, 5_500);

    // Interaction pages the timeline, newest first, by the old id.
    let first = suite
        .interaction()
        .list_timeline(ListTimelineRequest {
            customer: by_id(&alias),
            page: Some(PageRequest {
                page_size: 2,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.customer_id, ann);
    let summaries: Vec<_> = first
        .interactions
        .iter()
        .map(|i| i.summary.as_str())
        .collect();
    assert_eq!(summaries, ["call 2", "call 1"]);
    let token = first.page.unwrap().next_page_token;
    let second = suite
        .interaction()
        .list_timeline(ListTimelineRequest {
            customer: by_id(&ann),
            page: Some(PageRequest {
                page_size: 2,
                page_token: token,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.interactions.len(), 1);
    assert!(second.page.unwrap().next_page_token.is_empty());

    // Customization lists the catalog by slot.
    let packaging = suite
        .customization()
        .list_components(ListComponentsRequest {
            slot: Slot::Packaging as i32,
            page: None,
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = packaging
        .components
        .iter()
        .map(|c| c.component_id.as_str())
        .collect();
    assert_eq!(ids, ["packaging.eco"]);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn read_paths_on_the_embedded_default() {
    read_paths(Backend::Embedded).await;
}

#[tokio::test]
async fn read_paths_on_postgres_and_redis() {
    read_paths(Backend::Postgres).await;
}
