//! Differentiation's use cases, knowing no protobuf (the handler converts): recording
//! transactions for customers resolved (or created) through identity, a customer's
//! value and needs, refits, the base's skew and the one-to-one strategy it calls for.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use idic_runtime::bus::EventBus;
use idic_runtime::customers::{self, NewCustomer};
use idic_runtime::peers::Peers;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult};
use idic_value::TimeUnit;
use idic_value::jackson::{self, Commitment};
use idic_value::needs;
use idic_value::skew::{self, Tier};

use crate::domain::{
    BaseSnapshot, CustomerData, CustomerFilter, CustomerScores, MICROS_PER_DAY, NeedsProfile,
    Preference, Recorded, SkewSnapshot, Strategy, Transaction, ValueView, day_of, record_id,
};
use crate::refit::{self, Holdout, RefitError, RefitOutcome, ValueSettings};
use crate::store::DifferentiationStore;

/// The source system differentiation creates customers under in identity.
pub const SOURCE_SYSTEM: &str = "differentiation";
/// Needs differentiation (bits) at and above which needs count as spread.
pub const HIGH_NEEDS_SPREAD: f64 = 0.3;
/// Share of value from the top 20% at and above which value counts as skewed.
pub const HIGH_VALUE_SKEW: f64 = 0.6;

/// The service: its store, the peers it resolves customers with, the bus it announces
/// transactions on, and its value settings.
pub struct Differentiation {
    store: Arc<dyn DifferentiationStore>,
    peers: Peers,
    bus: Arc<dyn EventBus>,
    settings: ValueSettings,
    /// One refit at a time per process (they replace the same tables).
    refit_lock: Arc<tokio::sync::Mutex<()>>,
}

/// The customers differentiation creates: under its source system, on the channel of
/// the transaction; a transaction shipped to a postal address may create one.
fn new_customer(channel: i32) -> NewCustomer<'static> {
    NewCustomer {
        source_system: SOURCE_SYSTEM,
        channel,
        from_postal_address: true,
        record_id,
    }
}

impl Differentiation {
    pub fn new(
        store: Arc<dyn DifferentiationStore>,
        peers: Peers,
        bus: Arc<dyn EventBus>,
        settings: ValueSettings,
        refit_lock: Arc<tokio::sync::Mutex<()>>,
    ) -> Self {
        Differentiation {
            store,
            peers,
            bus,
            settings,
            refit_lock,
        }
    }

    pub fn settings(&self) -> &ValueSettings {
        &self.settings
    }

    /// The surviving customer id of a reference (cached), NOT_FOUND when unknown.
    async fn resolve(&self, selector: &CustomerSelector, budget: Duration) -> ApiResult<String> {
        self.peers.resolve_customer(selector, budget).await
    }

    /// Stores each transaction for its customer, in order, and announces it on the bus.
    /// Every reference is resolved (an unknown identifier creates its customer) before
    /// anything is stored, so that nothing is stored when one fails.
    pub async fn record(
        &self,
        budget: Duration,
        inputs: Vec<(CustomerSelector, Transaction)>,
    ) -> ApiResult<Vec<(Transaction, Recorded)>> {
        let mut resolved: HashMap<CustomerSelector, (String, bool)> = HashMap::new();
        for (selector, transaction) in &inputs {
            if !resolved.contains_key(selector) {
                let outcome = customers::resolve_or_create(
                    &self.peers,
                    selector,
                    new_customer(transaction.channel),
                    budget,
                )
                .await?;
                resolved.insert(selector.clone(), (outcome.customer_id, outcome.created));
            }
        }
        let mut recorded = Vec::with_capacity(inputs.len());
        // The first transaction of a created customer says so, not every one.
        let mut announced_creation: HashSet<String> = HashSet::new();
        for (selector, mut transaction) in inputs {
            let (customer_id, created_customer) =
                resolved.get(&selector).cloned().unwrap_or_default();
            transaction.customer_id = customer_id.clone();
            let created = self
                .store
                .insert_transaction(&transaction)
                .await
                .map_err(ApiError::internal)?;
            // A retried batch publishes again: consumers are idempotent by order id, and
            // this way a publish that failed after the insert is made good by the retry.
            crate::events::publish_transaction(self.bus.as_ref(), &transaction).await?;
            let customer_created =
                created_customer && announced_creation.insert(transaction.anchor.clone());
            recorded.push((
                transaction,
                Recorded {
                    customer_id,
                    created,
                    customer_created,
                },
            ));
        }
        Ok(recorded)
    }

    /// The value and scores of the customer `selector` names, with the model they
    /// come from.
    pub async fn customer_value(
        &self,
        selector: &CustomerSelector,
        budget: Duration,
    ) -> ApiResult<ValueView> {
        let customer_id = self.resolve(selector, budget).await?;
        let (value, scores, model) = tokio::try_join!(
            self.store.customer_value(&customer_id),
            self.store.customer_scores(&customer_id),
            self.store.latest_model(),
        )
        .map_err(ApiError::internal)?;
        Ok(ValueView {
            value,
            scores,
            model,
        })
    }

    /// A refit now, as RefitModels asks for it.
    pub async fn refit(
        &self,
        observation_end_micros: i64,
        unit: TimeUnit,
        holdout_end_micros: Option<i64>,
    ) -> ApiResult<RefitOutcome> {
        run_refit(
            self.store.as_ref(),
            &self.settings,
            &self.refit_lock,
            observation_end_micros,
            unit,
            holdout_end_micros,
        )
        .await
    }

    /// One page of scored customers after `after` (value, customer id).
    pub async fn list_customers(
        &self,
        filter: &CustomerFilter,
        after: Option<(f64, String)>,
        limit: i64,
    ) -> ApiResult<Vec<CustomerScores>> {
        self.store
            .list_scores(filter, after, limit)
            .await
            .map_err(ApiError::internal)
    }

    /// The base's value skew: as the last refit stored it, or computed live from
    /// historical revenue before any refit.
    pub async fn skew(&self) -> ApiResult<SkewSnapshot> {
        match self.latest_snapshot().await? {
            Some(snapshot) => Ok(snapshot.skew),
            None => self.live_skew().await,
        }
    }

    /// The one-to-one strategy the base's value skew and needs spread call for (both
    /// of the same refit: the snapshot is read once).
    pub async fn strategy(&self) -> ApiResult<Strategy> {
        let Some(snapshot) = self.latest_snapshot().await? else {
            return Ok(strategy(&self.live_skew().await?, None));
        };
        let spread = (snapshot.needs_differentiation, snapshot.needs_segments);
        Ok(strategy(&snapshot.skew, Some(spread)))
    }

    async fn latest_snapshot(&self) -> ApiResult<Option<BaseSnapshot>> {
        self.store
            .latest_snapshot()
            .await
            .map_err(ApiError::internal)
    }

    /// The skew before any refit: historical net revenue in the model's currency (or
    /// the most common one), computed now.
    async fn live_skew(&self) -> ApiResult<SkewSnapshot> {
        let currency = match &self.settings.model_currency {
            Some(currency) => Some(currency.clone()),
            None => self
                .store
                .most_common_currency()
                .await
                .map_err(ApiError::internal)?,
        };
        let values = match currency {
            Some(currency) => self
                .store
                .net_revenue_by_customer(&currency)
                .await
                .map_err(ApiError::internal)?,
            None => Vec::new(),
        };
        let tiers: Vec<Tier> = skew::place(&values, &self.settings.cutoffs)
            .iter()
            .map(|p| p.tier)
            .collect();
        Ok(SkewSnapshot::of_values(
            &values,
            &tiers,
            now_micros(),
            "historical_revenue",
        ))
    }

    /// The affinities (lift against the base's mix of the last refit), expressed
    /// preferences, segment and Jackson type of the customer `selector` names.
    pub async fn customer_needs(
        &self,
        selector: &CustomerSelector,
        budget: Duration,
    ) -> ApiResult<NeedsProfile> {
        let customer_id = self.resolve(selector, budget).await?;
        let store = self.store.as_ref();
        let (spend, preferences, purchases, scores, base_shares) = tokio::try_join!(
            store.customer_category_spend(&customer_id),
            store.preferences(&customer_id),
            store.customer_purchases(&customer_id),
            store.customer_scores(&customer_id),
            store.category_shares(),
        )
        .map_err(ApiError::internal)?;
        let segment = match scores.as_ref().filter(|s| !s.segment_id.is_empty()) {
            Some(scores) => store
                .segment(&scores.segment_id)
                .await
                .map_err(ApiError::internal)?,
            None => None,
        };
        // Lift compares with the base's mix of the last refit (0 before any refit).
        let spend: Vec<(String, f64)> = spend
            .into_iter()
            .map(|(category, amount)| (category, amount as f64))
            .collect();
        let base: HashMap<String, f64> = base_shares.into_iter().collect();
        let affinities = needs::affinities(&spend, |category| {
            base.get(category).copied().unwrap_or(0.0)
        });
        let (customer_type, explanation) =
            jackson::classify(&commitment_of(&purchases, &preferences, now_micros()));
        Ok(NeedsProfile {
            customer_id,
            affinities,
            preferences,
            segment,
            customer_type,
            explanation,
        })
    }

    /// Everything held of the customer `selector` names, for an export.
    pub async fn export(
        &self,
        selector: &CustomerSelector,
        budget: Duration,
    ) -> ApiResult<CustomerData> {
        let customer_id = self.resolve(selector, budget).await?;
        let (transactions, mut preferences, value, scores, model) = tokio::try_join!(
            self.store.customer_transactions(&customer_id),
            self.store.preferences(&customer_id),
            self.store.customer_value(&customer_id),
            self.store.customer_scores(&customer_id),
            self.store.latest_model(),
        )
        .map_err(ApiError::internal)?;
        // The store reads them newest first, for the needs profile.
        preferences.reverse();
        Ok(CustomerData {
            customer_id,
            transactions,
            preferences,
            value: ValueView {
                value,
                scores,
                model,
            },
        })
    }
}

/// Runs a whole refit: fit, save, rescore, and compare with the holdout up to
/// `holdout_end_micros` when given. Shared by the RPC and the schedule.
pub async fn run_refit(
    store: &dyn DifferentiationStore,
    settings: &ValueSettings,
    lock: &tokio::sync::Mutex<()>,
    observation_end_micros: i64,
    unit: TimeUnit,
    holdout_end_micros: Option<i64>,
) -> Result<RefitOutcome, ApiError> {
    let _guard = lock.lock().await;
    let fitted = refit::fit_models(store, settings, observation_end_micros, unit)
        .await
        .map_err(|error| match error {
            RefitError::NotEnoughData(message) => ApiError::FailedPrecondition(message),
            RefitError::Storage(error) => ApiError::internal(error),
        })?;
    refit::rescore(store, settings, &fitted.model, &fitted.data)
        .await
        .map_err(ApiError::internal)?;
    let holdout = match holdout_end_micros {
        None => None,
        Some(end) => {
            let check = refit::holdout_check(store, &fitted.model, &fitted.data, end)
                .await
                .map_err(ApiError::internal)?;
            let periods = refit::holdout_periods(&fitted.model, end);
            Some(Holdout {
                check,
                end_micros: end,
                periods,
            })
        }
    };
    Ok(RefitOutcome {
        model: fitted.model,
        diagnostics: fitted.diagnostics,
        holdout,
    })
}

/// Peppers & Rogers' matrix: value skew x needs spread -> the focus. `needs_spread` is
/// the last refit's (differentiation in bits, segments), `None` before any refit.
pub fn strategy(skew: &SkewSnapshot, needs_spread: Option<(f64, u32)>) -> Strategy {
    let gini = skew.gini;
    let top_20_share = skew.top_20_share();
    let refitted = needs_spread.is_some();
    let (needs_differentiation, needs_segments) = needs_spread.unwrap_or((0.0, 0));
    let high_value_skew = top_20_share >= HIGH_VALUE_SKEW;
    let high_needs_spread = needs_differentiation >= HIGH_NEEDS_SPREAD;
    let figures = format!(
        "the top 20% of customers bring {:.0}% of value (Gini {gini:.2}; skewed at {:.0}% or more); needs differentiation is {needs_differentiation:.2} bits over {needs_segments} segment(s) (spread at {HIGH_NEEDS_SPREAD:.2} or more)",
        top_20_share * 100.0,
        HIGH_VALUE_SKEW * 100.0
    );
    let (focus, advice) = match (high_value_skew, high_needs_spread) {
        (true, true) => (
            "customize for top customers",
            "value is concentrated and needs differ: learn each top customer's needs in learning relationships and customize for them first",
        ),
        (true, false) => (
            "invest in top customers",
            "value is concentrated but needs are alike: invest in learning relationships and retention with the top customers",
        ),
        (false, true) => (
            "customize",
            "value is spread but needs differ: customize first, by needs segment",
        ),
        (false, false) => (
            "migrate to cheaper channels",
            "neither value nor needs differ much: migration strategies, such as moving interactions to cheaper channels, and efficiency",
        ),
    };
    let caveat = if refitted {
        ""
    } else {
        " (no refit yet: value is historical revenue and needs are not segmented)"
    };
    Strategy {
        gini,
        top_20_share,
        needs_differentiation,
        needs_segments,
        high_value_skew,
        high_needs_spread,
        focus: focus.to_owned(),
        explanation: format!("{figures}: {advice}{caveat}"),
        computed_at_micros: skew.computed_at_micros,
    }
}

/// The commitment and purchase pattern the Jackson rule needs.
fn commitment_of(purchases: &[(i64, u32)], preferences: &[Preference], now: i64) -> Commitment {
    // A month as the average Gregorian month.
    let month_micros = MICROS_PER_DAY as f64 * 30.436_875;
    let running_commitment_months = purchases
        .iter()
        .filter(|(at, months)| {
            *months > 0 && (*at as f64 + f64::from(*months) * month_micros) > now as f64
        })
        .map(|(_, months)| *months)
        .max()
        .unwrap_or(0);
    let high_switching_cost = preferences
        .iter()
        .any(|p| p.key == "switching_cost" && p.value.eq_ignore_ascii_case("high"));
    let mut purchase_days: Vec<i64> = purchases.iter().map(|(at, _)| day_of(*at)).collect();
    purchase_days.dedup();
    Commitment {
        running_commitment_months,
        high_switching_cost,
        purchase_days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skew::TopShare;

    fn skew_with_top_20(share: f64) -> SkewSnapshot {
        let mut skew = SkewSnapshot::of_values(&[], &[], 42, "predicted_clv");
        skew.gini = 0.5;
        skew.top_shares = vec![TopShare {
            top_percent: 20.0,
            value_share: share,
        }];
        skew
    }

    #[test]
    fn the_matrix_gives_one_focus_per_quadrant() {
        let focus =
            |share: f64, bits: f64| strategy(&skew_with_top_20(share), Some((bits, 3))).focus;
        assert_eq!(focus(0.8, 0.5), "customize for top customers");
        assert_eq!(focus(0.8, 0.1), "invest in top customers");
        assert_eq!(focus(0.3, 0.5), "customize");
        assert_eq!(focus(0.3, 0.1), "migrate to cheaper channels");
    }

    #[test]
    fn before_a_refit_the_strategy_says_so() {
        let skewed = strategy(&skew_with_top_20(0.7), None);
        assert!(skewed.high_value_skew);
        assert!(!skewed.high_needs_spread);
        assert_eq!(skewed.needs_segments, 0);
        assert_eq!(skewed.computed_at_micros, 42);
        assert!(skewed.explanation.contains("no refit yet"));
        let refitted = strategy(&skew_with_top_20(0.7), Some((0.0, 1)));
        assert!(!refitted.explanation.contains("no refit yet"));
        assert_eq!(refitted.top_20_share, 0.7);
    }
}
