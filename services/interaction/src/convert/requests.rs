//! Requests to domain values: every field validated, every violation named by its
//! field and collected (`idic_runtime::error::{collect, refuse_violations}`), so that a
//! caller learns all its mistakes at once. One function per RPC that takes input.

use idic_proto::v1 as pb;
use idic_runtime::error::{collect, refuse_violations};
use idic_runtime::paging::Page;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::micros_from_timestamp;
use idic_runtime::warnings::FieldWarnings;
use idic_runtime::{ApiError, ApiResult, FieldViolation, limits};

use super::draft::{parse_record, valid_client_id};
use crate::domain::{
    ConsentDecision, ConsentQuery, ContextQuery, Draft, EventFilter, ReportQuery, ThreadsQuery,
    TimelineCursor, TimelineFilter, TimelineQuery,
};

/// Interactions per RecordInteractions call, and Segment events per ingest call.
pub const MAX_BATCH: usize = 1000;
const DEFAULT_RECENT: u32 = 10;
const MAX_RECENT: u32 = 50;
const DEFAULT_REPEAT_WINDOW_DAYS: u32 = 7;
const MAX_REPEAT_WINDOW_DAYS: u32 = 365;
/// An instant of a query (a period or time range): any valid protobuf timestamp, so
/// that "since the beginning" works. Instants that are stored are checked by
/// `limits::instant_micros` instead.
pub fn timestamp_micros(
    timestamp: &prost_types::Timestamp,
    field: &str,
) -> Result<i64, FieldViolation> {
    // 0001-01-01 to 9999-12-31, as google.protobuf.Timestamp defines.
    if !(-62_135_596_800..=253_402_300_799).contains(&timestamp.seconds)
        || !(0..1_000_000_000).contains(&timestamp.nanos)
    {
        return Err(FieldViolation::new(field, "is not a valid timestamp"));
    }
    Ok(micros_from_timestamp(timestamp))
}

/// RecordInteraction: the draft, and the warnings of what was left out.
pub fn record(request: &pb::RecordInteractionRequest) -> ApiResult<(Draft, FieldWarnings)> {
    parse_record(request, "", request.strict).map_err(ApiError::InvalidArgument)
}

/// RecordInteractions: the drafts and each one's warnings, in order; one bad item
/// refuses the batch, naming every violation of every item.
pub fn record_batch(
    request: &pb::RecordInteractionsRequest,
) -> ApiResult<(Vec<Draft>, Vec<FieldWarnings>)> {
    let items = &request.interactions;
    if items.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "interactions",
            format!("must hold at most {MAX_BATCH}"),
        ));
    }
    let mut drafts = Vec::with_capacity(items.len());
    let mut warnings = Vec::with_capacity(items.len());
    let mut violations = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let strict = request.strict || item.strict;
        match parse_record(item, &format!("interactions[{index}]"), strict) {
            Ok((draft, item_warnings)) => {
                drafts.push(draft);
                warnings.push(item_warnings);
            }
            Err(mut item_violations) => violations.append(&mut item_violations),
        }
    }
    refuse_violations(violations)?;
    Ok((drafts, warnings))
}

/// The required `customer` field of a request.
pub fn customer(reference: Option<&pb::CustomerRef>) -> ApiResult<CustomerSelector> {
    Ok(CustomerSelector::parse(reference, "customer")?)
}

/// GetContext.
pub fn context_query(request: &pb::GetContextRequest) -> ApiResult<ContextQuery> {
    let mut violations = Vec::new();
    let selector = collect(
        CustomerSelector::parse(request.customer.as_ref(), "customer"),
        &mut violations,
    );
    if request.recent_limit > MAX_RECENT {
        violations.push(FieldViolation::new(
            "recent_limit",
            format!("must be at most {MAX_RECENT}"),
        ));
    }
    let (Some(selector), true) = (selector, violations.is_empty()) else {
        return Err(ApiError::InvalidArgument(violations));
    };
    let recent = if request.recent_limit == 0 {
        DEFAULT_RECENT
    } else {
        request.recent_limit
    };
    Ok(ContextQuery {
        selector,
        recent_limit: i64::from(recent),
    })
}

/// ListTimeline.
pub fn timeline_query(request: &pb::ListTimelineRequest) -> ApiResult<TimelineQuery> {
    let mut violations = Vec::new();
    let selector = collect(
        CustomerSelector::parse(request.customer.as_ref(), "customer"),
        &mut violations,
    );
    let page = collect(Page::parse(request.page.as_ref(), "page"), &mut violations);
    let cursor = match page.as_ref().and_then(|page| page.after.as_deref()) {
        None => None,
        Some(text) => collect(
            TimelineCursor::decode(text)
                .ok_or_else(|| FieldViolation::new("page.page_token", "is not a timeline token")),
            &mut violations,
        ),
    };
    let filter = timeline_filter(request, &mut violations);
    let (Some(selector), Some(page), true) = (selector, page, violations.is_empty()) else {
        return Err(ApiError::InvalidArgument(violations));
    };
    Ok(TimelineQuery {
        selector,
        filter,
        cursor,
        page,
    })
}

fn timeline_filter(
    request: &pb::ListTimelineRequest,
    violations: &mut Vec<FieldViolation>,
) -> TimelineFilter {
    let mut filter = TimelineFilter::default();
    for (index, channel) in request.channels.iter().enumerate() {
        if let Some(channel) = collect(
            channel_of(*channel, &format!("channels[{index}]")),
            violations,
        ) {
            filter.channels.push(channel);
        }
    }
    for (index, kind) in request.types.iter().enumerate() {
        if let Some(kind) = collect(kind_of(*kind, &format!("types[{index}]")), violations) {
            filter.kinds.push(kind);
        }
    }
    if let Some(range) = &request.time_range {
        if let Some(start) = &range.start {
            filter.start_micros = collect(timestamp_micros(start, "time_range.start"), violations);
        }
        if let Some(end) = &range.end {
            filter.end_micros = collect(timestamp_micros(end, "time_range.end"), violations);
        }
    }
    let thread_id = request.thread_id.trim();
    if !thread_id.is_empty() {
        if valid_client_id(thread_id) {
            filter.thread_id = Some(thread_id.to_owned());
        } else {
            violations.push(FieldViolation::new("thread_id", "is not a thread id"));
        }
    }
    filter
}

/// StreamInteractions: the channels and types to keep.
pub fn event_filter(request: &pb::StreamInteractionsRequest) -> ApiResult<EventFilter> {
    let mut violations = Vec::new();
    for (index, channel) in request.channels.iter().enumerate() {
        collect(
            channel_of(*channel, &format!("channels[{index}]")),
            &mut violations,
        );
    }
    for (index, kind) in request.types.iter().enumerate() {
        collect(kind_of(*kind, &format!("types[{index}]")), &mut violations);
    }
    refuse_violations(violations)?;
    Ok(EventFilter {
        customer_id: None,
        channels: request.channels.clone(),
        kinds: request.types.clone(),
    })
}

/// GetThread: the thread id, trimmed.
pub fn thread_id(request: &pb::GetThreadRequest) -> ApiResult<&str> {
    let thread_id = request.thread_id.trim();
    if !valid_client_id(thread_id) {
        return Err(ApiError::invalid("thread_id", "is not a thread id"));
    }
    Ok(thread_id)
}

/// ListThreads.
pub fn threads_query(request: &pb::ListThreadsRequest) -> ApiResult<ThreadsQuery> {
    let mut violations = Vec::new();
    let selector = collect(
        CustomerSelector::parse(request.customer.as_ref(), "customer"),
        &mut violations,
    );
    if pb::ThreadStatus::try_from(request.status).is_err() {
        violations.push(FieldViolation::new("status", "is not a known status"));
    }
    let page = collect(Page::parse(request.page.as_ref(), "page"), &mut violations);
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
        return Err(ApiError::InvalidArgument(violations));
    };
    Ok(ThreadsQuery {
        selector,
        status: request.status,
        cursor,
        page,
    })
}

/// IngestSegmentEvents: the events' JSON texts, each read by the service (an event
/// that cannot be read is its own result, not the call's refusal).
pub fn segment_events(request: &pb::IngestSegmentEventsRequest) -> ApiResult<&[String]> {
    if request.events.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "events",
            format!("must hold at most {MAX_BATCH}"),
        ));
    }
    Ok(&request.events)
}

/// RecordConsent.
pub fn consent_decision(request: &pb::RecordConsentRequest) -> ApiResult<ConsentDecision> {
    let mut violations = Vec::new();
    let selector = collect(
        CustomerSelector::parse(request.customer.as_ref(), "customer"),
        &mut violations,
    );
    let channel = collect(channel_of(request.channel, "channel"), &mut violations);
    let purpose = collect(purpose_of(&request.purpose, "purpose"), &mut violations);
    let status = match pb::ConsentStatus::try_from(request.status) {
        Ok(pb::ConsentStatus::Unspecified) => {
            violations.push(FieldViolation::new("status", "is required"));
            None
        }
        Ok(_) => Some(request.status),
        Err(_) => {
            violations.push(FieldViolation::new("status", "is not a known status"));
            None
        }
    };
    // None: decided now (when recorded).
    let decided_at = match &request.decided_at {
        None => Some(None),
        Some(timestamp) => collect(
            limits::instant_micros(timestamp, "decided_at"),
            &mut violations,
        )
        .map(Some),
    };
    let source = request.source.trim();
    if source.is_empty() || source.len() > 200 {
        violations.push(FieldViolation::new("source", "must be 1 to 200 bytes"));
    }
    let key = request.idempotency_key.trim();
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
        return Err(ApiError::InvalidArgument(violations));
    };
    Ok(ConsentDecision {
        selector,
        channel,
        purpose,
        status,
        decided_at_micros: decided_at,
        source: source.to_owned(),
        idempotency_key: key.to_owned(),
    })
}

/// CheckConsent.
pub fn consent_query(request: &pb::CheckConsentRequest) -> ApiResult<ConsentQuery> {
    let mut violations = Vec::new();
    let selector = collect(
        CustomerSelector::parse(request.customer.as_ref(), "customer"),
        &mut violations,
    );
    let channel = collect(channel_of(request.channel, "channel"), &mut violations);
    let purpose = collect(purpose_of(&request.purpose, "purpose"), &mut violations);
    let (Some(selector), Some(channel), Some(purpose), true) =
        (selector, channel, purpose, violations.is_empty())
    else {
        return Err(ApiError::InvalidArgument(violations));
    };
    Ok(ConsentQuery {
        selector,
        channel,
        purpose,
    })
}

/// GetChannelReport.
pub fn report_query(request: &pb::GetChannelReportRequest) -> ApiResult<ReportQuery> {
    let mut violations = Vec::new();
    let period = request.period.as_ref();
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
    if request.repeat_window_days > MAX_REPEAT_WINDOW_DAYS {
        violations.push(FieldViolation::new(
            "repeat_window_days",
            format!("must be at most {MAX_REPEAT_WINDOW_DAYS}"),
        ));
    }
    let (Some(start), Some(end), true) = (start, end, violations.is_empty()) else {
        return Err(ApiError::InvalidArgument(violations));
    };
    Ok(ReportQuery {
        start_micros: start,
        end_micros: end,
        window_days: if request.repeat_window_days == 0 {
            DEFAULT_REPEAT_WINDOW_DAYS
        } else {
            request.repeat_window_days
        },
    })
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

/// A filter's interaction type: known and specified.
fn kind_of(value: i32, field: &str) -> Result<i32, FieldViolation> {
    if pb::InteractionType::try_from(value).is_err() || value == 0 {
        return Err(FieldViolation::new(field, "is not a known type"));
    }
    Ok(value)
}
