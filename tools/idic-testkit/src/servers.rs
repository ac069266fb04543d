//! Fresh PostgreSQL databases and isolated Redis key spaces for tests.

use std::time::Duration;

use sqlx::{Connection, Executor};

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

fn admin_database_url() -> String {
    std::env::var("IDIC_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

fn redis_url() -> String {
    std::env::var("IDIC_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// Skip locally, fail under CI.
fn unavailable(what: &str, error: &dyn std::fmt::Display) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required under CI but is not reachable: {error}");
    }
    eprintln!("skipping: {what} is not reachable ({error}); under CI this fails");
}

/// A database created for one test; [`TestPostgres::drop_database`] removes it.
pub struct TestPostgres {
    pub url: String,
    name: String,
}

impl TestPostgres {
    async fn create() -> anyhow::Result<TestPostgres> {
        install_drivers();
        let admin_url = admin_database_url();
        let mut admin = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::AnyConnection::connect(&admin_url),
        )
        .await??;
        let name = format!("idic_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        admin.close().await?;
        let mut url = url_with_database(&admin_url, &name)?;
        // Keep test pools small: many tests run at once against one server.
        url.push_str(if url.contains('?') { "&" } else { "?" });
        url.push_str("application_name=idic-test");
        Ok(TestPostgres { url, name })
    }

    /// Drops the database (after its pools are closed).
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut admin = sqlx::AnyConnection::connect(&admin_database_url()).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await?;
        admin.close().await?;
        Ok(())
    }
}

fn url_with_database(admin_url: &str, database: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(database);
    Ok(url.to_string())
}

fn install_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// A fresh PostgreSQL database, or `None` (after a message) when there is no server
/// and the run is not under CI.
pub async fn require_postgres() -> Option<TestPostgres> {
    match TestPostgres::create().await {
        Ok(database) => Some(database),
        Err(error) => {
            unavailable("PostgreSQL", &error);
            None
        }
    }
}

/// A Redis key space of one test: every key under a unique prefix.
pub struct TestRedis {
    pub url: String,
    pub key_prefix: String,
}

impl TestRedis {
    async fn connect() -> anyhow::Result<TestRedis> {
        let url = redis_url();
        let client = redis::Client::open(url.as_str())?;
        let mut connection = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await??;
        let pong: String = redis::cmd("PING").query_async(&mut connection).await?;
        anyhow::ensure!(pong == "PONG", "unexpected PING answer {pong}");
        Ok(TestRedis {
            url,
            key_prefix: format!("idic-test-{}", uuid::Uuid::new_v4().simple()),
        })
    }

    /// Deletes every key of this test.
    pub async fn clean(&self) -> anyhow::Result<()> {
        let client = redis::Client::open(self.url.as_str())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.key_prefix))
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut connection)
                .await?;
        }
        Ok(())
    }
}

/// A Redis key space, or `None` (after a message) when there is no server and the run
/// is not under CI.
pub async fn require_redis() -> Option<TestRedis> {
    match TestRedis::connect().await {
        Ok(redis) => Some(redis),
        Err(error) => {
            unavailable("Redis", &error);
            None
        }
    }
}

/// A loopback address nobody listens on now, for a process the test starts a moment
/// later. Taken below the kernel's ephemeral range (32768-60999 by default): a port
/// handed out as `127.0.0.1:0` can be given to another test's outgoing connection (to
/// PostgreSQL, Redis) before the process binds it, which a CI run once saw ("Address
/// already in use"). Ports below the range are never handed out implicitly; the
/// process id spreads concurrent test binaries apart, and each candidate is checked.
pub fn free_loopback_address() -> std::net::SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let spread = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    for _ in 0..SPAN {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + (spread + step.wrapping_mul(7_919)) % SPAN;
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port as u16));
        if std::net::TcpListener::bind(address).is_ok() {
            return address;
        }
    }
    panic!("no free loopback port below the ephemeral range")
}
