//! The SQL every service runs when identity changes who is who, over the tables it
//! declares: which customers it holds rows of, the anchors of a customer's rows, moving
//! an anchor's rows after a split, giving an absorbed customer's rows to the survivor
//! of a merge, and deleting an erased customer's rows. A service runs these inside its
//! own transaction and adds what is its own (summaries, scores, derived rows).

use std::collections::HashSet;

use sqlx::{AnyConnection, Row as _};

use crate::storage::{Database, customers_with_rows};

/// The tables in which a service keeps rows of a customer.
#[derive(Debug, Clone, Copy)]
pub struct CustomerTables {
    /// The column naming the customer (the same in every table).
    pub customer_column: &'static str,
    /// Every table with rows of a customer: erased with the customer.
    pub all: &'static [&'static str],
    /// The rows a merge gives to the survivor.
    pub merged: &'static [&'static str],
    /// The rows that carry the `anchor` they were recorded under: a split moves them by
    /// anchor.
    pub anchored: &'static [&'static str],
}

impl CustomerTables {
    /// Which of `customer_ids` have a row in any of the tables.
    pub async fn holding(
        &self,
        database: &Database,
        customer_ids: &[&str],
    ) -> anyhow::Result<HashSet<String>> {
        customers_with_rows(database, self.all, self.customer_column, customer_ids).await
    }

    /// The distinct non-empty anchors of `customer_id`'s rows, sorted.
    pub async fn anchors(
        &self,
        connection: &mut AnyConnection,
        customer_id: &str,
    ) -> anyhow::Result<Vec<String>> {
        if self.anchored.is_empty() {
            return Ok(Vec::new());
        }
        let column = self.customer_column;
        let union = self
            .anchored
            .iter()
            .map(|table| format!("SELECT anchor FROM {table} WHERE {column} = $1 AND anchor <> ''"))
            .collect::<Vec<_>>()
            .join(" UNION ");
        let rows = sqlx::query(&format!("{union} ORDER BY 1"))
            .bind(customer_id)
            .fetch_all(&mut *connection)
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Gives `from`'s rows recorded under `anchor` to `to`; returns how many moved.
    pub async fn move_anchor(
        &self,
        connection: &mut AnyConnection,
        from: &str,
        anchor: &str,
        to: &str,
    ) -> anyhow::Result<u64> {
        let column = self.customer_column;
        let mut moved = 0;
        for table in self.anchored {
            let result = sqlx::query(&format!(
                "UPDATE {table} SET {column} = $1 WHERE {column} = $2 AND anchor = $3"
            ))
            .bind(to)
            .bind(from)
            .bind(anchor)
            .execute(&mut *connection)
            .await?;
            moved += result.rows_affected();
        }
        Ok(moved)
    }

    /// Gives the rows of each of `absorbed` in the merged tables to `survivor`.
    pub async fn merge(
        &self,
        connection: &mut AnyConnection,
        survivor: &str,
        absorbed: &[String],
    ) -> anyhow::Result<()> {
        let column = self.customer_column;
        for table in self.merged {
            for old in absorbed {
                sqlx::query(&format!(
                    "UPDATE {table} SET {column} = $1 WHERE {column} = $2"
                ))
                .bind(survivor)
                .bind(old)
                .execute(&mut *connection)
                .await?;
            }
        }
        Ok(())
    }

    /// Deletes `customer_id`'s rows from every table.
    pub async fn erase(
        &self,
        connection: &mut AnyConnection,
        customer_id: &str,
    ) -> anyhow::Result<()> {
        let column = self.customer_column;
        for table in self.all {
            sqlx::query(&format!("DELETE FROM {table} WHERE {column} = $1"))
                .bind(customer_id)
                .execute(&mut *connection)
                .await?;
        }
        Ok(())
    }
}
