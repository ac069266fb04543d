//! What a generated population does: its purchases and its contacts, keyed by an
//! identifier that the population's own records carry, so that importing the records,
//! then the transactions and interactions, attaches every row to the right customer.
//!
//! Purchases come from [`crate::transactions`] (BG/NBD and Gamma-Gamma with known
//! parameters: a few customers bring most of the value). Contacts follow a channel mix
//! with per-channel costs; some are complaints, which open threads left open.
//! Same records, configuration and seed give the same rows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::generator::GeneratedRecord;
use crate::transactions::{
    GeneratedTransaction, TransactionConfig, generate_transactions, rfc3339,
};

/// One real customer (an entity of the truth) and the reference its rows use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerReference {
    pub entity_id: u64,
    /// `loyalty:NUMBER` or `email:ADDRESS`, found in the entity's records and in no
    /// other entity's.
    pub reference: String,
    /// The source systems the entity's records came from.
    pub systems: Vec<String>,
}

/// A reference for every entity that has an identifier only one of its records
/// carries: a loyalty number first, then an e-mail address. Such an identifier names
/// one customer even where identity left the entity's records in several customers;
/// phone numbers are not used (households share them). Entities without one are left
/// out, so that no row is ambiguous. Ordered by entity id.
pub fn customer_references(records: &[GeneratedRecord]) -> Vec<CustomerReference> {
    // How many records carry each identifier: one that a single record carries
    // names one customer however identity clustered the entity's records.
    let mut carriers: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_entity: BTreeMap<u64, Vec<&GeneratedRecord>> = BTreeMap::new();
    for record in records {
        by_entity.entry(record.entity_id).or_default().push(record);
        for candidate in candidates(record) {
            *carriers.entry(normalized(&candidate)).or_default() += 1;
        }
    }
    by_entity
        .into_iter()
        .filter_map(|(entity_id, members)| {
            let reference = members
                .iter()
                .flat_map(|record| candidates(record))
                .find(|candidate| carriers.get(&normalized(candidate)) == Some(&1))?;
            let systems: BTreeSet<String> = members
                .iter()
                .map(|record| record.source_system.clone())
                .collect();
            Some(CustomerReference {
                entity_id,
                reference,
                systems: systems.into_iter().collect(),
            })
        })
        .collect()
}

/// An identifier as identity compares it, roughly: lower case, no `+tag`, no dots in
/// the local part of an e-mail address. Coarser than identity's, which can only make
/// fewer identifiers count as carried by one record.
fn normalized(reference: &str) -> String {
    let lower = reference.to_lowercase();
    match lower.split_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local).replace('.', "");
            format!("{local}@{domain}")
        }
        None => lower,
    }
}

/// A record's identifiers as customer references, most specific first.
fn candidates(record: &GeneratedRecord) -> Vec<String> {
    let mut found = Vec::new();
    if !record.loyalty_id.is_empty() {
        found.push(format!("loyalty:{}", record.loyalty_id));
    }
    if !record.email.is_empty() {
        found.push(format!("email:{}", record.email));
    }
    found
}

/// The activity's time and randomness.
#[derive(Debug, Clone)]
pub struct ActivityConfig {
    pub seed: u64,
    /// First day of the period, microseconds since the epoch.
    pub start_micros: i64,
    /// Length of the period in days; nothing happens after it.
    pub days: i64,
    pub currency: String,
}

/// Purchases over the period, one customer per reference.
pub fn transactions(
    references: &[CustomerReference],
    config: &ActivityConfig,
) -> Vec<GeneratedTransaction> {
    let transaction_config = TransactionConfig {
        customers: references.len(),
        seed: config.seed,
        start_micros: config.start_micros,
        // Customers arrive over the first quarter of the period.
        cohort_days: (config.days / 4).max(1),
        horizon_days: config.days,
        currency: config.currency.clone(),
        ..TransactionConfig::default()
    };
    let mut generated = generate_transactions(&transaction_config);
    for transaction in &mut generated {
        transaction.customer_ref = references[transaction.customer_index].reference.clone();
    }
    generated
}

/// One generated contact, as `idic import interactions` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedInteraction {
    pub customer_ref: String,
    pub customer_index: usize,
    /// Idempotency key.
    pub key: String,
    pub occurred_at_micros: i64,
    pub channel: &'static str,
    pub kind: &'static str,
    pub direction: &'static str,
    pub topic: &'static str,
    pub summary: &'static str,
    pub sentiment: &'static str,
    pub cost_minor: i64,
    pub currency: String,
    pub automated: bool,
    /// `KEY=VALUE`, or empty.
    pub need: &'static str,
}

/// A channel, its weight in the mix, its cost per contact (minor units), whether a
/// person handles it, and the contact types it carries.
struct ChannelProfile {
    channel: &'static str,
    weight: u32,
    cost_minor: i64,
    automated: bool,
    kinds: &'static [(&'static str, u32)],
}

const CHANNELS: &[ChannelProfile] = &[
    ChannelProfile {
        channel: "web",
        weight: 40,
        cost_minor: 5,
        automated: true,
        kinds: &[("web-visit", 85), ("chat", 15)],
    },
    ChannelProfile {
        channel: "email",
        weight: 20,
        cost_minor: 40,
        automated: false,
        kinds: &[("email", 80), ("inquiry", 12), ("complaint", 8)],
    },
    ChannelProfile {
        channel: "call-center",
        weight: 15,
        cost_minor: 650,
        automated: false,
        kinds: &[("call", 60), ("inquiry", 25), ("complaint", 15)],
    },
    ChannelProfile {
        channel: "store",
        weight: 15,
        cost_minor: 300,
        automated: false,
        kinds: &[("store-visit", 90), ("complaint", 10)],
    },
    ChannelProfile {
        channel: "mobile-app",
        weight: 10,
        cost_minor: 5,
        automated: true,
        kinds: &[("web-visit", 100)],
    },
];

/// Topics with a summary, and the need a customer sometimes expresses with them.
const TOPICS: &[(&str, &str, &str)] = &[
    ("order status", "asked where the order is", ""),
    ("delivery", "asked for evening delivery", "delivery=evening"),
    (
        "packaging",
        "asked for less plastic in the parcel",
        "packaging=less_plastic",
    ),
    ("invoice", "asked for an e-invoice", "invoice=electronic"),
    ("returns", "asked how to return an item", ""),
    ("product advice", "compared two products", ""),
    ("gift", "asked for gift wrapping", "packaging=gift"),
];

const COMPLAINTS: &[(&str, &str)] = &[
    ("late delivery", "parcel arrived a week late"),
    ("damaged item", "item arrived broken"),
    ("wrong invoice", "billed twice for one order"),
];

fn weighted<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut point = rng.random_range(0..total.max(1));
    for item in items {
        let item_weight = weight(item);
        if point < item_weight {
            return item;
        }
        point -= item_weight;
    }
    &items[items.len() - 1]
}

/// Contacts over the period: each customer contacts the company a few times (some
/// never, a few often), through the channel mix; complaints open threads.
pub fn interactions(
    references: &[CustomerReference],
    config: &ActivityConfig,
) -> Vec<GeneratedInteraction> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x1d1c_0017);
    let micros_per_day = 86_400_000_000_i64;
    let mut generated = Vec::new();
    for (customer_index, reference) in references.iter().enumerate() {
        // Geometric: most customers are in touch once or twice, some many times.
        let mut contacts = 0;
        while contacts < 12 && rng.random_bool(0.6) {
            contacts += 1;
        }
        for contact in 0..contacts {
            let profile = weighted(&mut rng, CHANNELS, |profile| profile.weight);
            let &(kind, _) = weighted(&mut rng, profile.kinds, |(_, weight)| *weight);
            let (topic, summary, need) = if kind == "complaint" {
                let &(topic, summary) = &COMPLAINTS[rng.random_range(0..COMPLAINTS.len())];
                (topic, summary, "")
            } else {
                let &(topic, summary, need) = &TOPICS[rng.random_range(0..TOPICS.len())];
                // A need is expressed only some of the times its topic comes up.
                (topic, summary, if rng.random_bool(0.5) { need } else { "" })
            };
            let day = rng.random_range(0..config.days.max(1));
            generated.push(GeneratedInteraction {
                customer_ref: reference.reference.clone(),
                customer_index,
                key: format!("I{}-{customer_index}-{contact}", config.seed),
                occurred_at_micros: config.start_micros
                    + day * micros_per_day
                    + rng.random_range(0..micros_per_day),
                channel: profile.channel,
                kind,
                direction: "inbound",
                topic,
                summary,
                sentiment: if kind == "complaint" {
                    "negative"
                } else if rng.random_bool(0.7) {
                    "neutral"
                } else {
                    "positive"
                },
                cost_minor: profile.cost_minor,
                currency: config.currency.clone(),
                automated: profile.automated,
                need,
            });
        }
    }
    generated
}

/// The columns of [`interactions_csv`], as `idic import interactions` reads them.
pub const INTERACTION_COLUMNS: &str = "customer_ref,key,occurred_at,channel,type,direction,topic,summary,sentiment,cost,currency,automated,needs";

/// The CSV `idic import interactions` reads.
pub fn interactions_csv(interactions: &[GeneratedInteraction]) -> String {
    let mut out = String::from(INTERACTION_COLUMNS);
    out.push('\n');
    for interaction in interactions {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_cell(&interaction.customer_ref),
            interaction.key,
            rfc3339(interaction.occurred_at_micros.div_euclid(1_000_000)),
            interaction.channel,
            interaction.kind,
            interaction.direction,
            interaction.topic,
            interaction.summary,
            interaction.sentiment,
            idic_runtime::money::decimal(interaction.cost_minor, &interaction.currency),
            interaction.currency,
            interaction.automated,
            interaction.need
        );
    }
    out
}

/// A cell quoted when it holds a comma or a quote (an e-mail address may).
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{GeneratorConfig, generate_with_summary};

    fn population() -> Vec<GeneratedRecord> {
        generate_with_summary(&GeneratorConfig::new(600, 3)).records
    }

    fn config() -> ActivityConfig {
        ActivityConfig {
            seed: 5,
            start_micros: 1_735_689_600_000_000,
            days: 365,
            currency: "EUR".into(),
        }
    }

    #[test]
    fn every_reference_is_carried_by_one_record_only() {
        let records = population();
        let references = customer_references(&records);
        assert!(references.len() > 120, "{}", references.len());
        for reference in &references {
            let carriers: Vec<&GeneratedRecord> = records
                .iter()
                .filter(|record| {
                    candidates(record)
                        .iter()
                        .any(|candidate| normalized(candidate) == normalized(&reference.reference))
                })
                .collect();
            assert_eq!(carriers.len(), 1, "{reference:?}");
            assert_eq!(carriers[0].entity_id, reference.entity_id);
        }
        assert_eq!(normalized("email:A.B+x@Gmail.com"), "email:ab@gmail.com");
    }

    #[test]
    fn activity_is_deterministic_keyed_and_has_open_complaints() {
        let references = customer_references(&population());
        let bought = transactions(&references, &config());
        assert_eq!(bought, transactions(&references, &config()));
        assert!(
            bought
                .iter()
                .all(|t| t.customer_ref == references[t.customer_index].reference)
        );
        let contacts = interactions(&references, &config());
        assert_eq!(contacts, interactions(&references, &config()));
        assert!(contacts.iter().any(|contact| contact.kind == "complaint"));
        let keys: BTreeSet<&str> = contacts.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys.len(), contacts.len(), "idempotency keys are unique");
        let csv = interactions_csv(&contacts);
        assert!(csv.starts_with(INTERACTION_COLUMNS));
        assert_eq!(csv.lines().count(), contacts.len() + 1);
    }
}
