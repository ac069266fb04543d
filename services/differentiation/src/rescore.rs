//! Rescoring single customers with the current model, so that value is right at once
//! after identity moved purchases between customers (a merge or an unmerge) rather
//! than at the next refit.
//!
//! Predictions and historical value are recomputed from the customer's purchases up to
//! the model's observation end; the tier comes from the thresholds of the last refit's
//! snapshot, the rank percentile and RFM quintiles from where the customer ranks
//! among the other scored customers. The needs segment is kept (segments are
//! re-clustered at the next refit); a customer new to the scores has none.

use idic_value::skew::Tier;
use idic_value::{CustomerSummary, DayTotals, summarize_totals};

use crate::domain::{CustomerScores, SkewSnapshot, StoredModel, day_of, major_units};
use crate::refit::{ValueSettings, predict};
use crate::store::{BaseRanks, DifferentiationStore, RankProbe};

/// The lowest predicted value of tiers A, B and C at the last refit (None: empty).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TierThresholds {
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub c: Option<f64>,
}

impl TierThresholds {
    /// The thresholds the skew snapshot of a refit recorded.
    pub fn of_snapshot(skew: &SkewSnapshot) -> TierThresholds {
        let of = |tier: Tier| {
            skew.tiers
                .iter()
                .find(|summary| summary.tier == tier && summary.customers > 0)
                .map(|summary| summary.threshold)
        };
        TierThresholds {
            a: of(Tier::A),
            b: of(Tier::B),
            c: of(Tier::C),
        }
    }

    /// The best tier whose lowest value `value` reaches; zero value is always D.
    pub fn tier_of(&self, value: f64) -> Tier {
        if !value.is_finite() || value <= 0.0 {
            return Tier::D;
        }
        let reaches = |threshold: Option<f64>| threshold.is_some_and(|t| value >= t);
        if reaches(self.a) {
            Tier::A
        } else if reaches(self.b) {
            Tier::B
        } else if reaches(self.c) {
            Tier::C
        } else {
            Tier::D
        }
    }
}

/// RFM quintile (1..=5) of a customer with `worse` customers ranking strictly below
/// it out of `count`, as `idic_value::rfm::quintiles` scores it.
fn quintile(worse: u64, count: u64) -> u8 {
    if count == 0 {
        return 1;
    }
    let score = 1 + (5 * u128::from(worse) / u128::from(count));
    u8::try_from(score.min(5)).unwrap_or(5)
}

/// Recomputes the scores of `customer_ids` with the latest model; does nothing before
/// the first refit.
pub async fn rescore_customers(
    store: &dyn DifferentiationStore,
    settings: &ValueSettings,
    customer_ids: &[String],
) -> anyhow::Result<()> {
    let (Some(model), Some(snapshot)) =
        (store.latest_model().await?, store.latest_snapshot().await?)
    else {
        return Ok(());
    };
    let thresholds = TierThresholds::of_snapshot(&snapshot.skew);
    for customer_id in customer_ids {
        rescore_one(store, settings, &model, &thresholds, customer_id).await?;
    }
    Ok(())
}

async fn rescore_one(
    store: &dyn DifferentiationStore,
    settings: &ValueSettings,
    model: &StoredModel,
    thresholds: &TierThresholds,
    customer_id: &str,
) -> anyhow::Result<()> {
    let days = store
        .customer_purchase_days(customer_id, &model.currency, model.observation_end_micros)
        .await?;
    let Some(summary) = days.and_then(|days| {
        let totals = DayTotals {
            first_day: days.first_day,
            last_day: days.last_day,
            transaction_days: days.transaction_days,
            total: major_units(days.total_minor, &model.currency),
            first_day_total: major_units(days.first_day_minor, &model.currency),
        };
        summarize_totals(
            &totals,
            day_of(model.observation_end_micros),
            model.time_unit,
        )
    }) else {
        // No purchase by the observation end: unscored, like at a refit.
        return store.delete_scores(customer_id).await;
    };
    let previous = store.customer_scores(customer_id).await?;
    let (expected_purchases, probability_alive, expected_spend, clv) =
        predict(model, &summary, f64::from(settings.horizon_periods));
    let probe = RankProbe {
        clv,
        frequency: summary.frequency,
        total: summary.total,
        since_last: summary.age - summary.recency,
    };
    let ranks = store.base_ranks(customer_id, &probe).await?;
    let scores = scores_of(
        customer_id,
        summary,
        (expected_purchases, probability_alive, expected_spend, clv),
        &ranks,
        thresholds,
        previous.map(|p| p.segment_id).unwrap_or_default(),
    );
    store.put_scores(&scores).await
}

/// A customer's scores from its predictions and where it ranks among the others.
fn scores_of(
    customer_id: &str,
    summary: CustomerSummary,
    (expected_purchases, probability_alive, expected_spend, clv): (f64, f64, f64, f64),
    ranks: &BaseRanks,
    thresholds: &TierThresholds,
    segment_id: String,
) -> CustomerScores {
    let count = ranks.others + 1;
    CustomerScores {
        customer_id: customer_id.to_owned(),
        summary,
        expected_purchases,
        probability_alive,
        expected_spend,
        clv,
        historical: summary.total,
        rank_percentile: 100.0 * ranks.clv_below as f64 / count as f64,
        tier: thresholds.tier_of(clv),
        rfm: [
            quintile(ranks.bought_longer_ago, count),
            quintile(ranks.frequency_below, count),
            quintile(ranks.total_below, count),
        ],
        segment_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idic_value::rfm;

    #[test]
    fn tiers_follow_the_lowest_value_of_each_tier() {
        let thresholds = TierThresholds {
            a: Some(100.0),
            b: Some(40.0),
            c: None,
        };
        assert_eq!(thresholds.tier_of(150.0), Tier::A);
        assert_eq!(thresholds.tier_of(100.0), Tier::A);
        assert_eq!(thresholds.tier_of(99.0), Tier::B);
        // C is empty: below B is D.
        assert_eq!(thresholds.tier_of(10.0), Tier::D);
        assert_eq!(thresholds.tier_of(0.0), Tier::D);
        assert_eq!(thresholds.tier_of(f64::NAN), Tier::D);
    }

    /// The quintile from counts is the one `rfm::quintiles` gives over the whole base.
    #[test]
    fn quintiles_from_counts_match_the_base_wide_ones() {
        let values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0];
        let expected = rfm::quintiles(&values, true);
        for (index, value) in values.iter().enumerate() {
            let worse = values.iter().filter(|other| *other < value).count() as u64;
            assert_eq!(
                quintile(worse, values.len() as u64),
                expected[index],
                "{value}"
            );
        }
    }
}
