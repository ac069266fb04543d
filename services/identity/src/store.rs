//! Identity's storage: persists the engine's change sets (one transaction per batch,
//! many rows per statement) and loads everything back at start. SQL for PostgreSQL and
//! SQLite alike; the embedded engine lays two tables out its own way
//! (`migrations-sqlite`).

use std::sync::{Arc, LazyLock};

use anyhow::Context as _;
use async_trait::async_trait;
use futures::TryStreamExt as _;
use idic_matching::params::{ErasedNames, MatchParameters};
use idic_runtime::follow::{self, CHANGES_TOPIC, IdentityChangeEvent};
use idic_runtime::outbox::{self, OutboxEvent};
use idic_runtime::storage::{
    Backend, Database, Migrations, now_micros, numbered_placeholders, placeholders,
    row_placeholders, with_engine_migrations,
};
use sqlx::any::AnyArguments;
use sqlx::migrate::Migrator;
use sqlx::{Any, Arguments, Row};

use crate::replication::{self, Fence};
use idic_engine::{
    ChangeEvent, ChangeKind, ChangeSet, CustomerRow, LinkKind, LinkRow, RecordContent, RecordKey,
};

/// The schema, in SQL both engines accept (see `idic_runtime::storage`).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The embedded engine's own: keys that an import writes in append order.
static SQLITE_ONLY: Migrator = sqlx::migrate!("./migrations-sqlite");

static SQLITE_MIGRATOR: LazyLock<Migrator> =
    LazyLock::new(|| with_engine_migrations(&MIGRATOR, &SQLITE_ONLY));

pub static MIGRATIONS: LazyLock<Migrations> = LazyLock::new(|| Migrations {
    postgres: &MIGRATOR,
    sqlite: &SQLITE_MIGRATOR,
});

/// A record as stored.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub record_id: u32,
    pub key: RecordKey,
    pub customer: Arc<str>,
    pub channel: i32,
    pub observed_at: i64,
    pub content: RecordContent,
}

/// Everything the engine needs to start but the records, which
/// [`IdentityStore::load_records`] streams (held all at once, with their rows, they took
/// more memory than the engine built from them).
#[derive(Debug, Default)]
pub struct StoredState {
    pub links: Vec<LinkRow>,
    pub customers: Vec<CustomerRow>,
    pub aliases: Vec<(Arc<str>, Arc<str>)>,
    pub blocks: Vec<(u32, u32)>,
    pub last_event_id: u64,
}

#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    async fn load(&self) -> anyhow::Result<StoredState>;
    /// Calls `visit` with every stored record, in record id order, one at a time.
    async fn load_records(
        &self,
        visit: &mut (dyn FnMut(StoredRecord) + Send),
    ) -> anyhow::Result<()>;
    /// Persists a batch of changes in one transaction.
    async fn apply(&self, changes: &ChangeSet) -> anyhow::Result<()>;
    /// Events after `after`, oldest first.
    async fn events_after(&self, after: u64, limit: i64) -> anyhow::Result<Vec<ChangeEvent>>;
    /// Events concerning `customer_ids`, newest first, before `before` if given.
    async fn history(
        &self,
        customer_ids: &[String],
        before: Option<u64>,
        limit: i64,
    ) -> anyhow::Result<Vec<ChangeEvent>>;
    async fn save_params(
        &self,
        created_at: i64,
        params: &MatchParameters,
        report: &str,
    ) -> anyhow::Result<u64>;
    async fn latest_params(&self) -> anyhow::Result<Option<MatchParameters>>;
    /// The version of the latest saved parameters, 0 when none were ever estimated
    /// (cheaper than loading them: the automatic estimate asks after every import).
    async fn params_version(&self) -> anyhow::Result<u64>;
    /// This database's instance id (made at its first start) and its change counter,
    /// which every commit without a log raises (embedded; see `crate::snapshot`).
    async fn generation(&self) -> anyhow::Result<(String, u64)> {
        Ok((String::new(), 0))
    }
    /// Copies the SQLite write-ahead log back into the database file, and empties it
    /// when it has grown large (nothing to do on PostgreSQL).
    async fn checkpoint(&self) -> anyhow::Result<()> {
        Ok(())
    }
    /// After an erasure was committed: leaves none of the erased records' bytes in the
    /// storage files (`Database::purge_deleted`).
    async fn purge_erased(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

pub struct SqlIdentityStore {
    database: Database,
    /// Replicas on PostgreSQL: every write checks the leader's epoch and appends the
    /// change set to the log (`crate::replication`).
    fence: Option<Arc<Fence>>,
}

impl SqlIdentityStore {
    pub fn new(database: Database) -> Self {
        SqlIdentityStore {
            database,
            fence: None,
        }
    }

    pub fn with_fence(mut self, fence: Arc<Fence>) -> Self {
        self.fence = Some(fence);
        self
    }
}

/// Pages (4 KiB) in SQLite's write-ahead log above which [`IdentityStore::checkpoint`]
/// empties it: 256 MiB.
const MAX_WAL_FRAMES: i64 = 65_536;

/// Rows per multi-row statement: well under SQLite's 32,766 and PostgreSQL's 65,535
/// bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

type Transaction<'a> = sqlx::Transaction<'a, Any>;

/// The bus events announcing a change set's events, for the outbox.
fn announcements(changes: &ChangeSet) -> anyhow::Result<Vec<OutboxEvent>> {
    changes
        .events
        .iter()
        .map(|event| {
            Ok(OutboxEvent::new(
                CHANGES_TOPIC,
                serde_json::to_vec(&change_payload(event))?,
            ))
        })
        .collect()
}

/// A change event as the bus carries it (read by `idic_runtime::follow`).
fn change_payload(event: &ChangeEvent) -> IdentityChangeEvent {
    IdentityChangeEvent {
        event_id: event.event_id,
        kind: match event.kind {
            ChangeKind::Merged => follow::ChangeKind::Merged,
            ChangeKind::Split => follow::ChangeKind::Split,
            ChangeKind::Erased => follow::ChangeKind::Erased,
        },
        customer_id: event.customer_id.clone(),
        absorbed_customer_ids: event.absorbed_ids.clone(),
        new_customer_ids: event.new_ids.clone(),
        occurred_at_micros: event.occurred_at,
    }
}

async fn execute(
    transaction: &mut Transaction<'_>,
    sql: &str,
    arguments: AnyArguments<'_>,
) -> anyhow::Result<()> {
    sqlx::query_with(sql, arguments)
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

fn add<'q, T>(arguments: &mut AnyArguments<'q>, value: T) -> anyhow::Result<()>
where
    T: 'q + sqlx::Encode<'q, Any> + sqlx::Type<Any>,
{
    arguments
        .add(value)
        .map_err(|error| anyhow::anyhow!("binding a value: {error}"))
}

/// Deletes rows whose single key column is in `keys`.
async fn delete_in<T>(
    transaction: &mut Transaction<'_>,
    backend: Backend,
    table: &str,
    column: &str,
    keys: &[T],
) -> anyhow::Result<()>
where
    T: Clone + Send + for<'q> sqlx::Encode<'q, Any> + sqlx::Type<Any> + 'static,
{
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut arguments = AnyArguments::default();
        for key in chunk {
            add(&mut arguments, key.clone())?;
        }
        let sql = format!(
            "DELETE FROM {table} WHERE {column} IN ({})",
            placeholders(backend, 1, chunk.len())
        );
        execute(transaction, &sql, arguments).await?;
    }
    Ok(())
}

/// Deletes rows whose (a, b) pair is in `pairs`.
async fn delete_pairs(
    transaction: &mut Transaction<'_>,
    backend: Backend,
    table: &str,
    pairs: &[(u32, u32)],
) -> anyhow::Result<()> {
    for chunk in pairs.chunks(ROWS_PER_STATEMENT) {
        let mut arguments = AnyArguments::default();
        let mut conditions = Vec::with_capacity(chunk.len());
        for (index, (a, b)) in chunk.iter().enumerate() {
            add(&mut arguments, i64::from(*a))?;
            add(&mut arguments, i64::from(*b))?;
            conditions.push(match backend {
                Backend::Sqlite => "(a = ? AND b = ?)".to_owned(),
                Backend::Postgres => format!("(a = ${} AND b = ${})", index * 2 + 1, index * 2 + 2),
            });
        }
        let sql = format!("DELETE FROM {table} WHERE {}", conditions.join(" OR "));
        execute(transaction, &sql, arguments).await?;
    }
    Ok(())
}

async fn write_records(
    transaction: &mut Transaction<'_>,
    backend: Backend,
    changes: &ChangeSet,
) -> anyhow::Result<()> {
    let deleted: Vec<i64> = changes
        .records
        .iter()
        .filter(|(_, row)| row.is_none())
        .map(|(id, _)| i64::from(*id))
        .collect();
    delete_in(transaction, backend, "records", "record_id", &deleted).await?;
    let mut rows: Vec<_> = changes.records.values().flatten().collect();
    rows.sort_by_key(|row| row.record_id);
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut arguments = AnyArguments::default();
        for row in chunk {
            add(&mut arguments, i64::from(row.record_id))?;
            add(&mut arguments, row.key.source_system.clone())?;
            add(&mut arguments, row.key.source_record_id.clone())?;
            add(&mut arguments, row.customer.to_string())?;
            add(&mut arguments, i64::from(row.channel))?;
            add(&mut arguments, row.observed_at)?;
            add(&mut arguments, serde_json::to_string(&row.content)?)?;
        }
        let sql = format!(
            "INSERT INTO records (record_id, source_system, source_record_id, customer_id, channel, observed_at, raw)
             VALUES {} ON CONFLICT (record_id) DO UPDATE SET customer_id = excluded.customer_id,
             channel = excluded.channel, observed_at = excluded.observed_at, raw = excluded.raw",
            row_placeholders(backend, chunk.len(), 7)
        );
        execute(transaction, &sql, arguments).await?;
    }
    write_moves(transaction, backend, changes).await
}

/// Moves records to their new customers, many per statement: a merge moves every
/// record of the absorbed customers, and one statement each was a round trip to the
/// database per record.
async fn write_moves(
    transaction: &mut Transaction<'_>,
    backend: Backend,
    changes: &ChangeSet,
) -> anyhow::Result<()> {
    let mut moves: Vec<_> = changes.records_moved.iter().collect();
    moves.sort_by_key(|(id, _)| **id);
    for chunk in moves.chunks(ROWS_PER_STATEMENT) {
        let mut arguments = AnyArguments::default();
        for (record_id, customer) in chunk {
            add(&mut arguments, i64::from(**record_id))?;
            add(&mut arguments, customer.to_string())?;
        }
        let sql = format!(
            "WITH moves (record_id, customer_id) AS (VALUES {})
             UPDATE records SET customer_id =
                 (SELECT moves.customer_id FROM moves WHERE moves.record_id = records.record_id)
             WHERE record_id IN (SELECT record_id FROM moves)",
            row_placeholders(backend, chunk.len(), 2)
        );
        execute(transaction, &sql, arguments).await?;
    }
    Ok(())
}

async fn write_links(
    transaction: &mut Transaction<'_>,
    backend: Backend,
    changes: &ChangeSet,
) -> anyhow::Result<()> {
    let removed: Vec<(u32, u32)> = changes
        .links
        .iter()
        .filter(|(_, link)| link.is_none())
        .map(|(pair, _)| *pair)
        .collect();
    delete_pairs(transaction, backend, "links", &removed).await?;
    let added: Vec<&LinkRow> = changes.links.values().flatten().collect();
    for chunk in added.chunks(ROWS_PER_STATEMENT) {
        let mut arguments = AnyArguments::default();
        for link in chunk {
            add(&mut arguments, i64::from(link.a))?;
            add(&mut arguments, i64::from(link.b))?;
            add(&mut arguments, link.kind as i64)?;
            add(&mut arguments, link.weight)?;
        }
        let sql = format!(
            "INSERT INTO links (a, b, kind, weight) VALUES {}
             ON CONFLICT (a, b) DO UPDATE SET kind = excluded.kind, weight = excluded.weight",
            row_placeholders(backend, chunk.len(), 4)
        );
        execute(transaction, &sql, arguments).await?;
    }
    Ok(())
}

async fn write_customers(
    transaction: &mut Transaction<'_>,
    backend: Backend,
    changes: &ChangeSet,
) -> anyhow::Result<()> {
    let deleted: Vec<String> = changes
        .customers
        .iter()
        .filter(|(_, row)| row.is_none())
        .map(|(id, _)| id.to_string())
        .collect();
    delete_in(transaction, backend, "customers", "customer_id", &deleted).await?;
    let rows: Vec<&CustomerRow> = changes.customers.values().flatten().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut arguments = AnyArguments::default();
        for row in chunk {
            add(&mut arguments, row.customer_id.to_string())?;
            add(&mut arguments, row.created_at)?;
            add(&mut arguments, row.updated_at)?;
            add(&mut arguments, row.erased_at)?;
        }
        let sql = format!(
            "INSERT INTO customers (customer_id, created_at, updated_at, erased_at) VALUES {}
             ON CONFLICT (customer_id) DO UPDATE SET updated_at = excluded.updated_at, erased_at = excluded.erased_at",
            row_placeholders(backend, chunk.len(), 4)
        );
        execute(transaction, &sql, arguments).await?;
    }
    let aliases: Vec<_> = changes.aliases.iter().collect();
    for chunk in aliases.chunks(ROWS_PER_STATEMENT) {
        let mut arguments = AnyArguments::default();
        for (alias, customer) in chunk {
            add(&mut arguments, alias.to_string())?;
            add(&mut arguments, customer.to_string())?;
        }
        let sql = format!(
            "INSERT INTO customer_aliases (alias_id, customer_id) VALUES {}
             ON CONFLICT (alias_id) DO UPDATE SET customer_id = excluded.customer_id",
            row_placeholders(backend, chunk.len(), 2)
        );
        execute(transaction, &sql, arguments).await?;
    }
    Ok(())
}

async fn write_blocks(
    transaction: &mut Transaction<'_>,
    backend: Backend,
    changes: &ChangeSet,
) -> anyhow::Result<()> {
    let removed: Vec<(u32, u32)> = changes
        .blocks
        .iter()
        .filter(|(_, added)| !**added)
        .map(|(pair, _)| *pair)
        .collect();
    delete_pairs(transaction, backend, "pair_blocks", &removed).await?;
    let added: Vec<(u32, u32)> = changes
        .blocks
        .iter()
        .filter(|(_, added)| **added)
        .map(|(pair, _)| *pair)
        .collect();
    for chunk in added.chunks(ROWS_PER_STATEMENT) {
        let mut arguments = AnyArguments::default();
        for (a, b) in chunk {
            add(&mut arguments, i64::from(*a))?;
            add(&mut arguments, i64::from(*b))?;
        }
        let sql = format!(
            "INSERT INTO pair_blocks (a, b) VALUES {} ON CONFLICT (a, b) DO NOTHING",
            row_placeholders(backend, chunk.len(), 2)
        );
        execute(transaction, &sql, arguments).await?;
    }
    Ok(())
}

async fn write_events(
    transaction: &mut Transaction<'_>,
    backend: Backend,
    changes: &ChangeSet,
) -> anyhow::Result<()> {
    // A statement per chunk of events, not per event: an import writes tens of thousands.
    for chunk in changes.events.chunks(ROWS_PER_STATEMENT / 8) {
        let mut arguments = AnyArguments::default();
        for event in chunk {
            add(&mut arguments, event.event_id as i64)?;
            add(&mut arguments, event.occurred_at)?;
            add(&mut arguments, event.kind as i64)?;
            add(&mut arguments, event.customer_id.clone())?;
            add(&mut arguments, serde_json::to_string(&event.absorbed_ids)?)?;
            add(&mut arguments, serde_json::to_string(&event.new_ids)?)?;
            add(&mut arguments, event.actor.clone())?;
            add(&mut arguments, event.reason.clone())?;
        }
        let sql = format!(
            "INSERT INTO change_events (event_id, occurred_at, kind, customer_id, absorbed_ids, new_ids, actor, reason)
             VALUES {}",
            row_placeholders(backend, chunk.len(), 8)
        );
        execute(transaction, &sql, arguments).await?;
    }
    let mut concerned: Vec<(&str, u64)> = Vec::new();
    for event in &changes.events {
        let mut customers: Vec<&str> = event.customers().collect();
        customers.sort_unstable();
        customers.dedup();
        concerned.extend(
            customers
                .into_iter()
                .map(|customer| (customer, event.event_id)),
        );
    }
    for chunk in concerned.chunks(ROWS_PER_STATEMENT) {
        let mut arguments = AnyArguments::default();
        for (customer, event_id) in chunk {
            add(&mut arguments, (*customer).to_owned())?;
            add(&mut arguments, *event_id as i64)?;
        }
        let sql = format!(
            "INSERT INTO change_event_customers (customer_id, event_id) VALUES {} ON CONFLICT DO NOTHING",
            row_placeholders(backend, chunk.len(), 2)
        );
        execute(transaction, &sql, arguments).await?;
    }
    Ok(())
}

/// Raises the change counter that tells a snapshot from the embedded database whether
/// it is current (replicas have the log's position for that).
async fn count_change(transaction: &mut Transaction<'_>) -> anyhow::Result<()> {
    sqlx::query("UPDATE identity_generation SET changes = changes + 1 WHERE id = 1")
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

fn event_from_row(row: &sqlx::any::AnyRow) -> anyhow::Result<ChangeEvent> {
    Ok(ChangeEvent {
        event_id: row.get::<i64, _>(0) as u64,
        occurred_at: row.get(1),
        kind: ChangeKind::from_stored(row.get(2)).context("unknown change kind")?,
        customer_id: row.get(3),
        absorbed_ids: serde_json::from_str(&row.get::<String, _>(4))?,
        new_ids: serde_json::from_str(&row.get::<String, _>(5))?,
        actor: row.get(6),
        reason: row.get(7),
    })
}

fn stored_record(row: &sqlx::any::AnyRow) -> anyhow::Result<StoredRecord> {
    let content: RecordContent =
        serde_json::from_str(row.get::<&str, _>(6)).context("a stored record is not valid JSON")?;
    Ok(StoredRecord {
        record_id: u32::try_from(row.get::<i64, _>(0)).context("record id out of range")?,
        key: RecordKey::new(row.get::<String, _>(1), row.get::<String, _>(2)),
        customer: Arc::from(row.get::<&str, _>(3)),
        channel: i32::try_from(row.get::<i64, _>(4)).unwrap_or_default(),
        observed_at: row.get(5),
        content,
    })
}

const EVENT_COLUMNS: &str = "e.event_id, e.occurred_at, e.kind, e.customer_id, e.absorbed_ids, e.new_ids, e.actor, e.reason";

/// The tables an erasure deletes personal data from: the records as received, the
/// links and steward blocks between them, and the replicas' change log.
const ERASED_TABLES: &[&str] = &["records", "links", "pair_blocks", "identity_log"];

#[async_trait]
impl IdentityStore for SqlIdentityStore {
    async fn purge_erased(&self) -> anyhow::Result<()> {
        self.database.purge_deleted(ERASED_TABLES).await
    }

    async fn checkpoint(&self) -> anyhow::Result<()> {
        if self.database.backend != Backend::Sqlite {
            return Ok(());
        }
        // A passive checkpoint waits for nobody; it reports how many frames the log
        // holds. Only a log that kept growing is emptied, since that waits for
        // readers and holds up the commits queued behind it.
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.database.pool)
            .await?;
        let frames: i64 = row.try_get(1)?;
        if frames > MAX_WAL_FRAMES {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.database.pool)
                .await?;
        }
        Ok(())
    }

    async fn load(&self) -> anyhow::Result<StoredState> {
        let pool = &self.database.pool;
        let mut state = StoredState::default();
        for row in sqlx::query("SELECT a, b, kind, weight FROM links")
            .fetch_all(pool)
            .await?
        {
            state.links.push(LinkRow {
                a: row.get::<i64, _>(0) as u32,
                b: row.get::<i64, _>(1) as u32,
                kind: LinkKind::from_stored(row.get(2)),
                weight: row.get(3),
            });
        }
        for row in
            sqlx::query("SELECT customer_id, created_at, updated_at, erased_at FROM customers")
                .fetch_all(pool)
                .await?
        {
            state.customers.push(CustomerRow {
                customer_id: Arc::from(row.get::<String, _>(0)),
                created_at: row.get(1),
                updated_at: row.get(2),
                erased_at: row.get(3),
            });
        }
        for row in sqlx::query("SELECT alias_id, customer_id FROM customer_aliases")
            .fetch_all(pool)
            .await?
        {
            state.aliases.push((
                Arc::from(row.get::<String, _>(0)),
                Arc::from(row.get::<String, _>(1)),
            ));
        }
        for row in sqlx::query("SELECT a, b FROM pair_blocks")
            .fetch_all(pool)
            .await?
        {
            state
                .blocks
                .push((row.get::<i64, _>(0) as u32, row.get::<i64, _>(1) as u32));
        }
        let last: Option<i64> = sqlx::query("SELECT MAX(event_id) FROM change_events")
            .fetch_one(pool)
            .await?
            .get(0);
        state.last_event_id = last.unwrap_or(0) as u64;
        Ok(state)
    }

    async fn load_records(
        &self,
        visit: &mut (dyn FnMut(StoredRecord) + Send),
    ) -> anyhow::Result<()> {
        let mut rows = sqlx::query("SELECT record_id, source_system, source_record_id, customer_id, channel, observed_at, raw FROM records ORDER BY record_id")
            .fetch(&self.database.pool);
        while let Some(row) = rows.try_next().await? {
            visit(stored_record(&row)?);
        }
        Ok(())
    }

    async fn apply(&self, changes: &ChangeSet) -> anyhow::Result<()> {
        let backend = self.database.backend;
        let mut transaction = self.database.writer().begin().await?;
        // First: a deposed leader stops here, and holds off the next election till commit.
        let position = match &self.fence {
            Some(fence) => Some(
                replication::log::append(&mut transaction, fence, changes, now_micros()).await?,
            ),
            None => None,
        };
        write_records(&mut transaction, backend, changes).await?;
        write_links(&mut transaction, backend, changes).await?;
        write_customers(&mut transaction, backend, changes).await?;
        write_blocks(&mut transaction, backend, changes).await?;
        write_events(&mut transaction, backend, changes).await?;
        forget_erased_names(&mut transaction, &changes.erased_names).await?;
        if self.fence.is_none() {
            count_change(&mut transaction).await?;
        }
        outbox::enqueue(&mut transaction, backend, &announcements(changes)?).await?;
        transaction.commit().await?;
        if let (Some(fence), Some(position)) = (&self.fence, position) {
            fence.committed(position);
        }
        Ok(())
    }

    async fn events_after(&self, after: u64, limit: i64) -> anyhow::Result<Vec<ChangeEvent>> {
        let rows = sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM change_events e WHERE e.event_id > $1 ORDER BY e.event_id LIMIT $2"))
            .bind(after as i64)
            .bind(limit)
            .fetch_all(&self.database.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn history(
        &self,
        customer_ids: &[String],
        before: Option<u64>,
        limit: i64,
    ) -> anyhow::Result<Vec<ChangeEvent>> {
        if customer_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT DISTINCT {EVENT_COLUMNS} FROM change_events e
             JOIN change_event_customers c ON c.event_id = e.event_id
             WHERE c.customer_id IN ({}) AND e.event_id < ${}
             ORDER BY e.event_id DESC LIMIT ${}",
            numbered_placeholders(1, customer_ids.len()),
            customer_ids.len() + 1,
            customer_ids.len() + 2
        );
        let mut query = sqlx::query(&sql);
        for id in customer_ids {
            query = query.bind(id.clone());
        }
        let rows = query
            .bind(before.map_or(i64::MAX, |before| before as i64))
            .bind(limit)
            .fetch_all(&self.database.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn save_params(
        &self,
        created_at: i64,
        params: &MatchParameters,
        report: &str,
    ) -> anyhow::Result<u64> {
        let mut transaction = self.database.pool.begin().await?;
        // Parameters are a write like a change set: a deposed leader stops here.
        if let Some(fence) = &self.fence {
            let epoch = fence.epoch().context("this replica does not lead")?;
            replication::log::check_fence(&mut transaction, epoch).await?;
        }
        let last: Option<i64> = sqlx::query("SELECT MAX(version) FROM match_parameters")
            .fetch_one(&mut *transaction)
            .await?
            .get(0);
        let version = last.unwrap_or(0) + 1;
        sqlx::query("INSERT INTO match_parameters (version, created_at, parameters, report) VALUES ($1, $2, $3, $4)")
            .bind(version)
            .bind(created_at)
            .bind(serde_json::to_string(params)?)
            .bind(report.to_owned())
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(version as u64)
    }

    async fn generation(&self) -> anyhow::Result<(String, u64)> {
        let pool = &self.database.pool;
        // Concurrent first starts (replicas): the first one's id stays.
        sqlx::query("UPDATE identity_generation SET instance = $1 WHERE id = 1 AND instance = ''")
            .bind(uuid::Uuid::new_v4().simple().to_string())
            .execute(pool)
            .await?;
        let row = sqlx::query("SELECT instance, changes FROM identity_generation WHERE id = 1")
            .fetch_one(pool)
            .await?;
        Ok((row.get::<String, _>(0), row.get::<i64, _>(1) as u64))
    }

    async fn params_version(&self) -> anyhow::Result<u64> {
        let version = replication::log::params_version(&self.database.pool).await?;
        Ok(version.max(0) as u64)
    }

    async fn latest_params(&self) -> anyhow::Result<Option<MatchParameters>> {
        let row =
            sqlx::query("SELECT parameters FROM match_parameters ORDER BY version DESC LIMIT 1")
                .fetch_optional(&self.database.pool)
                .await?;
        row.map(|row| {
            serde_json::from_str(&row.get::<String, _>(0))
                .context("saved parameters are not valid JSON")
        })
        .transpose()
    }
}

/// Takes erased records' names out of every saved parameter version's name
/// frequencies, in the erasure's own transaction: a name is personal data, and the
/// versions are kept as history (README: Erasure and export).
async fn forget_erased_names(
    transaction: &mut sqlx::Transaction<'_, Any>,
    names: &ErasedNames,
) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query("SELECT version, parameters FROM match_parameters")
        .fetch_all(&mut **transaction)
        .await?;
    for row in rows {
        let version: i64 = row.get(0);
        let mut params: MatchParameters = serde_json::from_str(&row.get::<String, _>(1))
            .with_context(|| format!("saved parameters version {version} are not valid JSON"))?;
        if params.forget_names(names) {
            sqlx::query("UPDATE match_parameters SET parameters = $1 WHERE version = $2")
                .bind(serde_json::to_string(&params)?)
                .bind(version)
                .execute(&mut **transaction)
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(
            row_placeholders(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(numbered_placeholders(1, 3), "$1, $2, $3");
    }
}
