//! The differentiation store behaves the same on SQLite and on PostgreSQL.

use idic_differentiation::domain::{Amount, Transaction, TransactionKind};
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
