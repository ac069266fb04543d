//! Tailored offerings and packaging options: the fan-out's facts and the customer's
//! history make a profile, the policy composes, the offering is stored and announced.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use idic_offer::policy::{self, Composition, Inputs};
use idic_offer::profile::{Outcome, Profile, SlotHistory};
use idic_offer::{Catalog, Slot};
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult};
use tokio::time::Instant;

use super::{Customization, count};
use crate::deps::Gathered;
use crate::domain::{
    OfferEvent, OfferEventChoice, OfferEventKind, OfferRequest, OfferedAlternative, OfferedChoice,
    Offering, OfferingInputs, Order, OutcomeKind, PackagingOption, PackagingOptions,
    StoredOffering,
};
use crate::events::publish_offer_event;
use crate::store::{InsertOffering, OfferingRow, OutcomeRow};
use crate::stored;

/// Control-group memberships remembered in memory before the map is cleared.
const CONTROL_CACHE_ENTRIES: usize = 100_000;

impl Customization {
    /// The budget the dependencies may use: the caller's deadline less the reserve.
    fn dependency_deadline(&self, deadline: Instant) -> Instant {
        let reserve = Duration::from_millis(self.config.reserve_ms);
        let remaining = deadline.saturating_duration_since(Instant::now());
        // Keep at least a fifth of a short deadline for composing and storing.
        let reserve = reserve.max(remaining / 5);
        deadline
            .checked_sub(reserve)
            .unwrap_or(deadline)
            .max(Instant::now())
    }

    async fn profile(
        &self,
        gathered: &Gathered,
        subject: &str,
        anchor: &str,
        order_quantity: u32,
    ) -> ApiResult<Profile> {
        let value = gathered.value.found();
        let interaction = gathered.interaction.found();
        let mut history: HashMap<Slot, SlotHistory> = HashMap::new();
        for row in self
            .store
            .history(subject)
            .await
            .map_err(ApiError::internal)?
        {
            history.entry(row.slot).or_default().apply(
                &row.offered,
                &outcome_of(&row),
                &row.offering_id,
                row.recorded_at,
            );
        }
        let control_group = self.control_group(subject, anchor).await?;
        Ok(Profile {
            tier: value.and_then(|facts| facts.tier.clone()),
            segment_id: value.and_then(|facts| facts.segment_id.clone()),
            segment_label: value.and_then(|facts| facts.segment_label.clone()),
            customer_type: value.and_then(|facts| facts.customer_type.clone()),
            business_account: gathered
                .identity
                .found()
                .is_some_and(|facts| facts.business_account),
            preferences: interaction
                .map(|facts| facts.preferences.clone())
                .unwrap_or_default(),
            consents: interaction.map(|facts| facts.consents.clone()),
            history,
            order_quantity,
            control_group,
        })
    }

    /// Control-group membership: a stable hash of the customer decides on first sight,
    /// and the decision is stored so that it never changes afterwards.
    async fn control_group(&self, subject: &str, anchor: &str) -> ApiResult<bool> {
        if let Some(known) = self
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(subject)
        {
            return Ok(*known);
        }
        let proposed = proposed_control_group(subject, self.config.control_group_percent);
        let member = self
            .store
            .control_group(subject, anchor, proposed, now_micros())
            .await
            .map_err(ApiError::internal)?;
        let mut control = self.control.lock().unwrap_or_else(|p| p.into_inner());
        if control.len() >= CONTROL_CACHE_ENTRIES {
            control.clear();
        }
        control.insert(subject.to_owned(), member);
        Ok(member)
    }

    /// The customer key of stored rows: the customer id, or the anchor when the
    /// reference matched no customer.
    fn subject(gathered: &Gathered, selector: &CustomerSelector) -> (String, String) {
        let customer_id = gathered.customer_id().or_else(|| match selector {
            // Identity did not answer: a customer id is used as given.
            CustomerSelector::Id(id) => Some(id.clone()),
            CustomerSelector::Identifier { .. } => None,
        });
        let anchor = selector.anchor();
        let subject = customer_id
            .clone()
            .unwrap_or_else(|| format!("anchor:{anchor}"));
        (customer_id.unwrap_or_default(), subject)
    }

    /// An offering for the customer, stored and announced; a retry with the same
    /// idempotency key gets the offering made the first time.
    pub async fn tailored_offering(
        &self,
        request: OfferRequest,
        deadline: Instant,
    ) -> ApiResult<Offering> {
        let gathered = self
            .deps
            .gather(&request.selector, self.dependency_deadline(deadline))
            .await?;
        let (customer_id, subject) = Self::subject(&gathered, &request.selector);
        let anchor = request.selector.anchor();
        let order_quantity = request.order.as_ref().map_or(0, Order::quantity);
        let profile = self
            .profile(&gathered, &subject, &anchor, order_quantity)
            .await?;
        let (catalog, rules) = self.current();
        let composition = {
            let bandit = self.bandit.read().unwrap_or_else(|p| p.into_inner());
            let inputs = Inputs {
                catalog: &catalog,
                rules: &rules,
                bandit: &bandit,
                profile: &profile,
            };
            policy::compose(&inputs, &mut rand::rng())
        };
        let missing: Vec<String> = gathered.missing().into_iter().map(str::to_owned).collect();
        idic_runtime::observability::record_degraded(&missing);
        let now = now_micros();
        let offering = Offering {
            offering_id: format!("off_{}", uuid::Uuid::now_v7().simple()),
            customer_id: customer_id.clone(),
            created_at_micros: now,
            choices: offered_choices(&catalog, &composition),
            gaps: composition.gaps.clone(),
            total_price_adjustment: composition.total_price(&catalog),
            degraded: !missing.is_empty(),
            missing_sources: missing,
            control_group: profile.control_group,
            rules_version: rules.version,
        };
        let record = StoredOffering {
            offering: offering.clone(),
            inputs: Some(offering_inputs(&profile, &anchor, &request)),
            outcomes: Vec::new(),
        };
        let row = OfferingRow {
            offering_id: offering.offering_id.clone(),
            subject,
            anchor,
            idempotency_key: request.idempotency_key.clone(),
            segment: profile.learning_segment().to_owned(),
            control: profile.control_group,
            created_at: now,
            record: stored::encode_offering(&record),
        };
        match self
            .store
            .insert_offering(&row)
            .await
            .map_err(ApiError::internal)?
        {
            InsertOffering::Stored => {}
            InsertOffering::Existing(earlier) => {
                // A retry: the offering made the first time, unchanged.
                return stored::decode_offering(&earlier.record)
                    .map(|record| record.offering)
                    .map_err(ApiError::internal);
            }
        }
        let event = presented(&offering, request.channel);
        publish_offer_event(self.bus.as_ref(), &event).await;
        Ok(offering)
    }

    /// The packaging components eligible for the order, best first.
    pub async fn packaging_options(
        &self,
        selector: &CustomerSelector,
        order: &Order,
        deadline: Instant,
    ) -> ApiResult<PackagingOptions> {
        let gathered = self
            .deps
            .gather(selector, self.dependency_deadline(deadline))
            .await?;
        let (_, subject) = Self::subject(&gathered, selector);
        let profile = self
            .profile(&gathered, &subject, &selector.anchor(), order.quantity())
            .await?;
        let (catalog, rules) = self.current();
        let ranked = {
            let bandit = self.bandit.read().unwrap_or_else(|p| p.into_inner());
            let inputs = Inputs {
                catalog: &catalog,
                rules: &rules,
                bandit: &bandit,
                profile: &profile,
            };
            policy::rank_slot(&inputs, Slot::Packaging, &mut rand::rng())
        };
        let options = match ranked {
            Ok(choice) => {
                let first = (choice.component_id.clone(), choice.reason.clone());
                std::iter::once(first)
                    .chain(choice.alternatives.iter().map(|alternative| {
                        (alternative.component_id.clone(), alternative.reason.clone())
                    }))
                    .enumerate()
                    .filter_map(|(index, (id, reason))| {
                        Some(PackagingOption {
                            component: catalog.get(&id)?.clone(),
                            rank: count(index + 1),
                            reason,
                        })
                    })
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        let missing: Vec<String> = gathered.missing().into_iter().map(str::to_owned).collect();
        idic_runtime::observability::record_degraded(&missing);
        Ok(PackagingOptions {
            options,
            degraded: !missing.is_empty(),
            missing_sources: missing,
        })
    }
}

/// Whether a customer seen for the first time joins the control group: a stable hash
/// of its key puts `percent` of customers there. (`idic demo` asks it to walk a
/// customer under the learning policy.)
pub fn proposed_control_group(subject: &str, percent: u8) -> bool {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    subject.hash(&mut hasher);
    hasher.finish() % 100 < u64::from(percent)
}

/// The policy's choices with their catalog entries as they are now.
fn offered_choices(catalog: &Catalog, composition: &Composition) -> Vec<OfferedChoice> {
    composition
        .choices
        .iter()
        .map(|choice| OfferedChoice {
            slot: choice.slot,
            component: catalog.get(&choice.component_id).cloned(),
            reason: choice.reason.clone(),
            alternatives: choice
                .alternatives
                .iter()
                .map(|alternative| OfferedAlternative {
                    component: catalog.get(&alternative.component_id).cloned(),
                    score: alternative.score,
                    reason: alternative.reason.clone(),
                })
                .collect(),
            score: choice.score,
        })
        .collect()
}

fn offering_inputs(profile: &Profile, anchor: &str, request: &OfferRequest) -> OfferingInputs {
    OfferingInputs {
        anchor: anchor.to_owned(),
        tier: profile.tier.clone().unwrap_or_default(),
        segment_id: profile.segment_id.clone().unwrap_or_default(),
        segment_label: profile.segment_label.clone().unwrap_or_default(),
        customer_type: profile.customer_type.clone().unwrap_or_default(),
        business_account: profile.business_account,
        preferences: profile
            .preferences
            .iter()
            .map(|preference| format!("{}={}", preference.key, preference.value))
            .collect(),
        refused_channels: profile
            .consents
            .iter()
            .flatten()
            .filter(|consent| !consent.granted)
            .map(|consent| consent.channel)
            .collect(),
        order: request.order.clone(),
        channel: request.channel,
        occasion: request.occasion.clone(),
    }
}

/// The event of an offering presented through `channel`.
fn presented(offering: &Offering, channel: i32) -> OfferEvent {
    OfferEvent {
        offering_id: offering.offering_id.clone(),
        customer_id: offering.customer_id.clone(),
        kind: OfferEventKind::Presented,
        occurred_at_micros: offering.created_at_micros,
        channel,
        choices: offering
            .choices
            .iter()
            .map(|choice| OfferEventChoice {
                slot: choice.slot,
                component_id: choice.component_id().to_owned(),
                outcome: None,
                changed_to: String::new(),
            })
            .collect(),
    }
}

/// What the learner makes of a stored outcome (an unknown one counts as rejected).
pub(super) fn outcome_of(row: &OutcomeRow) -> Outcome {
    match OutcomeKind::from_code(row.outcome) {
        Some(OutcomeKind::Accepted) => Outcome::Accepted,
        Some(OutcomeKind::Changed) => Outcome::Changed(row.changed_to.clone()),
        _ => Outcome::Rejected,
    }
}
