//! The identity engine: every record, its blocking keys and links, and the customers
//! they form, in memory, so that a record is resolved in microseconds. Every change is
//! also returned as a [`ChangeSet`] that the store persists before the caller is
//! answered; on start the engine is rebuilt from the store.
//!
//! Resolution is incremental but order-independent. A record is linked to every record
//! it shares a blocking key with and scores above the threshold (a pure function of the
//! two records and the saved parameters). Customers are the clusters of each connected
//! group of links, recomputed canonically (see `idic_matching::cluster`) whenever a
//! record joins or leaves the group. So the same records give the same customers,
//! whatever order they came in.
//!
//! A steward's decisions are part of the graph: a merge ties every record of the named
//! customers to one anchor by forced (steward) links, which join regardless of the
//! matcher's constraints, and the steward vouches that records which look like
//! different persons are one customer: a customer holding steward links keeps out only
//! a record clearly different from all of its records. An unmerge cuts the moved
//! records' links to the rest, ties the moved records together, keeps what a steward
//! joined among the rest joined and, when asked, blocks every moved/remaining pair.
//!
//! # Invariants
//!
//! Checked by [`Engine::check_invariants`] (tests run it after every step) and, in
//! debug builds, around every steward action:
//!
//! 1. Every live record belongs to exactly one customer, which lists it and is not
//!    erased; every live customer has records; an erased customer (tombstone) has none.
//! 2. The customers are exactly the canonical clusters of the links, the steward's
//!    forced links and blocks, so they do not depend on the order of the writes, and a
//!    rebuild from the store gives the same customers.
//! 3. Links are symmetric, one per pair, between live records; a steward link never
//!    crosses customers, so records a steward joined stay together until an unmerge.
//! 4. A steward merge leaves every record of the named customers in one customer, the
//!    oldest of those it joined, and reports every customer absorbed into it.
//! 5. An unmerge moves the named records, and only them, into one new customer; the
//!    customer keeps its id with the records left in it (which, without the moved
//!    records, may fall into several parts or join an older customer).
//! 6. A steward block is never crossed: blocked records are in different customers,
//!    until a steward merges their customers (which lifts the blocks between them).
//! 7. An alias is never a customer id and points, in one step, at an existing customer
//!    (a tombstone once erased) that lists it.

mod block_index;
mod changes;
mod conflict_memo;
mod explain_notes;
mod golden;
mod image;
mod invariants;
mod key_index;
mod phone_holders;
mod records;
mod replay;
mod rescore;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use idic_matching::blocking::{BlockKey, block_keys};
use idic_matching::cluster::{Constraints, Link, LinkStrength, cluster, may_join};
use idic_matching::features::Features;
use idic_matching::params::{ErasedNames, MatchParameters};
use idic_matching::record::IdKind;
use idic_matching::score::{
    PairScore, PhoneHolders, RecordAll, Separation, compare_in, explains, link_score,
    personal_agreement, separation,
};
use rustc_hash::{FxHashMap, FxHashSet};

use conflict_memo::ConflictMemo;

pub use changes::{ChangeEvent, ChangeKind, ChangeSet, CustomerRow, LinkKind, LinkRow, RecordRow};
pub use golden::{Golden, Provenance, golden_record};
pub use image::{EngineImage, ImageError, ImageOf};
pub use invariants::InvariantViolations;
pub use records::{
    IncomingRecord, PackedContent, PreparedRecord, RecordContent, RecordEntry, RecordKey,
};
pub use rescore::{ReclusterPass, ReclusterTotals};

/// The actor recorded for the matcher's own merges and splits.
pub const AUTOMATIC: &str = "auto";

/// A link as the engine keeps it, from one record to another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkTo {
    pub other: u32,
    pub kind: LinkKind,
    pub weight: f32,
}

/// A customer: a cluster of records, or the tombstone of an erased one.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: Arc<str>,
    pub created_at: i64,
    pub updated_at: i64,
    pub members: Vec<u32>,
    pub aliases: Vec<Arc<str>>,
    pub erased_at: Option<i64>,
}

/// What a write did for the record written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Joined,
    Merged,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpsertResult {
    pub customer_id: Arc<str>,
    pub outcome: Outcome,
    pub merged: Vec<Arc<str>>,
    /// Customers created by this write (for the record or for split parts).
    pub created: usize,
    /// Customers this write merged into others, wherever (not only into this
    /// record's customer).
    pub absorbed: usize,
}

/// Why a steward action or a look-up cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Precondition(String),
}

/// A candidate customer for a look-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub customer_id: Arc<str>,
    pub score: f64,
    pub probability: f64,
    pub above_threshold: bool,
    pub matched_fields: Vec<&'static str>,
}

/// A link explained field by field.
#[derive(Debug, Clone)]
pub struct PairExplanation {
    pub a: RecordKey,
    pub b: RecordKey,
    pub score: PairScore,
    pub fields: Vec<idic_matching::score::FieldOutcome>,
    pub blocked: bool,
    pub probability: f64,
    pub above_threshold: bool,
    /// What decided the pair beyond its fields: whose a shared phone is in the base;
    /// why records apart pair by pair are one customer (the record that explains
    /// their difference), or linked records two customers.
    pub notes: Vec<String>,
}

/// Matching settings fixed by configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub threshold: MatchThreshold,
    pub source_trust: BTreeMap<String, u8>,
}

/// When two records are linked: `identity.match_probability`, or the bits of the
/// `identity.match_threshold` alias when it is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MatchThreshold {
    /// A match probability, in bits through the current parameters' prior.
    Probability(f64),
    /// A match weight in bits, whatever the parameters.
    Bits(f64),
}

impl MatchThreshold {
    /// The alias wins when set (see `IdentityConfig::match_threshold`).
    pub fn from_config(probability: f64, bits: Option<f64>) -> MatchThreshold {
        bits.map_or(
            MatchThreshold::Probability(probability),
            MatchThreshold::Bits,
        )
    }

    /// The total weight from which a pair links under `params`.
    pub fn bits(self, params: &MatchParameters) -> f64 {
        match self {
            MatchThreshold::Probability(probability) => {
                params.threshold_for_probability(probability)
            }
            MatchThreshold::Bits(bits) => bits,
        }
    }
}

pub struct Engine {
    settings: Settings,
    params: Arc<MatchParameters>,
    /// `settings.threshold` in bits under `params`, kept with them.
    threshold: f64,
    records: Vec<Option<RecordEntry>>,
    by_key: key_index::KeyIndex,
    blocks: block_index::BlockIndex,
    links: Vec<Vec<LinkTo>>,
    /// Boxed: the table then holds 24 bytes per bucket instead of 112, and half of its
    /// buckets are empty after it doubles. At a million records the doubling from
    /// 2^19 to 2^20 buckets came near the end of the import and, old and new tables
    /// side by side, set the import's peak memory (see docs/benchmarks.md).
    customers: FxHashMap<Arc<str>, Box<Customer>>,
    aliases: FxHashMap<Arc<str>, Arc<str>>,
    blocked: FxHashSet<(u32, u32)>,
    next_event_id: u64,
    /// Pairs the clustering found clearly different or not, for the next writes to the
    /// same group; cleared whenever a record's fields or the parameters change.
    conflicts: ConflictMemo,
}

fn ordered(a: u32, b: u32) -> (u32, u32) {
    (a.min(b), a.max(b))
}

fn new_customer_id() -> Arc<str> {
    Arc::from(format!("cus_{}", uuid::Uuid::now_v7().simple()))
}

impl Engine {
    pub fn new(settings: Settings, params: MatchParameters) -> Engine {
        Engine {
            threshold: settings.threshold.bits(&params),
            settings,
            params: Arc::new(params),
            records: Vec::new(),
            by_key: key_index::KeyIndex::default(),
            blocks: block_index::BlockIndex::default(),
            links: Vec::new(),
            customers: FxHashMap::default(),
            aliases: FxHashMap::default(),
            blocked: FxHashSet::default(),
            next_event_id: 1,
            conflicts: ConflictMemo::default(),
        }
    }

    pub fn params(&self) -> &MatchParameters {
        &self.params
    }

    /// New parameters apply to comparisons from now on; links already found stay.
    pub fn set_params(&mut self, params: MatchParameters) {
        self.conflicts.clear();
        self.threshold = self.settings.threshold.bits(&params);
        self.params = Arc::new(params);
    }

    /// The match threshold in bits under the current parameters.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn record_count(&self) -> usize {
        self.by_key.len()
    }

    pub fn customer_count(&self) -> usize {
        self.customers
            .values()
            .filter(|customer| customer.erased_at.is_none())
            .count()
    }

    // ----- loading -----------------------------------------------------------------

    /// Puts a stored record back (at start). Links and customers follow. Refuses a
    /// record whose key another stored record has: the engine files each key once,
    /// and the embedded store has no unique index that would have refused the write.
    pub fn load_record(&mut self, record_id: u32, entry: RecordEntry) -> Result<(), EngineError> {
        if let Some(other) = self.by_key.get(&entry.key, &self.records)
            && other != record_id
        {
            return Err(EngineError::Precondition(format!(
                "stored records {other} and {record_id} both have the key {}/{}",
                entry.key.source_system, entry.key.source_record_id
            )));
        }
        self.conflicts.clear();
        let slot = record_id as usize;
        if self.records.len() <= slot {
            self.records.resize_with(slot + 1, || None);
            self.links.resize_with(slot + 1, Vec::new);
        }
        for key in block_keys(&entry.features) {
            self.blocks.insert(key, record_id);
        }
        if let Some(previous) = &self.records[slot] {
            // While the record is still in place: the index reads keys from it.
            self.by_key.remove(&previous.key, &self.records);
        }
        self.records[slot] = Some(entry);
        self.by_key.insert(record_id, &self.records);
        Ok(())
    }

    pub fn load_link(&mut self, row: LinkRow) {
        let (a, b) = (row.a as usize, row.b as usize);
        if a >= self.links.len() || b >= self.links.len() {
            return;
        }
        let weight = row.weight as f32;
        self.links[a].push(LinkTo {
            other: row.b,
            kind: row.kind,
            weight,
        });
        self.links[b].push(LinkTo {
            other: row.a,
            kind: row.kind,
            weight,
        });
    }

    pub fn load_customer(&mut self, row: CustomerRow) {
        let id = row.customer_id.clone();
        self.customers.insert(
            id.clone(),
            Box::new(Customer {
                id,
                created_at: row.created_at,
                updated_at: row.updated_at,
                members: Vec::new(),
                aliases: Vec::new(),
                erased_at: row.erased_at,
            }),
        );
    }

    pub fn load_alias(&mut self, alias: Arc<str>, customer: Arc<str>) {
        if let Some(target) = self.customers.get_mut(&customer) {
            target.aliases.push(alias.clone());
        }
        self.aliases.insert(alias, customer);
    }

    pub fn load_block(&mut self, a: u32, b: u32) {
        self.blocked.insert(ordered(a, b));
    }

    /// Rebuilds membership lists from the records' customers once everything is loaded.
    pub fn finish_loading(&mut self, next_event_id: u64) {
        for (slot, entry) in self.records.iter().enumerate() {
            if let Some(entry) = entry
                && let Some(customer) = self.customers.get_mut(&entry.customer)
            {
                customer.members.push(slot as u32);
            }
        }
        self.next_event_id = next_event_id.max(1);
    }

    // ----- reads -------------------------------------------------------------------

    /// The surviving id of a customer id or alias.
    pub fn surviving_id(&self, id: &str) -> Option<&Customer> {
        match self.customers.get(id) {
            Some(customer) => Some(&**customer),
            None => self
                .aliases
                .get(id)
                .and_then(|target| self.customers.get(target))
                .map(|customer| &**customer),
        }
    }

    pub fn record(&self, key: &RecordKey) -> Option<(u32, &RecordEntry)> {
        let id = self.by_key.get(key, &self.records)?;
        self.records[id as usize].as_ref().map(|entry| (id, entry))
    }

    pub fn members<'a>(&'a self, customer: &Customer) -> Vec<&'a RecordEntry> {
        let mut members: Vec<&RecordEntry> = customer
            .members
            .iter()
            .filter_map(|id| self.records[*id as usize].as_ref())
            .collect();
        members.sort_by(|x, y| (x.observed_at, x.key.order()).cmp(&(y.observed_at, y.key.order())));
        members
    }

    pub fn golden(&self, customer: &Customer) -> Golden {
        let trust = |system: &str| {
            self.settings
                .source_trust
                .get(system)
                .copied()
                .unwrap_or(50)
        };
        golden_record(&self.members(customer), &trust)
    }

    /// Every record's key and customer, in record order.
    pub fn assignments(&self) -> Vec<(RecordKey, Arc<str>)> {
        self.records
            .iter()
            .flatten()
            .map(|entry| (entry.key.clone(), entry.customer.clone()))
            .collect()
    }

    pub fn features_of_all(&self) -> impl Iterator<Item = &Features> {
        self.records.iter().flatten().map(|entry| &entry.features)
    }

    /// Record ids sharing a block key with `features`.
    fn candidates(&self, features: &Features, exclude: Option<u32>) -> Vec<u32> {
        self.candidates_for_keys(&block_keys(features), exclude)
    }

    /// Record ids filed under any of `keys`.
    fn candidates_for_keys(&self, keys: &[BlockKey], exclude: Option<u32>) -> Vec<u32> {
        let mut candidates: Vec<u32> = keys
            .iter()
            .filter_map(|key| self.blocks.get(key))
            .flatten()
            .copied()
            .filter(|id| Some(*id) != exclude)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        candidates
    }

    /// Candidate pairs as blocking produces them, for parameter estimation.
    pub fn blocked_pairs_sample(&self, limit: usize) -> Vec<(u32, u32)> {
        let mut pairs = Vec::new();
        for (_, members) in self.blocks.iter() {
            for (index, a) in members.iter().enumerate() {
                for b in &members[index + 1..] {
                    pairs.push(ordered(*a, *b));
                    if pairs.len() >= limit * 2 {
                        break;
                    }
                }
            }
            if pairs.len() >= limit * 2 {
                break;
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        pairs.truncate(limit);
        pairs
    }

    fn order_of(&self, id: u32) -> (&str, &str) {
        self.records[id as usize]
            .as_ref()
            .map_or(("", ""), |entry| entry.key.order())
    }

    pub fn features_of(&self, id: u32) -> Option<&Features> {
        self.records
            .get(id as usize)?
            .as_ref()
            .map(|entry| &entry.features)
    }

    pub fn record_ids(&self) -> Vec<u32> {
        (0..self.records.len() as u32)
            .filter(|id| self.records[*id as usize].is_some())
            .collect()
    }

    /// Ranked customers for a query. With `only_holders`, only records that hold one of
    /// the query's identifiers count (a strong look-up).
    pub fn resolve(&self, query: &Features, limit: usize, only_holders: bool) -> Vec<Candidate> {
        let mut best: HashMap<Arc<str>, (f64, bool, Vec<&'static str>)> = HashMap::new();
        for id in self.candidates(query, None) {
            let Some(entry) = &self.records[id as usize] else {
                continue;
            };
            if only_holders && !holds_identifier(&entry.features, query) {
                continue;
            }
            let mut fields = RecordAll::default();
            let score = compare_in(query, &entry.features, &self.params, self, &mut fields);
            let decisive = score.rule.is_some() || only_holders;
            let total = if decisive {
                score.total.max(self.threshold)
            } else {
                score.total
            };
            let matched: Vec<&'static str> = fields
                .0
                .iter()
                .filter(|outcome| outcome.weight > 0.0)
                .map(|outcome| outcome.field.name())
                .collect();
            let slot = best.entry(entry.customer.clone()).or_insert((
                f64::NEG_INFINITY,
                false,
                Vec::new(),
            ));
            if total > slot.0 {
                *slot = (total, decisive, matched);
            }
        }
        let holders = best.values().filter(|(_, decisive, _)| *decisive).count();
        let mut candidates: Vec<Candidate> = best
            .into_iter()
            .map(
                |(customer_id, (score, decisive, matched_fields))| Candidate {
                    customer_id,
                    score,
                    probability: if decisive && holders == 1 {
                        1.0
                    } else {
                        self.params.probability(score)
                    },
                    above_threshold: decisive || score >= self.threshold,
                    matched_fields,
                },
            )
            .collect();
        candidates.sort_by(|x, y| {
            y.score
                .total_cmp(&x.score)
                .then_with(|| x.customer_id.cmp(&y.customer_id))
        });
        candidates.truncate(limit);
        candidates
    }

    /// Two records compared field by field.
    pub fn explain_pair(
        &self,
        a: &RecordKey,
        b: &RecordKey,
    ) -> Result<PairExplanation, EngineError> {
        let (id_a, entry_a) = self.record(a).ok_or_else(|| {
            EngineError::NotFound(format!(
                "no record {}/{}",
                a.source_system, a.source_record_id
            ))
        })?;
        let (id_b, entry_b) = self.record(b).ok_or_else(|| {
            EngineError::NotFound(format!(
                "no record {}/{}",
                b.source_system, b.source_record_id
            ))
        })?;
        let mut fields = RecordAll::default();
        let mut score = compare_in(
            &entry_a.features,
            &entry_b.features,
            &self.params,
            self,
            &mut fields,
        );
        // The explanation names what keeps the pair apart at the configured threshold.
        score.conflict = score.separation(self.threshold);
        let notes = self.pair_notes(id_a, id_b, &score);
        Ok(PairExplanation {
            a: a.clone(),
            b: b.clone(),
            score,
            fields: fields.0,
            blocked: self.blocked.contains(&ordered(id_a, id_b)),
            probability: if score.rule.is_some() {
                1.0
            } else {
                self.params.probability(score.total)
            },
            above_threshold: score.is_link(self.threshold),
            notes,
        })
    }

    /// The links that tie a record to its customer: a spanning tree from the record
    /// over links between members, in the order they reach each member.
    pub fn explain_record(
        &self,
        key: &RecordKey,
    ) -> Result<(Arc<str>, Vec<PairExplanation>), EngineError> {
        let (start, entry) = self
            .record(key)
            .ok_or_else(|| EngineError::NotFound("no such record".to_owned()))?;
        let customer = entry.customer.clone();
        let mut seen = FxHashSet::default();
        seen.insert(start);
        let mut queue = std::collections::VecDeque::from([start]);
        let mut explanations = Vec::new();
        while let Some(current) = queue.pop_front() {
            let mut neighbours: Vec<LinkTo> = self.links[current as usize].clone();
            neighbours.sort_by(|x, y| y.weight.total_cmp(&x.weight).then(x.other.cmp(&y.other)));
            for link in neighbours {
                let Some(other) = &self.records[link.other as usize] else {
                    continue;
                };
                if other.customer != customer || !seen.insert(link.other) {
                    continue;
                }
                let from = self.records[current as usize]
                    .as_ref()
                    .map(|e| e.key.clone());
                if let Some(from) = from {
                    explanations.push(self.explain_pair(&from, &other.key)?);
                }
                queue.push_back(link.other);
            }
        }
        Ok((customer, explanations))
    }

    // ----- writes ------------------------------------------------------------------

    fn take_event_id(&mut self) -> u64 {
        let id = self.next_event_id;
        self.next_event_id += 1;
        id
    }

    /// Adds or replaces a record and resolves it.
    pub fn upsert(
        &mut self,
        incoming: impl Into<PreparedRecord>,
        explicit_time: bool,
        now: i64,
    ) -> (UpsertResult, ChangeSet) {
        let mut changes = ChangeSet::default();
        let result = self.upsert_into(incoming, explicit_time, now, &mut changes);
        (result, changes)
    }

    /// [`Engine::upsert`], adding its changes to `changes` (what earlier writes of a
    /// batch changed): the same set as extending it with each write's own, without
    /// a set per record whose rows are then moved again.
    pub fn upsert_into(
        &mut self,
        incoming: impl Into<PreparedRecord>,
        explicit_time: bool,
        now: i64,
        changes: &mut ChangeSet,
    ) -> UpsertResult {
        let PreparedRecord {
            incoming,
            packed,
            keys,
        } = incoming.into();
        let known = self.by_key.get(&incoming.key, &self.records);
        let stored = known
            .and_then(|id| self.records[id as usize].as_ref())
            .map(|entry| &entry.features);
        let phones_before = self.phone_roles(stored.into_iter().chain([&incoming.features]));
        let (id, mut seeds) = match known {
            Some(id) => {
                let Some(existing) = self.records[id as usize].as_ref() else {
                    unreachable!("by_key only names live records")
                };
                let same_time = !explicit_time || existing.observed_at == incoming.observed_at;
                if existing.content == packed && existing.channel == incoming.channel && same_time {
                    let result = UpsertResult {
                        customer_id: existing.customer.clone(),
                        outcome: Outcome::Unchanged,
                        merged: Vec::new(),
                        created: 0,
                        absorbed: 0,
                    };
                    return result;
                }
                let old_customer = existing.customer.clone();
                let observed_at = if explicit_time {
                    incoming.observed_at
                } else {
                    existing.observed_at
                };
                let mut seeds: Vec<u32> = self
                    .customers
                    .get(&old_customer)
                    .map(|c| c.members.clone())
                    .unwrap_or_default();
                seeds.extend(self.links[id as usize].iter().map(|link| link.other));
                self.unfile(id, changes, false);
                // The record's fields change: what was remembered about it is stale.
                self.conflicts.clear();
                let entry = self.records[id as usize].as_mut().expect("present");
                entry.content = packed;
                entry.features = incoming.features;
                entry.channel = incoming.channel;
                entry.observed_at = observed_at;
                seeds.push(id);
                (id, seeds)
            }
            None => {
                let id = self.records.len() as u32;
                self.records.push(Some(RecordEntry {
                    key: incoming.key,
                    channel: incoming.channel,
                    observed_at: incoming.observed_at,
                    content: packed,
                    features: incoming.features,
                    customer: Arc::from(""),
                }));
                self.by_key.insert(id, &self.records);
                self.links.push(Vec::new());
                (id, vec![id])
            }
        };
        // Filed before it is compared: whether its numbers are one person's counts it too.
        self.file(id, &keys);
        self.link(id, &keys, changes);
        seeds.extend(self.relink_turned(phones_before, changes));
        let component = self.component(&seeds);
        let outcome = self.recluster(&component, &[], now, AUTOMATIC, "", changes);
        let entry = self.records[id as usize].as_ref().expect("present");
        changes.upsert_record(RecordRow {
            record_id: id,
            key: entry.key.clone(),
            customer: entry.customer.clone(),
            channel: entry.channel,
            observed_at: entry.observed_at,
            content: incoming.content,
        });
        let customer_id = entry.customer.clone();
        let merged = outcome
            .absorbed_into
            .get(&customer_id)
            .cloned()
            .unwrap_or_default();
        UpsertResult {
            outcome: if outcome.created.contains(&customer_id) {
                Outcome::Created
            } else if !merged.is_empty() {
                Outcome::Merged
            } else {
                Outcome::Joined
            },
            customer_id,
            merged,
            created: outcome.created.len(),
            absorbed: outcome.absorbed_into.values().map(Vec::len).sum(),
        }
    }

    /// Files the record under its block keys.
    fn file(&mut self, id: u32, keys: &[BlockKey]) {
        for key in keys {
            self.blocks.insert(*key, id);
        }
    }

    /// Takes the record out of its block keys and drops its links (all of them when
    /// `with_steward_links`, else the matcher's own).
    fn unfile(&mut self, id: u32, changes: &mut ChangeSet, with_steward_links: bool) {
        let Some(entry) = &self.records[id as usize] else {
            return;
        };
        for key in block_keys(&entry.features) {
            self.blocks.remove(key, id);
        }
        let removed: Vec<LinkTo> = std::mem::take(&mut self.links[id as usize]);
        let mut kept = Vec::new();
        for link in removed {
            if link.kind == LinkKind::Steward && !with_steward_links {
                kept.push(link);
                continue;
            }
            self.links[link.other as usize].retain(|back| back.other != id);
            changes.remove_link(id, link.other);
        }
        self.links[id as usize] = kept;
    }

    /// Compares the record with every record sharing a block key and keeps the links.
    fn link(&mut self, id: u32, keys: &[BlockKey], changes: &mut ChangeSet) {
        let Some(entry) = &self.records[id as usize] else {
            return;
        };
        let features = &entry.features;
        let mut found = Vec::new();
        for other in self.candidates_for_keys(keys, Some(id)) {
            let Some(other_entry) = &self.records[other as usize] else {
                continue;
            };
            let Some(score) = link_score(features, &other_entry.features, &self.params, self)
            else {
                continue;
            };
            if score.is_link(self.threshold) {
                let kind = if score.rule.is_some() {
                    LinkKind::Rule
                } else {
                    LinkKind::Probabilistic
                };
                found.push((other, kind, score.total));
            }
        }
        for (other, kind, weight) in found {
            if self.links[id as usize]
                .iter()
                .any(|link| link.other == other)
            {
                continue;
            }
            let weight32 = weight as f32;
            self.links[id as usize].push(LinkTo {
                other,
                kind,
                weight: weight32,
            });
            self.links[other as usize].push(LinkTo {
                other: id,
                kind,
                weight: weight32,
            });
            let (a, b) = ordered(id, other);
            changes.add_link(LinkRow { a, b, kind, weight });
        }
    }

    /// Every record connected to `seeds` by links, sorted.
    fn component(&self, seeds: &[u32]) -> Vec<u32> {
        self.component_in(&self.links, seeds)
    }

    /// Every live record connected to `seeds` by `links` (the engine's, or a dry run's
    /// copy), sorted.
    fn component_in(&self, links: &[Vec<LinkTo>], seeds: &[u32]) -> Vec<u32> {
        let is_live = |id: u32| self.records.get(id as usize).is_some_and(Option::is_some);
        let mut seen = FxHashSet::default();
        let mut stack: Vec<u32> = Vec::new();
        for seed in seeds {
            if is_live(*seed) && seen.insert(*seed) {
                stack.push(*seed);
            }
        }
        while let Some(current) = stack.pop() {
            for link in links.get(current as usize).map_or(&[][..], Vec::as_slice) {
                if is_live(link.other) && seen.insert(link.other) {
                    stack.push(link.other);
                }
            }
        }
        let mut component: Vec<u32> = seen.into_iter().collect();
        component.sort_unstable();
        component
    }

    /// Clusters `component` canonically, then gives the clusters ids: each existing
    /// customer goes to the cluster holding most of its records (the oldest customer
    /// first, so the oldest id survives a merge and the largest part keeps the id in a
    /// split; in an unmerge the customer of `keep_id_with` keeps its id with them);
    /// clusters left without an id get a new one.
    fn recluster(
        &mut self,
        component: &[u32],
        keep_id_with: &[u32],
        now: i64,
        actor: &str,
        reason: &str,
        changes: &mut ChangeSet,
    ) -> Recluster {
        let memo = RefCell::new(std::mem::take(&mut self.conflicts));
        let clusters = self.clusters_with_memo(&self.links, component, Some(&memo));
        self.conflicts = memo.into_inner();
        let plan = self.plan_survivors(component, clusters, keep_id_with);
        self.apply_survivor_plan(plan, now, actor, reason, changes)
    }

    /// Which existing customer's id each cluster keeps, which customers are absorbed
    /// into which, and which are split; changes nothing.
    fn plan_survivors(
        &self,
        component: &[u32],
        clusters: Vec<Vec<u32>>,
        keep_id_with: &[u32],
    ) -> SurvivorPlan {
        // An unmerge's customer keeps its id with the records the steward left in it,
        // whichever part is larger: the moved records are the ones that leave.
        let keeps_id_with_preferred = keep_id_with
            .first()
            .and_then(|id| self.records[*id as usize].as_ref())
            .map(|entry| entry.customer.clone());
        let mut cluster_of: FxHashMap<u32, usize> = FxHashMap::default();
        for (index, cluster) in clusters.iter().enumerate() {
            for id in cluster {
                cluster_of.insert(*id, index);
            }
        }
        // Existing customers of the component, oldest first, with their records' clusters.
        let mut previous: BTreeMap<(i64, Arc<str>), BTreeMap<usize, usize>> = BTreeMap::new();
        for id in component {
            let entry = self.records[*id as usize]
                .as_ref()
                .expect("component members are live");
            if let Some(customer) = self.customers.get(&entry.customer) {
                *previous
                    .entry((customer.created_at, customer.id.clone()))
                    .or_default()
                    .entry(cluster_of[id])
                    .or_default() += 1;
            }
        }
        let mut kept_ids: Vec<Option<Arc<str>>> = vec![None; clusters.len()];
        let mut absorbed_into: BTreeMap<Arc<str>, Vec<Arc<str>>> = BTreeMap::new();
        let mut splits: BTreeMap<Arc<str>, Vec<usize>> = BTreeMap::new();
        // Ties between parts of equal size: the part holding records a steward left in
        // place, then the part holding the earliest observed record.
        let tie_break: Vec<(bool, i64)> = clusters
            .iter()
            .map(|cluster| {
                let preferred = cluster.iter().any(|id| keep_id_with.contains(id));
                let earliest = cluster
                    .iter()
                    .filter_map(|id| self.records[*id as usize].as_ref())
                    .map(|e| e.observed_at)
                    .min()
                    .unwrap_or(i64::MAX);
                (preferred, earliest)
            })
            .collect();
        for ((_, customer_id), counts) in &previous {
            let steward_choice = keeps_id_with_preferred.as_ref() == Some(customer_id);
            let target = counts
                .iter()
                .max_by(|x, y| {
                    let preferred = |cluster: &usize| steward_choice && tie_break[*cluster].0;
                    preferred(x.0)
                        .cmp(&preferred(y.0))
                        .then(x.1.cmp(y.1))
                        .then(tie_break[*x.0].0.cmp(&tie_break[*y.0].0))
                        .then(tie_break[*y.0].1.cmp(&tie_break[*x.0].1))
                        .then(y.0.cmp(x.0))
                })
                .map(|(cluster, _)| *cluster)
                .expect("a customer in the component has records in it");
            match &kept_ids[target] {
                None => kept_ids[target] = Some(customer_id.clone()),
                Some(survivor) => absorbed_into
                    .entry(survivor.clone())
                    .or_default()
                    .push(customer_id.clone()),
            }
            if counts.len() > 1 {
                splits.insert(
                    customer_id.clone(),
                    counts
                        .keys()
                        .copied()
                        .filter(|cluster| *cluster != target)
                        .collect(),
                );
            }
        }
        SurvivorPlan {
            clusters,
            kept_ids,
            absorbed_into,
            splits,
        }
    }

    /// Carries out a plan: new customers for clusters without an id, absorbed customers
    /// become aliases, records move, and MERGED/SPLIT events record it.
    fn apply_survivor_plan(
        &mut self,
        plan: SurvivorPlan,
        now: i64,
        actor: &str,
        reason: &str,
        changes: &mut ChangeSet,
    ) -> Recluster {
        let SurvivorPlan {
            clusters,
            kept_ids,
            absorbed_into,
            splits,
        } = plan;
        let mut outcome = Recluster {
            absorbed_into,
            created: Vec::new(),
        };
        let assigned = self.create_customers(kept_ids, now, &mut outcome.created);
        self.absorb_customers(&outcome.absorbed_into, changes);
        self.move_members(&clusters, &assigned, now, changes);
        self.emit_recluster_events(
            &outcome.absorbed_into,
            splits,
            &assigned,
            now,
            actor,
            reason,
            changes,
        );
        outcome
    }

    /// Gives every cluster without a kept id a new customer.
    fn create_customers(
        &mut self,
        kept_ids: Vec<Option<Arc<str>>>,
        now: i64,
        created: &mut Vec<Arc<str>>,
    ) -> Vec<Arc<str>> {
        kept_ids
            .into_iter()
            .map(|slot| {
                slot.unwrap_or_else(|| {
                    let id = new_customer_id();
                    created.push(id.clone());
                    self.customers.insert(
                        id.clone(),
                        Box::new(Customer {
                            id: id.clone(),
                            created_at: now,
                            updated_at: now,
                            members: Vec::new(),
                            aliases: Vec::new(),
                            erased_at: None,
                        }),
                    );
                    id
                })
            })
            .collect()
    }

    /// Absorbed customers become aliases of their survivor, with their own aliases.
    fn absorb_customers(
        &mut self,
        absorbed_into: &BTreeMap<Arc<str>, Vec<Arc<str>>>,
        changes: &mut ChangeSet,
    ) {
        for (survivor, absorbed) in absorbed_into {
            for old in absorbed {
                let Some(gone) = self.customers.remove(old) else {
                    continue;
                };
                let mut moved_aliases = gone.aliases;
                moved_aliases.push(old.clone());
                for alias in &moved_aliases {
                    self.aliases.insert(alias.clone(), survivor.clone());
                    changes.aliases.insert(alias.clone(), survivor.clone());
                }
                if let Some(target) = self.customers.get_mut(survivor) {
                    target.aliases.extend(moved_aliases);
                }
                changes.delete_customer(old.clone());
            }
        }
    }

    /// Moves every record to its cluster's customer and sets the members lists.
    fn move_members(
        &mut self,
        clusters: &[Vec<u32>],
        assigned: &[Arc<str>],
        now: i64,
        changes: &mut ChangeSet,
    ) {
        for (index, cluster) in clusters.iter().enumerate() {
            let customer_id = &assigned[index];
            for id in cluster {
                let entry = self.records[*id as usize].as_mut().expect("live");
                if entry.customer != *customer_id {
                    if let Some(old) = self.customers.get_mut(&entry.customer) {
                        old.members.retain(|member| member != id);
                        if old.erased_at.is_none() {
                            old.updated_at = now;
                        }
                    }
                    entry.customer = customer_id.clone();
                    changes.move_record(*id, customer_id.clone());
                }
            }
            let customer = self
                .customers
                .get_mut(customer_id)
                .expect("assigned customers exist");
            let mut members = cluster.clone();
            members.sort_unstable();
            if customer.members != members {
                customer.members = members;
                customer.updated_at = now;
            }
        }
        for customer_id in assigned {
            let customer = &self.customers[customer_id];
            changes.upsert_customer(CustomerRow {
                customer_id: customer.id.clone(),
                created_at: customer.created_at,
                updated_at: customer.updated_at,
                erased_at: customer.erased_at,
            });
        }
    }

    /// One MERGED event per survivor and one SPLIT event per customer that lost records
    /// to other clusters.
    #[allow(clippy::too_many_arguments)]
    fn emit_recluster_events(
        &mut self,
        absorbed_into: &BTreeMap<Arc<str>, Vec<Arc<str>>>,
        splits: BTreeMap<Arc<str>, Vec<usize>>,
        assigned: &[Arc<str>],
        now: i64,
        actor: &str,
        reason: &str,
        changes: &mut ChangeSet,
    ) {
        for (survivor, absorbed) in absorbed_into {
            let event = ChangeEvent {
                event_id: self.take_event_id(),
                occurred_at: now,
                kind: ChangeKind::Merged,
                customer_id: survivor.to_string(),
                absorbed_ids: absorbed.iter().map(|id| id.to_string()).collect(),
                new_ids: Vec::new(),
                actor: actor.to_owned(),
                reason: reason.to_owned(),
            };
            changes.events.push(event);
        }
        for (customer_id, parts) in splits {
            let new_ids: Vec<String> = parts
                .iter()
                .map(|part| assigned[*part].to_string())
                .filter(|id| *id != *customer_id)
                .collect();
            if new_ids.is_empty() {
                continue;
            }
            let survivor = self
                .surviving_id(&customer_id)
                .map(|c| c.id.to_string())
                .unwrap_or_else(|| customer_id.to_string());
            let event = ChangeEvent {
                event_id: self.take_event_id(),
                occurred_at: now,
                kind: ChangeKind::Split,
                customer_id: survivor,
                absorbed_ids: Vec::new(),
                new_ids,
                actor: actor.to_owned(),
                reason: reason.to_owned(),
            };
            changes.events.push(event);
        }
    }

    /// The canonical clusters of a component under the links of `graph` (the engine's,
    /// or a dry run's copy), as record ids.
    fn canonical_clusters(&self, graph: &[Vec<LinkTo>], component: &[u32]) -> Vec<Vec<u32>> {
        self.clusters_with_memo(graph, component, None)
    }

    /// [`Engine::canonical_clusters`], asking `memo` first whether two records are
    /// clearly different (the same answer as comparing them).
    fn clusters_with_memo(
        &self,
        graph: &[Vec<LinkTo>],
        component: &[u32],
        memo: Option<&RefCell<ConflictMemo>>,
    ) -> Vec<Vec<u32>> {
        let position: FxHashMap<u32, usize> = component
            .iter()
            .enumerate()
            .map(|(index, id)| (*id, index))
            .collect();
        let entries: Vec<&RecordEntry> = component
            .iter()
            .map(|id| self.records[*id as usize].as_ref().expect("live"))
            .collect();
        let sort_keys: Vec<(&str, &str)> = entries.iter().map(|entry| entry.key.order()).collect();
        let mut links = Vec::new();
        // Allocated only for the rare component that holds steward links.
        let mut steward_linked: Option<Vec<bool>> = None;
        for (index, id) in component.iter().enumerate() {
            for link in graph.get(*id as usize).map_or(&[][..], Vec::as_slice) {
                if link.other <= *id {
                    continue;
                }
                let Some(&other) = position.get(&link.other) else {
                    continue;
                };
                if link.kind == LinkKind::Steward {
                    let linked = steward_linked.get_or_insert_with(|| vec![false; component.len()]);
                    linked[index] = true;
                    linked[other] = true;
                }
                let strength = match link.kind {
                    LinkKind::Steward => LinkStrength::Forced,
                    LinkKind::Rule => LinkStrength::Rule,
                    LinkKind::Probabilistic => LinkStrength::Weight(f64::from(link.weight)),
                };
                links.push(Link {
                    a: index,
                    b: other,
                    strength,
                });
            }
        }
        let constraints = ComponentConstraints {
            entries: &entries,
            phones: self,
            ids: component,
            blocked: &self.blocked,
            steward_linked: steward_linked.as_deref(),
            params: &self.params,
            threshold: self.threshold,
            memo,
        };
        cluster(&sort_keys, &mut links, &constraints)
            .into_iter()
            .map(|members| members.into_iter().map(|index| component[index]).collect())
            .collect()
    }

    // ----- steward links -----------------------------------------------------------

    /// Ties two records by a steward's forced link, in place of any link of the matcher's.
    fn add_steward_link(&mut self, a: u32, b: u32, changes: &mut ChangeSet) {
        let already_forced = self.links[a as usize]
            .iter()
            .any(|link| link.other == b && link.kind == LinkKind::Steward);
        if already_forced {
            return;
        }
        self.links[a as usize].retain(|link| link.other != b);
        self.links[b as usize].retain(|link| link.other != a);
        for (from, to) in [(a, b), (b, a)] {
            self.links[from as usize].push(LinkTo {
                other: to,
                kind: LinkKind::Steward,
                weight: f32::INFINITY,
            });
        }
        let (low, high) = ordered(a, b);
        changes.add_link(LinkRow {
            a: low,
            b: high,
            kind: LinkKind::Steward,
            weight: f64::MAX,
        });
    }

    /// The groups of `records` that steward links join (within `records`), each sorted,
    /// ordered by their first record's key; records without a steward link are left out.
    fn steward_groups(&self, records: &[u32]) -> Vec<Vec<u32>> {
        let within: FxHashSet<u32> = records.iter().copied().collect();
        let mut seen: FxHashSet<u32> = FxHashSet::default();
        let mut groups = Vec::new();
        for start in records {
            if !seen.insert(*start) {
                continue;
            }
            let mut group = vec![*start];
            let mut stack = vec![*start];
            while let Some(current) = stack.pop() {
                for link in &self.links[current as usize] {
                    if link.kind == LinkKind::Steward
                        && within.contains(&link.other)
                        && seen.insert(link.other)
                    {
                        group.push(link.other);
                        stack.push(link.other);
                    }
                }
            }
            if group.len() > 1 {
                group.sort_by(|x, y| self.order_of(*x).cmp(&self.order_of(*y)));
                groups.push(group);
            }
        }
        groups.sort_by(|x, y| self.order_of(x[0]).cmp(&self.order_of(y[0])));
        groups
    }

    /// Makes `records` one steward group: the first record of each group (or lone
    /// record) among them is tied to the first record of the first group.
    fn tie_together(&mut self, records: &[u32], changes: &mut ChangeSet) {
        let grouped: FxHashSet<u32> = self
            .steward_groups(records)
            .into_iter()
            .flat_map(|group| group.into_iter().skip(1))
            .collect();
        let mut heads: Vec<u32> = records
            .iter()
            .copied()
            .filter(|id| !grouped.contains(id))
            .collect();
        heads.sort_by(|x, y| self.order_of(*x).cmp(&self.order_of(*y)));
        heads.dedup();
        let Some((&anchor, others)) = heads.split_first() else {
            return;
        };
        for other in others {
            self.add_steward_link(anchor, *other, changes);
        }
    }

    // ----- steward actions ---------------------------------------------------------

    /// Joins customers into one; the oldest id survives.
    pub fn merge(
        &mut self,
        ids: &[String],
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<Merged, EngineError> {
        let mut customers: Vec<Customer> = Vec::new();
        for id in ids {
            let customer = self
                .surviving_id(id)
                .ok_or_else(|| EngineError::NotFound(format!("no customer with id {id}")))?;
            if customer.erased_at.is_some() {
                return Err(EngineError::Precondition(format!(
                    "customer {id} was erased"
                )));
            }
            if !customers.iter().any(|known| known.id == customer.id) {
                customers.push(customer.clone());
            }
        }
        if customers.len() < 2 {
            return Err(EngineError::Precondition(
                "name at least two different customers".to_owned(),
            ));
        }
        let nationals: BTreeSet<&str> = customers
            .iter()
            .flat_map(|customer| customer.members.iter())
            .filter_map(|id| self.records[*id as usize].as_ref())
            .flat_map(|entry| entry.features.identifiers.iter())
            .filter(|identifier| identifier.kind == IdKind::National)
            .map(|identifier| identifier.value.as_str())
            .collect();
        if nationals.len() > 1 {
            return Err(EngineError::Precondition(
                "the customers hold different national ids".to_owned(),
            ));
        }
        customers.sort_by(|x, y| (x.created_at, &x.id).cmp(&(y.created_at, &y.id)));
        let mut changes = ChangeSet::default();
        let all: Vec<u32> = customers
            .iter()
            .flat_map(|customer| customer.members.iter().copied())
            .collect();
        let all_set: FxHashSet<u32> = all.iter().copied().collect();
        let stale_blocks: Vec<(u32, u32)> = self
            .blocked
            .iter()
            .filter(|(a, b)| all_set.contains(a) && all_set.contains(b))
            .copied()
            .collect();
        for pair in stale_blocks {
            self.blocked.remove(&pair);
            changes.blocks.insert(pair, false);
        }
        // The steward's decision is about whole customers: every record of them is tied
        // to one anchor by a forced link. Tying only one record of each would leave the
        // others to the matcher's constraints, which keep clearly different persons
        // apart and so would scatter the customers instead of joining them.
        let anchor = *customers[0]
            .members
            .iter()
            .min_by(|x, y| self.order_of(**x).cmp(&self.order_of(**y)))
            .expect("a live customer has records");
        for member in all.iter().copied().filter(|member| *member != anchor) {
            self.add_steward_link(anchor, member, &mut changes);
        }
        let component = self.component(&all);
        let outcome = self.recluster(&component, &[], now, actor, reason, &mut changes);
        // The records now share one customer: the oldest of those it joined.
        let survivor = self.records[anchor as usize]
            .as_ref()
            .expect("live")
            .customer
            .clone();
        let merged = outcome
            .absorbed_into
            .get(&survivor)
            .cloned()
            .unwrap_or_default();
        self.debug_check_around(&component);
        Ok((survivor, merged, changes))
    }

    /// Moves `keys` out of their customer into a new one.
    pub fn unmerge(
        &mut self,
        keys: &[RecordKey],
        block: bool,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<(Arc<str>, Arc<str>, ChangeSet), EngineError> {
        let mut moved = Vec::new();
        let mut customer_id: Option<Arc<str>> = None;
        for key in keys {
            let (id, entry) = self.record(key).ok_or_else(|| {
                EngineError::NotFound(format!(
                    "no record {}/{}",
                    key.source_system, key.source_record_id
                ))
            })?;
            match &customer_id {
                None => customer_id = Some(entry.customer.clone()),
                Some(known) if *known != entry.customer => {
                    return Err(EngineError::Precondition(
                        "the records belong to different customers".to_owned(),
                    ));
                }
                Some(_) => {}
            }
            if !moved.contains(&id) {
                moved.push(id);
            }
        }
        let customer_id = customer_id
            .ok_or_else(|| EngineError::Precondition("name at least one record".to_owned()))?;
        let members = self
            .customers
            .get(&customer_id)
            .map(|c| c.members.clone())
            .unwrap_or_default();
        let remaining: Vec<u32> = members
            .iter()
            .copied()
            .filter(|id| !moved.contains(id))
            .collect();
        if remaining.is_empty() {
            return Err(EngineError::Precondition(
                "moving every record of a customer changes nothing".to_owned(),
            ));
        }
        if block && moved.len() * remaining.len() > 100_000 {
            return Err(EngineError::Precondition(
                "too many record pairs to block; move fewer records".to_owned(),
            ));
        }
        let mut changes = ChangeSet::default();
        let moved_set: FxHashSet<u32> = moved.iter().copied().collect();
        let steward_groups = self.steward_groups(&members);
        for id in &moved {
            let cut: Vec<u32> = self.links[*id as usize]
                .iter()
                .filter(|link| !moved_set.contains(&link.other))
                .map(|link| link.other)
                .collect();
            for other in cut {
                self.links[*id as usize].retain(|link| link.other != other);
                self.links[other as usize].retain(|link| link.other != *id);
                changes.remove_link(*id, other);
            }
            if block {
                for other in &remaining {
                    let pair = ordered(*id, *other);
                    self.blocked.insert(pair);
                    changes.blocks.insert(pair, true);
                }
            }
        }
        // What a steward joined stays joined without the moved records (a moved record
        // may have been the anchor that tied the others), and the moved records become
        // one customer, as the steward asked.
        for group in &steward_groups {
            let still_joined: Vec<u32> = group
                .iter()
                .copied()
                .filter(|id| !moved_set.contains(id))
                .collect();
            self.tie_together(&still_joined, &mut changes);
        }
        self.tie_together(&moved, &mut changes);
        let mut seeds = members.clone();
        seeds.extend(moved.iter().copied());
        let component = self.component(&seeds);
        self.recluster(&component, &remaining, now, actor, reason, &mut changes);
        let customer_of = |id: u32| {
            self.records[id as usize]
                .as_ref()
                .expect("live")
                .customer
                .clone()
        };
        // The records left in place keep the id (or, if they now join an older customer,
        // that one's); without the moved records they may also fall into several parts.
        let kept = self
            .surviving_id(&customer_id)
            .map_or_else(|| customer_of(remaining[0]), |customer| customer.id.clone());
        let new = customer_of(moved[0]);
        self.debug_check_around(&component);
        Ok((kept, new, changes))
    }

    /// Removes a customer's records and personal data, keeping a tombstone.
    pub fn erase(
        &mut self,
        customer_id: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<(Arc<str>, usize, ChangeSet), EngineError> {
        // Erased records leave their slots: forget what was remembered about them.
        self.conflicts.clear();
        let customer = self
            .surviving_id(customer_id)
            .ok_or_else(|| EngineError::NotFound(format!("no customer with id {customer_id}")))?
            .clone();
        if customer.erased_at.is_some() {
            return Ok((customer.id.clone(), 0, ChangeSet::default()));
        }
        let mut changes = ChangeSet {
            erased_names: self.names_of(&customer.members),
            ..ChangeSet::default()
        };
        self.forget_names(&changes.erased_names);
        let phones_before = self.phone_roles(
            customer
                .members
                .iter()
                .filter_map(|id| self.records[*id as usize].as_ref())
                .map(|entry| &entry.features),
        );
        let mut neighbours = Vec::new();
        for id in &customer.members {
            neighbours.extend(self.links[*id as usize].iter().map(|link| link.other));
            self.unfile(*id, &mut changes, true);
            if let Some(entry) = self.records[*id as usize].as_ref() {
                let key = entry.key.clone();
                self.by_key.remove(&key, &self.records);
                self.records[*id as usize] = None;
            }
            let stale: Vec<(u32, u32)> = self
                .blocked
                .iter()
                .filter(|(a, b)| a == id || b == id)
                .copied()
                .collect();
            for pair in stale {
                self.blocked.remove(&pair);
                changes.blocks.insert(pair, false);
            }
            changes.delete_record(*id);
        }
        let tombstone = self.customers.get_mut(&customer.id).expect("present");
        tombstone.members.clear();
        tombstone.erased_at = Some(now);
        tombstone.updated_at = now;
        changes.upsert_customer(CustomerRow {
            customer_id: customer.id.clone(),
            created_at: customer.created_at,
            updated_at: now,
            erased_at: Some(now),
        });
        let event = ChangeEvent {
            event_id: self.take_event_id(),
            occurred_at: now,
            kind: ChangeKind::Erased,
            customer_id: customer.id.to_string(),
            absorbed_ids: Vec::new(),
            new_ids: Vec::new(),
            actor: actor.to_owned(),
            reason: reason.to_owned(),
        };
        changes.events.push(event);
        neighbours.extend(self.relink_turned(phones_before, &mut changes));
        neighbours.retain(|id| self.records[*id as usize].is_some());
        if !neighbours.is_empty() {
            let component = self.component(&neighbours);
            self.recluster(&component, &[], now, AUTOMATIC, "", &mut changes);
            self.debug_check_around(&component);
        }
        Ok((customer.id.clone(), customer.members.len(), changes))
    }
}

impl Engine {
    /// The folded given and family names of `records`, one entry per record holding one.
    fn names_of(&self, records: &[u32]) -> ErasedNames {
        let mut names = ErasedNames::default();
        for entry in records
            .iter()
            .filter_map(|id| self.records.get(*id as usize)?.as_ref())
        {
            let features = &entry.features;
            if let Some(given) = &features.given {
                names.given.push(given.folded.to_string());
            }
            if let Some(family) = &features.family {
                names.family.push(family.folded.to_string());
            }
        }
        names
    }

    /// Erased records' names leave the parameters' name frequencies, so that the next
    /// snapshot or saved estimate holds none of them.
    fn forget_names(&mut self, names: &ErasedNames) {
        if names.is_empty() {
            return;
        }
        let mut params = (*self.params).clone();
        if params.forget_names(names) {
            self.params = Arc::new(params);
        }
    }
}

/// A steward merge: the survivor, the customers absorbed into it, and the changes.
pub type Merged = (Arc<str>, Vec<Arc<str>>, ChangeSet);

/// How a component's clusters get their ids (see `Engine::plan_survivors`).
struct SurvivorPlan {
    clusters: Vec<Vec<u32>>,
    /// Per cluster, the existing customer whose id it keeps; `None`: a new customer.
    kept_ids: Vec<Option<Arc<str>>>,
    /// Survivor -> customers absorbed into it.
    absorbed_into: BTreeMap<Arc<str>, Vec<Arc<str>>>,
    /// Customer -> the clusters, other than the one keeping its id, that take some of
    /// its records.
    splits: BTreeMap<Arc<str>, Vec<usize>>,
}

/// What a reclustering did.
#[derive(Debug, Default)]
struct Recluster {
    /// Survivor -> customers absorbed into it.
    absorbed_into: BTreeMap<Arc<str>, Vec<Arc<str>>>,
    created: Vec<Arc<str>>,
}

/// Keeps apart different persons (by the model's weights at the threshold, national
/// ids among them) and pairs a steward blocked.
struct ComponentConstraints<'a> {
    entries: &'a [&'a RecordEntry],
    /// What the base says of the numbers records share.
    phones: &'a dyn PhoneHolders,
    ids: &'a [u32],
    blocked: &'a FxHashSet<(u32, u32)>,
    /// Per item, whether a steward link holds it; `None` when the component has none.
    steward_linked: Option<&'a [bool]>,
    params: &'a MatchParameters,
    threshold: f64,
    /// Answers remembered from earlier writes (the write path only).
    memo: Option<&'a RefCell<ConflictMemo>>,
}

impl ComponentConstraints<'_> {
    fn blocked(&self, x: usize, y: usize) -> bool {
        self.blocked.contains(&ordered(self.ids[x], self.ids[y]))
    }

    /// One cluster names a generation ("Jr", "Sr") and the other none, and no record of
    /// one agrees with a record of the other on anything personal (birth date, e-mail,
    /// national id): the other may be the namesake father or son of the household,
    /// whom name, address and landline cannot tell apart, so the clusters stay apart.
    /// `suffixed_a` / `suffixed_b`: whether the cluster names a generation (its state).
    fn namesake_unresolved(
        &self,
        (suffixed_a, members_a): (bool, &[usize]),
        (suffixed_b, members_b): (bool, &[usize]),
    ) -> bool {
        if suffixed_a == suffixed_b {
            return false;
        }
        !members_a.iter().any(|x| {
            members_b
                .iter()
                .any(|y| personal_agreement(&self.entries[*x].features, &self.entries[*y].features))
        })
    }

    fn separation(&self, x: usize, y: usize) -> Separation {
        let (a, b) = (self.ids[x], self.ids[y]);
        if let Some(known) = self.memo.and_then(|memo| memo.borrow().get(a, b)) {
            return known;
        }
        let separation = separation(
            &self.entries[x].features,
            &self.entries[y].features,
            self.params,
            self.phones,
            self.threshold,
        );
        if let Some(memo) = self.memo {
            memo.borrow_mut().remember(a, b, separation);
        }
        separation
    }

    /// Whether a unit of one cluster is clearly a different person from a unit of the
    /// other, that is from every record of it. A cluster holding records a steward
    /// merged is one unit: the steward vouched that records which look like different
    /// persons are one customer, so a record like any one of them may join it. Any
    /// other record is a unit of its own.
    fn units_clearly_apart(
        &self,
        linked: &[bool],
        members_a: &[usize],
        members_b: &[usize],
    ) -> bool {
        let vouched = |members: &[usize]| members.iter().any(|item| linked[*item]);
        let unit = |vouched: bool, item: usize| if vouched { usize::MAX } else { item };
        let (vouched_a, vouched_b) = (vouched(members_a), vouched(members_b));
        let mut apart: FxHashMap<(usize, usize), bool> = FxHashMap::default();
        for x in members_a {
            for y in members_b {
                let clearly_different = self.separation(*x, *y) != Separation::None;
                *apart
                    .entry((unit(vouched_a, *x), unit(vouched_b, *y)))
                    .or_insert(true) &= clearly_different;
            }
        }
        apart.values().any(|apart| *apart)
    }
}

impl Constraints for ComponentConstraints<'_> {
    /// Whether a record of the cluster names a generation ("Jr", "Sr"); see
    /// `namesake_unresolved`. Different national ids are weighed pair by pair (strong
    /// evidence of two persons, not a veto; issue 14), in `separation`.
    type State = bool;

    fn state_of(&self, item: usize) -> bool {
        self.entries[item].features.generation.is_some()
    }

    fn compatible(
        &self,
        suffixed_a: &bool,
        suffixed_b: &bool,
        members_a: &[usize],
        members_b: &[usize],
    ) -> bool {
        // A steward's block is never crossed.
        if !self.blocked.is_empty()
            && members_a
                .iter()
                .any(|x| members_b.iter().any(|y| self.blocked(*x, *y)))
        {
            return false;
        }
        // No pair across the two clusters may be clearly different persons: a record
        // that matches both members of a household must not chain them into one.
        if let Some(linked) = self.steward_linked {
            return !self.units_clearly_apart(linked, members_a, members_b);
        }
        if self.namesake_unresolved((*suffixed_a, members_a), (*suffixed_b, members_b)) {
            return false;
        }
        may_join(
            members_a,
            members_b,
            |x, y| self.separation(x, y),
            |z, x, y, difference| {
                explains(
                    &self.entries[z].features,
                    &self.entries[x].features,
                    &self.entries[y].features,
                    difference,
                )
            },
        )
    }

    fn merged(&self, suffixed_a: bool, suffixed_b: bool) -> bool {
        suffixed_a || suffixed_b
    }
}

/// Whether `entry` holds one of the identifiers, e-mails or phones of `query`.
fn holds_identifier(entry: &Features, query: &Features) -> bool {
    query
        .emails
        .iter()
        .any(|email| entry.emails.contains(email))
        || query
            .phones
            .iter()
            .any(|phone| entry.phones.contains(phone))
        || query
            .identifiers
            .iter()
            .any(|identifier| entry.identifiers.contains(identifier))
        || query
            .devices
            .iter()
            .any(|device| entry.devices.contains(device))
        || query.addresses.iter().any(|address| {
            entry.addresses.iter().any(|held| {
                held.postcode == address.postcode
                    && held.street_number == address.street_number
                    && held.street == address.street
            })
        })
}
