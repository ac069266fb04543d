//! Identity with several replicas on one PostgreSQL database: one leader writes, the
//! others follow the committed change log with a warm engine and serve reads.
//!
//! - Leadership: a PostgreSQL advisory lock and an epoch ([`lease`]); every write
//!   transaction checks the epoch first ([`log::check_fence`]), so a deposed leader
//!   can never commit.
//! - The log: each group commit of the leader also writes its change set as one
//!   numbered entry ([`log`]); followers replay the entries in order
//!   ([`idic_engine::Engine::replay`]) and take over when the lock comes free
//!   ([`follow`]).
//! - Clients: a follower forwards writes to the leader ([`forward`]); positions in
//!   metadata let a client read its writes on any replica ([`consistency`]).
//!
//! The embedded default (SQLite, one process) has one replica and none of this: its
//! role is [`Role::Single`].

pub mod consistency;
pub mod follow;
pub mod forward;
pub mod lease;
pub mod log;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use idic_runtime::ApiError;
use tokio::sync::watch;

/// What this replica does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The only replica (embedded SQLite): writes, no log.
    Single,
    /// Writes, fenced by its epoch.
    Leader { epoch: u64 },
    /// Replays the log; `leader` is the address the leader published, if known.
    Follower { leader: String },
}

/// The epoch this replica writes under and the log positions it hands out. Shared by
/// the store (which checks and advances it in each write transaction) and the
/// replication tasks (which set it on election and clear it on loss).
#[derive(Debug, Default)]
pub struct Fence {
    /// 0 while this replica does not lead.
    epoch: AtomicU64,
    next_position: AtomicU64,
}

impl Fence {
    pub fn epoch(&self) -> Option<u64> {
        let epoch = self.epoch.load(Ordering::Acquire);
        (epoch != 0).then_some(epoch)
    }

    pub fn next_position(&self) -> u64 {
        self.next_position.load(Ordering::Acquire)
    }

    /// After the entry at `position` committed.
    pub fn committed(&self, position: u64) {
        self.next_position.store(position + 1, Ordering::Release);
    }

    fn lead(&self, epoch: u64, last_position: u64) {
        self.next_position
            .store(last_position + 1, Ordering::Release);
        self.epoch.store(epoch, Ordering::Release);
    }

    fn depose(&self) {
        self.epoch.store(0, Ordering::Release);
    }
}

/// This replica's role and the log position its engine holds.
#[derive(Debug)]
pub struct Replication {
    pub fence: std::sync::Arc<Fence>,
    role: watch::Sender<Role>,
    /// The last log position the engine holds (committed on a leader, replayed on a
    /// follower).
    position: watch::Sender<u64>,
    /// Ready for reads: leading, or following with little lag (the health entry, and
    /// so Kubernetes readiness, follows it).
    ready: watch::Sender<bool>,
}

impl Replication {
    /// The embedded single replica.
    pub fn single() -> Replication {
        Replication::new(Role::Single)
    }

    /// A replica on PostgreSQL, following until elected.
    pub fn replicated() -> Replication {
        Replication::new(Role::Follower {
            leader: String::new(),
        })
    }

    fn new(role: Role) -> Replication {
        let ready = role == Role::Single;
        Replication {
            fence: Default::default(),
            role: watch::channel(role).0,
            position: watch::channel(0).0,
            ready: watch::channel(ready).0,
        }
    }

    /// Follows whether this replica is ready for reads.
    pub fn readiness(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    fn set_ready(&self, ready: bool) {
        self.ready
            .send_if_modified(|held| std::mem::replace(held, ready) != ready);
    }

    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    fn set_role(&self, role: Role) {
        if matches!(role, Role::Leader { .. }) {
            self.set_ready(true);
        }
        self.role.send_replace(role);
    }

    pub fn position(&self) -> u64 {
        *self.position.borrow()
    }

    /// The position of the last entry this replica committed (0 without a log).
    pub(crate) fn committed_position(&self) -> u64 {
        match self.role() {
            Role::Single | Role::Follower { .. } => 0,
            Role::Leader { .. } => self.fence.next_position().saturating_sub(1),
        }
    }

    pub(crate) fn set_position(&self, position: u64) {
        self.position.send_if_modified(|held| {
            let advanced = position > *held;
            *held = position.max(*held);
            advanced
        });
    }

    /// Forgets the position (before a reload from the tables at an older one).
    fn reset_position(&self, position: u64) {
        self.position.send_replace(position);
    }

    /// Waits until the engine holds `position`, at most `wait`; false if it did not.
    pub async fn wait_for(&self, position: u64, wait: Duration) -> bool {
        let mut watcher = self.position.subscribe();
        let reached = tokio::time::timeout(wait, watcher.wait_for(|held| *held >= position)).await;
        matches!(reached, Ok(Ok(_)))
    }

    /// Why this replica cannot take a write, if it cannot.
    pub fn refuse_write(&self) -> Option<ApiError> {
        match self.role() {
            Role::Single | Role::Leader { .. } => None,
            Role::Follower { leader } if leader.is_empty() => Some(ApiError::Unavailable {
                message: "identity has no leader at the moment (an election is under way); retry"
                    .to_owned(),
                retry_after: Duration::from_secs(1),
            }),
            Role::Follower { leader } => Some(ApiError::Unavailable {
                message: format!(
                    "this identity replica follows; the leader is at {leader}: send writes there, or retry"
                ),
                retry_after: Duration::from_millis(500),
            }),
        }
    }
}
