//! Bus consumers: purchases from `differentiation.transactions` and offers from
//! `customization.offers` become interactions, each once (idempotency keys
//! `order:<order id>` and `offer:<offering id>:<kind>`), as consumer group
//! "interaction" so that each event reaches one replica. The events are read by the
//! bus adapter (`adapters::bus`); this module only runs the loop.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use idic_runtime::bus::Delivery;

use crate::adapters::bus::incoming_interaction;
use crate::service::Interactions;

pub use crate::adapters::bus::{OFFERS_TOPIC, TRANSACTIONS_TOPIC};

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
    let item = match incoming_interaction(topic, payload) {
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
