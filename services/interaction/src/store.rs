//! Interaction's storage: a trait the domain uses, and its SQL implementation for
//! PostgreSQL and SQLite.

use async_trait::async_trait;
use idic_runtime::storage::{Database, Migrations};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::domain::{Interaction, TimelineCursor};

/// The schema, in SQL both engines accept (see `idic_runtime::storage`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub static MIGRATIONS: Migrations = Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

#[async_trait]
pub trait InteractionStore: Send + Sync + 'static {
    /// Up to `limit` interactions of `customer_id`, newest first, after `cursor`.
    async fn timeline(
        &self,
        customer_id: &str,
        after: Option<&TimelineCursor>,
        limit: i64,
    ) -> anyhow::Result<Vec<Interaction>>;

    /// Stores an interaction unless one with the same idempotency key exists; returns
    /// the stored one either way.
    async fn insert(&self, interaction: &Interaction) -> anyhow::Result<Interaction>;
}

pub struct SqlInteractionStore {
    database: Database,
}

impl SqlInteractionStore {
    pub fn new(database: Database) -> Self {
        SqlInteractionStore { database }
    }
}

const COLUMNS: &str = "interaction_id, idempotency_key, customer_id, channel, kind, direction, occurred_at, thread_id, topic, summary";

fn interaction_from_row(row: &AnyRow) -> Interaction {
    let small = |index: usize| i32::try_from(row.get::<i64, _>(index)).unwrap_or_default();
    Interaction {
        interaction_id: row.get(0),
        idempotency_key: row.get(1),
        customer_id: row.get(2),
        channel: small(3),
        kind: small(4),
        direction: small(5),
        occurred_at_micros: row.get(6),
        thread_id: row.get(7),
        topic: row.get(8),
        summary: row.get(9),
    }
}

#[async_trait]
impl InteractionStore for SqlInteractionStore {
    async fn timeline(
        &self,
        customer_id: &str,
        after: Option<&TimelineCursor>,
        limit: i64,
    ) -> anyhow::Result<Vec<Interaction>> {
        let rows = match after {
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM interactions WHERE customer_id = $1
                     ORDER BY occurred_at DESC, interaction_id DESC LIMIT $2"
                ))
                .bind(customer_id)
                .bind(limit)
                .fetch_all(&self.database.pool)
                .await?
            }
            Some(cursor) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM interactions WHERE customer_id = $1
                       AND (occurred_at < $2 OR (occurred_at = $2 AND interaction_id < $3))
                     ORDER BY occurred_at DESC, interaction_id DESC LIMIT $4"
                ))
                .bind(customer_id)
                .bind(cursor.occurred_at_micros)
                .bind(&cursor.interaction_id)
                .bind(limit)
                .fetch_all(&self.database.pool)
                .await?
            }
        };
        Ok(rows.iter().map(interaction_from_row).collect())
    }

    async fn insert(&self, interaction: &Interaction) -> anyhow::Result<Interaction> {
        sqlx::query(&format!(
            "INSERT INTO interactions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (idempotency_key) DO NOTHING"
        ))
        .bind(&interaction.interaction_id)
        .bind(&interaction.idempotency_key)
        .bind(&interaction.customer_id)
        .bind(i64::from(interaction.channel))
        .bind(i64::from(interaction.kind))
        .bind(i64::from(interaction.direction))
        .bind(interaction.occurred_at_micros)
        .bind(&interaction.thread_id)
        .bind(&interaction.topic)
        .bind(&interaction.summary)
        .execute(&self.database.pool)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM interactions WHERE idempotency_key = $1"
        ))
        .bind(&interaction.idempotency_key)
        .fetch_one(&self.database.pool)
        .await?;
        Ok(interaction_from_row(&row))
    }
}
