//! Bus consumers: purchases from `differentiation.transactions` and offers from
//! `customization.offers` become interactions, each once (idempotency keys
//! `order:<order id>` and `offer:<offering id>:<kind>`), as consumer group
//! "interaction" so that each event reaches one replica.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use idic_proto::v1 as pb;
use idic_runtime::bus::Delivery;
use idic_runtime::money::format_money;
use idic_runtime::storage::{micros_from_timestamp, now_micros};
use prost::Message as _;

use crate::convert::new_id;
use crate::domain::{Interaction, NewInteraction, ThreadRequest, is_automated};
use crate::service::Interactions;

pub const TRANSACTIONS_TOPIC: &str = idic_proto::topics::TRANSACTIONS.name();
pub const OFFERS_TOPIC: &str = idic_proto::topics::OFFERS.name();
const GROUP: &str = "interaction";
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Starts both consumers; they run until shutdown.
pub fn spawn(core: Arc<Interactions>) {
    for topic in [TRANSACTIONS_TOPIC, OFFERS_TOPIC] {
        tokio::spawn(consume(core.clone(), topic));
    }
}

async fn consume(core: Arc<Interactions>, topic: &'static str) {
    let consumer = format!("{GROUP}-{}", uuid::Uuid::new_v4().simple());
    let shutdown = core.shutdown.clone();
    while !shutdown.is_cancelled() {
        let mut deliveries = match core.bus.subscribe_group(topic, GROUP, &consumer).await {
            Ok(deliveries) => deliveries,
            Err(error) => {
                tracing::warn!(%error, topic, "joining a bus topic failed");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(RETRY_AFTER) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = deliveries.next() => next,
            };
            match next {
                None => break,
                Some(Err(error)) => {
                    tracing::warn!(%error, topic, "a bus topic broke; joining again");
                    break;
                }
                Some(Ok(delivery)) => handle(&core, topic, delivery).await,
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RETRY_AFTER) => {}
        }
    }
}

/// Records the event's interaction and acknowledges it. A failure to store (the
/// database restarting) is retried here every second until it succeeds, so the
/// timeline catches up as soon as the database is back; at shutdown the event stays
/// unacknowledged and the bus delivers it again.
async fn handle(core: &Interactions, topic: &str, delivery: Delivery) {
    let payload = delivery.event.payload.as_slice();
    let item = match topic {
        TRANSACTIONS_TOPIC => pb::TransactionEvent::decode(payload).map(|event| purchase(&event)),
        _ => pb::OfferEvent::decode(payload).map(|event| offer(&event)),
    };
    let item = match item {
        Ok(item) => item,
        Err(error) => {
            tracing::error!(%error, topic, event_id = delivery.event.id, "skipping an unreadable event");
            let _ = delivery.ack().await;
            return;
        }
    };
    if let Some(item) = item {
        while let Err(error) = core.recorder.record(vec![item.clone()]).await {
            tracing::warn!(%error, topic, "recording an event failed; retrying");
            tokio::select! {
                () = core.shutdown.cancelled() => return,
                () = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
    }
    if let Err(error) = delivery.ack().await {
        tracing::warn!(%error, topic, "acknowledging an event failed");
    }
}

fn base(
    customer_id: &str,
    idempotency_key: String,
    channel: i32,
    kind: i32,
    at: Option<&prost_types::Timestamp>,
) -> Interaction {
    let now = now_micros();
    Interaction {
        interaction_id: new_id("int"),
        idempotency_key,
        customer_id: customer_id.to_owned(),
        anchor: format!("id:{customer_id}"),
        channel,
        kind,
        direction: pb::Direction::Inbound as i32,
        occurred_at_micros: at.map_or(now, micros_from_timestamp),
        recorded_at_micros: now,
        thread_id: String::new(),
        thread_status: 0,
        topic: String::new(),
        summary: String::new(),
        needs: Vec::new(),
        outcome: String::new(),
        sentiment: 0,
        agent: String::new(),
        cost: None,
        automated: false,
    }
}

/// A purchase as a PURCHASE interaction; returns and refunds are not contacts here.
pub fn purchase(event: &pb::TransactionEvent) -> Option<NewInteraction> {
    if event.kind != pb::TransactionKind::Purchase as i32
        || event.customer_id.is_empty()
        || event.order_id.is_empty()
    {
        return None;
    }
    let mut interaction = base(
        &event.customer_id,
        format!("order:{}", event.order_id),
        event.channel,
        pb::InteractionType::Purchase as i32,
        event.occurred_at.as_ref(),
    );
    let categories: Vec<&str> = event
        .lines
        .iter()
        .map(|line| line.category.as_str())
        .filter(|c| !c.is_empty())
        .collect();
    interaction.topic = "purchase".to_owned();
    let amount = event
        .amount
        .as_ref()
        .map(|money| format!(" for {}", format_money(money.minor_units, &money.currency)))
        .unwrap_or_default();
    interaction.summary = format!(
        "order {}: {} line(s){amount}{}",
        event.order_id,
        event.lines.len(),
        if categories.is_empty() {
            String::new()
        } else {
            format!(" in {}", categories.join(", "))
        }
    );
    interaction.outcome = "sale".to_owned();
    interaction.automated = is_automated(false, event.channel, "");
    Some(NewInteraction {
        interaction,
        thread: ThreadRequest::None,
        requested_status: 0,
    })
}

/// An offer presented, accepted or rejected, as an OFFER_* interaction.
pub fn offer(event: &pb::OfferEvent) -> Option<NewInteraction> {
    let (kind, direction, name) = match pb::OfferEventKind::try_from(event.kind).ok()? {
        pb::OfferEventKind::Presented => (
            pb::InteractionType::OfferPresented,
            pb::Direction::Outbound,
            "presented",
        ),
        pb::OfferEventKind::Accepted => (
            pb::InteractionType::OfferAccepted,
            pb::Direction::Inbound,
            "accepted",
        ),
        pb::OfferEventKind::Rejected => (
            pb::InteractionType::OfferRejected,
            pb::Direction::Inbound,
            "rejected",
        ),
        pb::OfferEventKind::Unspecified => return None,
    };
    if event.customer_id.is_empty() || event.offering_id.is_empty() {
        return None;
    }
    let mut interaction = base(
        &event.customer_id,
        format!("offer:{}:{name}", event.offering_id),
        event.channel,
        kind as i32,
        event.occurred_at.as_ref(),
    );
    interaction.direction = direction as i32;
    interaction.topic = "offer".to_owned();
    interaction.summary = format!(
        "offering {} {name}: {}",
        event.offering_id,
        event
            .choices
            .iter()
            .map(|choice| {
                let slot = pb::Slot::try_from(choice.slot)
                    .map(|slot| {
                        slot.as_str_name()
                            .trim_start_matches("SLOT_")
                            .to_lowercase()
                    })
                    .unwrap_or_default();
                format!("{slot}={}", choice.component_id)
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    interaction.outcome = name.to_owned();
    interaction.automated = true;
    Some(NewInteraction {
        interaction,
        thread: ThreadRequest::None,
        requested_status: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(minor_units: i64, currency: &str) -> pb::TransactionEvent {
        pb::TransactionEvent {
            customer_id: "cus_1".to_owned(),
            order_id: "ord-00756".to_owned(),
            kind: pb::TransactionKind::Purchase as i32,
            amount: Some(pb::Money {
                currency: currency.to_owned(),
                minor_units,
            }),
            lines: vec![pb::OrderLine::default()],
            ..Default::default()
        }
    }

    fn summary(event: &pb::TransactionEvent) -> String {
        purchase(event).expect("a purchase").interaction.summary
    }

    #[test]
    fn purchase_summaries_print_amounts_in_the_major_unit() {
        assert_eq!(
            summary(&order(3499, "EUR")),
            "order ord-00756: 1 line(s) for 34.99 EUR"
        );
        assert_eq!(
            summary(&order(3499, "JPY")),
            "order ord-00756: 1 line(s) for 3499 JPY"
        );
        assert_eq!(
            summary(&order(34990, "KWD")),
            "order ord-00756: 1 line(s) for 34.990 KWD"
        );
    }
}
