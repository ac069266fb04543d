//! Frequency-weighted samplers over the embedded name and place lists, built once
//! per run. Weights are integers so that sampling is identical on every platform.

use rand::Rng;

use super::names::{EMAIL_DOMAINS, FEMALE_GIVEN_NAMES, MALE_GIVEN_NAMES, SURNAMES};
use super::places::{CITIES, STREET_NAMES, STREET_TYPES};

/// Samples indexes `0..len` with fixed integer weights.
#[derive(Debug, Clone)]
pub(crate) struct Weighted {
    cumulative: Vec<u64>,
}

impl Weighted {
    pub(crate) fn new(weights: impl IntoIterator<Item = u64>) -> Self {
        let mut total = 0_u64;
        let cumulative: Vec<u64> = weights
            .into_iter()
            .map(|weight| {
                total += weight;
                total
            })
            .collect();
        assert!(total > 0, "a weighted list needs a positive total weight");
        Self { cumulative }
    }

    /// Zipf-like weights `1 / (rank + offset)`: the head is common, the tail rare,
    /// and `offset` flattens the head (larger offset, flatter head).
    pub(crate) fn zipf(len: usize, offset: u64) -> Self {
        Self::new((0..len as u64).map(|rank| 1_000_000_000 / (rank + offset)))
    }

    pub(crate) fn sample(&self, rng: &mut impl Rng) -> usize {
        let total = *self
            .cumulative
            .last()
            .expect("weighted lists are never empty");
        let point = rng.random_range(0..total);
        self.cumulative.partition_point(|&bound| bound <= point)
    }

    /// Probability of index `index`, for tests and reports.
    #[cfg(test)]
    pub(crate) fn probability(&self, index: usize) -> f64 {
        let total = *self
            .cumulative
            .last()
            .expect("weighted lists are never empty");
        let below = if index == 0 {
            0
        } else {
            self.cumulative[index - 1]
        };
        (self.cumulative[index] - below) as f64 / total as f64
    }
}

/// All samplers a run needs.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    male_given: Weighted,
    female_given: Weighted,
    surnames: Weighted,
    streets: Weighted,
    street_types: Weighted,
    cities: Weighted,
    email_domains: Weighted,
}

impl Catalog {
    pub(crate) fn new() -> Self {
        Self {
            // Given names are less skewed than surnames: James is ~3% of men.
            male_given: Weighted::zipf(MALE_GIVEN_NAMES.len(), 15),
            female_given: Weighted::zipf(FEMALE_GIVEN_NAMES.len(), 15),
            // Smith ~1.1%, the rarest names ~0.01%: a ratio of about 90, close to
            // the census between rank 1 and rank 2,000.
            surnames: Weighted::zipf(SURNAMES.len(), 20),
            streets: Weighted::zipf(STREET_NAMES.len(), 10),
            street_types: Weighted::new(
                STREET_TYPES.iter().map(|(_, _, weight)| u64::from(*weight)),
            ),
            cities: Weighted::new(CITIES.iter().map(|city| u64::from(city.weight))),
            email_domains: Weighted::new(
                EMAIL_DOMAINS.iter().map(|(_, weight)| u64::from(*weight)),
            ),
        }
    }

    pub(crate) fn given_name(&self, rng: &mut impl Rng, female: bool) -> &'static str {
        if female {
            FEMALE_GIVEN_NAMES[self.female_given.sample(rng)]
        } else {
            MALE_GIVEN_NAMES[self.male_given.sample(rng)]
        }
    }

    pub(crate) fn surname(&self, rng: &mut impl Rng) -> &'static str {
        SURNAMES[self.surnames.sample(rng)]
    }

    /// Index into `STREET_NAMES`.
    pub(crate) fn street(&self, rng: &mut impl Rng) -> usize {
        self.streets.sample(rng)
    }

    /// Index into `STREET_TYPES`.
    pub(crate) fn street_type(&self, rng: &mut impl Rng) -> usize {
        self.street_types.sample(rng)
    }

    /// Index into `CITIES`.
    pub(crate) fn city(&self, rng: &mut impl Rng) -> usize {
        self.cities.sample(rng)
    }

    pub(crate) fn email_domain(&self, rng: &mut impl Rng) -> &'static str {
        EMAIL_DOMAINS[self.email_domains.sample(rng)].0
    }

    #[cfg(test)]
    pub(crate) fn surname_probability(&self, rank: usize) -> f64 {
        self.surnames.probability(rank)
    }
}
