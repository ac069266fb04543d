//! Transactional outbox. A service writes the events of a change into its `outbox`
//! table in the same transaction as the change ([`enqueue`]); a relay task publishes
//! them on the bus afterwards and deletes them. A crash between the commit and the
//! publication therefore loses nothing: the relay of the next start, or of another
//! replica, sends what is left.
//!
//! Delivery is at least once (a crash after publishing and before deleting sends a
//! batch again), so consumers must be idempotent by the ids the events carry. Events
//! leave in the order they were written within one process; on PostgreSQL, replicas
//! relay disjoint batches concurrently (`FOR UPDATE SKIP LOCKED`), so events written
//! by different replicas may interleave.
//!
//! Every service that uses it creates the table in its own schema:
//!
//! ```sql
//! CREATE TABLE outbox (
//!     event_id TEXT PRIMARY KEY,  -- UUIDv7: ordered by creation within a process
//!     topic TEXT NOT NULL,
//!     payload BYTEA NOT NULL,
//!     created_at BIGINT NOT NULL
//! );
//! ```

use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, Row as _};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::bus::EventBus;
use crate::storage::{Backend, Database, now_micros, placeholders, row_placeholders};

/// Events read and published per relay transaction.
const BATCH: i64 = 500;
/// Rows per multi-row INSERT (4 placeholders each).
const INSERT_CHUNK: usize = 200;
/// How often the relay looks for events nobody woke it for: left by a crash, by a
/// replica that stopped, or by a publication that failed.
const POLL: Duration = Duration::from_secs(1);
/// The pause after a failed relay pass (bus or database down).
const BACKOFF: Duration = Duration::from_millis(500);

/// One event to publish once the transaction that wrote it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub topic: String,
    pub payload: Vec<u8>,
}

impl OutboxEvent {
    pub fn new(topic: &str, payload: Vec<u8>) -> Self {
        OutboxEvent {
            topic: topic.to_owned(),
            payload,
        }
    }
}

/// Writes `events` into the outbox on `connection`, which should be inside the
/// transaction that makes the change they announce.
pub async fn enqueue(
    connection: &mut AnyConnection,
    backend: Backend,
    events: &[OutboxEvent],
) -> anyhow::Result<()> {
    let now = now_micros();
    for chunk in events.chunks(INSERT_CHUNK) {
        let values = row_placeholders(backend, chunk.len(), 4);
        let sql =
            format!("INSERT INTO outbox (event_id, topic, payload, created_at) VALUES {values}");
        let mut query = sqlx::query(&sql);
        for event in chunk {
            query = query
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(event.topic.clone())
                .bind(event.payload.clone())
                .bind(now);
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// A handle on the running relay: wake it after committing events so that they leave
/// at once rather than at the next poll.
#[derive(Clone, Debug)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Starts the relay of `database`'s outbox. It publishes what is there at once, then
/// whenever woken and every second; on shutdown it makes one last pass.
pub fn spawn_relay(
    database: Database,
    bus: Arc<dyn EventBus>,
    shutdown: CancellationToken,
) -> Outbox {
    static OUTBOXES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let number = OUTBOXES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let wake = Arc::new(Notify::new());
    let outbox = Outbox { wake: wake.clone() };
    tokio::spawn(async move {
        loop {
            let stopping = tokio::select! {
                () = shutdown.cancelled() => true,
                () = wake.notified() => false,
                () = tokio::time::sleep(POLL) => false,
            };
            let drained = drain(&database, bus.as_ref()).await;
            report_backlog(&database, number).await;
            if !drained && !stopping {
                tokio::time::sleep(BACKOFF).await;
            }
            if stopping {
                return;
            }
        }
    });
    outbox
}

/// Publishes the number of events left in the outbox (`idic_outbox_backlog_events`);
/// nothing when the database cannot say (the gauge keeps its last value).
async fn report_backlog(database: &Database, number: usize) {
    let counted: Result<i64, sqlx::Error> = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&database.pool)
        .await;
    if let Ok(events) = counted {
        crate::observability::record_outbox_backlog(number, events.max(0) as u64);
    }
}

/// Relays until the outbox is empty; false if a pass failed.
async fn drain(database: &Database, bus: &dyn EventBus) -> bool {
    loop {
        match relay_batch(database, bus).await {
            Ok(relayed) if relayed < BATCH as usize => return true,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "relaying the outbox failed; will retry"
                );
                return false;
            }
        }
    }
}

/// Publishes the oldest batch and deletes it; returns how many events it relayed.
async fn relay_batch(database: &Database, bus: &dyn EventBus) -> anyhow::Result<usize> {
    match database.backend {
        // Replicas share the table: each locks the rows it relays and skips the rows
        // another holds, and the delete commits with the lock.
        Backend::Postgres => {
            let mut transaction = database.pool.begin().await?;
            let rows = sqlx::query(
                "SELECT event_id, topic, payload, created_at FROM outbox ORDER BY event_id
                 LIMIT $1 FOR UPDATE SKIP LOCKED",
            )
            .bind(BATCH)
            .fetch_all(&mut *transaction)
            .await?;
            let (ids, failure) = publish_rows(&rows, bus).await;
            delete(&mut transaction, Backend::Postgres, &ids).await?;
            transaction.commit().await?;
            failure.map_or(Ok(ids.len()), Err)
        }
        // One process owns an embedded database and this task is its only relay, so
        // no lock is needed; a transaction spanning the publications would instead
        // stall the service's writers.
        Backend::Sqlite => {
            let mut connection = database.pool.acquire().await?;
            let rows = sqlx::query(
                "SELECT event_id, topic, payload, created_at FROM outbox ORDER BY event_id
                 LIMIT $1",
            )
            .bind(BATCH)
            .fetch_all(&mut *connection)
            .await?;
            let (ids, failure) = publish_rows(&rows, bus).await;
            delete(&mut connection, Backend::Sqlite, &ids).await?;
            failure.map_or(Ok(ids.len()), Err)
        }
    }
}

/// Publishes the rows in order up to the first failure; returns the ids of the rows
/// published (to delete them whatever happened next) and the failure.
async fn publish_rows(
    rows: &[sqlx::any::AnyRow],
    bus: &dyn EventBus,
) -> (Vec<String>, Option<anyhow::Error>) {
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        if let Err(error) = publish_row(row, bus).await.map(|id| ids.push(id)) {
            return (ids, Some(error));
        }
    }
    (ids, None)
}

async fn publish_row(row: &sqlx::any::AnyRow, bus: &dyn EventBus) -> anyhow::Result<String> {
    let topic: String = row.try_get(1)?;
    let payload: Vec<u8> = row.try_get(2)?;
    bus.publish(&topic, &payload).await?;
    let created_at: i64 = row.try_get(3)?;
    let waited_micros = now_micros().saturating_sub(created_at).max(0);
    crate::observability::record_publish_lag(Duration::from_micros(waited_micros as u64));
    Ok(row.try_get(0)?)
}

async fn delete(
    connection: &mut AnyConnection,
    backend: Backend,
    ids: &[String],
) -> anyhow::Result<()> {
    for chunk in ids.chunks(INSERT_CHUNK) {
        let list = placeholders(backend, 1, chunk.len());
        let sql = format!("DELETE FROM outbox WHERE event_id IN ({list})");
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}
