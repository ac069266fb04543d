//! Clustering the records of one connected group of links into customers.
//!
//! Links are taken strongest first (forced by a steward, then deterministic rules, then
//! by weight), ties broken by the records' source keys, and each joins two clusters
//! unless a constraint forbids it (different national ids, clearly different persons,
//! a steward's block); a steward's forced link joins them regardless. The
//! result depends only on the records and their links, never on the order in which
//! records arrived, which is what makes resolution order-independent.

use std::cmp::Ordering;

use crate::score::{Difference, Separation};

/// A link between two records of the group (indexes into the group).
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub a: usize,
    pub b: usize,
    pub strength: LinkStrength,
}

/// How strongly two records are linked; the order in which links are applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LinkStrength {
    /// A steward merged them.
    Forced,
    /// A deterministic rule (same strong identifier).
    Rule,
    /// A probabilistic match of this many bits.
    Weight(f64),
}

impl LinkStrength {
    fn rank(self) -> (u8, f64) {
        match self {
            LinkStrength::Forced => (0, 0.0),
            LinkStrength::Rule => (1, 0.0),
            LinkStrength::Weight(weight) => (2, -weight),
        }
    }
}

/// Decides whether two clusters may become one.
pub trait Constraints {
    /// What a cluster carries for the check (e.g. its national ids).
    type State: Clone;
    fn state_of(&self, item: usize) -> Self::State;
    fn compatible(
        &self,
        a: &Self::State,
        b: &Self::State,
        members_a: &[usize],
        members_b: &[usize],
    ) -> bool;
    fn merged(&self, a: Self::State, b: Self::State) -> Self::State;
}

/// Clusters `items` items linked by `links`. `sort_keys[i]` is item i's source key
/// (anything with a total order that does not depend on arrival: a string, or the
/// source system and record id as a pair), which breaks ties. Returns clusters as
/// sorted item lists, sorted by first item key.
pub fn cluster<K: Ord, C: Constraints>(
    sort_keys: &[K],
    links: &mut [Link],
    constraints: &C,
) -> Vec<Vec<usize>> {
    let items = sort_keys.len();
    let pair_key = |link: &Link| {
        let (x, y) = (&sort_keys[link.a], &sort_keys[link.b]);
        if x <= y { (x, y) } else { (y, x) }
    };
    links.sort_by(|first, second| {
        let (rank_first, rank_second) = (first.strength.rank(), second.strength.rank());
        rank_first
            .0
            .cmp(&rank_second.0)
            .then(
                rank_first
                    .1
                    .partial_cmp(&rank_second.1)
                    .unwrap_or(Ordering::Equal),
            )
            .then_with(|| pair_key(first).cmp(&pair_key(second)))
    });
    let mut parent: Vec<usize> = (0..items).collect();
    let mut members: Vec<Vec<usize>> = (0..items).map(|item| vec![item]).collect();
    let mut states: Vec<Option<C::State>> = (0..items)
        .map(|item| Some(constraints.state_of(item)))
        .collect();
    for link in links.iter() {
        let (root_a, root_b) = (find(&mut parent, link.a), find(&mut parent, link.b));
        if root_a == root_b {
            continue;
        }
        let (state_a, state_b) = (states[root_a].as_ref(), states[root_b].as_ref());
        let (Some(state_a), Some(state_b)) = (state_a, state_b) else {
            continue;
        };
        // A steward's merge is the last word: it joins clusters that the matcher's
        // own constraints would keep apart (identity refuses, with an error, a merge
        // of customers with different national ids before it gets here).
        let forced = matches!(link.strength, LinkStrength::Forced);
        if !forced && !constraints.compatible(state_a, state_b, &members[root_a], &members[root_b])
        {
            continue;
        }
        // The larger cluster absorbs the smaller: fewer member moves.
        let (keep, absorb) = if members[root_a].len() >= members[root_b].len() {
            (root_a, root_b)
        } else {
            (root_b, root_a)
        };
        let absorbed_state = states[absorb].take();
        let kept_state = states[keep].take();
        if let (Some(kept), Some(absorbed)) = (kept_state, absorbed_state) {
            states[keep] = Some(constraints.merged(kept, absorbed));
        }
        let moved = std::mem::take(&mut members[absorb]);
        members[keep].extend(moved);
        parent[absorb] = keep;
    }
    let mut clusters: Vec<Vec<usize>> = members
        .into_iter()
        .filter(|cluster| !cluster.is_empty())
        .collect();
    for cluster in &mut clusters {
        cluster.sort_by(|x, y| sort_keys[*x].cmp(&sort_keys[*y]));
    }
    clusters.sort_by(|x, y| sort_keys[x[0]].cmp(&sort_keys[y[0]]));
    clusters
}

/// Whether two clusters may become one: no pair across them is apart, except pairs
/// apart by one difference (given names alone, or birth dates alone) that a third
/// record of either cluster explains: it is apart from neither and agrees with one of
/// them on that mark. A slip or a replaced value in one of two records of one person
/// gives such a pair ("BRJIAN" and "rian" beside "Brian"); twins and household members
/// have no such third record, since what holds a record to one keeps it from the
/// other. `separation(x, y)` answers for two items, `explains(z, x, y, difference)`
/// whether `z` agrees with `x` or `y` on the mark that differs.
pub fn may_join(
    members_a: &[usize],
    members_b: &[usize],
    mut separation: impl FnMut(usize, usize) -> Separation,
    explains: impl Fn(usize, usize, usize, Difference) -> bool,
) -> bool {
    let mut to_explain = Vec::new();
    for &x in members_a {
        for &y in members_b {
            match separation(x, y) {
                Separation::None => {}
                Separation::Only(difference) => to_explain.push((x, y, difference)),
                Separation::Persons => return false,
            }
        }
    }
    to_explain.into_iter().all(|(x, y, difference)| {
        members_a.iter().chain(members_b).any(|&z| {
            z != x
                && z != y
                && explains(z, x, y, difference)
                && separation(z, x) == Separation::None
                && separation(z, y) == Separation::None
        })
    })
}

fn find(parent: &mut [usize], item: usize) -> usize {
    let mut root = item;
    while parent[root] != root {
        root = parent[root];
    }
    let mut current = item;
    while parent[current] != root {
        let next = parent[current];
        parent[current] = root;
        current = next;
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items carry an optional "national id"; clusters with two different ones may not join.
    struct NationalIds(Vec<Option<u32>>);

    impl Constraints for NationalIds {
        type State = Option<u32>;
        fn state_of(&self, item: usize) -> Option<u32> {
            self.0[item]
        }
        fn compatible(&self, a: &Option<u32>, b: &Option<u32>, _: &[usize], _: &[usize]) -> bool {
            a.is_none() || b.is_none() || a == b
        }
        fn merged(&self, a: Option<u32>, b: Option<u32>) -> Option<u32> {
            a.or(b)
        }
    }

    fn weight(a: usize, b: usize, bits: f64) -> Link {
        Link {
            a,
            b,
            strength: LinkStrength::Weight(bits),
        }
    }

    #[test]
    fn links_join_transitively() {
        let keys = ["a", "b", "c", "d"];
        let mut links = vec![weight(0, 1, 20.0), weight(1, 2, 18.0)];
        let clusters = cluster(&keys, &mut links, &NationalIds(vec![None; 4]));
        assert_eq!(clusters, vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn constraints_keep_conflicting_clusters_apart_and_strongest_links_win() {
        // a and c carry different national ids; b links to both, more strongly to c.
        let keys = ["a", "b", "c"];
        let mut links = vec![weight(0, 1, 15.0), weight(1, 2, 25.0)];
        let clusters = cluster(
            &keys,
            &mut links,
            &NationalIds(vec![Some(1), None, Some(2)]),
        );
        assert_eq!(clusters, vec![vec![0], vec![1, 2]]);
    }

    #[test]
    fn a_stewards_forced_link_joins_what_constraints_keep_apart() {
        let keys = ["a", "b"];
        let forced = || Link {
            a: 0,
            b: 1,
            strength: LinkStrength::Forced,
        };
        let conflicting = NationalIds(vec![Some(1), Some(2)]);
        assert_eq!(
            cluster(&keys, &mut [weight(0, 1, 40.0)], &conflicting),
            vec![vec![0], vec![1]]
        );
        assert_eq!(
            cluster(&keys, &mut [forced()], &conflicting),
            vec![vec![0, 1]]
        );
    }

    /// Items 0 and 1 are apart by their given names alone, item 2 explains it;
    /// item 3 is apart from 0 as a person.
    #[test]
    fn clusters_apart_by_one_difference_join_when_a_record_explains_it() {
        let given = Separation::Only(Difference::GivenNames);
        let separation = |x: usize, y: usize| match (x.min(y), x.max(y)) {
            (0, 1) => given,
            (0, 3) => Separation::Persons,
            _ => Separation::None,
        };
        let explains = |z: usize, _: usize, _: usize, _: Difference| z == 2;
        assert!(!may_join(&[0], &[1], separation, explains));
        assert!(may_join(&[0, 2], &[1], separation, explains));
        assert!(may_join(&[0], &[1, 2], separation, explains));
        assert!(!may_join(&[0, 2], &[1, 3], separation, explains));
        // A record that is itself apart from one of them explains nothing.
        let apart_from_the_bridge = |x: usize, y: usize| match (x.min(y), x.max(y)) {
            (0, 1) | (1, 2) => given,
            _ => Separation::None,
        };
        assert!(!may_join(&[0, 2], &[1], apart_from_the_bridge, explains));
    }

    #[test]
    fn the_result_does_not_depend_on_link_or_item_order() {
        let keys = ["r1", "r2", "r3", "r4", "r5"];
        let ids = NationalIds(vec![Some(1), None, None, Some(2), None]);
        let links = vec![
            weight(0, 1, 20.0),
            weight(1, 2, 20.0),
            weight(2, 3, 20.0),
            weight(3, 4, 30.0),
            Link {
                a: 1,
                b: 4,
                strength: LinkStrength::Rule,
            },
        ];
        let expected = cluster(&keys, &mut links.clone(), &ids);
        // Reverse the links and relabel the items: the partition must be the same.
        let mut reversed = links.clone();
        reversed.reverse();
        assert_eq!(cluster(&keys, &mut reversed, &ids), expected);
        let permutation = [4, 2, 0, 1, 3];
        let permuted_keys: Vec<&str> = (0..5)
            .map(|new| keys[permutation.iter().position(|&old| old == new).unwrap()])
            .collect();
        let mut permuted_links: Vec<Link> = links
            .iter()
            .map(|link| Link {
                a: permutation[link.a],
                b: permutation[link.b],
                strength: link.strength,
            })
            .collect();
        let permuted_ids = NationalIds(
            (0..5)
                .map(|new| ids.0[permutation.iter().position(|&old| old == new).unwrap()])
                .collect(),
        );
        let permuted = cluster(&permuted_keys, &mut permuted_links, &permuted_ids);
        let as_keys = |clusters: Vec<Vec<usize>>, keys: &[&str]| -> Vec<Vec<String>> {
            clusters
                .into_iter()
                .map(|c| c.into_iter().map(|i| keys[i].to_owned()).collect())
                .collect()
        };
        assert_eq!(as_keys(permuted, &permuted_keys), as_keys(expected, &keys));
    }
}
