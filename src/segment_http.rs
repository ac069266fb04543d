//! Segment and RudderStack over HTTP: their webhook and HTTP-API payloads, posted to the
//! admin port, go to the interaction service's `IngestSegmentEvents`, so they take the
//! same path (parsing, identity, idempotency by `messageId`) as gRPC callers.
//!
//! Accepted bodies: a batch `{"batch": [event, ...], "context": {...}}` (Segment's and
//! RudderStack's `/v1/batch`; top-level `context` and `integrations` fill events that
//! lack them, as Segment does), a JSON array of events (RudderStack's batched webhook),
//! or one event (`/v1/track` and the like, whose path gives a missing `type`).
//! Credentials are an API key of the suite: HTTP Basic with the key as user name and an
//! empty password (what Segment and RudderStack send with a write key), or
//! `Authorization: Bearer KEY`. The answer lists a result per event; events that cannot
//! be read are rejected one by one, never the whole batch.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use idic_proto::v1 as pb;
use idic_runtime::config::Secret;
use idic_runtime::peers::Peers;
use serde_json::{Map, Value, json};

/// The largest body accepted: RudderStack's batch limit (Segment's is 500 KB).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Events per gRPC call (the interaction service's batch limit).
const EVENTS_PER_CALL: usize = idic_interaction::MAX_SEGMENT_BATCH;
/// Event bytes per gRPC call, well under the gRPC message limit.
const BYTES_PER_CALL: usize = 1024 * 1024;
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Event types a `/v1/{type}` path may name.
const EVENT_TYPES: &[&str] = &["identify", "track", "page", "screen", "group", "alias"];

/// `POST /ingest/segment`, `/ingest/rudderstack`, `/v1/batch` and `/v1/{type}`.
pub fn router(peers: Peers) -> Router {
    Router::new()
        .route("/ingest/segment", post(ingest_batch))
        .route("/ingest/rudderstack", post(ingest_batch))
        .route("/v1/batch", post(ingest_batch))
        .route("/v1/{event_type}", post(ingest_typed))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(
            crate::console::access_log::log_request,
        ))
        .with_state(peers)
}

async fn ingest_batch(State(peers): State<Peers>, headers: HeaderMap, body: Bytes) -> Response {
    ingest(&peers, &headers, &body, None).await
}

async fn ingest_typed(
    State(peers): State<Peers>,
    Path(event_type): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if event_type == "batch" {
        return ingest(&peers, &headers, &body, None).await;
    }
    let Some(event_type) = EVENT_TYPES.iter().find(|known| **known == event_type) else {
        return problem(
            StatusCode::NOT_FOUND,
            "unknown event type in the path: use /v1/batch, /v1/identify, /v1/track, /v1/page, /v1/screen, /v1/group or /v1/alias",
        );
    };
    ingest(&peers, &headers, &body, Some(event_type)).await
}

async fn ingest(
    peers: &Peers,
    headers: &HeaderMap,
    body: &[u8],
    path_type: Option<&str>,
) -> Response {
    let key = presented_key(headers);
    let events = match events_of(body, path_type) {
        Ok(events) => events,
        Err(why) => return problem(StatusCode::BAD_REQUEST, &why),
    };
    let mut total = pb::IngestSegmentEventsResponse::default();
    for chunk in chunks(&events) {
        match ingest_chunk(peers, key.as_ref(), chunk).await {
            Ok(answer) => {
                total.ingested += answer.ingested;
                total.duplicates += answer.duplicates;
                total.rejected += answer.rejected;
                total.results.extend(answer.results);
            }
            // Earlier chunks are stored; a retry of the whole body changes nothing for
            // them (messageId), so the sender may simply retry.
            Err(status) => return status_response(&status),
        }
    }
    (StatusCode::OK, axum::Json(response_json(&total))).into_response()
}

async fn ingest_chunk(
    peers: &Peers,
    key: Option<&Secret>,
    events: Vec<String>,
) -> Result<pb::IngestSegmentEventsResponse, tonic::Status> {
    let mut request =
        crate::console::ConsoleState::request(key, pb::IngestSegmentEventsRequest { events })?;
    request.set_timeout(CALL_TIMEOUT);
    Ok(peers
        .interaction()
        .ingest_segment_events(request)
        .await?
        .into_inner())
}

/// The key from `Authorization: Basic base64(KEY:)`, `Authorization: Bearer KEY` or
/// `X-API-Key`.
pub fn presented_key(headers: &HeaderMap) -> Option<Secret> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().ok()?;
        let (scheme, credentials) = text.split_once(' ')?;
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(Secret::new(credentials));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials)
                .ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            // The key is the user name; Segment sends an empty password.
            let user = decoded
                .split_once(':')
                .map_or(decoded.as_str(), |(user, _)| user);
            return (!user.is_empty()).then(|| Secret::new(user));
        }
        return None;
    }
    let key = headers.get("x-api-key")?.to_str().ok()?.trim();
    (!key.is_empty()).then(|| Secret::new(key))
}

/// The events of a body, each as the JSON text the ingest reads.
pub fn events_of(body: &[u8], path_type: Option<&str>) -> Result<Vec<String>, String> {
    let json: Value =
        serde_json::from_slice(body).map_err(|error| format!("the body is not JSON: {error}"))?;
    let events = match json {
        Value::Array(events) => events,
        Value::Object(mut object) => match object.remove("batch") {
            Some(Value::Array(events)) => inherit_batch_fields(events, &object),
            Some(_) => return Err("'batch' must be an array of events".to_owned()),
            None => vec![Value::Object(object)],
        },
        _ => {
            return Err(
                "the body must be an event, an array of events or {\"batch\": [...]}".to_owned(),
            );
        }
    };
    if events.is_empty() {
        return Err("the batch holds no events".to_owned());
    }
    Ok(events
        .into_iter()
        .map(|event| with_type(event, path_type).to_string())
        .collect())
}

/// Segment's batch-level `context` and `integrations` apply to the events without their own.
fn inherit_batch_fields(events: Vec<Value>, batch: &Map<String, Value>) -> Vec<Value> {
    events
        .into_iter()
        .map(|mut event| {
            if let Value::Object(fields) = &mut event {
                for shared in ["context", "integrations"] {
                    if let Some(value) = batch.get(shared)
                        && !fields.contains_key(shared)
                    {
                        fields.insert(shared.to_owned(), value.clone());
                    }
                }
            }
            event
        })
        .collect()
}

/// An event posted to `/v1/track` is a track event even when it does not say so.
fn with_type(mut event: Value, path_type: Option<&str>) -> Value {
    if let (Some(event_type), Value::Object(fields)) = (path_type, &mut event)
        && !fields.contains_key("type")
    {
        fields.insert("type".to_owned(), Value::String(event_type.to_owned()));
    }
    event
}

/// Splits events into calls within the interaction service's limits.
fn chunks(events: &[String]) -> Vec<Vec<String>> {
    let mut calls = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut bytes = 0;
    for event in events {
        if !current.is_empty()
            && (current.len() == EVENTS_PER_CALL || bytes + event.len() > BYTES_PER_CALL)
        {
            calls.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += event.len();
        current.push(event.clone());
    }
    if !current.is_empty() {
        calls.push(current);
    }
    calls
}

fn response_json(answer: &pb::IngestSegmentEventsResponse) -> Value {
    let results: Vec<Value> = answer
        .results
        .iter()
        .map(|result| {
            json!({
                "messageId": result.message_id,
                "type": result.r#type,
                "duplicate": result.duplicate,
                "customerId": result.customer_id,
                "interactionId": result.interaction_id,
                "error": result.error,
                "warnings": result.warnings,
            })
        })
        .collect();
    json!({
        "ingested": answer.ingested,
        "duplicates": answer.duplicates,
        "rejected": answer.rejected,
        "results": results,
    })
}

/// A gRPC refusal as the HTTP status a webhook sender understands (and retries on 5xx).
fn status_response(status: &tonic::Status) -> Response {
    use tonic::Code;
    let code = match status.code() {
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::BAD_GATEWAY,
    };
    let mut response = problem(code, status.message());
    if code == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"idic\""),
        );
    }
    response
}

fn problem(code: StatusCode, message: &str) -> Response {
    (code, axum::Json(json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_carry_the_key_as_user_name() {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("writekey-0123456789:");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {encoded}").parse().unwrap(),
        );
        assert_eq!(
            presented_key(&headers).unwrap().expose(),
            "writekey-0123456789"
        );
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(presented_key(&headers).unwrap().expose(), "abc");
        headers.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(presented_key(&headers).is_none());
    }

    #[test]
    fn a_batch_lends_its_context_and_a_path_its_type() {
        let body = br#"{"batch":[{"type":"track","messageId":"m1"},{"type":"page","messageId":"m2","context":{"ip":"x"}}],"context":{"library":{"name":"analytics-node"}}}"#;
        let events = events_of(body, None).unwrap();
        let first: Value = serde_json::from_str(&events[0]).unwrap();
        let second: Value = serde_json::from_str(&events[1]).unwrap();
        assert_eq!(first["context"]["library"]["name"], "analytics-node");
        assert_eq!(second["context"]["ip"], "x");
        let single = events_of(
            br#"{"messageId":"m3","event":"Order Completed"}"#,
            Some("track"),
        )
        .unwrap();
        assert!(single[0].contains(r#""type":"track""#));
        assert!(events_of(b"[]", None).is_err());
        assert!(events_of(b"not json", None).is_err());
        assert!(events_of(br#"{"batch":{}}"#, None).is_err());
    }

    #[test]
    fn chunks_respect_the_batch_limit() {
        let events = vec!["{}".to_owned(); EVENTS_PER_CALL + 1];
        let calls = chunks(&events);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].len(), EVENTS_PER_CALL);
    }
}
