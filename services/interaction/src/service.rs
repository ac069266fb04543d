//! The interaction service's core ([`Interactions`]): what the handlers, the bus
//! consumers, the Segment ingest and the context builder share, and the use cases that
//! record interactions for resolved customers. It knows no protobuf: the handler
//! converts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use idic_runtime::bus::EventBus;
use idic_runtime::peers::Peers;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::{ApiError, ApiResult, FieldViolation};
use tokio_util::sync::CancellationToken;

use crate::convert::Draft;
use crate::domain::{NewInteraction, ThreadRequest};
use crate::recorder::Recorder;
use crate::resolve::{Resolved, resolve_or_create};
use crate::store::{InteractionStore, WriteOutcome};

/// What the handlers share with the bus consumers and the Segment ingest.
pub struct Interactions {
    pub store: Arc<dyn InteractionStore>,
    pub peers: Peers,
    pub recorder: Recorder,
    pub bus: Arc<dyn EventBus>,
    pub shutdown: CancellationToken,
}

impl Interactions {
    /// Stores validated drafts whose customers are resolved; a thread of another
    /// customer is named by `field_of(index)`.
    pub async fn record_resolved(
        &self,
        items: Vec<NewInteraction>,
        field_of: impl Fn(usize) -> String,
    ) -> ApiResult<Vec<WriteOutcome>> {
        // Checked before writing, so that a bad thread id stores nothing.
        let mut violations = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if let ThreadRequest::Continue(thread_id) = &item.thread {
                let owner = self
                    .store
                    .thread(thread_id)
                    .await
                    .map_err(ApiError::internal)?;
                if owner.is_some_and(|thread| thread.customer_id != item.interaction.customer_id) {
                    violations.push(FieldViolation::new(
                        format!("{}thread_id", field_of(index)),
                        "belongs to another customer",
                    ));
                }
            }
        }
        if !violations.is_empty() {
            return Err(ApiError::InvalidArgument(violations));
        }
        let outcomes = self.recorder.record(items).await?;
        if let Some(index) = outcomes
            .iter()
            .position(|outcome| matches!(outcome, WriteOutcome::ThreadOfAnotherCustomer))
        {
            return Err(ApiError::invalid(
                format!("{}thread_id", field_of(index)),
                "belongs to another customer",
            ));
        }
        Ok(outcomes)
    }

    /// Resolves each draft's customer (once per distinct reference).
    pub async fn resolve_drafts(
        &self,
        drafts: Vec<Draft>,
        budget: Duration,
    ) -> ApiResult<(Vec<NewInteraction>, Vec<bool>)> {
        let mut resolved: HashMap<CustomerSelector, Resolved> = HashMap::new();
        let mut items = Vec::with_capacity(drafts.len());
        let mut created = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let customer = match resolved.get(&draft.selector) {
                Some(customer) => customer.clone(),
                None => {
                    let customer = resolve_or_create(&self.peers, &draft.selector, budget).await?;
                    resolved.insert(draft.selector.clone(), customer.clone());
                    customer
                }
            };
            created.push(customer.created);
            items.push(draft.for_customer(customer.customer_id, customer.anchor));
        }
        Ok((items, created))
    }
}
