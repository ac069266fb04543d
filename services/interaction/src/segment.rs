//! The Segment spec (also RudderStack's) as domain values: identify, track, page,
//! screen, group and alias events read from their JSON, and what each describes (a
//! profile for identity, an interaction, an organization link). Pure: no I/O and no
//! protobuf; the ingest use case is `service::segment`.
//!
//! Segment is a wire format like protobuf, but one whose events are judged one by one:
//! an event that cannot be read is that event's result, not the call's refusal, so the
//! service (not the handler) reads them.
//!
//! A Segment `userId` is the external id (system "segment") and an `anonymousId` a
//! device id, so identity can link the two.

use idic_runtime::limits;
use serde_json::Value;

use crate::domain::{
    Interaction, MAX_SUMMARY_BYTES, MAX_TOPIC_BYTES, channel, direction, is_automated, kind, new_id,
};

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

/// The identity record an identify call describes: the person's ids and traits, as
/// Segment names them. The identity adapter turns it into a source record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    /// (given, family).
    pub name: Option<(String, String)>,
    pub organization_name: String,
    pub address: Option<Address>,
    /// `YYYY-MM-DD` as sent (the first ten characters), empty when not sent.
    pub date_of_birth: String,
}

/// A postal address from `traits.address`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub street: String,
    pub locality: String,
    pub postcode: String,
    pub region: String,
    pub country: String,
}

/// The profile an identify call describes.
pub fn profile_of(event: &SegmentEvent) -> Profile {
    let traits = event.json.get("traits").cloned().unwrap_or(Value::Null);
    let (first, last) = (text(&traits, "firstName"), text(&traits, "lastName"));
    let name = match (first, last) {
        (None, None) => text(&traits, "name").map(|full| {
            let mut parts = full.rsplitn(2, ' ');
            let family = parts.next().unwrap_or_default().to_owned();
            (parts.next().unwrap_or_default().to_owned(), family)
        }),
        (first, last) => Some((first.unwrap_or_default(), last.unwrap_or_default())),
    };
    let address = traits.get("address").map(|address| Address {
        street: text(address, "street").unwrap_or_default(),
        locality: text(address, "city").unwrap_or_default(),
        postcode: text(address, "postalCode").unwrap_or_default(),
        region: text(address, "state").unwrap_or_default(),
        country: text(address, "country").unwrap_or_default(),
    });
    Profile {
        user_id: event.user_id.clone(),
        anonymous_id: event.anonymous_id.clone(),
        emails: text(&traits, "email").into_iter().collect(),
        phones: text(&traits, "phone").into_iter().collect(),
        name,
        organization_name: traits
            .get("company")
            .and_then(|company| text(company, "name"))
            .unwrap_or_default(),
        address,
        date_of_birth: text(&traits, "birthday")
            .map(|birthday| birthday.chars().take(10).collect())
            .unwrap_or_default(),
    }
}

/// The `previousId` of an alias call.
pub fn previous_id(event: &SegmentEvent) -> String {
    text(&event.json, "previousId").unwrap_or_default()
}

/// The organization a group call links the person to: (group id, name).
pub fn group_of(event: &SegmentEvent) -> (String, String) {
    let group_id = text(&event.json, "groupId").unwrap_or_default();
    let name = event
        .json
        .get("traits")
        .and_then(|traits| text(traits, "name"))
        .unwrap_or_default();
    (group_id, name)
}

/// The interaction a track, page or screen call describes (customer still unset).
pub fn interaction_of(event: &SegmentEvent, now: i64) -> Interaction {
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
            kind::WEB_VISIT,
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
        direction: direction::INBOUND,
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
    if name.contains("complain") {
        kind::COMPLAINT
    } else if name.contains("survey") {
        kind::SURVEY_RESPONSE
    } else if name.contains("chat") {
        kind::CHAT
    } else if name.contains("inquiry") || name.contains("question") || name.contains("contact") {
        kind::INQUIRY
    } else {
        kind::WEB_VISIT
    }
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

/// What became of one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentResult {
    pub message_id: String,
    /// The event's type (`track`), empty when it could not be read.
    pub kind: String,
    pub duplicate: bool,
    pub customer_id: String,
    pub interaction_id: String,
    /// Why the event was rejected; empty when it was ingested.
    pub error: String,
    pub warnings: Vec<String>,
}

impl SegmentResult {
    /// The result of a readable event, before anything is known of it.
    pub fn of(event: &SegmentEvent) -> Self {
        SegmentResult {
            message_id: event.message_id.clone(),
            kind: event.kind.as_str().to_owned(),
            ..Default::default()
        }
    }
}

/// A batch's results, in the events' order, and their counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentIngest {
    pub results: Vec<SegmentResult>,
    pub ingested: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

impl SegmentIngest {
    pub fn push(&mut self, result: SegmentResult) {
        if !result.error.is_empty() {
            self.rejected += 1;
        } else if result.duplicate {
            self.duplicates += 1;
        } else {
            self.ingested += 1;
        }
        self.results.push(result);
    }
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
        assert_eq!(interaction.kind, kind::COMPLAINT);
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
    fn identify_carries_traits_to_the_profile() {
        let event = parse_event(
            r#"{"type":"identify","messageId":"m2","userId":"u1","anonymousId":"a1",
                "traits":{"name":"Ada Lovelace","email":"ada@example.com","company":{"name":"Engines Ltd"},
                "birthday":"1815-12-10T00:00:00Z"}}"#,
        )
        .unwrap();
        let profile = profile_of(&event);
        assert_eq!(profile.user_id.as_deref(), Some("u1"));
        assert_eq!(profile.anonymous_id.as_deref(), Some("a1"));
        assert_eq!(profile.emails, ["ada@example.com"]);
        assert_eq!(
            profile.name,
            Some(("Ada".to_owned(), "Lovelace".to_owned()))
        );
        assert_eq!(profile.organization_name, "Engines Ltd");
        assert_eq!(profile.date_of_birth, "1815-12-10");
        assert_eq!(profile.address, None);
    }
}
