//! The purchase summaries kept per customer give a refit exactly what folding the
//! purchases themselves gives: on the CDNOW sample (recorded one by one in shuffled
//! order and in bulk), after a merge, an unmerge and an erasure, and when the
//! migration backfills them from purchases stored before it. On SQLite and PostgreSQL.

use std::path::Path;

use idic_differentiation::domain::{Amount, OrderLine, Transaction, TransactionKind};
use idic_differentiation::store::{
    DifferentiationStore, MIGRATIONS, PurchaseDays, SqlDifferentiationStore,
};
use idic_runtime::ServiceName;
use idic_runtime::storage::Migrations;
use idic_testkit::{Backend, TestDatabase};

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Every purchase of the CDNOW sample (2,357 customers, 6,919 purchases; see
/// `crates/idic-value/tests/cdnow.rs` for the source), at a time of day that varies
/// from line to line so that same-day purchases are not at the same instant, plus a
/// few returns and purchases in a second currency that a refit in USD must ignore.
fn cdnow_transactions() -> Vec<Transaction> {
    let text = include_str!("../../../crates/idic-value/testdata/CDNOW_sample.txt");
    let mut transactions = Vec::new();
    for (line_no, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let customer: u32 = fields[0].parse().unwrap();
        let date: i64 = fields[2].parse().unwrap();
        let day = days_from_civil(date / 10_000, date / 100 % 100, date % 100);
        let (dollars, cents) = fields[4].split_once('.').unwrap_or((fields[4], "0"));
        let amount = dollars.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap();
        let line_no = line_no as i64;
        let transaction = Transaction {
            order_id: format!("cdnow-{line_no}"),
            kind: TransactionKind::Purchase,
            customer_id: format!("cus_{customer:05}"),
            anchor: format!("loyalty:{customer}"),
            occurred_at_micros: day * DAY + (line_no % 23) * HOUR,
            amount: Amount {
                currency: "USD".into(),
                minor_units: amount,
            },
            margin_minor: None,
            lines: vec![OrderLine {
                product: "cd".into(),
                category: "music".into(),
                quantity: 1,
                amount_minor: amount,
            }],
            channel: 0,
            commitment_months: 0,
        };
        if line_no % 97 == 0 {
            let mut returned = transaction.clone();
            returned.kind = TransactionKind::Return;
            returned.amount.minor_units = -amount;
            returned.occurred_at_micros += DAY;
            transactions.push(returned);
        }
        if line_no % 89 == 0 {
            let mut other_currency = transaction.clone();
            other_currency.order_id = format!("cdnow-{line_no}-eur");
            other_currency.amount.currency = "EUR".into();
            transactions.push(other_currency);
        }
        transactions.push(transaction);
    }
    transactions
}

/// A fixed shuffle (a multiplicative permutation of the indexes).
fn shuffled<T: Clone>(items: &[T]) -> Vec<T> {
    let count = items.len();
    let step = 7_919; // prime
    assert_eq!(gcd(step, count), 1);
    (0..count)
        .map(|i| items[(i * step) % count].clone())
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Both paths agree for every currency, and the refit's read takes the summaries.
async fn assert_paths_agree(store: &SqlDifferentiationStore, expected_customers: usize) {
    let mut seen = 0;
    for currency in ["USD", "EUR"] {
        let kept = store.purchase_days_from_summaries(currency).await.unwrap();
        let folded = store
            .purchase_days_from_purchases(currency, i64::MAX)
            .await
            .unwrap();
        assert_eq!(kept, folded, "{currency}");
        assert_eq!(
            store.purchase_days_until(currency, i64::MAX).await.unwrap(),
            kept
        );
        if currency == "USD" {
            seen = kept.len();
        }
    }
    assert_eq!(seen, expected_customers);
}

async fn summaries_match_purchases(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Differentiation, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlDifferentiationStore::new(test_database.database.clone());
    let transactions = cdnow_transactions();
    // Customers with an id ending in 1 or 7 one by one in shuffled order (days out of order, days
    // between the first and the last, first days moving earlier), the rest in bulk.
    let (single, bulk): (Vec<Transaction>, Vec<Transaction>) = transactions
        .iter()
        .cloned()
        .partition(|t| t.customer_id.ends_with(['1', '7']));
    for transaction in shuffled(&single) {
        assert!(store.insert_transaction(&transaction).await.unwrap());
    }
    // A retried order changes no summary.
    assert!(!store.insert_transaction(&single[0]).await.unwrap());
    for chunk in bulk.chunks(1_000) {
        store.insert_transactions_bulk(chunk).await.unwrap();
    }
    assert_paths_agree(&store, 2357).await;

    // Where no purchase is later than the end both paths are one; before the newest
    // purchase the refit folds the purchases up to the end.
    let end = days_from_civil(1997, 9, 30) * DAY + DAY - 1;
    let calibration = store.purchase_days_until("USD", end).await.unwrap();
    assert_eq!(
        calibration,
        store
            .purchase_days_from_purchases("USD", end)
            .await
            .unwrap()
    );
    assert_ne!(
        calibration,
        store.purchase_days_from_summaries("USD").await.unwrap(),
        "some customers bought after the calibration period"
    );

    // Merge two customers, then split one anchor back out, then erase one.
    store
        .reassign_customers(&["cus_00004".into(), "cus_00021".into()], "cus_00018")
        .await
        .unwrap();
    assert_paths_agree(&store, 2355).await;
    let merged = summary_of(&store, "cus_00018").await.unwrap();
    assert!(merged.transaction_days > 3, "{merged:?}");
    assert_eq!(
        store
            .move_anchor("cus_00018", "loyalty:21", "cus_00021")
            .await
            .unwrap(),
        transactions
            .iter()
            .filter(|t| t.customer_id == "cus_00021")
            .count() as u64
    );
    assert_paths_agree(&store, 2356).await;
    store.erase_customer("cus_00018").await.unwrap();
    assert!(summary_of(&store, "cus_00018").await.is_none());
    assert_paths_agree(&store, 2355).await;
    test_database.remove().await.unwrap();
}

async fn summary_of(store: &SqlDifferentiationStore, customer: &str) -> Option<PurchaseDays> {
    store
        .purchase_days_from_summaries("USD")
        .await
        .unwrap()
        .into_iter()
        .find(|days| days.customer_id == customer)
}

#[tokio::test]
async fn summaries_match_purchases_on_sqlite() {
    summaries_match_purchases(Backend::Embedded).await;
}

#[tokio::test]
async fn summaries_match_purchases_on_postgres() {
    summaries_match_purchases(Backend::Postgres).await;
}

/// The migration that adds the table fills it from the purchases already stored.
async fn migration_backfills_summaries(backend: Backend) {
    // The schema as it was before the summaries: the first four migrations.
    let before = tempfile::tempdir().unwrap();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&migrations).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0005" {
            std::fs::copy(&path, before.path().join(&name)).unwrap();
        }
    }
    let old: &'static sqlx::migrate::Migrator = Box::leak(Box::new(
        sqlx::migrate::Migrator::new(before.path()).await.unwrap(),
    ));
    let old_schema = Migrations {
        postgres: old,
        sqlite: old,
    };
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Differentiation, &old_schema).await
    else {
        return;
    };
    let pool = &test_database.database.pool;
    let mut tx = pool.begin().await.unwrap();
    for t in cdnow_transactions() {
        sqlx::query(
            "INSERT INTO transactions (order_id, kind, customer_id, occurred_at, currency,
               amount_minor, anchor)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.order_id)
        .bind(t.kind.as_str())
        .bind(&t.customer_id)
        .bind(t.occurred_at_micros)
        .bind(&t.amount.currency)
        .bind(t.amount.minor_units)
        .bind(&t.anchor)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    // Purchases before 1970 and on the day before: the day is the floor.
    for (order, at) in [("early-1", -1), ("early-2", -DAY), ("early-3", -DAY - 1)] {
        sqlx::query(
            "INSERT INTO transactions (order_id, kind, customer_id, occurred_at, currency,
               amount_minor, anchor)
             VALUES ($1, 'purchase', 'cus_early', $2, 'USD', 100, 'loyalty:early')",
        )
        .bind(order)
        .bind(at)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    MIGRATIONS.sqlite.run(pool).await.unwrap();

    let store = SqlDifferentiationStore::new(test_database.database.clone());
    assert_paths_agree(&store, 2358).await;
    assert_eq!(
        summary_of(&store, "cus_early").await.unwrap(),
        PurchaseDays {
            customer_id: "cus_early".into(),
            first_day: -2,
            last_day: -1,
            transaction_days: 2,
            total_minor: 300,
            first_day_minor: 100,
        }
    );
    test_database.remove().await.unwrap();
}

#[tokio::test]
async fn migration_backfills_summaries_on_sqlite() {
    migration_backfills_summaries(Backend::Embedded).await;
}

#[tokio::test]
async fn migration_backfills_summaries_on_postgres() {
    migration_backfills_summaries(Backend::Postgres).await;
}
