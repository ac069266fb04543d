//! Jackson's customer types (B. B. Jackson 1985, "Winning and Keeping Industrial
//! Customers"): lost-for-good (committed to one supplier, switching is costly and
//! a lost customer is gone), always-a-share (buys from several suppliers, easily
//! shifts its share), and intermediate.
//!
//! The rule, from the commitment horizon and the purchase pattern:
//! 1. a running commitment (contract or subscription) of 12 months or more, or a
//!    stated high switching cost: lost-for-good;
//! 2. a shorter running commitment, or a regular repeat pattern (at least 3 purchase
//!    days and a coefficient of variation of the gaps between them below 0.5,
//!    i.e. habitual replenishment from this supplier): intermediate;
//! 3. otherwise (no commitment, irregular or occasional buying): always-a-share.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerType {
    LostForGood,
    AlwaysAShare,
    Intermediate,
}

/// What the rule looks at.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Commitment {
    /// The longest commitment still running, in months (0 for none).
    pub running_commitment_months: u32,
    /// The customer stated a high switching cost (preference `switching_cost=high`).
    pub high_switching_cost: bool,
    /// Distinct purchase days, ascending (days since any origin).
    pub purchase_days: Vec<i64>,
}

/// The type and a one-sentence explanation with the customer's figures.
pub fn classify(commitment: &Commitment) -> (CustomerType, String) {
    let months = commitment.running_commitment_months;
    if months >= 12 {
        return (
            CustomerType::LostForGood,
            format!(
                "a running commitment of {months} months (12 or more) makes switching costly: lost-for-good"
            ),
        );
    }
    if commitment.high_switching_cost {
        return (
            CustomerType::LostForGood,
            "the customer stated a high switching cost: lost-for-good".to_owned(),
        );
    }
    if months > 0 {
        return (
            CustomerType::Intermediate,
            format!("a running commitment of {months} months (under 12): intermediate"),
        );
    }
    let days = &commitment.purchase_days;
    if let Some(variation) = gap_variation(days) {
        if days.len() >= 3 && variation < 0.5 {
            return (
                CustomerType::Intermediate,
                format!(
                    "no commitment, but {} purchases at regular intervals (gap variation {variation:.2} < 0.50): intermediate",
                    days.len()
                ),
            );
        }
        return (
            CustomerType::AlwaysAShare,
            format!(
                "no commitment and {} purchases at irregular intervals (gap variation {variation:.2} >= 0.50): always-a-share",
                days.len()
            ),
        );
    }
    (
        CustomerType::AlwaysAShare,
        format!(
            "no commitment and {} purchase day(s), too few to show a regular pattern: always-a-share",
            days.len()
        ),
    )
}

/// Coefficient of variation of the gaps between purchase days; None with < 2 gaps.
fn gap_variation(days: &[i64]) -> Option<f64> {
    if days.len() < 3 {
        return None;
    }
    let gaps: Vec<f64> = days
        .windows(2)
        .map(|pair| (pair[1] - pair[0]) as f64)
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    if mean <= 0.0 {
        return None;
    }
    let variance = gaps.iter().map(|gap| (gap - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    Some(variance.sqrt() / mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_in_order() {
        let contract = Commitment {
            running_commitment_months: 24,
            ..Commitment::default()
        };
        assert_eq!(classify(&contract).0, CustomerType::LostForGood);
        let short = Commitment {
            running_commitment_months: 3,
            ..Commitment::default()
        };
        assert_eq!(classify(&short).0, CustomerType::Intermediate);
        let regular = Commitment {
            purchase_days: vec![0, 30, 61, 90, 121],
            ..Commitment::default()
        };
        let (kind, why) = classify(&regular);
        assert_eq!(kind, CustomerType::Intermediate);
        assert!(why.contains("5 purchases"));
        let irregular = Commitment {
            purchase_days: vec![0, 2, 90, 95, 300],
            ..Commitment::default()
        };
        assert_eq!(classify(&irregular).0, CustomerType::AlwaysAShare);
        assert_eq!(
            classify(&Commitment::default()).0,
            CustomerType::AlwaysAShare
        );
    }
}
