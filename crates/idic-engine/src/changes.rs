//! What one write changed, for the store to persist in the same order the engine
//! applied it. Rows carry final states, so applying a change set twice is harmless.

use idic_matching::params::ErasedNames;
use rustc_hash::FxHashMap;
use std::sync::Arc;

use super::records::{RecordContent, RecordKey};

#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    pub record_id: u32,
    pub key: RecordKey,
    pub customer: Arc<str>,
    pub channel: i32,
    pub observed_at: i64,
    pub content: RecordContent,
}

/// A link between two records; `a < b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkRow {
    pub a: u32,
    pub b: u32,
    pub kind: LinkKind,
    pub weight: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Probabilistic = 0,
    Rule = 1,
    Steward = 2,
}

impl LinkKind {
    pub fn from_stored(value: i64) -> LinkKind {
        match value {
            1 => LinkKind::Rule,
            2 => LinkKind::Steward,
            _ => LinkKind::Probabilistic,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    pub customer_id: Arc<str>,
    pub created_at: i64,
    pub updated_at: i64,
    pub erased_at: Option<i64>,
}

/// The wire numbers of `idic.v1.ChangeKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Merged = 1,
    Split = 2,
    Erased = 3,
}

impl ChangeKind {
    pub fn from_stored(value: i64) -> Option<ChangeKind> {
        match value {
            1 => Some(ChangeKind::Merged),
            2 => Some(ChangeKind::Split),
            3 => Some(ChangeKind::Erased),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub event_id: u64,
    pub occurred_at: i64,
    pub kind: ChangeKind,
    pub customer_id: String,
    pub absorbed_ids: Vec<String>,
    pub new_ids: Vec<String>,
    pub actor: String,
    pub reason: String,
}

impl ChangeEvent {
    /// Every customer the event concerns.
    pub fn customers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.customer_id.as_str())
            .chain(self.absorbed_ids.iter().map(String::as_str))
            .chain(self.new_ids.iter().map(String::as_str))
    }
}

/// The final state of everything a write (or a batch of writes) touched, keyed by
/// entity: merging a later change set overwrites earlier states of the same entity, so
/// the store can apply a batch in any order and end where the engine is.
///
/// FxHash, not SipHash: every write of an import fills these maps (SipHash showed at
/// about 3% of the server's CPU in a profile of the 1M import); the keys are ours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSet {
    /// `None`: deleted.
    pub records: FxHashMap<u32, Option<RecordRow>>,
    /// Records whose only change is their customer.
    pub records_moved: FxHashMap<u32, Arc<str>>,
    /// `None`: removed.
    pub links: FxHashMap<(u32, u32), Option<LinkRow>>,
    /// `None`: deleted (absorbed into another customer, which keeps its id as alias).
    pub customers: FxHashMap<Arc<str>, Option<CustomerRow>>,
    /// alias -> customer.
    pub aliases: FxHashMap<Arc<str>, Arc<str>>,
    /// true: added, false: removed.
    pub blocks: FxHashMap<(u32, u32), bool>,
    /// In the order they happened.
    pub events: Vec<ChangeEvent>,
    /// The names of the records an erasure removed, which saved parameters' name
    /// frequencies must forget in the same commit. Never written to the change log.
    pub erased_names: ErasedNames,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.records_moved.is_empty()
            && self.links.is_empty()
            && self.customers.is_empty()
            && self.aliases.is_empty()
            && self.blocks.is_empty()
            && self.events.is_empty()
            && self.erased_names.is_empty()
    }

    pub fn upsert_record(&mut self, row: RecordRow) {
        self.records_moved.remove(&row.record_id);
        self.records.insert(row.record_id, Some(row));
    }

    pub fn delete_record(&mut self, record_id: u32) {
        self.records_moved.remove(&record_id);
        self.records.insert(record_id, None);
    }

    pub fn move_record(&mut self, record_id: u32, customer: Arc<str>) {
        match self.records.get_mut(&record_id) {
            Some(Some(row)) => row.customer = customer,
            Some(None) => {}
            None => {
                self.records_moved.insert(record_id, customer);
            }
        }
    }

    pub fn add_link(&mut self, link: LinkRow) {
        self.links.insert((link.a, link.b), Some(link));
    }

    pub fn remove_link(&mut self, a: u32, b: u32) {
        self.links.insert((a.min(b), a.max(b)), None);
    }

    pub fn upsert_customer(&mut self, row: CustomerRow) {
        self.customers.insert(row.customer_id.clone(), Some(row));
    }

    pub fn delete_customer(&mut self, customer_id: Arc<str>) {
        self.customers.insert(customer_id, None);
    }

    /// Merges `later` into this set: for each entity, the later state wins.
    pub fn extend(&mut self, later: ChangeSet) {
        if self.is_empty() {
            // A group commit's first set, or a write's into an empty batch: taken whole.
            *self = later;
            return;
        }
        for (record_id, row) in later.records {
            match row {
                Some(row) => self.upsert_record(row),
                None => self.delete_record(record_id),
            }
        }
        for (record_id, customer) in later.records_moved {
            self.move_record(record_id, customer);
        }
        self.links.extend(later.links);
        self.customers.extend(later.customers);
        self.aliases.extend(later.aliases);
        self.blocks.extend(later.blocks);
        self.events.extend(later.events);
        self.erased_names.extend(later.erased_names);
    }
}
