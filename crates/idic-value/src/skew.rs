//! How unequal value is across the base: Lorenz curve, Gini coefficient, top shares
//! and value tiers by share of cumulative value.
//!
//! Zero-value treatment: values at or below zero (customers who returned everything,
//! or whom the model expects nothing from) count as customers with value 0. They stay
//! in the customer counts and the Lorenz curve (which makes the base look more
//! skewed, as it is) and always fall in the last tier.

/// Tier cut-offs as cumulative shares of value, customers ranked from the most
/// valuable down: tier A brings the first `a` of value, B up to `b`, C up to `c`,
/// D the rest. Defaults 0.50 / 0.80 / 0.95.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierCutoffs {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl Default for TierCutoffs {
    fn default() -> Self {
        TierCutoffs {
            a: 0.50,
            b: 0.80,
            c: 0.95,
        }
    }
}

impl TierCutoffs {
    /// Valid when 0 < a < b < c <= 1.
    pub fn is_valid(&self) -> bool {
        0.0 < self.a && self.a < self.b && self.b < self.c && self.c <= 1.0
    }
}

/// Tiers, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    A,
    B,
    C,
    D,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::A, Tier::B, Tier::C, Tier::D];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::A => "A",
            Tier::B => "B",
            Tier::C => "C",
            Tier::D => "D",
        }
    }

    pub fn parse(text: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|tier| tier.as_str() == text)
    }
}

/// The skew figures of a base.
#[derive(Debug, Clone, PartialEq)]
pub struct Skew {
    pub customers: usize,
    pub zero_value_customers: usize,
    pub total: f64,
    pub gini: f64,
    /// (customer share, value share), from (0, 0) to (1, 1), customers ascending.
    pub lorenz: Vec<(f64, f64)>,
    /// (top percent, value share) for 1, 2, 5 and 20 percent.
    pub top_shares: Vec<(f64, f64)>,
}

/// Per-customer placement: rank percentile (share of customers with lower value, in
/// percent) and tier, in the order of the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub rank_percentile: f64,
    pub tier: Tier,
}

fn clamp(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        0.0
    }
}

/// Skew of `values` with `lorenz_points` evenly spaced points (plus the origin).
pub fn skew(values: &[f64], lorenz_points: usize) -> Skew {
    let mut sorted: Vec<f64> = values.iter().map(|&value| clamp(value)).collect();
    sorted.sort_by(f64::total_cmp);
    let count = sorted.len();
    let zero_value_customers = sorted.iter().take_while(|&&value| value == 0.0).count();
    let total: f64 = sorted.iter().sum();
    let mut cumulative = Vec::with_capacity(count + 1);
    cumulative.push(0.0);
    let mut running = 0.0;
    for value in &sorted {
        running += value;
        cumulative.push(running);
    }
    if count == 0 || total <= 0.0 {
        return Skew {
            customers: count,
            zero_value_customers,
            total,
            gini: 0.0,
            lorenz: vec![(0.0, 0.0), (1.0, 1.0)],
            top_shares: [1.0, 2.0, 5.0, 20.0].iter().map(|&p| (p, 0.0)).collect(),
        };
    }
    // G = 2 Σ i·v_i / (n Σ v) - (n + 1) / n, i = 1..n ascending.
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64 + 1.0) * v)
        .sum();
    let n = count as f64;
    let gini = 2.0 * weighted / (n * total) - (n + 1.0) / n;
    let steps = lorenz_points.max(1);
    let lorenz = (0..=steps)
        .map(|step| {
            let customer_share = step as f64 / steps as f64;
            let index = ((customer_share * n).round() as usize).min(count);
            (customer_share, cumulative[index] / total)
        })
        .collect();
    let top_shares = [1.0, 2.0, 5.0, 20.0]
        .iter()
        .map(|&percent| {
            let top = ((percent / 100.0 * n).ceil() as usize).min(count);
            (percent, (total - cumulative[count - top]) / total)
        })
        .collect();
    Skew {
        customers: count,
        zero_value_customers,
        total,
        gini,
        lorenz,
        top_shares,
    }
}

/// Rank percentile and tier of every customer of `values`.
pub fn place(values: &[f64], cutoffs: &TierCutoffs) -> Vec<Placement> {
    let count = values.len();
    let clamped: Vec<f64> = values.iter().map(|&value| clamp(value)).collect();
    let total: f64 = clamped.iter().sum();
    let mut order: Vec<usize> = (0..count).collect();
    // Most valuable first; ties by input order so that placement is deterministic.
    order.sort_by(|&l, &r| clamped[r].total_cmp(&clamped[l]).then(l.cmp(&r)));
    let mut placements = vec![
        Placement {
            rank_percentile: 0.0,
            tier: Tier::D
        };
        count
    ];
    let mut before = 0.0;
    let mut position = 0;
    while position < count {
        let mut end = position;
        while end + 1 < count && clamped[order[end + 1]] == clamped[order[position]] {
            end += 1;
        }
        let value = clamped[order[position]];
        // Share of customers strictly below this value.
        let below = count - end - 1;
        let rank_percentile = 100.0 * below as f64 / count as f64;
        // The tier is set by the cumulative share *before* the customer (the one
        // that crosses a cut-off still belongs to the better tier); equal values
        // share a tier.
        let share_before = if total > 0.0 { before / total } else { 1.0 };
        let tier = if value <= 0.0 {
            Tier::D
        } else if share_before < cutoffs.a {
            Tier::A
        } else if share_before < cutoffs.b {
            Tier::B
        } else if share_before < cutoffs.c {
            Tier::C
        } else {
            Tier::D
        };
        for &index in &order[position..=end] {
            placements[index] = Placement {
                rank_percentile,
                tier,
            };
            before += value;
        }
        position = end + 1;
    }
    placements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_have_no_skew() {
        let result = skew(&[5.0; 100], 10);
        assert!(result.gini.abs() < 1e-12);
        assert!((result.top_shares[3].1 - 0.2).abs() < 1e-12);
        assert_eq!(result.lorenz.len(), 11);
        assert!((result.lorenz[5].1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn one_customer_with_everything_is_maximal() {
        let mut values = vec![0.0; 99];
        values.push(10.0);
        values.push(-3.0);
        let result = skew(&values, 4);
        assert_eq!(result.zero_value_customers, 100);
        assert!((result.gini - (1.0 - 1.0 / 101.0)).abs() < 1e-12);
        assert!((result.top_shares[0].1 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn tiers_follow_cumulative_share() {
        // 40 + 30 + 20 + 5 + 5 + 0 = 100
        let values = [5.0, 40.0, 0.0, 30.0, 20.0, 5.0];
        let placements = place(&values, &TierCutoffs::default());
        let tiers: Vec<Tier> = placements.iter().map(|p| p.tier).collect();
        // 40 opens A (0% before); 30 starts at 40% < 50%: A; 20 starts at 70%: B; the
        // two 5s start at 90%: C (equal values share a tier); zero is D.
        assert_eq!(
            tiers,
            [Tier::C, Tier::A, Tier::D, Tier::A, Tier::B, Tier::C]
        );
        assert!((placements[1].rank_percentile - 100.0 * 5.0 / 6.0).abs() < 1e-9);
        assert_eq!(placements[2].rank_percentile, 0.0);
    }
}
