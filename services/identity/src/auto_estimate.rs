//! The automatic step after an import: while the base has no estimated parameters and
//! holds enough records, estimate them (`EstimateParameters` with its defaults) and
//! recluster the whole base, in the background.
//!
//! It runs only once an import has ended, never in its middle, and is always followed
//! by a recluster of every record: parameters that changed part-way through a load
//! would make the clusters depend on the order of the records and on when the
//! estimate ran. It holds the one claim that explicit estimates and reclusters take,
//! so a second import ending meanwhile starts nothing and a steward's estimate or
//! recluster is refused (FAILED_PRECONDITION) until it ends.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::service::{
    DEFAULT_CANDIDATE_PAIRS, DEFAULT_RANDOM_PAIRS, Identity, ReclusterClaim, ReclusterReport,
};

/// The fewest records the automatic estimate runs at: below, EM has too few candidate
/// pairs to learn m from, and the priors serve better.
pub const MIN_RECORDS: u64 = 10_000;

/// Records each recluster batch re-scores (as an explicit `Recluster` by default).
const RECLUSTER_BATCH: u32 = 10_000;

/// The actor that MERGED and SPLIT events of the automatic recluster name.
pub const ACTOR: &str = "auto-estimate";

/// What the end of an import decided about the automatic step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Started in the background.
    Started,
    /// Switched off by configuration or by the import's request.
    SwitchedOff,
    TooFewRecords,
    AlreadyEstimated,
    /// An estimate or recluster (automatic or a steward's) holds the claim.
    AlreadyRunning,
    /// Reading the parameters' version failed: nothing started, the next import asks
    /// again.
    NotChecked,
}

/// The decision and the base's size when it was taken.
#[derive(Debug, Clone, Copy)]
pub struct AfterImport {
    pub decision: Decision,
    pub records: u64,
}

/// Called when an import's records are committed: decides, and starts the estimate and
/// recluster on their own task when they are due. Returns at once (the import's answer
/// does not wait for them).
pub async fn after_import(
    identity: &Arc<Identity>,
    enabled: bool,
    shutdown: &CancellationToken,
) -> AfterImport {
    let records = identity.read().record_count() as u64;
    let decide = |decision| AfterImport { decision, records };
    if !enabled {
        return decide(Decision::SwitchedOff);
    }
    if records < MIN_RECORDS {
        return decide(Decision::TooFewRecords);
    }
    // Claimed before looking at the parameters, so that two imports ending together
    // cannot both find none and both start.
    let Ok(claim) = identity.claim_recluster() else {
        return decide(Decision::AlreadyRunning);
    };
    match identity.params_version().await {
        Ok(0) => {}
        Ok(_) => return decide(Decision::AlreadyEstimated),
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "automatic estimate not started: the parameters' version could not be read"
            );
            return decide(Decision::NotChecked);
        }
    }
    tracing::info!(
        records,
        "automatic estimate and recluster started after an import"
    );
    idic_runtime::observability::record_auto_estimate("started", 0);
    tokio::spawn(run(identity.clone(), claim, shutdown.clone()));
    decide(Decision::Started)
}

/// Estimates, saves and applies the parameters, then reclusters the whole base; the
/// claim is held throughout and given back when this ends.
async fn run(identity: Arc<Identity>, claim: ReclusterClaim, shutdown: CancellationToken) {
    let estimate = identity
        .estimate_parameters(
            &claim,
            DEFAULT_RANDOM_PAIRS as usize,
            DEFAULT_CANDIDATE_PAIRS as usize,
        )
        .await;
    match estimate {
        Ok((version, summary)) => tracing::info!(
            version,
            prior = summary.prior,
            iterations = summary.iterations,
            converged = summary.converged,
            household_ratio = summary.household_ratio,
            seconds = summary.seconds,
            "automatic estimate saved; reclustering the base with it"
        ),
        Err(error) => {
            tracing::warn!(
                error = %error,
                "automatic estimate failed; the next import past the threshold tries again"
            );
            idic_runtime::observability::record_auto_estimate("failed", 0);
            return;
        }
    }
    let outcome = identity
        .recluster(&claim, false, RECLUSTER_BATCH, ACTOR, |_| {
            !shutdown.is_cancelled()
        })
        .await;
    match outcome {
        Ok(report) if report.complete => finished(&report),
        Ok(report) => {
            tracing::warn!(
                records_done = report.totals.records_done,
                records_total = report.totals.records_total,
                "automatic recluster stopped by the shutdown; what was done stays, run `idic identity recluster` to complete it"
            );
            idic_runtime::observability::record_auto_estimate(
                "failed",
                report.totals.components_changed,
            );
        }
        Err(error) => {
            tracing::warn!(
                error = %error,
                "automatic recluster failed; the parameters are saved, run `idic identity recluster` to apply them"
            );
            idic_runtime::observability::record_auto_estimate("failed", 0);
        }
    }
}

fn finished(report: &ReclusterReport) {
    let totals = &report.totals;
    tracing::info!(
        records = totals.records_done,
        groups_examined = totals.components_examined,
        groups_changed = totals.components_changed,
        merged = totals.customers_merged,
        split = totals.customers_split,
        records_moved = totals.records_moved,
        seconds = report.seconds,
        "automatic estimate and recluster finished"
    );
    idic_runtime::observability::record_auto_estimate("finished", totals.components_changed);
}
