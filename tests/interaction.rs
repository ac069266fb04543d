//! The interaction service end to end, as a call center lives it: a complaint opened by
//! phone is continued on the web and resolved in the store; the agent's screen shows
//! where things stand; consent is respected; identity's merges, unmerges and erasures
//! keep timelines right. On the embedded default and on PostgreSQL with Redis.

use std::time::Duration;

use futures::StreamExt as _;
use idic_proto::v1 as pb;
use idic_proto::v1::{Channel, InteractionType, ThreadStatus, customer_ref};
use idic_testkit::{Backend, SuiteOptions, TestSuite};
use tonic::Code;
use tonic_types::StatusExt as _;

fn by_id(id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(customer_ref::Ref::CustomerId(id.to_owned())),
    })
}

fn by(kind: pb::IdentifierKind, value: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(customer_ref::Ref::Identifier(pb::Identifier {
            kind: kind as i32,
            value: value.to_owned(),
            ..Default::default()
        })),
    })
}

fn by_email(email: &str) -> Option<pb::CustomerRef> {
    by(pb::IdentifierKind::Email, email)
}

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// 2026-03-02 09:00 UTC, a Monday.
const MONDAY: i64 = 1_772_442_000;
const HOUR: i64 = 3600;

async fn create_customer(suite: &TestSuite, id: &str, given: &str, email: &str) -> String {
    suite
        .identity()
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(pb::SourceRecord {
                source_system: "crm".into(),
                source_record_id: id.into(),
                channel: Channel::CallCenter as i32,
                name: Some(pb::PersonName {
                    given: given.into(),
                    family: "Okafor".into(),
                    ..Default::default()
                }),
                emails: vec![email.into()],
                ..Default::default()
            }),
        })
        .await
        .expect("identity takes the record")
        .into_inner()
        .customer_id
}

fn violation_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default()
}

async fn complaint_story(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let maria = create_customer(&suite, "crm-1", "Maria", "maria@example.com").await;
    let mut interactions = suite.interaction();

    // Monday: Maria calls the call center, her parcel is late.
    let call = pb::RecordInteractionRequest {
        customer: by_email("maria@example.com"),
        channel: Channel::CallCenter as i32,
        r#type: InteractionType::Complaint as i32,
        occurred_at: at(MONDAY),
        topic: "late delivery".into(),
        summary: "parcel 3 days late, promised a callback".into(),
        needs: vec![pb::ExpressedNeed {
            key: "Delivery".into(),
            value: "evenings".into(),
        }],
        sentiment: pb::Sentiment::Negative as i32,
        agent: "agent-7".into(),
        cost: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: 450,
        }),
        idempotency_key: "pbx-call-1".into(),
        ..Default::default()
    };
    let recorded = interactions
        .record_interaction(call.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(!recorded.duplicate);
    let first = recorded.interaction.unwrap();
    assert_eq!(first.customer_id, maria);
    let thread = recorded.thread.expect("a complaint opens a thread");
    assert_eq!(thread.status, ThreadStatus::Open as i32);
    assert_eq!(thread.topic, "late delivery");
    let thread_id = thread.thread_id.clone();

    // The telephony system retries: nothing changes.
    let retried = interactions
        .record_interaction(call)
        .await
        .unwrap()
        .into_inner();
    assert!(retried.duplicate);
    assert_eq!(
        retried.interaction.unwrap().interaction_id,
        first.interaction_id
    );

    // The agent's screen when she calls back an hour later.
    let context = interactions
        .get_context(pb::GetContextRequest {
            customer: by_email("maria@example.com"),
            recent_limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(context.customer_id, maria);
    assert_eq!(
        context.customer.as_ref().unwrap().display_name,
        "Maria Okafor"
    );
    assert!(!context.degraded.contains(&"identity".to_owned()));
    assert_eq!(context.interaction_count, 1);
    assert_eq!(context.open_threads.len(), 1);
    let last_step = context.open_threads[0].last_step.as_ref().unwrap();
    assert_eq!(last_step.channel, Channel::CallCenter as i32);
    let next = context.suggested_next_step.unwrap();
    assert_eq!(next.action, "resume_thread");
    assert_eq!(next.thread_id, thread_id);
    assert_eq!(
        next.text,
        format!("resume open complaint {thread_id} about late delivery")
    );
    assert_eq!(context.preferences.len(), 1);
    assert_eq!(context.preferences[0].key, "delivery");
    assert_eq!(context.preferences[0].value, "evenings");

    // Tuesday: she continues on the web; the company now waits for her photos.
    let web = interactions
        .record_interaction(pb::RecordInteractionRequest {
            customer: by_id(&maria),
            channel: Channel::Web as i32,
            r#type: InteractionType::Inquiry as i32,
            occurred_at: at(MONDAY + 24 * HOUR),
            thread_id: thread_id.clone(),
            thread_status: ThreadStatus::Waiting as i32,
            topic: "late delivery".into(),
            summary: "asked for photos of the damaged box".into(),
            idempotency_key: "web-form-9".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let after_web = web.thread.unwrap();
    assert_eq!(after_web.status, ThreadStatus::Waiting as i32);
    assert_eq!(after_web.step_count, 2);
    assert!(web.interaction.unwrap().automated, "web without an agent");

    // Thursday: she brings the parcel to the store; resolved.
    interactions
        .record_interaction(pb::RecordInteractionRequest {
            customer: by(pb::IdentifierKind::Email, "maria@example.com"),
            channel: Channel::Store as i32,
            r#type: InteractionType::StoreVisit as i32,
            occurred_at: at(MONDAY + 72 * HOUR),
            thread_id: thread_id.clone(),
            thread_status: ThreadStatus::Resolved as i32,
            topic: "late delivery".into(),
            outcome: "refund issued".into(),
            agent: "store-12".into(),
            sentiment: pb::Sentiment::Positive as i32,
            idempotency_key: "pos-55".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let whole = interactions
        .get_thread(pb::GetThreadRequest {
            thread_id: thread_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let channels: Vec<i32> = whole.steps.iter().map(|step| step.channel).collect();
    assert_eq!(
        channels,
        [
            Channel::CallCenter as i32,
            Channel::Web as i32,
            Channel::Store as i32
        ]
    );
    let resolved = whole.thread.unwrap();
    assert_eq!(resolved.status, ThreadStatus::Resolved as i32);
    assert_eq!(resolved.resolved_at, at(MONDAY + 72 * HOUR));

    // Nothing open any more.
    let context = interactions
        .get_context(pb::GetContextRequest {
            customer: by_id(&maria),
            recent_limit: 2,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(context.open_threads.is_empty());
    assert_eq!(context.recent_interactions.len(), 2);
    assert_eq!(
        context.recent_interactions[0].channel,
        Channel::Store as i32
    );
    assert_ne!(context.suggested_next_step.unwrap().action, "resume_thread");

    // The timeline, filtered and paged.
    let web_only = interactions
        .list_timeline(pb::ListTimelineRequest {
            customer: by_id(&maria),
            channels: vec![Channel::Web as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(web_only.interactions.len(), 1);
    let window = interactions
        .list_timeline(pb::ListTimelineRequest {
            customer: by_id(&maria),
            time_range: Some(pb::TimeRange {
                start: at(MONDAY + HOUR),
                end: at(MONDAY + 100 * HOUR),
            }),
            types: vec![
                InteractionType::StoreVisit as i32,
                InteractionType::Inquiry as i32,
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(window.interactions.len(), 2);
    let page_one = interactions
        .list_timeline(pb::ListTimelineRequest {
            customer: by_id(&maria),
            thread_id: thread_id.clone(),
            page: Some(pb::PageRequest {
                page_size: 2,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page_one.interactions.len(), 2);
    let token = page_one.page.unwrap().next_page_token;
    assert!(!token.is_empty());
    let page_two = interactions
        .list_timeline(pb::ListTimelineRequest {
            customer: by_id(&maria),
            thread_id: thread_id.clone(),
            page: Some(pb::PageRequest {
                page_size: 2,
                page_token: token,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page_two.interactions.len(), 1);
    assert_eq!(
        page_two.interactions[0].interaction_id,
        first.interaction_id
    );

    // Bad input is refused by field, and stores nothing.
    let bad = interactions
        .record_interaction(pb::RecordInteractionRequest {
            customer: by_id(&maria),
            channel: 0,
            r#type: 99,
            cost: Some(pb::Money {
                currency: "euro".into(),
                minor_units: -1,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let fields = violation_fields(&bad);
    for field in ["channel", "type", "cost.currency", "cost.minor_units"] {
        assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
    }
    let batch = interactions
        .record_interactions(pb::RecordInteractionsRequest {
            interactions: vec![
                pb::RecordInteractionRequest {
                    customer: by_id(&maria),
                    channel: Channel::Email as i32,
                    r#type: InteractionType::Email as i32,
                    ..Default::default()
                },
                pb::RecordInteractionRequest {
                    customer: by_id(&maria),
                    channel: Channel::Email as i32,
                    r#type: InteractionType::Email as i32,
                    topic: "x".repeat(300),
                    ..Default::default()
                },
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(violation_fields(&batch), ["interactions[1].topic"]);
    // Someone else's thread cannot be continued.
    let other = create_customer(&suite, "crm-2", "Kofi", "kofi@example.com").await;
    let foreign = interactions
        .record_interaction(pb::RecordInteractionRequest {
            customer: by_id(&other),
            channel: Channel::Web as i32,
            r#type: InteractionType::Chat as i32,
            thread_id: thread_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violation_fields(&foreign), ["thread_id"]);
    let count = interactions
        .get_context(pb::GetContextRequest {
            customer: by_id(&maria),
            recent_limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .interaction_count;
    assert_eq!(count, 3, "no bad write stored anything");

    // A batch from the e-mail system; its retry is all duplicates.
    let emails = pb::RecordInteractionsRequest {
        interactions: (0..3)
            .map(|n| pb::RecordInteractionRequest {
                customer: by_email("kofi@example.com"),
                channel: Channel::Email as i32,
                r#type: InteractionType::Email as i32,
                direction: pb::Direction::Outbound as i32,
                occurred_at: at(MONDAY + n * HOUR),
                topic: "newsletter".into(),
                idempotency_key: format!("mail-{n}"),
                automated: true,
                ..Default::default()
            })
            .collect(),
    };
    let first_batch = interactions
        .record_interactions(emails.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first_batch.created, first_batch.duplicates), (3, 0));
    let again = interactions
        .record_interactions(emails)
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.created, again.duplicates), (0, 3));
    // Two orders and an offer shown: on the timeline, but no contacts for the report.
    let not_contacts = [
        (InteractionType::Purchase, "purchase", 2),
        (InteractionType::Purchase, "purchase", 3),
        (InteractionType::OfferPresented, "offer", 4),
    ];
    for (kind, topic, hours) in not_contacts {
        interactions
            .record_interaction(pb::RecordInteractionRequest {
                customer: by_email("kofi@example.com"),
                channel: Channel::Web as i32,
                r#type: kind as i32,
                occurred_at: at(MONDAY + hours * HOUR),
                topic: topic.into(),
                idempotency_key: format!("not-a-contact-{hours}"),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    // The channel report for the week.
    let report = interactions
        .get_channel_report(pb::GetChannelReportRequest {
            period: Some(pb::TimeRange {
                start: at(MONDAY - HOUR),
                end: at(MONDAY + 7 * 24 * HOUR),
            }),
            repeat_window_days: 7,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.contacts, 6);
    assert_eq!(report.not_contacts, 3);
    let call_center = report
        .channels
        .iter()
        .find(|figures| figures.channel == Channel::CallCenter as i32)
        .unwrap();
    assert_eq!(call_center.cost[0].minor_units, 450);
    // Automated: the web inquiry and three newsletters.
    assert!((report.automated_share - 4.0 / 6.0).abs() < 1e-9);
    // Topic contacts 6; repeats: Maria's 2nd and 3rd "late delivery", Kofi's 2nd and
    // 3rd "newsletter"; Kofi's second order is no repeat contact.
    assert_eq!(report.repeat_contacts, 4);
    assert!((report.repeat_contact_rate - 4.0 / 6.0).abs() < 1e-9);
    let web = report
        .channels
        .iter()
        .find(|figures| figures.channel == Channel::Web as i32)
        .unwrap();
    assert_eq!(web.contacts, 1, "the web inquiry only");
    assert_eq!(report.threads_resolved, 1);
    assert!((report.average_resolution_seconds - 72.0 * 3600.0).abs() < 1e-6);

    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_complaint_opened_by_phone_is_continued_on_the_web_on_sqlite() {
    complaint_story(Backend::Embedded).await;
}

#[tokio::test]
async fn a_complaint_opened_by_phone_is_continued_on_the_web_on_postgres() {
    complaint_story(Backend::Postgres).await;
}

async fn consent_story(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let ines = create_customer(&suite, "crm-3", "Ines", "ines@example.com").await;
    let mut interactions = suite.interaction();
    let decide = |status: pb::ConsentStatus, seconds: i64, source: &str, key: &str| {
        pb::RecordConsentRequest {
            customer: by_email("ines@example.com"),
            channel: Channel::Email as i32,
            purpose: "Marketing".into(),
            status: status as i32,
            decided_at: at(seconds),
            source: source.into(),
            idempotency_key: key.into(),
        }
    };
    interactions
        .record_consent(decide(
            pb::ConsentStatus::Granted,
            MONDAY,
            "web signup",
            "c-1",
        ))
        .await
        .unwrap();
    let check = pb::CheckConsentRequest {
        customer: by_id(&ines),
        channel: Channel::Email as i32,
        purpose: "marketing".into(),
    };
    let allowed = interactions
        .check_consent(check.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(allowed.allowed);
    assert_eq!(allowed.source, "web signup");
    // She withdraws on the phone; a late copy of the old grant changes nothing.
    interactions
        .record_consent(decide(
            pb::ConsentStatus::Revoked,
            MONDAY + HOUR,
            "call center",
            "c-2",
        ))
        .await
        .unwrap();
    interactions
        .record_consent(decide(
            pb::ConsentStatus::Granted,
            MONDAY,
            "web signup",
            "c-1",
        ))
        .await
        .unwrap();
    let refused = interactions
        .check_consent(check)
        .await
        .unwrap()
        .into_inner();
    assert!(!refused.allowed);
    assert_eq!(refused.status, pb::ConsentStatus::Revoked as i32);
    assert_eq!(refused.decided_at, at(MONDAY + HOUR));
    // No decision at all is no consent.
    let unknown = interactions
        .check_consent(pb::CheckConsentRequest {
            customer: by_id(&ines),
            channel: Channel::CallCenter as i32,
            purpose: "surveys".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!unknown.allowed);
    assert_eq!(unknown.status, pb::ConsentStatus::Unspecified as i32);
    let bad = interactions
        .check_consent(pb::CheckConsentRequest {
            customer: by_id(&ines),
            channel: 0,
            purpose: "no spaces allowed".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violation_fields(&bad), ["channel", "purpose"]);

    // Preferences expressed in two contacts; the later one wins per key.
    for (n, value) in ["paper", "pdf"].iter().enumerate() {
        interactions
            .record_interaction(pb::RecordInteractionRequest {
                customer: by_id(&ines),
                channel: Channel::Web as i32,
                r#type: InteractionType::WebVisit as i32,
                occurred_at: at(MONDAY + n as i64 * HOUR),
                needs: vec![pb::ExpressedNeed {
                    key: "invoice".into(),
                    value: (*value).into(),
                }],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let preferences = interactions
        .get_preferences(pb::GetPreferencesRequest {
            customer: by_email("ines@example.com"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preferences.preferences.len(), 1);
    assert_eq!(preferences.preferences[0].value, "pdf");
    assert_eq!(preferences.consents.len(), 1);
    assert_eq!(
        preferences.consents[0].status,
        pb::ConsentStatus::Revoked as i32
    );
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn consent_is_per_channel_and_purpose_and_the_latest_decision_wins_on_sqlite() {
    consent_story(Backend::Embedded).await;
}

#[tokio::test]
async fn consent_is_per_channel_and_purpose_and_the_latest_decision_wins_on_postgres() {
    consent_story(Backend::Postgres).await;
}

async fn screen_pop(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let lena = create_customer(&suite, "crm-4", "Lena", "lena@example.com").await;
    let other = create_customer(&suite, "crm-5", "Omar", "omar@example.com").await;
    let mut interactions = suite.interaction();
    let mut screen = interactions
        .stream_timeline(pb::StreamTimelineRequest {
            customer: by_email("lena@example.com"),
        })
        .await
        .unwrap()
        .into_inner();
    let mut feed = interactions
        .stream_interactions(pb::StreamInteractionsRequest {
            channels: vec![Channel::CallCenter as i32],
            types: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    // Lena's call is recorded by her e-mail address: the bus event carries it as the
    // anchor for the other services, the client streams must not.
    for (customer, key) in [
        (by_id(&other), "omar-call"),
        (by_email("lena@example.com"), "lena-call"),
    ] {
        interactions
            .record_interaction(pb::RecordInteractionRequest {
                customer,
                channel: Channel::CallCenter as i32,
                r#type: InteractionType::Call as i32,
                idempotency_key: key.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let popped = tokio::time::timeout(Duration::from_secs(10), screen.next())
        .await
        .expect("the screen pops")
        .unwrap()
        .unwrap();
    assert_eq!(
        popped.customer_id, lena,
        "only Lena's contacts pop on her screen"
    );
    let first = tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        popped.anchor.is_empty() && first.anchor.is_empty() && second.anchor.is_empty(),
        "no identifier reaches a client stream"
    );
    assert_eq!([first.customer_id, second.customer_id], [other, lena]);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_new_contact_pops_on_the_agents_screen_on_sqlite() {
    screen_pop(Backend::Embedded).await;
}

#[tokio::test]
async fn a_new_contact_pops_on_the_agents_screen_on_postgres() {
    screen_pop(Backend::Postgres).await;
}

async fn timeline_ids(suite: &TestSuite, customer_id: &str) -> Vec<String> {
    let mut ids: Vec<String> = suite
        .interaction()
        .list_timeline(pb::ListTimelineRequest {
            customer: by_id(customer_id),
            ..Default::default()
        })
        .await
        .map(|response| {
            response
                .into_inner()
                .interactions
                .into_iter()
                .map(|interaction| interaction.idempotency_key)
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Waits until the customer's timeline holds exactly `expected` (idempotency keys).
async fn eventually(suite: &TestSuite, customer_id: &str, expected: &[&str]) {
    let mut last = Vec::new();
    for _ in 0..100 {
        last = timeline_ids(suite, customer_id).await;
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timeline of {customer_id} is {last:?}, expected {expected:?}");
}

async fn follows_identity(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let anna = create_customer(&suite, "crm-6", "Anna", "anna@example.com").await;
    let twin = create_customer(&suite, "shop-6", "Hanna", "hanna.shop@example.com").await;
    let mut interactions = suite.interaction();
    for (reference, key) in [
        (by_email("anna@example.com"), "anna-call"),
        (by_email("hanna.shop@example.com"), "shop-chat"),
    ] {
        interactions
            .record_interaction(pb::RecordInteractionRequest {
                customer: reference,
                channel: Channel::CallCenter as i32,
                r#type: InteractionType::Call as i32,
                idempotency_key: key.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // A data steward sees they are the same person: one timeline.
    let merged = suite
        .identity()
        .merge(pb::MergeRequest {
            customer_ids: vec![anna.clone(), twin.clone()],
            reason: "same person, confirmed on the phone".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let survivor = merged.customer_id;
    eventually(&suite, &survivor, &["anna-call", "shop-chat"]).await;

    // It was a mistake: the shop record leaves, and its interaction with it.
    suite
        .identity()
        .unmerge(pb::UnmergeRequest {
            records: vec![pb::RecordKey {
                source_system: "crm".into(),
                source_record_id: "shop-6".into(),
            }],
            reason: "two people after all".into(),
            block_remerge: true,
        })
        .await
        .unwrap();
    let anna_now = suite
        .identity()
        .lookup_customer_id(pb::LookupCustomerIdRequest {
            customer: by_email("anna@example.com"),
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id;
    let twin_now = suite
        .identity()
        .lookup_customer_id(pb::LookupCustomerIdRequest {
            customer: by_email("hanna.shop@example.com"),
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id;
    assert_ne!(anna_now, twin_now);
    eventually(&suite, &anna_now, &["anna-call"]).await;
    eventually(&suite, &twin_now, &["shop-chat"]).await;

    // The shop customer asks to be forgotten.
    suite
        .identity()
        .erase_customer(pb::EraseCustomerRequest {
            customer: by_id(&twin_now),
            reason: "GDPR request 42".into(),
        })
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        let rows = timeline_ids(&suite, &twin_now).await;
        let context = interactions
            .get_preferences(pb::GetPreferencesRequest {
                customer: by_id(&twin_now),
            })
            .await;
        if rows.is_empty() && context.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the erased customer's interactions are gone");
    eventually(&suite, &anna_now, &["anna-call"]).await;
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn timelines_follow_merges_unmerges_and_erasures_on_sqlite() {
    follows_identity(Backend::Embedded).await;
}

#[tokio::test]
async fn timelines_follow_merges_unmerges_and_erasures_on_postgres() {
    follows_identity(Backend::Postgres).await;
}

async fn segment_story(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let mut interactions = suite.interaction();
    let events: Vec<String> = [
        r#"{"type":"page","messageId":"m-1","anonymousId":"anon-77","name":"Pricing",
            "timestamp":"2026-03-02T08:00:00Z","properties":{"url":"https://shop.example/pricing"}}"#,
        r#"{"type":"identify","messageId":"m-2","userId":"u-77","anonymousId":"anon-77",
            "traits":{"firstName":"Sam","lastName":"Reyes","email":"sam@example.com"}}"#,
        r#"{"type":"track","messageId":"m-3","userId":"u-77","event":"Complaint Submitted",
            "timestamp":"2026-03-02T09:00:00Z",
            "properties":{"summary":"wrong size","preferences":{"size":"M"}}}"#,
        r#"{"type":"screen","messageId":"m-4","userId":"u-77","name":"Order status"}"#,
        r#"{"type":"group","messageId":"m-5","userId":"u-77","groupId":"acme",
            "traits":{"name":"Acme Ltd"}}"#,
        r#"{"type":"alias","messageId":"m-6","userId":"u-77","previousId":"anon-77"}"#,
        r#"{"type":"track","messageId":"m-7"}"#,
    ]
    .iter()
    .map(|event| (*event).to_owned())
    .collect();
    let first = interactions
        .ingest_segment_events(pb::IngestSegmentEventsRequest {
            events: events.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (first.ingested, first.duplicates, first.rejected),
        (6, 0, 1)
    );
    assert!(
        first.results[6].error.contains("userId"),
        "{:?}",
        first.results[6]
    );
    let again = interactions
        .ingest_segment_events(pb::IngestSegmentEventsRequest { events })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.ingested, again.duplicates, again.rejected),
        (0, 6, 1)
    );

    // Sam's screen, looked up by e-mail: the anonymous page view (merged in through
    // identity once Sam identified), the complaint and the app screen are one history.
    let mut topics = Vec::new();
    let mut context = pb::GetContextResponse::default();
    for _ in 0..100 {
        context = interactions
            .get_context(pb::GetContextRequest {
                customer: by_email("sam@example.com"),
                recent_limit: 0,
            })
            .await
            .unwrap()
            .into_inner();
        topics = context
            .recent_interactions
            .iter()
            .map(|interaction| interaction.topic.clone())
            .collect();
        topics.sort();
        if topics.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(topics, ["Complaint Submitted", "Order status", "Pricing"]);
    assert_eq!(context.preferences[0].key, "size");
    // The `group` call linked Sam to the organization, shown on the screen.
    assert_eq!(
        context.organizations,
        [pb::OrganizationLink {
            group_id: "acme".into(),
            name: "Acme Ltd".into(),
        }]
    );
    assert_eq!(context.customer.unwrap().display_name, "Sam Reyes");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn segment_events_become_one_history_on_sqlite() {
    segment_story(Backend::Embedded).await;
}

#[tokio::test]
async fn segment_events_become_one_history_on_postgres() {
    segment_story(Backend::Postgres).await;
}
