//! Fellegi-Sunter parameters: for each field and agreement level, `m` (the chance of
//! that level when two records are the same entity) and `u` (when they are not), the
//! prior chance that a candidate pair matches, and term-frequency tables that make an
//! agreement on a rare name weigh more than on a common one.
//!
//! The defaults are priors chosen by hand so that matching works from the first
//! record; [`crate::em`] re-estimates them from the data and the service saves them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The fields the matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Field {
    GivenName,
    FamilyName,
    Organization,
    BirthDate,
    Email,
    Phone,
    /// The street name of an address (house number, town and postcode are their own
    /// comparisons, each with its own levels and m/u: sources damage them apart).
    Street,
    Device,
    /// Compared for its weight; the same value is also a deterministic rule, and two
    /// values that are not a plausible typo of each other are strong evidence of two
    /// persons (weighed, not a veto).
    NationalId,
    /// The house number (with the unit: flat 4 at number 12 is not flat 5).
    StreetNumber,
    /// Town or suburb.
    Locality,
    Postcode,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::GivenName,
        Field::FamilyName,
        Field::Organization,
        Field::BirthDate,
        Field::Email,
        Field::Phone,
        Field::Street,
        Field::Device,
        Field::NationalId,
        Field::StreetNumber,
        Field::Locality,
        Field::Postcode,
    ];

    /// The comparisons of one address, whose positive weights a household shares.
    pub const ADDRESS: [Field; 4] = [
        Field::StreetNumber,
        Field::Street,
        Field::Locality,
        Field::Postcode,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::Organization => "organization_name",
            Field::BirthDate => "date_of_birth",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Street => "street",
            Field::Device => "device_id",
            Field::NationalId => "national_id",
            Field::StreetNumber => "street_number",
            Field::Locality => "locality",
            Field::Postcode => "postcode",
        }
    }

    /// The agreement levels, best first; the last is always "disagree".
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Field::GivenName => &[
                "exact",
                "nickname",
                "jaro_winkler>=0.92",
                "phonetic_or_mistyped_nickname",
                "initial",
                "disagree",
            ],
            Field::FamilyName => &[
                "exact",
                "jaro_winkler>=0.94_or_double_barrelled_part",
                "phonetic",
                "jaro_winkler>=0.88",
                "disagree",
            ],
            Field::Organization => &["exact", "jaro_winkler>=0.92", "disagree"],
            Field::BirthDate => &["exact", "day_month_swapped", "one_digit", "disagree"],
            Field::Email => &["exact", "same_local_part", "disagree"],
            Field::Phone => &["exact", "disagree"],
            Field::Street => &[
                "exact",
                "jaro_winkler>=0.94",
                "jaro_winkler>=0.88",
                "disagree",
            ],
            Field::Device => &["exact", "disagree"],
            Field::NationalId => &["exact", "one_typo", "disagree"],
            Field::StreetNumber => &["exact", "same_number_other_unit", "disagree"],
            Field::Locality => &["exact", "jaro_winkler>=0.92", "disagree"],
            Field::Postcode => &["exact", "one_typo", "disagree"],
        }
    }

    pub fn disagree_level(self) -> u8 {
        (self.levels().len() - 1) as u8
    }
}

/// m and u of one level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelProbabilities {
    pub m: f64,
    pub u: f64,
}

/// How often each value occurs among all records, for term-frequency adjustment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TermFrequencies {
    /// value -> share of records holding it.
    pub shares: HashMap<String, f64>,
    /// The share assumed for a value not in the table (the rarest seen).
    pub unseen_share: f64,
}

impl TermFrequencies {
    /// Builds the table from value counts over `records` records.
    pub fn from_counts(counts: HashMap<String, u64>, records: u64) -> Self {
        let total = records.max(1) as f64;
        let shares: HashMap<String, f64> = counts
            .into_iter()
            .map(|(value, count)| (value, count as f64 / total))
            .collect();
        let unseen_share = shares
            .values()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(1.0 / total);
        TermFrequencies {
            shares,
            unseen_share,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }

    pub fn share(&self, value: &str) -> f64 {
        self.shares.get(value).copied().unwrap_or(self.unseen_share)
    }

    /// Takes one erased record's `value` out of the table: its count drops by one, and
    /// the value leaves the table with its last record, so that saved parameters keep
    /// no name of an erased customer. Returns whether the table changed.
    pub fn forget(&mut self, value: &str) -> bool {
        let Some(share) = self.shares.get(value).copied() else {
            return false;
        };
        // `from_counts` makes `unseen_share` 1/records, so a share is count/records.
        let count = if self.unseen_share > 0.0 {
            (share / self.unseen_share).round()
        } else {
            1.0
        };
        if count <= 1.0 {
            self.shares.remove(value);
        } else {
            self.shares
                .insert(value.to_owned(), (count - 1.0) * self.unseen_share);
        }
        true
    }
}

/// The folded names of erased records, one entry per record and name, which the
/// term-frequency tables must forget.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErasedNames {
    pub given: Vec<String>,
    pub family: Vec<String>,
}

impl ErasedNames {
    pub fn is_empty(&self) -> bool {
        self.given.is_empty() && self.family.is_empty()
    }

    pub fn extend(&mut self, later: ErasedNames) {
        self.given.extend(later.given);
        self.family.extend(later.family);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchParameters {
    /// Per field (by [`Field::index`]) and level. Parameters saved before a field
    /// existed get that field's priors when read back.
    #[serde(deserialize_with = "levels_with_priors_for_new_fields")]
    pub levels: Vec<Vec<LevelProbabilities>>,
    /// Prior probability that a candidate pair from blocking is a match.
    pub prior: f64,
    /// Term frequencies of given names (folded).
    pub given_name_frequencies: TermFrequencies,
    /// Term frequencies of family names.
    pub family_name_frequencies: TermFrequencies,
    /// Among candidate pairs (pairs that blocking brings together) that share family
    /// name and address: pairs whose given names and birth dates both clearly differ,
    /// per pair where only one of them does. Where households exist (spouses, parents
    /// and children differ in both), what a household shares is no evidence of one
    /// person once names or birth dates differ (see
    /// [`MatchParameters::households_share_evidence`]). Estimated from the base; the
    /// prior assumes households, as every customer base has them.
    #[serde(default = "prior_household_ratio")]
    pub household_ratio: f64,
}

/// The prior [`MatchParameters::household_ratio`]: households present.
fn prior_household_ratio() -> f64 {
    2.0
}

/// From this ratio on, the base has households. Chosen by reasoning, not fitted: if
/// pairs that differ in both given name and birth date were one person's records
/// damaged independently at a rate p < 1/2 per field, they would be at most
/// p / (2(1 - p)) < 1/2 as many as pairs damaged in one field only.
pub const HOUSEHOLD_RATIO_PRESENT: f64 = 0.5;

fn probabilities(pairs: &[(f64, f64)]) -> Vec<LevelProbabilities> {
    pairs
        .iter()
        .map(|&(m, u)| LevelProbabilities { m, u })
        .collect()
}

impl Default for MatchParameters {
    fn default() -> Self {
        let mut levels = vec![Vec::new(); Field::ALL.len()];
        levels[Field::GivenName.index()] = probabilities(&[
            (0.80, 0.005),
            (0.06, 0.001),
            (0.05, 0.002),
            (0.04, 0.004),
            (0.02, 0.02),
            (0.03, 0.968),
        ]);
        levels[Field::FamilyName.index()] = probabilities(&[
            (0.85, 0.002),
            (0.05, 0.0005),
            (0.03, 0.002),
            (0.02, 0.002),
            (0.05, 0.9935),
        ]);
        levels[Field::Organization.index()] =
            probabilities(&[(0.85, 0.001), (0.10, 0.001), (0.05, 0.998)]);
        levels[Field::BirthDate.index()] = probabilities(&[
            (0.88, 0.0001),
            (0.02, 0.00005),
            (0.05, 0.002),
            (0.05, 0.99785),
        ]);
        levels[Field::Email.index()] =
            probabilities(&[(0.60, 0.00001), (0.05, 0.002), (0.35, 0.99799)]);
        levels[Field::Phone.index()] = probabilities(&[(0.60, 0.0001), (0.40, 0.9999)]);
        // The four address comparisons. Chosen so that a whole address agreeing weighs
        // what the single address comparison they replace did with the priors (11.5
        // bits), a shared town alone about what "same place" did (3-4 bits): the
        // generator's households were tuned with those. EM learns each from the data.
        levels[Field::Street.index()] =
            probabilities(&[(0.70, 0.015), (0.08, 0.004), (0.04, 0.008), (0.18, 0.973)]);
        levels[Field::StreetNumber.index()] =
            probabilities(&[(0.70, 0.25), (0.05, 0.05), (0.25, 0.70)]);
        levels[Field::Locality.index()] =
            probabilities(&[(0.75, 0.15), (0.03, 0.02), (0.22, 0.83)]);
        levels[Field::Postcode.index()] =
            probabilities(&[(0.75, 0.17), (0.03, 0.03), (0.22, 0.80)]);
        levels[Field::Device.index()] = probabilities(&[(0.30, 0.001), (0.70, 0.999)]);
        // One typo: a digit wrong, missing or added, or two neighbours swapped. Random
        // 7- to 9-digit ids are that close about once in a million pairs.
        levels[Field::NationalId.index()] =
            probabilities(&[(0.88, 0.000_000_1), (0.05, 0.000_001), (0.07, 0.999_998_9)]);
        MatchParameters {
            levels,
            // Chosen with the threshold: a match probability of 0.99 is then the 15 bits
            // the priors were tuned at (log2(99) + 8.37).
            prior: 0.003,
            given_name_frequencies: TermFrequencies::default(),
            family_name_frequencies: TermFrequencies::default(),
            household_ratio: prior_household_ratio(),
        }
    }
}

/// Reads saved levels and appends the priors of fields added since they were saved.
/// Saved parameters of the single address comparison (index of [`Field::Street`],
/// same number of levels) are read as the street's: re-estimate after upgrading.
fn levels_with_priors_for_new_fields<'de, D>(
    deserializer: D,
) -> Result<Vec<Vec<LevelProbabilities>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let mut levels = Vec::<Vec<LevelProbabilities>>::deserialize(deserializer)?;
    let priors = MatchParameters::default().levels;
    if levels.len() < priors.len() {
        levels.extend_from_slice(&priors[levels.len()..]);
    }
    // A field whose levels changed since (the one address comparison, now the street
    // name) gets its priors rather than probabilities of other levels, or of a number
    // of levels that would index out of bounds.
    for (saved, prior) in levels.iter_mut().zip(&priors) {
        if saved.len() != prior.len() {
            saved.clone_from(prior);
        }
    }
    levels.truncate(priors.len());
    Ok(levels)
}

impl MatchParameters {
    /// Takes erased records' names out of the term-frequency tables (see
    /// [`TermFrequencies::forget`]): one entry of `given` / `family` per erased record
    /// holding that (folded) name. Returns whether a table changed.
    pub fn forget_names(&mut self, names: &ErasedNames) -> bool {
        let mut changed = false;
        for name in &names.given {
            changed |= self.given_name_frequencies.forget(name);
        }
        for name in &names.family {
            changed |= self.family_name_frequencies.forget(name);
        }
        changed
    }

    /// Whether the base has households whose members share family name, address,
    /// phone and devices: then that agreement is no evidence of one person when given
    /// names or birth dates clearly differ.
    pub fn households_share_evidence(&self) -> bool {
        self.household_ratio >= HOUSEHOLD_RATIO_PRESENT
    }

    /// log2(m/u) of a level, without term-frequency adjustment.
    pub fn weight(&self, field: Field, level: u8) -> f64 {
        let probabilities = self.levels[field.index()][level as usize];
        (probabilities.m / probabilities.u).log2()
    }

    /// log2(m/u) of an exact agreement on `value`, with `u` replaced by the value's
    /// share of records when a table is known. Returns (weight, adjustment).
    pub fn exact_weight_with_frequency(&self, field: Field, value: &str) -> (f64, f64) {
        let table = match field {
            Field::GivenName => &self.given_name_frequencies,
            Field::FamilyName => &self.family_name_frequencies,
            _ => return (self.weight(field, 0), 0.0),
        };
        let generic = self.weight(field, 0);
        if table.is_empty() {
            return (generic, 0.0);
        }
        let m = self.levels[field.index()][0].m;
        let adjusted = (m / table.share(value).max(1e-9)).log2();
        (adjusted, adjusted - generic)
    }

    /// The total weight (bits) from which a pair's match probability
    /// ([`MatchParameters::probability`]) reaches `probability`: log2 of the posterior
    /// odds asked for, less log2 of the prior odds. With the priors, a probability of
    /// 0.99 is 15.0 bits; estimated parameters carry their own prior, so the same
    /// probability asks for the evidence that base needs.
    pub fn threshold_for_probability(&self, probability: f64) -> f64 {
        let probability = probability.clamp(1e-12, 1.0 - 1e-12);
        let posterior_odds = (probability / (1.0 - probability)).log2();
        let prior_odds = (self.prior / (1.0 - self.prior)).log2();
        posterior_odds - prior_odds
    }

    /// Probability of a match given a total weight, through the prior odds.
    pub fn probability(&self, total_weight: f64) -> f64 {
        let prior_odds = (self.prior / (1.0 - self.prior)).log2();
        let odds = 2f64.powf(total_weight + prior_odds);
        if odds.is_infinite() {
            1.0
        } else {
            odds / (1.0 + odds)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_probabilities_for_every_level() {
        let params = MatchParameters::default();
        for field in Field::ALL {
            let levels = &params.levels[field.index()];
            assert_eq!(levels.len(), field.levels().len(), "{field:?}");
            let m: f64 = levels.iter().map(|level| level.m).sum();
            let u: f64 = levels.iter().map(|level| level.u).sum();
            assert!((m - 1.0).abs() < 1e-9, "{field:?} m sums to {m}");
            assert!((u - 1.0).abs() < 1e-9, "{field:?} u sums to {u}");
            assert!(params.weight(field, field.disagree_level()) < 0.0);
            assert!(params.weight(field, 0) > 0.0);
        }
    }

    /// Parameters saved before the national id was compared still load, with its
    /// priors.
    #[test]
    fn saved_parameters_without_a_newer_field_get_its_priors() {
        let defaults = MatchParameters::default();
        let mut saved = serde_json::to_value(&defaults).unwrap();
        saved["levels"].as_array_mut().unwrap().pop();
        let loaded: MatchParameters = serde_json::from_value(saved).unwrap();
        assert_eq!(loaded.levels.len(), Field::ALL.len());
        assert_eq!(loaded, defaults);
    }

    #[test]
    fn the_default_match_probability_is_fifteen_bits_with_the_priors() {
        let params = MatchParameters::default();
        let bits = params.threshold_for_probability(0.99);
        assert!((bits - 15.0).abs() < 0.05, "{bits}");
        assert!((params.probability(bits) - 0.99).abs() < 1e-9);
        let estimated = MatchParameters {
            prior: 0.05,
            ..MatchParameters::default()
        };
        assert!(estimated.threshold_for_probability(0.99) < bits);
    }

    #[test]
    fn rare_names_weigh_more_than_common_ones() {
        let mut params = MatchParameters::default();
        let counts = HashMap::from([("smith".to_owned(), 1_000), ("zabriskie".to_owned(), 1)]);
        params.family_name_frequencies = TermFrequencies::from_counts(counts, 100_000);
        let (common, _) = params.exact_weight_with_frequency(Field::FamilyName, "smith");
        let (rare, _) = params.exact_weight_with_frequency(Field::FamilyName, "zabriskie");
        let (unseen, _) = params.exact_weight_with_frequency(Field::FamilyName, "never-seen");
        assert!(rare > common + 5.0, "rare {rare} vs common {common}");
        assert!(unseen >= rare);
    }

    /// An erasure takes its records' names out of the tables: a name held only by
    /// the erased records leaves, a shared one keeps the others' count.
    #[test]
    fn forgetting_erased_names_keeps_the_other_records_counts() {
        let mut params = MatchParameters::default();
        let counts = HashMap::from([
            ("smith".to_owned(), 3),
            ("quixtanilla".to_owned(), 2),
            ("zenobia".to_owned(), 1),
        ]);
        params.family_name_frequencies = TermFrequencies::from_counts(counts.clone(), 1_000);
        params.given_name_frequencies = TermFrequencies::from_counts(counts, 1_000);
        let erased = ErasedNames {
            given: vec!["zenobia".to_owned()],
            family: vec![
                "quixtanilla".to_owned(),
                "quixtanilla".to_owned(),
                "smith".to_owned(),
            ],
        };
        assert!(params.forget_names(&erased));
        let family = &params.family_name_frequencies;
        assert!(!family.shares.contains_key("quixtanilla"));
        assert!((family.share("smith") - 2.0 / 1_000.0).abs() < 1e-12);
        assert!(!params.given_name_frequencies.shares.contains_key("zenobia"));
        assert!(
            params
                .given_name_frequencies
                .shares
                .contains_key("quixtanilla")
        );
        // Names no table holds change nothing.
        let unknown = ErasedNames {
            given: vec!["never-seen".to_owned()],
            family: Vec::new(),
        };
        assert!(!params.forget_names(&unknown));
    }
}
