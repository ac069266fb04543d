//! New interactions reach the bus through the transactional outbox: written with the
//! interactions, published by the relay after the commit, even when the relay was not
//! running at the time (a crash) or the bus failed for a while; duplicates announce
//! nothing. On SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use idic_interaction::domain::{Interaction, NewInteraction, ThreadRequest};
use idic_interaction::recorder::INTERACTIONS_TOPIC;
use idic_interaction::store::{InteractionStore, MIGRATIONS, SqlInteractionStore};
use idic_proto::v1 as pb;
use idic_runtime::ServiceName;
use idic_runtime::bus::{EventBus as _, EventStream};
use idic_runtime::outbox::spawn_relay;
use idic_testkit::bus::{UnreliableBus, assert_relayed_once, next_event, outbox_rows};
use idic_testkit::{Backend, TestDatabase};
use prost::Message as _;
use tokio_util::sync::CancellationToken;

fn new_interaction(id: &str, key: &str) -> NewInteraction {
    NewInteraction {
        interaction: Interaction {
            interaction_id: id.into(),
            idempotency_key: key.into(),
            customer_id: "cus_outbox".into(),
            anchor: "id:cus_outbox".into(),
            channel: 1,
            kind: 1,
            direction: 1,
            occurred_at_micros: 1_700_000_000_000_000,
            recorded_at_micros: 1_700_000_000_000_000,
            thread_id: String::new(),
            thread_status: 0,
            topic: "billing".into(),
            summary: String::new(),
            needs: Vec::new(),
            outcome: String::new(),
            sentiment: 0,
            agent: String::new(),
            cost: None,
            automated: false,
        },
        thread: ThreadRequest::None,
        requested_status: 0,
    }
}

async fn next_interaction_id(events: &mut EventStream) -> String {
    let event = next_event(events).await;
    pb::InteractionEvent::decode(event.payload.as_slice())
        .expect("an InteractionEvent")
        .interaction
        .expect("with its interaction")
        .interaction_id
}

async fn relays_what_was_committed(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Interaction, &MIGRATIONS).await
    else {
        return;
    };
    let database = test_database.database.clone();
    let store = SqlInteractionStore::new(database.clone());

    // Written while no relay runs, as if the process had died right after the commit.
    store
        .write_group(vec![
            new_interaction("int_1", "key-1"),
            new_interaction("int_2", "key-2"),
        ])
        .await
        .unwrap();
    // A retry announces nothing more.
    store
        .write_group(vec![new_interaction("int_1", "key-1")])
        .await
        .unwrap();
    assert_eq!(outbox_rows(&database).await, 2);

    // The next start relays them, in order, through a bus that fails at first.
    let bus = Arc::new(UnreliableBus::failing_next(1));
    let mut events = bus.subscribe(INTERACTIONS_TOPIC).await.unwrap();
    let stop = CancellationToken::new();
    let outbox = spawn_relay(database.clone(), bus.clone(), stop.clone());
    assert_eq!(next_interaction_id(&mut events).await, "int_1");
    assert_eq!(next_interaction_id(&mut events).await, "int_2");

    // A commit while it runs leaves at once when the relay is woken.
    store
        .write_group(vec![new_interaction("int_3", "key-3")])
        .await
        .unwrap();
    outbox.wake();
    assert_eq!(next_interaction_id(&mut events).await, "int_3");
    assert_relayed_once(&database, &mut events, Duration::from_millis(300)).await;

    // Writes keep succeeding while the relay deletes what it sent: on SQLite a relay
    // commit between a group's first read and first write conflicts, and the group is
    // written again.
    let writer = async {
        for group in 0..100 {
            let items = (0..20)
                .map(|n| {
                    let id = format!("int_g{group}_{n}");
                    new_interaction(&id, &id)
                })
                .collect();
            store
                .write_group(items)
                .await
                .expect("every group is stored");
            outbox.wake();
        }
    };
    let reader = async {
        for _ in 0..2_000 {
            next_interaction_id(&mut events).await;
        }
    };
    tokio::join!(writer, reader);
    stop.cancel();
    test_database.remove().await.unwrap();
}

#[tokio::test]
async fn outbox_relays_committed_interactions_on_sqlite() {
    relays_what_was_committed(Backend::Embedded).await;
}

#[tokio::test]
async fn outbox_relays_committed_interactions_on_postgres() {
    relays_what_was_committed(Backend::Postgres).await;
}
