//! gRPC handlers of `idic.v1.InteractionService`: validate, resolve the customer, call
//! the recorder, store or context builder, convert back.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use idic_proto::v1 as pb;
use idic_proto::v1::interaction_service_server::InteractionService;
use idic_runtime::bus::{BusError, EventBus};
use idic_runtime::error::collect;
use idic_runtime::paging::{Page, finish_page};
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult, FieldViolation, limits};
use prost::Message as _;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::convert::{
    consent_to_proto, interaction_to_proto, new_id, parse_record, preference_to_proto,
    thread_to_proto, timestamp_micros, valid_client_id,
};
use crate::domain::{
    Consent, TimelineCursor, TimelineFilter, consent_allows, current_consents, latest_preferences,
};
use crate::recorder::INTERACTIONS_TOPIC;
use crate::resolve::resolve_or_create;
use crate::service::Interactions;
use crate::store::WriteOutcome;

/// Interactions per RecordInteractions call, and Segment events per ingest call.
pub const MAX_BATCH: usize = 1000;
/// Steps GetThread returns at most.
const MAX_THREAD_STEPS: i64 = 1000;
const DEFAULT_RECENT: u32 = 10;
const MAX_RECENT: u32 = 50;
const DEFAULT_REPEAT_WINDOW_DAYS: u32 = 7;
const MAX_REPEAT_WINDOW_DAYS: u32 = 365;
const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

pub struct InteractionHandler {
    core: Arc<Interactions>,
}

impl InteractionHandler {
    pub fn new(core: Arc<Interactions>) -> Self {
        InteractionHandler { core }
    }
}

/// What is left of the caller's deadline for a call to identity.
pub fn resolve_budget<T>(request: &Request<T>) -> Duration {
    idic_runtime::customers::budget(request, idic_runtime::customers::RESOLVE_BUDGET)
}

fn parse_customer(reference: Option<&pb::CustomerRef>) -> ApiResult<CustomerSelector> {
    Ok(CustomerSelector::parse(reference, "customer")?)
}

fn record_response(outcome: WriteOutcome, customer_created: bool) -> pb::RecordInteractionResponse {
    let (interaction, thread, duplicate) = match outcome {
        WriteOutcome::Created {
            interaction,
            thread,
        } => (interaction, thread, false),
        WriteOutcome::Duplicate {
            interaction,
            thread,
        } => (interaction, thread, true),
        WriteOutcome::ThreadOfAnotherCustomer => return pb::RecordInteractionResponse::default(),
    };
    let last_step = thread
        .as_ref()
        .filter(|thread| thread.last_interaction_id == interaction.interaction_id)
        .map(|_| interaction.clone());
    pb::RecordInteractionResponse {
        thread: thread.map(|thread| thread_to_proto(thread, last_step)),
        interaction: Some(interaction_to_proto(interaction)),
        duplicate,
        customer_created,
        warnings: Vec::new(),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::InteractionEvent, Status>> + Send>>;

/// New interactions from the bus that pass `keep`, until shutdown.
async fn interaction_stream(
    bus: &Arc<dyn EventBus>,
    shutdown: &CancellationToken,
    keep: impl Fn(&pb::InteractionEvent) -> bool + Send + 'static,
) -> ApiResult<EventStream> {
    let events =
        bus.subscribe(INTERACTIONS_TOPIC)
            .await
            .map_err(|error| ApiError::Unavailable {
                message: format!("the event bus is unavailable: {error}"),
                retry_after: Duration::from_secs(1),
            })?;
    let stream = events
        .filter_map(move |event| {
            let item = match event {
                Ok(event) => match pb::InteractionEvent::decode(event.payload.as_slice()) {
                    // The anchor is for the services following the bus, not for clients.
                    Ok(decoded) if keep(&decoded) => Some(Ok(pb::InteractionEvent {
                        anchor: String::new(),
                        ..decoded
                    })),
                    Ok(_) => None,
                    Err(error) => {
                        tracing::warn!(%error, "skipping an unreadable interaction event");
                        None
                    }
                },
                Err(BusError::Lagged(missed)) => {
                    tracing::warn!(missed, "an interaction stream fell behind");
                    None
                }
                Err(error) => Some(Err(Status::unavailable(error.to_string()))),
            };
            std::future::ready(item)
        })
        .take_until(shutdown.clone().cancelled_owned());
    Ok(Box::pin(stream))
}

fn purpose_of(text: &str, field: &str) -> Result<String, FieldViolation> {
    let purpose = text.trim().to_lowercase();
    if purpose.is_empty()
        || purpose.len() > 64
        || !purpose
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(FieldViolation::new(
            field,
            "must be 1 to 64 lower-case letters, digits, '_' or '-'",
        ));
    }
    Ok(purpose)
}

fn channel_of(value: i32, field: &str) -> Result<i32, FieldViolation> {
    match pb::Channel::try_from(value) {
        Ok(pb::Channel::Unspecified) => Err(FieldViolation::new(field, "is required")),
        Ok(_) => Ok(value),
        Err(_) => Err(FieldViolation::new(field, "is not a known channel")),
    }
}

#[tonic::async_trait]
impl InteractionService for InteractionHandler {
    async fn record_interaction(
        &self,
        request: Request<pb::RecordInteractionRequest>,
    ) -> Result<Response<pb::RecordInteractionResponse>, Status> {
        let budget = resolve_budget(&request);
        let message = request.get_ref();
        let (draft, warnings) =
            parse_record(message, "", message.strict).map_err(ApiError::InvalidArgument)?;
        let (items, created) = self.core.resolve_drafts(vec![draft], budget).await?;
        let mut outcomes = self.core.record_resolved(items, |_| String::new()).await?;
        let outcome = outcomes.pop().ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("the writer answered without an outcome"))
        })?;
        let mut response = record_response(outcome, created[0]);
        response.warnings = warnings.into_proto();
        Ok(Response::new(response))
    }

    async fn record_interactions(
        &self,
        request: Request<pb::RecordInteractionsRequest>,
    ) -> Result<Response<pb::RecordInteractionsResponse>, Status> {
        let budget = resolve_budget(&request);
        let requests = &request.get_ref().interactions;
        if requests.len() > MAX_BATCH {
            return Err(ApiError::invalid(
                "interactions",
                format!("must hold at most {MAX_BATCH}"),
            )
            .into());
        }
        let batch_strict = request.get_ref().strict;
        let mut drafts = Vec::with_capacity(requests.len());
        let mut warnings = Vec::with_capacity(requests.len());
        let mut violations = Vec::new();
        for (index, item) in requests.iter().enumerate() {
            let strict = batch_strict || item.strict;
            match parse_record(item, &format!("interactions[{index}]"), strict) {
                Ok((draft, item_warnings)) => {
                    drafts.push(draft);
                    warnings.push(item_warnings);
                }
                Err(mut item_violations) => violations.append(&mut item_violations),
            }
        }
        if !violations.is_empty() {
            return Err(ApiError::InvalidArgument(violations).into());
        }
        let (items, created) = self.core.resolve_drafts(drafts, budget).await?;
        let outcomes = self
            .core
            .record_resolved(items, |index| format!("interactions[{index}]."))
            .await?;
        let duplicates = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, WriteOutcome::Duplicate { .. }))
            .count() as u64;
        let results: Vec<_> = outcomes
            .into_iter()
            .zip(created)
            .zip(warnings)
            .map(
                |((outcome, created), warnings)| pb::RecordInteractionResponse {
                    warnings: warnings.into_proto(),
                    ..record_response(outcome, created)
                },
            )
            .collect();
        Ok(Response::new(pb::RecordInteractionsResponse {
            created: results.len() as u64 - duplicates,
            duplicates,
            results,
        }))
    }

    async fn get_context(
        &self,
        request: Request<pb::GetContextRequest>,
    ) -> Result<Response<pb::GetContextResponse>, Status> {
        let budget = resolve_budget(&request);
        let message = request.get_ref();
        let mut violations = Vec::new();
        let selector = collect(
            CustomerSelector::parse(message.customer.as_ref(), "customer"),
            &mut violations,
        );
        if message.recent_limit > MAX_RECENT {
            violations.push(FieldViolation::new(
                "recent_limit",
                format!("must be at most {MAX_RECENT}"),
            ));
        }
        let (Some(selector), true) = (selector, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let recent = if message.recent_limit == 0 {
            DEFAULT_RECENT
        } else {
            message.recent_limit
        };
        let customer_id = self.core.peers.resolve_customer(&selector, budget).await?;
        let context =
            crate::context::build(&self.core, customer_id, i64::from(recent), budget).await?;
        Ok(Response::new(context))
    }

    async fn list_timeline(
        &self,
        request: Request<pb::ListTimelineRequest>,
    ) -> Result<Response<pb::ListTimelineResponse>, Status> {
        let budget = resolve_budget(&request);
        let message = request.get_ref();
        let mut violations = Vec::new();
        let selector = collect(
            CustomerSelector::parse(message.customer.as_ref(), "customer"),
            &mut violations,
        );
        let page = collect(Page::parse(message.page.as_ref(), "page"), &mut violations);
        let cursor = match page.as_ref().and_then(|page| page.after.as_deref()) {
            None => None,
            Some(text) => collect(
                TimelineCursor::decode(text).ok_or_else(|| {
                    FieldViolation::new("page.page_token", "is not a timeline token")
                }),
                &mut violations,
            ),
        };
        let filter = parse_filter(message, &mut violations);
        let (Some(selector), Some(page), true) = (selector, page, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let customer_id = self.core.peers.resolve_customer(&selector, budget).await?;
        let items = self
            .core
            .store
            .timeline(&customer_id, &filter, cursor.as_ref(), page.fetch_limit())
            .await
            .map_err(ApiError::internal)?;
        let (items, page) = finish_page(&page, items, |item| TimelineCursor::of(item).encode());
        Ok(Response::new(pb::ListTimelineResponse {
            customer_id,
            interactions: items.into_iter().map(interaction_to_proto).collect(),
            page: Some(page),
        }))
    }

    type StreamTimelineStream = EventStream;

    async fn stream_timeline(
        &self,
        request: Request<pb::StreamTimelineRequest>,
    ) -> Result<Response<Self::StreamTimelineStream>, Status> {
        let budget = resolve_budget(&request);
        let selector = parse_customer(request.get_ref().customer.as_ref())?;
        let customer_id = self.core.peers.resolve_customer(&selector, budget).await?;
        let stream = interaction_stream(&self.core.bus, &self.core.shutdown, move |event| {
            event.customer_id == customer_id
        })
        .await?;
        Ok(Response::new(stream))
    }

    type StreamInteractionsStream = EventStream;

    async fn stream_interactions(
        &self,
        request: Request<pb::StreamInteractionsRequest>,
    ) -> Result<Response<Self::StreamInteractionsStream>, Status> {
        let message = request.into_inner();
        let mut violations = Vec::new();
        for (index, channel) in message.channels.iter().enumerate() {
            collect(
                channel_of(*channel, &format!("channels[{index}]")),
                &mut violations,
            );
        }
        for (index, kind) in message.types.iter().enumerate() {
            if pb::InteractionType::try_from(*kind).is_err() || *kind == 0 {
                violations.push(FieldViolation::new(
                    format!("types[{index}]"),
                    "is not a known type",
                ));
            }
        }
        if !violations.is_empty() {
            return Err(ApiError::InvalidArgument(violations).into());
        }
        let stream = interaction_stream(&self.core.bus, &self.core.shutdown, move |event| {
            (message.channels.is_empty() || message.channels.contains(&event.channel))
                && (message.types.is_empty() || message.types.contains(&event.r#type))
        })
        .await?;
        Ok(Response::new(stream))
    }

    async fn get_thread(
        &self,
        request: Request<pb::GetThreadRequest>,
    ) -> Result<Response<pb::GetThreadResponse>, Status> {
        let thread_id = request.get_ref().thread_id.trim();
        if !valid_client_id(thread_id) {
            return Err(ApiError::invalid("thread_id", "is not a thread id").into());
        }
        let store = &self.core.store;
        let thread = store
            .thread(thread_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("no such thread"))?;
        let steps = store
            .thread_steps(thread_id, MAX_THREAD_STEPS)
            .await
            .map_err(ApiError::internal)?;
        let last_step = steps
            .iter()
            .find(|step| step.interaction_id == thread.last_interaction_id)
            .cloned();
        Ok(Response::new(pb::GetThreadResponse {
            thread: Some(thread_to_proto(thread, last_step)),
            steps: steps.into_iter().map(interaction_to_proto).collect(),
        }))
    }

    async fn list_threads(
        &self,
        request: Request<pb::ListThreadsRequest>,
    ) -> Result<Response<pb::ListThreadsResponse>, Status> {
        let budget = resolve_budget(&request);
        let message = request.get_ref();
        let mut violations = Vec::new();
        let selector = collect(
            CustomerSelector::parse(message.customer.as_ref(), "customer"),
            &mut violations,
        );
        if pb::ThreadStatus::try_from(message.status).is_err() {
            violations.push(FieldViolation::new("status", "is not a known status"));
        }
        let page = collect(Page::parse(message.page.as_ref(), "page"), &mut violations);
        let cursor = match page.as_ref().and_then(|page| page.after.as_deref()) {
            None => None,
            Some(text) => collect(
                text.split_once('|')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                    .ok_or_else(|| FieldViolation::new("page.page_token", "is not a thread token")),
                &mut violations,
            ),
        };
        let (Some(selector), Some(page), true) = (selector, page, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let customer_id = self.core.peers.resolve_customer(&selector, budget).await?;
        let threads = self
            .core
            .store
            .threads(
                &customer_id,
                message.status,
                cursor.as_ref(),
                page.fetch_limit(),
            )
            .await
            .map_err(ApiError::internal)?;
        let (threads, page) = finish_page(&page, threads, |(thread, _)| {
            format!("{}|{}", thread.last_activity_at_micros, thread.thread_id)
        });
        Ok(Response::new(pb::ListThreadsResponse {
            customer_id,
            threads: threads
                .into_iter()
                .map(|(thread, step)| thread_to_proto(thread, step))
                .collect(),
            page: Some(page),
        }))
    }

    async fn ingest_segment_events(
        &self,
        request: Request<pb::IngestSegmentEventsRequest>,
    ) -> Result<Response<pb::IngestSegmentEventsResponse>, Status> {
        let budget = resolve_budget(&request);
        let events = &request.get_ref().events;
        if events.len() > MAX_BATCH {
            return Err(
                ApiError::invalid("events", format!("must hold at most {MAX_BATCH}")).into(),
            );
        }
        let response = crate::segment::ingest(&self.core, events, budget).await?;
        Ok(Response::new(response))
    }

    async fn record_consent(
        &self,
        request: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::RecordConsentResponse>, Status> {
        let budget = resolve_budget(&request);
        let message = request.get_ref();
        let mut violations = Vec::new();
        let selector = collect(
            CustomerSelector::parse(message.customer.as_ref(), "customer"),
            &mut violations,
        );
        let channel = collect(channel_of(message.channel, "channel"), &mut violations);
        let purpose = collect(purpose_of(&message.purpose, "purpose"), &mut violations);
        let status = match pb::ConsentStatus::try_from(message.status) {
            Ok(pb::ConsentStatus::Unspecified) => {
                violations.push(FieldViolation::new("status", "is required"));
                None
            }
            Ok(_) => Some(message.status),
            Err(_) => {
                violations.push(FieldViolation::new("status", "is not a known status"));
                None
            }
        };
        let now = now_micros();
        let decided_at = match &message.decided_at {
            None => Some(now),
            Some(timestamp) => collect(
                limits::instant_micros(timestamp, "decided_at"),
                &mut violations,
            ),
        };
        let source = message.source.trim();
        if source.is_empty() || source.len() > 200 {
            violations.push(FieldViolation::new("source", "must be 1 to 200 bytes"));
        }
        let key = message.idempotency_key.trim();
        if key.len() > 200 {
            violations.push(FieldViolation::new(
                "idempotency_key",
                "must be at most 200 bytes",
            ));
        }
        let (Some(selector), Some(channel), Some(purpose), Some(status), Some(decided_at), true) = (
            selector,
            channel,
            purpose,
            status,
            decided_at,
            violations.is_empty(),
        ) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let customer = resolve_or_create(&self.core.peers, &selector, budget).await?;
        let consent_id = new_id("cns");
        let consent = Consent {
            idempotency_key: if key.is_empty() {
                consent_id.clone()
            } else {
                key.to_owned()
            },
            consent_id,
            customer_id: customer.customer_id.clone(),
            anchor: customer.anchor,
            channel,
            purpose: purpose.clone(),
            status,
            decided_at_micros: decided_at,
            source: source.to_owned(),
            recorded_at_micros: now,
        };
        let store = &self.core.store;
        store
            .insert_consent(&consent)
            .await
            .map_err(ApiError::internal)?;
        let decisions = store
            .consents(&customer.customer_id)
            .await
            .map_err(ApiError::internal)?;
        let current = current_consents(decisions)
            .into_iter()
            .find(|decision| decision.channel == channel && decision.purpose == purpose);
        Ok(Response::new(pb::RecordConsentResponse {
            customer_id: customer.customer_id,
            consent: current.map(consent_to_proto),
        }))
    }

    async fn check_consent(
        &self,
        request: Request<pb::CheckConsentRequest>,
    ) -> Result<Response<pb::CheckConsentResponse>, Status> {
        let budget = resolve_budget(&request);
        let message = request.get_ref();
        let mut violations = Vec::new();
        let selector = collect(
            CustomerSelector::parse(message.customer.as_ref(), "customer"),
            &mut violations,
        );
        let channel = collect(channel_of(message.channel, "channel"), &mut violations);
        let purpose = collect(purpose_of(&message.purpose, "purpose"), &mut violations);
        let (Some(selector), Some(channel), Some(purpose), true) =
            (selector, channel, purpose, violations.is_empty())
        else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let customer_id = self.core.peers.resolve_customer(&selector, budget).await?;
        let decisions = self
            .core
            .store
            .consents(&customer_id)
            .await
            .map_err(ApiError::internal)?;
        let current = current_consents(decisions)
            .into_iter()
            .find(|decision| decision.channel == channel && decision.purpose == purpose);
        let allowed = consent_allows(current.as_ref());
        let state = current.map(consent_to_proto);
        Ok(Response::new(pb::CheckConsentResponse {
            customer_id,
            allowed,
            status: state.as_ref().map_or(0, |state| state.status),
            decided_at: state.as_ref().and_then(|state| state.decided_at),
            source: state.map(|state| state.source).unwrap_or_default(),
        }))
    }

    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::GetPreferencesResponse>, Status> {
        let budget = resolve_budget(&request);
        let selector = parse_customer(request.get_ref().customer.as_ref())?;
        let customer_id = self.core.peers.resolve_customer(&selector, budget).await?;
        let store = &self.core.store;
        let (preferences, consents) = tokio::try_join!(
            store.preferences(&customer_id),
            store.consents(&customer_id)
        )
        .map_err(ApiError::internal)?;
        Ok(Response::new(pb::GetPreferencesResponse {
            customer_id,
            preferences: latest_preferences(preferences)
                .into_iter()
                .map(preference_to_proto)
                .collect(),
            consents: current_consents(consents)
                .into_iter()
                .map(consent_to_proto)
                .collect(),
        }))
    }

    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<pb::InteractionCustomerData>, Status> {
        let budget = resolve_budget(&request);
        let selector = parse_customer(request.get_ref().customer.as_ref())?;
        let customer_id = self.core.peers.resolve_customer(&selector, budget).await?;
        let export = self
            .core
            .store
            .export(&customer_id)
            .await
            .map_err(ApiError::internal)?;
        Ok(Response::new(pb::InteractionCustomerData {
            customer_id,
            interactions: export
                .interactions
                .into_iter()
                .map(interaction_to_proto)
                .collect(),
            threads: export
                .threads
                .into_iter()
                .map(|thread| thread_to_proto(thread, None))
                .collect(),
            preferences: export
                .preferences
                .into_iter()
                .map(preference_to_proto)
                .collect(),
            consents: export.consents.into_iter().map(consent_to_proto).collect(),
            organizations: export
                .organizations
                .into_iter()
                .map(|(group_id, name)| pb::OrganizationLink { group_id, name })
                .collect(),
            customer_references: export.anchors,
        }))
    }

    async fn get_channel_report(
        &self,
        request: Request<pb::GetChannelReportRequest>,
    ) -> Result<Response<pb::GetChannelReportResponse>, Status> {
        let message = request.get_ref();
        let mut violations = Vec::new();
        let period = message.period.as_ref();
        let start = match period.and_then(|period| period.start.as_ref()) {
            None => {
                violations.push(FieldViolation::new("period.start", "is required"));
                None
            }
            Some(start) => collect(timestamp_micros(start, "period.start"), &mut violations),
        };
        let end = match period.and_then(|period| period.end.as_ref()) {
            None => {
                violations.push(FieldViolation::new("period.end", "is required"));
                None
            }
            Some(end) => collect(timestamp_micros(end, "period.end"), &mut violations),
        };
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            violations.push(FieldViolation::new(
                "period.end",
                "must be after period.start",
            ));
        }
        if message.repeat_window_days > MAX_REPEAT_WINDOW_DAYS {
            violations.push(FieldViolation::new(
                "repeat_window_days",
                format!("must be at most {MAX_REPEAT_WINDOW_DAYS}"),
            ));
        }
        let (Some(start), Some(end), true) = (start, end, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let window_days = if message.repeat_window_days == 0 {
            DEFAULT_REPEAT_WINDOW_DAYS
        } else {
            message.repeat_window_days
        };
        let figures = self
            .core
            .store
            .channel_report(start, end, i64::from(window_days) * MICROS_PER_DAY)
            .await
            .map_err(ApiError::internal)?;
        Ok(Response::new(crate::report::to_proto(figures, window_days)))
    }
}

fn parse_filter(
    message: &pb::ListTimelineRequest,
    violations: &mut Vec<FieldViolation>,
) -> TimelineFilter {
    let mut filter = TimelineFilter::default();
    for (index, channel) in message.channels.iter().enumerate() {
        if let Some(channel) = collect(
            channel_of(*channel, &format!("channels[{index}]")),
            violations,
        ) {
            filter.channels.push(channel);
        }
    }
    for (index, kind) in message.types.iter().enumerate() {
        if pb::InteractionType::try_from(*kind).is_err() || *kind == 0 {
            violations.push(FieldViolation::new(
                format!("types[{index}]"),
                "is not a known type",
            ));
        } else {
            filter.kinds.push(*kind);
        }
    }
    if let Some(range) = &message.time_range {
        if let Some(start) = &range.start {
            filter.start_micros = collect(timestamp_micros(start, "time_range.start"), violations);
        }
        if let Some(end) = &range.end {
            filter.end_micros = collect(timestamp_micros(end, "time_range.end"), violations);
        }
    }
    let thread_id = message.thread_id.trim();
    if !thread_id.is_empty() {
        if valid_client_id(thread_id) {
            filter.thread_id = Some(thread_id.to_owned());
        } else {
            violations.push(FieldViolation::new("thread_id", "is not a thread id"));
        }
    }
    filter
}
