//! Following identity: after a merge both timelines are one, after an unmerge each row
//! goes back to the customer its anchor resolves to, and an erased customer's rows are
//! deleted. Every step is idempotent, as `idic_runtime::follow` requires.

use std::sync::Arc;
use std::time::Duration;

use idic_runtime::follow::{FollowIdentity, Holding, IdentityChange};
use idic_runtime::peers::Peers;

use crate::resolve::lookup_uncached;
use crate::store::InteractionStore;
use idic_runtime::refs::CustomerSelector;

const LOOKUP_BUDGET: Duration = Duration::from_secs(5);

pub struct InteractionFollower {
    pub store: Arc<dyn InteractionStore>,
    pub peers: Peers,
}

#[async_trait::async_trait]
impl FollowIdentity for InteractionFollower {
    async fn apply(&self, change: &IdentityChange) -> anyhow::Result<()> {
        match change {
            IdentityChange::Merged { survivor, absorbed } => {
                self.store.merge(survivor, absorbed).await
            }
            IdentityChange::Split { customer_id, .. } => self.split(customer_id).await,
            IdentityChange::Erased { customer_id } => self.store.erase(customer_id).await,
        }
    }

    async fn holding(&self, customer_ids: &[&str]) -> anyhow::Result<Holding> {
        Ok(Holding::Only(
            self.store.customers_with_data(customer_ids).await?,
        ))
    }
}

impl InteractionFollower {
    /// Re-resolves each anchor of the customer's rows, uncached (the cache may not
    /// have seen the split yet), and moves the rows whose anchor now resolves elsewhere.
    async fn split(&self, customer_id: &str) -> anyhow::Result<()> {
        for anchor in self.store.anchors(customer_id).await? {
            let Some(selector) = CustomerSelector::from_anchor(&anchor) else {
                tracing::warn!("a stored anchor is malformed; its rows stay");
                continue;
            };
            let resolved = lookup_uncached(&self.peers, &selector, LOOKUP_BUDGET)
                .await
                .map_err(|error| anyhow::anyhow!("re-resolving an anchor: {error}"))?;
            if let Some(target) = resolved
                && target != customer_id
            {
                self.store
                    .move_anchor(customer_id, &anchor, &target)
                    .await?;
            }
        }
        Ok(())
    }
}
