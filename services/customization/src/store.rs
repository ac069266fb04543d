//! Customization's storage: a trait the domain uses, and its SQL implementation for
//! PostgreSQL and SQLite.

use async_trait::async_trait;
use idic_runtime::storage::{Database, Migrations};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::domain::Component;

/// The schema, in SQL both engines accept (see `idic_runtime::storage`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub static MIGRATIONS: Migrations = Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

#[async_trait]
pub trait CustomizationStore: Send + Sync + 'static {
    /// Up to `limit` components in id order after `after`, of `slot` if given.
    async fn components(
        &self,
        slot: Option<i32>,
        after: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<Component>>;

    /// Creates or replaces a component.
    async fn upsert_component(&self, component: &Component) -> anyhow::Result<()>;
}

pub struct SqlCustomizationStore {
    database: Database,
}

impl SqlCustomizationStore {
    pub fn new(database: Database) -> Self {
        SqlCustomizationStore { database }
    }
}

fn component_from_row(row: &AnyRow) -> Component {
    Component {
        component_id: row.get(0),
        slot: i32::try_from(row.get::<i64, _>(1)).unwrap_or_default(),
        name: row.get(2),
        description: row.get(3),
        cost_currency: row.get(4),
        cost_minor: row.get(5),
        available: row.get::<i64, _>(6) != 0,
    }
}

#[async_trait]
impl CustomizationStore for SqlCustomizationStore {
    async fn components(
        &self,
        slot: Option<i32>,
        after: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<Component>> {
        // -1 stands for "any slot" and "" for "from the start", keeping one statement.
        let rows = sqlx::query(
            "SELECT component_id, slot, name, description, cost_currency, cost_minor, available
             FROM components
             WHERE ($1 = -1 OR slot = $1) AND component_id > $2
             ORDER BY component_id LIMIT $3",
        )
        .bind(slot.map_or(-1, i64::from))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows.iter().map(component_from_row).collect())
    }

    async fn upsert_component(&self, component: &Component) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO components (component_id, slot, name, description, cost_currency, cost_minor, available)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (component_id) DO UPDATE SET
               slot = excluded.slot, name = excluded.name, description = excluded.description,
               cost_currency = excluded.cost_currency, cost_minor = excluded.cost_minor,
               available = excluded.available",
        )
        .bind(&component.component_id)
        .bind(i64::from(component.slot))
        .bind(&component.name)
        .bind(&component.description)
        .bind(&component.cost_currency)
        .bind(component.cost_minor)
        .bind(i64::from(component.available))
        .execute(&self.database.pool)
        .await?;
        Ok(())
    }
}
