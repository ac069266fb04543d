//! The differentiation store behaves the same on SQLite and on PostgreSQL.

use idic_differentiation::domain::{
    Amount, BaseSnapshot, OrderLine, Segment, SkewSnapshot, Transaction, TransactionKind,
};
use idic_differentiation::store::{
    DifferentiationStore, MIGRATIONS, PurchaseDays, SqlDifferentiationStore,
};
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
    store
        .reassign_customers(&["cus_2".into()], "cus_1")
        .await
        .unwrap();
    // Applying the same change again changes nothing.
    store
        .reassign_customers(&["cus_2".into()], "cus_1")
        .await
        .unwrap();
    assert_eq!(store.customer_value("cus_1").await.unwrap().order_count, 4);
    assert_eq!(
        store.anchors("cus_1").await.unwrap(),
        ["loyalty:1", "loyalty:2"]
    );
    assert_eq!(
        store
            .move_anchor("cus_1", "loyalty:2", "cus_3")
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.customer_value("cus_1").await.unwrap().order_count, 3);
    assert_eq!(store.customer_value("cus_3").await.unwrap().order_count, 1);
    store.erase_customer("cus_1").await.unwrap();
    let erased = store.customer_value("cus_1").await.unwrap();
    assert_eq!(erased.order_count, 0);
    assert!(erased.revenue.is_empty());
    assert!(
        store
            .customer_category_spend("cus_1")
            .await
            .unwrap()
            .is_empty()
    );
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

const DAY: i64 = 86_400_000_000;

fn purchase_of(customer: &str, order: &str, at: i64, currency: &str, amount: i64) -> Transaction {
    let mut purchase = transaction(order, TransactionKind::Purchase, at, currency, amount, None);
    purchase.customer_id = customer.into();
    purchase
}

/// What a refit reads: per customer, purchases of one currency up to the end grouped
/// by UTC day, the first day's amount apart (before 1970 too).
async fn purchase_days(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Differentiation, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlDifferentiationStore::new(test_database.database.clone());
    let transactions = [
        // cus_a: two purchases on its first day (one just before midnight), one a
        // week later, a return, one in another currency and one after the end.
        purchase_of("cus_a", "a1", 10 * DAY + 5, "EUR", 1_000),
        purchase_of("cus_a", "a2", 11 * DAY - 1, "EUR", 500),
        purchase_of("cus_a", "a3", 17 * DAY, "EUR", 2_000),
        purchase_of("cus_a", "a4", 17 * DAY + 3, "USD", 9_999),
        purchase_of("cus_a", "a5", 40 * DAY, "EUR", 7_777),
        // cus_b: before 1970, the first day is the day before the epoch.
        purchase_of("cus_b", "b1", -1, "EUR", 300),
        purchase_of("cus_b", "b2", -DAY, "EUR", 200),
        purchase_of("cus_b", "b3", 0, "EUR", 400),
        // cus_c: its first day is the last one, and half of it is after the end.
        purchase_of("cus_c", "c1", 30 * DAY, "EUR", 600),
        purchase_of("cus_c", "c2", 30 * DAY + 5_000, "EUR", 800),
    ];
    for transaction in &transactions {
        assert!(store.insert_transaction(transaction).await.unwrap());
    }
    let mut refund = purchase_of("cus_a", "a3", 18 * DAY, "EUR", -2_000);
    refund.kind = TransactionKind::Return;
    assert!(store.insert_transaction(&refund).await.unwrap());

    let days = store
        .purchase_days_until("EUR", 30 * DAY + 1_000)
        .await
        .unwrap();
    assert_eq!(
        days,
        [
            PurchaseDays {
                customer_id: "cus_a".into(),
                first_day: 10,
                last_day: 17,
                transaction_days: 2,
                total_minor: 3_500,
                first_day_minor: 1_500,
            },
            PurchaseDays {
                customer_id: "cus_b".into(),
                first_day: -1,
                last_day: 0,
                transaction_days: 2,
                total_minor: 900,
                first_day_minor: 500,
            },
            PurchaseDays {
                customer_id: "cus_c".into(),
                first_day: 30,
                last_day: 30,
                transaction_days: 1,
                total_minor: 600,
                first_day_minor: 600,
            },
        ]
    );
    assert!(
        store
            .purchase_days_until("GBP", 30 * DAY)
            .await
            .unwrap()
            .is_empty()
    );
    test_database.remove().await.unwrap();
}

#[tokio::test]
async fn purchase_days_on_sqlite() {
    purchase_days(Backend::Embedded).await;
}

#[tokio::test]
async fn purchase_days_on_postgres() {
    purchase_days(Backend::Postgres).await;
}

/// The base-wide figures are kept in memory between calls, and a refit in the same
/// process replaces them at once.
async fn base_figures_follow_a_refit(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Differentiation, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlDifferentiationStore::new(test_database.database.clone());
    assert_eq!(store.segment("seg-books").await.unwrap(), None);
    assert!(store.category_shares().await.unwrap().is_empty());
    let segment = Segment {
        segment_id: "seg-books".into(),
        label: "books".into(),
        customers: 1,
    };
    let snapshot = BaseSnapshot {
        computed_at_micros: 1,
        skew: SkewSnapshot::of_values(&[], &[], 1, "predicted_clv"),
        needs_differentiation: 0.0,
        needs_segments: 1,
    };
    store
        .replace_scores(
            &[],
            std::slice::from_ref(&segment),
            &[("books".into(), 1.0)],
            &snapshot,
        )
        .await
        .unwrap();
    assert_eq!(store.segment("seg-books").await.unwrap(), Some(segment));
    assert_eq!(
        store.category_shares().await.unwrap(),
        [("books".to_owned(), 1.0)]
    );
    test_database.remove().await.unwrap();
}

#[tokio::test]
async fn base_figures_follow_a_refit_on_sqlite() {
    base_figures_follow_a_refit(Backend::Embedded).await;
}

#[tokio::test]
async fn base_figures_follow_a_refit_on_postgres() {
    base_figures_follow_a_refit(Backend::Postgres).await;
}

/// Rows stored before amounts were bounded (two of `i64::MAX`, two of `i64::MIN`) must
/// not make a read fail: the sums saturate instead of overflowing in SQL.
async fn sums_saturate(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Differentiation, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlDifferentiationStore::new(test_database.database.clone());
    for (order, amount) in [("o1", i64::MAX), ("o2", i64::MAX)] {
        let purchase = transaction(order, TransactionKind::Purchase, 100, "EUR", amount, None);
        store.insert_transaction(&purchase).await.unwrap();
    }
    for (order, amount) in [("o3", i64::MIN), ("o4", i64::MIN)] {
        let purchase = transaction(order, TransactionKind::Purchase, 100, "USD", amount, None);
        store.insert_transaction(&purchase).await.unwrap();
    }
    let value = store.customer_value("cus_1").await.unwrap();
    let revenue: Vec<i64> = value
        .revenue
        .iter()
        .map(|amount| amount.minor_units)
        .collect();
    assert_eq!(revenue, [i64::MAX, i64::MIN]);
    let spend = store.customer_category_spend("cus_1").await.unwrap();
    // Category spend adds every purchase line: exact even when the partial sums leave
    // the i64 range (MAX + MAX + MIN + MIN = -2).
    assert_eq!(spend, [("books".to_owned(), -2)]);
    let by_customer = store.net_revenue_by_customer("EUR").await.unwrap();
    assert_eq!(by_customer.len(), 1);
}

#[tokio::test]
async fn sums_saturate_on_sqlite() {
    sums_saturate(Backend::Embedded).await;
}

#[tokio::test]
async fn sums_saturate_on_postgres() {
    sums_saturate(Backend::Postgres).await;
}
