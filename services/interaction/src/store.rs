//! Interaction's storage: a trait the domain uses, and its SQL implementation for
//! PostgreSQL and SQLite (one portable dialect, see `idic_runtime::storage`).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use idic_runtime::anchored::CustomerTables;
use idic_runtime::outbox::{self, OutboxEvent};
use idic_runtime::storage::{
    self, Backend, Database, Migrations, combine_split_sum, split_sum_sql,
};
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::adapters::bus::{INTERACTIONS_TOPIC, interaction_event};
use crate::domain::{
    ChannelReport, ChannelRow, Consent, Cost, Interaction, NewInteraction, Preference, Thread,
    ThreadRequest, TimelineCursor, TimelineFilter, contacts_only_sql, decode_needs, encode_needs,
};

/// The schema, in SQL both engines accept (see `idic_runtime::storage`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub static MIGRATIONS: Migrations = Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

/// What became of one interaction of a written group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Created {
        interaction: Interaction,
        thread: Option<Thread>,
    },
    /// The idempotency key was used before: the first interaction, unchanged.
    Duplicate {
        interaction: Interaction,
        thread: Option<Thread>,
    },
    /// The thread belongs to another customer; nothing was stored.
    ThreadOfAnotherCustomer,
}

/// What an agent's screen shows, as stored here.
#[derive(Debug, Clone, Default)]
pub struct StoredContext {
    pub recent: Vec<Interaction>,
    /// OPEN and WAITING threads, most recently active first, with their last step.
    pub active_threads: Vec<(Thread, Option<Interaction>)>,
    pub preferences: Vec<Preference>,
    pub consents: Vec<Consent>,
    pub interaction_count: i64,
    /// (group id, name) of the organizations the person is linked to.
    pub organizations: Vec<(String, String)>,
}

/// Everything stored about one customer, oldest first, for a data subject access
/// request. Unbounded: an export is complete or not given.
#[derive(Debug, Clone, Default)]
pub struct CustomerExport {
    pub interactions: Vec<Interaction>,
    pub threads: Vec<Thread>,
    pub preferences: Vec<Preference>,
    /// Every decision, superseded ones too.
    pub consents: Vec<Consent>,
    /// (group id, name) of the organizations the person is linked to.
    pub organizations: Vec<(String, String)>,
    /// The distinct references the rows were recorded under.
    pub anchors: Vec<String>,
}

/// Where a thread page continues: after this activity time and id, newest first.
pub type ThreadCursor = (i64, String);

/// The most active threads GetContext shows.
const CONTEXT_THREADS: i64 = 20;
/// The most preference keys GetContext and GetPreferences read.
const PREFERENCE_ROWS: i64 = 500;
/// The most (channel, purpose) consent states read per customer.
const CONSENT_ROWS: i64 = 1000;

#[async_trait]
pub trait InteractionStore: Send + Sync + 'static {
    /// Stores a group of interactions in one transaction, in order, with their thread
    /// changes and expressed preferences. Used by the group-commit writer.
    async fn write_group(&self, items: Vec<NewInteraction>) -> anyhow::Result<Vec<WriteOutcome>>;

    /// Up to `limit` interactions of `customer_id` passing `filter`, newest first,
    /// after `cursor`.
    async fn timeline(
        &self,
        customer_id: &str,
        filter: &TimelineFilter,
        after: Option<&TimelineCursor>,
        limit: i64,
    ) -> anyhow::Result<Vec<Interaction>>;

    async fn thread(&self, thread_id: &str) -> anyhow::Result<Option<Thread>>;

    /// The steps of a thread, oldest first, at most `limit`.
    async fn thread_steps(&self, thread_id: &str, limit: i64) -> anyhow::Result<Vec<Interaction>>;

    /// Threads of `customer_id` (of one status when `status` is not 0), most recently
    /// active first, after `cursor`, each with its last step.
    async fn threads(
        &self,
        customer_id: &str,
        status: i32,
        after: Option<&ThreadCursor>,
        limit: i64,
    ) -> anyhow::Result<Vec<(Thread, Option<Interaction>)>>;

    /// Everything GetContext needs from storage, in bounded queries.
    async fn context(&self, customer_id: &str, recent_limit: i64) -> anyhow::Result<StoredContext>;

    /// The latest expression of each need or preference key (bounded), newest first.
    async fn preferences(&self, customer_id: &str) -> anyhow::Result<Vec<Preference>>;

    /// The current consent decision per channel and purpose (the latest decided, ties
    /// to the latest recorded; bounded), latest first.
    async fn consents(&self, customer_id: &str) -> anyhow::Result<Vec<Consent>>;

    /// Stores a consent decision unless its idempotency key was used; returns the
    /// stored one and whether it is new.
    async fn insert_consent(&self, consent: &Consent) -> anyhow::Result<(Consent, bool)>;

    /// The (type, customer id, interaction id) of an ingested Segment message.
    async fn segment_message(
        &self,
        message_id: &str,
    ) -> anyhow::Result<Option<(String, String, String)>>;

    async fn record_segment_message(
        &self,
        message_id: &str,
        event_type: &str,
        customer_id: &str,
        interaction_id: &str,
        now_micros: i64,
    ) -> anyhow::Result<()>;

    /// Links the person of `anchor` to an organization (Segment `group`).
    async fn link_organization(
        &self,
        anchor: &str,
        customer_id: &str,
        group_id: &str,
        organization_name: &str,
        now_micros: i64,
    ) -> anyhow::Result<()>;

    /// The organization group ids and names linked to the customer.
    async fn organizations(&self, customer_id: &str) -> anyhow::Result<Vec<(String, String)>>;

    /// The channel report's aggregates over [start, end).
    async fn channel_report(
        &self,
        start_micros: i64,
        end_micros: i64,
        repeat_window_micros: i64,
    ) -> anyhow::Result<ChannelReport>;

    /// Moves every row of the `absorbed` customers to `survivor`.
    async fn merge(&self, survivor: &str, absorbed: &[String]) -> anyhow::Result<()>;
    /// Which of `customer_ids` have any row here.
    async fn customers_with_data(
        &self,
        customer_ids: &[&str],
    ) -> anyhow::Result<std::collections::HashSet<String>>;

    /// The customers whose interactions were recorded through `anchor`.
    async fn customers_of_anchor(&self, anchor: &str) -> anyhow::Result<Vec<String>>;

    /// The distinct anchors of the customer's rows.
    async fn anchors(&self, customer_id: &str) -> anyhow::Result<Vec<String>>;

    /// Moves the rows of `customer_id` anchored at `anchor` to `target`.
    async fn move_anchor(
        &self,
        customer_id: &str,
        anchor: &str,
        target: &str,
    ) -> anyhow::Result<()>;

    /// Deletes every row of the customer.
    async fn erase(&self, customer_id: &str) -> anyhow::Result<()>;

    /// Every row of the customer.
    async fn export(&self, customer_id: &str) -> anyhow::Result<CustomerExport>;
}

pub struct SqlInteractionStore {
    database: Database,
    /// Whether new interactions are announced on the bus (through the outbox).
    announce: bool,
}

impl SqlInteractionStore {
    /// The service's store: every new interaction is announced on the bus.
    pub fn new(database: Database) -> Self {
        SqlInteractionStore {
            database,
            announce: true,
        }
    }

    /// A store that loads history without announcing it (benchmark seeding, bulk
    /// back-fills): nothing it writes reaches the bus or the screens.
    pub fn without_announcements(database: Database) -> Self {
        SqlInteractionStore {
            database,
            announce: false,
        }
    }

    /// One attempt at a write group, in one transaction.
    async fn try_write_group(
        &self,
        items: Vec<NewInteraction>,
    ) -> anyhow::Result<Vec<WriteOutcome>> {
        let backend = self.database.backend;
        // A group reads before it writes: on SQLite the write lock is taken first, or
        // a relay commit in between refused the group's first write without waiting.
        let mut transaction = self.database.begin_write().await?;
        let keys: Vec<&str> = items
            .iter()
            .map(|item| item.interaction.idempotency_key.as_str())
            .collect();
        let existing = interactions_by_keys(&mut transaction, backend, &keys).await?;
        let mut thread_ids: HashSet<&str> = items
            .iter()
            .filter_map(|item| match &item.thread {
                ThreadRequest::Continue(id) => Some(id.as_str()),
                _ => None,
            })
            .collect();
        thread_ids.extend(
            existing
                .values()
                .filter(|interaction| !interaction.thread_id.is_empty())
                .map(|interaction| interaction.thread_id.as_str()),
        );
        let mut thread_ids: Vec<&str> = thread_ids.into_iter().collect();
        thread_ids.sort_unstable();
        let mut threads = threads_by_ids(&mut transaction, backend, &thread_ids).await?;
        let mut changed_threads = Vec::new();
        let (outcomes, new_rows) = plan_group(items, existing, &mut threads, &mut changed_threads);

        for chunk in new_rows.chunks(INSERT_CHUNK) {
            let values = storage::row_placeholders(backend, chunk.len(), COLUMN_COUNT);
            let sql = format!("INSERT INTO interactions ({COLUMNS}) VALUES {values}");
            let mut query = sqlx::query(&sql);
            for interaction in chunk {
                query = bind_interaction(query, interaction);
            }
            query.execute(&mut *transaction).await?;
        }
        for thread_id in &changed_threads {
            let Some(thread) = threads.get(thread_id) else {
                continue;
            };
            sqlx::query(&format!(
                "INSERT INTO threads ({THREAD_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (thread_id) DO UPDATE SET topic = $4, status = $5,
                   opened_at = $8, last_activity_at = $9, resolved_at = $10,
                   step_count = $11, last_interaction_id = $12"
            ))
            .bind(&thread.thread_id)
            .bind(&thread.customer_id)
            .bind(&thread.anchor)
            .bind(&thread.topic)
            .bind(i64::from(thread.status))
            .bind(i64::from(thread.opened_by))
            .bind(i64::from(thread.opened_channel))
            .bind(thread.opened_at_micros)
            .bind(thread.last_activity_at_micros)
            .bind(thread.resolved_at_micros)
            .bind(thread.step_count)
            .bind(&thread.last_interaction_id)
            .execute(&mut *transaction)
            .await?;
        }
        for interaction in new_rows.iter().filter(|row| !row.needs.is_empty()) {
            for (key, value) in &interaction.needs {
                sqlx::query(
                    "INSERT INTO preferences (interaction_id, pref_key, customer_id, anchor,
                       pref_value, channel, expressed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (interaction_id, pref_key) DO UPDATE SET pref_value = $5",
                )
                .bind(&interaction.interaction_id)
                .bind(key)
                .bind(&interaction.customer_id)
                .bind(&interaction.anchor)
                .bind(value)
                .bind(i64::from(interaction.channel))
                .bind(interaction.occurred_at_micros)
                .execute(&mut *transaction)
                .await?;
            }
        }
        if self.announce {
            let events: Vec<OutboxEvent> = new_rows
                .iter()
                .map(|row| OutboxEvent::new(INTERACTIONS_TOPIC, interaction_event(row)))
                .collect();
            outbox::enqueue(&mut transaction, self.database.backend, &events).await?;
        }
        transaction.commit().await?;
        Ok(outcomes)
    }
}

const COLUMNS: &str = "interaction_id, idempotency_key, customer_id, anchor, channel, kind, \
     direction, occurred_at, recorded_at, thread_id, thread_status, topic, summary, needs, \
     outcome, sentiment, agent, cost_currency, cost_minor_units, automated";
const COLUMN_COUNT: usize = 20;
/// Rows per multi-row INSERT: 20 x 200 placeholders stays far below both engines' limits.
const INSERT_CHUNK: usize = 200;
/// Values per `IN (...)` list.
const IN_CHUNK: usize = 500;
/// Attempts at a write group that conflicts with a concurrent writer.
const WRITE_ATTEMPTS: usize = 5;

/// Whether a write failed only because a concurrent transaction got in first: on
/// PostgreSQL another replica committed the same idempotency key or deadlocked with
/// it; on SQLite, where a group holds the write lock from its start, only when the
/// lock stayed taken past the busy timeout. A new attempt sees that commit and goes
/// through.
fn is_write_conflict(error: &anyhow::Error) -> bool {
    const CONFLICTS: [&str; 6] = [
        "23505", // PostgreSQL unique_violation
        "40001", // PostgreSQL serialization_failure
        "40P01", // PostgreSQL deadlock_detected
        "5",     // SQLITE_BUSY
        "261",   // SQLITE_BUSY_RECOVERY
        "517",   // SQLITE_BUSY_SNAPSHOT
    ];
    error
        .downcast_ref::<sqlx::Error>()
        .and_then(|error| error.as_database_error())
        .and_then(|error| error.code())
        .is_some_and(|code| CONFLICTS.contains(&code.as_ref()))
}

const THREAD_COLUMNS: &str = "thread_id, customer_id, anchor, topic, status, opened_by, \
     opened_channel, opened_at, last_activity_at, resolved_at, step_count, last_interaction_id";

const CONSENT_COLUMNS: &str = "consent_id, idempotency_key, customer_id, anchor, channel, \
     purpose, status, decided_at, source, recorded_at";

/// Tables keyed by customer, for following identity.
const CUSTOMER_TABLES: &[&str] = &[
    "interactions",
    "threads",
    "preferences",
    "consents",
    "segment_messages",
    "organization_links",
];

/// Where interaction keeps rows of a customer: every table moves with a merge; all but
/// `segment_messages` keep an anchor per row (a message follows its interaction).
const FOLLOWED: CustomerTables = CustomerTables {
    customer_column: "customer_id",
    all: CUSTOMER_TABLES,
    merged: CUSTOMER_TABLES,
    anchored: &[
        "interactions",
        "threads",
        "preferences",
        "consents",
        "organization_links",
    ],
};

fn small(row: &AnyRow, index: usize) -> i32 {
    i32::try_from(row.get::<i64, _>(index)).unwrap_or_default()
}

fn interaction_from_row(row: &AnyRow) -> Interaction {
    let currency: String = row.get(17);
    let cost = (!currency.is_empty()).then(|| Cost {
        currency,
        minor_units: row.get(18),
    });
    Interaction {
        interaction_id: row.get(0),
        idempotency_key: row.get(1),
        customer_id: row.get(2),
        anchor: row.get(3),
        channel: small(row, 4),
        kind: small(row, 5),
        direction: small(row, 6),
        occurred_at_micros: row.get(7),
        recorded_at_micros: row.get(8),
        thread_id: row.get(9),
        thread_status: small(row, 10),
        topic: row.get(11),
        summary: row.get(12),
        needs: decode_needs(&row.get::<String, _>(13)),
        outcome: row.get(14),
        sentiment: small(row, 15),
        agent: row.get(16),
        cost,
        automated: row.get::<i64, _>(19) != 0,
    }
}

fn thread_from_row(row: &AnyRow) -> Thread {
    Thread {
        thread_id: row.get(0),
        customer_id: row.get(1),
        anchor: row.get(2),
        topic: row.get(3),
        status: small(row, 4),
        opened_by: small(row, 5),
        opened_channel: small(row, 6),
        opened_at_micros: row.get(7),
        last_activity_at_micros: row.get(8),
        resolved_at_micros: row.get(9),
        step_count: row.get(10),
        last_interaction_id: row.get(11),
    }
}

fn consent_from_row(row: &AnyRow) -> Consent {
    Consent {
        consent_id: row.get(0),
        idempotency_key: row.get(1),
        customer_id: row.get(2),
        anchor: row.get(3),
        channel: small(row, 4),
        purpose: row.get(5),
        status: small(row, 6),
        decided_at_micros: row.get(7),
        source: row.get(8),
        recorded_at_micros: row.get(9),
    }
}

/// A value to bind to a dynamically built query.
enum Bind {
    Int(i64),
    Text(String),
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Int(value) => query.bind(value),
            Bind::Text(value) => query.bind(value),
        };
    }
    query
}

fn bind_interaction<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    interaction: &'q Interaction,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    let (currency, minor_units) = interaction
        .cost
        .as_ref()
        .map_or(("", 0), |cost| (cost.currency.as_str(), cost.minor_units));
    query
        .bind(interaction.interaction_id.as_str())
        .bind(interaction.idempotency_key.as_str())
        .bind(interaction.customer_id.as_str())
        .bind(interaction.anchor.as_str())
        .bind(i64::from(interaction.channel))
        .bind(i64::from(interaction.kind))
        .bind(i64::from(interaction.direction))
        .bind(interaction.occurred_at_micros)
        .bind(interaction.recorded_at_micros)
        .bind(interaction.thread_id.as_str())
        .bind(i64::from(interaction.thread_status))
        .bind(interaction.topic.as_str())
        .bind(interaction.summary.as_str())
        .bind(encode_needs(&interaction.needs))
        .bind(interaction.outcome.as_str())
        .bind(i64::from(interaction.sentiment))
        .bind(interaction.agent.as_str())
        .bind(currency)
        .bind(minor_units)
        .bind(i64::from(interaction.automated))
}

async fn interactions_by_keys(
    connection: &mut sqlx::AnyConnection,
    backend: Backend,
    keys: &[&str],
) -> anyhow::Result<HashMap<String, Interaction>> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT {COLUMNS} FROM interactions WHERE idempotency_key IN ({})",
            storage::placeholders(backend, 1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for key in chunk {
            query = query.bind(*key);
        }
        for row in query.fetch_all(&mut *connection).await? {
            let interaction = interaction_from_row(&row);
            found.insert(interaction.idempotency_key.clone(), interaction);
        }
    }
    Ok(found)
}

/// The threads of `ids` (sorted). On PostgreSQL the rows stay locked until the
/// transaction ends, so that replicas writing steps of one thread at the same moment
/// apply them one after the other instead of losing one; locking in id order keeps
/// two groups from deadlocking.
async fn threads_by_ids(
    connection: &mut sqlx::AnyConnection,
    backend: Backend,
    ids: &[&str],
) -> anyhow::Result<HashMap<String, Thread>> {
    let lock = match backend {
        Backend::Postgres => " ORDER BY thread_id FOR UPDATE",
        Backend::Sqlite => "",
    };
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT {THREAD_COLUMNS} FROM threads WHERE thread_id IN ({}){lock}",
            storage::placeholders(backend, 1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *connection).await? {
            let thread = thread_from_row(&row);
            found.insert(thread.thread_id.clone(), thread);
        }
    }
    Ok(found)
}

async fn interactions_by_ids(
    connection: &mut sqlx::AnyConnection,
    ids: &[&str],
) -> anyhow::Result<HashMap<String, Interaction>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        if chunk.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM interactions WHERE interaction_id IN ({})",
            storage::numbered_placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *connection).await? {
            let interaction = interaction_from_row(&row);
            found.insert(interaction.interaction_id.clone(), interaction);
        }
    }
    Ok(found)
}

async fn read_timeline(
    connection: &mut sqlx::AnyConnection,
    customer_id: &str,
    filter: &TimelineFilter,
    after: Option<&TimelineCursor>,
    limit: i64,
) -> anyhow::Result<Vec<Interaction>> {
    let mut conditions = vec!["customer_id = $1".to_owned()];
    let mut binds = vec![Bind::Text(customer_id.to_owned())];
    let next = |binds: &mut Vec<Bind>, bind: Bind| {
        binds.push(bind);
        format!("${}", binds.len())
    };
    if !filter.channels.is_empty() {
        let list: Vec<String> = filter
            .channels
            .iter()
            .map(|channel| next(&mut binds, Bind::Int(i64::from(*channel))))
            .collect();
        conditions.push(format!("channel IN ({})", list.join(", ")));
    }
    if !filter.kinds.is_empty() {
        let list: Vec<String> = filter
            .kinds
            .iter()
            .map(|kind| next(&mut binds, Bind::Int(i64::from(*kind))))
            .collect();
        conditions.push(format!("kind IN ({})", list.join(", ")));
    }
    if let Some(start) = filter.start_micros {
        conditions.push(format!(
            "occurred_at >= {}",
            next(&mut binds, Bind::Int(start))
        ));
    }
    if let Some(end) = filter.end_micros {
        conditions.push(format!(
            "occurred_at < {}",
            next(&mut binds, Bind::Int(end))
        ));
    }
    if let Some(thread_id) = &filter.thread_id {
        conditions.push(format!(
            "thread_id = {}",
            next(&mut binds, Bind::Text(thread_id.clone()))
        ));
    }
    if let Some(cursor) = after {
        let at = next(&mut binds, Bind::Int(cursor.occurred_at_micros));
        let at_again = next(&mut binds, Bind::Int(cursor.occurred_at_micros));
        let id = next(&mut binds, Bind::Text(cursor.interaction_id.clone()));
        conditions.push(format!(
            "(occurred_at < {at} OR (occurred_at = {at_again} AND interaction_id < {id}))"
        ));
    }
    let limit_placeholder = next(&mut binds, Bind::Int(limit));
    let sql = format!(
        "SELECT {COLUMNS} FROM interactions WHERE {}
         ORDER BY occurred_at DESC, interaction_id DESC LIMIT {limit_placeholder}",
        conditions.join(" AND ")
    );
    let rows = bind_all(sqlx::query(&sql), binds)
        .fetch_all(&mut *connection)
        .await?;
    Ok(rows.iter().map(interaction_from_row).collect())
}

/// OPEN and WAITING threads of the customer, most recently active first (at most
/// CONTEXT_THREADS), from the partial index of active threads.
async fn read_active_threads(
    connection: &mut sqlx::AnyConnection,
    customer_id: &str,
) -> anyhow::Result<Vec<Thread>> {
    let rows = sqlx::query(&format!(
        "SELECT {THREAD_COLUMNS} FROM threads WHERE customer_id = $1 AND status IN (1, 2)
         ORDER BY last_activity_at DESC, thread_id DESC LIMIT $2"
    ))
    .bind(customer_id)
    .bind(CONTEXT_THREADS)
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.iter().map(thread_from_row).collect())
}

/// Pairs each thread with its last step, in one query.
async fn with_last_steps(
    connection: &mut sqlx::AnyConnection,
    threads: Vec<Thread>,
) -> anyhow::Result<Vec<(Thread, Option<Interaction>)>> {
    let ids: Vec<&str> = threads
        .iter()
        .map(|thread| thread.last_interaction_id.as_str())
        .collect();
    let mut steps = interactions_by_ids(connection, &ids).await?;
    Ok(threads
        .into_iter()
        .map(|thread| {
            let step = steps.remove(&thread.last_interaction_id);
            (thread, step)
        })
        .collect())
}

async fn count_interactions(
    connection: &mut sqlx::AnyConnection,
    customer_id: &str,
) -> anyhow::Result<i64> {
    let row =
        sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM interactions WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_one(&mut *connection)
            .await?;
    Ok(row.get::<i64, _>(0))
}

async fn read_preferences(
    connection: &mut sqlx::AnyConnection,
    customer_id: &str,
) -> anyhow::Result<Vec<Preference>> {
    // Only the latest per key leaves the engine, and the engine seeks it per key in
    // the `preferences_latest` index (a skip scan over the distinct keys): a customer
    // who stated preferences hundreds of times costs one seek per key, not one row
    // per statement.
    let rows = sqlx::query(
        "WITH RECURSIVE keys(k) AS (
           SELECT MIN(pref_key) FROM preferences WHERE customer_id = $1
           UNION ALL
           SELECT (SELECT MIN(pref_key) FROM preferences
                   WHERE customer_id = $1 AND pref_key > keys.k)
           FROM keys WHERE keys.k IS NOT NULL),
         latest(k, interaction_id) AS (
           SELECT keys.k, (SELECT q.interaction_id FROM preferences q
                           WHERE q.customer_id = $1 AND q.pref_key = keys.k
                           ORDER BY q.expressed_at DESC, q.interaction_id DESC LIMIT 1)
           FROM keys WHERE keys.k IS NOT NULL)
         SELECT p.pref_key, p.pref_value, p.channel, p.expressed_at, p.interaction_id
         FROM latest JOIN preferences p
           ON p.interaction_id = latest.interaction_id AND p.pref_key = latest.k
         ORDER BY p.expressed_at DESC, p.interaction_id DESC, p.pref_key LIMIT $2",
    )
    .bind(customer_id)
    .bind(PREFERENCE_ROWS)
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .iter()
        .map(|row| Preference {
            key: row.get(0),
            value: row.get(1),
            channel: small(row, 2),
            expressed_at_micros: row.get(3),
            interaction_id: row.get(4),
        })
        .collect())
}

async fn read_consents(
    connection: &mut sqlx::AnyConnection,
    customer_id: &str,
) -> anyhow::Result<Vec<Consent>> {
    // The same rule as `current_consents`, applied in the engine.
    let rows = sqlx::query(&format!(
        "SELECT {CONSENT_COLUMNS} FROM (
           SELECT {CONSENT_COLUMNS},
             ROW_NUMBER() OVER (PARTITION BY channel, purpose
                                ORDER BY decided_at DESC, recorded_at DESC) AS latest
           FROM consents WHERE customer_id = $1) AS decided
         WHERE latest = 1 ORDER BY decided_at DESC LIMIT $2"
    ))
    .bind(customer_id)
    .bind(CONSENT_ROWS)
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.iter().map(consent_from_row).collect())
}

async fn read_organizations(
    connection: &mut sqlx::AnyConnection,
    customer_id: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT group_id, organization_name FROM organization_links WHERE customer_id = $1
         ORDER BY group_id LIMIT 100",
    )
    .bind(customer_id)
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Applies the group's thread requests in order against the loaded threads.
fn plan_group(
    items: Vec<NewInteraction>,
    mut existing: HashMap<String, Interaction>,
    threads: &mut HashMap<String, Thread>,
    changed_threads: &mut Vec<String>,
) -> (Vec<WriteOutcome>, Vec<Interaction>) {
    let mut outcomes = Vec::with_capacity(items.len());
    let mut new_rows = Vec::with_capacity(items.len());
    for item in items {
        let mut interaction = item.interaction;
        if let Some(first) = existing.get(&interaction.idempotency_key) {
            outcomes.push(WriteOutcome::Duplicate {
                interaction: first.clone(),
                thread: threads.get(&first.thread_id).cloned(),
            });
            continue;
        }
        let thread_id = match item.thread {
            ThreadRequest::None => None,
            ThreadRequest::Continue(id) | ThreadRequest::Open(id) => Some(id),
        };
        let mut thread_after = None;
        if let Some(thread_id) = thread_id {
            interaction.thread_id = thread_id.clone();
            match threads.get_mut(&thread_id) {
                Some(thread) if thread.customer_id != interaction.customer_id => {
                    outcomes.push(WriteOutcome::ThreadOfAnotherCustomer);
                    continue;
                }
                Some(thread) => {
                    thread.advance(&interaction, item.requested_status);
                    interaction.thread_status = thread.status;
                    thread_after = Some(thread.clone());
                }
                None => {
                    let thread = Thread::open(&thread_id, &interaction, item.requested_status);
                    interaction.thread_status = thread.status;
                    thread_after = Some(thread.clone());
                    threads.insert(thread_id.clone(), thread);
                }
            }
            if !changed_threads.contains(&thread_id) {
                changed_threads.push(thread_id);
            }
        }
        existing.insert(interaction.idempotency_key.clone(), interaction.clone());
        outcomes.push(WriteOutcome::Created {
            interaction: interaction.clone(),
            thread: thread_after,
        });
        new_rows.push(interaction);
    }
    (outcomes, new_rows)
}

#[async_trait]
impl InteractionStore for SqlInteractionStore {
    async fn write_group(
        &self,
        mut items: Vec<NewInteraction>,
    ) -> anyhow::Result<Vec<WriteOutcome>> {
        let mut attempt = 1;
        loop {
            // A retry plans again from what is committed by then.
            let retry = (attempt < WRITE_ATTEMPTS).then(|| items.clone());
            match self.try_write_group(items).await {
                Err(error) if retry.is_some() && is_write_conflict(&error) => {
                    tracing::debug!(
                        attempt,
                        "a concurrent writer conflicted; writing the group again"
                    );
                    items = retry.unwrap_or_default();
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    async fn timeline(
        &self,
        customer_id: &str,
        filter: &TimelineFilter,
        after: Option<&TimelineCursor>,
        limit: i64,
    ) -> anyhow::Result<Vec<Interaction>> {
        let mut connection = self.database.pool.acquire().await?;
        read_timeline(&mut connection, customer_id, filter, after, limit).await
    }

    async fn thread(&self, thread_id: &str) -> anyhow::Result<Option<Thread>> {
        let row = sqlx::query(&format!(
            "SELECT {THREAD_COLUMNS} FROM threads WHERE thread_id = $1"
        ))
        .bind(thread_id)
        .fetch_optional(&self.database.pool)
        .await?;
        Ok(row.as_ref().map(thread_from_row))
    }

    async fn thread_steps(&self, thread_id: &str, limit: i64) -> anyhow::Result<Vec<Interaction>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM interactions WHERE thread_id = $1
             ORDER BY occurred_at, interaction_id LIMIT $2"
        ))
        .bind(thread_id)
        .bind(limit)
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows.iter().map(interaction_from_row).collect())
    }

    async fn threads(
        &self,
        customer_id: &str,
        status: i32,
        after: Option<&ThreadCursor>,
        limit: i64,
    ) -> anyhow::Result<Vec<(Thread, Option<Interaction>)>> {
        let mut conditions = vec!["customer_id = $1".to_owned()];
        let mut binds = vec![Bind::Text(customer_id.to_owned())];
        if status != 0 {
            binds.push(Bind::Int(i64::from(status)));
            conditions.push(format!("status = ${}", binds.len()));
        }
        if let Some((at, id)) = after {
            binds.push(Bind::Int(*at));
            let at_index = binds.len();
            binds.push(Bind::Text(id.clone()));
            conditions.push(format!(
                "(last_activity_at < ${at_index} OR (last_activity_at = ${at_index} AND thread_id < ${}))",
                binds.len()
            ));
        }
        binds.push(Bind::Int(limit));
        let sql = format!(
            "SELECT {THREAD_COLUMNS} FROM threads WHERE {}
             ORDER BY last_activity_at DESC, thread_id DESC LIMIT ${}",
            conditions.join(" AND "),
            binds.len()
        );
        let rows = bind_all(sqlx::query(&sql), binds)
            .fetch_all(&self.database.pool)
            .await?;
        let threads: Vec<Thread> = rows.iter().map(thread_from_row).collect();
        {
            let mut connection = self.database.pool.acquire().await?;
            with_last_steps(&mut connection, threads).await
        }
    }

    async fn context(&self, customer_id: &str, recent_limit: i64) -> anyhow::Result<StoredContext> {
        // One read transaction on one connection: the screen sees one consistent
        // moment, and the small indexed queries cost less one after the other than
        // spread over pooled connections (each is its own thread with SQLite).
        let mut transaction = self.database.pool.begin().await?;
        let recent = read_timeline(
            &mut transaction,
            customer_id,
            &TimelineFilter::default(),
            None,
            recent_limit,
        )
        .await?;
        let threads = read_active_threads(&mut transaction, customer_id).await?;
        let active_threads = with_last_steps(&mut transaction, threads).await?;
        let preferences = read_preferences(&mut transaction, customer_id).await?;
        let consents = read_consents(&mut transaction, customer_id).await?;
        let organizations = read_organizations(&mut transaction, customer_id).await?;
        let interaction_count = count_interactions(&mut transaction, customer_id).await?;
        transaction.commit().await?;
        Ok(StoredContext {
            recent,
            active_threads,
            preferences,
            consents,
            interaction_count,
            organizations,
        })
    }

    async fn preferences(&self, customer_id: &str) -> anyhow::Result<Vec<Preference>> {
        let mut connection = self.database.pool.acquire().await?;
        read_preferences(&mut connection, customer_id).await
    }

    async fn consents(&self, customer_id: &str) -> anyhow::Result<Vec<Consent>> {
        let mut connection = self.database.pool.acquire().await?;
        read_consents(&mut connection, customer_id).await
    }

    async fn insert_consent(&self, consent: &Consent) -> anyhow::Result<(Consent, bool)> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (idempotency_key) DO NOTHING"
        ))
        .bind(&consent.consent_id)
        .bind(&consent.idempotency_key)
        .bind(&consent.customer_id)
        .bind(&consent.anchor)
        .bind(i64::from(consent.channel))
        .bind(&consent.purpose)
        .bind(i64::from(consent.status))
        .bind(consent.decided_at_micros)
        .bind(&consent.source)
        .bind(consent.recorded_at_micros)
        .execute(&self.database.pool)
        .await?
        .rows_affected()
            > 0;
        let row = sqlx::query(&format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE idempotency_key = $1"
        ))
        .bind(&consent.idempotency_key)
        .fetch_one(&self.database.pool)
        .await?;
        Ok((consent_from_row(&row), inserted))
    }

    async fn segment_message(
        &self,
        message_id: &str,
    ) -> anyhow::Result<Option<(String, String, String)>> {
        let row = sqlx::query(
            "SELECT event_type, customer_id, interaction_id FROM segment_messages
             WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.database.pool)
        .await?;
        Ok(row.map(|row| (row.get(0), row.get(1), row.get(2))))
    }

    async fn record_segment_message(
        &self,
        message_id: &str,
        event_type: &str,
        customer_id: &str,
        interaction_id: &str,
        now_micros: i64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO segment_messages (message_id, event_type, customer_id, interaction_id,
               ingested_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(message_id)
        .bind(event_type)
        .bind(customer_id)
        .bind(interaction_id)
        .bind(now_micros)
        .execute(&self.database.pool)
        .await?;
        Ok(())
    }

    async fn link_organization(
        &self,
        anchor: &str,
        customer_id: &str,
        group_id: &str,
        organization_name: &str,
        now_micros: i64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO organization_links (anchor, group_id, customer_id, organization_name,
               linked_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (anchor, group_id) DO UPDATE SET customer_id = $3,
               organization_name = $4",
        )
        .bind(anchor)
        .bind(group_id)
        .bind(customer_id)
        .bind(organization_name)
        .bind(now_micros)
        .execute(&self.database.pool)
        .await?;
        Ok(())
    }

    async fn organizations(&self, customer_id: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut connection = self.database.pool.acquire().await?;
        read_organizations(&mut connection, customer_id).await
    }

    async fn channel_report(
        &self,
        start_micros: i64,
        end_micros: i64,
        repeat_window_micros: i64,
    ) -> anyhow::Result<ChannelReport> {
        let pool = &self.database.pool;
        // Costs are summed in split form: no stored costs can make the report fail.
        let contacts_only = contacts_only_sql();
        let sql = format!(
            "SELECT channel, cost_currency, CAST(COUNT(*) AS BIGINT),
               CAST(COALESCE(SUM(automated), 0) AS BIGINT), {cost}
             FROM interactions WHERE occurred_at >= $1 AND occurred_at < $2 AND {contacts_only}
             GROUP BY channel, cost_currency ORDER BY channel, cost_currency",
            cost = split_sum_sql("cost_minor_units"),
        );
        let rows = sqlx::query(&sql)
            .bind(start_micros)
            .bind(end_micros)
            .fetch_all(pool)
            .await?;
        let rows = rows
            .iter()
            .map(|row| ChannelRow {
                channel: small(row, 0),
                currency: row.get(1),
                contacts: row.get(2),
                automated: row.get(3),
                cost_minor_units: combine_split_sum(row.get(4), row.get(5)).unwrap_or_default(),
            })
            .collect();
        // A contact repeats when the same customer raised the same topic (case-blind)
        // within the window before it; earlier contacts outside the period count as
        // the first one. Purchases and offer events are no contacts: a second order
        // is no sign that the first contact failed.
        let repeats = sqlx::query(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN previous IS NOT NULL AND occurred_at - previous <= $3
                 THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM (SELECT occurred_at, LAG(occurred_at) OVER (
                     PARTITION BY customer_id, LOWER(topic) ORDER BY occurred_at) AS previous
                   FROM interactions
                   WHERE topic <> '' AND {contacts_only}
                     AND occurred_at >= $1 - $3 AND occurred_at < $2) AS contacts
             WHERE occurred_at >= $1"
        ))
        .bind(start_micros)
        .bind(end_micros)
        .bind(repeat_window_micros)
        .fetch_one(pool)
        .await?;
        let not_contacts: i64 = sqlx::query_scalar(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM interactions
             WHERE occurred_at >= $1 AND occurred_at < $2 AND NOT ({contacts_only})"
        ))
        .bind(start_micros)
        .bind(end_micros)
        .fetch_one(pool)
        .await?;
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT), {duration}
             FROM threads WHERE status = 3 AND resolved_at >= $1 AND resolved_at < $2",
            duration = split_sum_sql("(resolved_at - opened_at)"),
        );
        let resolved = sqlx::query(&sql)
            .bind(start_micros)
            .bind(end_micros)
            .fetch_one(pool)
            .await?;
        Ok(ChannelReport {
            rows,
            topic_contacts: repeats.get(0),
            repeat_contacts: repeats.get(1),
            not_contacts,
            threads_resolved: resolved.get(0),
            resolution_micros_total: combine_split_sum(resolved.get(1), resolved.get(2))
                .unwrap_or_default(),
        })
    }

    async fn customers_with_data(
        &self,
        customer_ids: &[&str],
    ) -> anyhow::Result<std::collections::HashSet<String>> {
        FOLLOWED.holding(&self.database, customer_ids).await
    }

    async fn merge(&self, survivor: &str, absorbed: &[String]) -> anyhow::Result<()> {
        let mut transaction = self.database.pool.begin().await?;
        FOLLOWED.merge(&mut transaction, survivor, absorbed).await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn customers_of_anchor(&self, anchor: &str) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT customer_id FROM interactions WHERE anchor = $1 LIMIT 100",
        )
        .bind(anchor)
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn anchors(&self, customer_id: &str) -> anyhow::Result<Vec<String>> {
        let mut connection = self.database.pool.acquire().await?;
        FOLLOWED.anchors(&mut connection, customer_id).await
    }

    async fn move_anchor(
        &self,
        customer_id: &str,
        anchor: &str,
        target: &str,
    ) -> anyhow::Result<()> {
        let mut transaction = self.database.pool.begin().await?;
        FOLLOWED
            .move_anchor(&mut transaction, customer_id, anchor, target)
            .await?;
        // Segment messages follow the interaction they produced.
        sqlx::query(
            "UPDATE segment_messages SET customer_id = $1 WHERE customer_id = $2
               AND interaction_id IN (SELECT interaction_id FROM interactions
                                      WHERE customer_id = $1 AND anchor = $3)",
        )
        .bind(target)
        .bind(customer_id)
        .bind(anchor)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn export(&self, customer_id: &str) -> anyhow::Result<CustomerExport> {
        let pool = &self.database.pool;
        let interactions = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM interactions WHERE customer_id = $1
             ORDER BY occurred_at, interaction_id"
        ))
        .bind(customer_id)
        .fetch_all(pool)
        .await?;
        let threads = sqlx::query(&format!(
            "SELECT {THREAD_COLUMNS} FROM threads WHERE customer_id = $1
             ORDER BY opened_at, thread_id"
        ))
        .bind(customer_id)
        .fetch_all(pool)
        .await?;
        let preferences = sqlx::query(
            "SELECT pref_key, pref_value, channel, expressed_at, interaction_id
             FROM preferences WHERE customer_id = $1
             ORDER BY expressed_at, interaction_id, pref_key",
        )
        .bind(customer_id)
        .fetch_all(pool)
        .await?;
        let consents = sqlx::query(&format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE customer_id = $1
             ORDER BY decided_at, recorded_at, consent_id"
        ))
        .bind(customer_id)
        .fetch_all(pool)
        .await?;
        let organizations = sqlx::query(
            "SELECT group_id, organization_name FROM organization_links
             WHERE customer_id = $1 ORDER BY linked_at, group_id",
        )
        .bind(customer_id)
        .fetch_all(pool)
        .await?;
        Ok(CustomerExport {
            interactions: interactions.iter().map(interaction_from_row).collect(),
            threads: threads.iter().map(thread_from_row).collect(),
            preferences: preferences
                .iter()
                .map(|row| Preference {
                    key: row.get(0),
                    value: row.get(1),
                    channel: small(row, 2),
                    expressed_at_micros: row.get(3),
                    interaction_id: row.get(4),
                })
                .collect(),
            consents: consents.iter().map(consent_from_row).collect(),
            organizations: organizations
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect(),
            anchors: self.anchors(customer_id).await?,
        })
    }

    async fn erase(&self, customer_id: &str) -> anyhow::Result<()> {
        let mut transaction = self.database.pool.begin().await?;
        FOLLOWED.erase(&mut transaction, customer_id).await?;
        transaction.commit().await?;
        self.database.purge_deleted(CUSTOMER_TABLES).await
    }
}
