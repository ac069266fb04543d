//! The base's value skew as a domain value: what GetValueSkew answers and what a refit
//! stores (as JSON) for GetStrategy and for rescoring between refits.

use idic_value::skew::{self, Tier};
use serde::{Deserialize, Serialize};

/// Points of the Lorenz curve after the origin.
const LORENZ_POINTS: usize = 20;

/// The skew figures of the base at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkewSnapshot {
    pub computed_at_micros: i64,
    /// What the values are: "predicted_clv" after a refit, "historical_revenue" before.
    pub value_measure: String,
    pub customers: u64,
    pub zero_value_customers: u64,
    #[serde(with = "exact_f64")]
    pub gini: f64,
    pub lorenz: Vec<LorenzPoint>,
    pub top_shares: Vec<TopShare>,
    /// One per tier, A first.
    pub tiers: Vec<TierSummary>,
}

/// One point of the Lorenz curve, customers ascending by value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LorenzPoint {
    #[serde(with = "exact_f64")]
    pub customer_share: f64,
    #[serde(with = "exact_f64")]
    pub value_share: f64,
}

/// The share of value the top `top_percent` of customers bring.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TopShare {
    #[serde(with = "exact_f64")]
    pub top_percent: f64,
    #[serde(with = "exact_f64")]
    pub value_share: f64,
}

/// A tier's size, lowest value (0 when empty) and share of the base's value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierSummary {
    #[serde(with = "tier_letter")]
    pub tier: Tier,
    pub customers: u64,
    #[serde(with = "exact_f64")]
    pub threshold: f64,
    #[serde(with = "exact_f64")]
    pub value_share: f64,
}

impl SkewSnapshot {
    /// The skew of `values`, customer by customer, each in the tier `tiers_of` gives it.
    pub fn of_values(
        values: &[f64],
        tiers_of: &[Tier],
        computed_at_micros: i64,
        measure: &str,
    ) -> SkewSnapshot {
        let figures = skew::skew(values, LORENZ_POINTS);
        let tiers = Tier::ALL
            .into_iter()
            .map(|tier| tier_summary(tier, values, tiers_of, figures.total))
            .collect();
        SkewSnapshot {
            computed_at_micros,
            value_measure: measure.to_owned(),
            customers: figures.customers as u64,
            zero_value_customers: figures.zero_value_customers as u64,
            gini: figures.gini,
            lorenz: figures
                .lorenz
                .iter()
                .map(|&(customer_share, value_share)| LorenzPoint {
                    customer_share,
                    value_share,
                })
                .collect(),
            top_shares: figures
                .top_shares
                .iter()
                .map(|&(top_percent, value_share)| TopShare {
                    top_percent,
                    value_share,
                })
                .collect(),
            tiers,
        }
    }

    /// The share of value of the top 20% of customers (0 when not computed).
    pub fn top_20_share(&self) -> f64 {
        self.top_shares
            .iter()
            .find(|share| (share.top_percent - 20.0).abs() < 1e-9)
            .map_or(0.0, |share| share.value_share)
    }
}

fn tier_summary(tier: Tier, values: &[f64], tiers_of: &[Tier], total: f64) -> TierSummary {
    // Values counted as the skew counts them: negative and non-finite ones as zero.
    let members: Vec<f64> = values
        .iter()
        .zip(tiers_of)
        .filter(|(_, of)| **of == tier)
        .map(|(value, _)| {
            if value.is_finite() {
                value.max(0.0)
            } else {
                0.0
            }
        })
        .collect();
    let sum: f64 = members.iter().sum();
    TierSummary {
        tier,
        customers: members.len() as u64,
        threshold: if members.is_empty() {
            0.0
        } else {
            members.iter().copied().fold(f64::INFINITY, f64::min)
        },
        value_share: if total > 0.0 { sum / total } else { 0.0 },
    }
}

/// A tier as its letter ("A" .. "D").
mod tier_letter {
    use idic_value::skew::Tier;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tier: &Tier, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(tier.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tier, D::Error> {
        let letter = String::deserialize(deserializer)?;
        Tier::parse(&letter)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown tier '{letter}'")))
    }
}

/// An `f64` as its shortest exact text ("0.1", "NaN"): serde_json parses numbers
/// within an ulp only (its `float_roundtrip` is off), and a tier threshold read back
/// must be the one written, bit for bit.
mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("'{text}' is not a number")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_summarize_their_members() {
        let values = [100.0, 50.0, 10.0, 0.0, -5.0];
        let tiers = [Tier::A, Tier::B, Tier::B, Tier::D, Tier::D];
        let snapshot = SkewSnapshot::of_values(&values, &tiers, 7, "predicted_clv");
        assert_eq!(snapshot.customers, 5);
        assert_eq!(snapshot.tiers.len(), 4);
        let b = snapshot.tiers[1];
        assert_eq!((b.tier, b.customers, b.threshold), (Tier::B, 2, 10.0));
        assert!((b.value_share - 60.0 / 160.0).abs() < 1e-12);
        // An empty tier has threshold 0, not infinity.
        assert_eq!(snapshot.tiers[2].customers, 0);
        assert_eq!(snapshot.tiers[2].threshold, 0.0);
        // Negative value counts as zero.
        assert_eq!(snapshot.tiers[3].threshold, 0.0);
    }

    #[test]
    fn json_keeps_every_float_bit_for_bit() {
        let values: Vec<f64> = (1..=37).map(|i| f64::from(i).powf(1.7) / 3.0).collect();
        let tiers: Vec<Tier> = (0..37).map(|i| Tier::ALL[i % 4]).collect();
        let snapshot = SkewSnapshot::of_values(&values, &tiers, 1_700_000_000_000_001, "x");
        let text = serde_json::to_string(&snapshot).unwrap();
        let back: SkewSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, snapshot);
        let bits = |s: &SkewSnapshot| -> Vec<u64> {
            s.tiers.iter().map(|t| t.threshold.to_bits()).collect()
        };
        assert_eq!(bits(&back), bits(&snapshot));
    }
}
