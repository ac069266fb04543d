//! Conversions between the wire messages and the domain (idic-offer's types and
//! `domain.rs`): the handler's half, also used by the adapters that store
//! (`stored.rs`) and publish (`events.rs`) contract messages.

use anyhow::Context as _;
use idic_offer::policy::{Evidence, Gap, Reason, Source};
use idic_offer::rules::{Condition, Effect, Rule};
use idic_offer::{Component, Money, Slot};
use idic_proto::v1 as pb;
use idic_runtime::storage::{micros_from_timestamp, timestamp_from_micros};

use crate::domain::{
    Acceptance, CustomerData, LearningReport, OfferEvent, OfferEventKind, OfferedAlternative,
    OfferedChoice, Offering, OfferingInputs, Order, OrderLine, OutcomeKind, PackagingOptions,
    PublishedRules, RecordedOutcomes, SlotOutcome, StoredOffering,
};

pub fn money_to_proto(money: &Money) -> pb::Money {
    pb::Money {
        currency: money.currency.clone(),
        minor_units: money.minor,
    }
}

fn money_from_proto(money: &pb::Money) -> Money {
    Money {
        currency: money.currency.clone(),
        minor: money.minor_units,
    }
}

fn lower(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|value| value.trim().to_lowercase())
        .collect()
}

fn trimmed(values: &[String]) -> Vec<String> {
    values.iter().map(|value| value.trim().to_owned()).collect()
}

/// A component as the caller sent it; validation happens in `Catalog::validate`.
pub fn component_from_proto(component: &pb::Component) -> Component {
    let cost = component.cost.clone().unwrap_or_default();
    Component {
        id: component.component_id.trim().to_owned(),
        slot: Slot::from_wire(component.slot),
        name: component.name.trim().to_owned(),
        description: component.description.trim().to_owned(),
        cost: Money {
            currency: cost.currency.trim().to_owned(),
            minor: cost.minor_units,
        },
        price_minor: component
            .price
            .as_ref()
            .map_or(0, |price| price.minor_units),
        available: component.available,
        requires: trimmed(&component.requires),
        incompatible_with: trimmed(&component.incompatible_with),
        eligible_tiers: trimmed(&component.eligible_tiers),
        eligible_segments: trimmed(&component.eligible_segments),
        eligible_customer_types: lower(&component.eligible_customer_types),
        min_order_quantity: component.min_order_quantity,
        max_order_quantity: component.max_order_quantity,
        answers_preferences: lower(&component.answers_preferences),
        channel: component.channel,
        consent_purpose: component.consent_purpose.trim().to_lowercase(),
    }
}

/// The price currency must be the cost's; checked here because the domain keeps one.
pub fn price_currency_violation(
    index: usize,
    component: &pb::Component,
) -> Option<idic_runtime::FieldViolation> {
    let price = component.price.as_ref()?;
    let cost_currency = component
        .cost
        .as_ref()
        .map(|cost| cost.currency.trim())
        .unwrap_or("");
    (price.minor_units != 0 && price.currency.trim() != cost_currency).then(|| {
        idic_runtime::FieldViolation::new(
            format!("components[{index}].price.currency"),
            "must be the currency of cost",
        )
    })
}

/// Cost and price within the suite's money bound, so that an offering's total of any
/// number of components is a sum that cannot overflow.
pub fn money_range_violations(
    index: usize,
    component: &pb::Component,
) -> Vec<idic_runtime::FieldViolation> {
    [("cost", &component.cost), ("price", &component.price)]
        .into_iter()
        .filter_map(|(name, money)| {
            let money = money.as_ref()?;
            let field = format!("components[{index}].{name}.minor_units");
            idic_runtime::limits::check_money(money.minor_units, &field).err()
        })
        .collect()
}

pub fn component_to_proto(component: &Component) -> pb::Component {
    pb::Component {
        component_id: component.id.clone(),
        slot: component.slot().wire(),
        name: component.name.clone(),
        description: component.description.clone(),
        cost: Some(money_to_proto(&component.cost)),
        available: component.available,
        price: Some(money_to_proto(&component.price())),
        requires: component.requires.clone(),
        incompatible_with: component.incompatible_with.clone(),
        eligible_tiers: component.eligible_tiers.clone(),
        eligible_segments: component.eligible_segments.clone(),
        eligible_customer_types: component.eligible_customer_types.clone(),
        min_order_quantity: component.min_order_quantity,
        max_order_quantity: component.max_order_quantity,
        answers_preferences: component.answers_preferences.clone(),
        channel: component.channel,
        consent_purpose: component.consent_purpose.clone(),
    }
}

pub fn rule_from_proto(rule: &pb::OfferRule) -> Rule {
    let condition = rule.condition.clone().unwrap_or_default();
    Rule {
        id: rule.rule_id.trim().to_owned(),
        effect: match pb::OfferRuleEffect::try_from(rule.effect) {
            Ok(pb::OfferRuleEffect::Default) => Some(Effect::Default),
            Ok(pb::OfferRuleEffect::OnlyFor) => Some(Effect::OnlyFor),
            Ok(pb::OfferRuleEffect::Exclude) => Some(Effect::Exclude),
            _ => None,
        },
        component_id: rule.component_id.trim().to_owned(),
        condition: Condition {
            tiers: trimmed(&condition.tiers),
            segments: trimmed(&condition.segments),
            customer_types: lower(&condition.customer_types),
            preference: condition.preference.trim().to_lowercase(),
        },
        priority: rule.priority,
        explanation: rule.explanation.trim().to_owned(),
    }
}

pub fn rule_to_proto(rule: &Rule) -> pb::OfferRule {
    pb::OfferRule {
        rule_id: rule.id.clone(),
        effect: match rule.effect() {
            Effect::Default => pb::OfferRuleEffect::Default,
            Effect::OnlyFor => pb::OfferRuleEffect::OnlyFor,
            Effect::Exclude => pb::OfferRuleEffect::Exclude,
        } as i32,
        component_id: rule.component_id.clone(),
        condition: Some(pb::OfferRuleCondition {
            tiers: rule.condition.tiers.clone(),
            segments: rule.condition.segments.clone(),
            customer_types: rule.condition.customer_types.clone(),
            preference: rule.condition.preference.clone(),
        }),
        priority: rule.priority,
        explanation: rule.explanation.clone(),
    }
}

fn source_to_proto(source: Source) -> pb::ChoiceSource {
    match source {
        Source::CustomerHistory => pb::ChoiceSource::CustomerHistory,
        Source::Preference => pb::ChoiceSource::Preference,
        Source::SegmentLearning => pb::ChoiceSource::SegmentLearning,
        Source::Rule => pb::ChoiceSource::Rule,
        Source::Default => pb::ChoiceSource::Default,
    }
}

fn evidence_to_proto(evidence: &Evidence) -> pb::OfferEvidence {
    pb::OfferEvidence {
        source: evidence.source.clone(),
        detail: evidence.detail.clone(),
        observed_at: (evidence.observed_at != 0)
            .then(|| timestamp_from_micros(evidence.observed_at)),
        channel: evidence.channel,
        reference: evidence.reference.clone(),
    }
}

pub fn reason_to_proto(reason: &Reason) -> pb::OfferReason {
    pb::OfferReason {
        text: reason.text.clone(),
        source: source_to_proto(reason.source) as i32,
        evidence: reason.evidence.iter().map(evidence_to_proto).collect(),
    }
}

fn source_from_proto(source: i32) -> Source {
    match pb::ChoiceSource::try_from(source) {
        Ok(pb::ChoiceSource::CustomerHistory) => Source::CustomerHistory,
        Ok(pb::ChoiceSource::Preference) => Source::Preference,
        Ok(pb::ChoiceSource::SegmentLearning) => Source::SegmentLearning,
        Ok(pb::ChoiceSource::Rule) => Source::Rule,
        _ => Source::Default,
    }
}

fn evidence_from_proto(evidence: &pb::OfferEvidence) -> Evidence {
    Evidence {
        source: evidence.source.clone(),
        detail: evidence.detail.clone(),
        observed_at: evidence
            .observed_at
            .as_ref()
            .map_or(0, micros_from_timestamp),
        channel: evidence.channel,
        reference: evidence.reference.clone(),
    }
}

fn reason_from_proto(reason: Option<&pb::OfferReason>) -> Reason {
    let reason = reason.cloned().unwrap_or_default();
    Reason {
        text: reason.text.clone(),
        source: source_from_proto(reason.source),
        evidence: reason.evidence.iter().map(evidence_from_proto).collect(),
    }
}

/// A slot's wire number, known to this server.
fn slot_from_wire(number: i32) -> anyhow::Result<Slot> {
    Slot::from_wire(number).with_context(|| format!("unknown slot {number}"))
}

pub fn order_from_proto(order: &pb::OfferOrder) -> Order {
    Order {
        order_id: order.order_id.clone(),
        lines: order
            .lines
            .iter()
            .map(|line| OrderLine {
                product_id: line.product_id.clone(),
                category: line.category.clone(),
                quantity: line.quantity,
                unit_price: line.unit_price.as_ref().map(money_from_proto),
            })
            .collect(),
    }
}

fn order_to_proto(order: &Order) -> pb::OfferOrder {
    pb::OfferOrder {
        order_id: order.order_id.clone(),
        lines: order
            .lines
            .iter()
            .map(|line| pb::OfferOrderLine {
                product_id: line.product_id.clone(),
                category: line.category.clone(),
                quantity: line.quantity,
                unit_price: line.unit_price.as_ref().map(money_to_proto),
            })
            .collect(),
    }
}

fn alternative_to_proto(alternative: &OfferedAlternative) -> pb::OfferAlternative {
    pb::OfferAlternative {
        component: alternative.component.as_ref().map(component_to_proto),
        score: alternative.score,
        reason: Some(reason_to_proto(&alternative.reason)),
    }
}

fn alternative_from_proto(alternative: &pb::OfferAlternative) -> OfferedAlternative {
    OfferedAlternative {
        component: alternative.component.as_ref().map(component_from_proto),
        score: alternative.score,
        reason: reason_from_proto(alternative.reason.as_ref()),
    }
}

fn choice_to_proto(choice: &OfferedChoice) -> pb::SlotChoice {
    pb::SlotChoice {
        slot: choice.slot.wire(),
        component: choice.component.as_ref().map(component_to_proto),
        reason: Some(reason_to_proto(&choice.reason)),
        alternatives: choice
            .alternatives
            .iter()
            .map(alternative_to_proto)
            .collect(),
        price_adjustment: choice
            .component
            .as_ref()
            .map(|component| money_to_proto(&component.price())),
        score: choice.score,
    }
}

fn choice_from_proto(choice: &pb::SlotChoice) -> anyhow::Result<OfferedChoice> {
    Ok(OfferedChoice {
        slot: slot_from_wire(choice.slot)?,
        component: choice.component.as_ref().map(component_from_proto),
        reason: reason_from_proto(choice.reason.as_ref()),
        alternatives: choice
            .alternatives
            .iter()
            .map(alternative_from_proto)
            .collect(),
        score: choice.score,
    })
}

pub fn offering_to_proto(offering: &Offering) -> pb::Offering {
    pb::Offering {
        offering_id: offering.offering_id.clone(),
        customer_id: offering.customer_id.clone(),
        created_at: Some(timestamp_from_micros(offering.created_at_micros)),
        choices: offering.choices.iter().map(choice_to_proto).collect(),
        gaps: offering
            .gaps
            .iter()
            .map(|gap| pb::SlotGap {
                slot: gap.slot.wire(),
                reason: gap.reason.clone(),
            })
            .collect(),
        total_price_adjustment: offering
            .total_price_adjustment
            .iter()
            .map(money_to_proto)
            .collect(),
        degraded: offering.degraded,
        missing_sources: offering.missing_sources.clone(),
        control_group: offering.control_group,
        rules_version: offering.rules_version,
    }
}

fn offering_from_proto(offering: &pb::Offering) -> anyhow::Result<Offering> {
    Ok(Offering {
        offering_id: offering.offering_id.clone(),
        customer_id: offering.customer_id.clone(),
        created_at_micros: offering
            .created_at
            .as_ref()
            .map_or(0, micros_from_timestamp),
        choices: offering
            .choices
            .iter()
            .map(choice_from_proto)
            .collect::<anyhow::Result<_>>()?,
        gaps: offering
            .gaps
            .iter()
            .map(|gap| {
                Ok(Gap {
                    slot: slot_from_wire(gap.slot)?,
                    reason: gap.reason.clone(),
                })
            })
            .collect::<anyhow::Result<_>>()?,
        total_price_adjustment: offering
            .total_price_adjustment
            .iter()
            .map(money_from_proto)
            .collect(),
        degraded: offering.degraded,
        missing_sources: offering.missing_sources.clone(),
        control_group: offering.control_group,
        rules_version: offering.rules_version,
    })
}

fn inputs_to_proto(inputs: &OfferingInputs) -> pb::OfferingInputs {
    pb::OfferingInputs {
        anchor: inputs.anchor.clone(),
        tier: inputs.tier.clone(),
        segment_id: inputs.segment_id.clone(),
        segment_label: inputs.segment_label.clone(),
        customer_type: inputs.customer_type.clone(),
        business_account: inputs.business_account,
        preferences: inputs.preferences.clone(),
        refused_channels: inputs.refused_channels.clone(),
        order: inputs.order.as_ref().map(order_to_proto),
        channel: inputs.channel,
        occasion: inputs.occasion.clone(),
    }
}

fn inputs_from_proto(inputs: &pb::OfferingInputs) -> OfferingInputs {
    OfferingInputs {
        anchor: inputs.anchor.clone(),
        tier: inputs.tier.clone(),
        segment_id: inputs.segment_id.clone(),
        segment_label: inputs.segment_label.clone(),
        customer_type: inputs.customer_type.clone(),
        business_account: inputs.business_account,
        preferences: inputs.preferences.clone(),
        refused_channels: inputs.refused_channels.clone(),
        order: inputs.order.as_ref().map(order_from_proto),
        channel: inputs.channel,
        occasion: inputs.occasion.clone(),
    }
}

pub fn outcome_kind_to_proto(kind: OutcomeKind) -> pb::OutcomeKind {
    match kind {
        OutcomeKind::Accepted => pb::OutcomeKind::Accepted,
        OutcomeKind::Rejected => pb::OutcomeKind::Rejected,
        OutcomeKind::Changed => pb::OutcomeKind::Changed,
    }
}

/// A known outcome kind; `None` for UNSPECIFIED and unknown numbers.
pub fn outcome_kind_from_proto(kind: i32) -> Option<OutcomeKind> {
    match pb::OutcomeKind::try_from(kind).ok()? {
        pb::OutcomeKind::Accepted => Some(OutcomeKind::Accepted),
        pb::OutcomeKind::Rejected => Some(OutcomeKind::Rejected),
        pb::OutcomeKind::Changed => Some(OutcomeKind::Changed),
        pb::OutcomeKind::Unspecified => None,
    }
}

fn slot_outcome_to_proto(outcome: &SlotOutcome) -> pb::SlotOutcome {
    pb::SlotOutcome {
        slot: outcome.slot.wire(),
        outcome: outcome_kind_to_proto(outcome.kind) as i32,
        changed_to: outcome.changed_to.clone(),
    }
}

fn slot_outcome_from_proto(outcome: &pb::SlotOutcome) -> anyhow::Result<SlotOutcome> {
    Ok(SlotOutcome {
        slot: slot_from_wire(outcome.slot)?,
        kind: outcome_kind_from_proto(outcome.outcome)
            .with_context(|| format!("unknown outcome {}", outcome.outcome))?,
        changed_to: outcome.changed_to.clone(),
    })
}

pub fn stored_offering_to_proto(stored: &StoredOffering) -> pb::StoredOffering {
    pb::StoredOffering {
        offering: Some(offering_to_proto(&stored.offering)),
        inputs: stored.inputs.as_ref().map(inputs_to_proto),
        outcomes: stored.outcomes.iter().map(slot_outcome_to_proto).collect(),
    }
}

pub fn stored_offering_from_proto(stored: &pb::StoredOffering) -> anyhow::Result<StoredOffering> {
    Ok(StoredOffering {
        offering: match &stored.offering {
            Some(offering) => offering_from_proto(offering)?,
            None => Offering::default(),
        },
        inputs: stored.inputs.as_ref().map(inputs_from_proto),
        outcomes: stored
            .outcomes
            .iter()
            .map(slot_outcome_from_proto)
            .collect::<anyhow::Result<_>>()?,
    })
}

pub fn rules_to_proto(rules: &PublishedRules) -> pb::OfferRuleSet {
    pb::OfferRuleSet {
        version: rules.version,
        rules: rules.rules.iter().map(rule_to_proto).collect(),
        published_at: rules.published_at_micros.map(timestamp_from_micros),
    }
}

pub fn rules_from_proto(rules: &pb::OfferRuleSet) -> PublishedRules {
    PublishedRules {
        version: rules.version,
        rules: rules.rules.iter().map(rule_from_proto).collect(),
        published_at_micros: rules.published_at.as_ref().map(micros_from_timestamp),
    }
}

pub fn packaging_to_proto(packaging: PackagingOptions) -> pb::GetPackagingOptionsResponse {
    pb::GetPackagingOptionsResponse {
        options: packaging
            .options
            .iter()
            .map(|option| pb::PackagingOption {
                component: Some(component_to_proto(&option.component)),
                rank: option.rank,
                cost: Some(money_to_proto(&option.component.cost)),
                price_adjustment: Some(money_to_proto(&option.component.price())),
                reason: Some(reason_to_proto(&option.reason)),
            })
            .collect(),
        degraded: packaging.degraded,
        missing_sources: packaging.missing_sources,
    }
}

pub fn recorded_to_proto(recorded: RecordedOutcomes) -> pb::RecordOutcomeResponse {
    pb::RecordOutcomeResponse {
        recorded: recorded.recorded,
        already_recorded: recorded.already_recorded,
    }
}

pub fn learning_report_to_proto(report: &LearningReport) -> pb::LearningReport {
    let Acceptance {
        learner_outcomes,
        learner_acceptance,
        control_outcomes,
        control_acceptance,
    } = report.overall;
    pb::LearningReport {
        learner_outcomes,
        learner_acceptance,
        control_outcomes,
        control_acceptance,
        lift: report.lift,
        periods: report
            .periods
            .iter()
            .map(|period| pb::LearningPeriod {
                start: Some(prost_types::Timestamp {
                    seconds: period.start_micros.div_euclid(1_000_000),
                    nanos: 0,
                }),
                learner_outcomes: period.acceptance.learner_outcomes,
                learner_acceptance: period.acceptance.learner_acceptance,
                control_outcomes: period.acceptance.control_outcomes,
                control_acceptance: period.acceptance.control_acceptance,
            })
            .collect(),
    }
}

pub fn customer_data_to_proto(data: &CustomerData) -> pb::CustomizationCustomerData {
    pb::CustomizationCustomerData {
        customer_id: data.customer_id.clone(),
        offerings: data
            .offerings
            .iter()
            .map(stored_offering_to_proto)
            .collect(),
        control_group: data.control_group,
    }
}

pub fn offer_event_to_proto(event: &OfferEvent) -> pb::OfferEvent {
    let kind = match event.kind {
        OfferEventKind::Presented => pb::OfferEventKind::Presented,
        OfferEventKind::Accepted => pb::OfferEventKind::Accepted,
        OfferEventKind::Rejected => pb::OfferEventKind::Rejected,
    };
    pb::OfferEvent {
        offering_id: event.offering_id.clone(),
        customer_id: event.customer_id.clone(),
        kind: kind as i32,
        occurred_at: Some(timestamp_from_micros(event.occurred_at_micros)),
        channel: event.channel,
        choices: event
            .choices
            .iter()
            .map(|choice| pb::OfferEventChoice {
                slot: choice.slot.wire(),
                component_id: choice.component_id.clone(),
                outcome: choice
                    .outcome
                    .map_or(0, |kind| outcome_kind_to_proto(kind) as i32),
                changed_to: choice.changed_to.clone(),
            })
            .collect(),
    }
}
