//! The identity service's domain façade: the engine behind a lock, a persister that
//! commits change sets in groups (a write is answered only once it is durable), and
//! the change feed.
//!
//! Writes mutate the engine under its write lock and queue their change set in the
//! same critical section, so the store applies them in engine order. Reads take the
//! read lock and never wait for storage. If a commit fails, the engine is rebuilt from
//! the store, so memory never stays ahead of what is durable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use idic_matching::em::{Levels, estimate_household_ratio, estimate_m, estimate_u, levels_of};
use idic_matching::features::Features;
use idic_matching::normalize::NormalizeOptions;
use idic_matching::params::{MatchParameters, TermFrequencies};
use idic_runtime::outbox::Outbox;
use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::replication::{Replication, Role};
use crate::snapshot::{self, Position, Snapshots};
use crate::store::IdentityStore;
use idic_engine::{
    ChangeEvent, ChangeSet, Engine, ReclusterPass, ReclusterTotals, RecordEntry, RecordRow,
    Settings,
};

/// The bus topic on which committed change events are published (JSON, read by
/// `idic_runtime::follow`), through the outbox written with each change set.
pub use idic_runtime::follow::CHANGES_TOPIC;

/// Pairs an estimate samples by default (an `EstimateParameters` request that says 0,
/// and the automatic estimate after an import): random pairs for u, blocked pairs for
/// m. About a second per million pairs on the reference machine; more pairs no longer
/// improve the estimates.
pub const DEFAULT_RANDOM_PAIRS: u32 = 200_000;
pub const DEFAULT_CANDIDATE_PAIRS: u32 = 500_000;

/// Change sets waiting for the same commit, at most.
const GROUP_COMMIT_LIMIT: usize = 256;

/// Group commits between two checks of SQLite's write-ahead log. SQLite copies the
/// log back after commits but starts it over from its beginning only when no reader
/// is in it at that moment; in a 1M-record import it reached 1.4 GB. The check empties
/// a log that has grown past 256 MiB (`IdentityStore::checkpoint`).
const COMMITS_PER_CHECKPOINT: u64 = 16;

/// `Ok`: the log position the change set committed at (0 without a log).
type Done = Result<u64, String>;

struct Pending {
    changes: ChangeSet,
    done: oneshot::Sender<Done>,
}

/// A write whose change set is queued; [`Committed::wait`] until it is durable.
pub struct Committed<T> {
    value: T,
    done: Option<oneshot::Receiver<Done>>,
    /// What a write that changed nothing reports as its position: what the engine held.
    held: u64,
}

impl<T> Committed<T> {
    pub async fn wait(self) -> ApiResult<T> {
        self.wait_position().await.map(|(value, _)| value)
    }

    /// The value and the log position that holds the write (read your writes: a read
    /// on any replica asking for this position sees it).
    pub async fn wait_position(self) -> ApiResult<(T, u64)> {
        let position = match self.done {
            None => self.held,
            Some(done) => match done.await {
                Ok(Ok(position)) => position,
                Ok(Err(message)) => return Err(storage_unavailable(message)),
                Err(_) => return Err(storage_unavailable("the persister stopped".to_owned())),
            },
        };
        Ok((self.value, position))
    }
}

fn storage_unavailable(message: String) -> ApiError {
    tracing::error!(
        error = message,
        "identity storage failed; the write was not kept"
    );
    ApiError::Unavailable {
        message: "identity storage is unavailable; the write was not kept".to_owned(),
        retry_after: Duration::from_millis(500),
    }
}

pub struct Identity {
    engine: RwLock<Engine>,
    store: Arc<dyn IdentityStore>,
    settings: Settings,
    persister: mpsc::UnboundedSender<Pending>,
    events: broadcast::Sender<ChangeEvent>,
    normalize: NormalizeOptions,
    reloading: AtomicBool,
    replication: Arc<Replication>,
    /// Whether a whole-base recluster runs (one at a time).
    reclustering: AtomicBool,
    /// Held by an estimate from reading the records until its parameters are saved,
    /// and by an erasure's write: an estimate that counted names before an erasure
    /// would otherwise save the erased names after the erasure took them out.
    estimating: tokio::sync::Mutex<()>,
    /// Change sets the engine holds that are not yet committed (or, failed, not yet
    /// undone by a reload): a snapshot is taken only when there are none.
    pending: AtomicU64,
    /// Import streams in progress: no snapshot is taken while one streams (see
    /// [`Identity::import_streaming`]).
    imports: AtomicU64,
    snapshots: Option<Arc<Snapshots>>,
    /// The database's instance id, which snapshots carry (empty without snapshots).
    instance: String,
}

/// How a start gets its engine.
#[derive(Default)]
pub struct Startup {
    /// Already loaded (from a snapshot); `None`: rebuilt from the tables.
    pub engine: Option<Engine>,
    pub snapshots: Option<Arc<Snapshots>>,
    pub instance: String,
    /// What the snapshot in `engine` covers.
    pub position: Option<Position>,
}

impl Identity {
    /// Loads the engine from the store and starts the persister: the single replica.
    pub async fn start(
        store: Arc<dyn IdentityStore>,
        settings: Settings,
        normalize: NormalizeOptions,
        outbox: Outbox,
    ) -> anyhow::Result<Arc<Identity>> {
        let replication = Arc::new(Replication::single());
        Identity::start_replicated(store, settings, normalize, outbox, replication).await
    }

    /// The single replica with snapshots: starts from the newest snapshot when its
    /// change counter is the database's (nothing was written since), else from the
    /// tables.
    pub async fn start_single(
        store: Arc<dyn IdentityStore>,
        settings: Settings,
        normalize: NormalizeOptions,
        outbox: Outbox,
        snapshots: Arc<Snapshots>,
    ) -> anyhow::Result<Arc<Identity>> {
        let (instance, changes) = store.generation().await?;
        let restored = snapshot::restore(
            &snapshots,
            store.as_ref(),
            &settings,
            &instance,
            move |position| match position {
                Position::Changes(taken) if taken == changes => Ok(()),
                Position::Changes(taken) => Err(format!(
                    "taken at change {taken}, the database is at change {changes}"
                )),
                Position::Log(_) => Err("taken by a replica on PostgreSQL".to_owned()),
            },
        )
        .await?;
        let (engine, position) = match restored {
            Some(restored) => (Some(restored.engine), Some(restored.position)),
            None => (None, None),
        };
        let startup = Startup {
            engine,
            snapshots: Some(snapshots),
            instance,
            position,
        };
        let replication = Arc::new(Replication::single());
        Identity::start_with(store, settings, normalize, outbox, replication, startup).await
    }

    /// Loads the engine from the store and starts the persister, in the role
    /// `replication` holds (see `crate::replication`).
    pub async fn start_replicated(
        store: Arc<dyn IdentityStore>,
        settings: Settings,
        normalize: NormalizeOptions,
        outbox: Outbox,
        replication: Arc<Replication>,
    ) -> anyhow::Result<Arc<Identity>> {
        Identity::start_with(
            store,
            settings,
            normalize,
            outbox,
            replication,
            Startup::default(),
        )
        .await
    }

    /// Starts with the engine `startup` brings, or one loaded from the tables.
    pub async fn start_with(
        store: Arc<dyn IdentityStore>,
        settings: Settings,
        normalize: NormalizeOptions,
        outbox: Outbox,
        replication: Arc<Replication>,
        startup: Startup,
    ) -> anyhow::Result<Arc<Identity>> {
        let engine = match startup.engine {
            Some(engine) => engine,
            None => {
                let started = Instant::now();
                let engine = load_engine(store.as_ref(), &settings, &normalize).await?;
                tracing::info!(
                    records = engine.record_count(),
                    customers = engine.customer_count(),
                    seconds = started.elapsed().as_secs_f64(),
                    "identity engine loaded from the tables"
                );
                engine
            }
        };
        let (persister, queue) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(4096);
        let identity = Arc::new(Identity {
            engine: RwLock::new(engine),
            store,
            settings,
            persister,
            events,
            normalize,
            reloading: AtomicBool::new(false),
            replication,
            reclustering: AtomicBool::new(false),
            estimating: tokio::sync::Mutex::new(()),
            pending: AtomicU64::new(0),
            imports: AtomicU64::new(0),
            snapshots: startup.snapshots,
            instance: startup.instance,
        });
        tokio::spawn(persist(Arc::downgrade(&identity), queue, outbox));
        Ok(identity)
    }

    pub fn normalize_options(&self) -> &NormalizeOptions {
        &self.normalize
    }

    /// This replica's role and log position.
    pub fn replication(&self) -> &Replication {
        &self.replication
    }

    /// Applies a change set the leader committed (a follower), and hands its events
    /// to watchers. Blocking (normalizing a large entry takes a while): run it off the
    /// async runtime.
    pub(crate) fn replay(&self, changes: ChangeSet) {
        // Normalizing the records is most of a replay's work (a 10,000-record import
        // batch is one entry): done before taking the write lock, so that reads wait
        // only for the bookkeeping, which must be one step (a read never sees half of
        // a merge).
        let mut entries: HashMap<u32, RecordEntry> = changes
            .records
            .iter()
            .filter_map(|(id, row)| Some((*id, entry_of(row.as_ref()?, &self.normalize))))
            .collect();
        {
            let mut engine = self.write_lock();
            engine.replay(&changes, &mut |row| {
                entries
                    .remove(&row.record_id)
                    .unwrap_or_else(|| entry_of(row, &self.normalize))
            });
        }
        if let Some(snapshots) = &self.snapshots {
            snapshots.note_changes(changes.records.len());
            if erases(&changes) {
                // Not awaited: the erasure counter it raises at once keeps any snapshot
                // captured before it from being published.
                let snapshots = snapshots.clone();
                tokio::task::spawn_blocking(move || snapshots.forget_all());
            }
        }
        for event in changes.events {
            let _ = self.events.send(event);
        }
    }

    /// See `Engine::rebuild_memberships`.
    pub(crate) fn rebuild_memberships(&self) {
        self.write_lock().rebuild_memberships();
    }

    /// Takes the latest saved match parameters (a follower taking over).
    pub(crate) async fn refresh_params(&self) -> anyhow::Result<()> {
        if let Some(params) = self.store.latest_params().await? {
            self.write_lock().set_params(params);
        }
        Ok(())
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Engine> {
        self.engine
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, Engine> {
        self.engine
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `operation` on the engine and queues its changes for commit.
    pub fn write<T>(
        &self,
        operation: impl FnOnce(&mut Engine) -> ApiResult<(T, ChangeSet)>,
    ) -> ApiResult<Committed<T>> {
        if let Some(refusal) = self.replication.refuse_write() {
            return Err(refusal);
        }
        if self.reloading.load(Ordering::Acquire) {
            return Err(storage_unavailable(
                "the engine is being rebuilt after a storage failure".to_owned(),
            ));
        }
        let mut engine = self.write_lock();
        let (value, changes) = operation(&mut engine)?;
        if changes.is_empty() {
            return Ok(Committed {
                value,
                done: None,
                held: self.replication.position(),
            });
        }
        let (done, receiver) = oneshot::channel();
        if let Some(snapshots) = &self.snapshots {
            snapshots.note_changes(changes.records.len());
        }
        self.pending.fetch_add(1, Ordering::AcqRel);
        // Queued while the lock is held: the store sees changes in engine order.
        self.persister
            .send(Pending { changes, done })
            .map_err(|_| storage_unavailable("the persister stopped".to_owned()))?;
        Ok(Committed {
            value,
            done: Some(receiver),
            held: 0,
        })
    }

    /// [`Identity::write`] for an erasure: after any estimate in flight has saved its
    /// parameters, whose name counts the erasure's commit then takes the names out of.
    pub async fn write_erasure<T>(
        &self,
        operation: impl FnOnce(&mut Engine) -> ApiResult<(T, ChangeSet)>,
    ) -> ApiResult<Committed<T>> {
        let _estimating = self.estimating.lock().await;
        self.write(operation)
    }

    /// Removes what committed erasures left of the erased records in the storage
    /// files. UNAVAILABLE when it could not yet: erasing the customer again retries.
    pub async fn purge_erased(&self) -> ApiResult<()> {
        if let Some(snapshots) = &self.snapshots {
            let snapshots = snapshots.clone();
            tokio::task::spawn_blocking(move || snapshots.forget_all())
                .await
                .map_err(ApiError::internal)?;
        }
        self.store.purge_erased().await.map_err(|error| {
            tracing::warn!(error = format!("{error:#}"), "purging erased records failed");
            ApiError::Unavailable {
                message: "the customer was erased, but the storage files could not be purged yet: erase again to retry".to_owned(),
                retry_after: Duration::from_secs(1),
            }
        })
    }

    /// Committed change events after `after`, oldest first.
    pub async fn events_after(&self, after: u64, limit: i64) -> ApiResult<Vec<ChangeEvent>> {
        self.store
            .events_after(after, limit)
            .await
            .map_err(ApiError::internal)
    }

    pub async fn history(
        &self,
        customer_ids: &[String],
        before: Option<u64>,
        limit: i64,
    ) -> ApiResult<Vec<ChangeEvent>> {
        self.store
            .history(customer_ids, before, limit)
            .await
            .map_err(ApiError::internal)
    }

    /// Live committed events.
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.events.subscribe()
    }

    /// Estimates match parameters from the stored records (u from random pairs, m and
    /// the prior by EM over blocked pairs, term frequencies of names), saves them and
    /// uses them for comparisons from now on. Saving is a write: fenced by the leader's
    /// epoch like the change sets, so a deposed leader cannot save parameters. The
    /// claim serializes it with reclusters and the automatic estimate after an import.
    pub async fn estimate_parameters(
        self: &Arc<Self>,
        _claim: &ReclusterClaim,
        random_pairs: usize,
        blocked_pairs: usize,
    ) -> ApiResult<(u64, EstimateSummary)> {
        if let Some(refusal) = self.replication.refuse_write() {
            return Err(refusal);
        }
        let _estimating = self.estimating.lock().await;
        let started = Instant::now();
        // Sampling and EM take seconds of CPU on a large base: on a blocking thread, so
        // that the runtime's workers go on serving reads meanwhile (reads share the read
        // lock with the sampling; EM holds no lock).
        let identity = self.clone();
        let fitted = tokio::task::spawn_blocking(move || {
            identity.fit_parameters(random_pairs, blocked_pairs)
        })
        .await
        .map_err(ApiError::internal)??;
        let Fitted {
            params,
            random_pairs,
            candidate_pairs,
            report,
        } = fitted;
        let summary = EstimateSummary {
            random_pairs,
            candidate_pairs,
            iterations: report.iterations,
            converged: report.converged,
            log_likelihood: report.log_likelihood,
            prior: report.prior,
            household_ratio: params.household_ratio,
            seconds: started.elapsed().as_secs_f64(),
        };
        let report_json = serde_json::to_string(&summary).map_err(ApiError::internal)?;
        let version = self
            .store
            .save_params(now_micros(), &params, &report_json)
            .await
            .map_err(parameters_not_saved)?;
        self.write_lock().set_params(params);
        Ok((version, summary))
    }

    /// The CPU-heavy part of an estimate (blocking: run it off the async runtime).
    fn fit_parameters(&self, random_pairs: usize, blocked_pairs: usize) -> ApiResult<Fitted> {
        let (mut params, random, candidates) = {
            let engine = self.read();
            let params = engine.params().clone();
            let ids = engine.record_ids();
            if ids.len() < 2 {
                return Err(ApiError::FailedPrecondition(
                    "estimating needs at least two records".to_owned(),
                ));
            }
            let random = sample_random_levels(&engine, &ids, random_pairs, &params);
            let blocked: Vec<(&Features, &Features)> = engine
                .blocked_pairs_sample(blocked_pairs)
                .into_iter()
                .filter_map(|(a, b)| Some((engine.features_of(a)?, engine.features_of(b)?)))
                .collect();
            let candidates: Vec<Levels> = blocked
                .iter()
                .map(|(a, b)| levels_of(a, b, &params))
                .collect();
            let mut params = params;
            estimate_household_ratio(blocked.iter().copied(), &mut params);
            set_term_frequencies(&mut params, engine.features_of_all(), ids.len() as u64);
            (params, random, candidates)
        };
        estimate_u(&random, &mut params);
        let report = estimate_m(&candidates, &mut params, 100);
        Ok(Fitted {
            params,
            random_pairs: random.len(),
            candidate_pairs: candidates.len(),
            report,
        })
    }

    /// Claims the one whole-base recluster or parameter estimate allowed at a time
    /// (explicit, or the automatic step after an import); FAILED_PRECONDITION while
    /// another runs. The claim ends when the returned guard is dropped.
    pub fn claim_recluster(self: &Arc<Self>) -> ApiResult<ReclusterClaim> {
        if self.reclustering.swap(true, Ordering::AcqRel) {
            return Err(ApiError::FailedPrecondition(
                "a recluster or parameter estimate is already running; wait for it to finish"
                    .to_owned(),
            ));
        }
        Ok(ReclusterClaim {
            identity: self.clone(),
        })
    }

    /// The version of the latest saved parameters; 0 while the base runs on the priors.
    pub async fn params_version(&self) -> anyhow::Result<u64> {
        self.store.params_version().await
    }

    /// Re-scores every blocked pair with the current parameters and re-clusters the
    /// whole base, `batch` record ids at a time: each batch holds the write lock once
    /// and is committed before the next, so reads and writes go on in between.
    /// `progress` hears the totals after each batch and stops the pass by answering
    /// false (what was done stays done). A dry run only reads and counts.
    pub async fn recluster(
        self: &Arc<Self>,
        _claim: &ReclusterClaim,
        dry_run: bool,
        batch: u32,
        actor: &str,
        mut progress: impl FnMut(&ReclusterReport) -> bool,
    ) -> ApiResult<ReclusterReport> {
        let started = Instant::now();
        let mut pass = self.read().start_recluster(dry_run);
        let report = |pass: &ReclusterPass| ReclusterReport {
            dry_run,
            complete: pass.is_done(),
            totals: pass.totals.clone(),
            seconds: started.elapsed().as_secs_f64(),
        };
        while !pass.is_done() {
            pass = if dry_run {
                self.recluster_dry_batch(pass, batch).await?
            } else {
                let (pass, committed) = self.recluster_batch(pass, batch, actor).await?;
                committed.wait().await?;
                pass
            };
            if !progress(&report(&pass)) {
                break;
            }
            // Whoever waits for the lock gets it before the next batch.
            tokio::task::yield_now().await;
        }
        let report = report(&pass);
        tracing::info!(
            dry_run,
            records = report.totals.records_done,
            components_changed = report.totals.components_changed,
            merged = report.totals.customers_merged,
            split = report.totals.customers_split,
            records_moved = report.totals.records_moved,
            seconds = report.seconds,
            "recluster finished"
        );
        Ok(report)
    }

    /// One batch of a recluster, on a blocking thread: a batch re-scores and
    /// re-clusters thousands of records under the write lock (about 0.1 s per 10,000),
    /// which must not hold a runtime worker.
    async fn recluster_batch(
        self: &Arc<Self>,
        mut pass: ReclusterPass,
        batch: u32,
        actor: &str,
    ) -> ApiResult<(ReclusterPass, Committed<()>)> {
        let identity = self.clone();
        let actor = actor.to_owned();
        let (pass, committed) = tokio::task::spawn_blocking(move || {
            let now = now_micros();
            let committed = identity.write(|engine| {
                let changes =
                    engine.recluster_batch(&mut pass, batch, now, &actor, RECLUSTER_REASON);
                Ok(((), changes))
            });
            (pass, committed)
        })
        .await
        .map_err(ApiError::internal)?;
        Ok((pass, committed?))
    }

    /// One batch of a dry run, on a blocking thread (see [`Identity::recluster_batch`]).
    async fn recluster_dry_batch(
        self: &Arc<Self>,
        mut pass: ReclusterPass,
        batch: u32,
    ) -> ApiResult<ReclusterPass> {
        let identity = self.clone();
        tokio::task::spawn_blocking(move || {
            identity.read().recluster_dry_batch(&mut pass, batch);
            pass
        })
        .await
        .map_err(ApiError::internal)
    }

    /// Marks a bulk import as streaming until the returned guard is dropped. A snapshot
    /// waits for the end of every import: taken in the middle of one, it stalled the
    /// import's writes for the seconds its serialization holds the lock, raised the
    /// peak memory of the import, and was out of date a moment later. The schedule
    /// takes it once the import has ended (the records it changed make it due).
    pub fn import_streaming(self: &Arc<Self>) -> ImportStreaming {
        self.imports.fetch_add(1, Ordering::AcqRel);
        ImportStreaming {
            identity: self.clone(),
        }
    }

    /// With the engine's lock held: the position the engine stands at when every write
    /// it holds is committed and no import streams, else `None`. Embedded, that is the
    /// database's change counter (read here: blocking, off the runtime); replicas, the
    /// log position.
    fn settled(&self) -> anyhow::Result<Option<Position>> {
        if self.pending.load(Ordering::Acquire) != 0
            || self.reloading.load(Ordering::Acquire)
            || self.imports.load(Ordering::Acquire) != 0
        {
            return Ok(None);
        }
        match self.replication.role() {
            Role::Single => {
                let runtime = tokio::runtime::Handle::try_current()?;
                let (_, changes) = runtime.block_on(self.store.generation())?;
                Ok(Some(Position::Changes(changes)))
            }
            Role::Leader { .. } | Role::Follower { .. } => {
                Ok(Some(Position::Log(self.replication.position())))
            }
        }
    }

    pub(crate) async fn reload(&self) {
        self.reloading.store(true, Ordering::Release);
        loop {
            match load_engine(self.store.as_ref(), &self.settings, &self.normalize).await {
                Ok(engine) => {
                    *self.write_lock() = engine;
                    break;
                }
                Err(error) => {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "rebuilding the identity engine failed; retrying"
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        self.reloading.store(false, Ordering::Release);
        tracing::warn!("identity engine rebuilt from storage");
    }
}

/// Whether a change set erases a customer.
fn erases(changes: &ChangeSet) -> bool {
    changes
        .events
        .iter()
        .any(|event| event.kind == idic_engine::ChangeKind::Erased)
}

/// The reason MERGED and SPLIT events of a whole-base recluster carry.
pub const RECLUSTER_REASON: &str = "recluster with the current parameters";

/// The right to run the one whole-base recluster or estimate; dropping it gives the
/// right back.
pub struct ReclusterClaim {
    identity: Arc<Identity>,
}

impl Drop for ReclusterClaim {
    fn drop(&mut self) {
        self.identity.reclustering.store(false, Ordering::Release);
    }
}

/// A bulk import in progress (see [`Identity::import_streaming`]); dropping it ends it.
pub struct ImportStreaming {
    identity: Arc<Identity>,
}

impl Drop for ImportStreaming {
    fn drop(&mut self) {
        self.identity.imports.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A recluster's totals so far (or in all) and how long it has run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReclusterReport {
    pub dry_run: bool,
    /// Whether every record was re-scored (the pass was not stopped).
    pub complete: bool,
    pub totals: ReclusterTotals,
    pub seconds: f64,
}

/// What the CPU-heavy part of an estimate found.
struct Fitted {
    params: MatchParameters,
    random_pairs: usize,
    candidate_pairs: usize,
    report: idic_matching::em::EmReport,
}

/// Saving estimated parameters failed: storage down, or this replica no longer leads
/// (the fence refused it). Either way the caller may retry, on the leader.
fn parameters_not_saved(error: anyhow::Error) -> ApiError {
    tracing::warn!(
        error = format!("{error:#}"),
        "saving match parameters failed; they are not used"
    );
    ApiError::Unavailable {
        message: "the parameters could not be saved (storage unavailable, or this replica no longer leads identity); retry".to_owned(),
        retry_after: Duration::from_secs(1),
    }
}

/// How a parameter estimate went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EstimateSummary {
    pub random_pairs: usize,
    pub candidate_pairs: usize,
    pub iterations: u32,
    pub converged: bool,
    pub log_likelihood: f64,
    pub prior: f64,
    /// Whether the base has households (see `MatchParameters::household_ratio`).
    pub household_ratio: f64,
    pub seconds: f64,
}

fn sample_random_levels(
    engine: &Engine,
    ids: &[u32],
    pairs: usize,
    params: &MatchParameters,
) -> Vec<Levels> {
    // A fixed-seed generator: the same base gives the same estimate.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..pairs)
        .filter_map(|_| {
            let a = ids[(next() % ids.len() as u64) as usize];
            let b = ids[(next() % ids.len() as u64) as usize];
            (a != b).then(|| {
                Some(levels_of(
                    engine.features_of(a)?,
                    engine.features_of(b)?,
                    params,
                ))
            })?
        })
        .collect()
}

fn set_term_frequencies<'a>(
    params: &mut MatchParameters,
    features: impl Iterator<Item = &'a Features>,
    records: u64,
) {
    // Counted by the names as they stand, owned once per distinct name (a million
    // records hold far fewer names).
    let mut given = std::collections::HashMap::<&str, u64>::new();
    let mut family = std::collections::HashMap::<&str, u64>::new();
    for record in features {
        if let Some(name) = &record.given {
            *given.entry(&name.folded).or_insert(0) += 1;
        }
        if let Some(name) = &record.family {
            *family.entry(&name.folded).or_insert(0) += 1;
        }
    }
    let owned = |counts: std::collections::HashMap<&str, u64>| {
        counts
            .into_iter()
            .map(|(name, count)| (name.to_owned(), count))
            .collect()
    };
    params.given_name_frequencies = TermFrequencies::from_counts(owned(given), records);
    params.family_name_frequencies = TermFrequencies::from_counts(owned(family), records);
}

async fn load_engine(
    store: &dyn IdentityStore,
    settings: &Settings,
    normalize: &NormalizeOptions,
) -> anyhow::Result<Engine> {
    let params = store.latest_params().await?.unwrap_or_default();
    let state = store.load().await?;
    let mut engine = Engine::new(settings.clone(), params);
    for customer in state.customers {
        engine.load_customer(customer);
    }
    let mut refused = None;
    store
        .load_records(&mut |record| {
            // Normalizing is tolerant and pure, so a restart reads each record as its
            // write did; a record that rules made since leave unusable has no features.
            let normalized =
                idic_matching::normalize::normalize_record(&record.content.record, normalize)
                    .unwrap_or_default();
            let features = Features::of(&normalized);
            let loaded = engine.load_record(
                record.record_id,
                RecordEntry {
                    key: record.key,
                    channel: record.channel,
                    observed_at: record.observed_at,
                    content: idic_engine::PackedContent::pack(&record.content),
                    features,
                    customer: record.customer,
                },
            );
            if let Err(error) = loaded {
                refused.get_or_insert(error);
            }
        })
        .await?;
    if let Some(error) = refused {
        anyhow::bail!("the stored records are inconsistent: {error}");
    }
    for link in state.links {
        engine.load_link(link);
    }
    for (alias, customer) in state.aliases {
        engine.load_alias(alias, customer);
    }
    for (a, b) in state.blocks {
        engine.load_block(a, b);
    }
    engine.finish_loading(state.last_event_id + 1);
    Ok(engine)
}

/// A record's matching features. Normalizing is tolerant and pure, so a restart (or a
/// follower) reads each record as its write did; a record that rules made since leave
/// unusable has no features.
fn features_of(content: &idic_engine::RecordContent, normalize: &NormalizeOptions) -> Features {
    let normalized =
        idic_matching::normalize::normalize_record(&content.record, normalize).unwrap_or_default();
    Features::of(&normalized)
}

/// A stored (or replayed) record row as the engine holds it.
fn entry_of(row: &RecordRow, normalize: &NormalizeOptions) -> RecordEntry {
    RecordEntry {
        key: row.key.clone(),
        channel: row.channel,
        observed_at: row.observed_at,
        content: idic_engine::PackedContent::pack(&row.content),
        features: features_of(&row.content, normalize),
        customer: row.customer.clone(),
    }
}

/// Commits queued change sets in groups (their bus events go into the outbox in the
/// same transaction), wakes the outbox relay and hands committed events to watchers.
async fn persist(
    identity: std::sync::Weak<Identity>,
    mut queue: mpsc::UnboundedReceiver<Pending>,
    outbox: Outbox,
) {
    let mut commits: u64 = 0;
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_LIMIT {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut combined = ChangeSet::default();
        let mut waiters = Vec::with_capacity(batch.len());
        for pending in batch {
            combined.extend(pending.changes);
            waiters.push(pending.done);
        }
        let Some(identity) = identity.upgrade() else {
            return;
        };
        match identity.store.apply(&combined).await {
            Ok(()) => {
                let position = identity.replication.committed_position();
                identity.replication.set_position(position);
                identity
                    .pending
                    .fetch_sub(waiters.len() as u64, Ordering::AcqRel);
                for waiter in waiters {
                    let _ = waiter.send(Ok(position));
                }
                if !combined.events.is_empty() {
                    outbox.wake();
                }
                for event in combined.events {
                    let _ = identity.events.send(event);
                }
                commits += 1;
                if commits.is_multiple_of(COMMITS_PER_CHECKPOINT)
                    && let Err(error) = identity.store.checkpoint().await
                {
                    // The log then grows until the next one; nothing is lost.
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "checkpointing identity's log failed"
                    );
                }
            }
            Err(error) => {
                let message = format!("{error:#}");
                let mut failed = waiters.len() as u64;
                for waiter in waiters {
                    let _ = waiter.send(Err(message.clone()));
                }
                // Whatever else was queued was built on the failed state: fail it too.
                while let Ok(pending) = queue.try_recv() {
                    failed += 1;
                    let _ = pending.done.send(Err(message.clone()));
                }
                identity.reload().await;
                // Only now: until the reload, the engine held what never committed.
                identity.pending.fetch_sub(failed, Ordering::AcqRel);
            }
        }
    }
}

impl snapshot::Source for Identity {
    fn engine(&self) -> RwLockReadGuard<'_, Engine> {
        self.read()
    }

    fn settled_position(&self) -> anyhow::Result<Option<Position>> {
        self.settled()
    }

    /// The database's instance id (see `IdentityStore::generation`).
    fn instance(&self) -> &str {
        &self.instance
    }
}
