//! Outcomes of an offering: checked against what was offered, recorded once (a retry
//! changes nothing), fed to the learner and announced.

use idic_offer::bandit::ArmStats;
use idic_offer::{Catalog, Slot};
use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult, FieldViolation};

use super::offering::outcome_of;
use super::{Customization, count};
use crate::domain::{
    OfferEvent, OfferEventChoice, OfferEventKind, Offering, OutcomeKind, OutcomeReport,
    RecordedOutcomes,
};
use crate::events::publish_offer_event;
use crate::store::{OfferingRow, OutcomeRow};
use crate::stored;

impl Customization {
    /// Records the reported outcomes of an offering; those recorded before the same
    /// way count as already recorded, one recorded differently is refused.
    pub async fn record_outcome(&self, report: OutcomeReport) -> ApiResult<RecordedOutcomes> {
        let offering_id = report.offering_id.as_str();
        let row = self
            .store
            .offering(offering_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(format!("no offering '{offering_id}'")))?;
        let offering = stored::decode_offering(&row.record)
            .map_err(ApiError::internal)?
            .offering;
        let (catalog, _) = self.current();
        let outcomes = outcome_rows(&report, &offering, &catalog)?;
        let existing = self
            .store
            .outcomes(offering_id)
            .await
            .map_err(ApiError::internal)?;
        let mut fresh = Vec::new();
        let mut already = 0;
        for outcome in outcomes {
            match existing.iter().find(|stored| stored.slot == outcome.slot) {
                Some(stored)
                    if stored.outcome == outcome.outcome
                        && stored.changed_to == outcome.changed_to =>
                {
                    already += 1;
                }
                Some(_) => {
                    return Err(ApiError::FailedPrecondition(format!(
                        "the {} outcome of offering {offering_id} was already recorded differently",
                        outcome.slot.label()
                    )));
                }
                None => fresh.push(outcome),
            }
        }
        let inserted = self
            .store
            .insert_outcomes(&row, &fresh)
            .await
            .map_err(ApiError::internal)?;
        already += fresh.len() - inserted.len();
        if !inserted.is_empty() {
            self.learn(&row.segment, &inserted).await?;
            let event = answered(&row, &offering, report.channel, &inserted);
            publish_offer_event(self.bus.as_ref(), &event).await;
        }
        Ok(RecordedOutcomes {
            recorded: count(inserted.len()),
            already_recorded: count(already),
        })
    }

    async fn learn(&self, segment: &str, outcomes: &[OutcomeRow]) -> ApiResult<()> {
        let mut updates: Vec<(String, Slot, String, ArmStats)> = Vec::new();
        let mut add = |slot: Slot, component: &str, accepted: bool| {
            updates.push((
                segment.to_owned(),
                slot,
                component.to_owned(),
                ArmStats {
                    accepted: u64::from(accepted),
                    rejected: u64::from(!accepted),
                },
            ));
        };
        for outcome in outcomes {
            add(
                outcome.slot,
                &outcome.offered,
                outcome.outcome == OutcomeKind::Accepted.code(),
            );
            if outcome.outcome == OutcomeKind::Changed.code() {
                add(outcome.slot, &outcome.changed_to, true);
            }
        }
        self.store
            .add_to_arms(&updates)
            .await
            .map_err(ApiError::internal)?;
        let mut bandit = self.bandit.write().unwrap_or_else(|p| p.into_inner());
        for outcome in outcomes {
            bandit.learn(
                segment,
                outcome.slot,
                &outcome.offered,
                &outcome_of(outcome),
            );
        }
        Ok(())
    }
}

/// The rows of the reported outcomes, each checked against the offering: the offering
/// has a choice for its slot, and a change names another component of that slot.
fn outcome_rows(
    report: &OutcomeReport,
    offering: &Offering,
    catalog: &Catalog,
) -> ApiResult<Vec<OutcomeRow>> {
    let mut violations = Vec::new();
    let mut rows: Vec<OutcomeRow> = Vec::new();
    let now = now_micros();
    for (index, outcome) in report.outcomes.iter().enumerate() {
        let field = |name: &str| format!("outcomes[{index}].{name}");
        let Some(offered) = offering
            .choices
            .iter()
            .find(|choice| choice.slot == outcome.slot)
            .and_then(|choice| choice.component.as_ref())
        else {
            violations.push(FieldViolation::new(
                field("slot"),
                "the offering has no choice for this slot",
            ));
            continue;
        };
        if outcome.kind == OutcomeKind::Changed {
            let valid = catalog.get(&outcome.changed_to).is_some_and(|component| {
                component.slot() == outcome.slot && component.id != offered.id
            });
            if !valid {
                violations.push(FieldViolation::new(
                    field("changed_to"),
                    "must name another component of the same slot",
                ));
                continue;
            }
        }
        rows.push(OutcomeRow {
            offering_id: offering.offering_id.clone(),
            slot: outcome.slot,
            offered: offered.id.clone(),
            outcome: outcome.kind.code(),
            changed_to: outcome.changed_to.clone(),
            recorded_at: now,
        });
    }
    if violations.is_empty() {
        Ok(rows)
    } else {
        Err(ApiError::InvalidArgument(violations))
    }
}

/// The event of outcomes recorded: accepted when any slot was accepted as offered.
fn answered(
    row: &OfferingRow,
    offering: &Offering,
    channel: i32,
    outcomes: &[OutcomeRow],
) -> OfferEvent {
    let accepted = outcomes
        .iter()
        .any(|outcome| outcome.outcome == OutcomeKind::Accepted.code());
    OfferEvent {
        offering_id: row.offering_id.clone(),
        customer_id: offering.customer_id.clone(),
        kind: if accepted {
            OfferEventKind::Accepted
        } else {
            OfferEventKind::Rejected
        },
        occurred_at_micros: now_micros(),
        channel,
        choices: outcomes
            .iter()
            .map(|outcome| OfferEventChoice {
                slot: outcome.slot,
                component_id: outcome.offered.clone(),
                outcome: OutcomeKind::from_code(outcome.outcome),
                changed_to: outcome.changed_to.clone(),
            })
            .collect(),
    }
}
