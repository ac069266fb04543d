//! The live feed: new interactions from the bus, filtered, until shutdown
//! (StreamTimeline for one customer, StreamInteractions by channel and type).

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use idic_runtime::bus::BusError;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::{ApiError, ApiResult};

use super::Interactions;
use crate::adapters::bus::{INTERACTIONS_TOPIC, read_interaction_event};
use crate::domain::{EventFilter, Interaction};

/// New interactions as they are recorded; an error when the bus breaks.
pub type InteractionFeed = Pin<Box<dyn Stream<Item = Result<Interaction, BusError>> + Send>>;

impl Interactions {
    /// StreamTimeline: the new interactions of the customer `selector` names.
    pub async fn customer_feed(
        &self,
        selector: &CustomerSelector,
        budget: Duration,
    ) -> ApiResult<InteractionFeed> {
        let customer_id = self.peers.resolve_customer(selector, budget).await?;
        self.feed(EventFilter {
            customer_id: Some(customer_id),
            ..EventFilter::default()
        })
        .await
    }

    /// StreamInteractions: the new interactions `filter` keeps.
    pub async fn feed(&self, filter: EventFilter) -> ApiResult<InteractionFeed> {
        let events = self
            .bus
            .subscribe(INTERACTIONS_TOPIC)
            .await
            .map_err(|error| ApiError::Unavailable {
                message: format!("the event bus is unavailable: {error}"),
                retry_after: Duration::from_secs(1),
            })?;
        let stream = events
            .filter_map(move |event| {
                let item = match event {
                    Ok(event) => match read_interaction_event(&event.payload) {
                        Ok(interaction) if filter.keeps(&interaction) => Some(Ok(interaction)),
                        Ok(_) => None,
                        Err(error) => {
                            tracing::warn!(%error, "skipping an unreadable interaction event");
                            None
                        }
                    },
                    Err(BusError::Lagged(missed)) => {
                        tracing::warn!(missed, "an interaction stream fell behind");
                        None
                    }
                    Err(error) => Some(Err(error)),
                };
                std::future::ready(item)
            })
            .take_until(self.shutdown.clone().cancelled_owned());
        Ok(Box::pin(stream))
    }
}
