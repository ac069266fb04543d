//! The bus adapter: the events interaction reads and writes, in their contract form
//! (protobuf, on the topics of `idic_proto::topics`), turned into domain values and
//! back. Orders from differentiation and offer outcomes from customization become
//! interactions; each new interaction is announced as an `InteractionEvent`.

use idic_proto::v1 as pb;
use idic_runtime::money::format_money;
use idic_runtime::storage::{micros_from_timestamp, now_micros};
use prost::Message as _;

use crate::convert::messages::event_of;
use crate::domain::{Cost, Interaction, NewInteraction, ThreadRequest, is_automated, new_id};

/// The bus topic every new interaction is published on (InteractionEvent, as
/// [`interaction_event`] encodes it).
pub const INTERACTIONS_TOPIC: &str = idic_proto::topics::INTERACTIONS.name();
/// Differentiation's transactions, whose purchases become interactions.
pub const TRANSACTIONS_TOPIC: &str = idic_proto::topics::TRANSACTIONS.name();
/// Customization's offer events, which become interactions.
pub const OFFERS_TOPIC: &str = idic_proto::topics::OFFERS.name();

/// The payload announcing a recorded interaction on [`INTERACTIONS_TOPIC`].
pub fn interaction_event(interaction: &Interaction) -> Vec<u8> {
    event_of(interaction).encode_to_vec()
}

/// The interaction an [`INTERACTIONS_TOPIC`] payload announces, anchor included.
pub fn read_interaction_event(payload: &[u8]) -> Result<Interaction, String> {
    let event = pb::InteractionEvent::decode(payload).map_err(|error| error.to_string())?;
    let message = event
        .interaction
        .ok_or_else(|| "the event carries no interaction".to_owned())?;
    Ok(interaction_from_proto(message, event.anchor))
}

/// The inverse of `convert::messages::interaction_to_proto`.
fn interaction_from_proto(message: pb::Interaction, anchor: String) -> Interaction {
    Interaction {
        interaction_id: message.interaction_id,
        idempotency_key: message.idempotency_key,
        customer_id: message.customer_id,
        anchor,
        channel: message.channel,
        kind: message.r#type,
        direction: message.direction,
        occurred_at_micros: message
            .occurred_at
            .as_ref()
            .map_or(0, micros_from_timestamp),
        recorded_at_micros: message
            .recorded_at
            .as_ref()
            .map_or(0, micros_from_timestamp),
        thread_id: message.thread_id,
        thread_status: message.thread_status,
        topic: message.topic,
        summary: message.summary,
        needs: message
            .needs
            .into_iter()
            .map(|need| (need.key, need.value))
            .collect(),
        outcome: message.outcome,
        sentiment: message.sentiment,
        agent: message.agent,
        cost: message.cost.map(|money| Cost {
            currency: money.currency,
            minor_units: money.minor_units,
        }),
        automated: message.automated,
    }
}

/// The interaction an event of `topic` (transactions or offers) describes; None for
/// one that describes no contact (a refund, an event without customer); an error for
/// a payload that cannot be read.
pub fn incoming_interaction(
    topic: &str,
    payload: &[u8],
) -> Result<Option<NewInteraction>, prost::DecodeError> {
    match topic {
        TRANSACTIONS_TOPIC => pb::TransactionEvent::decode(payload).map(|event| purchase(&event)),
        _ => pb::OfferEvent::decode(payload).map(|event| offer(&event)),
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
fn purchase(event: &pb::TransactionEvent) -> Option<NewInteraction> {
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
fn offer(event: &pb::OfferEvent) -> Option<NewInteraction> {
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

    #[test]
    fn an_announced_interaction_reads_back_whole() {
        let mut interaction = purchase(&order(3499, "EUR")).unwrap().interaction;
        interaction.anchor = "EMAIL:ada@example.com".to_owned();
        interaction.needs = vec![("delivery".to_owned(), "evenings".to_owned())];
        interaction.cost = Some(Cost {
            currency: "EUR".to_owned(),
            minor_units: 250,
        });
        interaction.thread_id = "thr_1".to_owned();
        interaction.thread_status = 1;
        let read = read_interaction_event(&interaction_event(&interaction)).unwrap();
        assert_eq!(read, interaction);
        assert!(read_interaction_event(b"\xff\xff").is_err());
    }
}
