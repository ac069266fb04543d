//! The learning bench: simulated customers whose true acceptance of each component
//! depends on their needs segment (hidden from the policy) and, for some, on a personal
//! favourite. The same customer sequence is offered by three policies: the learning
//! policy (this crate's [`compose`](crate::policy::compose) with history and the
//! bandit), the static rules (one authored default per slot, the best on average over
//! all segments), and an oracle that knows every true acceptance probability.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::bandit::{Bandit, BanditConfig};
use crate::catalog::{Catalog, Component, Money};
use crate::policy::{Inputs, compose};
use crate::profile::{Outcome, Profile, SlotHistory};
use crate::rules::{Condition, Effect, Rule, RuleSet};
use crate::slot::Slot;

#[derive(Debug, Clone, Copy)]
pub struct SimulationConfig {
    pub seed: u64,
    pub segments: usize,
    pub components_per_slot: usize,
    pub customers: usize,
    pub offers: usize,
    /// Offers per reported window.
    pub window: usize,
    /// Share of (customer, slot) pairs with a personal favourite.
    pub personal_share: f64,
    /// Chance that a customer who rejects a slot says what they want instead.
    pub change_share: f64,
    pub bandit: BanditConfig,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            seed: 42,
            segments: 6,
            components_per_slot: 4,
            customers: 2000,
            offers: 20_000,
            window: 1000,
            personal_share: 0.1,
            change_share: 0.3,
            bandit: BanditConfig::default(),
        }
    }
}

/// Acceptance (accepted slots / offered slots) of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Offers made by the end of the window.
    pub offers: usize,
    pub learner: f64,
    pub static_rules: f64,
    pub oracle: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub windows: Vec<Window>,
}

impl Report {
    /// The last window's learner acceptance as a share of the oracle's.
    pub fn final_ratio_to_oracle(&self) -> f64 {
        self.windows
            .last()
            .map_or(0.0, |window| window.learner / window.oracle)
    }

    /// The first window at which the learner reached `share` of the oracle.
    pub fn offers_to_reach(&self, share: f64) -> Option<usize> {
        self.windows
            .iter()
            .find(|window| window.learner >= share * window.oracle)
            .map(|window| window.offers)
    }
}

struct World {
    catalog: Catalog,
    /// truth[segment][slot index][component index]
    truth: Vec<Vec<Vec<f64>>>,
    customers: Vec<SimCustomer>,
    static_rules: RuleSet,
}

struct SimCustomer {
    segment: usize,
    /// Per slot index, a personal favourite component index.
    favourites: HashMap<usize, usize>,
}

fn component_id(slot: Slot, index: usize) -> String {
    format!("{}.option-{index}", slot.label().replace(' ', "-"))
}

impl World {
    fn generate(config: &SimulationConfig, rng: &mut StdRng) -> World {
        let mut components = Vec::new();
        for slot in Slot::ALL {
            for index in 0..config.components_per_slot {
                components.push(Component {
                    id: component_id(slot, index),
                    slot: Some(slot),
                    name: component_id(slot, index),
                    cost: Money {
                        currency: "EUR".into(),
                        minor: 100 + index as i64,
                    },
                    available: true,
                    ..Component::default()
                });
            }
        }
        let catalog = Catalog::validate(&[], &components).unwrap_or_default();
        let truth: Vec<Vec<Vec<f64>>> = (0..config.segments)
            .map(|_| {
                Slot::ALL
                    .iter()
                    .map(|_| {
                        let best = rng.random_range(0..config.components_per_slot);
                        (0..config.components_per_slot)
                            .map(|index| {
                                if index == best {
                                    rng.random_range(0.6..0.9)
                                } else {
                                    rng.random_range(0.05..0.55)
                                }
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let customers = (0..config.customers)
            .map(|_| SimCustomer {
                segment: rng.random_range(0..config.segments),
                favourites: (0..Slot::ALL.len())
                    .filter_map(|slot| {
                        let has = rng.random::<f64>() < config.personal_share;
                        let favourite = rng.random_range(0..config.components_per_slot);
                        has.then_some((slot, favourite))
                    })
                    .collect(),
            })
            .collect();
        // The static rules: per slot, the component best on average over segments.
        let rules = Slot::ALL
            .iter()
            .enumerate()
            .map(|(slot_index, slot)| {
                let average = |component: usize| {
                    truth
                        .iter()
                        .map(|segment| segment[slot_index][component])
                        .sum::<f64>()
                };
                let best = (0..config.components_per_slot)
                    .max_by(|a, b| average(*a).total_cmp(&average(*b)))
                    .unwrap_or(0);
                Rule {
                    id: format!("default-{slot_index}"),
                    effect: Some(Effect::Default),
                    component_id: component_id(*slot, best),
                    condition: Condition::default(),
                    priority: 0,
                    explanation: "best on average".into(),
                }
            })
            .collect();
        World {
            catalog,
            truth,
            customers,
            static_rules: RuleSet { version: 1, rules },
        }
    }

    fn acceptance(&self, customer: &SimCustomer, slot_index: usize, component: usize) -> f64 {
        if customer.favourites.get(&slot_index) == Some(&component) {
            0.95
        } else {
            self.truth[customer.segment][slot_index][component]
        }
    }

    fn best_for(&self, customer: &SimCustomer, slot_index: usize) -> usize {
        (0..self.truth[0][0].len())
            .max_by(|a, b| {
                self.acceptance(customer, slot_index, *a)
                    .total_cmp(&self.acceptance(customer, slot_index, *b))
            })
            .unwrap_or(0)
    }
}

fn component_index(id: &str) -> usize {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Runs the three policies over the same customer sequence.
pub fn run(config: &SimulationConfig) -> Report {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let world = World::generate(config, &mut rng);
    let mut bandit = Bandit::new(config.bandit);
    let mut histories: HashMap<usize, HashMap<Slot, SlotHistory>> = HashMap::new();
    let mut policy_rng = StdRng::seed_from_u64(config.seed ^ 0x5eed);
    let mut outcome_rng = StdRng::seed_from_u64(config.seed ^ 0x0b5e);
    let mut windows = Vec::new();
    let mut counts = [0usize; 3];
    let slots_per_offer = Slot::ALL.len();
    for offer in 0..config.offers {
        let customer_index = rng.random_range(0..world.customers.len());
        let customer = &world.customers[customer_index];
        let segment_id = format!("segment-{}", customer.segment);

        // Learning policy.
        let profile = Profile {
            segment_id: Some(segment_id.clone()),
            consents: Some(Vec::new()),
            history: histories.get(&customer_index).cloned().unwrap_or_default(),
            ..Profile::default()
        };
        let composition = compose(
            &Inputs {
                catalog: &world.catalog,
                rules: &world.static_rules,
                bandit: &bandit,
                profile: &profile,
            },
            &mut policy_rng,
        );
        for choice in &composition.choices {
            let slot_index = choice.slot as usize - 1;
            let offered = component_index(&choice.component_id);
            let outcome =
                if outcome_rng.random::<f64>() < world.acceptance(customer, slot_index, offered) {
                    counts[0] += 1;
                    Outcome::Accepted
                } else if outcome_rng.random::<f64>() < config.change_share {
                    let wanted = world.best_for(customer, slot_index);
                    if wanted == offered {
                        Outcome::Rejected
                    } else {
                        Outcome::Changed(component_id(choice.slot, wanted))
                    }
                } else {
                    Outcome::Rejected
                };
            bandit.learn(&segment_id, choice.slot, &choice.component_id, &outcome);
            histories
                .entry(customer_index)
                .or_default()
                .entry(choice.slot)
                .or_default()
                .apply(
                    &choice.component_id,
                    &outcome,
                    &format!("sim-{offer}"),
                    offer as i64,
                );
        }

        // Static rules and oracle.
        for (slot_index, rule) in world.static_rules.rules.iter().enumerate() {
            let static_choice = component_index(&rule.component_id);
            if outcome_rng.random::<f64>() < world.acceptance(customer, slot_index, static_choice) {
                counts[1] += 1;
            }
            let oracle_choice = world.best_for(customer, slot_index);
            if outcome_rng.random::<f64>() < world.acceptance(customer, slot_index, oracle_choice) {
                counts[2] += 1;
            }
        }

        if (offer + 1) % config.window == 0 {
            let offered = (config.window * slots_per_offer) as f64;
            windows.push(Window {
                offers: offer + 1,
                learner: counts[0] as f64 / offered,
                static_rules: counts[1] as f64 / offered,
                oracle: counts[2] as f64 / offered,
            });
            counts = [0; 3];
        }
    }
    Report { windows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learner_approaches_the_oracle_and_beats_static_rules() {
        let report = run(&SimulationConfig::default());
        let last = report.windows.last().unwrap();
        assert!(last.learner > last.static_rules, "{last:?}");
        let reached = report.offers_to_reach(0.9);
        assert!(
            reached.is_some_and(|offers| offers <= 20_000),
            "{:?}",
            report.windows
        );
    }
}
