//! The committed change log that followers replay: one row per group commit of the
//! leader (`identity_log`), written in the transaction that persists the change set,
//! after checking the leader's epoch (the fence), and numbered by position with no
//! gaps while one leader writes.
//!
//! Entries hold records as received, so an erasure drops every older entry in its own
//! transaction: a follower that had not replayed them finds the gap and reloads from
//! the tables, which no longer hold the erased records.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row as _};

use super::Fence;
use idic_engine::{
    ChangeEvent, ChangeKind, ChangeSet, CustomerRow, LinkKind, LinkRow, RecordContent, RecordKey,
    RecordRow,
};

/// Why a write transaction may not commit: another replica became leader.
#[derive(Debug, thiserror::Error)]
#[error(
    "this replica is no longer identity's leader (its epoch {mine}, the current one {current})"
)]
pub struct Deposed {
    pub mine: u64,
    pub current: u64,
}

/// How long a write transaction may sit idle, waiting for its replica, before
/// PostgreSQL ends it. A leader frozen mid-transaction (SIGSTOP, a stalled VM) holds
/// the row lock that a new leader's epoch bump waits for; its lease session ends after
/// `idle_session_timeout` (see `lease`), and this ends its transaction as soon, so the
/// takeover does not wait for the frozen process to wake.
pub const IDLE_IN_WRITE_TIMEOUT: &str = "5s";

/// Checks that this replica still leads, and keeps other leaders from being elected
/// until the transaction ends (the row lock blocks the epoch bump of a new leader).
pub async fn check_fence(
    transaction: &mut sqlx::Transaction<'_, Any>,
    epoch: u64,
) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "SET LOCAL idle_in_transaction_session_timeout = '{IDLE_IN_WRITE_TIMEOUT}'"
    ))
    .execute(&mut **transaction)
    .await?;
    let current: i64 = sqlx::query("SELECT epoch FROM identity_leader WHERE id = 1 FOR SHARE")
        .fetch_one(&mut **transaction)
        .await?
        .get(0);
    if current as u64 != epoch {
        return Err(Deposed {
            mine: epoch,
            current: current as u64,
        }
        .into());
    }
    Ok(())
}

/// Writes the change set as the log entry at the fence's next position; fails when
/// this replica no longer leads. Returns the position.
pub async fn append(
    transaction: &mut sqlx::Transaction<'_, Any>,
    fence: &Fence,
    changes: &ChangeSet,
    committed_at: i64,
) -> anyhow::Result<u64> {
    let epoch = fence.epoch().context("this replica does not lead")?;
    check_fence(transaction, epoch).await?;
    let position = fence.next_position();
    if changes
        .events
        .iter()
        .any(|event| event.kind == ChangeKind::Erased)
    {
        sqlx::query("DELETE FROM identity_log WHERE position < $1")
            .bind(position as i64)
            .execute(&mut **transaction)
            .await?;
    }
    sqlx::query(
        "INSERT INTO identity_log (position, epoch, committed_at, changes) VALUES ($1, $2, $3, $4)",
    )
    .bind(position as i64)
    .bind(epoch as i64)
    .bind(committed_at)
    .bind(encode(changes)?)
    .execute(&mut **transaction)
    .await?;
    Ok(position)
}

/// The highest position committed, 0 when the log is empty.
pub async fn last_position(pool: &sqlx::AnyPool) -> anyhow::Result<u64> {
    let last: Option<i64> = sqlx::query("SELECT MAX(position) FROM identity_log")
        .fetch_one(pool)
        .await?
        .get(0);
    Ok(last.unwrap_or(0) as u64)
}

/// Entries after `after`, in position order, at most `limit`.
pub async fn entries_after(
    pool: &sqlx::AnyPool,
    after: u64,
    limit: i64,
) -> anyhow::Result<Vec<(u64, ChangeSet)>> {
    let rows = sqlx::query(
        "SELECT position, changes FROM identity_log WHERE position > $1 ORDER BY position LIMIT $2",
    )
    .bind(after as i64)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let position = row.get::<i64, _>(0) as u64;
            let bytes: Vec<u8> = row.get(1);
            let changes =
                decode(&bytes).with_context(|| format!("log entry {position} is not readable"))?;
            Ok((position, changes))
        })
        .collect()
}

/// The version of the latest saved match parameters (0: none saved). They are not in
/// the log: a follower takes them when this changes.
pub async fn params_version(pool: &sqlx::AnyPool) -> anyhow::Result<i64> {
    let version: Option<i64> = sqlx::query("SELECT MAX(version) FROM match_parameters")
        .fetch_one(pool)
        .await?
        .get(0);
    Ok(version.unwrap_or(0))
}

/// Drops entries committed before `before` (microseconds): a follower further behind
/// reloads from the tables.
pub async fn trim(pool: &sqlx::AnyPool, before: i64) -> anyhow::Result<u64> {
    let result = sqlx::query(
        "DELETE FROM identity_log WHERE committed_at < $1 AND position < (SELECT MAX(position) FROM identity_log)",
    )
    .bind(before)
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

// ----- the entry's bytes ---------------------------------------------------------------

/// A change set as the log stores it (postcard): plain strings and tuples, so the
/// engine's types need no serde of their own.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Entry {
    records: Vec<(u32, Option<Record>)>,
    records_moved: Vec<(u32, String)>,
    links: Vec<(u32, u32, Option<Link>)>,
    customers: Vec<(String, Option<CustomerState>)>,
    aliases: Vec<(String, String)>,
    blocks: Vec<(u32, u32, bool)>,
    events: Vec<Event>,
}

/// A link's kind (`LinkKind` as stored) and weight.
type Link = (u8, f64);

/// A customer's created, updated and erased instants.
type CustomerState = (i64, i64, Option<i64>);

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    source_system: String,
    source_record_id: String,
    customer: String,
    channel: i32,
    observed_at: i64,
    content: RecordContent,
}

#[derive(Debug, Serialize, Deserialize)]
struct Event {
    event_id: u64,
    occurred_at: i64,
    kind: u8,
    customer_id: String,
    absorbed_ids: Vec<String>,
    new_ids: Vec<String>,
    actor: String,
    reason: String,
}

pub fn encode(changes: &ChangeSet) -> anyhow::Result<Vec<u8>> {
    let entry = Entry {
        records: changes
            .records
            .iter()
            .map(|(id, row)| {
                let record = row.as_ref().map(|row| Record {
                    source_system: row.key.source_system.clone(),
                    source_record_id: row.key.source_record_id.clone(),
                    customer: row.customer.to_string(),
                    channel: row.channel,
                    observed_at: row.observed_at,
                    content: row.content.clone(),
                });
                (*id, record)
            })
            .collect(),
        records_moved: changes
            .records_moved
            .iter()
            .map(|(id, customer)| (*id, customer.to_string()))
            .collect(),
        links: changes
            .links
            .iter()
            .map(|((a, b), link)| (*a, *b, link.map(|link| (link.kind as u8, link.weight))))
            .collect(),
        customers: changes
            .customers
            .iter()
            .map(|(id, row)| {
                let state = row
                    .as_ref()
                    .map(|row| (row.created_at, row.updated_at, row.erased_at));
                (id.to_string(), state)
            })
            .collect(),
        aliases: changes
            .aliases
            .iter()
            .map(|(alias, customer)| (alias.to_string(), customer.to_string()))
            .collect(),
        blocks: changes
            .blocks
            .iter()
            .map(|((a, b), added)| (*a, *b, *added))
            .collect(),
        events: changes
            .events
            .iter()
            .map(|event| Event {
                event_id: event.event_id,
                occurred_at: event.occurred_at,
                kind: event.kind as u8,
                customer_id: event.customer_id.clone(),
                absorbed_ids: event.absorbed_ids.clone(),
                new_ids: event.new_ids.clone(),
                actor: event.actor.clone(),
                reason: event.reason.clone(),
            })
            .collect(),
    };
    Ok(postcard::to_allocvec(&entry)?)
}

pub fn decode(bytes: &[u8]) -> anyhow::Result<ChangeSet> {
    let entry: Entry = postcard::from_bytes(bytes)?;
    // Customer ids repeat across rows: one allocation each.
    let mut ids: HashMap<String, Arc<str>> = HashMap::new();
    let mut id_of = |text: String| -> Arc<str> {
        ids.entry(text)
            .or_insert_with_key(|text| Arc::from(text.as_str()))
            .clone()
    };
    let mut changes = ChangeSet::default();
    for (record_id, record) in entry.records {
        let row = record.map(|record| RecordRow {
            record_id,
            key: RecordKey::new(record.source_system, record.source_record_id),
            customer: id_of(record.customer),
            channel: record.channel,
            observed_at: record.observed_at,
            content: record.content,
        });
        changes.records.insert(record_id, row);
    }
    for (record_id, customer) in entry.records_moved {
        changes.records_moved.insert(record_id, id_of(customer));
    }
    for (a, b, link) in entry.links {
        let row = link.map(|(kind, weight)| LinkRow {
            a,
            b,
            kind: LinkKind::from_stored(i64::from(kind)),
            weight,
        });
        changes.links.insert((a, b), row);
    }
    for (customer_id, state) in entry.customers {
        let id = id_of(customer_id);
        let row = state.map(|(created_at, updated_at, erased_at)| CustomerRow {
            customer_id: id.clone(),
            created_at,
            updated_at,
            erased_at,
        });
        changes.customers.insert(id, row);
    }
    for (alias, customer) in entry.aliases {
        changes.aliases.insert(id_of(alias), id_of(customer));
    }
    for (a, b, added) in entry.blocks {
        changes.blocks.insert((a, b), added);
    }
    for event in entry.events {
        changes.events.push(ChangeEvent {
            event_id: event.event_id,
            occurred_at: event.occurred_at,
            kind: ChangeKind::from_stored(i64::from(event.kind))
                .context("unknown change kind in the log")?,
            customer_id: event.customer_id,
            absorbed_ids: event.absorbed_ids,
            new_ids: event.new_ids,
            actor: event.actor,
            reason: event.reason,
        });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use idic_matching::record::RawRecord;

    #[test]
    fn a_change_set_survives_the_log_unchanged() {
        let customer: Arc<str> = Arc::from("cus_a");
        let mut changes = ChangeSet::default();
        changes.upsert_record(RecordRow {
            record_id: 7,
            key: RecordKey::new("crm", "42"),
            customer: customer.clone(),
            channel: 2,
            observed_at: 1_700_000_000,
            content: RecordContent {
                record: RawRecord {
                    given_name: "Ann".to_owned(),
                    ..Default::default()
                },
                attributes: [("tier".to_owned(), "gold".to_owned())].into(),
            },
        });
        changes.delete_record(9);
        changes.move_record(3, Arc::from("cus_b"));
        changes.add_link(LinkRow {
            a: 3,
            b: 7,
            kind: LinkKind::Rule,
            weight: 21.5,
        });
        changes.remove_link(1, 2);
        changes.upsert_customer(CustomerRow {
            customer_id: customer.clone(),
            created_at: 1,
            updated_at: 2,
            erased_at: Some(3),
        });
        changes.delete_customer(Arc::from("cus_c"));
        changes.aliases.insert(Arc::from("cus_c"), customer.clone());
        changes.blocks.insert((1, 2), true);
        changes.blocks.insert((4, 5), false);
        changes.events.push(ChangeEvent {
            event_id: 11,
            occurred_at: 5,
            kind: ChangeKind::Merged,
            customer_id: "cus_a".to_owned(),
            absorbed_ids: vec!["cus_c".to_owned()],
            new_ids: Vec::new(),
            actor: "steward".to_owned(),
            reason: "same person".to_owned(),
        });
        let bytes = encode(&changes).unwrap();
        assert_eq!(decode(&bytes).unwrap(), changes);
        assert!(
            decode(&bytes[..bytes.len() / 2]).is_err(),
            "a cut entry is refused"
        );
    }
}
