//! Purchases from differentiation and offers from customization arrive over the bus and
//! land on the timeline once each, however often they are delivered; every new
//! interaction is published on `interaction.interactions`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use idic_interaction::domain::TimelineFilter;
use idic_interaction::store::{InteractionStore, MIGRATIONS, SqlInteractionStore};
use idic_interaction::{INTERACTIONS_TOPIC, OFFERS_TOPIC, TRANSACTIONS_TOPIC};
use idic_proto::v1 as pb;
use idic_runtime::{Config, ServiceContext, ServiceName};
use prost::Message as _;

fn purchase(order_id: &str, kind: pb::TransactionKind) -> Vec<u8> {
    pb::TransactionEvent {
        customer_id: "cus_buyer".into(),
        order_id: order_id.into(),
        kind: kind as i32,
        occurred_at: Some(prost_types::Timestamp {
            seconds: 1_772_442_000,
            nanos: 0,
        }),
        amount: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: 4_990,
        }),
        lines: vec![pb::OrderLine {
            product: "boots".into(),
            category: "shoes".into(),
            quantity: 1,
            amount: None,
        }],
        channel: pb::Channel::Web as i32,
        ..Default::default()
    }
    .encode_to_vec()
}

fn offer(kind: pb::OfferEventKind) -> Vec<u8> {
    pb::OfferEvent {
        offering_id: "off_1".into(),
        customer_id: "cus_buyer".into(),
        kind: kind as i32,
        channel: pb::Channel::Email as i32,
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test]
async fn purchases_and_offers_enter_the_timeline_once() {
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data_dir.path().to_path_buf(),
        ..Config::default()
    };
    let context = ServiceContext::connect(Arc::new(config.clone()), None)
        .await
        .unwrap();
    let mut published = context.bus.subscribe(INTERACTIONS_TOPIC).await.unwrap();
    let _registration = idic_interaction::build(&context).await.unwrap();
    // The consumers join their group asynchronously; give them a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bus = &context.bus;
    bus.publish(
        TRANSACTIONS_TOPIC,
        &purchase("o-1", pb::TransactionKind::Purchase),
    )
    .await
    .unwrap();
    // Delivered again (a publisher retry): no second interaction.
    bus.publish(
        TRANSACTIONS_TOPIC,
        &purchase("o-1", pb::TransactionKind::Purchase),
    )
    .await
    .unwrap();
    // Returns are not contacts.
    bus.publish(
        TRANSACTIONS_TOPIC,
        &purchase("o-1", pb::TransactionKind::Return),
    )
    .await
    .unwrap();
    for kind in [
        pb::OfferEventKind::Presented,
        pb::OfferEventKind::Accepted,
        pb::OfferEventKind::Accepted,
    ] {
        bus.publish(OFFERS_TOPIC, &offer(kind)).await.unwrap();
    }
    bus.publish(OFFERS_TOPIC, b"not protobuf at all")
        .await
        .unwrap();

    let database = idic_runtime::storage::connect(&config, ServiceName::Interaction, &MIGRATIONS)
        .await
        .unwrap();
    let store = SqlInteractionStore::new(database);
    for _ in 0..100 {
        let timeline = store
            .timeline("cus_buyer", &TimelineFilter::default(), None, 10)
            .await
            .unwrap();
        if timeline.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Long enough for a wrongly duplicated delivery to show up too.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let timeline = store
        .timeline("cus_buyer", &TimelineFilter::default(), None, 10)
        .await
        .unwrap();
    let mut kinds: Vec<i32> = timeline.iter().map(|item| item.kind).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            pb::InteractionType::Purchase as i32,
            pb::InteractionType::OfferPresented as i32,
            pb::InteractionType::OfferAccepted as i32,
        ]
    );
    let order = timeline
        .iter()
        .find(|item| item.kind == pb::InteractionType::Purchase as i32)
        .unwrap();
    assert_eq!(order.idempotency_key, "order:o-1");
    assert!(order.summary.contains("shoes"));

    let mut events = Vec::new();
    while events.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), published.next())
            .await
            .expect("each new interaction is published")
            .unwrap()
            .unwrap();
        events.push(pb::InteractionEvent::decode(event.payload.as_slice()).unwrap());
    }
    assert!(events.iter().all(|event| event.customer_id == "cus_buyer"));
    context.shutdown.cancel();
}
