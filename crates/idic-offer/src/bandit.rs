//! Learning across customers: a Beta-Bernoulli Thompson-sampling bandit per needs
//! segment x slot, one arm per component. Exploration is bounded: a draw that departs
//! from the arm with the best estimated acceptance is honoured with at most
//! `max_exploration` probability, so a segment never sees more than that share of
//! experimental offers. Cold start: every arm starts at Beta(1, 1), the authored
//! default of the slot at Beta(1 + default_prior, 1), so a new segment is first
//! offered what the rules say.

use std::collections::HashMap;

use rand::Rng;
use rand_distr::{Beta, Distribution};

use crate::slot::Slot;

/// Outcomes of one arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArmStats {
    pub accepted: u64,
    pub rejected: u64,
}

impl ArmStats {
    pub fn trials(&self) -> u64 {
        self.accepted + self.rejected
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BanditConfig {
    /// Highest share of offers that may depart from the estimated best arm.
    pub max_exploration: f64,
    /// Pseudo-acceptances given to the authored default at cold start.
    pub default_prior: f64,
}

impl Default for BanditConfig {
    fn default() -> Self {
        BanditConfig {
            max_exploration: 0.2,
            default_prior: 2.0,
        }
    }
}

/// The bandit's pick among candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub component_id: String,
    /// Posterior mean acceptance of the pick.
    pub mean: f64,
    pub stats: ArmStats,
    /// True when the pick is not the arm with the best estimated acceptance.
    pub explored: bool,
}

/// Arm statistics keyed by (segment, slot) then component.
#[derive(Debug, Clone, Default)]
pub struct Bandit {
    config: BanditConfig,
    arms: HashMap<(String, Slot), HashMap<String, ArmStats>>,
}

impl Bandit {
    pub fn new(config: BanditConfig) -> Self {
        Bandit {
            config,
            arms: HashMap::new(),
        }
    }

    pub fn config(&self) -> BanditConfig {
        self.config
    }

    /// Replaces an arm's statistics (loading from storage).
    pub fn set(&mut self, segment: &str, slot: Slot, component_id: &str, stats: ArmStats) {
        self.arms
            .entry((segment.to_owned(), slot))
            .or_default()
            .insert(component_id.to_owned(), stats);
    }

    /// Counts one outcome.
    pub fn record(&mut self, segment: &str, slot: Slot, component_id: &str, accepted: bool) {
        let stats = self
            .arms
            .entry((segment.to_owned(), slot))
            .or_default()
            .entry(component_id.to_owned())
            .or_default();
        if accepted {
            stats.accepted += 1;
        } else {
            stats.rejected += 1;
        }
    }

    pub fn stats(&self, segment: &str, slot: Slot, component_id: &str) -> ArmStats {
        self.arms
            .get(&(segment.to_owned(), slot))
            .and_then(|arms| arms.get(component_id))
            .copied()
            .unwrap_or_default()
    }

    fn posterior(&self, stats: ArmStats, is_default: bool) -> (f64, f64) {
        let prior = if is_default {
            self.config.default_prior
        } else {
            0.0
        };
        (
            1.0 + prior + stats.accepted as f64,
            1.0 + stats.rejected as f64,
        )
    }

    /// Posterior mean acceptance of an arm.
    pub fn mean(&self, segment: &str, slot: Slot, component_id: &str, is_default: bool) -> f64 {
        let (alpha, beta) = self.posterior(self.stats(segment, slot, component_id), is_default);
        alpha / (alpha + beta)
    }

    /// Thompson sampling over `candidates` (non-empty, in preference order for ties),
    /// with `default` the authored default if it is among them.
    pub fn choose(
        &self,
        segment: &str,
        slot: Slot,
        candidates: &[&str],
        default: Option<&str>,
        rng: &mut impl Rng,
    ) -> Option<Pick> {
        let mut best_mean: Option<(usize, f64)> = None;
        let mut best_draw: Option<(usize, f64)> = None;
        for (index, candidate) in candidates.iter().enumerate() {
            let stats = self.stats(segment, slot, candidate);
            let (alpha, beta) = self.posterior(stats, default == Some(*candidate));
            let mean = alpha / (alpha + beta);
            if best_mean.is_none_or(|(_, best)| mean > best) {
                best_mean = Some((index, mean));
            }
            // Both parameters are at least 1, so the distribution always exists.
            let draw = Beta::new(alpha, beta).map_or(mean, |beta| beta.sample(rng));
            if best_draw.is_none_or(|(_, best)| draw > best) {
                best_draw = Some((index, draw));
            }
        }
        let (greedy, _) = best_mean?;
        let (drawn, _) = best_draw?;
        let explore = drawn != greedy && rng.random::<f64>() < self.config.max_exploration;
        let index = if explore { drawn } else { greedy };
        let component_id = candidates[index];
        Some(Pick {
            component_id: component_id.to_owned(),
            mean: self.mean(segment, slot, component_id, default == Some(component_id)),
            stats: self.stats(segment, slot, component_id),
            explored: explore,
        })
    }
}

impl Bandit {
    /// Learns from one slot outcome: the offered arm succeeds when accepted and fails
    /// otherwise; a component the customer changed to counts as accepted.
    pub fn learn(
        &mut self,
        segment: &str,
        slot: Slot,
        offered: &str,
        outcome: &crate::profile::Outcome,
    ) {
        use crate::profile::Outcome;
        self.record(segment, slot, offered, *outcome == Outcome::Accepted);
        if let Outcome::Changed(to) = outcome {
            self.record(segment, slot, to, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn cold_start_follows_the_default() {
        let bandit = Bandit::new(BanditConfig::default());
        let mut rng = StdRng::seed_from_u64(7);
        let mut default_picks = 0;
        for _ in 0..1000 {
            let pick = bandit
                .choose("s", Slot::Packaging, &["a", "b", "c"], Some("b"), &mut rng)
                .unwrap();
            default_picks += usize::from(pick.component_id == "b");
        }
        // At most max_exploration of picks depart from the best estimate.
        assert!(default_picks >= 800, "{default_picks}");
    }

    #[test]
    fn learns_the_best_arm_and_bounds_exploration() {
        let truth = [("a", 0.2), ("b", 0.5), ("c", 0.8)];
        let mut bandit = Bandit::new(BanditConfig::default());
        let mut rng = StdRng::seed_from_u64(11);
        let mut late_best = 0;
        let mut explored = 0;
        for round in 0..3000 {
            let pick = bandit
                .choose("s", Slot::Delivery, &["a", "b", "c"], Some("a"), &mut rng)
                .unwrap();
            explored += usize::from(pick.explored);
            let p = truth
                .iter()
                .find(|(id, _)| *id == pick.component_id)
                .unwrap()
                .1;
            bandit.record(
                "s",
                Slot::Delivery,
                &pick.component_id,
                rng.random::<f64>() < p,
            );
            if round >= 2000 {
                late_best += usize::from(pick.component_id == "c");
            }
        }
        assert!(late_best > 900, "{late_best}");
        assert!(explored <= 600, "{explored}");
    }
}
