//! Following identity: after a merge both timelines are one, after an unmerge each row
//! goes back to the customer its anchor resolves to, and an erased customer's rows are
//! deleted. Every step is idempotent, as `idic_runtime::follow` requires.

use std::sync::Arc;
use std::time::Duration;

use idic_runtime::follow::{FollowIdentity, Holding, IdentityChange, split_by_anchor};
use idic_runtime::peers::Peers;

use crate::store::InteractionStore;

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
    /// Moves the rows whose anchor now resolves to another customer there.
    async fn split(&self, customer_id: &str) -> anyhow::Result<()> {
        let anchors = self.store.anchors(customer_id).await?;
        let store = &self.store;
        split_by_anchor(
            &self.peers,
            customer_id,
            anchors,
            LOOKUP_BUDGET,
            |anchor, target| async move { store.move_anchor(customer_id, &anchor, &target).await },
        )
        .await?;
        Ok(())
    }
}
