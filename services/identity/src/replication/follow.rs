//! A replica's life on PostgreSQL: lead if the lock is free, else load the engine,
//! follow the log and try the lock every poll; once elected, replay what is left of
//! the log, then write under the new epoch and keep the lease alive. A leader that
//! loses its lease stops writing at once, reloads its engine from the tables (it may
//! hold writes that never committed) and follows again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use idic_matching::normalize::NormalizeOptions;
use idic_runtime::outbox::Outbox;
use idic_runtime::storage::{Database, now_micros};
use tokio_util::sync::CancellationToken;

use super::lease::{self, Lease};
use super::{Replication, Role, log};
use crate::service::{Identity, Startup};
use crate::snapshot::{self, Position, Snapshots};
use crate::store::{IdentityStore, SqlIdentityStore};
use idic_engine::Settings;

/// How often a follower reads new log entries and tries the lock.
const POLL: Duration = Duration::from_millis(100);

/// How often a follower tries to become leader.
const ELECTION_POLL: Duration = Duration::from_millis(500);

/// How often a follower re-reads the leader's address.
const LEADER_ADDRESS_POLL: Duration = Duration::from_secs(2);

/// Log entries read per query.
const ENTRIES_PER_READ: i64 = 32;

/// How often the leader renews its lease (a statement on the lease session).
const RENEW_EVERY: Duration = Duration::from_secs(1);

/// A follower replaying for longer than this in one go reports itself not ready.
const READY_LAG: Duration = Duration::from_secs(5);

/// How often a follower checks for newly saved match parameters.
const PARAMS_POLL: Duration = Duration::from_secs(5);

/// How often a follower measures its lag (entries behind the log's head).
const LAG_POLL: Duration = Duration::from_secs(1);

/// How long log entries are kept: a follower further behind reloads from the tables.
const LOG_RETENTION: Duration = Duration::from_secs(15 * 60);

/// How often the leader drops entries older than [`LOG_RETENTION`].
const TRIM_EVERY: Duration = Duration::from_secs(60);

/// What starting a replica needs.
pub struct ReplicaOptions {
    pub database: Database,
    pub settings: Settings,
    pub normalize: NormalizeOptions,
    pub outbox: Outbox,
    /// Published while leading: where the others reach this replica.
    pub address: String,
    pub shutdown: CancellationToken,
    /// Local snapshots: a start loads the newest and replays the log from there.
    pub snapshots: Option<Arc<Snapshots>>,
}

/// Starts identity as a replica: leader if nobody leads, else a follower.
pub async fn start(options: ReplicaOptions) -> anyhow::Result<Arc<Identity>> {
    let replication = Arc::new(Replication::replicated());
    let store: Arc<dyn IdentityStore> = Arc::new(
        SqlIdentityStore::new(options.database.clone()).with_fence(replication.fence.clone()),
    );
    let pool = options.database.pool.clone();
    let mut lease = Lease::open(&options.database).await?;
    if lease.try_acquire().await? {
        // Elected before loading: the load sees every commit of any earlier leader.
        let epoch = lease.take_office(&options.address).await?;
        let last = log::last_position(&pool).await?;
        let startup = from_snapshot(&options, store.as_ref(), last).await?;
        let from_snapshot = startup.engine.is_some();
        replication.fence.lead(epoch, last);
        replication.reset_position(startup_position(&startup, last));
        replication.set_role(Role::Leader { epoch });
        let identity = Identity::start_with(
            store,
            options.settings,
            options.normalize,
            options.outbox,
            replication.clone(),
            startup,
        )
        .await?;
        if from_snapshot {
            // The log after the snapshot, before the first write (the tables on a gap).
            replay_all(&identity, &pool, &replication).await;
            identity.rebuild_memberships();
        }
        tracing::info!(epoch, position = last, "identity replica leads");
        tokio::spawn(run(
            Arc::downgrade(&identity),
            lease,
            pool,
            replication,
            options.address,
            options.shutdown,
            Stage::Leading,
        ));
        return Ok(identity);
    }
    // Read before the load: replaying from here again what the load saw is harmless.
    let from = log::last_position(&pool).await?;
    let startup = from_snapshot(&options, store.as_ref(), from).await?;
    replication.reset_position(startup_position(&startup, from));
    // Known from the first call on, so that writes are forwarded at once.
    let leader = lease::leader_address(&pool).await?;
    replication.set_role(Role::Follower { leader });
    let identity = Identity::start_with(
        store,
        options.settings,
        options.normalize,
        options.outbox,
        replication.clone(),
        startup,
    )
    .await?;
    tracing::info!(position = from, "identity replica follows");
    tokio::spawn(run(
        Arc::downgrade(&identity),
        lease,
        pool,
        replication,
        options.address,
        options.shutdown,
        Stage::Following,
    ));
    Ok(identity)
}

/// The engine from the newest local snapshot the log can bring up to date (its
/// position at most the log's head `last`), if snapshots are on. A log that no longer
/// holds the entries after it is found by the first catch-up, which reloads.
async fn from_snapshot(
    options: &ReplicaOptions,
    store: &dyn IdentityStore,
    last: u64,
) -> anyhow::Result<Startup> {
    let Some(snapshots) = &options.snapshots else {
        return Ok(Startup::default());
    };
    let (instance, _) = store.generation().await?;
    let restored = snapshot::restore(
        snapshots,
        store,
        &options.settings,
        &instance,
        move |position| match position {
            Position::Log(taken) if taken <= last => Ok(()),
            Position::Log(taken) => Err(format!(
                "taken at log position {taken}, beyond the log's head {last}"
            )),
            Position::Changes(_) => Err("taken by the embedded single replica".to_owned()),
        },
    )
    .await?;
    let (engine, position) = match restored {
        Some(restored) => (Some(restored.engine), Some(restored.position)),
        None => (None, None),
    };
    Ok(Startup {
        engine,
        snapshots: Some(snapshots.clone()),
        instance,
        position,
    })
}

/// The log position the starting engine holds: its snapshot's, or `read_before_load`
/// for an engine loaded from the tables.
fn startup_position(startup: &Startup, read_before_load: u64) -> u64 {
    match startup.position {
        Some(Position::Log(position)) => position,
        _ => read_before_load,
    }
}

/// Where a replica is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Following,
    Leading,
    Stopped,
}

/// Leads or follows, in turn, until the process stops.
async fn run(
    identity: std::sync::Weak<Identity>,
    mut lease: Lease,
    pool: sqlx::AnyPool,
    replication: Arc<Replication>,
    address: String,
    shutdown: CancellationToken,
    mut stage: Stage,
) {
    loop {
        stage = match stage {
            Stage::Stopped => return,
            Stage::Following => {
                follow(
                    &identity,
                    &mut lease,
                    &pool,
                    &replication,
                    &address,
                    &shutdown,
                )
                .await
            }
            Stage::Leading => {
                keep_office(&mut lease, &pool, &replication, &shutdown).await;
                if shutdown.is_cancelled() {
                    return;
                }
                let Some(identity) = identity.upgrade() else {
                    return;
                };
                reload(&identity, &pool, &replication).await;
                identity.rebuild_memberships();
                lease = open_again(&pool).await;
                Stage::Following
            }
        };
    }
}

/// A new lease session, retried until it opens.
async fn open_again(pool: &sqlx::AnyPool) -> Lease {
    loop {
        match reopen(pool).await {
            Ok(lease) => return lease,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "opening a lease session failed"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// What replaying the log found.
enum CatchUp {
    /// Every committed entry is replayed.
    Current,
    /// Entries this replica needs are gone (trimmed, or dropped by an erasure).
    Gap,
}

/// Replays every committed entry after the engine's position.
async fn catch_up(
    identity: &Arc<Identity>,
    pool: &sqlx::AnyPool,
    replication: &Replication,
) -> anyhow::Result<CatchUp> {
    let started = Instant::now();
    loop {
        if started.elapsed() > READY_LAG {
            replication.set_ready(false);
        }
        let held = replication.position();
        let entries = log::entries_after(pool, held, ENTRIES_PER_READ).await?;
        let Some((first, _)) = entries.first() else {
            return Ok(CatchUp::Current);
        };
        if *first != held + 1 {
            return Ok(CatchUp::Gap);
        }
        for (position, changes) in entries {
            // A large entry takes a while to replay: not on a runtime worker.
            let replaying = identity.clone();
            tokio::task::spawn_blocking(move || replaying.replay(changes)).await?;
            replication.set_position(position);
        }
    }
}

/// Reloads the engine from the tables, at the log position read before the load.
async fn reload(identity: &Identity, pool: &sqlx::AnyPool, replication: &Replication) {
    loop {
        match log::last_position(pool).await {
            Ok(from) => {
                replication.set_ready(false);
                identity.reload().await;
                replication.reset_position(from);
                return;
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "reading the log position failed"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Replays the log until the engine holds all of it; reloads on a gap.
async fn replay_all(identity: &Arc<Identity>, pool: &sqlx::AnyPool, replication: &Replication) {
    let mut reloaded = false;
    loop {
        match catch_up(identity, pool, replication).await {
            Ok(CatchUp::Current) => break,
            Ok(CatchUp::Gap) => {
                tracing::warn!("the log no longer holds what this replica needs; reloading");
                reload(identity, pool, replication).await;
                reloaded = true;
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "reading the log failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    if reloaded {
        identity.rebuild_memberships();
    }
}

/// Follows the log until elected (`Stage::Leading`) or stopped.
async fn follow(
    identity: &std::sync::Weak<Identity>,
    lease: &mut Lease,
    pool: &sqlx::AnyPool,
    replication: &Replication,
    address: &str,
    shutdown: &CancellationToken,
) -> Stage {
    // The load and the first entries replayed overlap (see `Engine::replay`).
    let mut memberships_settled = false;
    let mut last_election = Instant::now();
    let mut last_address = Instant::now() - LEADER_ADDRESS_POLL;
    let mut last_lag = Instant::now() - LAG_POLL;
    let mut last_params = Instant::now();
    let mut params_version = log::params_version(pool).await.unwrap_or(0);
    while !shutdown.is_cancelled() {
        let Some(identity) = identity.upgrade() else {
            return Stage::Stopped;
        };
        replay_all(&identity, pool, replication).await;
        if !memberships_settled {
            identity.rebuild_memberships();
            memberships_settled = true;
        }
        replication.set_ready(true);
        if last_params.elapsed() >= PARAMS_POLL {
            last_params = Instant::now();
            if let Ok(version) = log::params_version(pool).await
                && version != params_version
                && identity.refresh_params().await.is_ok()
            {
                params_version = version;
                tracing::info!(version, "identity follower took the new match parameters");
            }
        }
        if last_lag.elapsed() >= LAG_POLL {
            last_lag = Instant::now();
            if let Ok(head) = log::last_position(pool).await {
                let lag = head.saturating_sub(replication.position());
                ::metrics::gauge!("idic_identity_follower_lag_entries").set(lag as f64);
            }
        }
        if last_address.elapsed() >= LEADER_ADDRESS_POLL {
            last_address = Instant::now();
            if let Ok(leader) = lease::leader_address(pool).await {
                replication.set_role(Role::Follower { leader });
            }
        }
        if last_election.elapsed() >= ELECTION_POLL {
            last_election = Instant::now();
            match lease.try_acquire().await {
                Ok(true) => match promote(&identity, lease, pool, replication, address).await {
                    Ok(()) => return Stage::Leading,
                    Err(error) => {
                        // Holding the lock without leading would stop every election:
                        // closing the session releases it.
                        tracing::error!(
                            error = format!("{error:#}"),
                            "taking over as identity leader failed; following again"
                        );
                        replication.fence.depose();
                        *lease = open_again(pool).await;
                    }
                },
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "the lease session failed; opening a new one"
                    );
                    if let Ok(fresh) = reopen(pool).await {
                        *lease = fresh;
                    }
                }
            }
        }
        drop(identity);
        tokio::time::sleep(POLL).await;
    }
    Stage::Stopped
}

async fn reopen(pool: &sqlx::AnyPool) -> anyhow::Result<Lease> {
    Lease::open(&Database {
        pool: pool.clone(),
        backend: idic_runtime::storage::Backend::Postgres,
        writer: None,
    })
    .await
}

/// With the lock held: raises the epoch (which waits out the old leader's last
/// transaction), replays the rest of the log, then writes under the new epoch.
async fn promote(
    identity: &Arc<Identity>,
    lease: &mut Lease,
    pool: &sqlx::AnyPool,
    replication: &Replication,
    address: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let epoch = lease.take_office(address).await?;
    replay_all(identity, pool, replication).await;
    identity.refresh_params().await?;
    let position = replication.position();
    replication.fence.lead(epoch, position);
    replication.set_role(Role::Leader { epoch });
    ::metrics::gauge!("idic_identity_follower_lag_entries").set(0.0);
    tracing::info!(
        epoch,
        position,
        seconds = started.elapsed().as_secs_f64(),
        "identity replica took over as leader"
    );
    Ok(())
}

/// Renews the lease while leading and trims the log; returns when the process stops
/// or the lease is lost (then this replica no longer writes).
async fn keep_office(
    lease: &mut Lease,
    pool: &sqlx::AnyPool,
    replication: &Replication,
    shutdown: &CancellationToken,
) {
    let mut last_trim = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RENEW_EVERY) => {}
        }
        if let Err(error) = lease.renew().await {
            replication.fence.depose();
            replication.set_role(Role::Follower {
                leader: String::new(),
            });
            tracing::error!(
                error = format!("{error:#}"),
                "identity lost its leadership; no write commits from here, following again"
            );
            return;
        }
        if last_trim.elapsed() >= TRIM_EVERY {
            last_trim = Instant::now();
            let before = now_micros() - LOG_RETENTION.as_micros() as i64;
            if let Err(error) = log::trim(pool, before).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "trimming identity's log failed"
                );
            }
        }
    }
}
