//! Estimating the Fellegi-Sunter parameters from the data, unsupervised.
//!
//! `u` (chance of each level among non-matches) comes from random record pairs, which
//! are almost all non-matches; `m` comes from expectation-maximisation over the
//! candidate pairs that blocking produces, with `u` held fixed. This is the usual split
//! (as in Splink): EM over blocked pairs alone over-estimates `u`.
//!
//! The prior is held fixed too. Re-estimated alongside, it ran to 1 on the FEBRL
//! tuning sets (0.9999999 after three iterations): candidate pairs agree far more
//! often than random pairs, so against the random pairs' `u` every one of them looks
//! like a match. The prior turns the weight into the match probability that the
//! threshold is set in (`identity.match_probability`), so a prior of 1 would link
//! everything; estimating u among candidate non-matches jointly instead did not
//! converge and lost half the recall without national ids on febrl1.

use crate::features::Features;
use crate::params::{Field, MatchParameters};
use crate::score::{HouseholdPair, Recorder, compare};

/// Each field's level for one pair; `None` where a side is missing.
pub type Levels = [Option<u8>; Field::ALL.len()];

struct CaptureLevels(Levels);

impl Recorder for CaptureLevels {
    fn field(&mut self, field: Field, level: u8, _: f64, _: f64, _: bool) {
        self.0[field.index()] = Some(level);
    }
}

/// The comparison levels of a pair.
pub fn levels_of(a: &Features, b: &Features, params: &MatchParameters) -> Levels {
    let mut capture = CaptureLevels([None; Field::ALL.len()]);
    compare(a, b, params, &mut capture);
    capture.0
}

/// Pseudo-count that keeps every probability above zero.
const SMOOTHING: f64 = 0.5;

/// Sets every field's `u` from the level counts of random pairs.
pub fn estimate_u(random_pairs: &[Levels], params: &mut MatchParameters) {
    for field in Field::ALL {
        let levels = field.levels().len();
        let mut counts = vec![SMOOTHING; levels];
        for pair in random_pairs {
            if let Some(level) = pair[field.index()] {
                counts[level as usize] += 1.0;
            }
        }
        let total: f64 = counts.iter().sum();
        for (level, count) in counts.iter().enumerate() {
            params.levels[field.index()][level].u = count / total;
        }
    }
}

/// Whether the base has households: [`MatchParameters::household_ratio`] from the
/// candidate pairs.
pub fn estimate_household_ratio<'a>(
    candidate_pairs: impl Iterator<Item = (&'a Features, &'a Features)>,
    params: &mut MatchParameters,
) {
    let (mut both, mut one) = (0u64, 0u64);
    for (a, b) in candidate_pairs {
        match crate::score::household_pair(a, b, params) {
            Some(HouseholdPair::BothDiffer) => both += 1,
            Some(HouseholdPair::OneDiffers) => one += 1,
            None => {}
        }
    }
    // Half a pair of each kind, so that a base with none of either keeps no opinion
    // beyond "as many of each" (households assumed).
    params.household_ratio = (both as f64 + 0.5) / (one as f64 + 0.5);
}

/// How an EM run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct EmReport {
    pub iterations: u32,
    pub converged: bool,
    pub log_likelihood: f64,
    pub prior: f64,
}

/// Re-estimates `m` from candidate pairs, keeping `u` and the prior.
pub fn estimate_m(
    candidate_pairs: &[Levels],
    params: &mut MatchParameters,
    max_iterations: u32,
) -> EmReport {
    let mut report = EmReport {
        iterations: 0,
        converged: false,
        log_likelihood: f64::NEG_INFINITY,
        prior: params.prior,
    };
    if candidate_pairs.is_empty() {
        return report;
    }
    let mut posteriors = vec![0.0; candidate_pairs.len()];
    for iteration in 1..=max_iterations {
        let log_likelihood = expectation(candidate_pairs, params, &mut posteriors);
        let change = maximisation(candidate_pairs, params, &posteriors);
        report = EmReport {
            iterations: iteration,
            converged: change < 1e-5,
            log_likelihood,
            prior: params.prior,
        };
        if report.converged {
            break;
        }
    }
    report
}

/// Posterior match probability of each pair; returns the log-likelihood.
fn expectation(pairs: &[Levels], params: &MatchParameters, posteriors: &mut [f64]) -> f64 {
    let mut log_likelihood = 0.0;
    for (pair, posterior) in pairs.iter().zip(posteriors.iter_mut()) {
        let (mut log_m, mut log_u) = (params.prior.ln(), (1.0 - params.prior).ln());
        for field in Field::ALL {
            if let Some(level) = pair[field.index()] {
                let probabilities = params.levels[field.index()][level as usize];
                log_m += probabilities.m.ln();
                log_u += probabilities.u.ln();
            }
        }
        let top = log_m.max(log_u);
        let evidence = top + ((log_m - top).exp() + (log_u - top).exp()).ln();
        *posterior = (log_m - evidence).exp();
        log_likelihood += evidence;
    }
    log_likelihood
}

/// New `m` per level; returns the largest change.
fn maximisation(pairs: &[Levels], params: &mut MatchParameters, posteriors: &[f64]) -> f64 {
    let mut change: f64 = 0.0;
    for field in Field::ALL {
        let levels = field.levels().len();
        let mut weighted = vec![SMOOTHING * 1e-3; levels];
        for (pair, posterior) in pairs.iter().zip(posteriors) {
            if let Some(level) = pair[field.index()] {
                weighted[level as usize] += posterior;
            }
        }
        let total: f64 = weighted.iter().sum();
        for (level, weight) in weighted.iter().enumerate() {
            let m = weight / total;
            let slot = &mut params.levels[field.index()][level];
            change = change.max((slot.m - m).abs());
            slot.m = m;
        }
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{NormalizeOptions, normalize_record};
    use crate::record::{IdKind, RawAddress, RawRecord};

    /// Pairs drawn from known m/u: EM must find m again.
    #[test]
    fn recovers_m_from_a_synthetic_mixture() {
        let truth = MatchParameters::default();
        let mut pairs = Vec::new();
        // Deterministic pseudo-random draws (a linear congruential generator).
        let mut state: u64 = 42;
        let mut draw = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for index in 0..40_000 {
            let is_match = index % 4 == 0;
            let mut levels: Levels = [None; Field::ALL.len()];
            for field in [
                Field::GivenName,
                Field::FamilyName,
                Field::BirthDate,
                Field::Email,
            ] {
                let mut roll = draw();
                let probabilities = &truth.levels[field.index()];
                let mut chosen = probabilities.len() - 1;
                for (level, p) in probabilities.iter().enumerate() {
                    let p = if is_match { p.m } else { p.u };
                    if roll < p {
                        chosen = level;
                        break;
                    }
                    roll -= p;
                }
                levels[field.index()] = Some(chosen as u8);
            }
            pairs.push(levels);
        }
        let mut estimated = MatchParameters::default();
        for field in Field::ALL {
            for level in &mut estimated.levels[field.index()] {
                level.m = 1.0 / field.levels().len() as f64;
            }
        }
        estimated.prior = 0.25;
        let report = estimate_m(&pairs, &mut estimated, 200);
        assert!(report.converged, "{report:?}");
        assert_eq!(report.prior, 0.25, "the prior is kept");
        for field in [Field::GivenName, Field::FamilyName, Field::BirthDate] {
            let m_exact = estimated.levels[field.index()][0].m;
            let true_m = truth.levels[field.index()][0].m;
            assert!(
                (m_exact - true_m).abs() < 0.03,
                "{field:?}: {m_exact} vs {true_m}"
            );
        }
    }

    /// A person of the Shepherd household at one address (as in `score`'s tests).
    fn person(given: &str, dob: &str, national_id: &str) -> Features {
        let raw = RawRecord {
            given_name: given.into(),
            family_name: "Shepherd".into(),
            date_of_birth: dob.into(),
            addresses: vec![RawAddress {
                street_number: "39".into(),
                street: "Burnage Place".into(),
                locality: "Winston Hills".into(),
                postcode: "3183".into(),
                country: "AU".into(),
                ..RawAddress::default()
            }],
            identifiers: if national_id.is_empty() {
                Vec::new()
            } else {
                vec![crate::record::RawIdentifier {
                    kind: IdKind::National,
                    system: String::new(),
                    value: national_id.into(),
                }]
            },
            ..RawRecord::default()
        };
        Features::of(&normalize_record(&raw, &NormalizeOptions::default()).unwrap())
    }

    /// The estimate: spouses and parents (both differ) as common as twins or replaced
    /// values (one differs) mean households.
    #[test]
    fn the_household_ratio_is_estimated_from_candidate_pairs() {
        let mut params = MatchParameters::default();
        let ann = person("Ann", "1932-09-07", "");
        let (beth, annie_reborn, bob) = (
            person("Beth", "1932-09-07", ""),
            person("Ann", "1967-02-11", ""),
            person("Bob", "1930-01-15", ""),
        );
        let damaged = [(&ann, &beth), (&ann, &annie_reborn), (&ann, &ann)];
        estimate_household_ratio(damaged.iter().copied(), &mut params);
        assert!(
            !params.households_share_evidence(),
            "{}",
            params.household_ratio
        );
        let family = [(&ann, &bob), (&beth, &bob), (&ann, &beth)];
        estimate_household_ratio(family.iter().copied(), &mut params);
        assert!(
            params.households_share_evidence(),
            "{}",
            params.household_ratio
        );
    }
}
