//! "Why did we offer this?": a stored offering with its inputs and outcomes, every
//! offering of a customer for an export, and the learning policy's report.

use std::time::Duration;

use idic_runtime::refs::CustomerSelector;
use idic_runtime::{ApiError, ApiResult};

use super::Customization;
use crate::domain::{
    Acceptance, CustomerData, LearningPeriod, LearningReport, OutcomeKind, SlotOutcome,
    StoredOffering,
};
use crate::store::{OfferingRow, OutcomeCounts};
use crate::stored;

impl Customization {
    /// The offering `offering_id` with what it was built from and its outcomes.
    pub async fn offering(&self, offering_id: &str) -> ApiResult<StoredOffering> {
        let row = self
            .store
            .offering(offering_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(format!("no offering '{offering_id}'")))?;
        self.stored_offering(&row).await
    }

    /// Everything held about the customer `selector` names: every offering with its
    /// inputs and outcomes, and the control-group draw.
    pub async fn export_customer(
        &self,
        selector: &CustomerSelector,
        budget: Duration,
    ) -> ApiResult<CustomerData> {
        let customer_id = self.deps.resolve_customer(selector, budget).await?;
        let (rows, control_group) = tokio::try_join!(
            self.store.offerings_of(&customer_id),
            self.store.control_group_of(&customer_id),
        )
        .map_err(ApiError::internal)?;
        let mut offerings = Vec::with_capacity(rows.len());
        for row in &rows {
            offerings.push(self.stored_offering(row).await?);
        }
        Ok(CustomerData {
            customer_id,
            offerings,
            control_group,
        })
    }

    /// A stored offering with its outcomes, under the customer's current id.
    async fn stored_offering(&self, row: &OfferingRow) -> ApiResult<StoredOffering> {
        let mut record = stored::decode_offering(&row.record).map_err(ApiError::internal)?;
        // The customer may have been merged since: answer with the current id.
        if !row.subject.starts_with("anchor:") {
            record.offering.customer_id = row.subject.clone();
        }
        let outcomes = self
            .store
            .outcomes(&row.offering_id)
            .await
            .map_err(ApiError::internal)?;
        // A row of an unknown kind (not written by this server) is left out.
        record.outcomes = outcomes
            .iter()
            .filter_map(|outcome| {
                Some(SlotOutcome {
                    slot: outcome.slot,
                    kind: OutcomeKind::from_code(outcome.outcome)?,
                    changed_to: outcome.changed_to.clone(),
                })
            })
            .collect();
        Ok(record)
    }

    /// Acceptance under the learning policy against the control group, in all and
    /// per period of `period_seconds` (0: a day).
    pub async fn learning_report(&self, period_seconds: u32) -> ApiResult<LearningReport> {
        let counts = self
            .store
            .outcome_counts()
            .await
            .map_err(ApiError::internal)?;
        let period_seconds = if period_seconds == 0 {
            86_400
        } else {
            period_seconds
        };
        let periods = self
            .store
            .outcome_counts_by_period(i64::from(period_seconds) * 1_000_000)
            .await
            .map_err(ApiError::internal)?;
        let overall = acceptance(&counts);
        let lift = if overall.control_acceptance > 0.0 {
            overall.learner_acceptance / overall.control_acceptance - 1.0
        } else {
            0.0
        };
        Ok(LearningReport {
            overall,
            lift,
            periods: periods
                .into_iter()
                .map(|(start_micros, counts)| LearningPeriod {
                    start_micros,
                    acceptance: acceptance(&counts),
                })
                .collect(),
        })
    }
}

fn acceptance(counts: &OutcomeCounts) -> Acceptance {
    Acceptance {
        learner_outcomes: counts.learner_total,
        learner_acceptance: share(counts.learner_accepted, counts.learner_total),
        control_outcomes: counts.control_total,
        control_acceptance: share(counts.control_accepted, counts.control_total),
    }
}

/// The share of outcomes accepted; 0 without outcomes.
fn share(accepted: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        accepted as f64 / total as f64
    }
}
