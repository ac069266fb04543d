//! Segment and RudderStack deliver over HTTP: a batch as Segment's HTTP API and
//! webhooks send it, with the write key as the Basic user name, lands in the same ingest
//! as IngestSegmentEvents (one result per event, a bad event rejected alone, a retry
//! changing nothing); RudderStack's array and single events too; no key, a key without
//! the scope, a body too large or not JSON are refused with a clear answer.

mod admin_http;

use admin_http::{AdminSuite, client, http};
use base64::Engine as _;
use idic_proto::v1 as pb;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;

/// A batch as Segment's `analytics-node` sends it to `/v1/batch`.
const SEGMENT_BATCH: &str = r#"{
  "batch": [
    {"type": "identify", "messageId": "ajs-1f2e", "userId": "u-100", "anonymousId": "anon-7",
     "traits": {"email": "sam.hill@example.com", "firstName": "Sam", "lastName": "Hill", "phone": "+1 415 555 0101"},
     "timestamp": "2026-03-01T10:00:00.000Z"},
    {"type": "track", "messageId": "ajs-2a9c", "userId": "u-100", "event": "Order Completed",
     "properties": {"order_id": "o-1", "revenue": 42.5, "currency": "EUR"},
     "timestamp": "2026-03-01T10:05:00.000Z"},
    {"type": "page", "messageId": "ajs-3b7d", "anonymousId": "anon-7", "name": "Pricing",
     "properties": {"url": "https://example.com/pricing", "title": "Pricing"},
     "timestamp": "2026-03-01T10:06:00.000Z"},
    {"type": "track", "userId": "u-100", "event": "Lost Event"}
  ],
  "context": {"library": {"name": "analytics-node", "version": "2.1.0"}},
  "sentAt": "2026-03-01T10:06:01.000Z"
}"#;

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

#[tokio::test]
async fn a_segment_batch_posted_over_http_is_ingested_event_by_event() {
    let key = idic_testkit::api_key("segment");
    let reader = idic_testkit::api_key("reader");
    let suite = AdminSuite::start(vec![
        client(
            "segment",
            &["interaction:write", "interaction:read", "identity:write"],
        ),
        client("reader", &["interaction:read"]),
    ])
    .await;
    let admin = suite.admin;
    let auth = basic(&key);
    let json = ("content-type", "application/json");

    let answer = http(
        admin,
        "POST",
        "/v1/batch",
        &[("authorization", &auth), json],
        SEGMENT_BATCH.as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body["ingested"], 3, "{body}");
    assert_eq!(body["rejected"], 1, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[1]["messageId"], "ajs-2a9c");
    assert_eq!(results[1]["type"], "track");
    assert!(
        results[3]["error"].as_str().unwrap().contains("messageId"),
        "{body}"
    );
    let customer_id = results[1]["customerId"].as_str().unwrap().to_owned();
    assert!(!customer_id.is_empty());
    assert_eq!(
        results[0]["customerId"], customer_id,
        "identify and track are one person"
    );

    // The events are in the customer's timeline, as if sent over gRPC.
    let timeline = InteractionServiceClient::new(suite.channel(Some(&key)))
        .list_timeline(pb::ListTimelineRequest {
            customer: Some(pb::CustomerRef {
                r#ref: Some(pb::customer_ref::Ref::CustomerId(customer_id.clone())),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        timeline
            .interactions
            .iter()
            .any(|i| i.topic.contains("Order Completed")),
        "{:?}",
        timeline.interactions
    );

    // Segment retries a batch it has no answer for: nothing changes.
    let retry = http(
        admin,
        "POST",
        "/ingest/segment",
        &[("authorization", &auth), json],
        SEGMENT_BATCH.as_bytes(),
    )
    .await;
    let retry = retry.json();
    assert_eq!(retry["ingested"], 0, "{retry}");
    assert_eq!(retry["duplicates"], 3, "{retry}");

    // RudderStack's webhook: a bare array, Bearer credentials.
    let bearer = format!("Bearer {key}");
    let array = r#"[{"type":"track","messageId":"rs-1","userId":"u-100","event":"Product Viewed","properties":{"sku":"A1"}}]"#;
    let rudder = http(
        admin,
        "POST",
        "/ingest/rudderstack",
        &[("authorization", &bearer), json],
        array.as_bytes(),
    )
    .await;
    assert_eq!(rudder.status, 200, "{}", rudder.body);
    assert_eq!(rudder.json()["ingested"], 1);
    // One event to /v1/track: the path gives its type.
    let single = r#"{"messageId":"rs-2","userId":"u-100","event":"Cart Viewed"}"#;
    let typed = http(
        admin,
        "POST",
        "/v1/track",
        &[("authorization", &bearer), json],
        single.as_bytes(),
    )
    .await;
    assert_eq!(
        typed.json()["results"][0]["type"],
        "track",
        "{}",
        typed.body
    );

    // Refusals.
    let anonymous = http(
        admin,
        "POST",
        "/v1/batch",
        &[json],
        SEGMENT_BATCH.as_bytes(),
    )
    .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(
        anonymous
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic"))
    );
    let read_only = http(
        admin,
        "POST",
        "/v1/batch",
        &[("authorization", &basic(&reader)), json],
        SEGMENT_BATCH.as_bytes(),
    )
    .await;
    assert_eq!(read_only.status, 403, "{}", read_only.body);
    assert!(
        read_only.json()["error"]
            .as_str()
            .unwrap()
            .contains("interaction:write")
    );
    let not_json = http(
        admin,
        "POST",
        "/v1/batch",
        &[("authorization", &auth), json],
        b"{\"batch\": [",
    )
    .await;
    assert_eq!(not_json.status, 400);
    assert!(
        not_json.json()["error"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    let unknown_type = http(
        admin,
        "POST",
        "/v1/purchase",
        &[("authorization", &auth), json],
        single.as_bytes(),
    )
    .await;
    assert_eq!(unknown_type.status, 404);
    let huge = vec![b' '; idic::segment_http::MAX_BODY_BYTES + 1];
    let too_large = http(
        admin,
        "POST",
        "/v1/batch",
        &[("authorization", &auth), json],
        &huge,
    )
    .await;
    assert_eq!(too_large.status, 413);
    suite.stop().await;
}
