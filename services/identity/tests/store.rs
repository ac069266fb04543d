//! The identity store behaves the same on SQLite and on PostgreSQL.

use idic_identity::domain::{GoldenRecord, IdentifierKey, SourceRecordRef};
use idic_identity::store::{IdentityStore, MIGRATIONS, NewRecord, SqlIdentityStore};
use idic_runtime::ServiceName;
use idic_testkit::{Backend, TestDatabase};

async fn contract(backend: Backend) {
    let Some(test_database) = TestDatabase::open(backend, ServiceName::Identity, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlIdentityStore::new(test_database.database.clone());
    let golden = GoldenRecord {
        given_name: "Ann".into(),
        family_name: "Lee".into(),
        emails: vec!["ann@example.com".into()],
        ..GoldenRecord::default()
    };
    store
        .insert_customer("cus_1", &golden, 1_000)
        .await
        .unwrap();
    store
        .insert_customer("cus_2", &GoldenRecord::default(), 2_000)
        .await
        .unwrap();
    let email = IdentifierKey::normalized(1, "", "Ann@Example.com");
    let record = |id: &str, customer: &str, observed: i64| NewRecord {
        source: SourceRecordRef {
            source_system: "crm".into(),
            source_record_id: id.into(),
            channel: 1,
            observed_at_micros: observed,
        },
        customer_id: customer.into(),
        record_json: "{}".into(),
        identifiers: vec![email.clone()],
    };
    store
        .upsert_record(&record("r1", "cus_1", 10))
        .await
        .unwrap();
    // Re-sending the same source record replaces it rather than adding one.
    store
        .upsert_record(&record("r1", "cus_1", 20))
        .await
        .unwrap();
    store.insert_alias("cus_old", "cus_1").await.unwrap();

    assert_eq!(
        store.surviving_id("cus_1").await.unwrap().as_deref(),
        Some("cus_1")
    );
    assert_eq!(
        store.surviving_id("cus_old").await.unwrap().as_deref(),
        Some("cus_1")
    );
    assert_eq!(store.surviving_id("cus_none").await.unwrap(), None);
    assert_eq!(
        store.customers_with_identifier(&email).await.unwrap(),
        ["cus_1"]
    );

    let customer = store.customer("cus_1").await.unwrap().expect("stored");
    assert_eq!(customer.golden, golden);
    assert_eq!(customer.records.len(), 1);
    assert_eq!(customer.records[0].observed_at_micros, 20);
    assert_eq!(customer.aliases, ["cus_old"]);
    assert_eq!(customer.created_at_micros, 1_000);

    // A second customer sharing the identifier (a household e-mail) is found too.
    store
        .upsert_record(&record("r2", "cus_2", 30))
        .await
        .unwrap();
    assert_eq!(
        store.customers_with_identifier(&email).await.unwrap(),
        ["cus_1", "cus_2"]
    );
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
