//! Leadership through PostgreSQL itself: the leader is the replica holding a session
//! advisory lock, and each new leader raises the epoch in `identity_leader`, which
//! every write transaction checks ([`super::log::check_fence`]).
//!
//! The lock lives as long as the session on one dedicated connection. A killed leader's
//! connection closes and PostgreSQL releases the lock at once; a leader cut off by the
//! network loses its session to the keepalive and idle timeouts within seconds, and a
//! frozen one (SIGSTOP: its kernel still answers TCP keepalives) to the idle timeout
//! alone, since it stops renewing. Either way its writes can no longer commit: raising
//! the epoch waits for the transactions that checked the old one, and PostgreSQL ends
//! those a frozen leader left open ([`super::log::IDLE_IN_WRITE_TIMEOUT`]).

use std::time::Duration;

use idic_runtime::storage::{Database, now_micros};
use sqlx::{AnyConnection, Row as _};

/// The advisory lock of identity's leadership: this class ("IDIC") and the schema
/// (advisory locks are per database; each deployment has its own schema).
const LEADER_LOCK_CLASS: i32 = 0x4944_4943;

/// Session settings of the lease connection: PostgreSQL ends the session, releasing
/// the lock, once the leader has not been heard from for a few seconds.
const SESSION_SETTINGS: &[&str] = &[
    "SET idle_session_timeout = '5s'",
    "SET tcp_keepalives_idle = 2",
    "SET tcp_keepalives_interval = 1",
    "SET tcp_keepalives_count = 3",
];

/// Longest wait for the lease connection to answer before the leader steps down.
pub const LEASE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Lease {
    connection: AnyConnection,
}

impl Lease {
    /// Opens the dedicated session (leadership not taken yet).
    pub async fn open(database: &Database) -> anyhow::Result<Lease> {
        let mut connection = database.pool.acquire().await?.detach();
        for setting in SESSION_SETTINGS {
            if let Err(error) = sqlx::query(setting).execute(&mut connection).await {
                // Older servers lack some settings; the lock still works, failover is slower.
                tracing::warn!(error = %error, setting, "a lease session setting was refused");
            }
        }
        Ok(Lease { connection })
    }

    /// Takes the leadership lock if nobody holds it; never waits.
    pub async fn try_acquire(&mut self) -> anyhow::Result<bool> {
        let acquired: bool =
            sqlx::query("SELECT pg_try_advisory_lock($1, hashtext(current_schema()))")
                .bind(LEADER_LOCK_CLASS)
                .fetch_one(&mut self.connection)
                .await?
                .get(0);
        Ok(acquired)
    }

    /// With the lock held: raises the epoch (waiting for write transactions that
    /// checked the old one) and publishes this replica's address. Returns the epoch.
    pub async fn take_office(&mut self, address: &str) -> anyhow::Result<u64> {
        let epoch: i64 = sqlx::query(
            "UPDATE identity_leader SET epoch = epoch + 1, holder = $1, since = $2 WHERE id = 1 RETURNING epoch",
        )
        .bind(address.to_owned())
        .bind(now_micros())
        .fetch_one(&mut self.connection)
        .await?
        .get(0);
        Ok(epoch as u64)
    }

    /// Whether the session, and with it the lock, is still alive.
    pub async fn renew(&mut self) -> anyhow::Result<()> {
        // A statement, not a protocol ping: it is what keeps the idle timeout away.
        tokio::time::timeout(
            LEASE_TIMEOUT,
            sqlx::query("SELECT 1").execute(&mut self.connection),
        )
        .await
        .map_err(|_| anyhow::anyhow!("the lease connection did not answer in time"))??;
        Ok(())
    }
}

/// The address the current leader published ("" before the first election).
pub async fn leader_address(pool: &sqlx::AnyPool) -> anyhow::Result<String> {
    Ok(
        sqlx::query("SELECT holder FROM identity_leader WHERE id = 1")
            .fetch_one(pool)
            .await?
            .get(0),
    )
}
