//! The differentiation store behaves the same on SQLite and on PostgreSQL.

use idic_differentiation::domain::{Amount, OrderLine, Transaction, TransactionKind};
use idic_differentiation::store::{DifferentiationStore, MIGRATIONS, SqlDifferentiationStore};
use idic_runtime::ServiceName;
use idic_testkit::{Backend, TestDatabase};

fn transaction(
    order: &str,
    kind: TransactionKind,
    at: i64,
    currency: &str,
    amount: i64,
    margin: Option<i64>,
) -> Transaction {
    Transaction {
        order_id: order.into(),
        kind,
        customer_id: "cus_1".into(),
        occurred_at_micros: at,
        amount: Amount {
            currency: currency.into(),
            minor_units: amount,
        },
        margin_minor: margin,
        anchor: "loyalty:1".into(),
        lines: vec![OrderLine {
            product: "p".into(),
            category: "books".into(),
            quantity: 1,
            amount_minor: amount,
        }],
        channel: 0,
        commitment_months: 0,
    }
}

async fn contract(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Differentiation, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlDifferentiationStore::new(test_database.database.clone());
    let empty = store.customer_value("cus_1").await.unwrap();
    assert_eq!(empty.order_count, 0);
    assert!(empty.revenue.is_empty());

    assert!(
        store
            .insert_transaction(&transaction(
                "o1",
                TransactionKind::Purchase,
                100,
                "EUR",
                5_000,
                Some(1_000)
            ))
            .await
            .unwrap()
    );
    // A retried order changes nothing, even with other figures.
    assert!(
        !store
            .insert_transaction(&transaction(
                "o1",
                TransactionKind::Purchase,
                100,
                "EUR",
                9_999,
                None
            ))
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_transaction(&transaction(
                "o2",
                TransactionKind::Purchase,
                300,
                "EUR",
                2_500,
                Some(500)
            ))
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_transaction(&transaction(
                "o2",
                TransactionKind::Return,
                400,
                "EUR",
                -2_500,
                Some(-500)
            ))
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_transaction(&transaction(
                "o3",
                TransactionKind::Purchase,
                200,
                "USD",
                700,
                None
            ))
            .await
            .unwrap()
    );

    let value = store.customer_value("cus_1").await.unwrap();
    assert_eq!(value.order_count, 3);
    assert_eq!(
        value.revenue,
        [
            Amount {
                currency: "EUR".into(),
                minor_units: 5_000
            },
            Amount {
                currency: "USD".into(),
                minor_units: 700
            }
        ]
    );
    assert_eq!(
        value.margin,
        [Amount {
            currency: "EUR".into(),
            minor_units: 1_000
        }]
    );
    assert_eq!(value.first_purchase_micros, Some(100));
    assert_eq!(value.last_purchase_micros, Some(300));
    // Lines of the return deduct nothing from purchase spend per category.
    assert_eq!(
        store.customer_category_spend("cus_1").await.unwrap(),
        [("books".to_owned(), 5_000 + 2_500 + 700)]
    );

    // Identity's changes: merge, split by anchor, erase.
    let mut other = transaction("o9", TransactionKind::Purchase, 500, "EUR", 1_000, None);
    other.customer_id = "cus_2".into();
    other.anchor = "loyalty:2".into();
    assert!(store.insert_transaction(&other).await.unwrap());
    store.reassign_customers(&["cus_2".into()], "cus_1").await.unwrap();
    // Applying the same change again changes nothing.
    store.reassign_customers(&["cus_2".into()], "cus_1").await.unwrap();
    assert_eq!(store.customer_value("cus_1").await.unwrap().order_count, 4);
    assert_eq!(
        store.anchors("cus_1").await.unwrap(),
        ["loyalty:1", "loyalty:2"]
    );
    assert_eq!(store.move_anchor("cus_1", "loyalty:2", "cus_3").await.unwrap(), 1);
    assert_eq!(store.customer_value("cus_1").await.unwrap().order_count, 3);
    assert_eq!(store.customer_value("cus_3").await.unwrap().order_count, 1);
    store.erase_customer("cus_1").await.unwrap();
    let erased = store.customer_value("cus_1").await.unwrap();
    assert_eq!(erased.order_count, 0);
    assert!(erased.revenue.is_empty());
    assert!(store.customer_category_spend("cus_1").await.unwrap().is_empty());
    assert_eq!(store.customer_value("cus_3").await.unwrap().order_count, 1);
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
