//! Identity's merges, splits and erasures reach the bus through the transactional
//! outbox: an event committed while the bus is down is published, in order, once it is
//! back, and each only once. An erasure that never left identity would leave the
//! customer's data in every other service. On SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use idic_identity::engine::Settings;
use idic_identity::store::MIGRATIONS;
use idic_identity::{CHANGES_TOPIC, Identity, IdentityHandler, SqlIdentityStore};
use idic_matching::normalize::NormalizeOptions;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_server::IdentityService as _;
use idic_runtime::ServiceName;
use idic_runtime::bus::{EventBus as _, EventStream};
use idic_runtime::follow::IdentityChange;
use idic_runtime::outbox::spawn_relay;
use idic_testkit::bus::{UnreliableBus, assert_relayed_once, next_event, outbox_rows};
use idic_testkit::{Backend, TestDatabase};
use tokio_util::sync::CancellationToken;
use tonic::Request;

mod support;
use support::person;

async fn next_change(events: &mut EventStream) -> IdentityChange {
    IdentityChange::from_payload(&next_event(events).await.payload)
        .expect("a change identity writes")
}

async fn changes_survive_a_bus_outage(backend: Backend) {
    let Some(test_database) = TestDatabase::open(backend, ServiceName::Identity, &MIGRATIONS).await
    else {
        return;
    };
    let database = test_database.database.clone();
    let bus = Arc::new(UnreliableBus::default());
    bus.set_down(true);
    let mut events = bus.subscribe(CHANGES_TOPIC).await.unwrap();
    let stop = CancellationToken::new();
    let outbox = spawn_relay(database.clone(), bus.clone(), stop.clone());
    let identity = Identity::start(
        Arc::new(SqlIdentityStore::new(database.clone())),
        Settings {
            threshold: idic_identity::engine::MatchThreshold::Bits(22.0),
            source_trust: Default::default(),
        },
        NormalizeOptions::default(),
        outbox,
    )
    .await
    .unwrap();
    let handler = IdentityHandler::new(identity, stop.clone());

    let mut ids = Vec::new();
    for (id, given, email) in [
        ("c-1", "Astrid", "astrid@example.com"),
        ("c-2", "Nils", "nils@example.com"),
    ] {
        let response = handler
            .upsert_record(Request::new(person(id, given, email)))
            .await
            .unwrap()
            .into_inner();
        ids.push(response.customer_id);
    }
    // With the bus down, a steward's merge and an erasure are committed and answered.
    let merged = handler
        .merge(Request::new(pb::MergeRequest {
            customer_ids: ids.clone(),
            reason: "one person, two accounts".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    handler
        .erase_customer(Request::new(pb::EraseCustomerRequest {
            customer: Some(pb::CustomerRef {
                r#ref: Some(pb::customer_ref::Ref::CustomerId(
                    merged.customer_id.clone(),
                )),
            }),
            reason: "erasure request 17".into(),
        }))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        outbox_rows(&database).await,
        2,
        "the changes wait in the outbox while the bus is down"
    );

    // The bus comes back: the relay's next pass publishes both, in order.
    bus.set_down(false);
    assert_eq!(
        next_change(&mut events).await,
        IdentityChange::Merged {
            survivor: merged.customer_id.clone(),
            absorbed: merged.merged_customer_ids.clone(),
        }
    );
    assert_eq!(
        next_change(&mut events).await,
        IdentityChange::Erased {
            customer_id: merged.customer_id.clone(),
        }
    );
    assert_relayed_once(&database, &mut events, Duration::from_millis(1_500)).await;
    stop.cancel();
    test_database.remove().await.unwrap();
}

#[tokio::test]
async fn changes_committed_while_the_bus_is_down_are_published_later_on_sqlite() {
    changes_survive_a_bus_outage(Backend::Embedded).await;
}

#[tokio::test]
async fn changes_committed_while_the_bus_is_down_are_published_later_on_postgres() {
    changes_survive_a_bus_outage(Backend::Postgres).await;
}
