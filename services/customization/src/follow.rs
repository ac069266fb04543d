//! Keeps customization's rows with the right customer as identity merges, splits and
//! erases customers, and marks cached dependency answers about them stale.

use std::sync::Arc;
use std::time::Duration;

use idic_runtime::follow::{FollowIdentity, Holding, IdentityChange, split_by_anchor};
use idic_runtime::peers::Peers;

use crate::deps::Dependencies;
use crate::store::CustomizationStore;

/// How long re-resolving one anchor after a split may take (uncached: the resolve
/// cache may not have seen the split yet).
const RESOLVE_BUDGET: Duration = Duration::from_secs(2);

pub struct Follower {
    pub store: Arc<dyn CustomizationStore>,
    pub deps: Arc<Dependencies>,
    pub peers: Peers,
}

#[async_trait::async_trait]
impl FollowIdentity for Follower {
    async fn observe(&self, change: &IdentityChange) {
        self.deps.invalidate(&change.customer_ids()).await;
    }

    async fn holding(&self, customer_ids: &[&str]) -> anyhow::Result<Holding> {
        Ok(Holding::Only(
            self.store.subjects_with_data(customer_ids).await?,
        ))
    }

    async fn apply(&self, change: &IdentityChange) -> anyhow::Result<()> {
        match change {
            IdentityChange::Merged { survivor, absorbed } => {
                self.store.merge_subjects(survivor, absorbed).await?;
            }
            IdentityChange::Split { customer_id, .. } => {
                let anchors = self.store.anchors(customer_id).await?;
                let store = &self.store;
                split_by_anchor(
                    &self.peers,
                    customer_id,
                    anchors,
                    RESOLVE_BUDGET,
                    |anchor, target| async move {
                        store.move_anchor(customer_id, &anchor, &target).await
                    },
                )
                .await?;
            }
            IdentityChange::Erased { customer_id } => {
                self.store.erase_subject(customer_id).await?;
            }
        }
        Ok(())
    }
}
