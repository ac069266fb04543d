//! Identity's storage: a trait the domain uses, and its SQL implementation for
//! PostgreSQL and SQLite.

use anyhow::Context as _;
use async_trait::async_trait;
use idic_runtime::storage::{Backend, Database, Migrations};
use sqlx::Row;

use crate::domain::{Customer, GoldenRecord, IdentifierKey, SourceRecordRef};

pub static MIGRATIONS: Migrations = Migrations {
    postgres: &sqlx::migrate!("./migrations/postgres"),
    sqlite: &sqlx::migrate!("./migrations/sqlite"),
};

/// A new source record, as the store keeps it.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub source: SourceRecordRef,
    pub customer_id: String,
    /// The record's fields as JSON.
    pub record_json: String,
    pub identifiers: Vec<IdentifierKey>,
}

#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// The surviving customer id for a customer id or one of its aliases.
    async fn surviving_id(&self, customer_id: &str) -> anyhow::Result<Option<String>>;

    /// The customers whose records carry `identifier`.
    async fn customers_with_identifier(
        &self,
        identifier: &IdentifierKey,
    ) -> anyhow::Result<Vec<String>>;

    async fn customer(&self, customer_id: &str) -> anyhow::Result<Option<Customer>>;

    /// Creates a customer with its golden record.
    async fn insert_customer(
        &self,
        customer_id: &str,
        golden: &GoldenRecord,
        now_micros: i64,
    ) -> anyhow::Result<()>;

    /// Stores a record (or replaces the one with the same source key) in its customer.
    async fn upsert_record(&self, record: &NewRecord) -> anyhow::Result<()>;

    /// Makes `alias_id` resolve to `customer_id`.
    async fn insert_alias(&self, alias_id: &str, customer_id: &str) -> anyhow::Result<()>;
}

pub struct SqlIdentityStore {
    database: Database,
}

impl SqlIdentityStore {
    pub fn new(database: Database) -> Self {
        SqlIdentityStore { database }
    }

    pub fn backend(&self) -> Backend {
        self.database.backend
    }
}

#[async_trait]
impl IdentityStore for SqlIdentityStore {
    async fn surviving_id(&self, customer_id: &str) -> anyhow::Result<Option<String>> {
        let row = sqlx::query(
            "SELECT customer_id FROM customers WHERE customer_id = $1
             UNION ALL
             SELECT customer_id FROM customer_aliases WHERE alias_id = $1",
        )
        .bind(customer_id)
        .fetch_optional(&self.database.pool)
        .await?;
        Ok(row.map(|row| row.get::<String, _>(0)))
    }

    async fn customers_with_identifier(
        &self,
        identifier: &IdentifierKey,
    ) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT r.customer_id
             FROM record_identifiers i
             JOIN source_records r
               ON r.source_system = i.source_system AND r.source_record_id = i.source_record_id
             WHERE i.kind = $1 AND i.system = $2 AND i.value = $3
             ORDER BY r.customer_id",
        )
        .bind(i64::from(identifier.kind))
        .bind(&identifier.system)
        .bind(&identifier.value)
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows.iter().map(|row| row.get::<String, _>(0)).collect())
    }

    async fn customer(&self, customer_id: &str) -> anyhow::Result<Option<Customer>> {
        let pool = &self.database.pool;
        let Some(row) = sqlx::query(
            "SELECT customer_id, created_at, updated_at, golden FROM customers WHERE customer_id = $1",
        )
        .bind(customer_id)
        .fetch_optional(pool)
        .await?
        else {
            return Ok(None);
        };
        let golden: GoldenRecord = serde_json::from_str(&row.get::<String, _>(3))
            .with_context(|| format!("golden record of {customer_id} is not valid JSON"))?;
        let records = sqlx::query(
            "SELECT source_system, source_record_id, channel, observed_at
             FROM source_records WHERE customer_id = $1
             ORDER BY observed_at, source_system, source_record_id",
        )
        .bind(customer_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| SourceRecordRef {
            source_system: row.get(0),
            source_record_id: row.get(1),
            channel: i32::try_from(row.get::<i64, _>(2)).unwrap_or_default(),
            observed_at_micros: row.get(3),
        })
        .collect();
        let aliases = sqlx::query(
            "SELECT alias_id FROM customer_aliases WHERE customer_id = $1 ORDER BY alias_id",
        )
        .bind(customer_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
        Ok(Some(Customer {
            customer_id: row.get(0),
            golden,
            records,
            aliases,
            created_at_micros: row.get(1),
            updated_at_micros: row.get(2),
        }))
    }

    async fn insert_customer(
        &self,
        customer_id: &str,
        golden: &GoldenRecord,
        now_micros: i64,
    ) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO customers (customer_id, created_at, updated_at, golden) VALUES ($1, $2, $2, $3)")
            .bind(customer_id)
            .bind(now_micros)
            .bind(serde_json::to_string(golden)?)
            .execute(&self.database.pool)
            .await?;
        Ok(())
    }

    async fn upsert_record(&self, record: &NewRecord) -> anyhow::Result<()> {
        let mut transaction = self.database.pool.begin().await?;
        let source = &record.source;
        sqlx::query(
            "INSERT INTO source_records (source_system, source_record_id, customer_id, channel, observed_at, record)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (source_system, source_record_id) DO UPDATE SET
               customer_id = excluded.customer_id, channel = excluded.channel,
               observed_at = excluded.observed_at, record = excluded.record",
        )
        .bind(&source.source_system)
        .bind(&source.source_record_id)
        .bind(&record.customer_id)
        .bind(i64::from(source.channel))
        .bind(source.observed_at_micros)
        .bind(&record.record_json)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "DELETE FROM record_identifiers WHERE source_system = $1 AND source_record_id = $2",
        )
        .bind(&source.source_system)
        .bind(&source.source_record_id)
        .execute(&mut *transaction)
        .await?;
        for identifier in &record.identifiers {
            sqlx::query(
                "INSERT INTO record_identifiers (kind, system, value, source_system, source_record_id)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(i64::from(identifier.kind))
            .bind(&identifier.system)
            .bind(&identifier.value)
            .bind(&source.source_system)
            .bind(&source.source_record_id)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn insert_alias(&self, alias_id: &str, customer_id: &str) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO customer_aliases (alias_id, customer_id) VALUES ($1, $2)")
            .bind(alias_id)
            .bind(customer_id)
            .execute(&self.database.pool)
            .await?;
        Ok(())
    }
}
