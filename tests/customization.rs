//! Customization end to end: the catalog and rules are validated and versioned; a
//! tailored offering is assembled from identity, differentiation and interaction with
//! a reason per choice, respects consent, learns from outcomes, can be explained
//! later, and follows identity's merges; a hanging dependency degrades the answer
//! but never breaks it or makes it late.

use std::time::{Duration, Instant};

use idic_proto::v1 as pb;
use idic_testkit::{Backend, SuiteOptions, TestSuite};
use tonic::Code;

fn by_id(id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::CustomerId(id.to_owned())),
    })
}

fn by_email(email: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::Email as i32,
            value: email.to_owned(),
            ..Default::default()
        })),
    })
}

fn eur(minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: "EUR".into(),
        minor_units,
    })
}

fn component(id: &str, name: &str, slot: pb::Slot, cost: i64) -> pb::Component {
    pb::Component {
        component_id: id.into(),
        slot: slot as i32,
        name: name.into(),
        cost: eur(cost),
        available: true,
        ..Default::default()
    }
}

/// A small catalog: every slot, with constraints, eligibility and channels.
pub fn catalog() -> Vec<pb::Component> {
    use pb::Slot::*;
    let mut eco = component("packaging.eco", "eco packaging", Packaging, 120);
    eco.answers_preferences = vec!["packaging=less_plastic".into()];
    let mut gift = component("packaging.gift", "gift wrap", Packaging, 300);
    gift.price = eur(250);
    gift.requires = vec!["delivery.standard".into()];
    let mut bulk = component("packaging.bulk", "bulk pallet", Packaging, 40);
    bulk.min_order_quantity = 50;
    let mut monthly = component(
        "invoice.monthly",
        "consolidated monthly invoice",
        InvoiceFormat,
        10,
    );
    monthly.eligible_tiers = vec!["A".into(), "B".into()];
    let mut express = component("delivery.express", "express delivery", Delivery, 900);
    express.price = eur(500);
    express.incompatible_with = vec!["packaging.gift".into()];
    let mut email = component("communication.email", "e-mail updates", Communication, 1);
    email.channel = pb::Channel::Email as i32;
    let mut sms = component("communication.sms", "text messages", Communication, 5);
    sms.channel = pb::Channel::MobileApp as i32;
    vec![
        component("product.standard", "standard edition", ProductOption, 0),
        component("packaging.standard", "standard box", Packaging, 50),
        eco,
        gift,
        bulk,
        component("invoice.itemized", "itemized invoice", InvoiceFormat, 5),
        monthly,
        component("delivery.standard", "standard delivery", Delivery, 400),
        express,
        component("service.standard", "standard service", ServiceLevel, 0),
        email,
        sms,
        component("communication.none", "no updates", Communication, 0),
    ]
}

async fn import_catalog(suite: &TestSuite) {
    let response = suite
        .customization()
        .upsert_components(pb::UpsertComponentsRequest {
            components: catalog(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.changed, 13);
}

fn violations(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

async fn catalog_and_rules(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    let mut client = suite.customization();
    import_catalog(&suite).await;
    let again = client
        .upsert_components(pb::UpsertComponentsRequest {
            components: catalog(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.changed, again.unchanged),
        (0, 13),
        "a retry changes nothing"
    );

    // An unknown component, a contradiction and a cycle: clear errors, nothing stored.
    let mut unknown = component("packaging.crate", "crate", pb::Slot::Packaging, 10);
    unknown.requires = vec!["delivery.drone".into()];
    let status = client
        .upsert_components(pb::UpsertComponentsRequest {
            components: vec![unknown],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violations(&status), ["components[0].requires[0]"]);
    assert!(
        status
            .message()
            .contains("unknown component 'delivery.drone'")
    );
    let mut contradictory = component("packaging.crate", "crate", pb::Slot::Packaging, 10);
    contradictory.requires = vec!["delivery.express".into()];
    contradictory.incompatible_with = vec!["delivery.express".into()];
    let status = client
        .upsert_components(pb::UpsertComponentsRequest {
            components: vec![contradictory],
        })
        .await
        .unwrap_err();
    assert!(
        status.message().contains("both required and incompatible"),
        "{status:?}"
    );
    let mut first = component("service.gold", "gold service", pb::Slot::ServiceLevel, 10);
    first.requires = vec!["delivery.timed".into()];
    let mut second = component("delivery.timed", "time window", pb::Slot::Delivery, 10);
    second.requires = vec!["service.gold".into()];
    let status = client
        .upsert_components(pb::UpsertComponentsRequest {
            components: vec![first, second],
        })
        .await
        .unwrap_err();
    assert!(status.message().contains("cycle"), "{status:?}");
    let listed = client
        .list_components(pb::ListComponentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.components.len(),
        13,
        "nothing of the failed requests stored"
    );

    // Rules: validated, versioned, idempotent, optimistic.
    let rule = |id: &str, component: &str, tiers: &[&str], explanation: &str| pb::OfferRule {
        rule_id: id.into(),
        effect: pb::OfferRuleEffect::Default as i32,
        component_id: component.into(),
        condition: Some(pb::OfferRuleCondition {
            tiers: tiers.iter().map(|t| (*t).to_owned()).collect(),
            ..Default::default()
        }),
        priority: 10,
        explanation: explanation.into(),
    };
    let published = client
        .publish_rules(pb::PublishRulesRequest {
            rules: vec![rule(
                "tier-a-monthly",
                "invoice.monthly",
                &["A"],
                "tier A business account",
            )],
            expected_version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(published.version, 1);
    let same = client
        .publish_rules(pb::PublishRulesRequest {
            rules: published.rules.clone(),
            expected_version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(same.version, 1, "publishing the same set changes nothing");
    let stale = client
        .publish_rules(pb::PublishRulesRequest {
            rules: vec![rule("other", "invoice.itemized", &[], "")],
            expected_version: 7,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition);
    let bad = client
        .publish_rules(pb::PublishRulesRequest {
            rules: vec![rule("r", "invoice.fax", &["Z"], "")],
            expected_version: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(
        violations(&bad),
        ["rules[0].component_id", "rules[0].condition.tiers[0]"]
    );
    let current = client
        .get_rules(pb::GetRulesRequest { version: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.version, 1);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn catalog_and_rules_on_the_embedded_default() {
    catalog_and_rules(Backend::Embedded).await;
}

#[tokio::test]
async fn catalog_and_rules_on_postgres() {
    catalog_and_rules(Backend::Postgres).await;
}

/// A business customer who asked for less plastic by phone, refused e-mail and
/// granted text messages.
async fn seed_customer(suite: &TestSuite, email: &str, record_id: &str) -> String {
    let customer_id = suite
        .identity()
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(pb::SourceRecord {
                source_system: "crm".into(),
                source_record_id: record_id.into(),
                channel: pb::Channel::CallCenter as i32,
                name: Some(pb::PersonName {
                    given: "Ann".into(),
                    family: format!("Lee{record_id}"),
                    ..Default::default()
                }),
                organization_name: "Lee Imports".into(),
                emails: vec![email.into()],
                ..Default::default()
            }),
            strict: false,
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id;
    let mut interaction = suite.interaction();
    let march_2 = prost_types::Timestamp {
        seconds: 1_772_445_600,
        nanos: 0,
    };
    interaction
        .record_interaction(pb::RecordInteractionRequest {
            customer: by_id(&customer_id),
            channel: pb::Channel::CallCenter as i32,
            r#type: pb::InteractionType::Call as i32,
            occurred_at: Some(march_2),
            summary: "asked about packaging".into(),
            needs: vec![pb::ExpressedNeed {
                key: "packaging".into(),
                value: "less_plastic".into(),
            }],
            idempotency_key: format!("call-{record_id}"),
            ..Default::default()
        })
        .await
        .unwrap();
    for (channel, status) in [
        (pb::Channel::Email, pb::ConsentStatus::Denied),
        (pb::Channel::MobileApp, pb::ConsentStatus::Granted),
    ] {
        interaction
            .record_consent(pb::RecordConsentRequest {
                customer: by_id(&customer_id),
                channel: channel as i32,
                purpose: "service".into(),
                status: status as i32,
                source: "call center".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    customer_id
}

fn choice(offering: &pb::Offering, slot: pb::Slot) -> &pb::SlotChoice {
    offering
        .choices
        .iter()
        .find(|choice| choice.slot == slot as i32)
        .unwrap_or_else(|| panic!("no {slot:?} in {offering:?}"))
}

fn component_id(choice: &pb::SlotChoice) -> &str {
    &choice.component.as_ref().unwrap().component_id
}

async fn offering_story(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    import_catalog(&suite).await;
    let ann = seed_customer(&suite, "ann@example.com", "1").await;
    let mut client = suite.customization();

    let order = pb::OfferOrder {
        order_id: "o-1".into(),
        lines: vec![pb::OfferOrderLine {
            product_id: "p-1".into(),
            category: "books".into(),
            quantity: 2,
            unit_price: eur(1500),
        }],
    };
    let offering = client
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: by_email("ann@example.com"),
            order: Some(order.clone()),
            channel: pb::Channel::Web as i32,
            occasion: "reorder".into(),
            idempotency_key: "web-session-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(offering.customer_id, ann);
    assert!(!offering.degraded, "{:?}", offering.missing_sources);
    assert_eq!(offering.choices.len(), 6);
    let packaging = choice(&offering, pb::Slot::Packaging);
    assert_eq!(component_id(packaging), "packaging.eco");
    assert_eq!(
        packaging.reason.as_ref().unwrap().text,
        "eco packaging: customer asked for less plastic on 2026-03-02 by phone"
    );
    assert!(
        packaging
            .alternatives
            .iter()
            .all(|a| a.component.as_ref().unwrap().component_id != "packaging.bulk"),
        "bulk needs 50 items"
    );
    let communication = choice(&offering, pb::Slot::Communication);
    let offered: Vec<&str> = std::iter::once(component_id(communication))
        .chain(
            communication
                .alternatives
                .iter()
                .map(|a| a.component.as_ref().unwrap().component_id.as_str()),
        )
        .collect();
    assert!(
        !offered.contains(&"communication.email"),
        "e-mail was refused: {offered:?}"
    );
    assert!(
        offered.contains(&"communication.sms"),
        "text messages were granted"
    );
    for choice in &offering.choices {
        assert!(
            !choice.reason.as_ref().unwrap().text.is_empty(),
            "{choice:?}"
        );
    }

    // A retry with the same key returns the same offering.
    let retry = client
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: by_email("ann@example.com"),
            order: Some(order.clone()),
            channel: pb::Channel::Web as i32,
            occasion: "reorder".into(),
            idempotency_key: "web-session-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry.offering_id, offering.offering_id);

    // Outcomes: validated, idempotent per slot, feeding the learner.
    let bad = client
        .record_outcome(pb::RecordOutcomeRequest {
            offering_id: offering.offering_id.clone(),
            outcomes: vec![pb::SlotOutcome {
                slot: pb::Slot::Packaging as i32,
                outcome: pb::OutcomeKind::Changed as i32,
                changed_to: "delivery.express".into(),
            }],
            channel: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&bad), ["outcomes[0].changed_to"]);
    let outcomes = vec![
        pb::SlotOutcome {
            slot: pb::Slot::Packaging as i32,
            outcome: pb::OutcomeKind::Changed as i32,
            changed_to: "packaging.gift".into(),
        },
        pb::SlotOutcome {
            slot: pb::Slot::Delivery as i32,
            outcome: pb::OutcomeKind::Accepted as i32,
            changed_to: String::new(),
        },
    ];
    let recorded = client
        .record_outcome(pb::RecordOutcomeRequest {
            offering_id: offering.offering_id.clone(),
            outcomes: outcomes.clone(),
            channel: pb::Channel::Web as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((recorded.recorded, recorded.already_recorded), (2, 0));
    let retried = client
        .record_outcome(pb::RecordOutcomeRequest {
            offering_id: offering.offering_id.clone(),
            outcomes,
            channel: pb::Channel::Web as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((retried.recorded, retried.already_recorded), (0, 2));

    // The offer and its outcome reach the customer's timeline through the bus
    // (`customization.offers`), each once.
    let started = Instant::now();
    loop {
        let timeline = suite
            .interaction()
            .list_timeline(pb::ListTimelineRequest {
                customer: by_id(&ann),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let types: Vec<i32> = timeline.interactions.iter().map(|i| i.r#type).collect();
        let presented = types
            .iter()
            .filter(|t| **t == pb::InteractionType::OfferPresented as i32)
            .count();
        let accepted = types
            .iter()
            .filter(|t| **t == pb::InteractionType::OfferAccepted as i32)
            .count();
        if presented == 1 && accepted == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "offer events not on the timeline: {types:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // What the customer chose before wins for this customer (unless in the control
    // group, which keeps the static rules).
    let next = client
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: by_id(&ann),
            order: Some(order),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    if !next.control_group {
        let packaging = choice(&next, pb::Slot::Packaging);
        assert_eq!(component_id(packaging), "packaging.gift");
        assert_eq!(
            packaging.reason.as_ref().unwrap().source,
            pb::ChoiceSource::CustomerHistory as i32
        );
        assert_eq!(
            component_id(choice(&next, pb::Slot::Delivery)),
            "delivery.standard"
        );
    }

    // Why did we offer this?
    let stored = client
        .get_offering(pb::GetOfferingRequest {
            offering_id: offering.offering_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let inputs = stored.inputs.unwrap();
    assert!(inputs.business_account);
    assert_eq!(inputs.anchor, "EMAIL:ann@example.com");
    assert!(
        inputs
            .preferences
            .contains(&"packaging=less_plastic".to_owned())
    );
    assert!(
        inputs
            .refused_channels
            .contains(&(pb::Channel::Email as i32))
    );
    assert_eq!(stored.outcomes.len(), 2);
    assert_eq!(
        stored.offering.unwrap().choices,
        offering.choices,
        "the reasons are kept as given"
    );

    // Packaging for an order of 60 items: bulk is now eligible, ranked with cost.
    let packaging = client
        .get_packaging_options(pb::GetPackagingOptionsRequest {
            customer: by_id(&ann),
            order: Some(pb::OfferOrder {
                order_id: "o-2".into(),
                lines: vec![pb::OfferOrderLine {
                    product_id: "p-2".into(),
                    category: "paper".into(),
                    quantity: 60,
                    unit_price: eur(100),
                }],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = packaging
        .options
        .iter()
        .map(|o| o.component.as_ref().unwrap().component_id.as_str())
        .collect();
    assert!(ids.contains(&"packaging.bulk"), "{ids:?}");
    assert_eq!(packaging.options[0].rank, 1);
    assert!(
        packaging
            .options
            .iter()
            .all(|o| o.cost.is_some() && o.reason.is_some())
    );

    let report = client
        .get_learning_report(pb::GetLearningReportRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.learner_outcomes + report.control_outcomes, 2);

    // Bad input names its field.
    let status = client
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: None,
            channel: 99,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&status), ["customer", "channel"]);

    // Identity merges another customer into Ann: that customer's offerings follow.
    let bea = seed_customer(&suite, "bea@example.com", "2").await;
    let beas = client
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: by_id(&bea),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let merged = suite
        .identity()
        .merge(pb::MergeRequest {
            customer_ids: vec![ann.clone(), bea.clone()],
            reason: "same company".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id;
    let started = Instant::now();
    loop {
        let stored = client
            .get_offering(pb::GetOfferingRequest {
                offering_id: beas.offering_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if stored.offering.unwrap().customer_id == merged {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the merge was not followed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn offering_story_on_the_embedded_default() {
    offering_story(Backend::Embedded).await;
}

#[tokio::test]
async fn offering_story_on_postgres() {
    offering_story(Backend::Postgres).await;
}

/// The communication components an offering proposes (chosen or as alternatives).
async fn communication_offered(suite: &TestSuite, customer_id: &str, key: &str) -> Vec<String> {
    let offering = suite
        .customization()
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: by_id(customer_id),
            channel: pb::Channel::Web as i32,
            idempotency_key: key.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!offering.degraded, "{:?}", offering.missing_sources);
    let communication = choice(&offering, pb::Slot::Communication);
    std::iter::once(component_id(communication))
        .chain(
            communication
                .alternatives
                .iter()
                .map(|a| a.component.as_ref().unwrap().component_id.as_str()),
        )
        .map(str::to_owned)
        .collect()
}

async fn decide_email(suite: &TestSuite, customer_id: &str, status: pb::ConsentStatus) {
    suite
        .interaction()
        .record_consent(pb::RecordConsentRequest {
            customer: by_id(customer_id),
            channel: pb::Channel::Email as i32,
            purpose: "service".into(),
            status: status as i32,
            source: "preference center".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// Consent is read fresh for every offering: a grant shows in the next offering, and
/// a refusal is never proposed, not even once, however recently the customer's
/// dependencies were cached.
async fn a_consent_change_takes_effect_at_once(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend)).await else {
        return;
    };
    import_catalog(&suite).await;
    // E-mail refused, text messages granted.
    let dee = seed_customer(&suite, "dee@example.com", "crm-consent").await;
    let email = "communication.email".to_owned();
    let first = communication_offered(&suite, &dee, "consent-1").await;
    assert!(!first.contains(&email), "refused: {first:?}");

    decide_email(&suite, &dee, pb::ConsentStatus::Granted).await;
    let granted = communication_offered(&suite, &dee, "consent-2").await;
    assert!(granted.contains(&email), "granted just now: {granted:?}");

    decide_email(&suite, &dee, pb::ConsentStatus::Denied).await;
    let revoked = communication_offered(&suite, &dee, "consent-3").await;
    assert!(!revoked.contains(&email), "revoked just now: {revoked:?}");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_consent_change_takes_effect_at_once_on_the_embedded_default() {
    a_consent_change_takes_effect_at_once(Backend::Embedded).await;
}

#[tokio::test]
async fn a_consent_change_takes_effect_at_once_on_postgres() {
    a_consent_change_takes_effect_at_once(Backend::Postgres).await;
}

/// A TCP listener that accepts connections and never answers.
async fn hanging_listener() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (address, task)
}

#[tokio::test]
async fn a_hanging_dependency_degrades_the_offering_within_the_deadline() {
    let (address, hang) = hanging_listener().await;
    let suite = TestSuite::start_with(SuiteOptions::new(Backend::Embedded).configure(
        move |config| {
            config.peers.interaction = Some(address);
        },
    ))
    .await
    .unwrap();
    import_catalog(&suite).await;
    let ann = seed_customer_without_interaction(&suite).await;
    let mut client = suite.customization();
    let deadline = Duration::from_millis(300);
    for attempt in 0..8 {
        let mut request = tonic::Request::new(pb::GetTailoredOfferingRequest {
            customer: by_id(&ann),
            ..Default::default()
        });
        request.set_timeout(deadline);
        let started = Instant::now();
        let offering = client
            .get_tailored_offering(request)
            .await
            .unwrap()
            .into_inner();
        let took = started.elapsed();
        assert!(took < deadline, "attempt {attempt} took {took:?}");
        assert!(offering.degraded);
        assert_eq!(offering.missing_sources, ["interaction"]);
        // Consent unknown: no outbound channel is proposed.
        assert_eq!(
            component_id(choice(&offering, pb::Slot::Communication)),
            "communication.none"
        );
    }
    hang.abort();
    suite.stop().await.unwrap();
}

/// With identity hanging, the other services cannot resolve the customer, yet the
/// offering still comes in time, degraded, with identity named among the missing.
#[tokio::test]
async fn a_hanging_identity_degrades_the_offering_within_the_deadline() {
    let (address, hang) = hanging_listener().await;
    let suite = TestSuite::start_with(SuiteOptions::new(Backend::Embedded).configure(
        move |config| {
            config.peers.identity = Some(address);
        },
    ))
    .await
    .unwrap();
    import_catalog(&suite).await;
    // Identity itself answers on the suite's address; only peers' calls hang.
    let ann = seed_customer_without_interaction(&suite).await;
    let mut client = suite.customization();
    let deadline = Duration::from_millis(300);
    for attempt in 0..4 {
        let mut request = tonic::Request::new(pb::GetTailoredOfferingRequest {
            customer: by_id(&ann),
            ..Default::default()
        });
        request.set_timeout(deadline);
        let started = Instant::now();
        let offering = client
            .get_tailored_offering(request)
            .await
            .unwrap_or_else(|status| panic!("attempt {attempt}: {status}"))
            .into_inner();
        let took = started.elapsed();
        assert!(took < deadline, "attempt {attempt} took {took:?}");
        assert!(offering.degraded);
        assert!(
            offering
                .missing_sources
                .iter()
                .any(|source| source == "identity"),
            "{:?}",
            offering.missing_sources
        );
    }
    hang.abort();
    suite.stop().await.unwrap();
}

async fn seed_customer_without_interaction(suite: &TestSuite) -> String {
    suite
        .identity()
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(pb::SourceRecord {
                source_system: "crm".into(),
                source_record_id: "9".into(),
                name: Some(pb::PersonName {
                    given: "Cy".into(),
                    family: "Moss".into(),
                    ..Default::default()
                }),
                emails: vec!["cy@example.com".into()],
                ..Default::default()
            }),
            strict: false,
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id
}
