//! Per-customer purchase summaries (table `purchase_summaries`): what a refit needs of
//! a customer's purchases in one currency, kept current by every write that touches
//! purchases so that a refit over all stored purchases reads one row per customer.
//!
//! The functions here run inside the caller's database transaction, so a summary
//! never disagrees with the purchases another reader sees.

use std::collections::BTreeMap;

use futures::TryStreamExt as _;
use idic_runtime::storage::{Backend, numbered_placeholders};
use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, Arguments as _, Row as _};

use crate::domain::{MICROS_PER_DAY, Transaction, TransactionKind};

/// Customer ids per `IN (...)` list.
const IDS_PER_STATEMENT: usize = 500;

/// One customer's purchases grouped by day, as the models read them (amounts in
/// minor units): see `idic_value::DayTotals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseDays {
    pub customer_id: String,
    pub first_day: i64,
    pub last_day: i64,
    pub transaction_days: u32,
    pub total_minor: i64,
    pub first_day_minor: i64,
}

impl PurchaseDays {
    pub fn first(customer_id: &str, day: i64, amount_minor: i64) -> Self {
        PurchaseDays {
            customer_id: customer_id.to_owned(),
            first_day: day,
            last_day: day,
            transaction_days: 1,
            total_minor: amount_minor,
            first_day_minor: amount_minor,
        }
    }

    /// Adds a purchase no earlier than the ones added before (same-day purchases are
    /// one transaction).
    pub fn add(&mut self, day: i64, amount_minor: i64) {
        let day_seen = day == self.last_day;
        self.include(day, amount_minor, day_seen);
    }

    /// Adds a purchase on any day; `day_seen` says whether another purchase already
    /// counted falls on `day` (only asked for days between the first and the last).
    pub fn include(&mut self, day: i64, amount_minor: i64, day_seen: bool) {
        self.total_minor = self.total_minor.saturating_add(amount_minor);
        if day < self.first_day {
            self.first_day = day;
            self.first_day_minor = amount_minor;
            self.transaction_days = self.transaction_days.saturating_add(1);
        } else if day == self.first_day {
            self.first_day_minor = self.first_day_minor.saturating_add(amount_minor);
        } else {
            if !day_seen {
                self.transaction_days = self.transaction_days.saturating_add(1);
            }
            self.last_day = self.last_day.max(day);
        }
    }
}

fn day_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

fn days_from_row(row: &sqlx::any::AnyRow) -> anyhow::Result<PurchaseDays> {
    Ok(PurchaseDays {
        customer_id: row.try_get("customer_id")?,
        first_day: row.try_get("first_day")?,
        last_day: row.try_get("last_day")?,
        transaction_days: u32::try_from(row.try_get::<i64, _>("transaction_days")?)?,
        total_minor: row.try_get("total_minor")?,
        first_day_minor: row.try_get("first_day_minor")?,
    })
}

/// Counts a newly stored purchase in its customer's summary.
pub async fn add_purchase(
    connection: &mut AnyConnection,
    transaction: &Transaction,
) -> anyhow::Result<()> {
    if transaction.kind != TransactionKind::Purchase {
        return Ok(());
    }
    let customer_id = transaction.customer_id.as_str();
    let currency = transaction.amount.currency.as_str();
    let day = day_of(transaction.occurred_at_micros);
    let amount = transaction.amount.minor_units;
    // Touching the row first takes its lock (PostgreSQL: a concurrent purchase of the
    // same customer waits here until this transaction ends; SQLite: the insert before
    // already holds the write lock), so what is read next is current. A new row starts
    // with no purchase day.
    let row = sqlx::query(
        "INSERT INTO purchase_summaries (customer_id, currency, first_day, last_day,
           transaction_days, total_minor, first_day_minor)
         VALUES ($1, $2, $3, $3, 0, 0, 0)
         ON CONFLICT (customer_id, currency)
           DO UPDATE SET transaction_days = purchase_summaries.transaction_days
         RETURNING customer_id, first_day, last_day, transaction_days, total_minor,
           first_day_minor",
    )
    .bind(customer_id)
    .bind(currency)
    .bind(day)
    .fetch_one(&mut *connection)
    .await?;
    let mut summary = days_from_row(&row)?;
    if summary.transaction_days == 0 {
        summary = PurchaseDays::first(customer_id, day, amount);
    } else {
        let day_seen = if day > summary.first_day && day < summary.last_day {
            other_purchase_on(connection, transaction, day).await?
        } else {
            day == summary.last_day
        };
        summary.include(day, amount, day_seen);
    }
    write(connection, currency, &summary).await
}

/// Whether a purchase of the same customer and currency other than `transaction`
/// falls on `day`.
async fn other_purchase_on(
    connection: &mut AnyConnection,
    transaction: &Transaction,
    day: i64,
) -> anyhow::Result<bool> {
    let start = day.saturating_mul(MICROS_PER_DAY);
    let row = sqlx::query(
        "SELECT 1 FROM transactions
         WHERE customer_id = $1 AND kind = 'purchase' AND occurred_at >= $2
           AND occurred_at < $3 AND currency = $4 AND order_id <> $5
         LIMIT 1",
    )
    .bind(&transaction.customer_id)
    .bind(start)
    .bind(start.saturating_add(MICROS_PER_DAY))
    .bind(&transaction.amount.currency)
    .bind(&transaction.order_id)
    .fetch_optional(&mut *connection)
    .await?;
    Ok(row.is_some())
}

async fn write(
    connection: &mut AnyConnection,
    currency: &str,
    summary: &PurchaseDays,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE purchase_summaries SET first_day = $3, last_day = $4, transaction_days = $5,
           total_minor = $6, first_day_minor = $7
         WHERE customer_id = $1 AND currency = $2",
    )
    .bind(&summary.customer_id)
    .bind(currency)
    .bind(summary.first_day)
    .bind(summary.last_day)
    .bind(i64::from(summary.transaction_days))
    .bind(summary.total_minor)
    .bind(summary.first_day_minor)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Recomputes the summaries of `customer_ids` from their stored purchases (after bulk
/// inserts, merges, unmerges and erasures; a customer without purchases has none).
pub async fn refresh(
    connection: &mut AnyConnection,
    customer_ids: &[String],
) -> anyhow::Result<()> {
    let mut ids: Vec<&String> = customer_ids.iter().collect();
    ids.sort();
    ids.dedup();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let list = numbered_placeholders(1, chunk.len());
        sqlx::query_with(
            &format!("DELETE FROM purchase_summaries WHERE customer_id IN ({list})"),
            id_arguments(chunk)?,
        )
        .execute(&mut *connection)
        .await?;
        let computed = fold_purchases(connection, &list, id_arguments(chunk)?).await?;
        for ((_, currency), summary) in &computed {
            insert(connection, currency, summary).await?;
        }
    }
    Ok(())
}

fn id_arguments<'q>(ids: &[&String]) -> anyhow::Result<AnyArguments<'q>> {
    let mut arguments = AnyArguments::default();
    for id in ids {
        arguments
            .add((*id).clone())
            .map_err(|error| anyhow::anyhow!("binding an argument: {error}"))?;
    }
    Ok(arguments)
}

/// The summaries of the customers bound in `arguments` (`list` their placeholders),
/// per (customer, currency), folded from their purchases in time order.
async fn fold_purchases(
    connection: &mut AnyConnection,
    list: &str,
    arguments: AnyArguments<'_>,
) -> anyhow::Result<BTreeMap<(String, String), PurchaseDays>> {
    let sql = format!(
        "SELECT customer_id, currency, occurred_at, amount_minor FROM transactions
         WHERE customer_id IN ({list}) AND kind = 'purchase'
         ORDER BY customer_id, occurred_at"
    );
    let mut rows = sqlx::query_with(&sql, arguments).fetch(&mut *connection);
    let mut summaries: BTreeMap<(String, String), PurchaseDays> = BTreeMap::new();
    while let Some(row) = rows.try_next().await? {
        let customer_id: String = row.try_get(0)?;
        let currency: String = row.try_get(1)?;
        let day = day_of(row.try_get::<i64, _>(2)?);
        let amount: i64 = row.try_get(3)?;
        match summaries.get_mut(&(customer_id.clone(), currency.clone())) {
            Some(summary) => summary.add(day, amount),
            None => {
                let summary = PurchaseDays::first(&customer_id, day, amount);
                summaries.insert((customer_id, currency), summary);
            }
        }
    }
    Ok(summaries)
}

async fn insert(
    connection: &mut AnyConnection,
    currency: &str,
    summary: &PurchaseDays,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO purchase_summaries (customer_id, currency, first_day, last_day,
           transaction_days, total_minor, first_day_minor)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&summary.customer_id)
    .bind(currency)
    .bind(summary.first_day)
    .bind(summary.last_day)
    .bind(i64::from(summary.transaction_days))
    .bind(summary.total_minor)
    .bind(summary.first_day_minor)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Every customer's summary in `currency`, sorted by customer id.
pub async fn read_all(
    connection: &mut AnyConnection,
    backend: Backend,
    currency: &str,
) -> anyhow::Result<Vec<PurchaseDays>> {
    match backend {
        Backend::Sqlite => read_all_packed(connection, currency).await,
        Backend::Postgres => read_all_rows(connection, currency).await,
    }
}

async fn read_all_rows(
    connection: &mut AnyConnection,
    currency: &str,
) -> anyhow::Result<Vec<PurchaseDays>> {
    let mut rows = sqlx::query(
        "SELECT customer_id, first_day, last_day, transaction_days, total_minor,
           first_day_minor
         FROM purchase_summaries WHERE currency = $1 ORDER BY customer_id",
    )
    .bind(currency)
    .fetch(&mut *connection);
    let mut summaries = Vec::new();
    while let Some(row) = rows.try_next().await? {
        summaries.push(PurchaseDays {
            customer_id: row.try_get(0)?,
            first_day: row.try_get(1)?,
            last_day: row.try_get(2)?,
            transaction_days: u32::try_from(row.try_get::<i64, _>(3)?)?,
            total_minor: row.try_get(4)?,
            first_day_minor: row.try_get(5)?,
        });
    }
    Ok(summaries)
}

/// Unit and record separators of the packed read: control characters that no
/// customer id holds (ids are identity's `cus_` + hex).
const FIELD_SEPARATOR: char = '\u{1f}';
const RECORD_SEPARATOR: char = '\u{1e}';

/// SQLite hands each result row from its worker thread to the async side with a
/// thread wake-up, which for 100,000 rows cost most of a refit's read (measured:
/// ~0.3 s of 0.36-0.55 s). The engine therefore packs the rows into one text value,
/// in customer order, that is split here.
async fn read_all_packed(
    connection: &mut AnyConnection,
    currency: &str,
) -> anyhow::Result<Vec<PurchaseDays>> {
    let packed: Option<String> = sqlx::query_scalar(
        "SELECT group_concat(customer_id || char(31) || first_day || char(31) || last_day
             || char(31) || transaction_days || char(31) || total_minor || char(31)
             || first_day_minor, char(30) ORDER BY customer_id)
         FROM purchase_summaries WHERE currency = $1",
    )
    .bind(currency)
    .fetch_one(&mut *connection)
    .await?;
    let Some(packed) = packed else {
        return Ok(Vec::new());
    };
    packed.split(RECORD_SEPARATOR).map(unpack).collect()
}

fn unpack(record: &str) -> anyhow::Result<PurchaseDays> {
    let mut fields = record.split(FIELD_SEPARATOR);
    let mut next = || {
        fields
            .next()
            .ok_or_else(|| anyhow::anyhow!("a packed purchase summary is short: {record:?}"))
    };
    let customer_id = next()?.to_owned();
    let mut number = || -> anyhow::Result<i64> { Ok(next()?.parse()?) };
    Ok(PurchaseDays {
        customer_id,
        first_day: number()?,
        last_day: number()?,
        transaction_days: u32::try_from(number()?)?,
        total_minor: number()?,
        first_day_minor: number()?,
    })
}

/// The time of the newest stored purchase (any currency), from the index on
/// (kind, occurred_at).
pub async fn newest_purchase(connection: &mut AnyConnection) -> anyhow::Result<Option<i64>> {
    let row = sqlx::query("SELECT MAX(occurred_at) FROM transactions WHERE kind = 'purchase'")
        .fetch_one(&mut *connection)
        .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?)
}

/// Makes this transaction's reads one snapshot (PostgreSQL reads each statement's own
/// snapshot by default; an SQLite transaction already reads one).
pub async fn read_one_snapshot(
    connection: &mut AnyConnection,
    backend: Backend,
) -> anyhow::Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Purchases in any order give the summary of the same purchases in time order.
    #[test]
    fn purchases_in_any_order_give_the_same_summary() {
        let purchases = [(5, 100), (9, 10), (5, 1), (2, 7), (9, 3), (7, 50), (2, 4)];
        let mut sorted = purchases;
        sorted.sort_by_key(|(day, _)| *day);
        let mut in_order = PurchaseDays::first("c", sorted[0].0, sorted[0].1);
        for (day, amount) in &sorted[1..] {
            in_order.add(*day, *amount);
        }
        let mut any_order = PurchaseDays::first("c", purchases[0].0, purchases[0].1);
        for (index, (day, amount)) in purchases.iter().enumerate().skip(1) {
            let seen = purchases[..index].iter().any(|(earlier, _)| earlier == day);
            any_order.include(*day, *amount, seen);
        }
        assert_eq!(any_order, in_order);
        assert_eq!(
            in_order,
            PurchaseDays {
                customer_id: "c".into(),
                first_day: 2,
                last_day: 9,
                transaction_days: 4,
                total_minor: 175,
                first_day_minor: 11,
            }
        );
    }
}

#[cfg(test)]
mod packed_tests {
    use super::unpack;

    #[test]
    fn unpacks_a_record_and_refuses_a_short_or_garbled_one() {
        let summary = unpack("cus_9\u{1f}100\u{1f}130\u{1f}3\u{1f}4500\u{1f}1500").unwrap();
        assert_eq!(
            (
                summary.customer_id.as_str(),
                summary.first_day,
                summary.last_day
            ),
            ("cus_9", 100, 130)
        );
        assert_eq!(
            (
                summary.transaction_days,
                summary.total_minor,
                summary.first_day_minor
            ),
            (3, 4500, 1500)
        );
        assert!(unpack("cus_9\u{1f}100").is_err());
        assert!(unpack("cus_9\u{1f}x\u{1f}1\u{1f}1\u{1f}1\u{1f}1").is_err());
    }
}
