//! Migration 0007 rewrites the anchors differentiation stored in its own format
//! (`email:x`, `loyalty:x`, `system:x`, a bare customer id) into the suite's one format
//! (`CustomerSelector::anchor`), on SQLite and PostgreSQL, so that a split in identity
//! still resolves every stored row.

use idic_differentiation::domain::{Amount, Preference, Transaction, TransactionKind};
use idic_differentiation::store::{DifferentiationStore, MIGRATIONS, SqlDifferentiationStore};
use idic_proto::v1::IdentifierKind;
use idic_runtime::ServiceName;
use idic_runtime::refs::CustomerSelector;
use idic_testkit::{Backend, TestDatabase};

const MIGRATION: &str = include_str!("../migrations/0007_one_anchor_format.sql");

fn purchase(order: &str, anchor: &str) -> Transaction {
    Transaction {
        order_id: order.into(),
        kind: TransactionKind::Purchase,
        customer_id: "cus_1".into(),
        anchor: anchor.into(),
        occurred_at_micros: 1_700_000_000_000_000,
        amount: Amount {
            currency: "EUR".into(),
            minor_units: 1000,
        },
        margin_minor: None,
        lines: Vec::new(),
        channel: 0,
        commitment_months: 0,
    }
}

async fn rewrites_old_anchors(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Differentiation, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlDifferentiationStore::new(test_database.database.clone());
    // Anchors as differentiation wrote them before the migration.
    let old = [
        ("o1", "cus_1"),
        ("o2", "email:ann@example.com"),
        ("o3", "phone:+44 20 7946 0000"),
        ("o4", "loyalty:L-77"),
        ("o5", "account:AC-1"),
        ("o6", "device:d-9"),
        ("o7", "national:123"),
        ("o8", "address:1, Main Street, Leeds"),
        ("o9", "segment:user:42"),
        ("o10", ""),
    ];
    for (order, anchor) in old {
        store
            .insert_transaction(&purchase(order, anchor))
            .await
            .unwrap();
    }
    store
        .insert_preference(&Preference {
            interaction_id: "int_1".into(),
            key: "gift-wrap".into(),
            customer_id: "cus_1".into(),
            anchor: "loyalty:L-77".into(),
            value: "yes".into(),
            channel: 0,
            expressed_at_micros: 1,
        })
        .await
        .unwrap();

    for statement in MIGRATION.split(';').filter(|sql| !sql.trim().is_empty()) {
        sqlx::query(statement)
            .execute(&test_database.database.pool)
            .await
            .unwrap();
    }

    let selector = |kind: IdentifierKind, system: &str, value: &str| {
        CustomerSelector::Identifier {
            kind,
            system: system.into(),
            value: value.into(),
        }
        .anchor()
    };
    let mut expected = vec![
        CustomerSelector::Id("cus_1".into()).anchor(),
        selector(IdentifierKind::Email, "", "ann@example.com"),
        selector(IdentifierKind::Phone, "", "+44 20 7946 0000"),
        selector(IdentifierKind::LoyaltyId, "", "L-77"),
        selector(IdentifierKind::AccountCode, "", "AC-1"),
        selector(IdentifierKind::DeviceId, "", "d-9"),
        selector(IdentifierKind::NationalId, "", "123"),
        selector(IdentifierKind::PostalAddress, "", "1, Main Street, Leeds"),
        selector(IdentifierKind::ExternalId, "segment", "user:42"),
    ];
    expected.sort();
    // The empty anchor (rows from before anchors were kept) stays empty, and is no
    // anchor to re-resolve.
    // Sorted here: PostgreSQL orders text by the database's collation.
    let mut anchors = store.anchors("cus_1").await.unwrap();
    anchors.sort();
    assert_eq!(anchors, expected);
    for anchor in &expected {
        assert!(
            CustomerSelector::from_anchor(anchor).is_some(),
            "{anchor} does not parse"
        );
    }
    let preferences = store.preferences("cus_1").await.unwrap();
    assert_eq!(preferences[0].anchor, "LOYALTY_ID:L-77");
    test_database.remove().await.unwrap();
}

#[tokio::test]
async fn rewrites_old_anchors_on_sqlite() {
    rewrites_old_anchors(Backend::Embedded).await;
}

#[tokio::test]
async fn rewrites_old_anchors_on_postgres() {
    rewrites_old_anchors(Backend::Postgres).await;
}
