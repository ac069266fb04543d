//! What the suite's callers do, against the four processes: a call center whose
//! customer is known from three channels and resumes on the web a complaint opened by
//! phone; an order system asking how to pack a tier-A business customer's order; a
//! data protection officer exporting a customer and erasing her from all four
//! services. One tailored offering is followed as one trace across the processes.

use std::time::{Duration, Instant};

use idic_proto::v1 as pb;
use idic_proto::v1::IdentifierKind;
use sqlx::Connection as _;

use crate::cluster::{Cluster, ClusterOptions};
use crate::otlp::Receiver;
use crate::{at, by_id, by_identifier, eur};

const EMAIL: &str = "ines.okonkwo-brandt@example.org";
const PHONE: &str = "+49 30 901820 77";
const FAMILY: &str = "Okonkwo-Brandt";
const STREET: &str = "Wilhelmsaue";
/// What an erasure must leave nowhere in PostgreSQL.
const PERSONAL: &[&str] = &[FAMILY, EMAIL, "901820", STREET];

/// 2026-03-02T10:00:00Z, when the stories happen.
const MARCH_2: i64 = 1_772_445_600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_serve_a_call_center_an_order_system_and_a_data_subject_request() {
    let _shared = crate::faults::SHARED_POSTGRES.read().await;
    let (receiver, endpoint) = Receiver::start().await;
    let Some(cluster) = Cluster::start(ClusterOptions {
        otlp_endpoint: Some(endpoint),
        ..Default::default()
    })
    .await
    else {
        return;
    };
    crate::metrics::fresh_processes_show_every_metric_at_zero(&cluster).await;

    let customer_id = call_center(&cluster).await;
    order_system(&cluster).await;
    one_trace_spans_the_offering(&cluster, &receiver, &customer_id).await;
    data_subject_request(&cluster, &customer_id).await;
    crate::metrics::after_traffic_the_metrics_moved(&cluster).await;
    cluster.stop().await;
}

fn record(system: &str, id: &str, channel: pb::Channel) -> pb::SourceRecord {
    pb::SourceRecord {
        source_system: system.into(),
        source_record_id: id.into(),
        channel: channel as i32,
        name: Some(pb::PersonName {
            given: "Ines".into(),
            family: FAMILY.into(),
            ..Default::default()
        }),
        observed_at: at(MARCH_2 - 86_400),
        ..Default::default()
    }
}

/// Records from the phone system, the web shop and a store merge into one customer; a
/// complaint opened by phone is resumed on the web; the agent sees both.
async fn call_center(cluster: &Cluster) -> String {
    let mut phone = record("pbx", "caller-4411", pb::Channel::CallCenter);
    phone.phones = vec![PHONE.into()];
    phone.addresses = vec![pb::PostalAddress {
        street_number: "12".into(),
        street: STREET.into(),
        locality: "Berlin".into(),
        postcode: "10715".into(),
        country: "DE".into(),
        ..Default::default()
    }];
    let mut web = record("webshop", "acct-88", pb::Channel::Web);
    web.emails = vec![EMAIL.into()];
    web.phones = vec![PHONE.into()];
    let mut store = record("pos", "loyalty-5150", pb::Channel::Store);
    store.emails = vec![EMAIL.into()];
    store.identifiers = vec![pb::Identifier {
        kind: IdentifierKind::LoyaltyId as i32,
        value: "5150".into(),
        ..Default::default()
    }];
    let mut identity = cluster.identity("callcenter");
    for record in [phone, web, store] {
        identity
            .upsert_record(pb::UpsertRecordRequest {
                record: Some(record),
                strict: false,
            })
            .await
            .expect("identity takes the record");
    }
    let customer = identity
        .get_customer(pb::GetCustomerRequest {
            customer: by_identifier(IdentifierKind::LoyaltyId, "5150"),
        })
        .await
        .expect("the store's loyalty number resolves")
        .into_inner()
        .customer
        .expect("a customer");
    let mut systems: Vec<&str> = customer
        .records
        .iter()
        .map(|record| record.source_system.as_str())
        .collect();
    systems.sort_unstable();
    assert_eq!(
        systems,
        ["pbx", "pos", "webshop"],
        "three channels, one customer"
    );
    let customer_id = customer.customer_id;

    let opened = cluster
        .interaction("callcenter")
        .record_interaction(pb::RecordInteractionRequest {
            customer: by_identifier(IdentifierKind::Phone, PHONE),
            channel: pb::Channel::CallCenter as i32,
            r#type: pb::InteractionType::Complaint as i32,
            occurred_at: at(MARCH_2),
            topic: "parcel arrived damaged".into(),
            summary: "the kettle's lid was broken".into(),
            agent: "agent-12".into(),
            idempotency_key: "pbx-call-9001".into(),
            ..Default::default()
        })
        .await
        .expect("the call is recorded")
        .into_inner();
    let thread_id = opened.thread.expect("a complaint opens a thread").thread_id;
    assert_eq!(opened.interaction.unwrap().customer_id, customer_id);

    let resumed = cluster
        .interaction("web")
        .record_interaction(pb::RecordInteractionRequest {
            customer: by_identifier(IdentifierKind::Email, EMAIL),
            channel: pb::Channel::Web as i32,
            r#type: pb::InteractionType::WebVisit as i32,
            occurred_at: at(MARCH_2 + 3_600),
            thread_id: thread_id.clone(),
            summary: "sent photos of the broken lid".into(),
            idempotency_key: "web-form-77".into(),
            ..Default::default()
        })
        .await
        .expect("the web step is recorded")
        .into_inner();
    assert_eq!(
        resumed.thread.expect("the same thread").thread_id,
        thread_id
    );

    let context = cluster
        .interaction("callcenter")
        .get_context(pb::GetContextRequest {
            customer: by_identifier(IdentifierKind::Phone, PHONE),
            recent_limit: 10,
        })
        .await
        .expect("the agent's context")
        .into_inner();
    assert_eq!(context.customer_id, customer_id);
    assert!(context.degraded.is_empty(), "{:?}", context.degraded);
    assert!(context.customer.is_some(), "identity's part is there");
    let channels: Vec<i32> = context
        .recent_interactions
        .iter()
        .map(|step| step.channel)
        .collect();
    assert!(
        channels.contains(&(pb::Channel::CallCenter as i32))
            && channels.contains(&(pb::Channel::Web as i32)),
        "the phone call and the web step: {channels:?}"
    );
    let open: Vec<&str> = context
        .open_threads
        .iter()
        .map(|thread| thread.thread_id.as_str())
        .collect();
    assert_eq!(open, [thread_id.as_str()], "the complaint is still open");
    customer_id
}

/// The catalog of packaging, one option only for tier-A customers.
fn packaging_catalog() -> Vec<pb::Component> {
    let component = |id: &str, name: &str, cost: i64| pb::Component {
        component_id: id.into(),
        slot: pb::Slot::Packaging as i32,
        name: name.into(),
        cost: eur(cost),
        available: true,
        ..Default::default()
    };
    let mut crate_box = component("packaging.reusable-crate", "reusable crate", 30);
    crate_box.eligible_tiers = vec!["A".into()];
    vec![
        component("packaging.standard", "standard box", 50),
        component("packaging.eco", "eco packaging", 80),
        crate_box,
    ]
}

fn order(customer: &str, order_id: &str, day: i64, cents: i64) -> pb::TransactionInput {
    pb::TransactionInput {
        customer: by_identifier(IdentifierKind::LoyaltyId, customer),
        order_id: order_id.into(),
        kind: pb::TransactionKind::Purchase as i32,
        occurred_at: at(MARCH_2 - 180 * 86_400 + day * 86_400),
        amount: eur(cents),
        lines: vec![pb::OrderLine {
            product: "paper-a4".into(),
            category: "office".into(),
            quantity: 10,
            amount: eur(cents),
        }],
        channel: pb::Channel::Web as i32,
        ..Default::default()
    }
}

/// A business customer who buys often and much is tier A after a refit; her order may
/// be packed in the tier-A crate, a one-off buyer's may not.
async fn order_system(cluster: &Cluster) {
    let changed = cluster
        .customization("merchandising")
        .upsert_components(pb::UpsertComponentsRequest {
            components: packaging_catalog(),
        })
        .await
        .expect("the catalog is stored")
        .into_inner()
        .changed;
    assert_eq!(changed, 3);
    cluster
        .identity("loader")
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(pb::SourceRecord {
                source_system: "erp".into(),
                source_record_id: "b2b-17".into(),
                channel: pb::Channel::Web as i32,
                organization_name: "Halvorsen Office Supply GmbH".into(),
                identifiers: vec![pb::Identifier {
                    kind: IdentifierKind::LoyaltyId as i32,
                    value: "B2B-17".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            strict: false,
        })
        .await
        .expect("the business account is known");
    let mut orders = Vec::new();
    for week in 0..24 {
        orders.push(order("B2B-17", &format!("b2b-{week}"), week * 7, 180_000));
    }
    for buyer in 0..30 {
        let reference = format!("C-{buyer}");
        orders.push(order(
            &reference,
            &format!("c-{buyer}-1"),
            buyer,
            2_000 + buyer * 100,
        ));
        if buyer % 3 == 0 {
            orders.push(order(
                &reference,
                &format!("c-{buyer}-2"),
                buyer + 40,
                3_000,
            ));
        }
    }
    let expected = orders.len() as u64;
    let mut differentiation = cluster.differentiation("orders");
    let recorded = differentiation
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: orders,
            strict: false,
        })
        .await
        .expect("the order history is recorded")
        .into_inner();
    assert_eq!(recorded.created, expected);
    differentiation
        .refit_models(pb::RefitModelsRequest {
            observation_end: at(MARCH_2),
            ..Default::default()
        })
        .await
        .expect("the value models fit");
    let value = differentiation
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: by_identifier(IdentifierKind::LoyaltyId, "B2B-17"),
        })
        .await
        .expect("the business customer's value")
        .into_inner();
    let tier = value.value.as_ref().map(|value| value.tier);
    assert_eq!(tier, Some(pb::Tier::A as i32), "{value:?}");

    let mut customization = cluster.customization("orders");
    let options_for = |customer: &str| pb::GetPackagingOptionsRequest {
        customer: by_identifier(IdentifierKind::LoyaltyId, customer),
        order: Some(pb::OfferOrder {
            order_id: format!("next-{customer}"),
            lines: vec![pb::OfferOrderLine {
                product_id: "paper-a4".into(),
                category: "office".into(),
                quantity: 40,
                unit_price: eur(450),
            }],
        }),
    };
    let business = customization
        .get_packaging_options(options_for("B2B-17"))
        .await
        .expect("packaging options")
        .into_inner();
    assert!(!business.degraded, "{:?}", business.missing_sources);
    let offered: Vec<&str> = business
        .options
        .iter()
        .map(|option| option.component.as_ref().unwrap().component_id.as_str())
        .collect();
    assert!(offered.contains(&"packaging.reusable-crate"), "{offered:?}");
    assert!(
        business
            .options
            .iter()
            .all(|option| option.reason.is_some())
    );
    let one_off = customization
        .get_packaging_options(options_for("C-1"))
        .await
        .expect("packaging options")
        .into_inner();
    assert!(
        one_off
            .options
            .iter()
            .all(|option| option.component.as_ref().unwrap().component_id
                != "packaging.reusable-crate"),
        "the crate is for tier A only"
    );
}

/// One offering: customization's server span, its client spans to identity,
/// differentiation and interaction, and their server spans, all in one trace.
async fn one_trace_spans_the_offering(cluster: &Cluster, receiver: &Receiver, customer_id: &str) {
    let mut customization = cluster.customization("orders");
    let mut whole = false;
    for attempt in 0..5 {
        let offering = customization
            .get_tailored_offering(pb::GetTailoredOfferingRequest {
                customer: by_id(customer_id),
                channel: pb::Channel::Web as i32,
                idempotency_key: format!("trace-offering-{attempt}"),
                ..Default::default()
            })
            .await
            .expect("an offering")
            .into_inner();
        if !offering.degraded {
            whole = true;
            break;
        }
    }
    assert!(whole, "a whole offering within five tries");

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let spans = receiver.spans();
        let roots = spans.iter().filter(|span| {
            span.service == "idic-customization" && span.name.ends_with("/GetTailoredOffering")
        });
        for root in roots {
            let trace: Vec<_> = spans
                .iter()
                .filter(|span| span.trace_id == root.trace_id)
                .collect();
            let services: std::collections::BTreeSet<&str> =
                trace.iter().map(|span| span.service.as_str()).collect();
            let clients = trace
                .iter()
                .filter(|span| {
                    span.kind == opentelemetry_proto::tonic::trace::v1::span::SpanKind::Client
                })
                .count();
            if services.len() == 4 && clients >= 3 {
                // Every span but the root has its parent in the same trace.
                for span in trace.iter().filter(|span| span.span_id != root.span_id) {
                    assert!(
                        trace
                            .iter()
                            .any(|parent| parent.span_id == span.parent_span_id),
                        "{span:?} has no parent in the trace"
                    );
                }
                println!(
                    "one offering, one trace: {} spans from {services:?}, {clients} client spans",
                    trace.len()
                );
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no trace of an offering across the four services with client spans: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The officer exports what all four services hold about the customer, then erases
/// her; every service lets go of her and no table of the database holds her data.
async fn data_subject_request(cluster: &Cluster, customer_id: &str) {
    let mut identity = cluster.identity("dpo");
    let deadline = Instant::now() + Duration::from_secs(20);
    let export = loop {
        let export = identity
            .export_customer(pb::ExportCustomerRequest {
                customer: by_id(customer_id),
            })
            .await
            .expect("an admin may export")
            .into_inner();
        let complete = export
            .interaction
            .as_ref()
            .is_some_and(|part| part.interactions.len() >= 2)
            && export
                .customization
                .as_ref()
                .is_some_and(|part| !part.offerings.is_empty());
        if complete || Instant::now() > deadline {
            break export;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(export.records.len(), 3);
    assert!(export.differentiation.is_some());
    let interaction = export.interaction.expect("interaction's part");
    assert_eq!(interaction.threads.len(), 1);
    assert!(interaction.interactions.len() >= 2);
    let customization = export.customization.expect("customization's part");
    assert!(!customization.offerings.is_empty());

    let erased = identity
        .erase_customer(pb::EraseCustomerRequest {
            customer: by_id(customer_id),
            reason: "data subject request 2026-17".into(),
        })
        .await
        .expect("an admin may erase")
        .into_inner();
    assert_eq!(erased.records_erased, 3);

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut left = tables_holding_personal_data(&cluster.database_url).await;
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        left = tables_holding_personal_data(&cluster.database_url).await;
    }
    assert!(
        left.is_empty(),
        "personal data left after erasure in {left:?}"
    );
    let interaction = cluster
        .interaction("dpo")
        .export_customer_data(pb::ExportCustomerDataRequest {
            customer: by_id(customer_id),
        })
        .await
        .map(|answer| answer.into_inner());
    if let Ok(part) = interaction {
        assert!(
            part.interactions.is_empty() && part.threads.is_empty(),
            "{part:?}"
        );
    }
}

/// Every `schema.table` of the four services whose rows, as text, hold any of
/// [`PERSONAL`] in clear or hex-encoded (byte columns).
async fn tables_holding_personal_data(database_url: &str) -> Vec<String> {
    let mut connection = sqlx::PgConnection::connect(database_url)
        .await
        .expect("the test database");
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables \
         WHERE table_schema IN ('identity', 'differentiation', 'interaction', 'customization') \
         AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut connection)
    .await
    .expect("the tables are listed");
    assert!(tables.len() > 8, "the four schemas exist: {tables:?}");
    let mut holding = Vec::new();
    for (schema, table) in tables {
        for text in PERSONAL {
            let hex: String = text.bytes().map(|byte| format!("{byte:02x}")).collect();
            let query = format!(
                "SELECT count(*) FROM \"{schema}\".\"{table}\" AS t \
                 WHERE t::text ILIKE $1 OR t::text ILIKE $2"
            );
            let (count,): (i64,) = sqlx::query_as(&query)
                .bind(format!("%{text}%"))
                .bind(format!("%{hex}%"))
                .fetch_one(&mut connection)
                .await
                .expect("the table is searched");
            if count > 0 {
                holding.push(format!("{schema}.{table} ({text})"));
            }
        }
    }
    let _ = connection.close().await;
    holding
}
