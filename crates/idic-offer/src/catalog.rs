//! The catalog of modular components and its validation. A catalog is only ever built
//! from components that passed [`Catalog::validate`], so the policy can rely on every
//! reference resolving and on constraints being satisfiable.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::slot::Slot;
use crate::violation::Violation;

/// Tiers of the differentiation service, best first.
pub const TIERS: [&str; 4] = ["A", "B", "C", "D"];

/// An amount in integer minor units of an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Money {
    pub currency: String,
    pub minor: i64,
}

/// One modular component of an offering.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Component {
    pub id: String,
    /// `None` only before validation; a validated component always has a slot.
    pub slot: Option<Slot>,
    pub name: String,
    pub description: String,
    /// What it costs the company per use.
    pub cost: Money,
    /// What the customer pays for it (negative: a discount), in `cost.currency`.
    pub price_minor: i64,
    pub available: bool,
    pub requires: Vec<String>,
    pub incompatible_with: Vec<String>,
    pub eligible_tiers: Vec<String>,
    pub eligible_segments: Vec<String>,
    pub eligible_customer_types: Vec<String>,
    pub min_order_quantity: u32,
    pub max_order_quantity: u32,
    /// Expressed preferences it answers, "key" or "key=value", lower case.
    pub answers_preferences: Vec<String>,
    /// Wire number of the outbound channel (communication slot); 0: none.
    pub channel: i32,
    /// The consent purpose contact through `channel` needs, lower case ("service" when
    /// the author left it empty).
    pub consent_purpose: String,
}

impl Component {
    /// The validated slot (components in a [`Catalog`] always have one).
    pub fn slot(&self) -> Slot {
        self.slot.unwrap_or(Slot::ProductOption)
    }

    /// The consent purpose contact through this component needs.
    pub fn purpose(&self) -> &str {
        if self.consent_purpose.is_empty() {
            "service"
        } else {
            &self.consent_purpose
        }
    }

    pub fn price(&self) -> Money {
        Money {
            currency: self.cost.currency.clone(),
            minor: self.price_minor,
        }
    }
}

/// A validated catalog, indexed by id and by slot.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    by_id: HashMap<String, Component>,
    by_slot: BTreeMap<Slot, Vec<String>>,
}

impl Catalog {
    /// The catalog `existing` would become with `changes` applied (same id replaces),
    /// or every violation, each naming the field of `changes` at fault
    /// (`components[i].…`). Nothing is half-applied.
    pub fn validate(
        existing: &[Component],
        changes: &[Component],
    ) -> Result<Catalog, Vec<Violation>> {
        let mut violations = Vec::new();
        let mut seen = HashMap::new();
        for (index, component) in changes.iter().enumerate() {
            check_fields(component, &format!("components[{index}]"), &mut violations);
            if let Some(first) = seen.insert(component.id.as_str(), index) {
                violations.push(Violation::new(
                    format!("components[{index}].component_id"),
                    format!("repeats components[{first}]"),
                ));
            }
        }
        if !violations.is_empty() {
            return Err(violations);
        }
        let mut merged: BTreeMap<String, Component> = existing
            .iter()
            .map(|component| (component.id.clone(), component.clone()))
            .collect();
        for component in changes {
            merged.insert(component.id.clone(), component.clone());
        }
        let field_of = |id: &str| -> String {
            seen.get(id)
                .map(|index| format!("components[{index}]"))
                .unwrap_or_else(|| format!("catalog[{id}]"))
        };
        check_references(&merged, &field_of, &mut violations);
        if violations.is_empty() {
            check_requirement_closure(&merged, &field_of, &mut violations);
        }
        if !violations.is_empty() {
            return Err(violations);
        }
        Ok(Catalog::from_valid(merged.into_values()))
    }

    /// Indexes components already validated (read back from storage).
    pub fn from_valid(components: impl IntoIterator<Item = Component>) -> Catalog {
        let mut catalog = Catalog::default();
        for component in components {
            catalog
                .by_slot
                .entry(component.slot())
                .or_default()
                .push(component.id.clone());
            catalog.by_id.insert(component.id.clone(), component);
        }
        for ids in catalog.by_slot.values_mut() {
            ids.sort();
        }
        catalog
    }

    pub fn get(&self, id: &str) -> Option<&Component> {
        self.by_id.get(id)
    }

    /// Components of `slot`, in id order.
    pub fn in_slot(&self, slot: Slot) -> impl Iterator<Item = &Component> {
        self.by_slot
            .get(&slot)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every component, in id order.
    pub fn components(&self) -> Vec<&Component> {
        let mut all: Vec<_> = self.by_id.values().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }
}

/// A component id: lower-case letters, digits, '.', '_' and '-', 1 to 64 bytes.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

fn check_fields(component: &Component, field: &str, violations: &mut Vec<Violation>) {
    let mut violation = |name: &str, description: &str| {
        violations.push(Violation::new(format!("{field}.{name}"), description));
    };
    if !valid_id(&component.id) {
        violation(
            "component_id",
            "must be 1 to 64 lower-case letters, digits, '.', '_' or '-'",
        );
    }
    if component.slot.is_none() {
        violation("slot", "must name a known slot");
    }
    if component.name.trim().is_empty() || component.name.len() > 200 {
        violation("name", "must be 1 to 200 bytes");
    }
    if component.description.len() > 2000 {
        violation("description", "must be at most 2000 bytes");
    }
    let currency = &component.cost.currency;
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        violation("cost.currency", "must be an ISO 4217 code such as EUR");
    }
    if component.cost.minor < 0 {
        violation("cost.minor_units", "must not be negative");
    }
    for (index, tier) in component.eligible_tiers.iter().enumerate() {
        if !TIERS.contains(&tier.as_str()) {
            violation(&format!("eligible_tiers[{index}]"), "must be A, B, C or D");
        }
    }
    for (name, values) in [
        ("eligible_segments", &component.eligible_segments),
        (
            "eligible_customer_types",
            &component.eligible_customer_types,
        ),
        ("answers_preferences", &component.answers_preferences),
    ] {
        for (index, value) in values.iter().enumerate() {
            if value.trim().is_empty() || value.len() > 128 {
                violation(&format!("{name}[{index}]"), "must be 1 to 128 bytes");
            }
        }
    }
    if component.max_order_quantity != 0
        && component.min_order_quantity > component.max_order_quantity
    {
        violation(
            "max_order_quantity",
            "is below min_order_quantity: no order could ever qualify",
        );
    }
    if component.channel != 0 && component.slot != Some(Slot::Communication) {
        violation("channel", "is only for communication components");
    }
}

/// Each reference names a component; no self-reference; what a component requires is in
/// another slot and not also incompatible with it.
fn check_references(
    merged: &BTreeMap<String, Component>,
    field_of: &dyn Fn(&str) -> String,
    violations: &mut Vec<Violation>,
) {
    for component in merged.values() {
        let field = field_of(&component.id);
        for (list, ids) in [
            ("requires", &component.requires),
            ("incompatible_with", &component.incompatible_with),
        ] {
            for (index, id) in ids.iter().enumerate() {
                let path = format!("{field}.{list}[{index}]");
                let Some(other) = merged.get(id) else {
                    violations.push(Violation::new(
                        path,
                        format!("names unknown component '{id}'"),
                    ));
                    continue;
                };
                if other.id == component.id {
                    violations.push(Violation::new(path, "names the component itself"));
                } else if list == "requires" && other.slot == component.slot {
                    violations.push(Violation::new(
                        path,
                        format!(
                            "'{id}' is in the same slot: an offering holds one component per slot"
                        ),
                    ));
                } else if list == "requires" && component.incompatible_with.contains(id) {
                    violations.push(Violation::new(
                        path,
                        format!("'{id}' is both required and incompatible"),
                    ));
                }
            }
        }
    }
}

/// No cycle of `requires`, and everything a component transitively requires can be
/// offered together with it: one component per slot, none incompatible with another.
fn check_requirement_closure(
    merged: &BTreeMap<String, Component>,
    field_of: &dyn Fn(&str) -> String,
    violations: &mut Vec<Violation>,
) {
    for component in merged.values() {
        let field = format!("{}.requires", field_of(&component.id));
        if let Some(cycle) = find_cycle(merged, &component.id) {
            violations.push(Violation::new(
                field,
                format!("forms a cycle: {}", cycle.join(" -> ")),
            ));
            continue;
        }
        let closure = requirement_closure(merged, &component.id);
        let mut by_slot: HashMap<Option<Slot>, &str> = HashMap::new();
        for id in &closure {
            let member = &merged[id.as_str()];
            if let Some(previous) = by_slot.insert(member.slot, id) {
                violations.push(Violation::new(
                    field.clone(),
                    format!("requires both '{previous}' and '{id}' of one slot"),
                ));
            }
            for other in &closure {
                if member.incompatible_with.contains(other) {
                    violations.push(Violation::new(
                        field.clone(),
                        format!("requires '{id}' and '{other}', which are incompatible"),
                    ));
                }
            }
        }
    }
}

/// The component and everything it requires, transitively (no cycle assumed).
pub fn requirement_closure(merged: &BTreeMap<String, Component>, id: &str) -> BTreeSet<String> {
    let mut closure = BTreeSet::new();
    let mut stack = vec![id.to_owned()];
    while let Some(next) = stack.pop() {
        if closure.insert(next.clone())
            && let Some(component) = merged.get(&next)
        {
            stack.extend(component.requires.iter().cloned());
        }
    }
    closure
}

/// A cycle of `requires` through `start`, as the ids along it, if there is one.
fn find_cycle(merged: &BTreeMap<String, Component>, start: &str) -> Option<Vec<String>> {
    // Depth-first search keeping the current path; only cycles back to `start` are
    // reported here, so each cycle is named once per member.
    let mut path = vec![start.to_owned()];
    let mut visited = BTreeSet::new();
    fn walk(
        merged: &BTreeMap<String, Component>,
        start: &str,
        path: &mut Vec<String>,
        visited: &mut BTreeSet<String>,
    ) -> bool {
        let current = path.last().cloned().unwrap_or_default();
        let Some(component) = merged.get(&current) else {
            return false;
        };
        for next in &component.requires {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if visited.insert(next.clone()) {
                path.push(next.clone());
                if walk(merged, start, path, visited) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    walk(merged, start, &mut path, &mut visited).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn component(id: &str, slot: Slot) -> Component {
        Component {
            id: id.into(),
            slot: Some(slot),
            name: id.into(),
            cost: Money {
                currency: "EUR".into(),
                minor: 100,
            },
            available: true,
            ..Component::default()
        }
    }

    #[test]
    fn accepts_a_consistent_catalog() {
        let mut gift = component("packaging.gift", Slot::Packaging);
        gift.requires = vec!["delivery.standard".into()];
        gift.incompatible_with = vec!["delivery.pickup".into()];
        let catalog = Catalog::validate(
            &[],
            &[
                gift,
                component("delivery.standard", Slot::Delivery),
                component("delivery.pickup", Slot::Delivery),
            ],
        )
        .unwrap();
        assert_eq!(catalog.len(), 3);
        assert_eq!(catalog.in_slot(Slot::Delivery).count(), 2);
    }

    #[test]
    fn rejects_unknown_references_naming_the_field() {
        let mut gift = component("packaging.gift", Slot::Packaging);
        gift.requires = vec!["delivery.nowhere".into()];
        let violations = Catalog::validate(&[], &[gift]).unwrap_err();
        assert_eq!(violations[0].field, "components[0].requires[0]");
        assert!(violations[0].description.contains("unknown component"));
    }

    #[test]
    fn rejects_cycles() {
        let mut a = component("a", Slot::Packaging);
        a.requires = vec!["b".into()];
        let mut b = component("b", Slot::Delivery);
        b.requires = vec!["c".into()];
        let mut c = component("c", Slot::InvoiceFormat);
        c.requires = vec!["a".into()];
        let violations = Catalog::validate(&[], &[a, b, c]).unwrap_err();
        assert!(
            violations
                .iter()
                .any(|v| v.description.contains("cycle: a -> b -> c -> a")),
            "{violations:?}"
        );
    }

    #[test]
    fn rejects_contradictions() {
        let mut a = component("a", Slot::Packaging);
        a.requires = vec!["b".into()];
        a.incompatible_with = vec!["b".into()];
        let b = component("b", Slot::Delivery);
        assert!(
            Catalog::validate(&[], &[a, b.clone()]).unwrap_err()[0]
                .description
                .contains("both required and incompatible")
        );
        // a requires b and c, but c cannot go with b.
        let mut a = component("a", Slot::Packaging);
        a.requires = vec!["b".into(), "c".into()];
        let mut c = component("c", Slot::InvoiceFormat);
        c.incompatible_with = vec!["b".into()];
        let violations = Catalog::validate(&[], &[a, b, c]).unwrap_err();
        assert!(
            violations[0].description.contains("incompatible"),
            "{violations:?}"
        );
        // Same slot twice.
        let mut a = component("a", Slot::Packaging);
        a.requires = vec!["x".into()];
        let x = component("x", Slot::Packaging);
        assert!(
            Catalog::validate(&[], &[a, x]).unwrap_err()[0]
                .description
                .contains("same slot")
        );
        let mut limits = component("bulk", Slot::Packaging);
        limits.min_order_quantity = 10;
        limits.max_order_quantity = 5;
        assert_eq!(
            Catalog::validate(&[], &[limits]).unwrap_err()[0].field,
            "components[0].max_order_quantity"
        );
    }

    #[test]
    fn validates_against_the_existing_catalog() {
        let existing = [component("delivery.standard", Slot::Delivery)];
        let mut gift = component("packaging.gift", Slot::Packaging);
        gift.requires = vec!["delivery.standard".into()];
        assert!(Catalog::validate(&existing, &[gift]).is_ok());
        let mut bad = component("Bad Id", Slot::Packaging);
        bad.cost.currency = "eu".into();
        let fields: Vec<_> = Catalog::validate(&existing, &[bad])
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            ["components[0].component_id", "components[0].cost.currency"]
        );
    }
}
