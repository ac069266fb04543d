//! Segment-spec ingest: identify, track, page, screen, group and alias events as JSON.
//!
//! A Segment `userId` is the external id (system "segment") and an `anonymousId` a
//! device id, so identity can link the two. `identify` sends a source record to
//! identity; `track`, `page` and `screen` become interactions; `group` links the person
//! to an organization; `alias` sends identity one record carrying both ids, which links
//! them. Each event is keyed by its `messageId`: a retry changes nothing.

use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::IdentifierKind;
use idic_runtime::error::{MAX_MESSAGE_BYTES, bounded};
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult, limits};
use serde_json::Value;

use crate::convert::{MAX_SUMMARY_BYTES, MAX_TOPIC_BYTES, new_id};
use crate::domain::{Interaction, NewInteraction, ThreadRequest, channel, is_automated};
use crate::identify::{Identified, upsert_identify};
use crate::resolve::{resolve_or_create, upsert_record};
use crate::service::Interactions;
use crate::store::WriteOutcome;

/// The system name Segment user ids are kept under in identity.
pub const SEGMENT_SYSTEM: &str = "segment";
/// The most bytes one event's JSON may have.
const MAX_EVENT_BYTES: usize = 32 * 1024;

/// One parsed event.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentEvent {
    pub message_id: String,
    pub kind: EventKind,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub occurred_at_micros: Option<i64>,
    pub json: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Identify => "identify",
            EventKind::Track => "track",
            EventKind::Page => "page",
            EventKind::Screen => "screen",
            EventKind::Group => "group",
            EventKind::Alias => "alias",
        }
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Parses one event, or says why it cannot be ingested.
pub fn parse_event(raw: &str) -> Result<SegmentEvent, String> {
    if raw.len() > MAX_EVENT_BYTES {
        return Err(format!("is larger than {MAX_EVENT_BYTES} bytes"));
    }
    let json: Value = serde_json::from_str(raw).map_err(|error| format!("is not JSON: {error}"))?;
    if !json.is_object() {
        return Err("is not a JSON object".to_owned());
    }
    let message_id = text(&json, "messageId").ok_or("has no messageId")?;
    if message_id.len() > 200 {
        return Err("has a messageId longer than 200 bytes".to_owned());
    }
    let kind = match text(&json, "type").as_deref() {
        Some("identify") => EventKind::Identify,
        Some("track") => EventKind::Track,
        Some("page") => EventKind::Page,
        Some("screen") => EventKind::Screen,
        Some("group") => EventKind::Group,
        Some("alias") => EventKind::Alias,
        Some(other) => return Err(format!("has an unknown type '{other}'")),
        None => return Err("has no type".to_owned()),
    };
    let user_id = text(&json, "userId");
    let anonymous_id = text(&json, "anonymousId");
    for id in [&user_id, &anonymous_id].into_iter().flatten() {
        if id.len() > 256 {
            return Err("has a userId or anonymousId longer than 256 bytes".to_owned());
        }
    }
    if user_id.is_none() && anonymous_id.is_none() {
        return Err("has neither userId nor anonymousId".to_owned());
    }
    let occurred_at_micros = match text(&json, "timestamp") {
        None => None,
        Some(stamp) => Some(
            parse_time(&stamp)
                .ok_or("has a timestamp that is not ISO 8601 between 1970-01-01 and 2199-12-31")?,
        ),
    };
    match kind {
        EventKind::Track if text(&json, "event").is_none() => {
            return Err("is a track without event".to_owned());
        }
        EventKind::Group if text(&json, "groupId").is_none() => {
            return Err("is a group without groupId".to_owned());
        }
        EventKind::Group if text(&json, "groupId").is_some_and(|id| id.len() > 200) => {
            return Err("has a groupId longer than 200 bytes".to_owned());
        }
        EventKind::Alias if text(&json, "previousId").is_none() || user_id.is_none() => {
            return Err("is an alias without userId and previousId".to_owned());
        }
        _ => {}
    }
    Ok(SegmentEvent {
        message_id,
        kind,
        user_id,
        anonymous_id,
        occurred_at_micros,
        json,
    })
}

/// An ISO 8601 / RFC 3339 time as microseconds since the epoch, within the suite's
/// range of instants.
fn parse_time(text: &str) -> Option<i64> {
    let timestamp: prost_types::Timestamp = text.parse().ok()?;
    limits::instant_micros(&timestamp, "timestamp").ok()
}

fn user_identifier(user_id: &str) -> pb::Identifier {
    pb::Identifier {
        kind: IdentifierKind::ExternalId as i32,
        value: user_id.to_owned(),
        system: SEGMENT_SYSTEM.to_owned(),
        address: None,
    }
}

fn device_identifier(anonymous_id: &str) -> pb::Identifier {
    pb::Identifier {
        kind: IdentifierKind::DeviceId as i32,
        value: anonymous_id.to_owned(),
        system: String::new(),
        address: None,
    }
}

/// The person of an event: the user id when known, else the anonymous id.
fn selector_of_event(event: &SegmentEvent) -> CustomerSelector {
    match (&event.user_id, &event.anonymous_id) {
        (Some(user_id), _) => CustomerSelector::Identifier {
            kind: IdentifierKind::ExternalId,
            system: SEGMENT_SYSTEM.to_owned(),
            value: user_id.clone(),
        },
        (None, Some(anonymous_id)) => CustomerSelector::Identifier {
            kind: IdentifierKind::DeviceId,
            system: String::new(),
            value: anonymous_id.clone(),
        },
        (None, None) => CustomerSelector::Id(String::new()),
    }
}

/// The identity record an identify call describes.
fn identify_record(event: &SegmentEvent) -> pb::SourceRecord {
    let traits = event.json.get("traits").cloned().unwrap_or(Value::Null);
    let mut record = pb::SourceRecord {
        source_system: SEGMENT_SYSTEM.to_owned(),
        source_record_id: selector_of_event(event).anchor(),
        channel: pb::Channel::Web as i32,
        ..Default::default()
    };
    if let Some(user_id) = &event.user_id {
        record.identifiers.push(user_identifier(user_id));
    }
    if let Some(anonymous_id) = &event.anonymous_id {
        record.identifiers.push(device_identifier(anonymous_id));
    }
    record.emails.extend(text(&traits, "email"));
    record.phones.extend(text(&traits, "phone"));
    let (first, last) = (text(&traits, "firstName"), text(&traits, "lastName"));
    let name = match (first, last) {
        (None, None) => text(&traits, "name").map(|full| {
            let mut parts = full.rsplitn(2, ' ');
            let family = parts.next().unwrap_or_default().to_owned();
            (parts.next().unwrap_or_default().to_owned(), family)
        }),
        (first, last) => Some((first.unwrap_or_default(), last.unwrap_or_default())),
    };
    if let Some((given, family)) = name {
        record.name = Some(pb::PersonName {
            given,
            family,
            ..Default::default()
        });
    }
    if let Some(company) = traits.get("company") {
        record.organization_name = text(company, "name").unwrap_or_default();
    }
    if let Some(address) = traits.get("address") {
        record.addresses.push(pb::PostalAddress {
            street: text(address, "street").unwrap_or_default(),
            locality: text(address, "city").unwrap_or_default(),
            postcode: text(address, "postalCode").unwrap_or_default(),
            region: text(address, "state").unwrap_or_default(),
            country: text(address, "country").unwrap_or_default(),
            ..Default::default()
        });
    }
    if let Some(birthday) = text(&traits, "birthday") {
        record.date_of_birth = birthday.chars().take(10).collect();
    }
    record
}

/// The interaction a track, page or screen call describes (customer still unset).
fn interaction_of(event: &SegmentEvent, now: i64) -> Interaction {
    let properties = event.json.get("properties").cloned().unwrap_or(Value::Null);
    let context_channel = event
        .json
        .get("context")
        .and_then(|context| text(context, "channel"))
        .unwrap_or_default();
    let channel_number = match (event.kind, context_channel.as_str()) {
        (EventKind::Screen, _) | (_, "mobile") => channel::MOBILE_APP,
        _ => channel::WEB,
    };
    let (kind_number, topic) = match event.kind {
        EventKind::Track => {
            let name = text(&event.json, "event").unwrap_or_default();
            (track_type(&name), name)
        }
        _ => (
            pb::InteractionType::WebVisit as i32,
            text(&event.json, "name")
                .or_else(|| text(&properties, "title"))
                .unwrap_or_default(),
        ),
    };
    let summary = text(&properties, "url")
        .or_else(|| text(&properties, "path"))
        .or_else(|| text(&properties, "summary"))
        .unwrap_or_default();
    let needs = properties
        .get("preferences")
        .and_then(Value::as_object)
        .map(|preferences| {
            preferences
                .iter()
                .filter_map(|(key, value)| {
                    let value = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    let key = key.trim().to_lowercase();
                    (!key.is_empty() && key.len() <= 64 && value.len() <= 512)
                        .then_some((key, value))
                })
                .take(50)
                .collect()
        })
        .unwrap_or_default();
    let interaction_id = new_id("int");
    Interaction {
        interaction_id,
        idempotency_key: format!("segment:{}", event.message_id),
        customer_id: String::new(),
        anchor: String::new(),
        channel: channel_number,
        kind: kind_number,
        direction: pb::Direction::Inbound as i32,
        occurred_at_micros: event.occurred_at_micros.unwrap_or(now),
        recorded_at_micros: now,
        thread_id: String::new(),
        thread_status: 0,
        topic: truncate(topic, MAX_TOPIC_BYTES),
        summary: truncate(summary, MAX_SUMMARY_BYTES),
        needs,
        outcome: String::new(),
        sentiment: 0,
        agent: String::new(),
        cost: None,
        automated: is_automated(true, channel_number, ""),
    }
}

/// The interaction type of a tracked event, by its name; a web visit otherwise.
fn track_type(name: &str) -> i32 {
    let name = name.to_lowercase();
    let kind = if name.contains("complain") {
        pb::InteractionType::Complaint
    } else if name.contains("survey") {
        pb::InteractionType::SurveyResponse
    } else if name.contains("chat") {
        pb::InteractionType::Chat
    } else if name.contains("inquiry") || name.contains("question") || name.contains("contact") {
        pb::InteractionType::Inquiry
    } else {
        pb::InteractionType::WebVisit
    };
    kind as i32
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Ingests each event; a malformed one, or one identity refuses, is reported in its
/// result and the others go on. Only a failure that is not the event's (a peer or the
/// store unavailable) fails the call; the events before it stay ingested, and a retry
/// of the whole batch is safe because each event is keyed by its `messageId`.
pub async fn ingest(
    core: &Interactions,
    raw_events: &[String],
    budget: Duration,
) -> ApiResult<pb::IngestSegmentEventsResponse> {
    let mut response = pb::IngestSegmentEventsResponse::default();
    for raw in raw_events {
        let result = match parse_event(raw) {
            Err(reason) => pb::SegmentEventResult {
                error: format!("the event {reason}"),
                ..Default::default()
            },
            Ok(event) => match ingest_one(core, &event, budget).await {
                Ok(result) => result,
                Err(error) => pb::SegmentEventResult {
                    message_id: event.message_id.clone(),
                    r#type: event.kind.as_str().to_owned(),
                    error: rejection(error)?,
                    ..Default::default()
                },
            },
        };
        if !result.error.is_empty() {
            response.rejected += 1;
        } else if result.duplicate {
            response.duplicates += 1;
        } else {
            response.ingested += 1;
        }
        response.results.push(result);
    }
    Ok(response)
}

/// Why an event was rejected, for a failure that is the event's own (its ids refused,
/// ambiguous or unknown); any other failure is the call's.
fn rejection(error: ApiError) -> ApiResult<String> {
    match error {
        ApiError::InvalidArgument(_)
        | ApiError::NotFound(_)
        | ApiError::FailedPrecondition(_)
        | ApiError::AlreadyExists(_) => Ok(bounded(&error.to_string(), MAX_MESSAGE_BYTES)),
        other => Err(other),
    }
}

async fn ingest_one(
    core: &Interactions,
    event: &SegmentEvent,
    budget: Duration,
) -> ApiResult<pb::SegmentEventResult> {
    let mut result = pb::SegmentEventResult {
        message_id: event.message_id.clone(),
        r#type: event.kind.as_str().to_owned(),
        ..Default::default()
    };
    let store = &core.store;
    if let Some((_, customer_id, interaction_id)) = store
        .segment_message(&event.message_id)
        .await
        .map_err(ApiError::internal)?
    {
        result.duplicate = true;
        result.customer_id = customer_id;
        result.interaction_id = interaction_id;
        return Ok(result);
    }
    let now = now_micros();
    match event.kind {
        EventKind::Identify => {
            let (customer_id, warnings) =
                match upsert_identify(&core.peers, identify_record(event), budget).await? {
                    Identified::Stored {
                        customer_id,
                        warnings,
                    } => (customer_id, warnings),
                    Identified::Refused(reason) => {
                        result.error = reason;
                        return Ok(result);
                    }
                };
            if let Some(anonymous_id) = &event.anonymous_id {
                link_anonymous(core, &customer_id, anonymous_id, &event.message_id, budget).await?;
            }
            result.customer_id = customer_id;
            result.warnings = warnings;
        }
        EventKind::Alias => {
            let previous = text(&event.json, "previousId").unwrap_or_default();
            let user_id = event.user_id.clone().unwrap_or_default();
            let record = pb::SourceRecord {
                source_system: SEGMENT_SYSTEM.to_owned(),
                source_record_id: format!("alias:{previous}"),
                identifiers: vec![user_identifier(&user_id), device_identifier(&previous)],
                ..Default::default()
            };
            let customer_id = upsert_record(&core.peers, record, budget).await?;
            link_anonymous(core, &customer_id, &previous, &event.message_id, budget).await?;
            result.customer_id = customer_id;
        }
        EventKind::Group => {
            let customer =
                resolve_or_create(&core.peers, &selector_of_event(event), budget).await?;
            let group_id = text(&event.json, "groupId").unwrap_or_default();
            let name = event
                .json
                .get("traits")
                .and_then(|traits| text(traits, "name"))
                .unwrap_or_default();
            store
                .link_organization(
                    &customer.anchor,
                    &customer.customer_id,
                    &group_id,
                    &name,
                    now,
                )
                .await
                .map_err(ApiError::internal)?;
            result.customer_id = customer.customer_id;
        }
        EventKind::Track | EventKind::Page | EventKind::Screen => {
            let customer =
                resolve_or_create(&core.peers, &selector_of_event(event), budget).await?;
            let mut interaction = interaction_of(event, now);
            interaction.customer_id = customer.customer_id.clone();
            interaction.anchor = customer.anchor;
            let item = NewInteraction {
                interaction,
                thread: ThreadRequest::None,
                requested_status: 0,
            };
            let outcome = core.recorder.record(vec![item]).await?;
            match outcome.into_iter().next() {
                Some(WriteOutcome::Created { interaction, .. })
                | Some(WriteOutcome::Duplicate { interaction, .. }) => {
                    result.interaction_id = interaction.interaction_id;
                }
                _ => {}
            }
            result.customer_id = customer.customer_id;
        }
    }
    store
        .record_segment_message(
            &event.message_id,
            event.kind.as_str(),
            &result.customer_id,
            &result.interaction_id,
            now,
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(result)
}

/// Segment's identify and alias say that the anonymous visitor is the user. Identity
/// does not link two customers on a shared device id alone, so the customers this
/// service created for the anonymous id's history are merged into the user's
/// (identity's Merge; the merge comes back through identity's change stream, which
/// moves the rows here).
async fn link_anonymous(
    core: &Interactions,
    customer_id: &str,
    anonymous_id: &str,
    message_id: &str,
    budget: Duration,
) -> ApiResult<()> {
    let anchor = CustomerSelector::Identifier {
        kind: IdentifierKind::DeviceId,
        system: String::new(),
        value: anonymous_id.to_owned(),
    }
    .anchor();
    let mut customer_ids = vec![customer_id.to_owned()];
    for other in core
        .store
        .customers_of_anchor(&anchor)
        .await
        .map_err(ApiError::internal)?
    {
        if !customer_ids.contains(&other) {
            customer_ids.push(other);
        }
    }
    if customer_ids.len() < 2 {
        return Ok(());
    }
    let mut request = tonic::Request::new(pb::MergeRequest {
        customer_ids,
        reason: format!("segment: anonymous visitor identified (message {message_id})"),
    });
    request.set_timeout(budget);
    core.peers
        .identity()
        .merge(request)
        .await
        .map_err(|status| idic_runtime::peers::peer_error("identity", status))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_and_names_what_is_missing() {
        let track = parse_event(
            r#"{"type":"track","messageId":"m1","userId":"u1","event":"Complaint Submitted",
                "timestamp":"2026-01-02T03:04:05Z","properties":{"preferences":{"Delivery":"evenings"}}}"#,
        )
        .unwrap();
        assert_eq!(track.kind, EventKind::Track);
        assert_eq!(track.occurred_at_micros, Some(1_767_323_045_000_000));
        let interaction = interaction_of(&track, 0);
        assert_eq!(interaction.kind, pb::InteractionType::Complaint as i32);
        assert_eq!(
            interaction.needs,
            vec![("delivery".to_owned(), "evenings".to_owned())]
        );
        assert_eq!(interaction.idempotency_key, "segment:m1");
        assert!(parse_event("[1]").unwrap_err().contains("object"));
        assert!(
            parse_event(r#"{"type":"track","userId":"u"}"#)
                .unwrap_err()
                .contains("messageId")
        );
        assert!(
            parse_event(r#"{"type":"fly","messageId":"m","userId":"u"}"#)
                .unwrap_err()
                .contains("unknown type")
        );
        assert!(
            parse_event(r#"{"type":"page","messageId":"m"}"#)
                .unwrap_err()
                .contains("userId")
        );
        assert!(
            parse_event(r#"{"type":"alias","messageId":"m","userId":"u"}"#)
                .unwrap_err()
                .contains("previousId")
        );
        assert!(
            parse_event(r#"{"type":"page","messageId":"m","userId":"u","timestamp":"yesterday"}"#)
                .is_err()
        );
    }

    #[test]
    fn identify_carries_traits_to_identity() {
        let event = parse_event(
            r#"{"type":"identify","messageId":"m2","userId":"u1","anonymousId":"a1",
                "traits":{"name":"Ada Lovelace","email":"ada@example.com","company":{"name":"Engines Ltd"}}}"#,
        )
        .unwrap();
        let record = identify_record(&event);
        assert_eq!(record.source_record_id, "EXTERNAL_ID:segment:u1");
        assert_eq!(record.identifiers.len(), 2);
        assert_eq!(record.emails, ["ada@example.com"]);
        let name = record.name.unwrap();
        assert_eq!(
            (name.given.as_str(), name.family.as_str()),
            ("Ada", "Lovelace")
        );
        assert_eq!(record.organization_name, "Engines Ltd");
    }
}
