//! Storage set-up shared by every service: one sqlx pool per service on PostgreSQL or
//! SQLite, chosen by URL, with the service's embedded migrations applied at start.
//!
//! Services write their SQL once against the `Any` driver. The few dialect rules that
//! keeps: times are `BIGINT` microseconds since the epoch, booleans are `BIGINT` 0/1,
//! aggregates that PostgreSQL would widen to NUMERIC are cast back to `BIGINT`, and
//! placeholders are `$1, $2, ...` (which SQLite accepts too).
//!
//! On PostgreSQL each service owns a schema named after it (`identity`, ...) in the
//! database of `DATABASE_URL`; on SQLite each service owns a file under the data
//! directory. Migrations run under sqlx's migration lock (an advisory lock on
//! PostgreSQL, the file lock on SQLite), so replicas may start together.

use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::config::{Config, ServiceName};

/// The engine behind a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A service's migrations per engine. Services write portable SQL and give one
/// migrator for both; an engine gets its own when a migration must differ.
pub struct Migrations {
    pub postgres: &'static Migrator,
    pub sqlite: &'static Migrator,
}

/// The shared migrations followed by one engine's own, in version order: that
/// engine's migrator. Versions must not repeat (checked: a repeat panics at start,
/// before any migration runs).
pub fn with_engine_migrations(shared: &Migrator, engine_only: &Migrator) -> Migrator {
    let mut migrations: Vec<_> = shared
        .migrations
        .iter()
        .chain(engine_only.migrations.iter())
        .cloned()
        .collect();
    migrations.sort_by_key(|migration| migration.version);
    for pair in migrations.windows(2) {
        assert!(
            pair[0].version != pair[1].version,
            "migration version {} is both shared and an engine's own",
            pair[0].version
        );
    }
    Migrator {
        migrations: migrations.into(),
        ..Migrator::DEFAULT
    }
}

/// A service's connection pool.
#[derive(Clone, Debug)]
pub struct Database {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Embedded identity only: one connection that commits the engine's change sets,
    /// with the large page cache (see [`connect_sqlite`]).
    pub writer: Option<AnyPool>,
}

impl Database {
    /// The pool that commits the service's bulk writes: its dedicated writer where it
    /// has one, else the pool.
    pub fn writer(&self) -> &AnyPool {
        self.writer.as_ref().unwrap_or(&self.pool)
    }
}

impl Database {
    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting up to the busy timeout): a transaction that reads
    /// first and writes later is refused at its first write, without waiting, while
    /// another connection writes.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }
}

/// How often an erasure tries to empty SQLite's write-ahead log while readers hold it;
/// each attempt waits up to the busy timeout.
const PURGE_ATTEMPTS: u32 = 3;

/// The pause between those attempts.
const PURGE_RETRY_PAUSE: Duration = Duration::from_millis(250);

impl Database {
    /// After rows with personal data were deleted from `tables` and committed: makes
    /// their bytes unreadable in the storage files, as far as the engine allows.
    ///
    /// SQLite already zeroed the rows in the pages (`secure_delete`), but older versions
    /// of those pages stay in the write-ahead log until it is overwritten: the log is
    /// copied back into the database file and truncated to nothing. That waits for
    /// readers to leave the log; an error means it could not be emptied yet (try again).
    ///
    /// PostgreSQL keeps dead rows until a VACUUM makes their space reusable: one is
    /// started on `tables` in the background, since on a large table it scans every
    /// index and must not hold up the caller. It does not overwrite the bytes at once;
    /// the README says what does.
    pub async fn purge_deleted(&self, tables: &[&str]) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => self.truncate_sqlite_log().await,
            Backend::Postgres => {
                self.spawn_vacuum(tables);
                Ok(())
            }
        }
    }

    async fn truncate_sqlite_log(&self) -> anyhow::Result<()> {
        use sqlx::Row as _;
        for attempt in 1..=PURGE_ATTEMPTS {
            // (busy, log frames, frames checkpointed); busy = 1 when a reader kept the
            // log from being emptied within the busy timeout.
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.pool)
                .await?;
            let busy: i64 = row.try_get(0)?;
            if busy == 0 {
                return Ok(());
            }
            if attempt < PURGE_ATTEMPTS {
                tokio::time::sleep(PURGE_RETRY_PAUSE).await;
            }
        }
        anyhow::bail!("readers kept SQLite's write-ahead log busy; it still holds erased rows")
    }

    fn spawn_vacuum(&self, tables: &[&str]) {
        if tables.is_empty() {
            return;
        }
        let statement = format!("VACUUM {}", tables.join(", "));
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(error) = pool.execute(statement.as_str()).await {
                tracing::warn!(%error, "vacuuming after an erasure failed; autovacuum will");
            }
        });
    }
}

static INSTALL_DRIVERS: Once = Once::new();

/// Connects `service` to its storage and brings its schema up to date.
pub async fn connect(
    config: &Config,
    service: ServiceName,
    migrations: &Migrations,
) -> anyhow::Result<Database> {
    INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
    let database = match &config.database_url {
        Some(url) => connect_postgres(url.expose(), service, config).await?,
        None => connect_sqlite(config, service).await?,
    };
    let migrator = match database.backend {
        Backend::Postgres => migrations.postgres,
        Backend::Sqlite => migrations.sqlite,
    };
    migrator
        .run(&database.pool)
        .await
        .with_context(|| format!("migrating the {service} schema"))?;
    crate::observability::watch_database_pool(service.as_str(), database.pool.clone());
    Ok(database)
}

fn pool_options(config: &Config) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(config.database.max_connections)
        .acquire_timeout(Duration::from_millis(config.database.acquire_timeout_ms))
}

async fn connect_postgres(
    url: &str,
    service: ServiceName,
    config: &Config,
) -> anyhow::Result<Database> {
    let schema = service.as_str();
    create_schema(url, schema).await?;
    let search_path = format!("SET search_path TO {schema}");
    let options = AnyConnectOptions::from_str(url).context("parsing DATABASE_URL")?;
    let pool = pool_options(config)
        .after_connect(move |connection, _meta| {
            let search_path = search_path.clone();
            Box::pin(async move {
                connection.execute(search_path.as_str()).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    Ok(Database {
        pool,
        backend: Backend::Postgres,
        writer: None,
    })
}

/// Creates the service's schema. Concurrent `CREATE SCHEMA IF NOT EXISTS` can still
/// collide in PostgreSQL, so replicas take an advisory lock around it.
async fn create_schema(url: &str, schema: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut connection = sqlx::AnyConnection::connect(url)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    // An arbitrary constant shared by every IDIC process: "IDIC" in ASCII.
    connection
        .execute("SELECT pg_advisory_lock(1229210947)")
        .await?;
    let created = connection
        .execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str())
        .await;
    connection
        .execute("SELECT pg_advisory_unlock(1229210947)")
        .await?;
    created.with_context(|| format!("creating schema {schema}"))?;
    connection.close().await?;
    Ok(())
}

async fn connect_sqlite(config: &Config, service: ServiceName) -> anyhow::Result<Database> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let path = config.data_dir.join(format!("{service}.db"));
    // The pool hands its idle connections out in turn, so each of them in time held
    // a page cache as large as the writer's (0.13 GiB at 1M records) and the commits
    // found the pages they had just written in another connection's cache. Identity's
    // change sets go through one connection that keeps the large cache; its other
    // connections read (the rebuild at start, exports) with SQLite's default.
    let writer = match writer_cache_kib(config, service) {
        Some(kib) => Some(sqlite_pool(config, service, &path, kib, Some(1)).await?),
        None => None,
    };
    let pool = sqlite_pool(config, service, &path, SQLITE_DEFAULT_CACHE_KIB, None).await?;
    Ok(Database {
        pool,
        backend: Backend::Sqlite,
        writer,
    })
}

/// A pool on the service's SQLite file, each connection with a `cache_kib` page cache;
/// `connections` overrides the configured maximum.
async fn sqlite_pool(
    config: &Config,
    service: ServiceName,
    path: &std::path::Path,
    cache_kib: u64,
    connections: Option<u32>,
) -> anyhow::Result<AnyPool> {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let options = AnyConnectOptions::from_str(&url)?;
    let mmap = format!("PRAGMA mmap_size = {}", mmap_bytes(config, service));
    let autocheckpoint = format!(
        "PRAGMA wal_autocheckpoint = {}",
        autocheckpoint_pages(service)
    );
    let cache = format!("PRAGMA cache_size = -{cache_kib}");
    let mut pool = pool_options(config);
    if let Some(connections) = connections {
        pool = pool.max_connections(connections);
    }
    pool.after_connect(move |connection, _meta| {
        let mmap = mmap.clone();
        let autocheckpoint = autocheckpoint.clone();
        let cache = cache.clone();
        Box::pin(async move {
            // busy_timeout first: the other pragmas may wait for a writer.
            connection.execute("PRAGMA busy_timeout = 10000").await?;
            connection.execute("PRAGMA journal_mode = WAL").await?;
            // WAL with NORMAL survives a process crash; an OS crash may lose the
            // last transactions, which is the embedded mode's documented trade-off.
            connection.execute("PRAGMA synchronous = NORMAL").await?;
            connection.execute("PRAGMA foreign_keys = ON").await?;
            // Deleted rows and freed pages are overwritten with zeros instead of
            // left in the file: an erased customer's data must not stay readable
            // in the bytes ([`Database::purge_deleted`] empties the log as well).
            connection.execute("PRAGMA secure_delete = ON").await?;
            // Statement journals (multi-row upserts) and sorts stay in memory
            // instead of temporary files: a write and a read of a file each time.
            connection.execute("PRAGMA temp_store = MEMORY").await?;
            connection.execute(mmap.as_str()).await?;
            connection.execute(autocheckpoint.as_str()).await?;
            connection.execute(cache.as_str()).await?;
            Ok(())
        })
    })
    .connect_with(options)
    .await
    .with_context(|| format!("opening {}", path.display()))
}

/// After how many pages in the write-ahead log a commit copies them back into the
/// database file. Identity commits thousands of rows at a time while importing, most
/// of them on the same index pages from one commit to the next: copying back after
/// every 64 MB instead of SQLite's 4 MB writes each such page once instead of over and
/// over. Identity also empties the log itself every few commits (its persister).
/// (512 MiB wrote 15% fewer bytes in the 1M import, with no difference in time beyond
/// the host's drift, and left a 0.65 GB log beside a 0.53 GB database.)
fn autocheckpoint_pages(service: ServiceName) -> u32 {
    match service {
        ServiceName::Identity => 16_384,
        _ => 1_000,
    }
}

/// SQLite's own default page cache, in KiB.
const SQLITE_DEFAULT_CACHE_KIB: u64 = 2 * 1024;

/// The page cache of identity's writer connection, in KiB; `None` (no writer of its
/// own) for the other services and when configured to 0. Identity writes thousands of
/// rows per commit into indexes that cover the whole base: with SQLite's 2 MiB default,
/// a commit spilled dirty pages into the log before it ended and read the same index
/// pages back from the file over and over (a profile of the 1M import: page copies and
/// file reads about a sixth of the server's CPU; 24 MiB made it about 8% faster in an
/// interleaved A/B). The others read through their memory map.
/// Pages are allocated as they are used.
fn writer_cache_kib(config: &Config, service: ServiceName) -> Option<u64> {
    match (service, config.database.sqlite_identity_cache_mb) {
        (ServiceName::Identity, mb) if mb > 0 => Some(mb.saturating_mul(1024)),
        _ => None,
    }
}

/// How much of the service's SQLite file to read through a memory map. The read-heavy
/// services (an agent's screen, a customer's value, an offering) then read pages
/// without a system call and a copy into a per-connection page cache far smaller
/// than their working set (GetContext's p99 fell from about 10 ms to under 3 ms with
/// 1M interactions). Identity serves its reads from its in-memory engine and reads
/// its file only to rebuild that engine at start, where a map would only add the
/// whole file to the process's resident memory.
fn mmap_bytes(config: &Config, service: ServiceName) -> u64 {
    match service {
        ServiceName::Identity => 0,
        _ => config.database.sqlite_mmap_mb.saturating_mul(1 << 20),
    }
}

/// Two SQL select expressions that sum a BIGINT column without overflow, in both
/// engines: the sum of its high 32 bits (arithmetic shift) and the sum of its low 32
/// bits. Each part fits a BIGINT for up to 2^31 rows, where a plain `SUM` overflows with
/// two rows near `i64::MAX` (an error in SQLite, a failed cast in PostgreSQL) and would
/// break every later read. Read the two columns back with [`combine_split_sum`].
pub fn split_sum_sql(column: &str) -> String {
    format!("CAST(SUM({column} >> 32) AS BIGINT), CAST(SUM({column} & 4294967295) AS BIGINT)")
}

/// The exact sum of a [`split_sum_sql`] pair, saturated to the `i64` range; `None`
/// when the column held no value (SQL's `SUM` of nothing).
pub fn combine_split_sum(high: Option<i64>, low: Option<i64>) -> Option<i64> {
    let (high, low) = (high?, low.unwrap_or(0));
    let exact = (i128::from(high) << 32) + i128::from(low);
    Some(exact.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Microseconds since the Unix epoch, the suite's storage format for instants.
pub fn micros_from_timestamp(timestamp: &prost_types::Timestamp) -> i64 {
    timestamp
        .seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(timestamp.nanos / 1_000))
}

/// The protobuf timestamp of stored microseconds.
pub fn timestamp_from_micros(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Now, in storage format.
pub fn now_micros() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
}

/// `count` placeholders numbered from `first` for a statement built at run time:
/// `$first, ...` on PostgreSQL, `?, ...` on SQLite, where numbered names cost a
/// lookup per parameter that makes a long multi-row statement quadratic.
pub fn placeholders(backend: Backend, first: usize, count: usize) -> String {
    let mut list = String::with_capacity(count * 4);
    push_placeholders(&mut list, backend, first, count);
    list
}

/// `$first, $first+1, ...`: valid on both engines, for short lists and for
/// statements that name a placeholder more than once.
pub fn numbered_placeholders(first: usize, count: usize) -> String {
    placeholders(Backend::Postgres, first, count)
}

/// The VALUES rows of a multi-row statement: `(?, ?), (?, ?)` on SQLite, `($1, $2),
/// ($3, $4)` on PostgreSQL, for `rows` rows of `columns` values. Written into one
/// string: an import builds one per statement of 500 rows, and a `format!` per row
/// was a few percent of its instructions.
pub fn row_placeholders(backend: Backend, rows: usize, columns: usize) -> String {
    let mut list = String::with_capacity(rows * (columns * 4 + 4));
    for row in 0..rows {
        if row > 0 {
            list.push_str(", ");
        }
        list.push('(');
        push_placeholders(&mut list, backend, row * columns + 1, columns);
        list.push(')');
    }
    list
}

fn push_placeholders(list: &mut String, backend: Backend, first: usize, count: usize) {
    use std::fmt::Write as _;
    for index in first..first + count {
        if index > first {
            list.push_str(", ");
        }
        match backend {
            Backend::Sqlite => list.push('?'),
            // Writing into a String cannot fail.
            Backend::Postgres => {
                let _ = write!(list, "${index}");
            }
        }
    }
}

/// Ids asked about per statement (each is bound once and named in every table's list).
const IDS_PER_STATEMENT: usize = 200;

/// Which of `customer_ids` have a row in any of `tables`, whose customer column is
/// `column`. Each table needs an index that leads with that column.
pub async fn customers_with_rows(
    database: &Database,
    tables: &[&str],
    column: &str,
    customer_ids: &[&str],
) -> anyhow::Result<std::collections::HashSet<String>> {
    use sqlx::Row as _;
    let mut held = std::collections::HashSet::new();
    if tables.is_empty() {
        return Ok(held);
    }
    for chunk in customer_ids.chunks(IDS_PER_STATEMENT) {
        let list = numbered_placeholders(1, chunk.len());
        let sql = tables
            .iter()
            .map(|table| format!("SELECT {column} FROM {table} WHERE {column} IN ({list})"))
            .collect::<Vec<_>>()
            .join(" UNION ");
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&database.pool).await? {
            held.insert(row.try_get::<String, _>(0)?);
        }
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_placeholders_number_across_rows_on_postgres_only() {
        assert_eq!(
            row_placeholders(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(row_placeholders(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
        assert_eq!(row_placeholders(Backend::Sqlite, 1, 1), "(?)");
        assert_eq!(placeholders(Backend::Postgres, 9, 3), "$9, $10, $11");
        assert_eq!(placeholders(Backend::Sqlite, 9, 3), "?, ?, ?");
        assert_eq!(numbered_placeholders(1, 2), "$1, $2");
    }

    /// Identity's connections get the configured page cache; the others SQLite's own.
    #[tokio::test]
    async fn identitys_sqlite_page_cache_follows_the_configuration() {
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let directory = std::env::temp_dir().join(format!(
            "idic-cache-test-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut config = Config {
            data_dir: directory.clone(),
            ..Config::default()
        };
        let cache_size = |pool: &AnyPool| {
            let pool = pool.clone();
            async move {
                let (size,): (i64,) = sqlx::query_as("PRAGMA cache_size")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                size
            }
        };
        for (mb, writer_kib) in [(24, -24 * 1024), (0, -2 * 1024)] {
            config.database.sqlite_identity_cache_mb = mb;
            let identity = connect_sqlite(&config, ServiceName::Identity)
                .await
                .unwrap();
            assert_eq!(cache_size(identity.writer()).await, writer_kib, "{mb} MiB");
            assert_eq!(identity.writer.is_some(), mb > 0);
            if let Some(writer) = &identity.writer {
                assert_eq!(writer.options().get_max_connections(), 1);
            }
            // Identity's readers keep SQLite's default: one large cache, not one each.
            assert_eq!(cache_size(&identity.pool).await, -2 * 1024, "{mb} MiB");
            let interaction = connect_sqlite(&config, ServiceName::Interaction)
                .await
                .unwrap();
            assert!(interaction.writer.is_none());
            assert_eq!(cache_size(&interaction.pool).await, -2 * 1024);
        }
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn split_sums_are_exact_and_saturate() {
        let split = |values: &[i64]| -> (i64, i64) {
            (
                values.iter().map(|value| value >> 32).sum(),
                values.iter().map(|value| value & 0xFFFF_FFFF).sum(),
            )
        };
        for values in [
            vec![5, -3, 1 << 40],
            vec![-(1 << 45), 7],
            vec![i64::MIN + 1, 2],
        ] {
            let (high, low) = split(&values);
            let plain: i64 = values.iter().sum();
            assert_eq!(combine_split_sum(Some(high), Some(low)), Some(plain));
        }
        let (high, low) = split(&[i64::MAX, i64::MAX]);
        assert_eq!(combine_split_sum(Some(high), Some(low)), Some(i64::MAX));
        let (high, low) = split(&[i64::MIN, i64::MIN]);
        assert_eq!(combine_split_sum(Some(high), Some(low)), Some(i64::MIN));
        assert_eq!(combine_split_sum(None, None), None);
    }

    #[test]
    fn timestamps_round_trip_through_micros() {
        for micros in [0, 1, -1, 1_700_000_000_123_456, -1_000_001] {
            assert_eq!(
                micros_from_timestamp(&timestamp_from_micros(micros)),
                micros
            );
        }
    }
}
