//! Refitting: from the stored transactions to fitted BG/NBD and Gamma-Gamma models,
//! then per-customer scores, tiers, RFM, needs segments and the base snapshot.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use idic_runtime::storage::now_micros;
use idic_value::diagnostics::{self, Diagnostics};
use idic_value::holdout::{self, HoldoutCheck};
use idic_value::needs::{self, Segmentation};
use idic_value::skew::{self, Tier, TierCutoffs};
use idic_value::{CustomerSummary, DayTotals, TimeUnit, bgnbd, gamma_gamma, rfm, summarize_totals};

use crate::domain::{BaseSnapshot, CustomerScores, Segment, StoredModel, day_of, major_units};
use crate::skew::SkewSnapshot;
use crate::store::{DifferentiationStore, PurchaseDays};

/// Categories kept as their own needs dimension; the rest pool into "other".
const MAX_CATEGORIES: usize = 20;

/// The holdout comparison of a refit.
pub struct Holdout {
    pub check: HoldoutCheck,
    pub end_micros: i64,
    pub periods: f64,
}

/// What a refit gives back: the model, how the fits went, and the holdout check when
/// one was asked for.
pub struct RefitOutcome {
    pub model: StoredModel,
    pub diagnostics: ModelDiagnostics,
    pub holdout: Option<Holdout>,
}

/// Settings of the value models, from configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueSettings {
    pub time_unit: TimeUnit,
    pub horizon_periods: u32,
    pub cutoffs: TierCutoffs,
    pub model_currency: Option<String>,
    pub max_segments: usize,
}

/// Why a refit could not run.
#[derive(Debug, thiserror::Error)]
pub enum RefitError {
    #[error("{0}")]
    NotEnoughData(String),
    #[error(transparent)]
    Storage(#[from] anyhow::Error),
}

/// Customers' summaries in the order of `customer_ids`.
pub struct Summaries {
    pub customer_ids: Vec<String>,
    pub summaries: Vec<CustomerSummary>,
}

/// Per-customer summaries from the purchase days the store aggregated.
pub fn summarize_days(
    days: Vec<PurchaseDays>,
    currency: &str,
    end_micros: i64,
    unit: TimeUnit,
) -> Summaries {
    let end_day = day_of(end_micros);
    let mut customer_ids = Vec::with_capacity(days.len());
    let mut summaries = Vec::with_capacity(days.len());
    for row in days {
        let totals = DayTotals {
            first_day: row.first_day,
            last_day: row.last_day,
            transaction_days: row.transaction_days,
            total: major_units(row.total_minor, currency),
            first_day_total: major_units(row.first_day_minor, currency),
        };
        if let Some(summary) = summarize_totals(&totals, end_day, unit) {
            customer_ids.push(row.customer_id);
            summaries.push(summary);
        }
    }
    Summaries {
        customer_ids,
        summaries,
    }
}

/// How each fit went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDiagnostics {
    pub bg_nbd: Diagnostics,
    pub gamma_gamma: Diagnostics,
}

impl ModelDiagnostics {
    pub fn warnings(&self) -> impl Iterator<Item = &String> {
        self.bg_nbd
            .warnings
            .iter()
            .chain(&self.gamma_gamma.warnings)
    }
}

/// A refit's result: the saved model, the summaries it was fitted on (for scoring) and
/// how the fits went.
pub struct Fitted {
    pub model: StoredModel,
    pub data: Summaries,
    pub diagnostics: ModelDiagnostics,
}

/// Reads the transactions, fits both models and saves them.
pub async fn fit_models(
    store: &dyn DifferentiationStore,
    settings: &ValueSettings,
    observation_end_micros: i64,
    unit: TimeUnit,
) -> Result<Fitted, RefitError> {
    let started = Instant::now();
    let currency = match &settings.model_currency {
        Some(currency) => currency.clone(),
        None => store
            .most_common_currency()
            .await?
            .ok_or_else(|| RefitError::NotEnoughData("no purchases are stored".into()))?,
    };
    let days = store
        .purchase_days_until(&currency, observation_end_micros)
        .await?;
    let data = summarize_days(days, &currency, observation_end_micros, unit);
    // The fits take seconds on a large base: off the async runtime, so the server
    // keeps answering while they run.
    let (data, bg, gg) = tokio::task::spawn_blocking(move || {
        let bg = bgnbd::fit(&data.summaries);
        let gg = gamma_gamma::fit(&data.summaries);
        (data, bg, gg)
    })
    .await
    .map_err(|stopped| anyhow::anyhow!("the value model fit stopped: {stopped}"))?;
    let bg = bg.ok_or_else(|| {
        RefitError::NotEnoughData("no customer purchased before the observation end".into())
    })?;
    let gg = gg.ok_or_else(|| {
        RefitError::NotEnoughData(
            "no customer made a repeat purchase: Gamma-Gamma needs some".into(),
        )
    })?;
    let mut model = StoredModel {
        model_id: format!("mdl_{}", uuid::Uuid::now_v7().simple()),
        fitted_at_micros: now_micros(),
        observation_end_micros,
        time_unit: unit,
        currency,
        customers: data.summaries.len() as u64,
        bg_nbd: bg.parameters,
        bg_log_likelihood: bg.log_likelihood,
        gamma_gamma: gg.parameters,
        gg_log_likelihood: gg.log_likelihood,
        gg_customers: gg.customers as u64,
        fit_millis: 0.0,
    };
    // The fit time covers reading, fitting and the save itself (measured up to here;
    // the one-row insert that follows is what remains).
    model.fit_millis = started.elapsed().as_secs_f64() * 1e3;
    store.save_model(&model).await?;
    let diagnostics = ModelDiagnostics {
        bg_nbd: diagnostics::bg_nbd(&bg, data.summaries.len()),
        gamma_gamma: diagnostics::gamma_gamma(&gg),
    };
    tracing::info!(
        model_id = model.model_id,
        customers = model.customers,
        fit_millis = model.fit_millis,
        bg_converged = bg.converged,
        gg_converged = gg.converged,
        bg_identified = diagnostics.bg_nbd.identified,
        gg_identified = diagnostics.gamma_gamma.identified,
        "value models fitted"
    );
    for warning in diagnostics.warnings() {
        tracing::warn!(model_id = model.model_id, warning, "value model fit");
    }
    Ok(Fitted {
        model,
        data,
        diagnostics,
    })
}

/// Predicted against actual purchases between the model's observation end and
/// `holdout_end_micros`, for the customers the model was fitted on. A purchase is a
/// purchase day, as in the fit.
pub async fn holdout_check(
    store: &dyn DifferentiationStore,
    model: &StoredModel,
    data: &Summaries,
    holdout_end_micros: i64,
) -> anyhow::Result<HoldoutCheck> {
    let until_holdout_end: HashMap<String, u32> = store
        .purchase_days_until(&model.currency, holdout_end_micros)
        .await?
        .into_iter()
        .map(|row| (row.customer_id, row.transaction_days))
        .collect();
    let customers: Vec<(CustomerSummary, u32)> = data
        .customer_ids
        .iter()
        .zip(&data.summaries)
        .map(|(customer_id, summary)| {
            let days_by_end = until_holdout_end.get(customer_id).copied().unwrap_or(0);
            // Calibration purchase days: the first one and the repeats.
            let calibration_days = summary.frequency + 1;
            (*summary, days_by_end.saturating_sub(calibration_days))
        })
        .collect();
    Ok(holdout::conditional_expectations(
        &model.bg_nbd,
        &customers,
        holdout_periods(model, holdout_end_micros),
    ))
}

/// The holdout's length in the model's time unit, counted in whole days like the
/// summaries.
pub fn holdout_periods(model: &StoredModel, holdout_end_micros: i64) -> f64 {
    (day_of(holdout_end_micros) - day_of(model.observation_end_micros)) as f64
        / model.time_unit.days()
}

/// Predictions of one customer under `model`.
pub fn predict(
    model: &StoredModel,
    summary: &CustomerSummary,
    horizon: f64,
) -> (f64, f64, f64, f64) {
    let expected_purchases = model.bg_nbd.expected_purchases(summary, horizon);
    let probability_alive = model.bg_nbd.probability_alive(summary);
    let spend = model.gamma_gamma.spend_per_transaction(summary);
    (
        expected_purchases,
        probability_alive,
        spend,
        expected_purchases * spend,
    )
}

/// Scores every customer, segments needs, computes the snapshot and stores it all.
pub async fn rescore(
    store: &dyn DifferentiationStore,
    settings: &ValueSettings,
    model: &StoredModel,
    data: &Summaries,
) -> anyhow::Result<()> {
    let horizon = f64::from(settings.horizon_periods);
    let mut scores: Vec<CustomerScores> = data
        .customer_ids
        .iter()
        .zip(&data.summaries)
        .map(|(customer_id, summary)| {
            let (expected_purchases, probability_alive, expected_spend, clv) =
                predict(model, summary, horizon);
            CustomerScores {
                customer_id: customer_id.clone(),
                summary: *summary,
                expected_purchases,
                probability_alive,
                expected_spend,
                clv,
                historical: summary.total,
                rank_percentile: 0.0,
                tier: Tier::D,
                rfm: [0; 3],
                segment_id: String::new(),
            }
        })
        .collect();
    let values: Vec<f64> = scores.iter().map(|score| score.clv).collect();
    for (score, placement) in scores
        .iter_mut()
        .zip(skew::place(&values, &settings.cutoffs))
    {
        score.rank_percentile = placement.rank_percentile;
        score.tier = placement.tier;
    }
    // RFM: recency is time since the last purchase (lower is better).
    let recency: Vec<f64> = data.summaries.iter().map(|s| s.age - s.recency).collect();
    let frequency: Vec<f64> = data
        .summaries
        .iter()
        .map(|s| f64::from(s.frequency))
        .collect();
    let monetary: Vec<f64> = data.summaries.iter().map(|s| s.total).collect();
    let (r, f, m) = (
        rfm::quintiles(&recency, false),
        rfm::quintiles(&frequency, true),
        rfm::quintiles(&monetary, true),
    );
    for (index, score) in scores.iter_mut().enumerate() {
        score.rfm = [r[index], f[index], m[index]];
    }
    let tiers: Vec<Tier> = scores.iter().map(|score| score.tier).collect();
    let spend = store
        .category_spend_until(model.observation_end_micros)
        .await?;
    let max_segments = settings.max_segments;
    // Clustering the whole base's category mixes is CPU work: off the async runtime.
    let needs = tokio::task::spawn_blocking(move || segment_needs(&spend, max_segments))
        .await
        .map_err(|stopped| anyhow::anyhow!("the needs segmentation stopped: {stopped}"))?;
    for score in &mut scores {
        if let Some(segment_id) = needs.segment_of.get(&score.customer_id) {
            score.segment_id = segment_id.clone();
        }
    }
    let snapshot = BaseSnapshot {
        computed_at_micros: now_micros(),
        skew: SkewSnapshot::of_values(&values, &tiers, now_micros(), "predicted_clv"),
        needs_differentiation: needs.differentiation,
        needs_segments: u32::try_from(needs.segments.len()).unwrap_or(u32::MAX),
    };
    store
        .replace_scores(&scores, &needs.segments, &needs.category_shares, &snapshot)
        .await?;
    Ok(())
}

/// The needs side of a refit.
pub struct NeedsOutcome {
    pub segments: Vec<Segment>,
    /// The base's share of spend per category (every category, not only the kept).
    pub category_shares: Vec<(String, f64)>,
    pub segment_of: HashMap<String, String>,
    pub differentiation: f64,
}

/// Category mixes per customer, the base's needs spread and segments.
pub fn segment_needs(spend: &[(String, String, i64)], max_segments: usize) -> NeedsOutcome {
    let mut base: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, category, amount) in spend {
        *base.entry(category.as_str()).or_default() += (*amount).max(0);
    }
    let base_total_spend: i64 = base.values().sum();
    let category_shares: Vec<(String, f64)> = base
        .iter()
        .filter(|(_, amount)| **amount > 0)
        .map(|(category, amount)| {
            (
                (*category).to_owned(),
                *amount as f64 / base_total_spend as f64,
            )
        })
        .collect();
    let mut ranked: Vec<(&str, i64)> = base.into_iter().collect();
    ranked.sort_by(|l, r| r.1.cmp(&l.1).then(l.0.cmp(r.0)));
    let kept: Vec<&str> = ranked
        .iter()
        .take(MAX_CATEGORIES)
        .map(|(c, _)| *c)
        .collect();
    let dimension_of: HashMap<&str, usize> =
        kept.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let dimensions = kept.len() + usize::from(ranked.len() > kept.len());
    let mut names: Vec<String> = kept.iter().map(|c| (*c).to_owned()).collect();
    if dimensions > kept.len() {
        names.push("other".to_owned());
    }
    // Customer -> spend per dimension.
    let mut customers: Vec<String> = Vec::new();
    let mut vectors: Vec<Vec<f64>> = Vec::new();
    for (customer, category, amount) in spend {
        if customers.last() != Some(customer) {
            customers.push(customer.clone());
            vectors.push(vec![0.0; dimensions]);
        }
        let dimension = dimension_of
            .get(category.as_str())
            .copied()
            .unwrap_or(dimensions.saturating_sub(1));
        if let Some(vector) = vectors.last_mut() {
            vector[dimension] += (*amount).max(0) as f64;
        }
    }
    let mut base_mix = vec![0.0; dimensions];
    let mut kept_customers = Vec::new();
    let mut shares = Vec::new();
    for (customer, vector) in customers.into_iter().zip(vectors) {
        let total: f64 = vector.iter().sum();
        if total <= 0.0 {
            continue;
        }
        for (base, value) in base_mix.iter_mut().zip(&vector) {
            *base += value;
        }
        kept_customers.push(customer);
        shares.push(
            vector
                .iter()
                .map(|value| value / total)
                .collect::<Vec<f64>>(),
        );
    }
    let base_total: f64 = base_mix.iter().sum();
    if base_total > 0.0 {
        base_mix.iter_mut().for_each(|value| *value /= base_total);
    }
    let differentiation = needs::needs_differentiation(&shares, &base_mix);
    if shares.is_empty() {
        return NeedsOutcome {
            segments: Vec::new(),
            category_shares,
            segment_of: HashMap::new(),
            differentiation,
        };
    }
    let segmentation = needs::segment(&shares, max_segments.max(2));
    let (segments, ids) = name_segments(&segmentation, &names);
    let segment_of = kept_customers
        .into_iter()
        .zip(segmentation.membership.iter())
        .map(|(customer, &index)| (customer, ids[index].clone()))
        .collect();
    NeedsOutcome {
        segments,
        category_shares,
        segment_of,
        differentiation,
    }
}

/// Labels each segment by its leading categories (share >= 20% of the centroid, at
/// most three) and derives a stable id from the label.
fn name_segments(segmentation: &Segmentation, names: &[String]) -> (Vec<Segment>, Vec<String>) {
    let mut counts = vec![0u64; segmentation.k];
    for &index in &segmentation.membership {
        counts[index] += 1;
    }
    let mut used: HashMap<String, usize> = HashMap::new();
    let mut segments = Vec::new();
    let mut ids = Vec::new();
    for (index, centroid) in segmentation.centroids.iter().enumerate() {
        let mut order: Vec<usize> = (0..centroid.len()).collect();
        order.sort_by(|&l, &r| centroid[r].total_cmp(&centroid[l]));
        let leading: Vec<&str> = order
            .iter()
            .filter(|&&d| centroid[d] >= 0.2)
            .take(3)
            .map(|&d| names[d].as_str())
            .collect();
        let label = if segmentation.k == 1 {
            "all customers".to_owned()
        } else if leading.is_empty() {
            "mixed".to_owned()
        } else {
            leading.join(" + ")
        };
        let slug: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .split('-')
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let seen = used.entry(slug.clone()).or_default();
        *seen += 1;
        let segment_id = if *seen == 1 {
            format!("seg-{slug}")
        } else {
            format!("seg-{slug}-{seen}")
        };
        ids.push(segment_id.clone());
        segments.push(Segment {
            segment_id,
            label,
            customers: counts[index],
        });
    }
    (segments, ids)
}
