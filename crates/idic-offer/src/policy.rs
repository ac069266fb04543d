//! The offering policy: for one customer profile, one component per slot plus ranked
//! alternatives, each with a reason citing its evidence. Precedence, per slot:
//! a component another choice requires; what this customer chose before (the
//! learning relationship: it wins for this customer); an expressed preference; what
//! the customer's needs segment accepts (the bandit, seeded by the authored default);
//! the authored default; the cheapest eligible component. Customers of the control
//! group skip history and the bandit, so that the lift of learning can be measured.

use std::collections::{BTreeMap, HashMap};

use rand::Rng;

use crate::bandit::Bandit;
use crate::catalog::{Catalog, Component, Money};
use crate::profile::{Preference, Profile};
use crate::rules::{Rule, RuleSet};
use crate::slot::Slot;

/// Outcomes a bandit arm needs before its figure is cited instead of the rule.
const MIN_EVIDENCE: u64 = 20;

/// Which part of the policy made a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    CustomerHistory,
    Preference,
    SegmentLearning,
    Rule,
    Default,
}

/// A fact a reason rests on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evidence {
    /// "interaction", "differentiation", "identity" or "customization".
    pub source: String,
    pub detail: String,
    /// Microseconds since the epoch, 0 if none.
    pub observed_at: i64,
    /// Wire number of a channel, 0 if none.
    pub channel: i32,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub text: String,
    pub source: Source,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    pub component_id: String,
    pub score: f64,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub slot: Slot,
    pub component_id: String,
    pub score: f64,
    pub reason: Reason,
    pub alternatives: Vec<Alternative>,
    /// True when the bandit departed from its best estimate to learn.
    pub explored: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub slot: Slot,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Composition {
    pub choices: Vec<Choice>,
    pub gaps: Vec<Gap>,
}

impl Composition {
    /// Sum of the choices' prices, per currency (in currency order). Saturating: prices
    /// are bounded at the edge, but a catalog stored before that bound must not wrap.
    pub fn total_price(&self, catalog: &Catalog) -> Vec<Money> {
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        for choice in &self.choices {
            if let Some(component) = catalog.get(&choice.component_id) {
                let total = totals.entry(component.cost.currency.clone()).or_default();
                *total = total.saturating_add(component.price_minor);
            }
        }
        totals
            .into_iter()
            .map(|(currency, minor)| Money { currency, minor })
            .collect()
    }
}

/// Everything a composition reads.
pub struct Inputs<'a> {
    pub catalog: &'a Catalog,
    pub rules: &'a RuleSet,
    pub bandit: &'a Bandit,
    pub profile: &'a Profile,
}

/// Whether `component` may be offered to the profile, regardless of other choices.
pub fn eligible(inputs: &Inputs, component: &Component) -> Result<(), &'static str> {
    let profile = inputs.profile;
    let within = |allowed: &[String], value: &Option<String>| {
        allowed.is_empty() || value.as_ref().is_some_and(|value| allowed.contains(value))
    };
    if !component.available {
        return Err("not available");
    }
    if !within(&component.eligible_tiers, &profile.tier)
        || !within(&component.eligible_segments, &profile.segment_id)
        || !within(&component.eligible_customer_types, &profile.customer_type)
    {
        return Err("not eligible for this customer");
    }
    if profile.order_quantity < component.min_order_quantity
        || (component.max_order_quantity != 0
            && profile.order_quantity > component.max_order_quantity)
    {
        return Err("outside its order size limits");
    }
    if !inputs.rules.allows(&component.id, profile) {
        return Err("excluded by a rule");
    }
    if component.channel != 0 {
        if profile.consents.is_none() {
            return Err("consent unknown");
        }
        match profile.consent(component.channel, component.purpose()) {
            Some(consent) if consent.granted => {}
            Some(_) => return Err("the customer refused this channel"),
            None => return Err("no consent recorded for this channel"),
        }
    }
    Ok(())
}

/// One component per slot (where one is eligible) with alternatives and reasons.
pub fn compose(inputs: &Inputs, rng: &mut impl Rng) -> Composition {
    let mut composition = Composition::default();
    // Components a choice requires, by slot, with the component that requires them.
    let mut pinned: HashMap<Slot, (String, String)> = HashMap::new();
    for slot in Slot::ALL {
        let chosen: Vec<&str> = composition
            .choices
            .iter()
            .map(|choice| choice.component_id.as_str())
            .collect();
        match decide_slot(inputs, slot, &chosen, pinned.get(&slot), rng) {
            Ok(choice) => {
                if let Some(component) = inputs.catalog.get(&choice.component_id) {
                    for required in &component.requires {
                        if let Some(other) = inputs.catalog.get(required) {
                            pinned.insert(other.slot(), (other.id.clone(), component.id.clone()));
                        }
                    }
                }
                composition.choices.push(choice);
            }
            Err(reason) => composition.gaps.push(Gap { slot, reason }),
        }
    }
    composition
}

/// The ranked options of one slot alone (packaging for an order being fulfilled).
pub fn rank_slot(inputs: &Inputs, slot: Slot, rng: &mut impl Rng) -> Result<Choice, String> {
    decide_slot(inputs, slot, &[], None, rng)
}

fn decide_slot(
    inputs: &Inputs,
    slot: Slot,
    chosen: &[&str],
    pinned: Option<&(String, String)>,
    rng: &mut impl Rng,
) -> Result<Choice, String> {
    let mut refusals = Vec::new();
    let candidates: Vec<&Component> = inputs
        .catalog
        .in_slot(slot)
        .filter(|component| match eligible(inputs, component) {
            Ok(()) => compatible(inputs, component, chosen),
            Err(why) => {
                refusals.push(why);
                false
            }
        })
        .collect();
    if candidates.is_empty() {
        return Err(gap_reason(slot, &refusals));
    }
    let segment = inputs.profile.learning_segment();
    let default_rule = default_rule(inputs, slot, &candidates);
    let default_id = default_rule.map(|rule| rule.component_id.as_str());
    let score = |id: &str| {
        inputs
            .bandit
            .mean(segment, slot, id, default_id == Some(id))
    };

    let (component_id, reason, explored) =
        if let Some((id, by)) = pinned.filter(|(id, _)| candidates.iter().any(|c| &c.id == id)) {
            let text = format!("{}: required by {}", name(inputs, id), name(inputs, by));
            (id.clone(), reason(text, Source::Rule, Vec::new()), false)
        } else if let Some(found) = from_history(inputs, slot, &candidates) {
            found
        } else if let Some(found) = from_preference(inputs, slot, &candidates) {
            found
        } else if !inputs.profile.control_group
            && let Some(found) = from_bandit(inputs, slot, &candidates, default_rule, rng)
        {
            found
        } else if let Some(rule) = default_rule {
            (rule.component_id.clone(), rule_reason(inputs, rule), false)
        } else {
            cheapest(inputs, &candidates)
        };

    let mut reason = reason;
    if let Some(consent) = inputs
        .catalog
        .get(&component_id)
        .filter(|component| component.channel != 0)
        .and_then(|component| {
            inputs
                .profile
                .consent(component.channel, component.purpose())
        })
    {
        // Outbound contact always shows the consent it rests on.
        reason.evidence.push(Evidence {
            source: "interaction".into(),
            detail: format!("consent granted for {}", consent.purpose),
            observed_at: consent.decided_at,
            channel: consent.channel,
            reference: consent.source.clone(),
        });
    }
    let rejected = inputs
        .profile
        .history
        .get(&slot)
        .map(|history| history.rejected.clone())
        .unwrap_or_default();
    let mut alternatives: Vec<Alternative> = candidates
        .iter()
        .filter(|component| component.id != component_id)
        .map(|component| {
            let was_rejected = rejected.contains(&component.id);
            Alternative {
                component_id: component.id.clone(),
                // A component the customer turned down ranks below every other.
                score: if was_rejected {
                    0.0
                } else {
                    score(&component.id)
                },
                reason: alternative_reason(inputs, slot, component, was_rejected, default_id),
            }
        })
        .collect();
    alternatives.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| cost_of(inputs, &a.component_id).cmp(&cost_of(inputs, &b.component_id)))
            .then_with(|| a.component_id.cmp(&b.component_id))
    });
    Ok(Choice {
        slot,
        score: score(&component_id),
        component_id,
        reason,
        alternatives,
        explored,
    })
}

type Decision = (String, Reason, bool);

fn from_history(inputs: &Inputs, slot: Slot, candidates: &[&Component]) -> Option<Decision> {
    if inputs.profile.control_group {
        return None;
    }
    let past = inputs
        .profile
        .history
        .get(&slot)?
        .chosen
        .as_ref()
        .filter(|past| past.is_customer_choice())?;
    candidates.iter().find(|c| c.id == past.component_id)?;
    let verb = if past.changed_to {
        "customer changed to it".to_owned()
    } else {
        format!(
            "customer accepted it {} times in a row, last",
            past.accepted_in_a_row
        )
    };
    let text = format!(
        "{}: {verb} on {}",
        name(inputs, &past.component_id),
        format_date(past.recorded_at)
    );
    let evidence = Evidence {
        source: "customization".into(),
        detail: format!("{verb} in offering {}", past.offering_id),
        observed_at: past.recorded_at,
        channel: 0,
        reference: past.offering_id.clone(),
    };
    Some((
        past.component_id.clone(),
        reason(text, Source::CustomerHistory, vec![evidence]),
        false,
    ))
}

/// The most recent expressed preference a candidate answers, directly or through a
/// DEFAULT rule conditioned on it.
fn from_preference(inputs: &Inputs, slot: Slot, candidates: &[&Component]) -> Option<Decision> {
    let profile = inputs.profile;
    let mut best: Option<(&Component, &Preference, Option<&Rule>)> = None;
    for component in candidates {
        let by_answer = component
            .answers_preferences
            .iter()
            .filter_map(|pattern| profile.preference(pattern))
            .map(|preference| (preference, None));
        let by_rule = inputs
            .rules
            .defaults_for(profile)
            .into_iter()
            .filter(|rule| rule.component_id == component.id)
            .filter_map(|rule| {
                rule.condition
                    .matched_preference(profile)
                    .map(|p| (p, Some(rule)))
            });
        for (preference, rule) in by_answer.chain(by_rule) {
            if best.is_none_or(|(_, current, _)| preference.expressed_at > current.expressed_at) {
                best = Some((component, preference, rule));
            }
        }
    }
    let (component, preference, rule) = best?;
    let _ = slot;
    let wish = if preference.value.is_empty() {
        preference.key.replace('_', " ")
    } else {
        preference.value.replace('_', " ")
    };
    let text = format!(
        "{}: customer asked for {wish} on {}{}",
        component.name,
        format_date(preference.expressed_at),
        channel_phrase(preference.channel)
    );
    let mut evidence = vec![Evidence {
        source: "interaction".into(),
        detail: format!(
            "expressed preference {}={}",
            preference.key, preference.value
        ),
        observed_at: preference.expressed_at,
        channel: preference.channel,
        reference: preference.interaction_id.clone(),
    }];
    if let Some(rule) = rule {
        evidence.push(rule_evidence(rule));
    }
    Some((
        component.id.clone(),
        reason(text, Source::Preference, evidence),
        false,
    ))
}

fn from_bandit(
    inputs: &Inputs,
    slot: Slot,
    candidates: &[&Component],
    default_rule: Option<&Rule>,
    rng: &mut impl Rng,
) -> Option<Decision> {
    // A single refusal is not a reason to avoid a component: acceptance is a
    // probability, and the refusal already lowers the arm's estimate. (Avoiding the last
    // refused component cost the simulation 7 points of acceptance.) What the customer
    // rejected ranks last among the alternatives instead.
    let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
    let default_id = default_rule.map(|rule| rule.component_id.as_str());
    let segment = inputs.profile.learning_segment();
    let pick = inputs.bandit.choose(segment, slot, &ids, default_id, rng)?;
    let label = segment_label(inputs.profile);
    if pick.stats.trials() < MIN_EVIDENCE {
        if let Some(rule) = default_rule.filter(|rule| rule.component_id == pick.component_id) {
            return Some((pick.component_id, rule_reason(inputs, rule), false));
        }
        let text = format!(
            "{}: being tried with {label} ({} outcomes so far)",
            name(inputs, &pick.component_id),
            pick.stats.trials()
        );
        let evidence = learning_evidence(inputs.profile, &pick.component_id, pick.stats);
        return Some((
            pick.component_id,
            reason(text, Source::SegmentLearning, vec![evidence]),
            pick.explored,
        ));
    }
    let text = format!(
        "{}: accepted by {:.0}% of {label} ({} outcomes)",
        name(inputs, &pick.component_id),
        100.0 * pick.stats.accepted as f64 / pick.stats.trials() as f64,
        pick.stats.trials()
    );
    let evidence = learning_evidence(inputs.profile, &pick.component_id, pick.stats);
    Some((
        pick.component_id,
        reason(text, Source::SegmentLearning, vec![evidence]),
        pick.explored,
    ))
}

fn cheapest(inputs: &Inputs, candidates: &[&Component]) -> Decision {
    let component = candidates
        .iter()
        .min_by(|a, b| {
            a.cost
                .minor
                .cmp(&b.cost.minor)
                .then_with(|| a.id.cmp(&b.id))
        })
        .copied()
        .unwrap_or(candidates[0]);
    let _ = inputs;
    let text = format!("{}: the least costly eligible option", component.name);
    (
        component.id.clone(),
        reason(text, Source::Default, Vec::new()),
        false,
    )
}

/// The highest-priority DEFAULT rule of `slot` that holds and whose component is a
/// candidate.
fn default_rule<'a>(inputs: &'a Inputs, slot: Slot, candidates: &[&Component]) -> Option<&'a Rule> {
    inputs
        .rules
        .defaults_for(inputs.profile)
        .into_iter()
        .filter(|rule| rule.condition.preference.is_empty())
        .find(|rule| {
            candidates.iter().any(|c| c.id == rule.component_id)
                && inputs
                    .catalog
                    .get(&rule.component_id)
                    .is_some_and(|c| c.slot() == slot)
        })
}

fn compatible(inputs: &Inputs, component: &Component, chosen: &[&str]) -> bool {
    chosen.iter().all(|other| {
        !component.incompatible_with.iter().any(|id| id == other)
            && !inputs
                .catalog
                .get(other)
                .is_some_and(|other| other.incompatible_with.contains(&component.id))
    }) && component.requires.iter().all(|required| {
        chosen.contains(&required.as_str())
            || inputs.catalog.get(required).is_some_and(|other| {
                eligible(inputs, other).is_ok()
                    && other.slot() > component.slot()
                    && compatible_with_chosen(inputs, other, chosen)
            })
    })
}

/// Incompatibility only (for components pinned by a requirement).
fn compatible_with_chosen(inputs: &Inputs, component: &Component, chosen: &[&str]) -> bool {
    chosen.iter().all(|other| {
        !component.incompatible_with.iter().any(|id| id == other)
            && !inputs
                .catalog
                .get(other)
                .is_some_and(|other| other.incompatible_with.contains(&component.id))
    })
}

fn gap_reason(slot: Slot, refusals: &[&str]) -> String {
    if refusals.contains(&"consent unknown") {
        format!(
            "{}: consent unknown, so no outbound channel is proposed",
            slot.label()
        )
    } else if refusals.is_empty() {
        format!(
            "{}: no component in the catalog fits the other choices",
            slot.label()
        )
    } else {
        let mut why: Vec<&str> = refusals.to_vec();
        why.sort();
        why.dedup();
        format!(
            "{}: no eligible component ({})",
            slot.label(),
            why.join(", ")
        )
    }
}

fn alternative_reason(
    inputs: &Inputs,
    slot: Slot,
    component: &Component,
    was_rejected: bool,
    default_id: Option<&str>,
) -> Reason {
    if was_rejected {
        return reason(
            format!("{}: the customer rejected it before", component.name),
            Source::CustomerHistory,
            Vec::new(),
        );
    }
    let segment = inputs.profile.learning_segment();
    let stats = inputs.bandit.stats(segment, slot, &component.id);
    let mean = inputs.bandit.mean(
        segment,
        slot,
        &component.id,
        default_id == Some(component.id.as_str()),
    );
    reason(
        format!(
            "{}: estimated acceptance {:.0}% in {} ({} outcomes)",
            component.name,
            100.0 * mean,
            segment_label(inputs.profile),
            stats.trials()
        ),
        Source::SegmentLearning,
        vec![learning_evidence(inputs.profile, &component.id, stats)],
    )
}

fn rule_reason(inputs: &Inputs, rule: &Rule) -> Reason {
    let explanation = if rule.explanation.is_empty() {
        format!("rule {}", rule.id)
    } else {
        rule.explanation.clone()
    };
    reason(
        format!("{}: {explanation}", name(inputs, &rule.component_id)),
        Source::Rule,
        vec![rule_evidence(rule)],
    )
}

fn rule_evidence(rule: &Rule) -> Evidence {
    Evidence {
        source: "customization".into(),
        detail: format!("rule {}", rule.id),
        reference: rule.id.clone(),
        ..Evidence::default()
    }
}

fn learning_evidence(
    profile: &Profile,
    component_id: &str,
    stats: crate::bandit::ArmStats,
) -> Evidence {
    Evidence {
        source: "customization".into(),
        detail: format!(
            "{component_id}: {} accepted, {} rejected in segment {}",
            stats.accepted,
            stats.rejected,
            profile.learning_segment()
        ),
        reference: profile.learning_segment().to_owned(),
        ..Evidence::default()
    }
}

fn segment_label(profile: &Profile) -> String {
    match (&profile.segment_label, &profile.segment_id) {
        (Some(label), _) if !label.is_empty() => format!("'{label}' customers"),
        (_, Some(id)) => format!("segment {id} customers"),
        _ => "customers with no known segment".to_owned(),
    }
}

fn reason(text: String, source: Source, evidence: Vec<Evidence>) -> Reason {
    Reason {
        text,
        source,
        evidence,
    }
}

fn name(inputs: &Inputs, id: &str) -> String {
    inputs
        .catalog
        .get(id)
        .map_or_else(|| id.to_owned(), |component| component.name.clone())
}

fn cost_of(inputs: &Inputs, id: &str) -> i64 {
    inputs.catalog.get(id).map_or(i64::MAX, |c| c.cost.minor)
}

/// " by phone", " on the web", ... for a channel's wire number.
fn channel_phrase(channel: i32) -> &'static str {
    match channel {
        1 => " by phone",
        2 => " on the web",
        3 => " by e-mail",
        4 => " in store",
        5 => " in the app",
        6 => " through a partner",
        7 => " by mail",
        _ => "",
    }
}

/// YYYY-MM-DD (UTC) of microseconds since the epoch.
pub fn format_date(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests;
