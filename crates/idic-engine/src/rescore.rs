//! Re-scoring and re-clustering the whole base with the current parameters, in
//! batches of record ids, so that the engine's lock is held for one batch at a time.
//!
//! A pass walks the record ids that existed when it started, once. A batch re-scores
//! each of its records against the records after it that share a block key (so every
//! blocked pair once, by its lower id), brings the links in line (new, dropped and
//! re-weighed links; a steward's links stay), then re-clusters every group whose links
//! are now final. A group is the records that links join, together with every record
//! of their customers: a customer whose links were dropped may now lie in several
//! components, and its id must go to one part only. A group's links are final once the
//! pass has re-scored its highest record, so each group is examined once, in the batch
//! of its highest record. Groups that reach records written after the pass started are
//! examined whenever a batch touches them (those records were scored with the current
//! parameters on arrival, and their writes re-clustered their groups).
//!
//! A group whose canonical clusters already are its customers is left alone, so a
//! second pass with the same parameters changes nothing and emits nothing. A dry run
//! does the same on a copy of the links and only counts.

use std::ops::Range;

use idic_matching::blocking::block_keys;
use idic_matching::score::link_score;
use rustc_hash::FxHashSet;

use super::{ChangeSet, Engine, LinkKind, LinkRow, LinkTo, SurvivorPlan};

/// A whole-base recluster under way: where it stands and what it did so far.
pub struct ReclusterPass {
    dry_run: bool,
    /// Record ids below this existed when the pass started.
    end: u32,
    /// The first record id not re-scored yet.
    next: u32,
    /// A dry run's copy of the links, brought in line instead of the engine's.
    scratch: Option<Vec<Vec<LinkTo>>>,
    pub totals: ReclusterTotals,
}

/// What a recluster did, or in a dry run would do, so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReclusterTotals {
    /// Live records when the pass started.
    pub records_total: u64,
    pub records_done: u64,
    pub components_examined: u64,
    pub components_changed: u64,
    /// Customers absorbed into another.
    pub customers_merged: u64,
    /// Customers that lost records to other clusters.
    pub customers_split: u64,
    pub customers_created: u64,
    pub records_moved: u64,
    pub links_added: u64,
    pub links_removed: u64,
    pub links_reweighted: u64,
}

impl ReclusterPass {
    pub fn is_done(&self) -> bool {
        self.next >= self.end
    }

    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// The next `batch` record ids.
    fn take(&mut self, batch: u32) -> Range<u32> {
        let start = self.next;
        self.next = start.saturating_add(batch.max(1)).min(self.end);
        start..self.next
    }

    /// Counts a changed group's plan; `false` when the plan changes nothing.
    fn count_plan(&mut self, engine: &Engine, plan: &SurvivorPlan) -> bool {
        let mut moved = 0u64;
        let mut created = 0u64;
        for (cluster, kept) in plan.clusters.iter().zip(&plan.kept_ids) {
            match kept {
                None => {
                    created += 1;
                    moved += cluster.len() as u64;
                }
                Some(kept) => {
                    moved += cluster
                        .iter()
                        .filter_map(|id| engine.records[*id as usize].as_ref())
                        .filter(|entry| entry.customer != *kept)
                        .count() as u64;
                }
            }
        }
        let merged: usize = plan.absorbed_into.values().map(Vec::len).sum();
        if moved == 0 && merged == 0 && plan.splits.is_empty() {
            return false;
        }
        let totals = &mut self.totals;
        totals.components_changed += 1;
        totals.customers_merged += merged as u64;
        totals.customers_split += plan.splits.len() as u64;
        totals.customers_created += created;
        totals.records_moved += moved;
        true
    }

    fn count_links(&mut self, rescored: &Rescored) {
        self.totals.links_added += rescored.added.len() as u64;
        self.totals.links_removed += rescored.removed.len() as u64;
        self.totals.links_reweighted += rescored.reweighted.len() as u64;
    }
}

/// How the current parameters change the links of one batch's records (`a < b`).
#[derive(Debug, Default)]
struct Rescored {
    added: Vec<LinkRow>,
    reweighted: Vec<LinkRow>,
    removed: Vec<(u32, u32)>,
}

impl Engine {
    /// Starts a pass over every record there is now.
    pub fn start_recluster(&self, dry_run: bool) -> ReclusterPass {
        ReclusterPass {
            dry_run,
            end: self.records.len() as u32,
            next: 0,
            scratch: dry_run.then(|| self.links.clone()),
            totals: ReclusterTotals {
                records_total: self.record_count() as u64,
                ..ReclusterTotals::default()
            },
        }
    }

    /// Re-scores the pass's next `batch` record ids, brings their links in line and
    /// re-clusters the groups that are final, with MERGED/SPLIT events by `actor`.
    pub fn recluster_batch(
        &mut self,
        pass: &mut ReclusterPass,
        batch: u32,
        now: i64,
        actor: &str,
        reason: &str,
    ) -> ChangeSet {
        debug_assert!(!pass.dry_run, "a dry run changes nothing");
        let range = pass.take(batch);
        pass.totals.records_done += self.live_in(range.clone());
        let mut changes = ChangeSet::default();
        let rescored = self.rescore_links(&self.links, range.clone());
        pass.count_links(&rescored);
        apply_to_links(&mut self.links, &rescored);
        record_link_changes(&rescored, &mut changes);
        let seeds = seeds_of(range.clone(), &rescored);
        for group in self.final_groups(&self.links, &seeds, range.end, pass.end) {
            pass.totals.components_examined += 1;
            let clusters = self.canonical_clusters(&self.links, &group);
            let plan = self.plan_survivors(&group, clusters, &[]);
            if pass.count_plan(self, &plan) {
                self.apply_survivor_plan(plan, now, actor, reason, &mut changes);
            }
        }
        changes
    }

    /// A dry run's batch: the same as [`Engine::recluster_batch`] on the pass's copy of
    /// the links, counting what would change.
    pub fn recluster_dry_batch(&self, pass: &mut ReclusterPass, batch: u32) {
        debug_assert!(pass.dry_run, "only a dry run keeps a copy of the links");
        let range = pass.take(batch);
        pass.totals.records_done += self.live_in(range.clone());
        let mut links = pass.scratch.take().unwrap_or_default();
        let rescored = self.rescore_links(&links, range.clone());
        pass.count_links(&rescored);
        apply_to_links(&mut links, &rescored);
        let seeds = seeds_of(range.clone(), &rescored);
        for group in self.final_groups(&links, &seeds, range.end, pass.end) {
            pass.totals.components_examined += 1;
            let clusters = self.canonical_clusters(&links, &group);
            let plan = self.plan_survivors(&group, clusters, &[]);
            pass.count_plan(self, &plan);
        }
        pass.scratch = Some(links);
    }

    fn live_in(&self, range: Range<u32>) -> u64 {
        range
            .filter(|id| self.records[*id as usize].is_some())
            .count() as u64
    }

    /// Compares each record of `range` with the later records sharing a block key and
    /// says which of its links (to later records) to add, drop or re-weigh.
    fn rescore_links(&self, links: &[Vec<LinkTo>], range: Range<u32>) -> Rescored {
        let mut rescored = Rescored::default();
        for id in range {
            let Some(entry) = self.records[id as usize].as_ref() else {
                continue;
            };
            let current = links.get(id as usize).map_or(&[][..], Vec::as_slice);
            let mut wanted: Vec<LinkRow> = Vec::new();
            let keys = block_keys(&entry.features);
            for other in self.candidates_for_keys(&keys, Some(id)) {
                if other < id {
                    continue;
                }
                let Some(other_entry) = self.records[other as usize].as_ref() else {
                    continue;
                };
                let steward = current
                    .iter()
                    .any(|link| link.other == other && link.kind == LinkKind::Steward);
                if steward {
                    continue;
                }
                // The later record against the earlier, as an import compares them.
                let Some(score) =
                    link_score(&other_entry.features, &entry.features, &self.params, self)
                else {
                    continue;
                };
                if score.is_link(self.threshold) {
                    let kind = if score.rule.is_some() {
                        LinkKind::Rule
                    } else {
                        LinkKind::Probabilistic
                    };
                    wanted.push(LinkRow {
                        a: id,
                        b: other,
                        kind,
                        weight: score.total,
                    });
                }
            }
            for link in current {
                let dropped = link.other > id
                    && link.kind != LinkKind::Steward
                    && !wanted.iter().any(|row| row.b == link.other);
                if dropped {
                    rescored.removed.push((id, link.other));
                }
            }
            for row in wanted {
                match current.iter().find(|link| link.other == row.b) {
                    None => rescored.added.push(row),
                    Some(link) if link.kind != row.kind || link.weight != row.weight as f32 => {
                        rescored.reweighted.push(row);
                    }
                    Some(_) => {}
                }
            }
        }
        rescored
    }

    /// The groups reached from `seeds` that are final: their highest record is below
    /// `batch_end`, or was written after the pass started (at or above `pass_end`).
    fn final_groups(
        &self,
        links: &[Vec<LinkTo>],
        seeds: &[u32],
        batch_end: u32,
        pass_end: u32,
    ) -> Vec<Vec<u32>> {
        let mut reached: FxHashSet<u32> = FxHashSet::default();
        let mut groups = Vec::new();
        for seed in seeds {
            if reached.contains(seed) {
                continue;
            }
            let group = self.group_in(links, *seed);
            reached.extend(group.iter().copied());
            let Some(&highest) = group.last() else {
                continue;
            };
            if highest < batch_end || highest >= pass_end {
                groups.push(group);
            }
        }
        groups
    }

    /// The records connected to `seed` by `links`, with every record of their
    /// customers and what those connect to, until nothing is added; sorted.
    fn group_in(&self, links: &[Vec<LinkTo>], seed: u32) -> Vec<u32> {
        let mut group = self.component_in(links, &[seed]);
        loop {
            let mut seeds = group.clone();
            for id in &group {
                let customer = self.records[*id as usize]
                    .as_ref()
                    .and_then(|entry| self.customers.get(&entry.customer));
                if let Some(customer) = customer {
                    seeds.extend(customer.members.iter().copied());
                }
            }
            seeds.sort_unstable();
            seeds.dedup();
            if seeds.len() == group.len() {
                return group;
            }
            group = self.component_in(links, &seeds);
        }
    }
}

/// The records whose groups a batch may have changed: its own, and those its dropped
/// links left.
fn seeds_of(range: Range<u32>, rescored: &Rescored) -> Vec<u32> {
    let mut seeds: Vec<u32> = range.collect();
    seeds.extend(rescored.removed.iter().map(|(_, b)| *b));
    seeds
}

/// Brings `links` (both directions) in line with `rescored`.
fn apply_to_links(links: &mut Vec<Vec<LinkTo>>, rescored: &Rescored) {
    let highest = rescored
        .added
        .iter()
        .map(|row| row.b)
        .chain(rescored.removed.iter().map(|(_, b)| *b))
        .max();
    if let Some(highest) = highest
        && links.len() <= highest as usize
    {
        links.resize_with(highest as usize + 1, Vec::new);
    }
    for (a, b) in &rescored.removed {
        links[*a as usize].retain(|link| link.other != *b);
        links[*b as usize].retain(|link| link.other != *a);
    }
    for row in &rescored.added {
        for (from, to) in [(row.a, row.b), (row.b, row.a)] {
            links[from as usize].push(LinkTo {
                other: to,
                kind: row.kind,
                weight: row.weight as f32,
            });
        }
    }
    for row in &rescored.reweighted {
        for (from, to) in [(row.a, row.b), (row.b, row.a)] {
            if let Some(link) = links
                .get_mut(from as usize)
                .and_then(|held| held.iter_mut().find(|link| link.other == to))
            {
                link.kind = row.kind;
                link.weight = row.weight as f32;
            }
        }
    }
}

fn record_link_changes(rescored: &Rescored, changes: &mut ChangeSet) {
    for (a, b) in &rescored.removed {
        changes.remove_link(*a, *b);
    }
    for row in rescored.added.iter().chain(&rescored.reweighted) {
        changes.add_link(*row);
    }
}
