//! Following identity's merges, splits and erasures from the event bus, so that the
//! services that key data by customer keep it with the right customer.
//!
//! Identity publishes each committed change on [`CHANGES_TOPIC`] as JSON
//! ([`IdentityChangeEvent`], defined with the contracts). A service
//! implements [`FollowIdentity`] and runs it with [`spawn_identity_follower`] as a
//! consumer group: each change reaches one replica of the service, and comes again
//! until that replica has applied it, so `apply` must be idempotent.
//!
//! Most changes concern customers a service holds nothing of: during a bulk import
//! identity merges tens of thousands of brand-new customers, none of whom has bought,
//! called or been offered anything yet. The follower takes the changes that are
//! waiting together, asks the service once which of their customers it holds data
//! for ([`FollowIdentity::holding`]), and applies only the changes that concern one
//! of those (or a customer an earlier change of the batch touched). Applying every
//! change one by one, each in its own transaction of several statements, took about
//! a third of the suite's CPU during an import.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;

use idic_proto::topics;

use crate::customers::lookup_uncached;
use crate::peers::Peers;
use crate::refs::CustomerSelector;
use crate::shared::ServiceContext;

pub use idic_proto::topics::{ChangeKind, IdentityChange, IdentityChangeEvent};

/// The event on [`CHANGES_TOPIC`], under the name identity's outbox knew it by.
pub type ChangePayload = IdentityChangeEvent;

/// The bus topic identity publishes its committed changes on.
pub const CHANGES_TOPIC: &str = topics::IDENTITY_CHANGES.name();

/// How long a follower waits before joining the group again after the bus failed.
const RETRY_AFTER_BUS_ERROR: Duration = Duration::from_secs(1);

/// How long a follower first waits before trying a change that failed to apply again.
const RETRY_AFTER_APPLY_ERROR: Duration = Duration::from_millis(100);

/// The longest pause between attempts at one change.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(10);

/// At most this many waiting changes are taken together.
const BATCH_LIMIT: usize = 256;

/// Which customers a service holds data for, as [`FollowIdentity::holding`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holding {
    /// The service cannot tell: every change is applied.
    Unknown,
    /// Of the customers asked about, these (and only these) have data in the service.
    Only(HashSet<String>),
}

/// What a service does when identity changes who is who.
#[async_trait::async_trait]
pub trait FollowIdentity: Send + Sync + 'static {
    /// Must be idempotent: a change can be delivered again after a crash.
    async fn apply(&self, change: &IdentityChange) -> anyhow::Result<()>;

    /// Which of `customer_ids` the service holds data for. A change that names none
    /// of them is acknowledged without [`apply`](Self::apply): there is nothing to
    /// move or delete. The default holds everything.
    async fn holding(&self, _customer_ids: &[&str]) -> anyhow::Result<Holding> {
        Ok(Holding::Unknown)
    }

    /// Sees every change, applied or not, before it is applied: for state that is not
    /// in the service's tables (cached answers about a customer).
    async fn observe(&self, _change: &IdentityChange) {}
}

/// Follows identity's changes as consumer group `group` until shutdown. A change whose
/// `apply` fails is tried again before any later one, so none is skipped or reordered.
pub fn spawn_identity_follower(
    ctx: &ServiceContext,
    group: &str,
    follower: Arc<dyn FollowIdentity>,
) -> tokio::task::JoinHandle<()> {
    let bus = ctx.bus.clone();
    let shutdown = ctx.shutdown.clone();
    let group = group.to_owned();
    let consumer = format!("{group}-{}", uuid::Uuid::new_v4().simple());
    tokio::spawn(async move {
        while !shutdown.is_cancelled() {
            let deliveries = match bus.subscribe_group(CHANGES_TOPIC, &group, &consumer).await {
                Ok(deliveries) => deliveries,
                Err(error) => {
                    tracing::warn!(%error, group, "joining identity's change stream failed");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(RETRY_AFTER_BUS_ERROR) => continue,
                    }
                }
            };
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return,
                outcome = follow(deliveries, follower.as_ref(), &group) => outcome,
            };
            if let Err(error) = outcome {
                tracing::warn!(%error, group, "identity's change stream broke; joining again");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(RETRY_AFTER_BUS_ERROR) => {}
                }
            }
        }
    })
}

/// Applies the deliveries in order, taking those waiting together; returns when the
/// stream ends or fails.
async fn follow(
    deliveries: crate::bus::DeliveryStream,
    follower: &dyn FollowIdentity,
    group: &str,
) -> Result<(), crate::bus::BusError> {
    let mut batches = deliveries.ready_chunks(BATCH_LIMIT);
    while let Some(batch) = batches.next().await {
        let mut changes = Vec::with_capacity(batch.len());
        let mut broken = None;
        for delivery in batch {
            let delivery = match delivery {
                Ok(delivery) => delivery,
                Err(error) => {
                    // The ones before it are still applied; the rest come again.
                    broken = Some(error);
                    break;
                }
            };
            match IdentityChange::from_payload(&delivery.event.payload) {
                Ok(change) => changes.push((delivery, change)),
                Err(error) => {
                    // A payload no version of identity could have written: acknowledge
                    // it so that it does not block every later change.
                    tracing::error!(%error, event_id = delivery.event.id, group, "skipping an unreadable identity change");
                    delivery.ack().await?;
                }
            }
        }
        apply_batch(changes, follower, group).await?;
        if let Some(error) = broken {
            return Err(error);
        }
    }
    Ok(())
}

/// Applies, in order, the changes of one batch that concern a customer the service
/// holds data for, and acknowledges every change.
async fn apply_batch(
    changes: Vec<(crate::bus::Delivery, IdentityChange)>,
    follower: &dyn FollowIdentity,
    group: &str,
) -> Result<(), crate::bus::BusError> {
    if changes.is_empty() {
        return Ok(());
    }
    let named: Vec<&str> = changes
        .iter()
        .flat_map(|(_, change)| change.customer_ids())
        .collect();
    let mut held = holding_until_known(follower, &named, group).await;
    for (delivery, change) in changes {
        follower.observe(&change).await;
        let concerned = match &mut held {
            Holding::Unknown => true,
            Holding::Only(held) => {
                let concerned = change.customer_ids().iter().any(|id| held.contains(*id));
                if concerned {
                    // The change may have given data to its other customers (the
                    // survivor of a merge): later changes naming them apply too.
                    held.extend(change.customer_ids().into_iter().map(str::to_owned));
                }
                concerned
            }
        };
        if concerned {
            apply_until_done(follower, &change, &delivery.event.id, group).await;
        }
        delivery.ack().await?;
    }
    Ok(())
}

/// Asks the service which customers it holds, again and again while that fails: the
/// changes wait, as they do for a failing `apply`.
async fn holding_until_known(
    follower: &dyn FollowIdentity,
    customer_ids: &[&str],
    group: &str,
) -> Holding {
    let mut pause = RETRY_AFTER_APPLY_ERROR;
    loop {
        match follower.holding(customer_ids).await {
            Ok(holding) => return holding,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    group,
                    "asking which customers the service holds failed; trying again"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
        }
    }
}

/// Applies `change`, again and again with a growing pause while it fails: later
/// changes wait, since they may depend on this one (a split after a merge). Shutdown
/// interrupts it (the caller selects on it), leaving the change unacknowledged.
async fn apply_until_done(
    follower: &dyn FollowIdentity,
    change: &IdentityChange,
    event_id: &str,
    group: &str,
) {
    let mut pause = RETRY_AFTER_APPLY_ERROR;
    loop {
        match follower.apply(change).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    event_id,
                    group,
                    "applying an identity change failed; trying again"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
        }
    }
}

/// The split of a customer, for a service whose rows carry the anchor they were recorded
/// under: each distinct anchor of `customer_id`'s rows is resolved again, uncached (the
/// resolve cache may not have seen the split yet), and `move_anchor(anchor, target)`
/// moves the rows of an anchor that now resolves to another customer. An anchor identity
/// no longer knows, or a malformed one, stays where it is. Returns the customers that
/// received rows. Idempotent: a second run finds nothing left to move.
pub async fn split_by_anchor<Move, Moved>(
    peers: &Peers,
    customer_id: &str,
    anchors: Vec<String>,
    budget: Duration,
    mut move_anchor: Move,
) -> anyhow::Result<Vec<String>>
where
    Move: FnMut(String, String) -> Moved,
    Moved: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut targets = Vec::new();
    for anchor in anchors {
        let Some(selector) = CustomerSelector::from_anchor(&anchor) else {
            tracing::warn!("a stored anchor is malformed; its rows stay");
            continue;
        };
        let resolved = lookup_uncached(peers, &selector, budget)
            .await
            .map_err(|error| anyhow::anyhow!("re-resolving an anchor after a split: {error}"))?;
        if let Some(target) = resolved
            && target != customer_id
        {
            move_anchor(anchor, target.clone()).await?;
            targets.push(target);
        }
    }
    Ok(targets)
}
