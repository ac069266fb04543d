//! Snapshots of the engine on local disk, so that a restart reads one file instead of
//! normalizing every stored record again (`identity.snapshot_dir`).
//!
//! - **What a snapshot covers** ([`file::Position`]): on replicas, the last change log
//!   entry the engine holds; a start loads it and replays the log from there (a log
//!   that no longer covers it sends the replica back to the tables). Embedded, there is
//!   no log: every commit raises a change counter in its own transaction, and a
//!   snapshot is loaded only when its counter equals the database's, so it is provably
//!   what the tables hold; otherwise the engine is rebuilt from the tables.
//! - **When**: every `snapshot_every_seconds` when something changed, after
//!   `snapshot_every_changes` records changed, and at graceful shutdown. Taken off the
//!   async runtime, under the engine's read lock (reads go on, writes wait: the pause
//!   is logged) and only when every write the engine holds is committed.
//! - **Erasure**: every erasure committed or replayed removes every snapshot file
//!   (overwritten, then deleted), and a snapshot being written when it happens is
//!   discarded: erased data never survives in a snapshot.
//! - **Trust**: a file with another magic, format version, checksum, database or an
//!   inconsistent image is ignored with a warning, and the tables are read.

pub mod file;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLockReadGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use idic_runtime::Config;
use idic_runtime::storage::{Backend, now_micros};
use tokio_util::sync::CancellationToken;

use crate::store::IdentityStore;
pub use file::{Header, Position};
use idic_engine::{Engine, EngineImage, Settings};

/// What a snapshot is taken of: the service's engine, the position it stands at and
/// the database it belongs to. A trait, so that this module does not import the
/// service that imports it (the service implements it).
pub trait Source: Send + Sync + 'static {
    /// The engine, read-locked.
    fn engine(&self) -> RwLockReadGuard<'_, Engine>;
    /// With the engine's lock held: the position it stands at when every write it
    /// holds is committed, else `None` (a snapshot must wait).
    fn settled_position(&self) -> anyhow::Result<Option<Position>>;
    /// The database's instance id.
    fn instance(&self) -> &str;
}

/// How often the schedule checks whether a snapshot is due.
const TICK: Duration = Duration::from_secs(1);

/// A snapshot that could not be taken (writes in flight) is tried again after this.
const RETRY: Duration = Duration::from_secs(5);

/// The snapshot directory of this process and when to write the next one.
pub struct Snapshots {
    dir: PathBuf,
    every: Duration,
    every_changes: u64,
    /// Held while a snapshot is written and while files are removed: an erasure waits
    /// for a write in progress, then removes its file too.
    files: Mutex<()>,
    /// Erasures seen: a snapshot captured before one is discarded instead of published.
    erasures: AtomicU64,
    /// Records changed since the last snapshot (`u64::MAX / 2`: none on disk yet).
    changes: AtomicU64,
    last: Mutex<Instant>,
}

/// The configured directory: `identity.snapshot_dir`, or embedded
/// `<data_dir>/identity-snapshots`; none on PostgreSQL unless configured, or when
/// set to `off`.
pub fn from_config(config: &Config, backend: Backend) -> anyhow::Result<Option<Arc<Snapshots>>> {
    let configured = config.identity.snapshot_dir.trim();
    let dir = match (configured, backend) {
        ("off", _) => return Ok(None),
        ("", Backend::Sqlite) => config.data_dir.join("identity-snapshots"),
        ("", Backend::Postgres) => return Ok(None),
        (path, _) => PathBuf::from(path),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating identity.snapshot_dir {}", dir.display()))?;
    Ok(Some(Arc::new(Snapshots::new(
        dir,
        Duration::from_secs(config.identity.snapshot_every_seconds.max(1)),
        config.identity.snapshot_every_changes.max(1),
    ))))
}

/// What taking a snapshot did.
#[derive(Debug)]
pub enum Taken {
    Written {
        position: Position,
        bytes: u64,
        records: usize,
        /// How long the engine's lock was held (writes waited this long at most).
        pause: Duration,
        total: Duration,
    },
    /// Writes were not yet committed, or the engine was being rebuilt.
    NotNow,
    /// An erasure happened meanwhile; the file was removed.
    Discarded,
}

impl Snapshots {
    pub fn new(dir: PathBuf, every: Duration, every_changes: u64) -> Snapshots {
        Snapshots {
            dir,
            every,
            every_changes,
            files: Mutex::new(()),
            erasures: AtomicU64::new(0),
            changes: AtomicU64::new(u64::MAX / 2),
            last: Mutex::new(Instant::now()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Counts records changed (written or replayed) towards the next snapshot.
    pub fn note_changes(&self, records: usize) {
        self.changes
            .fetch_add(records.max(1) as u64, Ordering::Relaxed);
    }

    fn due(&self) -> bool {
        let changes = self.changes.load(Ordering::Relaxed);
        let elapsed = self
            .last
            .lock()
            .map(|last| last.elapsed())
            .unwrap_or_default();
        changes >= self.every_changes || (changes > 0 && elapsed >= self.every)
    }

    fn lock_files(&self) -> std::sync::MutexGuard<'_, ()> {
        self.files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Snapshot files, newest first (by the time in their name), temporary ones apart.
    fn files(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let mut snapshots = Vec::new();
        let mut temporary = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return (snapshots, temporary);
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".snap.tmp") {
                temporary.push(entry.path());
            } else if name.starts_with("identity-") && name.ends_with(".snap") {
                snapshots.push(entry.path());
            }
        }
        snapshots.sort();
        snapshots.reverse();
        (snapshots, temporary)
    }

    /// After an erasure: removes every snapshot (and any being written, which is then
    /// discarded). Blocking: call off the async runtime.
    pub fn forget_all(&self) {
        self.erasures.fetch_add(1, Ordering::AcqRel);
        let _files = self.lock_files();
        let (snapshots, temporary) = self.files();
        let removed = snapshots.len() + temporary.len();
        for path in snapshots.iter().chain(&temporary) {
            file::shred(path);
        }
        // The next snapshot is due at once: the erased engine is what should be on disk.
        self.changes.fetch_add(u64::MAX / 4, Ordering::Relaxed);
        tracing::info!(removed, "identity snapshots removed after an erasure");
    }

    /// Takes a snapshot of `identity` if every write its engine holds is committed.
    /// Blocking: call off the async runtime (`tokio::task::spawn_blocking`).
    pub fn take(&self, identity: &impl Source) -> anyhow::Result<Taken> {
        let started = Instant::now();
        let erasures = self.erasures.load(Ordering::Acquire);
        let engine = identity.engine();
        let locked = Instant::now();
        let Some(position) = identity.settled_position()? else {
            return Ok(Taken::NotNow);
        };
        let changes_before = self.changes.load(Ordering::Relaxed);
        let header = Header {
            instance: identity.instance().to_owned(),
            position,
            taken_at: now_micros(),
            records: engine.record_count() as u64,
            customers: engine.customer_count() as u64,
        };
        let _files = self.lock_files();
        let mut draft = file::Draft::create(&self.dir, &header)?;
        let written = postcard::to_io(&engine.image(), draft.payload());
        drop(engine);
        let pause = locked.elapsed();
        if let Err(error) = written {
            draft.discard();
            return Err(error).context("writing the engine image");
        }
        let finished = match draft.finish() {
            Ok(finished) => finished,
            Err(error) => return Err(error.context("finishing the snapshot file")),
        };
        if self.erasures.load(Ordering::Acquire) != erasures {
            finished.discard();
            return Ok(Taken::Discarded);
        }
        let bytes = finished.bytes;
        let name = format!("identity-{:020}.snap", header.taken_at);
        let target = self.dir.join(name);
        finished.publish(&target)?;
        let (snapshots, _) = self.files();
        for older in snapshots.iter().filter(|path| **path != target) {
            file::shred(older);
        }
        self.changes.fetch_sub(changes_before, Ordering::Relaxed);
        if let Ok(mut last) = self.last.lock() {
            *last = Instant::now();
        }
        Ok(Taken::Written {
            position: header.position,
            bytes,
            records: header.records as usize,
            pause,
            total: started.elapsed(),
        })
    }

    /// The newest snapshot of database `instance` whose position `accept` takes, read
    /// and decoded; files that cannot be trusted are skipped with a warning.
    pub fn newest(
        &self,
        instance: &str,
        accept: &dyn Fn(Position) -> Result<(), String>,
    ) -> Option<(Header, EngineImage)> {
        let _files = self.lock_files();
        let (snapshots, _) = self.files();
        for path in snapshots {
            let loaded = match file::read(&path) {
                Ok(loaded) => loaded,
                Err(error) => {
                    tracing::warn!(path = %path.display(), error = format!("{error:#}"), "ignoring an unreadable identity snapshot");
                    continue;
                }
            };
            if loaded.header.instance != instance {
                tracing::warn!(path = %path.display(), "ignoring an identity snapshot of another database");
                continue;
            }
            if let Err(why) = accept(loaded.header.position) {
                tracing::warn!(path = %path.display(), why, "identity snapshot not current; rebuilding from the tables");
                return None;
            }
            match postcard::from_bytes::<EngineImage>(loaded.payload()) {
                Ok(image) => return Some((loaded.header, image)),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "ignoring an identity snapshot whose image does not decode");
                }
            }
        }
        None
    }

    /// Marks the engine just loaded from a snapshot as what is on disk.
    fn loaded(&self) {
        self.changes.store(0, Ordering::Relaxed);
        if let Ok(mut last) = self.last.lock() {
            *last = Instant::now();
        }
    }
}

/// A started engine restored from a snapshot, with the position it covers.
pub struct Restored {
    pub engine: Engine,
    pub position: Position,
}

/// Loads the newest snapshot that `accept` takes into an engine (configured settings,
/// the latest saved parameters). `None`: rebuild from the tables.
pub async fn restore(
    snapshots: &Arc<Snapshots>,
    store: &dyn IdentityStore,
    settings: &Settings,
    instance: &str,
    accept: impl Fn(Position) -> Result<(), String> + Send + 'static,
) -> anyhow::Result<Option<Restored>> {
    let started = Instant::now();
    let params = store.latest_params().await?.unwrap_or_default();
    let settings = settings.clone();
    let reader = snapshots.clone();
    let instance = instance.to_owned();
    let restored = tokio::task::spawn_blocking(move || {
        let (header, image) = reader.newest(&instance, &accept)?;
        match Engine::from_image(settings, params, image) {
            Ok(engine) => Some(Restored {
                engine,
                position: header.position,
            }),
            Err(error) => {
                tracing::warn!(%error, "ignoring an identity snapshot; rebuilding from the tables");
                None
            }
        }
    })
    .await?;
    if let Some(restored) = &restored {
        snapshots.loaded();
        tracing::info!(
            records = restored.engine.record_count(),
            customers = restored.engine.customer_count(),
            position = ?restored.position,
            seconds = started.elapsed().as_secs_f64(),
            "identity engine loaded from a snapshot"
        );
    }
    Ok(restored)
}

/// Takes a snapshot off the runtime and logs what it did.
pub async fn take_now<S: Source>(identity: &Arc<S>, snapshots: &Arc<Snapshots>) -> Option<Taken> {
    let identity = identity.clone();
    let taker = snapshots.clone();
    match tokio::task::spawn_blocking(move || taker.take(identity.as_ref())).await {
        Ok(Ok(taken)) => {
            if let Taken::Written {
                position,
                bytes,
                records,
                pause,
                total,
            } = &taken
            {
                tracing::info!(
                    ?position,
                    bytes,
                    records,
                    pause_ms = pause.as_millis() as u64,
                    seconds = total.as_secs_f64(),
                    "identity snapshot written"
                );
            }
            Some(taken)
        }
        Ok(Err(error)) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "taking an identity snapshot failed"
            );
            None
        }
        Err(error) => {
            tracing::warn!(%error, "the identity snapshot task failed");
            None
        }
    }
}

/// Takes snapshots when due until the process stops.
pub fn spawn_schedule<S: Source>(
    identity: &Arc<S>,
    snapshots: Arc<Snapshots>,
    shutdown: CancellationToken,
) {
    let watched = Arc::downgrade(identity);
    tokio::spawn(async move {
        let mut next_try = Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
            if Instant::now() < next_try || !snapshots.due() {
                continue;
            }
            let Some(identity) = watched.upgrade() else {
                return;
            };
            if matches!(
                take_now(&identity, &snapshots).await,
                Some(Taken::NotNow) | None
            ) {
                next_try = Instant::now() + RETRY;
            }
        }
    });
}

/// The snapshot taken at graceful shutdown, once in-flight calls are drained. Holds
/// the service alive till then: the server that held it is gone by that time.
pub async fn at_shutdown<S: Source>(identity: Arc<S>, snapshots: Arc<Snapshots>) {
    if snapshots.changes.load(Ordering::Relaxed) == 0 {
        tracing::info!("identity snapshot on disk is current; none taken at shutdown");
        return;
    }
    // Writes answered are committed; give the persister a moment for the last group.
    for _ in 0..50 {
        match take_now(&identity, &snapshots).await {
            Some(Taken::NotNow) => tokio::time::sleep(Duration::from_millis(100)).await,
            _ => return,
        }
    }
    tracing::warn!("writes still pending at shutdown; no identity snapshot taken");
}
