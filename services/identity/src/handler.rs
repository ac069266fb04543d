//! gRPC handlers of `idic.v1.IdentityService`: validation at the edge, then the domain.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_server::IdentityService;
use idic_runtime::auth::Caller;
use idic_runtime::middleware::Deadline;
use idic_runtime::paging::{Page, finish_page};
use idic_runtime::peers::Peers;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::{now_micros, timestamp_from_micros};
use idic_runtime::warnings::WarningCounts;
use idic_runtime::{ApiError, ApiResult, FieldViolation};
use tonic::{Request, Response, Status, Streaming};

use crate::auto_estimate::{self, AfterImport, Decision};
use crate::convert::{
    ParsedRecord, event_to_proto, golden_to_proto, identifier_features, incoming_record,
    key_to_proto, parse_key, query_features, record_ref, source_record, unreadable_fields,
    warning_to_proto,
};
use crate::export;
use crate::replication::consistency;
use crate::replication::forward::{self, Forwarder, LeaderClient};
use crate::service::{
    Committed, DEFAULT_CANDIDATE_PAIRS, DEFAULT_RANDOM_PAIRS, Identity, ReclusterReport,
};
use idic_engine::{Candidate, Customer, EngineError, Outcome, PairExplanation, RecordKey};

/// Errors kept in an import's answer; the count covers them all.
const MAX_REPORTED_ERRORS: usize = 1000;
/// Records with warnings listed in an import's answer; the counts cover them all.
const MAX_REPORTED_WARNINGS: usize = 1000;
/// Records of an import whose commits may be pending at once: how far the engine may
/// run ahead of storage. SQLite copies its log back into the database inside a commit
/// now and then, which holds the commits queued behind it for a while; with 8 batches
/// of 1,000 records the engine waited 4.3-5.3 s of a 1M-record import for them, with
/// 64,000 records 0.7 s (15-80 MiB more at the peak). Counted in records, not
/// batches, so that callers sending large batches do not hold more in memory.
const IMPORT_WINDOW_RECORDS: usize = 64_000;

pub struct IdentityHandler {
    identity: Arc<Identity>,
    shutdown: tokio_util::sync::CancellationToken,
    /// The other services, whose data `ExportCustomer` gathers; without them the
    /// export holds identity's part only.
    peers: Option<Peers>,
    /// A follower's way to the leader, for writes.
    forwarder: Forwarder,
    /// Whether an import may start the automatic estimate and recluster
    /// (`identity.auto_estimate`; see `crate::auto_estimate`).
    auto_estimate: bool,
}

/// The most the other services may take to answer an export, within the caller's
/// deadline.
const PEER_EXPORT_BUDGET: Duration = Duration::from_secs(30);

impl IdentityHandler {
    pub fn new(identity: Arc<Identity>, shutdown: tokio_util::sync::CancellationToken) -> Self {
        IdentityHandler {
            identity,
            shutdown,
            peers: None,
            forwarder: Forwarder::default(),
            auto_estimate: true,
        }
    }

    /// Switches the automatic estimate and recluster after an import on or off.
    pub fn with_auto_estimate(mut self, enabled: bool) -> Self {
        self.auto_estimate = enabled;
        self
    }

    /// Lets a follower forward writes to the leader (see `replication::forward`).
    pub fn with_forwarding(mut self, forwarder: Forwarder) -> Self {
        self.forwarder = forwarder;
        self
    }

    /// The leader, when this replica follows and should forward the write there.
    fn leader_for<T>(&self, request: &Request<T>) -> Option<LeaderClient> {
        self.forwarder
            .target(self.identity.replication(), request.metadata())
    }

    /// Waits until this replica holds the log position the read asks for, if any.
    async fn await_read<T>(&self, request: &Request<T>) -> Result<(), Status> {
        consistency::await_requested(self.identity.replication(), request.metadata()).await?;
        Ok(())
    }

    /// Gathers the other services' data in `ExportCustomer` through `peers`.
    pub fn with_peers(mut self, peers: Peers) -> Self {
        self.peers = Some(peers);
        self
    }

    /// The customer a reference names (surviving id, alias or sole holder of an
    /// identifier), cloned out of the engine.
    fn find_customer(&self, selector: &CustomerSelector) -> ApiResult<Customer> {
        let engine = self.identity.read();
        let customer = match selector {
            CustomerSelector::Id(id) => engine
                .surviving_id(id)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("no customer with id {id}")))?,
            CustomerSelector::Identifier { .. } => {
                let reference = selector.to_proto();
                let Some(pb::customer_ref::Ref::Identifier(identifier)) = reference.r#ref else {
                    unreachable!("an identifier selector renders as an identifier")
                };
                let features = identifier_features(
                    &identifier,
                    "customer.identifier",
                    self.identity.normalize_options(),
                )
                .map_err(ApiError::from)?;
                let candidates = engine.resolve(&features, MAX_NAMED_CANDIDATES, true);
                match candidates.len() {
                    0 => return Err(ApiError::not_found("no customer has this identifier")),
                    1 => engine
                        .surviving_id(&candidates[0].customer_id)
                        .cloned()
                        .ok_or_else(|| ApiError::not_found("no customer has this identifier"))?,
                    _ => return Err(shared_identifier(selector, &candidates)),
                }
            }
        };
        if let Some(erased_at) = customer.erased_at {
            return Err(ApiError::not_found(format!(
                "customer {} was erased at {erased_at} (microseconds since the epoch)",
                customer.id
            )));
        }
        Ok(customer)
    }

    /// Like [`find_customer`](Self::find_customer), but the id of an erased customer
    /// finds its tombstone: erasing it again completes an erasure whose purge failed.
    fn find_customer_or_tombstone(&self, selector: &CustomerSelector) -> ApiResult<Customer> {
        if let CustomerSelector::Id(id) = selector
            && let Some(customer) = self.identity.read().surviving_id(id).cloned()
        {
            return Ok(customer);
        }
        self.find_customer(selector)
    }

    fn customer_view(&self, customer: &Customer) -> pb::Customer {
        let engine = self.identity.read();
        let members = engine.members(customer);
        let mut golden = golden_to_proto(engine.golden(customer));
        golden.unread = unread_values(&members, self.identity.normalize_options());
        pb::Customer {
            customer_id: customer.id.to_string(),
            golden: Some(golden),
            records: members.iter().map(|entry| record_ref(entry)).collect(),
            aliases: customer
                .aliases
                .iter()
                .map(|alias| alias.to_string())
                .collect(),
            created_at: Some(timestamp_from_micros(customer.created_at)),
            updated_at: Some(timestamp_from_micros(customer.updated_at)),
        }
    }
}

/// Candidate customers an ambiguous identifier's refusal names (the first ones, best
/// first); Resolve ranks them all.
const MAX_NAMED_CANDIDATES: usize = 10;

/// FAILED_PRECONDITION for an identifier several customers hold, naming the identifier
/// (as the caller gave it) and the candidates, so that the caller can pick one by id.
fn shared_identifier(selector: &CustomerSelector, candidates: &[Candidate]) -> ApiError {
    let ids: Vec<&str> = candidates
        .iter()
        .map(|candidate| &*candidate.customer_id)
        .collect();
    let more = if candidates.len() >= MAX_NAMED_CANDIDATES {
        " and possibly more"
    } else {
        ""
    };
    ApiError::FailedPrecondition(format!(
        "the identifier {} belongs to several customers ({}{more}); give the customer id, or use Resolve to rank them",
        selector.anchor(),
        ids.join(", ")
    ))
}

/// The values of a customer's records that were kept as received but not read.
fn unread_values(
    members: &[&idic_engine::RecordEntry],
    options: &idic_matching::normalize::NormalizeOptions,
) -> Vec<pb::UnreadValue> {
    let mut unread = Vec::new();
    for entry in members {
        let content = entry.content.unpack();
        for warning in unreadable_fields(&content.record, options) {
            unread.push(pb::UnreadValue {
                record: Some(key_to_proto(&entry.key)),
                field: warning.field,
                value: warning.value,
                reason: warning.reason,
            });
        }
    }
    unread
}

fn engine_error(error: EngineError) -> ApiError {
    match error {
        EngineError::NotFound(message) => ApiError::NotFound(message),
        EngineError::Precondition(message) => ApiError::FailedPrecondition(message),
    }
}

fn required_reason(reason: &str) -> Result<String, FieldViolation> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(FieldViolation::new(
            "reason",
            "is required: say why, for the audit trail",
        ));
    }
    if reason.len() > 1000 {
        return Err(FieldViolation::new("reason", "must be at most 1000 bytes"));
    }
    Ok(reason.to_owned())
}

/// The most pairs `EstimateParameters` accepts (the defaults, for a request that says 0,
/// are the service's): the work (and the call's time) grows with them, about a second
/// per million on the reference machine, and more pairs no longer improve the estimates.
const MAX_RANDOM_PAIRS: u32 = 1_000_000;
const MAX_CANDIDATE_PAIRS: u32 = 2_000_000;

/// A pair count of `EstimateParameters`: 0 is the default, above `max` is refused.
fn estimation_pairs(
    requested: u32,
    default: u32,
    max: u32,
    field: &str,
) -> Result<usize, FieldViolation> {
    match requested {
        0 => Ok(default as usize),
        within if within <= max => Ok(within as usize),
        _ => Err(FieldViolation::new(
            field,
            format!("must be at most {max} (0 means {default})"),
        )),
    }
}

/// Records a `Recluster` batch re-scores when the request says 0, and the most: a
/// batch holds identity's write lock once (about 0.1 s per 10,000 records on the
/// reference machine), and reads wait for it.
const DEFAULT_RECLUSTER_BATCH: u32 = 10_000;
const MAX_RECLUSTER_BATCH: u32 = 100_000;

/// The batch size of a `Recluster` request: 0 is the default, above the most refused.
fn recluster_batch(requested: u32) -> Result<u32, FieldViolation> {
    match requested {
        0 => Ok(DEFAULT_RECLUSTER_BATCH),
        within if within <= MAX_RECLUSTER_BATCH => Ok(within),
        _ => Err(FieldViolation::new(
            "batch_size",
            format!("must be at most {MAX_RECLUSTER_BATCH} (0 means {DEFAULT_RECLUSTER_BATCH})"),
        )),
    }
}

fn recluster_progress(report: &ReclusterReport, done: bool) -> pb::ReclusterProgress {
    let totals = &report.totals;
    pb::ReclusterProgress {
        summary: Some(pb::ReclusterSummary {
            dry_run: report.dry_run,
            records_total: totals.records_total,
            records_done: totals.records_done,
            components_examined: totals.components_examined,
            components_changed: totals.components_changed,
            customers_merged: totals.customers_merged,
            customers_split: totals.customers_split,
            customers_created: totals.customers_created,
            records_moved: totals.records_moved,
            links_added: totals.links_added,
            links_removed: totals.links_removed,
            links_reweighted: totals.links_reweighted,
            seconds: report.seconds,
        }),
        done,
    }
}

fn auto_estimate_to_proto(after: AfterImport) -> pb::AutoEstimate {
    use pb::auto_estimate::Outcome as Wire;
    let outcome = match after.decision {
        Decision::Started => Wire::Started,
        Decision::SwitchedOff => Wire::SwitchedOff,
        Decision::TooFewRecords => Wire::TooFewRecords,
        Decision::AlreadyEstimated => Wire::AlreadyEstimated,
        Decision::AlreadyRunning => Wire::AlreadyRunning,
        Decision::NotChecked => Wire::NotChecked,
    };
    pb::AutoEstimate {
        outcome: outcome as i32,
        records: after.records,
        min_records: auto_estimate::MIN_RECORDS,
    }
}

fn outcome_to_proto(outcome: Outcome) -> pb::ResolutionOutcome {
    match outcome {
        Outcome::Created => pb::ResolutionOutcome::Created,
        Outcome::Joined => pb::ResolutionOutcome::Joined,
        Outcome::Merged => pb::ResolutionOutcome::Merged,
        Outcome::Unchanged => pb::ResolutionOutcome::Unchanged,
    }
}

fn explanation_to_proto(explanation: &PairExplanation) -> pb::PairExplanation {
    let mut conflicts: Vec<String> = explanation
        .score
        .conflict
        .iter()
        .map(|conflict| conflict.describe().to_owned())
        .collect();
    if explanation.blocked {
        conflicts.push("blocked by a steward".to_owned());
    }
    pb::PairExplanation {
        a: Some(key_to_proto(&explanation.a)),
        b: Some(key_to_proto(&explanation.b)),
        fields: explanation
            .fields
            .iter()
            .map(|outcome| pb::FieldComparison {
                field: outcome.field.name().to_owned(),
                level: if outcome.swapped {
                    format!("{} (given and family swapped)", outcome.level_name())
                } else {
                    outcome.level_name().to_owned()
                },
                weight: outcome.weight,
                term_frequency_adjustment: outcome.frequency_adjustment,
            })
            .collect(),
        rules: explanation
            .score
            .rule
            .iter()
            .map(|rule| rule.describe().to_owned())
            .collect(),
        conflicts,
        total_weight: explanation.score.total,
        probability: explanation.probability,
        above_threshold: explanation.above_threshold && !explanation.blocked,
        notes: explanation.notes.clone(),
    }
}

fn record_key(key: Option<&pb::RecordKey>, field: &str) -> Result<RecordKey, Vec<FieldViolation>> {
    match key {
        Some(key) => parse_key(&key.source_system, &key.source_record_id, field),
        None => Err(vec![FieldViolation::new(field, "is required")]),
    }
}

type ChangeStream = Pin<Box<dyn Stream<Item = Result<pb::ChangeEvent, Status>> + Send>>;
type AssignmentStream = Pin<Box<dyn Stream<Item = Result<pb::RecordAssignment, Status>> + Send>>;
type ReclusterStream = Pin<Box<dyn Stream<Item = Result<pb::ReclusterProgress, Status>> + Send>>;

#[tonic::async_trait]
impl IdentityService for IdentityHandler {
    async fn upsert_record(
        &self,
        request: Request<pb::UpsertRecordRequest>,
    ) -> Result<Response<pb::UpsertRecordResponse>, Status> {
        if let Some(mut leader) = self.leader_for(&request) {
            return leader.upsert_record(forward::forwarded(request)).await;
        }
        let now = now_micros();
        let message = request.get_ref();
        let ParsedRecord {
            incoming,
            explicit_time,
            warnings,
        } = incoming_record(
            message.record.as_ref(),
            "record",
            self.identity.normalize_options(),
            now,
            message.strict,
        )
        .map_err(ApiError::from)?;
        let committed = self
            .identity
            .write(|engine| Ok(engine.upsert(incoming, explicit_time, now)))?;
        let (result, position) = committed.wait_position().await?;
        let response = Response::new(pb::UpsertRecordResponse {
            customer_id: result.customer_id.to_string(),
            outcome: outcome_to_proto(result.outcome) as i32,
            merged_customer_ids: result.merged.iter().map(|id| id.to_string()).collect(),
            warnings: warnings.into_iter().map(warning_to_proto).collect(),
        });
        Ok(consistency::tag(response, position))
    }

    async fn import_records(
        &self,
        request: Request<Streaming<pb::ImportRecordsRequest>>,
    ) -> Result<Response<pb::ImportRecordsResponse>, Status> {
        if let Some(mut leader) = self.leader_for(&request) {
            // A broken client stream ends the forwarded one: the leader answers for
            // what arrived, as it would have.
            let request = forward::forwarded(request).map(|stream| {
                stream
                    .take_while(|item| futures::future::ready(item.is_ok()))
                    .filter_map(|item| futures::future::ready(item.ok()))
            });
            return leader.import_records(request).await;
        }
        let started = Instant::now();
        let _streaming = self.identity.import_streaming();
        let stream = request.into_inner();
        // Parsing and normalizing runs in its own task, so that it overlaps the engine's
        // work on the previous batch (a core each).
        let (parsed_sender, mut parsed) =
            tokio::sync::mpsc::channel::<Result<ParsedBatch, Status>>(4);
        let options = self.identity.normalize_options().clone();
        tokio::spawn(parse_batches(stream, options, parsed_sender));
        let mut summary = pb::ImportRecordsResponse::default();
        let mut warning_counts = WarningCounts::default();
        let mut skip_auto_estimate = false;
        let mut pending: std::collections::VecDeque<Committed<Vec<idic_engine::UpsertResult>>> =
            std::collections::VecDeque::new();
        let mut pending_records = 0usize;
        while let Some(batch) = parsed.recv().await {
            let batch = batch?;
            skip_auto_estimate |= batch.skip_auto_estimate;
            summary.received += batch.received;
            summary.rejected += batch.errors_total;
            for error in batch.errors {
                if summary.errors.len() < MAX_REPORTED_ERRORS {
                    summary.errors.push(error);
                }
            }
            for (index, parsed) in &batch.valid {
                if parsed.warnings.is_empty() {
                    continue;
                }
                summary.warned += 1;
                for warning in &parsed.warnings {
                    warning_counts.add(&warning.field, &warning.reason, 1);
                }
                if summary.warnings.len() < MAX_REPORTED_WARNINGS {
                    summary.warnings.push(pb::RecordWarnings {
                        index: *index,
                        key: Some(key_to_proto(parsed.incoming.key())),
                        warnings: parsed
                            .warnings
                            .iter()
                            .cloned()
                            .map(warning_to_proto)
                            .collect(),
                    });
                }
            }
            if batch.valid.is_empty() {
                continue;
            }
            let now = batch.now;
            let batch_records = batch.valid.len();
            let committed = self.identity.write(|engine| {
                let mut results = Vec::with_capacity(batch.valid.len());
                let mut changes = idic_engine::ChangeSet::default();
                // A row per record at least: the map grows once, not as it fills.
                changes.records.reserve(batch.valid.len());
                for (_, parsed) in batch.valid {
                    results.push(engine.upsert_into(
                        parsed.incoming,
                        parsed.explicit_time,
                        now,
                        &mut changes,
                    ));
                }
                Ok((results, changes))
            })?;
            pending.push_back(committed);
            pending_records += batch_records;
            // Engine work on this batch overlaps the commit of earlier ones.
            while pending_records > IMPORT_WINDOW_RECORDS {
                let Some(oldest) = pending.pop_front() else {
                    break;
                };
                let results = oldest.wait().await?;
                // One result per record of the batch.
                pending_records = pending_records.saturating_sub(results.len());
                tally(&mut summary, &results);
            }
        }
        let mut position = self.identity.replication().position();
        while let Some(committed) = pending.pop_front() {
            let (results, committed_at) = committed.wait_position().await?;
            position = position.max(committed_at);
            tally(&mut summary, &results);
        }
        summary.warning_counts = warning_counts.into_proto();
        // Every record is committed: the automatic step may start (it does not delay
        // the answer).
        let enabled = self.auto_estimate && !skip_auto_estimate;
        let after = auto_estimate::after_import(&self.identity, enabled, &self.shutdown).await;
        summary.auto_estimate = Some(auto_estimate_to_proto(after));
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(consistency::tag(Response::new(summary), position))
    }

    async fn resolve(
        &self,
        request: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::ResolveResponse>, Status> {
        self.await_read(&request).await?;
        let message = request.get_ref();
        let limit = match message.max_candidates {
            0 => 10,
            n if n > 100 => {
                return Err(ApiError::invalid("max_candidates", "must be at most 100").into());
            }
            n => n as usize,
        };
        let options = self.identity.normalize_options();
        let (features, strong) = match &message.query {
            Some(pb::resolve_request::Query::Identifier(identifier)) => (
                identifier_features(identifier, "identifier", options).map_err(ApiError::from)?,
                true,
            ),
            Some(pb::resolve_request::Query::Partial(partial)) => (
                query_features(partial, "partial", options).map_err(ApiError::from)?,
                false,
            ),
            None => return Err(ApiError::invalid("query", "set identifier or partial").into()),
        };
        let engine = self.identity.read();
        let candidates = engine.resolve(&features, limit, strong);
        let candidates = candidates
            .into_iter()
            .map(|candidate| {
                let display_name = engine
                    .surviving_id(&candidate.customer_id)
                    .map(|customer| engine.golden(customer).display_name())
                    .unwrap_or_default();
                pb::Candidate {
                    customer_id: candidate.customer_id.to_string(),
                    score: candidate.score,
                    probability: candidate.probability,
                    above_threshold: candidate.above_threshold,
                    display_name,
                    matched_fields: candidate
                        .matched_fields
                        .iter()
                        .map(|field| (*field).to_owned())
                        .collect(),
                }
            })
            .collect();
        Ok(Response::new(pb::ResolveResponse { candidates }))
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::GetCustomerResponse>, Status> {
        self.await_read(&request).await?;
        let selector = CustomerSelector::parse(request.get_ref().customer.as_ref(), "customer")
            .map_err(ApiError::from)?;
        let customer = self.find_customer(&selector)?;
        Ok(Response::new(pb::GetCustomerResponse {
            customer: Some(self.customer_view(&customer)),
        }))
    }

    async fn lookup_customer_id(
        &self,
        request: Request<pb::LookupCustomerIdRequest>,
    ) -> Result<Response<pb::LookupCustomerIdResponse>, Status> {
        self.await_read(&request).await?;
        let selector = CustomerSelector::parse(request.get_ref().customer.as_ref(), "customer")
            .map_err(ApiError::from)?;
        let customer = self.find_customer(&selector)?;
        Ok(Response::new(pb::LookupCustomerIdResponse {
            customer_id: customer.id.to_string(),
        }))
    }

    async fn explain_match(
        &self,
        request: Request<pb::ExplainMatchRequest>,
    ) -> Result<Response<pb::ExplainMatchResponse>, Status> {
        self.await_read(&request).await?;
        let engine = self.identity.read();
        let threshold = engine.threshold();
        match &request.get_ref().subject {
            Some(pb::explain_match_request::Subject::Pair(pair)) => {
                let mut violations = Vec::new();
                let a = record_key(pair.a.as_ref(), "pair.a")
                    .map_err(|v| violations.extend(v))
                    .ok();
                let b = record_key(pair.b.as_ref(), "pair.b")
                    .map_err(|v| violations.extend(v))
                    .ok();
                let (Some(a), Some(b)) = (a, b) else {
                    return Err(ApiError::InvalidArgument(violations).into());
                };
                let explanation = engine.explain_pair(&a, &b).map_err(engine_error)?;
                Ok(Response::new(pb::ExplainMatchResponse {
                    links: vec![explanation_to_proto(&explanation)],
                    customer_id: String::new(),
                    match_threshold: threshold,
                }))
            }
            Some(pb::explain_match_request::Subject::Record(key)) => {
                let key = parse_key(&key.source_system, &key.source_record_id, "record")
                    .map_err(ApiError::from)?;
                let (customer_id, links) = engine.explain_record(&key).map_err(engine_error)?;
                Ok(Response::new(pb::ExplainMatchResponse {
                    links: links.iter().map(explanation_to_proto).collect(),
                    customer_id: customer_id.to_string(),
                    match_threshold: threshold,
                }))
            }
            None => Err(ApiError::invalid("subject", "set pair or record").into()),
        }
    }

    async fn merge(
        &self,
        request: Request<pb::MergeRequest>,
    ) -> Result<Response<pb::MergeResponse>, Status> {
        if let Some(mut leader) = self.leader_for(&request) {
            return leader.merge(forward::forwarded(request)).await;
        }
        let caller = Caller::of(&request);
        let message = request.into_inner();
        let mut violations = Vec::new();
        let reason = required_reason(&message.reason)
            .map_err(|v| violations.push(v))
            .ok();
        if message.customer_ids.len() < 2 {
            violations.push(FieldViolation::new(
                "customer_ids",
                "name at least two customers",
            ));
        }
        for (index, id) in message.customer_ids.iter().enumerate() {
            if id.trim().is_empty() || id.len() > 64 {
                violations.push(FieldViolation::new(
                    format!("customer_ids[{index}]"),
                    "must be a customer id",
                ));
            }
        }
        let (Some(reason), true) = (reason, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let now = now_micros();
        let committed = self.identity.write(|engine| {
            let (survivor, merged, changes) = engine
                .merge(&message.customer_ids, &caller.client, &reason, now)
                .map_err(engine_error)?;
            Ok(((survivor, merged), changes))
        })?;
        let ((survivor, merged), position) = committed.wait_position().await?;
        tracing::info!(actor = caller.client, customer_id = %survivor, merged = merged.len(), "steward merge");
        let response = Response::new(pb::MergeResponse {
            customer_id: survivor.to_string(),
            merged_customer_ids: merged.iter().map(|id| id.to_string()).collect(),
        });
        Ok(consistency::tag(response, position))
    }

    async fn unmerge(
        &self,
        request: Request<pb::UnmergeRequest>,
    ) -> Result<Response<pb::UnmergeResponse>, Status> {
        if let Some(mut leader) = self.leader_for(&request) {
            return leader.unmerge(forward::forwarded(request)).await;
        }
        let caller = Caller::of(&request);
        let message = request.into_inner();
        let mut violations = Vec::new();
        let reason = required_reason(&message.reason)
            .map_err(|v| violations.push(v))
            .ok();
        if message.records.is_empty() {
            violations.push(FieldViolation::new(
                "records",
                "name at least one record to move",
            ));
        }
        let mut keys = Vec::new();
        for (index, key) in message.records.iter().enumerate() {
            match parse_key(
                &key.source_system,
                &key.source_record_id,
                &format!("records[{index}]"),
            ) {
                Ok(key) => keys.push(key),
                Err(errors) => violations.extend(errors),
            }
        }
        let (Some(reason), true) = (reason, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let now = now_micros();
        let committed = self.identity.write(|engine| {
            let (kept, new, changes) = engine
                .unmerge(&keys, message.block_remerge, &caller.client, &reason, now)
                .map_err(engine_error)?;
            Ok(((kept, new), changes))
        })?;
        let ((kept, new), position) = committed.wait_position().await?;
        tracing::info!(actor = caller.client, customer_id = %kept, new_customer_id = %new, blocked = message.block_remerge, "steward unmerge");
        let response = Response::new(pb::UnmergeResponse {
            customer_id: kept.to_string(),
            new_customer_id: new.to_string(),
        });
        Ok(consistency::tag(response, position))
    }

    async fn get_merge_history(
        &self,
        request: Request<pb::GetMergeHistoryRequest>,
    ) -> Result<Response<pb::GetMergeHistoryResponse>, Status> {
        self.await_read(&request).await?;
        let message = request.get_ref();
        let mut violations = Vec::new();
        let selector = CustomerSelector::parse(message.customer.as_ref(), "customer")
            .map_err(|v| violations.push(v))
            .ok();
        let page = Page::parse(message.page.as_ref(), "page")
            .map_err(|v| violations.push(v))
            .ok();
        let before = match page.as_ref().and_then(|page| page.after.as_deref()) {
            None => None,
            Some(text) => match text.parse::<u64>() {
                Ok(id) => Some(id),
                Err(_) => {
                    violations.push(FieldViolation::new(
                        "page.page_token",
                        "is not a history token",
                    ));
                    None
                }
            },
        };
        let (Some(selector), Some(page), true) = (selector, page, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        // Erased customers still have a history: look the id up without the erasure check.
        let ids: Vec<String> = {
            let engine = self.identity.read();
            let customer = match &selector {
                CustomerSelector::Id(id) => engine.surviving_id(id).cloned(),
                CustomerSelector::Identifier { .. } => None,
            };
            match customer {
                Some(customer) => std::iter::once(customer.id.to_string())
                    .chain(customer.aliases.iter().map(|a| a.to_string()))
                    .collect(),
                None => {
                    drop(engine);
                    let customer = self.find_customer(&selector)?;
                    std::iter::once(customer.id.to_string())
                        .chain(customer.aliases.iter().map(|a| a.to_string()))
                        .collect()
                }
            }
        };
        let events = self
            .identity
            .history(&ids, before, page.fetch_limit())
            .await?;
        let (events, page) = finish_page(&page, events, |event| event.event_id.to_string());
        Ok(Response::new(pb::GetMergeHistoryResponse {
            events: events.iter().map(event_to_proto).collect(),
            page: Some(page),
        }))
    }

    async fn erase_customer(
        &self,
        request: Request<pb::EraseCustomerRequest>,
    ) -> Result<Response<pb::EraseCustomerResponse>, Status> {
        if let Some(mut leader) = self.leader_for(&request) {
            return leader.erase_customer(forward::forwarded(request)).await;
        }
        let caller = Caller::of(&request);
        let message = request.get_ref();
        let mut violations = Vec::new();
        let selector = CustomerSelector::parse(message.customer.as_ref(), "customer")
            .map_err(|v| violations.push(v))
            .ok();
        let reason = required_reason(&message.reason)
            .map_err(|v| violations.push(v))
            .ok();
        let (Some(selector), Some(reason), true) = (selector, reason, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let customer = self.find_customer_or_tombstone(&selector)?;
        let now = now_micros();
        let committed = self
            .identity
            .write_erasure(|engine| {
                let (id, erased, changes) = engine
                    .erase(&customer.id, &caller.client, &reason, now)
                    .map_err(engine_error)?;
                Ok(((id, erased), changes))
            })
            .await?;
        let ((id, erased), position) = committed.wait_position().await?;
        // Also when the customer was already erased, so that a retry after a failed
        // purge completes it.
        self.identity.purge_erased().await?;
        tracing::info!(actor = caller.client, customer_id = %id, records = erased, "customer erased");
        let response = Response::new(pb::EraseCustomerResponse {
            customer_id: id.to_string(),
            records_erased: erased as u64,
        });
        Ok(consistency::tag(response, position))
    }

    async fn export_customer(
        &self,
        request: Request<pb::ExportCustomerRequest>,
    ) -> Result<Response<pb::ExportCustomerResponse>, Status> {
        self.await_read(&request).await?;
        let selector = CustomerSelector::parse(request.get_ref().customer.as_ref(), "customer")
            .map_err(ApiError::from)?;
        let customer = self.find_customer(&selector)?;
        let records: Vec<pb::SourceRecord> = {
            let engine = self.identity.read();
            engine
                .members(&customer)
                .iter()
                .map(|entry| source_record(entry))
                .collect()
        };
        let ids: Vec<String> = std::iter::once(customer.id.to_string())
            .chain(customer.aliases.iter().map(|a| a.to_string()))
            .collect();
        let history = self.identity.history(&ids, None, 10_000).await?;
        let others = match &self.peers {
            Some(peers) => {
                let budget = Deadline::of(&request).map_or(PEER_EXPORT_BUDGET, |deadline| {
                    deadline.remaining().min(PEER_EXPORT_BUDGET)
                });
                let credentials = export::caller_credentials(request.metadata());
                export::gather(peers, credentials.as_ref(), &customer.id, budget).await?
            }
            None => export::PeerExports::default(),
        };
        Ok(Response::new(pb::ExportCustomerResponse {
            customer: Some(self.customer_view(&customer)),
            records,
            history: history.iter().map(event_to_proto).collect(),
            differentiation: Some(others.differentiation),
            interaction: Some(others.interaction),
            customization: Some(others.customization),
        }))
    }

    async fn estimate_parameters(
        &self,
        request: Request<pb::EstimateParametersRequest>,
    ) -> Result<Response<pb::EstimateParametersResponse>, Status> {
        if let Some(mut leader) = self.leader_for(&request) {
            return leader
                .estimate_parameters(forward::forwarded(request))
                .await;
        }
        let message = request.get_ref();
        let random = estimation_pairs(
            message.random_pairs,
            DEFAULT_RANDOM_PAIRS,
            MAX_RANDOM_PAIRS,
            "random_pairs",
        );
        let candidates = estimation_pairs(
            message.candidate_pairs,
            DEFAULT_CANDIDATE_PAIRS,
            MAX_CANDIDATE_PAIRS,
            "candidate_pairs",
        );
        let (random, candidates) = match (random, candidates) {
            (Ok(random), Ok(candidates)) => (random, candidates),
            (random, candidates) => {
                let violations: Vec<FieldViolation> = [random.err(), candidates.err()]
                    .into_iter()
                    .flatten()
                    .collect();
                return Err(ApiError::InvalidArgument(violations).into());
            }
        };
        // One estimate or recluster at a time, the automatic one after an import too.
        let claim = self.identity.claim_recluster()?;
        let (version, summary) = self
            .identity
            .estimate_parameters(&claim, random, candidates)
            .await?;
        Ok(Response::new(pb::EstimateParametersResponse {
            version,
            random_pairs: summary.random_pairs as u64,
            candidate_pairs: summary.candidate_pairs as u64,
            iterations: summary.iterations,
            converged: summary.converged,
            log_likelihood: summary.log_likelihood,
            prior: summary.prior,
            seconds: summary.seconds,
            household_ratio: summary.household_ratio,
        }))
    }

    type ReclusterStream = ReclusterStream;

    async fn recluster(
        &self,
        request: Request<pb::ReclusterRequest>,
    ) -> Result<Response<Self::ReclusterStream>, Status> {
        // A recluster writes: a follower forwards it, stream and all. A dry run only
        // reads, and any replica answers it from its own engine.
        if !request.get_ref().dry_run {
            if let Some(mut leader) = self.leader_for(&request) {
                let response = leader.recluster(forward::forwarded(request)).await?;
                return Ok(response.map(|stream| Box::pin(stream) as ReclusterStream));
            }
            if let Some(refusal) = self.identity.replication().refuse_write() {
                return Err(refusal.into());
            }
        }
        let caller = Caller::of(&request);
        let message = request.into_inner();
        let batch = recluster_batch(message.batch_size)
            .map_err(|violation| ApiError::InvalidArgument(vec![violation]))?;
        let claim = self.identity.claim_recluster()?;
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        let identity = self.identity.clone();
        let shutdown = self.shutdown.clone();
        // The pass runs beside the stream; a client that goes away (or a shutdown)
        // stops it after the current batch.
        tokio::spawn(async move {
            let outcome = identity
                .recluster(&claim, message.dry_run, batch, &caller.client, |report| {
                    // Progress is a gauge: a slow reader misses some, never the last.
                    let sent = sender.try_send(Ok(recluster_progress(report, false)));
                    let gone =
                        matches!(sent, Err(tokio::sync::mpsc::error::TrySendError::Closed(_)));
                    !gone && !shutdown.is_cancelled()
                })
                .await;
            let last = match outcome {
                Ok(report) if !report.complete => Err(Status::unavailable(format!(
                    "the recluster stopped after {} of {} records (the server is shutting down); what was done stays, run it again to complete it",
                    report.totals.records_done, report.totals.records_total
                ))),
                Ok(report) => Ok(recluster_progress(&report, true)),
                Err(error) => Err(Status::from(error)),
            };
            let _ = sender.send(last).await;
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    type ExportClustersStream = AssignmentStream;

    async fn export_clusters(
        &self,
        request: Request<pb::ExportClustersRequest>,
    ) -> Result<Response<Self::ExportClustersStream>, Status> {
        self.await_read(&request).await?;
        let assignments = self.identity.read().assignments();
        let stream = futures::stream::iter(assignments.into_iter().map(|(key, customer)| {
            Ok(pb::RecordAssignment {
                source_system: key.source_system,
                source_record_id: key.source_record_id,
                customer_id: customer.to_string(),
            })
        }));
        Ok(Response::new(Box::pin(stream)))
    }

    type WatchChangesStream = ChangeStream;

    async fn watch_changes(
        &self,
        request: Request<pb::WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        self.await_read(&request).await?;
        let message = request.into_inner();
        // Subscribe before replaying, so nothing committed in between is missed.
        let live = self.identity.subscribe();
        let mut cursor = message.after_event_id;
        let mut replay = Vec::new();
        if message.from_start || message.after_event_id > 0 {
            loop {
                let page = self.identity.events_after(cursor, 1000).await?;
                let Some(last) = page.last() else { break };
                cursor = last.event_id;
                replay.extend(page.iter().map(event_to_proto));
            }
        } else {
            cursor = u64::MAX;
        }
        let replayed = futures::stream::iter(replay.into_iter().map(Ok));
        let live = tokio_stream::wrappers::BroadcastStream::new(live).filter_map(move |event| {
            let item = match event {
                Ok(event) if cursor == u64::MAX || event.event_id > cursor => Some(Ok(event_to_proto(&event))),
                Ok(_) => None,
                Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(missed)) => Some(Err(Status::data_loss(format!(
                    "the watcher fell behind and missed {missed} events; resume with after_event_id"
                )))),
            };
            std::future::ready(item)
        });
        // The stream ends when the server shuts down; clients resume with after_event_id.
        let until_shutdown = self.shutdown.clone().cancelled_owned();
        Ok(Response::new(Box::pin(
            replayed.chain(live).take_until(until_shutdown),
        )))
    }
}

/// One message of an import, parsed.
struct ParsedBatch {
    now: i64,
    received: u64,
    /// The records to store, each with its position in the stream.
    valid: Vec<(u64, ParsedRecord)>,
    errors_total: u64,
    errors: Vec<pb::RecordError>,
    /// The message asked that the import start no automatic estimate.
    skip_auto_estimate: bool,
}

/// Reads the import stream, parses and normalizes each message's records.
async fn parse_batches(
    mut stream: Streaming<pb::ImportRecordsRequest>,
    options: idic_matching::normalize::NormalizeOptions,
    sender: tokio::sync::mpsc::Sender<Result<ParsedBatch, Status>>,
) {
    let mut index: u64 = 0;
    let mut reported = 0usize;
    while let Some(message) = stream.next().await {
        let message = match message {
            Ok(message) => message,
            Err(status) => {
                let _ = sender.send(Err(status)).await;
                return;
            }
        };
        let now = now_micros();
        let mut batch = ParsedBatch {
            now,
            received: 0,
            valid: Vec::with_capacity(message.records.len()),
            errors_total: 0,
            errors: Vec::new(),
            skip_auto_estimate: message.skip_auto_estimate,
        };
        for record in &message.records {
            batch.received += 1;
            match incoming_record(Some(record), "", &options, now, message.strict) {
                Ok(parsed) => batch.valid.push((index, parsed)),
                Err(violations) => {
                    batch.errors_total += 1;
                    if reported < MAX_REPORTED_ERRORS {
                        reported += 1;
                        batch.errors.push(pb::RecordError {
                            index,
                            key: Some(pb::RecordKey {
                                source_system: record.source_system.clone(),
                                source_record_id: record.source_record_id.clone(),
                            }),
                            fields: violations
                                .into_iter()
                                .map(|v| pb::FieldError {
                                    field: v.field,
                                    description: v.description,
                                })
                                .collect(),
                        });
                    }
                }
            }
            index += 1;
        }
        if sender.send(Ok(batch)).await.is_err() {
            return;
        }
    }
}

fn tally(summary: &mut pb::ImportRecordsResponse, results: &[idic_engine::UpsertResult]) {
    for result in results {
        match result.outcome {
            Outcome::Unchanged => summary.unchanged += 1,
            _ => summary.accepted += 1,
        }
        summary.customers_created += result.created as u64;
        summary.customers_merged += result.absorbed as u64;
    }
}
