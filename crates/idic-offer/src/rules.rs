//! Authored rules: defaults and eligibility by tier, needs segment, customer type and
//! expressed preference. A rule set is validated against the catalog before it is
//! published as a new version.

use std::collections::{HashMap, HashSet};

use crate::catalog::{Catalog, TIERS};
use crate::profile::{Preference, Profile};
use crate::violation::Violation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The component is the default of its slot.
    Default,
    /// The component is eligible only for customers matching one of its ONLY_FOR rules.
    OnlyFor,
    /// The component is not offered to matching customers.
    Exclude,
}

/// When a rule applies; an empty part always holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Condition {
    pub tiers: Vec<String>,
    pub segments: Vec<String>,
    pub customer_types: Vec<String>,
    /// "key" or "key=value", lower case; empty: any.
    pub preference: String,
}

impl Condition {
    /// Whether the condition holds for `profile`. An unknown attribute does not satisfy
    /// a condition on it.
    pub fn holds(&self, profile: &Profile) -> bool {
        let within = |allowed: &[String], value: &Option<String>| {
            allowed.is_empty() || value.as_ref().is_some_and(|value| allowed.contains(value))
        };
        within(&self.tiers, &profile.tier)
            && within(&self.segments, &profile.segment_id)
            && within(&self.customer_types, &profile.customer_type)
            && (self.preference.is_empty() || profile.preference(&self.preference).is_some())
    }

    /// The preference that satisfied the condition, for the reason's evidence.
    pub fn matched_preference<'a>(&self, profile: &'a Profile) -> Option<&'a Preference> {
        if self.preference.is_empty() {
            None
        } else {
            profile.preference(&self.preference)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    /// `None` only before validation.
    pub effect: Option<Effect>,
    pub component_id: String,
    pub condition: Condition,
    pub priority: i32,
    pub explanation: String,
}

impl Rule {
    pub fn effect(&self) -> Effect {
        self.effect.unwrap_or(Effect::Default)
    }
}

/// A validated rule set of one version.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub version: u32,
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// Every violation of `rules` against `catalog`, each naming `rules[i].…`.
    pub fn validate(rules: &[Rule], catalog: &Catalog) -> Vec<Violation> {
        let mut violations = Vec::new();
        let mut ids = HashMap::new();
        for (index, rule) in rules.iter().enumerate() {
            let field = |name: &str| format!("rules[{index}].{name}");
            if !crate::catalog::valid_id(&rule.id) {
                violations.push(Violation::new(
                    field("rule_id"),
                    "must be 1 to 64 lower-case letters, digits, '.', '_' or '-'",
                ));
            } else if let Some(first) = ids.insert(rule.id.as_str(), index) {
                violations.push(Violation::new(
                    field("rule_id"),
                    format!("repeats rules[{first}]"),
                ));
            }
            if rule.effect.is_none() {
                violations.push(Violation::new(
                    field("effect"),
                    "must be DEFAULT, ONLY_FOR or EXCLUDE",
                ));
            }
            if catalog.get(&rule.component_id).is_none() {
                violations.push(Violation::new(
                    field("component_id"),
                    format!("names unknown component '{}'", rule.component_id),
                ));
            }
            for (position, tier) in rule.condition.tiers.iter().enumerate() {
                if !TIERS.contains(&tier.as_str()) {
                    violations.push(Violation::new(
                        field(&format!("condition.tiers[{position}]")),
                        "must be A, B, C or D",
                    ));
                }
            }
            let preference = &rule.condition.preference;
            if !preference.is_empty()
                && preference
                    .split('=')
                    .next()
                    .is_none_or(|key| key.trim().is_empty())
            {
                violations.push(Violation::new(
                    field("condition.preference"),
                    "must be 'key' or 'key=value'",
                ));
            }
            if rule.explanation.len() > 500 {
                violations.push(Violation::new(
                    field("explanation"),
                    "must be at most 500 bytes",
                ));
            }
        }
        if violations.is_empty() {
            check_contradictions(rules, catalog, &mut violations);
        }
        violations
    }

    /// Whether `component_id` may be offered to `profile` under these rules.
    pub fn allows(&self, component_id: &str, profile: &Profile) -> bool {
        let mut only_for_seen = false;
        let mut only_for_matched = false;
        for rule in self
            .rules
            .iter()
            .filter(|rule| rule.component_id == component_id)
        {
            match rule.effect() {
                Effect::Exclude if rule.condition.holds(profile) => return false,
                Effect::OnlyFor => {
                    only_for_seen = true;
                    only_for_matched |= rule.condition.holds(profile);
                }
                _ => {}
            }
        }
        !only_for_seen || only_for_matched
    }

    /// The DEFAULT rules that hold for `profile`, highest priority first (ties by id).
    pub fn defaults_for<'a>(&'a self, profile: &Profile) -> Vec<&'a Rule> {
        let mut defaults: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|rule| rule.effect() == Effect::Default && rule.condition.holds(profile))
            .collect();
        defaults.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
        defaults
    }
}

/// Two DEFAULT rules of one slot with the same condition and priority but different
/// components leave the default undecided; a DEFAULT rule whose component an EXCLUDE
/// rule with the same (or an empty) condition removes can never apply.
fn check_contradictions(rules: &[Rule], catalog: &Catalog, violations: &mut Vec<Violation>) {
    let mut defaults = HashMap::new();
    for (index, rule) in rules.iter().enumerate() {
        if rule.effect() != Effect::Default {
            continue;
        }
        let slot = catalog
            .get(&rule.component_id)
            .map(|component| component.slot());
        let key = (slot, rule.condition.clone(), rule.priority);
        if let Some((first, first_component)) =
            defaults.insert(key, (index, rule.component_id.clone()))
            && first_component != rule.component_id
        {
            violations.push(Violation::new(
                format!("rules[{index}]"),
                format!(
                    "contradicts rules[{first}]: same slot, condition and priority but another default"
                ),
            ));
        }
    }
    let excluded: HashSet<(&str, &Condition)> = rules
        .iter()
        .filter(|rule| rule.effect() == Effect::Exclude)
        .map(|rule| (rule.component_id.as_str(), &rule.condition))
        .collect();
    for (index, rule) in rules.iter().enumerate() {
        if rule.effect() != Effect::Default {
            continue;
        }
        let always_excluded =
            excluded.contains(&(rule.component_id.as_str(), &Condition::default()));
        let excluded_here = excluded.contains(&(rule.component_id.as_str(), &rule.condition));
        if always_excluded || excluded_here {
            violations.push(Violation::new(
                format!("rules[{index}]"),
                format!(
                    "makes '{}' a default where an EXCLUDE rule removes it",
                    rule.component_id
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Component, Money};
    use crate::slot::Slot;

    fn catalog() -> Catalog {
        let component = |id: &str, slot| Component {
            id: id.into(),
            slot: Some(slot),
            name: id.into(),
            cost: Money {
                currency: "EUR".into(),
                minor: 0,
            },
            available: true,
            ..Component::default()
        };
        Catalog::validate(
            &[],
            &[
                component("invoice.itemized", Slot::InvoiceFormat),
                component("invoice.monthly", Slot::InvoiceFormat),
                component("packaging.eco", Slot::Packaging),
            ],
        )
        .unwrap()
    }

    fn rule(id: &str, effect: Effect, component: &str, tiers: &[&str]) -> Rule {
        Rule {
            id: id.into(),
            effect: Some(effect),
            component_id: component.into(),
            condition: Condition {
                tiers: tiers.iter().map(|t| (*t).to_owned()).collect(),
                ..Condition::default()
            },
            priority: 0,
            explanation: String::new(),
        }
    }

    #[test]
    fn names_unknown_components_and_bad_tiers() {
        let violations = RuleSet::validate(
            &[rule("r1", Effect::Default, "invoice.fax", &["Z"])],
            &catalog(),
        );
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["rules[0].component_id", "rules[0].condition.tiers[0]"]
        );
    }

    #[test]
    fn rejects_contradictory_defaults() {
        let violations = RuleSet::validate(
            &[
                rule("r1", Effect::Default, "invoice.itemized", &["A"]),
                rule("r2", Effect::Default, "invoice.monthly", &["A"]),
            ],
            &catalog(),
        );
        assert_eq!(violations.len(), 1);
        assert!(violations[0].description.contains("contradicts rules[0]"));
        let violations = RuleSet::validate(
            &[
                rule("r1", Effect::Default, "invoice.monthly", &["A"]),
                rule("r2", Effect::Exclude, "invoice.monthly", &[]),
            ],
            &catalog(),
        );
        assert!(violations[0].description.contains("EXCLUDE"));
    }

    #[test]
    fn evaluates_eligibility_and_defaults() {
        let rules = RuleSet {
            version: 1,
            rules: vec![
                rule("monthly-for-a", Effect::Default, "invoice.monthly", &["A"]),
                rule(
                    "monthly-only-a-b",
                    Effect::OnlyFor,
                    "invoice.monthly",
                    &["A", "B"],
                ),
                rule("itemized", Effect::Default, "invoice.itemized", &[]),
            ],
        };
        assert!(RuleSet::validate(&rules.rules, &catalog()).is_empty());
        let tier = |t: &str| Profile {
            tier: Some(t.into()),
            ..Profile::default()
        };
        assert!(rules.allows("invoice.monthly", &tier("B")));
        assert!(!rules.allows("invoice.monthly", &tier("C")));
        assert!(
            !rules.allows("invoice.monthly", &Profile::default()),
            "unknown tier is not A or B"
        );
        assert_eq!(
            rules.defaults_for(&tier("A"))[0].id,
            "itemized",
            "ties by id at equal priority"
        );
        let mut prioritized = rules.clone();
        prioritized.rules[0].priority = 10;
        assert_eq!(prioritized.defaults_for(&tier("A"))[0].id, "monthly-for-a");
        assert_eq!(prioritized.defaults_for(&tier("C"))[0].id, "itemized");
    }
}
