//! Differentiation's storage: a trait the domain uses, and its SQL implementation for
//! PostgreSQL and SQLite.

use async_trait::async_trait;
use idic_runtime::storage::{Database, Migrations};
use sqlx::Row;

use crate::domain::{Amount, CustomerValue, Transaction};

/// The schema, in SQL both engines accept (see `idic_runtime::storage`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub static MIGRATIONS: Migrations = Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

#[async_trait]
pub trait DifferentiationStore: Send + Sync + 'static {
    /// Historical value of `customer_id`; zero when it has no transactions.
    async fn customer_value(&self, customer_id: &str) -> anyhow::Result<CustomerValue>;

    /// Stores a transaction; one already stored under the same order id and kind is
    /// left as it is (a retried write changes nothing). True when it was new.
    async fn insert_transaction(&self, transaction: &Transaction) -> anyhow::Result<bool>;
}

pub struct SqlDifferentiationStore {
    database: Database,
}

impl SqlDifferentiationStore {
    pub fn new(database: Database) -> Self {
        SqlDifferentiationStore { database }
    }
}

#[async_trait]
impl DifferentiationStore for SqlDifferentiationStore {
    async fn customer_value(&self, customer_id: &str) -> anyhow::Result<CustomerValue> {
        // SUM of BIGINT is NUMERIC in PostgreSQL: cast back so both engines agree.
        let rows = sqlx::query(
            "SELECT currency,
                    CAST(SUM(amount_minor) AS BIGINT),
                    CAST(SUM(margin_minor) AS BIGINT),
                    CAST(SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END) AS BIGINT),
                    MIN(CASE WHEN kind = 'purchase' THEN occurred_at END),
                    MAX(CASE WHEN kind = 'purchase' THEN occurred_at END)
             FROM transactions WHERE customer_id = $1
             GROUP BY currency ORDER BY currency",
        )
        .bind(customer_id)
        .fetch_all(&self.database.pool)
        .await?;
        let mut value = CustomerValue {
            customer_id: customer_id.to_owned(),
            ..CustomerValue::default()
        };
        for row in rows {
            let currency: String = row.get(0);
            value.revenue.push(Amount {
                currency: currency.clone(),
                minor_units: row.get(1),
            });
            if let Some(margin) = row.get::<Option<i64>, _>(2) {
                value.margin.push(Amount {
                    currency,
                    minor_units: margin,
                });
            }
            value.order_count += u64::try_from(row.get::<i64, _>(3)).unwrap_or_default();
            let first: Option<i64> = row.get(4);
            let last: Option<i64> = row.get(5);
            value.first_purchase_micros = min_some(value.first_purchase_micros, first);
            value.last_purchase_micros = value.last_purchase_micros.max(last);
        }
        Ok(value)
    }

    async fn insert_transaction(&self, transaction: &Transaction) -> anyhow::Result<bool> {
        let result = sqlx::query(
            "INSERT INTO transactions
               (order_id, kind, customer_id, occurred_at, currency, amount_minor, margin_minor)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (order_id, kind) DO NOTHING",
        )
        .bind(&transaction.order_id)
        .bind(transaction.kind.as_str())
        .bind(&transaction.customer_id)
        .bind(transaction.occurred_at_micros)
        .bind(&transaction.amount.currency)
        .bind(transaction.amount.minor_units)
        .bind(transaction.margin_minor)
        .execute(&self.database.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
