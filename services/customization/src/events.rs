//! What customization announces on the event bus: offers presented and their outcomes,
//! on [`idic_proto::topics::OFFERS`], in their contract form.

use idic_runtime::bus::EventBus;
use prost::Message as _;

use crate::convert::offer_event_to_proto;
use crate::domain::OfferEvent;

/// The bus topic offers and their outcomes are published on.
pub const OFFERS_TOPIC: &str = idic_proto::topics::OFFERS.name();

/// Publishes `event`. The offering is stored already: a lost event costs the timeline
/// an entry, not the caller its answer, so a failure is logged, not returned.
pub async fn publish_offer_event(bus: &dyn EventBus, event: &OfferEvent) {
    let encoded = offer_event_to_proto(event).encode_to_vec();
    if let Err(error) = bus.publish(OFFERS_TOPIC, &encoded).await {
        tracing::warn!(%error, offering_id = event.offering_id, "publishing an offer event failed");
    }
}
