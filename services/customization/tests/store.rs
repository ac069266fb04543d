//! The customization store behaves the same on SQLite and on PostgreSQL.

use idic_customization::domain::Component;
use idic_customization::store::{CustomizationStore, MIGRATIONS, SqlCustomizationStore};
use idic_runtime::ServiceName;
use idic_testkit::{Backend, TestDatabase};

fn component(id: &str, slot: i32, available: bool) -> Component {
    Component {
        component_id: id.into(),
        slot,
        name: id.into(),
        description: String::new(),
        cost_currency: "EUR".into(),
        cost_minor: 120,
        available,
    }
}

async fn contract(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Customization, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlCustomizationStore::new(test_database.database.clone());
    for (id, slot) in [
        ("packaging.eco", 2),
        ("packaging.gift", 2),
        ("delivery.express", 4),
        ("packaging.bulk", 2),
    ] {
        store
            .upsert_component(&component(id, slot, true))
            .await
            .unwrap();
    }
    store
        .upsert_component(&component("packaging.gift", 2, false))
        .await
        .unwrap();

    let packaging = store.components(Some(2), None, 2).await.unwrap();
    let ids: Vec<_> = packaging.iter().map(|c| c.component_id.as_str()).collect();
    assert_eq!(ids, ["packaging.bulk", "packaging.eco"]);
    let rest = store
        .components(Some(2), Some("packaging.eco"), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert!(!rest[0].available, "the upsert replaced the component");
    assert_eq!(store.components(None, None, 10).await.unwrap().len(), 4);
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
