//! Customization's domain values beyond idic-offer's (catalog, rules, policy): what an
//! offering is asked for, the offering made and what it was built from, outcomes,
//! packaging options, the learning report and the offer events. No protobuf here: the
//! handler converts (`convert.rs`), adapters encode what is stored (`stored.rs`) and
//! published (`events.rs`).

use idic_offer::policy::{Gap, Reason};
use idic_offer::rules::Rule;
use idic_offer::{Component, Money, Slot};
use idic_runtime::refs::CustomerSelector;

/// One line of the order an offering is asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderLine {
    pub product_id: String,
    pub category: String,
    pub quantity: u32,
    pub unit_price: Option<Money>,
}

/// The order being placed, if any.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Order {
    pub order_id: String,
    pub lines: Vec<OrderLine>,
}

impl Order {
    /// Units over every line (saturating): component order-size limits apply to it.
    pub fn quantity(&self) -> u32 {
        self.lines
            .iter()
            .fold(0u32, |total, line| total.saturating_add(line.quantity))
    }
}

/// What a tailored offering is asked for, validated.
pub struct OfferRequest {
    pub selector: CustomerSelector,
    pub order: Option<Order>,
    /// Wire number of the channel it is presented through.
    pub channel: i32,
    pub occasion: String,
    pub idempotency_key: Option<String>,
}

/// Another eligible component of a slot, as offered.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferedAlternative {
    /// `None` when the catalog no longer had it when the offering was made.
    pub component: Option<Component>,
    pub score: f64,
    pub reason: Reason,
}

/// The component chosen for a slot, with the catalog entry as it was then.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferedChoice {
    pub slot: Slot,
    pub component: Option<Component>,
    pub reason: Reason,
    pub alternatives: Vec<OfferedAlternative>,
    pub score: f64,
}

impl OfferedChoice {
    /// The chosen component's id; empty when it is unknown.
    pub fn component_id(&self) -> &str {
        self.component
            .as_ref()
            .map_or("", |component| component.id.as_str())
    }
}

/// A tailored offering as made (and stored).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Offering {
    pub offering_id: String,
    /// Empty when the reference matched no customer (cold start).
    pub customer_id: String,
    pub created_at_micros: i64,
    pub choices: Vec<OfferedChoice>,
    pub gaps: Vec<Gap>,
    /// The choices' prices summed per currency.
    pub total_price_adjustment: Vec<Money>,
    pub degraded: bool,
    pub missing_sources: Vec<String>,
    pub control_group: bool,
    pub rules_version: u32,
}

/// What an offering was built from ("why did we offer this?").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OfferingInputs {
    /// The reference the caller gave (`CustomerSelector::anchor`).
    pub anchor: String,
    pub tier: String,
    pub segment_id: String,
    pub segment_label: String,
    pub customer_type: String,
    pub business_account: bool,
    /// Expressed preferences used, as "key=value".
    pub preferences: Vec<String>,
    /// Wire numbers of the channels the customer refused.
    pub refused_channels: Vec<i32>,
    pub order: Option<Order>,
    pub channel: i32,
    pub occasion: String,
}

/// What the customer did with a slot's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    Accepted,
    Rejected,
    /// Took another component of the slot.
    Changed,
}

impl OutcomeKind {
    /// The number stored in the `outcomes` table (the contract's enum number).
    pub fn code(self) -> i32 {
        match self {
            OutcomeKind::Accepted => 1,
            OutcomeKind::Rejected => 2,
            OutcomeKind::Changed => 3,
        }
    }

    /// The kind a stored number stands for; `None` for an unknown one.
    pub fn from_code(code: i32) -> Option<OutcomeKind> {
        [
            OutcomeKind::Accepted,
            OutcomeKind::Rejected,
            OutcomeKind::Changed,
        ]
        .into_iter()
        .find(|kind| kind.code() == code)
    }
}

/// The outcome of one slot of an offering.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotOutcome {
    pub slot: Slot,
    pub kind: OutcomeKind,
    /// For `Changed`: the component taken instead; empty otherwise.
    pub changed_to: String,
}

/// An offering with what it was built from and its outcomes so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredOffering {
    pub offering: Offering,
    pub inputs: Option<OfferingInputs>,
    pub outcomes: Vec<SlotOutcome>,
}

/// Outcomes reported for one offering, parsed (each slot known and given once, each
/// kind known); whether they fit the offering is the service's to check.
pub struct OutcomeReport {
    pub offering_id: String,
    /// Wire number of the channel the customer answered through.
    pub channel: i32,
    pub outcomes: Vec<SlotOutcome>,
}

/// What recording outcomes did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedOutcomes {
    pub recorded: u32,
    /// Retried ones, not counted again.
    pub already_recorded: u32,
}

/// One packaging option, best first.
pub struct PackagingOption {
    pub component: Component,
    /// 1 is the best.
    pub rank: u32,
    pub reason: Reason,
}

/// The packaging options for an order.
pub struct PackagingOptions {
    pub options: Vec<PackagingOption>,
    pub degraded: bool,
    pub missing_sources: Vec<String>,
}

/// A published version of the rules (version 0, no time: none published yet).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublishedRules {
    pub version: u32,
    pub published_at_micros: Option<i64>,
    pub rules: Vec<Rule>,
}

/// Outcomes and acceptance of the learning policy and of the control group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Acceptance {
    pub learner_outcomes: u64,
    pub learner_acceptance: f64,
    pub control_outcomes: u64,
    pub control_acceptance: f64,
}

/// Acceptance in one period, by when outcomes were recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct LearningPeriod {
    pub start_micros: i64,
    pub acceptance: Acceptance,
}

/// The learning policy against the control group, in all and over time.
#[derive(Debug, Clone, PartialEq)]
pub struct LearningReport {
    pub overall: Acceptance,
    /// learner / control acceptance - 1; 0 without control outcomes.
    pub lift: f64,
    /// Periods with any outcome, oldest first.
    pub periods: Vec<LearningPeriod>,
}

/// Everything customization holds about one customer.
pub struct CustomerData {
    pub customer_id: String,
    /// Oldest first, with inputs and outcomes.
    pub offerings: Vec<StoredOffering>,
    /// `None` when never drawn.
    pub control_group: Option<bool>,
}

/// What an offer event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferEventKind {
    Presented,
    /// At least one slot accepted as offered.
    Accepted,
    /// No slot accepted as offered.
    Rejected,
}

/// A slot of an offer event: the component offered and, after an outcome, what
/// became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferEventChoice {
    pub slot: Slot,
    pub component_id: String,
    pub outcome: Option<OutcomeKind>,
    pub changed_to: String,
}

/// Published when an offering is presented and when its outcome is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferEvent {
    pub offering_id: String,
    pub customer_id: String,
    pub kind: OfferEventKind,
    pub occurred_at_micros: i64,
    pub channel: i32,
    pub choices: Vec<OfferEventChoice>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_codes_round_trip_and_unknown_ones_are_none() {
        for kind in [
            OutcomeKind::Accepted,
            OutcomeKind::Rejected,
            OutcomeKind::Changed,
        ] {
            assert_eq!(OutcomeKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(OutcomeKind::from_code(0), None);
        assert_eq!(OutcomeKind::from_code(4), None);
    }

    #[test]
    fn order_quantity_saturates() {
        let line = |quantity| OrderLine {
            quantity,
            ..OrderLine::default()
        };
        let order = Order {
            order_id: String::new(),
            lines: vec![line(u32::MAX), line(5)],
        };
        assert_eq!(order.quantity(), u32::MAX);
    }
}
