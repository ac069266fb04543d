//! GetContext: what the agent's screen shows when a customer calls. Identity (who),
//! differentiation (value) and this service's store are asked at the same time, each
//! peer within its own deadline; a peer that fails or is late leaves its part empty
//! and is named in `degraded`, so the screen still opens.

use std::time::Duration;

use idic_runtime::delegation::caller_may;
use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult};

use super::Interactions;
use crate::adapters::{PeerPart, differentiation, identity};
use crate::domain::{
    ContextQuery, CustomerContext, Thread, current_consents, kind, latest_preferences,
    suggest_next_step,
};

/// The most a peer may take; the screen must open even when a peer hangs.
const PEER_BUDGET: Duration = Duration::from_millis(300);

/// The scopes the peers' parts of a context need from the caller's key: each part is
/// another service's data, which a key without that service's read scope must not see.
const IDENTITY_PART_SCOPE: &str = "identity:read";
const VALUE_PART_SCOPE: &str = "differentiation:read";

/// A peer's part of the context: its answer, or why there is none.
enum Part<T> {
    Asked(PeerPart<T>),
    /// Not asked: the caller's key lacks the scope the part needs.
    Withheld,
}

impl Interactions {
    /// GetContext: the context of the customer `query` names.
    pub async fn context(
        &self,
        query: &ContextQuery,
        caller_budget: Duration,
    ) -> ApiResult<CustomerContext> {
        let customer_id = self
            .peers
            .resolve_customer(&query.selector, caller_budget)
            .await?;
        let budget = caller_budget.min(PEER_BUDGET);
        let who = async {
            if !caller_may(IDENTITY_PART_SCOPE) {
                return Part::Withheld;
            }
            Part::Asked(identity::customer_summary(&self.peers, &customer_id, budget).await)
        };
        let worth = async {
            if !caller_may(VALUE_PART_SCOPE) {
                return Part::Withheld;
            }
            Part::Asked(differentiation::value_summary(&self.peers, &customer_id, budget).await)
        };
        let (who, worth, stored) = tokio::join!(
            who,
            worth,
            self.store.context(&customer_id, query.recent_limit),
        );
        let stored = stored.map_err(ApiError::internal)?;
        let mut degraded = Vec::new();
        let mut withheld = Vec::new();
        let customer = take_part(
            who,
            "identity",
            IDENTITY_PART_SCOPE,
            &mut degraded,
            &mut withheld,
        );
        let value = take_part(
            worth,
            "differentiation",
            VALUE_PART_SCOPE,
            &mut degraded,
            &mut withheld,
        );
        let active: Vec<Thread> = stored
            .active_threads
            .iter()
            .map(|(thread, _)| thread.clone())
            .collect();
        let next_step = suggest_next_step(&active, &stored.recent, now_micros(), kind::name);
        Ok(CustomerContext {
            customer_id,
            customer,
            value,
            recent: stored.recent,
            open_threads: stored.active_threads,
            preferences: latest_preferences(stored.preferences),
            consents: current_consents(stored.consents),
            next_step,
            degraded,
            withheld,
            interaction_count: stored.interaction_count,
            organizations: stored.organizations,
        })
    }
}

/// The part itself, or None with the peer named in `degraded` (it failed) or the scope
/// in `withheld` (the caller may not see it).
fn take_part<T>(
    part: Part<T>,
    peer: &str,
    scope: &str,
    degraded: &mut Vec<String>,
    withheld: &mut Vec<String>,
) -> Option<T> {
    match part {
        Part::Asked(PeerPart::Found(found)) => Some(found),
        Part::Asked(PeerPart::Nothing) => None,
        Part::Asked(PeerPart::Failed) => {
            degraded.push(peer.to_owned());
            None
        }
        Part::Withheld => {
            withheld.push(scope.to_owned());
            None
        }
    }
}
