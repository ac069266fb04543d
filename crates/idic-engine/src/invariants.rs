//! The invariants of the match graph, checked on demand: by tests after every write
//! and steward action, and (in debug builds) by the engine itself around what a
//! steward action touched. The rules are stated in the engine's module docs; each
//! check below names the rule it enforces. Violations name record ids and customer
//! ids only, never a record's content.

use std::fmt;

use idic_matching::blocking::block_keys;
use rustc_hash::FxHashSet;

use super::{Engine, LinkKind, ordered};

/// What was found broken, one line per violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvariantViolations(pub Vec<String>);

impl fmt::Display for InvariantViolations {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} invariant violation(s): {}",
            self.0.len(),
            self.0.join("; ")
        )
    }
}

impl std::error::Error for InvariantViolations {}

impl Engine {
    /// Checks every invariant over the whole engine. Costs about as much as clustering
    /// every record once: meant for tests, not for a serving process.
    pub fn check_invariants(&self) -> Result<(), InvariantViolations> {
        let mut found = Vec::new();
        let live = self.record_ids();
        self.check_records(&live, &mut found);
        self.check_links(&live, &mut found);
        self.check_customers(&mut found);
        self.check_blocks(&mut found);
        self.check_aliases(&mut found);
        self.check_clusters(&live, &mut found);
        for (slot, links) in self.links.iter().enumerate() {
            if self.records[slot].is_none() && !links.is_empty() {
                found.push(format!("dead record {slot} still has links"));
            }
        }
        if live.len() != self.by_key.len() {
            found.push(format!(
                "{} live records but {} keys indexed",
                live.len(),
                self.by_key.len()
            ));
        }
        into_result(found)
    }

    /// Checks the invariants that concern `records`, their links and their customers,
    /// and that the customers of their connected group are its clusters.
    pub fn check_invariants_around(&self, records: &[u32]) -> Result<(), InvariantViolations> {
        let mut found = Vec::new();
        let component = self.component(records);
        self.check_records(&component, &mut found);
        self.check_links(&component, &mut found);
        self.check_clusters(&component, &mut found);
        into_result(found)
    }

    /// In debug builds, panics if a steward action left the graph around `records`
    /// broken; in release builds does nothing.
    pub(super) fn debug_check_around(&self, records: &[u32]) {
        if cfg!(debug_assertions)
            && let Err(violations) = self.check_invariants_around(records)
        {
            panic!("identity engine: {violations}");
        }
    }

    /// Every live record is indexed by its key and under its block keys, and is a
    /// member of exactly one customer, which is not erased.
    fn check_records(&self, records: &[u32], found: &mut Vec<String>) {
        for id in records {
            let Some(entry) = self.records.get(*id as usize).and_then(Option::as_ref) else {
                found.push(format!("record {id} is not live"));
                continue;
            };
            if self.by_key.get(&entry.key, &self.records) != Some(*id) {
                found.push(format!("record {id} is not found by its key"));
            }
            for key in block_keys(&entry.features) {
                if !self.blocks.get(&key).is_some_and(|ids| ids.contains(id)) {
                    found.push(format!("record {id} is missing from one of its blocks"));
                }
            }
            match self.customers.get(&entry.customer) {
                None => found.push(format!(
                    "record {id} belongs to unknown customer {}",
                    entry.customer
                )),
                Some(customer) if customer.erased_at.is_some() => found.push(format!(
                    "record {id} belongs to erased customer {}",
                    customer.id
                )),
                Some(customer) if !customer.members.contains(id) => found.push(format!(
                    "record {id} is not listed as a member of its customer {}",
                    customer.id
                )),
                Some(_) => {}
            }
        }
    }

    /// Links are symmetric, between two different live records, one per pair; a
    /// steward link joins two records of the same customer.
    fn check_links(&self, records: &[u32], found: &mut Vec<String>) {
        for id in records {
            let links = &self.links[*id as usize];
            let mut others = FxHashSet::default();
            for link in links {
                if link.other == *id {
                    found.push(format!("record {id} links to itself"));
                }
                if !others.insert(link.other) {
                    found.push(format!("records {id} and {} are linked twice", link.other));
                }
                let Some(other) = self
                    .records
                    .get(link.other as usize)
                    .and_then(Option::as_ref)
                else {
                    found.push(format!("record {id} links to dead record {}", link.other));
                    continue;
                };
                let mirrored = self.links[link.other as usize]
                    .iter()
                    .any(|back| back.other == *id && back.kind == link.kind);
                if !mirrored {
                    found.push(format!(
                        "the link {id}-{} has no mirror of its kind",
                        link.other
                    ));
                }
                let same_customer = self.records[*id as usize]
                    .as_ref()
                    .is_some_and(|entry| entry.customer == other.customer);
                if link.kind == LinkKind::Steward && !same_customer {
                    found.push(format!(
                        "the steward link {id}-{} crosses customers",
                        link.other
                    ));
                }
            }
        }
    }

    /// A live customer has records, listed once, sorted, each of them live and
    /// pointing back; an erased customer (a tombstone) has none.
    fn check_customers(&self, found: &mut Vec<String>) {
        for (key, customer) in &self.customers {
            if *key != customer.id {
                found.push(format!("customer {} is filed as {key}", customer.id));
            }
            if customer.erased_at.is_some() {
                if !customer.members.is_empty() {
                    found.push(format!("erased customer {} still has records", customer.id));
                }
                continue;
            }
            if customer.members.is_empty() {
                found.push(format!("customer {} has no records", customer.id));
            }
            if customer.members.windows(2).any(|pair| pair[0] >= pair[1]) {
                found.push(format!(
                    "customer {} lists its records unsorted or twice",
                    customer.id
                ));
            }
            for member in &customer.members {
                let points_back = self.records[*member as usize]
                    .as_ref()
                    .is_some_and(|entry| entry.customer == customer.id);
                if !points_back {
                    found.push(format!(
                        "customer {} lists record {member}, which is not its own",
                        customer.id
                    ));
                }
            }
        }
    }

    /// A steward block joins two live records and is never crossed: they are in
    /// different customers.
    fn check_blocks(&self, found: &mut Vec<String>) {
        for (a, b) in &self.blocked {
            if ordered(*a, *b) != (*a, *b) {
                found.push(format!("block {a}-{b} is not stored in order"));
            }
            let (Some(entry_a), Some(entry_b)) = (
                self.records.get(*a as usize).and_then(Option::as_ref),
                self.records.get(*b as usize).and_then(Option::as_ref),
            ) else {
                found.push(format!("block {a}-{b} names a dead record"));
                continue;
            };
            if entry_a.customer == entry_b.customer {
                found.push(format!(
                    "blocked records {a} and {b} share customer {}",
                    entry_a.customer
                ));
            }
        }
    }

    /// An alias is not itself a customer id and resolves in one step to an existing
    /// customer (live, or a tombstone once erased) that lists it.
    fn check_aliases(&self, found: &mut Vec<String>) {
        for (alias, target) in &self.aliases {
            if self.customers.contains_key(alias) {
                found.push(format!("alias {alias} is also a customer"));
            }
            match self.customers.get(target) {
                None => found.push(format!("alias {alias} points at unknown customer {target}")),
                Some(customer) if !customer.aliases.contains(alias) => {
                    found.push(format!("customer {target} does not list its alias {alias}"))
                }
                Some(_) => {}
            }
        }
        for customer in self.customers.values() {
            for alias in &customer.aliases {
                if self.aliases.get(alias) != Some(&customer.id) {
                    found.push(format!(
                        "customer {} lists alias {alias}, which points elsewhere",
                        customer.id
                    ));
                }
            }
        }
    }

    /// The customers are exactly the canonical clusters of the links, the steward's
    /// forced links and blocks: what any order of the same writes would give.
    fn check_clusters(&self, records: &[u32], found: &mut Vec<String>) {
        let mut seen: FxHashSet<u32> = FxHashSet::default();
        for start in records {
            if seen.contains(start) || self.records[*start as usize].is_none() {
                continue;
            }
            let component = self.component(&[*start]);
            seen.extend(component.iter().copied());
            for cluster in self.canonical_clusters(&self.links, &component) {
                let customer_id = &self.records[cluster[0] as usize]
                    .as_ref()
                    .expect("clusters hold live records")
                    .customer;
                let mut expected = cluster.clone();
                expected.sort_unstable();
                let actual = self
                    .customers
                    .get(customer_id)
                    .map(|customer| customer.members.clone())
                    .unwrap_or_default();
                if actual != expected {
                    found.push(format!(
                        "customer {customer_id} holds records {actual:?}, its cluster is {expected:?}"
                    ));
                }
            }
        }
    }
}

fn into_result(found: Vec<String>) -> Result<(), InvariantViolations> {
    if found.is_empty() {
        Ok(())
    } else {
        Err(InvariantViolations(found))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use idic_matching::features::Features;
    use idic_matching::normalize::{NormalizeOptions, normalize_record};
    use idic_matching::params::MatchParameters;
    use idic_matching::record::RawRecord;

    use crate::{Engine, IncomingRecord, RecordContent, RecordKey, Settings};

    fn engine_with_two_customers() -> Engine {
        let mut engine = Engine::new(
            Settings {
                threshold: crate::MatchThreshold::Bits(15.0),
                source_trust: BTreeMap::new(),
            },
            MatchParameters::default(),
        );
        for (id, given, email) in [
            ("1", "Ann", "ann@example.com"),
            ("2", "Ann", "ann@example.com"),
            ("3", "Bob", "bob@example.net"),
        ] {
            let raw = RawRecord {
                given_name: given.to_owned(),
                family_name: "Lee".to_owned(),
                emails: vec![email.to_owned()],
                ..Default::default()
            };
            let normalized = normalize_record(&raw, &NormalizeOptions::default()).unwrap();
            let record = IncomingRecord {
                key: RecordKey::new("crm", id),
                channel: 1,
                observed_at: 1,
                features: Features::of(&normalized),
                content: RecordContent {
                    record: raw,
                    attributes: BTreeMap::new(),
                },
            };
            engine.upsert(record, false, 1);
        }
        engine
    }

    fn violations(engine: &Engine) -> String {
        engine
            .check_invariants()
            .expect_err("the corruption is found")
            .to_string()
    }

    #[test]
    fn a_consistent_engine_passes() {
        let engine = engine_with_two_customers();
        assert_eq!(engine.customer_count(), 2);
        engine.check_invariants().unwrap();
    }

    #[test]
    fn a_record_moved_behind_its_customers_back_is_found() {
        let mut engine = engine_with_two_customers();
        let bob = engine.records[2].as_ref().unwrap().customer.clone();
        engine.records[0].as_mut().unwrap().customer = bob;
        let found = violations(&engine);
        assert!(found.contains("record 0 is not listed"), "{found}");
        assert!(
            found.contains("lists record 0, which is not its own"),
            "{found}"
        );
    }

    #[test]
    fn a_crossed_block_and_a_cluster_that_is_not_canonical_are_found() {
        let mut engine = engine_with_two_customers();
        engine.blocked.insert((0, 1));
        let found = violations(&engine);
        assert!(found.contains("blocked records 0 and 1 share"), "{found}");
        assert!(found.contains("its cluster is"), "{found}");
    }

    #[test]
    fn a_dangling_alias_and_a_one_sided_link_are_found() {
        let mut engine = engine_with_two_customers();
        engine
            .aliases
            .insert("cus_gone".into(), "cus_unknown".into());
        engine.links[1].clear();
        let found = violations(&engine);
        assert!(
            found.contains("alias cus_gone points at unknown"),
            "{found}"
        );
        assert!(found.contains("has no mirror"), "{found}");
    }
}
