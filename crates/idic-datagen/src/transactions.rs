//! Synthetic order-system transactions drawn from the BG/NBD and Gamma-Gamma
//! processes with known parameters, for differentiation's tests and benchmarks.
//!
//! Each customer first buys on a day of the cohort window, then buys again after
//! exponential gaps (rate λ ~ Gamma(r, α) per week) and drops out after any purchase
//! with probability p ~ Beta(a, b); each purchase spends z ~ Gamma(p_s, ν), ν ~
//! Gamma(q, γ). Customers favour the categories of one of a few needs archetypes.
//! Same configuration and seed give the same transactions.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generating parameters.
#[derive(Debug, Clone)]
pub struct TransactionConfig {
    pub customers: usize,
    pub seed: u64,
    /// Start of the cohort window, microseconds since the epoch.
    pub start_micros: i64,
    /// First purchases fall in this many days from the start.
    pub cohort_days: i64,
    /// No purchase after this many days from the start.
    pub horizon_days: i64,
    /// BG/NBD (r, α, a, b), time unit weeks.
    pub bg_nbd: (f64, f64, f64, f64),
    /// Gamma-Gamma (p, q, γ), money in major units.
    pub gamma_gamma: (f64, f64, f64),
    pub currency: String,
    /// Prefix of the loyalty numbers used as customer references.
    pub reference_prefix: String,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            customers: 1000,
            seed: 7,
            // 2025-01-01T00:00:00Z
            start_micros: 1_735_689_600_000_000,
            cohort_days: 84,
            horizon_days: 364,
            // The CDNOW estimates (Fader, Hardie & Lee 2005; Fader & Hardie 2013).
            bg_nbd: (0.243, 4.414, 0.793, 2.426),
            gamma_gamma: (6.25, 3.74, 15.44),
            currency: "EUR".to_owned(),
            reference_prefix: "L".to_owned(),
        }
    }
}

/// One generated purchase.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedTransaction {
    /// `loyalty:<prefix><n>`, the reference the order system would send.
    pub customer_ref: String,
    /// The customer's index, for checking results against the truth.
    pub customer_index: usize,
    pub order_id: String,
    pub occurred_at_micros: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub category: String,
    pub product: String,
}

/// Needs archetypes: the categories a customer of each type mostly buys.
const ARCHETYPES: &[&[&str]] = &[
    &["books", "music"],
    &["electronics", "games"],
    &["garden", "tools"],
    &["fashion", "beauty"],
];

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Generates the purchases of `config.customers` customers, by customer then time.
pub fn generate_transactions(config: &TransactionConfig) -> Vec<GeneratedTransaction> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (r, alpha, a, b) = config.bg_nbd;
    let (p_spend, q, gamma) = config.gamma_gamma;
    let mut transactions = Vec::new();
    for customer in 0..config.customers {
        let rate_per_day = sample_gamma(&mut rng, r, 1.0 / alpha) / 7.0;
        let dropout = sample_beta(&mut rng, a, b);
        let spend_scale = sample_gamma(&mut rng, q, 1.0 / gamma);
        let archetype = ARCHETYPES[customer % ARCHETYPES.len()];
        let mut day = rng.random_range(0..config.cohort_days.max(1)) as f64;
        let mut purchase = 0;
        loop {
            let whole_day = day.floor() as i64;
            let amount = sample_gamma(&mut rng, p_spend, 1.0 / spend_scale);
            // Mostly the archetype's categories, sometimes anything.
            let category = if rng.random_bool(0.85) {
                archetype[rng.random_range(0..archetype.len())]
            } else {
                let other = ARCHETYPES[rng.random_range(0..ARCHETYPES.len())];
                other[rng.random_range(0..other.len())]
            };
            transactions.push(GeneratedTransaction {
                customer_ref: format!("loyalty:{}{customer}", config.reference_prefix),
                customer_index: customer,
                order_id: format!("O{}-{customer}-{purchase}", config.seed),
                occurred_at_micros: config.start_micros
                    + whole_day * MICROS_PER_DAY
                    + rng.random_range(0..MICROS_PER_DAY),
                amount_minor: ((amount * 100.0).round() as i64).max(1),
                currency: config.currency.clone(),
                category: category.to_owned(),
                product: format!("{category}-{}", rng.random_range(0..50)),
            });
            purchase += 1;
            if rng.random_bool(dropout.clamp(0.0, 1.0)) || rate_per_day <= 0.0 {
                break;
            }
            let gap = -rng.random::<f64>().max(f64::MIN_POSITIVE).ln() / rate_per_day;
            day += gap.max(1.0);
            if day >= config.horizon_days as f64 {
                break;
            }
        }
    }
    transactions
}

/// The CSV `idic import transactions` reads.
pub fn transactions_csv(transactions: &[GeneratedTransaction]) -> String {
    let mut out =
        String::from("customer_ref,order_id,occurred_at,amount,currency,margin,category,product\n");
    for transaction in transactions {
        let seconds = transaction.occurred_at_micros.div_euclid(1_000_000);
        out.push_str(&format!(
            "{},{},{},{},{},,{},{}\n",
            transaction.customer_ref,
            transaction.order_id,
            rfc3339(seconds),
            idic_runtime::money::decimal(transaction.amount_minor, &transaction.currency),
            transaction.currency,
            transaction.category,
            transaction.product
        ));
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds (H. Hinnant's civil-from-days).
pub fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Gamma(shape, scale) by Marsaglia & Tsang (shape < 1 boosted by U^(1/shape)).
fn sample_gamma(rng: &mut ChaCha8Rng, shape: f64, scale: f64) -> f64 {
    if shape < 1.0 {
        let boost = rng.random::<f64>().max(f64::MIN_POSITIVE).powf(1.0 / shape);
        return sample_gamma(rng, shape + 1.0, scale) * boost;
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = sample_normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.random::<f64>();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v * scale;
        }
    }
}

fn sample_beta(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    let x = sample_gamma(rng, a, 1.0);
    let y = sample_gamma(rng, b, 1.0);
    x / (x + y)
}

/// A standard normal by Box-Muller.
fn sample_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sorted_by_customer() {
        let config = TransactionConfig {
            customers: 50,
            ..TransactionConfig::default()
        };
        let first = generate_transactions(&config);
        assert_eq!(first, generate_transactions(&config));
        assert!(
            first
                .windows(2)
                .all(|w| w[0].customer_index <= w[1].customer_index)
        );
        assert!(first.len() >= 50);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
        assert!(transactions_csv(&first[..1]).starts_with("customer_ref,order_id,occurred_at"));
    }
}
