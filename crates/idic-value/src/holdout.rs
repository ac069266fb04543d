//! Predicted against actual purchases in a holdout period, per number of repeat
//! purchases in the calibration period (0, 1, ..., 6, 7 or more): the check of FHL
//! 2005 (figure "conditional expectations") that tells a user whether to trust the
//! model on their own data.

use crate::bgnbd::BgNbd;
use crate::summary::CustomerSummary;

/// Calibration purchases from which customers share the last row ("7+").
pub const OPEN_ROW: u32 = 7;

/// One row: customers with `calibration_purchases` repeat purchases in calibration
/// (or more, in the last row), and their mean predicted and actual holdout purchases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoldoutRow {
    pub calibration_purchases: u32,
    /// True for the last row, which also holds every customer with more.
    pub or_more: bool,
    pub customers: u64,
    /// Mean expected purchases per customer in the holdout period.
    pub predicted: f64,
    /// Mean purchases per customer actually made in the holdout period.
    pub actual: f64,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldoutCheck {
    /// Rows 0..=7, empty ones included, so that tables line up.
    pub rows: Vec<HoldoutRow>,
    pub customers: u64,
    pub predicted_total: f64,
    pub actual_total: f64,
}

/// Compares `model`'s expected purchases over `horizon` time units with the purchases
/// each customer (calibration summary, holdout purchases) actually made.
pub fn conditional_expectations(
    model: &BgNbd,
    customers: &[(CustomerSummary, u32)],
    horizon: f64,
) -> HoldoutCheck {
    let row_count = OPEN_ROW as usize + 1;
    let mut counts = vec![0u64; row_count];
    let mut predicted = vec![0.0; row_count];
    let mut actual = vec![0.0; row_count];
    for (summary, holdout_purchases) in customers {
        let row = summary.frequency.min(OPEN_ROW) as usize;
        counts[row] += 1;
        predicted[row] += model.expected_purchases(summary, horizon);
        actual[row] += f64::from(*holdout_purchases);
    }
    let mean = |sum: f64, count: u64| if count > 0 { sum / count as f64 } else { 0.0 };
    let rows = (0..row_count)
        .map(|row| HoldoutRow {
            calibration_purchases: row as u32,
            or_more: row == OPEN_ROW as usize,
            customers: counts[row],
            predicted: mean(predicted[row], counts[row]),
            actual: mean(actual[row], counts[row]),
        })
        .collect();
    HoldoutCheck {
        rows,
        customers: counts.iter().sum(),
        predicted_total: predicted.iter().sum(),
        actual_total: actual.iter().sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(frequency: u32) -> CustomerSummary {
        CustomerSummary {
            frequency,
            recency: f64::from(frequency),
            age: 10.0,
            monetary: 0.0,
            total: 0.0,
        }
    }

    #[test]
    fn rows_group_by_calibration_purchases_with_an_open_last_row() {
        let model = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let customers = [
            (customer(0), 0),
            (customer(0), 2),
            (customer(3), 1),
            (customer(7), 4),
            (customer(9), 6),
        ];
        let check = conditional_expectations(&model, &customers, 5.0);
        assert_eq!(check.rows.len(), 8);
        assert_eq!(check.customers, 5);
        assert_eq!(check.rows[0].customers, 2);
        assert!((check.rows[0].actual - 1.0).abs() < 1e-12);
        assert_eq!(check.rows[1].customers, 0);
        assert_eq!(check.rows[7].customers, 2);
        assert!(check.rows[7].or_more);
        assert!((check.rows[7].actual - 5.0).abs() < 1e-12);
        assert!((check.actual_total - 13.0).abs() < 1e-12);
        let predicted_zero = model.expected_purchases(&customer(0), 5.0);
        assert!((check.rows[0].predicted - predicted_zero).abs() < 1e-12);
    }
}
