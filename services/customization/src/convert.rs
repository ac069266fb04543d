//! Conversions between the wire messages and idic-offer's domain types.

use idic_offer::policy::{Alternative, Choice, Evidence, Reason, Source};
use idic_offer::rules::{Condition, Effect, Rule};
use idic_offer::{Catalog, Component, Money, Slot};
use idic_proto::v1 as pb;
use idic_runtime::storage::timestamp_from_micros;

pub fn money_to_proto(money: &Money) -> pb::Money {
    pb::Money {
        currency: money.currency.clone(),
        minor_units: money.minor,
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

fn alternative_to_proto(catalog: &Catalog, alternative: &Alternative) -> pb::OfferAlternative {
    pb::OfferAlternative {
        component: catalog
            .get(&alternative.component_id)
            .map(component_to_proto),
        score: alternative.score,
        reason: Some(reason_to_proto(&alternative.reason)),
    }
}

pub fn choice_to_proto(catalog: &Catalog, choice: &Choice) -> pb::SlotChoice {
    let component = catalog.get(&choice.component_id);
    pb::SlotChoice {
        slot: choice.slot.wire(),
        component: component.map(component_to_proto),
        reason: Some(reason_to_proto(&choice.reason)),
        alternatives: choice
            .alternatives
            .iter()
            .map(|alternative| alternative_to_proto(catalog, alternative))
            .collect(),
        price_adjustment: component.map(|component| money_to_proto(&component.price())),
        score: choice.score,
    }
}
