//! Recording interactions: each draft's customer resolved (created in identity when
//! an identifier is new), threads checked, then written by the recorder.

use std::collections::HashMap;
use std::time::Duration;

use idic_runtime::refs::CustomerSelector;
use idic_runtime::{ApiError, ApiResult, FieldViolation};

use super::Interactions;
use crate::domain::{Draft, NewInteraction, ThreadRequest};
use crate::resolve::{Resolved, resolve_or_create};
use crate::store::WriteOutcome;

/// One recorded draft: what the writer did, and whether identity created the customer.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub outcome: WriteOutcome,
    pub customer_created: bool,
}

impl Interactions {
    /// RecordInteraction(s): resolves the drafts' customers and stores them, in order;
    /// a thread of another customer is named by `field_of(index)`.
    pub async fn record(
        &self,
        drafts: Vec<Draft>,
        field_of: impl Fn(usize) -> String,
        budget: Duration,
    ) -> ApiResult<Vec<Recorded>> {
        let (items, created) = self.resolve_drafts(drafts, budget).await?;
        let outcomes = self.record_resolved(items, field_of).await?;
        if outcomes.len() != created.len() {
            return Err(ApiError::internal(anyhow::anyhow!(
                "the writer answered {} outcomes for {} interactions",
                outcomes.len(),
                created.len()
            )));
        }
        Ok(outcomes
            .into_iter()
            .zip(created)
            .map(|(outcome, customer_created)| Recorded {
                outcome,
                customer_created,
            })
            .collect())
    }

    /// Stores validated drafts whose customers are resolved; a thread of another
    /// customer is named by `field_of(index)`.
    async fn record_resolved(
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
    async fn resolve_drafts(
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
