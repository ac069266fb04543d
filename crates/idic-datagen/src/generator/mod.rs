//! Realistic customer records with ground truth, for measuring identity resolution.
//!
//! [`generate`] invents persons (alone or in households) and organizations, and
//! writes each of them as one or more source records the way real channels would:
//! different systems, nicknames, typos, moved addresses, changed e-mails, phones in
//! many formats, sparse records. Which records belong to the same real entity is
//! known (`entity_id`), and households, twins, father and son "Jr" and namesakes are
//! there as hard negatives. [`pairwise_scores`] compares a clustering with the truth.
//!
//! The output depends only on the configuration: same records count, seed and knobs
//! give byte-identical files on every platform (integer sampling, ChaCha RNG).

mod builder;
mod catalog;
mod config;
mod corrupt;
mod csv_out;
mod damage;
mod entity;
mod names;
mod places;
mod registry;
mod render;
mod scoring;
mod sources;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use config::{CorruptionRates, Country, Forms, GeneratedRecord, GeneratorConfig};
pub use csv_out::{
    RECORD_COLUMNS, TRUTH_COLUMNS, read_truth_csv, write_records_csv, write_truth_csv,
};
pub use damage::{DamageRates, apply_second_damage};
pub use scoring::{PairCounts, pairwise_scores, partition};

use builder::Builder;
use catalog::Catalog;
use render::Renderer;
use sources::System;

/// What a generation run produced, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenerationSummary {
    pub records: usize,
    /// Entities with at least one record.
    pub entities: usize,
    pub persons: usize,
    pub organizations: usize,
    /// Households with at least two members that have records.
    pub households: usize,
    /// Persons in those households.
    pub household_members: usize,
}

/// Records and their summary.
#[derive(Debug, Clone)]
pub struct Generated {
    pub records: Vec<GeneratedRecord>,
    pub summary: GenerationSummary,
}

/// Exactly `config.records` records, shuffled, with ground truth in `entity_id`.
///
/// # Panics
/// When a share or rate in `config` is not in `[0, 1]`.
pub fn generate(config: &GeneratorConfig) -> Vec<GeneratedRecord> {
    generate_with_summary(config).records
}

/// [`generate`], plus counts of what was generated.
///
/// # Panics
/// When a share or rate in `config` is not in `[0, 1]`.
pub fn generate_with_summary(config: &GeneratorConfig) -> Generated {
    config.assert_valid();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let catalog = Catalog::new();
    let mut builder = Builder::new(&catalog, config);
    let renderer = Renderer::new(config);
    let mut records = Vec::with_capacity(config.records);
    let mut summary = GenerationSummary::default();

    // Households produce several persons per draw; choose the per-draw
    // probabilities so that the shares hold per person and per entity.
    let draws = DrawProbabilities::new(config);

    while records.len() < config.records {
        let remaining = config.records - records.len();
        let roll = rng.random::<f64>();
        if roll < draws.organization {
            let organization = builder.organization(&mut rng);
            let count = entity::record_count(&mut rng).min(remaining);
            renderer.organization_records(&mut rng, &organization, count, &mut records);
            summary.organizations += 1;
        } else if roll < draws.organization + draws.household {
            let members = builder.household(&mut rng);
            let mut members_with_records = 0;
            for member in &members {
                let remaining = config.records - records.len();
                if remaining == 0 {
                    break;
                }
                let count = entity::record_count(&mut rng).min(remaining);
                renderer.person_records(&mut rng, member, count, builder.registry(), &mut records);
                members_with_records += 1;
            }
            summary.persons += members_with_records;
            if members_with_records >= 2 {
                summary.households += 1;
                summary.household_members += members_with_records;
            }
        } else {
            let person = builder.single_person(&mut rng);
            let count = entity::record_count(&mut rng).min(remaining);
            renderer.person_records(&mut rng, &person, count, builder.registry(), &mut records);
            summary.persons += 1;
        }
    }
    debug_assert_eq!(records.len(), config.records);

    // Shuffle before numbering, so that neither position nor record id gives away
    // which records were generated together. The systems travel alongside in a
    // compact vector: reading them back from the shuffled records' heap strings
    // would be a cache miss per record.
    let mut systems: Vec<System> = records
        .iter()
        .map(|record| {
            System::from_name(&record.source_system)
                .expect("records are created with a known source system")
        })
        .collect();
    for position in (1..records.len()).rev() {
        let other = rng.random_range(0..=position);
        records.swap(position, other);
        systems.swap(position, other);
    }
    let mut serials = [0_u64; System::ALL.len()];
    for (record, system) in records.iter_mut().zip(systems) {
        let serial = &mut serials[system as usize];
        *serial += 1;
        record.source_record_id = system.record_id(*serial);
    }

    summary.records = records.len();
    summary.entities = summary.persons + summary.organizations;
    Generated { records, summary }
}

/// Mean household size drawn by `Builder::household`.
const MEAN_HOUSEHOLD_SIZE: f64 = 2.65;

/// Probabilities that one draw of the generation loop creates an organization or
/// a household (otherwise a single person).
#[derive(Debug, Clone, Copy, PartialEq)]
struct DrawProbabilities {
    organization: f64,
    household: f64,
}

impl DrawProbabilities {
    fn new(config: &GeneratorConfig) -> Self {
        // Among person draws, a share `h` are households of `MEAN_HOUSEHOLD_SIZE`
        // persons: h * size / (h * size + 1 - h) = household_share.
        let share = config.household_share;
        let household_among_persons = if share >= 1.0 {
            1.0
        } else {
            share / (MEAN_HOUSEHOLD_SIZE - (MEAN_HOUSEHOLD_SIZE - 1.0) * share)
        };
        let persons_per_draw = 1.0 + household_among_persons * (MEAN_HOUSEHOLD_SIZE - 1.0);
        // Organizations are one entity per draw: o / (o + (1 - o) * persons_per_draw)
        // = organization_share.
        let share = config.organization_share;
        let organization = share * persons_per_draw / (1.0 - share + share * persons_per_draw);
        Self {
            organization,
            household: (1.0 - organization) * household_among_persons,
        }
    }
}

#[cfg(test)]
mod tests;
