//! What differentiation follows on the event bus: identity's merges, splits and
//! erasures (value moves with the customer) and the interaction service's expressed
//! needs and preferences (they feed needs profiles).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use idic_proto::v1 as pb;
use idic_runtime::ServiceContext;
use idic_runtime::follow::{FollowIdentity, Holding, IdentityChange, split_by_anchor};
use idic_runtime::peers::Peers;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::micros_from_timestamp;
use prost::Message as _;

use crate::domain::Preference;
use crate::refit::ValueSettings;
use crate::rescore::rescore_customers;
use crate::store::DifferentiationStore;

/// The topic the interaction service publishes recorded interactions on.
pub const INTERACTIONS_TOPIC: &str = idic_proto::topics::INTERACTIONS.name();
/// The consumer group differentiation reads its topics as.
pub const GROUP: &str = "differentiation";
const RESOLVE_BUDGET: Duration = Duration::from_secs(5);

/// Keeps transactions with the right customer as identity changes who is who.
///
/// Merged: the absorbed customers' transactions and preferences move to the survivor.
/// Split: each distinct anchor of the customer's transactions is resolved again and
/// the transactions whose anchor now resolves to another customer move there.
/// Erased: the customer's transactions, order lines, preferences and scores are
/// deleted (not anonymized: aggregate figures are recomputed at the next refit).
/// After a merge or a split the customers involved are rescored with the current
/// model, so their value is right before the next refit.
pub struct IdentityFollower {
    pub store: Arc<dyn DifferentiationStore>,
    pub peers: Peers,
    pub settings: ValueSettings,
    /// The refit lock: a refit replaces every score, so a rescore must not interleave
    /// with one.
    pub refit_lock: Arc<tokio::sync::Mutex<()>>,
}

#[async_trait::async_trait]
impl FollowIdentity for IdentityFollower {
    async fn apply(&self, change: &IdentityChange) -> anyhow::Result<()> {
        let _refit = self.refit_lock.lock().await;
        match change {
            IdentityChange::Merged { survivor, absorbed } => {
                self.store.reassign_customers(absorbed, survivor).await?;
                rescore_customers(
                    self.store.as_ref(),
                    &self.settings,
                    std::slice::from_ref(survivor),
                )
                .await
            }
            IdentityChange::Split {
                customer_id,
                new_customer_ids,
            } => {
                let mut touched = self.split(customer_id).await?;
                touched.push(customer_id.clone());
                touched.extend(new_customer_ids.iter().cloned());
                touched.sort();
                touched.dedup();
                rescore_customers(self.store.as_ref(), &self.settings, &touched).await
            }
            IdentityChange::Erased { customer_id } => self.store.erase_customer(customer_id).await,
        }
    }

    async fn holding(&self, customer_ids: &[&str]) -> anyhow::Result<Holding> {
        Ok(Holding::Only(
            self.store.customers_with_data(customer_ids).await?,
        ))
    }
}

impl IdentityFollower {
    /// Moves each of the customer's transactions whose anchor now resolves to another
    /// customer there; returns those customers.
    async fn split(&self, customer_id: &str) -> anyhow::Result<Vec<String>> {
        let anchors = self.store.anchors(customer_id).await?;
        let store = &self.store;
        split_by_anchor(
            &self.peers,
            customer_id,
            anchors,
            RESOLVE_BUDGET,
            |anchor, target| async move {
                store.move_anchor(customer_id, &anchor, &target).await?;
                Ok(())
            },
        )
        .await
    }
}

/// Stores the needs and preferences of each recorded interaction, as consumer group
/// [`GROUP`]; idempotent by (interaction id, key).
pub fn spawn_interaction_listener(
    context: &ServiceContext,
    store: Arc<dyn DifferentiationStore>,
) -> tokio::task::JoinHandle<()> {
    let bus = context.bus.clone();
    let shutdown = context.shutdown.clone();
    let consumer = format!("{GROUP}-{}", uuid::Uuid::new_v4().simple());
    tokio::spawn(async move {
        while !shutdown.is_cancelled() {
            let mut deliveries = match bus
                .subscribe_group(INTERACTIONS_TOPIC, GROUP, &consumer)
                .await
            {
                Ok(deliveries) => deliveries,
                Err(error) => {
                    tracing::warn!(%error, "joining the interaction stream failed");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return,
                    next = deliveries.next() => next,
                };
                let Some(Ok(delivery)) = next else { break };
                let preferences = match pb::InteractionEvent::decode(
                    delivery.event.payload.as_slice(),
                ) {
                    Ok(event) => preferences_of(&event),
                    Err(error) => {
                        tracing::error!(%error, event_id = delivery.event.id, "skipping an unreadable interaction event");
                        Vec::new()
                    }
                };
                let mut stored = true;
                for preference in &preferences {
                    if let Err(error) = store.insert_preference(preference).await {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "storing an expressed preference failed"
                        );
                        stored = false;
                        break;
                    }
                }
                if !stored {
                    // Unacknowledged: delivered again.
                    drop(delivery);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                if let Err(error) = delivery.ack().await {
                    tracing::warn!(%error, "acknowledging an interaction event failed");
                    break;
                }
            }
        }
    })
}

/// The preferences an interaction event carries.
pub fn preferences_of(event: &pb::InteractionEvent) -> Vec<Preference> {
    let interaction_id = event
        .interaction
        .as_ref()
        .map(|i| i.interaction_id.clone())
        .unwrap_or_default();
    if interaction_id.is_empty() || event.customer_id.is_empty() {
        return Vec::new();
    }
    let expressed_at = event.occurred_at.as_ref().map_or(0, micros_from_timestamp);
    // The interaction service's anchor (one format across the suite: what a split
    // resolves again); empty when the event carries none or a malformed one.
    let anchor = CustomerSelector::from_anchor(&event.anchor)
        .map(|selector| selector.anchor())
        .unwrap_or_default();
    event
        .needs
        .iter()
        .filter(|need| !need.key.is_empty())
        .map(|need| Preference {
            interaction_id: interaction_id.clone(),
            key: need.key.clone(),
            customer_id: event.customer_id.clone(),
            anchor: anchor.clone(),
            value: need.value.clone(),
            channel: event.channel,
            expressed_at_micros: expressed_at,
        })
        .collect()
}
