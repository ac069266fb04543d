//! Pairwise precision and recall of a clustering against the truth. Counts come
//! from the contingency table (the sum of C(n, 2) over entities, over predicted
//! clusters and over their intersections), so a million records cost one pass
//! instead of half a trillion pairs.

use std::collections::{HashMap, HashSet};

/// Record pairs put together (or not) by a clustering, judged against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PairCounts {
    /// Pairs in the same predicted cluster and the same entity.
    pub true_positives: u64,
    /// Pairs in the same predicted cluster but different entities.
    pub false_positives: u64,
    /// Pairs of the same entity left in different clusters.
    pub false_negatives: u64,
}

impl PairCounts {
    /// Share of predicted pairs that are right; 1 when nothing was put together.
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// Share of true pairs that were found; 1 when the truth has no pairs.
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub fn f1(&self) -> f64 {
        let (precision, recall) = (self.precision(), self.recall());
        if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

fn pairs(size: u64) -> u64 {
    size * size.saturating_sub(1) / 2
}

/// Compares `predicted` (record key, cluster id) with `truth` (record key, entity
/// id); keys are `"{source_system}/{source_record_id}"`.
///
/// Only records in `truth` are judged: a truth record missing from `predicted`
/// counts as a cluster of its own (its true pairs are false negatives), and
/// predicted records unknown to the truth are ignored. A key listed twice counts
/// once, with its first entry.
/// A clustering as sorted groups of record keys, so that two runs compare whatever
/// their cluster ids: `(record key, cluster id)` pairs in, groups out.
pub fn partition(assignments: &[(String, String)]) -> Vec<Vec<String>> {
    let mut groups: std::collections::HashMap<&str, Vec<String>> = std::collections::HashMap::new();
    for (key, cluster) in assignments {
        groups.entry(cluster).or_default().push(key.clone());
    }
    let mut partition: Vec<Vec<String>> = groups
        .into_values()
        .map(|mut group| {
            group.sort();
            group
        })
        .collect();
    partition.sort();
    partition
}

pub fn pairwise_scores(truth: &[(String, u64)], predicted: &[(String, String)]) -> PairCounts {
    // Intern cluster ids to dense indexes, and find each record's cluster.
    let mut cluster_indexes: HashMap<&str, usize> = HashMap::new();
    let mut cluster_of: HashMap<&str, usize> = HashMap::with_capacity(predicted.len());
    for (key, cluster) in predicted {
        let next_index = cluster_indexes.len();
        let index = *cluster_indexes
            .entry(cluster.as_str())
            .or_insert(next_index);
        cluster_of.entry(key.as_str()).or_insert(index);
    }

    let mut judged: HashSet<&str> = HashSet::with_capacity(truth.len());
    let mut entity_sizes: HashMap<u64, u64> = HashMap::new();
    let mut cluster_sizes = vec![0_u64; cluster_indexes.len()];
    let mut intersection_sizes: HashMap<(u64, usize), u64> = HashMap::new();
    for (key, entity) in truth {
        if !judged.insert(key.as_str()) {
            continue;
        }
        *entity_sizes.entry(*entity).or_default() += 1;
        if let Some(&cluster) = cluster_of.get(key.as_str()) {
            cluster_sizes[cluster] += 1;
            *intersection_sizes.entry((*entity, cluster)).or_default() += 1;
        }
    }

    let true_positives: u64 = intersection_sizes.values().map(|&size| pairs(size)).sum();
    let predicted_pairs: u64 = cluster_sizes.iter().map(|&size| pairs(size)).sum();
    let true_pairs: u64 = entity_sizes.values().map(|&size| pairs(size)).sum();
    PairCounts {
        true_positives,
        false_positives: predicted_pairs - true_positives,
        false_negatives: true_pairs - true_positives,
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn truth(rows: &[(&str, u64)]) -> Vec<(String, u64)> {
        rows.iter()
            .map(|(key, entity)| ((*key).to_owned(), *entity))
            .collect()
    }

    fn predicted(rows: &[(&str, &str)]) -> Vec<(String, String)> {
        rows.iter()
            .map(|(key, cluster)| ((*key).to_owned(), (*cluster).to_owned()))
            .collect()
    }

    #[test]
    fn perfect_clustering_scores_one() {
        let truth = truth(&[("a/1", 1), ("b/1", 1), ("c/1", 1), ("a/2", 2), ("b/2", 2)]);
        let predicted = predicted(&[
            ("a/1", "x"),
            ("b/1", "x"),
            ("c/1", "x"),
            ("a/2", "y"),
            ("b/2", "y"),
        ]);
        let counts = pairwise_scores(&truth, &predicted);
        assert_eq!(
            counts,
            PairCounts {
                true_positives: 4,
                false_positives: 0,
                false_negatives: 0
            }
        );
        assert_eq!(
            (counts.precision(), counts.recall(), counts.f1()),
            (1.0, 1.0, 1.0)
        );
    }

    #[test]
    fn over_merging_costs_precision_and_splitting_costs_recall() {
        let truth = truth(&[("a/1", 1), ("b/1", 1), ("a/2", 2), ("b/2", 2)]);
        let everything_merged =
            predicted(&[("a/1", "x"), ("b/1", "x"), ("a/2", "x"), ("b/2", "x")]);
        let merged = pairwise_scores(&truth, &everything_merged);
        assert_eq!(
            merged,
            PairCounts {
                true_positives: 2,
                false_positives: 4,
                false_negatives: 0
            }
        );
        assert!((merged.precision() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(merged.recall(), 1.0);
        assert!((merged.f1() - 0.5).abs() < 1e-12);

        let everything_split = predicted(&[("a/1", "p"), ("b/1", "q"), ("a/2", "r"), ("b/2", "s")]);
        let split = pairwise_scores(&truth, &everything_split);
        assert_eq!(
            split,
            PairCounts {
                true_positives: 0,
                false_positives: 0,
                false_negatives: 2
            }
        );
        assert_eq!(
            (split.precision(), split.recall(), split.f1()),
            (1.0, 0.0, 0.0)
        );
    }

    #[test]
    fn unpredicted_records_are_singletons_and_unknown_ones_are_ignored() {
        let truth = truth(&[("a/1", 1), ("b/1", 1), ("c/1", 1)]);
        // c/1 is missing from the prediction; z/9 is not in the truth.
        let predicted = predicted(&[("a/1", "x"), ("b/1", "x"), ("z/9", "x")]);
        let counts = pairwise_scores(&truth, &predicted);
        assert_eq!(
            counts,
            PairCounts {
                true_positives: 1,
                false_positives: 0,
                false_negatives: 2
            }
        );
    }

    #[test]
    fn empty_inputs_score_vacuously() {
        let counts = pairwise_scores(&[], &[]);
        assert_eq!(counts, PairCounts::default());
        assert_eq!(
            (counts.precision(), counts.recall(), counts.f1()),
            (1.0, 1.0, 1.0)
        );
    }

    /// Enumerates all pairs: the definition the fast path must agree with.
    fn brute_force(truth: &[(String, u64)], predicted: &[(String, String)]) -> PairCounts {
        let cluster = |key: &str| {
            predicted
                .iter()
                .find(|(predicted_key, _)| predicted_key == key)
                .map(|(_, cluster)| cluster.clone())
        };
        let mut counts = PairCounts::default();
        for (i, (key_a, entity_a)) in truth.iter().enumerate() {
            for (key_b, entity_b) in &truth[i + 1..] {
                let same_entity = entity_a == entity_b;
                let same_cluster = match (cluster(key_a), cluster(key_b)) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                };
                match (same_entity, same_cluster) {
                    (true, true) => counts.true_positives += 1,
                    (false, true) => counts.false_positives += 1,
                    (true, false) => counts.false_negatives += 1,
                    (false, false) => {}
                }
            }
        }
        counts
    }

    #[test]
    fn agrees_with_brute_force_on_random_clusterings() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..300 {
            let records = rng.random_range(0..40);
            let entities = rng.random_range(1..8);
            let clusters = rng.random_range(1..10);
            let truth: Vec<(String, u64)> = (0..records)
                .map(|record| (format!("s/{record}"), rng.random_range(0..entities)))
                .collect();
            // Some truth records are left out of the prediction, some extra added.
            let mut predicted: Vec<(String, String)> = Vec::new();
            for record in 0..records {
                if rng.random_bool(0.9) {
                    predicted.push((
                        format!("s/{record}"),
                        format!("c{}", rng.random_range(0..clusters)),
                    ));
                }
            }
            predicted.push(("other/1".to_owned(), "c0".to_owned()));
            assert_eq!(
                pairwise_scores(&truth, &predicted),
                brute_force(&truth, &predicted)
            );
        }
    }
}
