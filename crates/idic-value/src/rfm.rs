//! RFM scores: quintiles over the whole base, 5 = best.

/// Quintile scores 1..=5 of `values`; `higher_is_better` says which end scores 5.
/// Ties share the score of their first rank, so equal customers score equally.
pub fn quintiles(values: &[f64], higher_is_better: bool) -> Vec<u8> {
    let count = values.len();
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by(|&left, &right| {
        let ordering = values[left].total_cmp(&values[right]);
        if higher_is_better {
            ordering
        } else {
            ordering.reverse()
        }
    });
    let mut scores = vec![0u8; count];
    let mut rank = 0;
    while rank < count {
        let mut end = rank;
        while end + 1 < count && values[order[end + 1]] == values[order[rank]] {
            end += 1;
        }
        // Worst-ranked first: rank 0 scores 1, the top fifth scores 5.
        let score = 1 + (5 * rank / count) as u8;
        for &index in &order[rank..=end] {
            scores[index] = score;
        }
        rank = end + 1;
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifths_score_one_to_five() {
        let values: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(quintiles(&values, true), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(quintiles(&values, false), [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
        assert_eq!(quintiles(&[3.0, 3.0, 3.0], true), [1, 1, 1]);
        assert!(quintiles(&[], true).is_empty());
    }
}
