//! The interaction store behaves the same on SQLite and on PostgreSQL.

use idic_interaction::domain::{Interaction, TimelineCursor};
use idic_interaction::store::{InteractionStore, MIGRATIONS, SqlInteractionStore};
use idic_runtime::ServiceName;
use idic_testkit::{Backend, TestDatabase};

fn interaction(id: &str, key: &str, at: i64) -> Interaction {
    Interaction {
        interaction_id: id.into(),
        idempotency_key: key.into(),
        customer_id: "cus_1".into(),
        channel: 1,
        kind: 8,
        direction: 1,
        occurred_at_micros: at,
        thread_id: "t1".into(),
        topic: "late delivery".into(),
        summary: "parcel two days late".into(),
    }
}

async fn contract(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Interaction, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlInteractionStore::new(test_database.database.clone());
    store.insert(&interaction("i1", "k1", 100)).await.unwrap();
    store.insert(&interaction("i2", "k2", 300)).await.unwrap();
    store.insert(&interaction("i3", "k3", 300)).await.unwrap();
    store.insert(&interaction("i4", "k4", 200)).await.unwrap();
    // A retry with the same idempotency key returns the first interaction, stores nothing.
    let retried = store.insert(&interaction("i9", "k1", 999)).await.unwrap();
    assert_eq!(retried.interaction_id, "i1");
    assert_eq!(retried.occurred_at_micros, 100);

    let first = store.timeline("cus_1", None, 2).await.unwrap();
    let ids: Vec<_> = first
        .iter()
        .map(|item| item.interaction_id.as_str())
        .collect();
    assert_eq!(ids, ["i3", "i2"], "newest first, ties by id");
    let cursor = TimelineCursor::of(first.last().unwrap());
    let second = store.timeline("cus_1", Some(&cursor), 10).await.unwrap();
    let ids: Vec<_> = second
        .iter()
        .map(|item| item.interaction_id.as_str())
        .collect();
    assert_eq!(ids, ["i4", "i1"]);
    assert!(store.timeline("cus_2", None, 10).await.unwrap().is_empty());
    test_database.remove().await.unwrap();
}

#[tokio::test]
async fn store_contract_on_sqlite() {
    contract(Backend::Embedded).await;
}

#[tokio::test]
async fn store_contract_on_postgres() {
    contract(Backend::Postgres).await;
}
