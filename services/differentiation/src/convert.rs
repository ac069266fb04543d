//! Differentiation's domain values as the contracts show them (and back, for tiers):
//! the handler's half of the conversion, so that the service knows no protobuf.

use idic_proto::v1 as pb;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::timestamp_from_micros;
use idic_runtime::warnings::FieldWarnings;
use idic_value::diagnostics::Diagnostics;
use idic_value::holdout::HoldoutCheck;
use idic_value::jackson::CustomerType;

use idic_value::skew::Tier;

use crate::domain::{
    Amount, CustomerData, CustomerScores, NeedsProfile, Preference, Recorded, SkewSnapshot,
    StoredModel, Strategy, Transaction, TransactionKind, ValueView, record_id,
};
use crate::refit::{ModelDiagnostics, RefitOutcome};

pub fn money(amount: Amount) -> pb::Money {
    pb::Money {
        currency: amount.currency,
        minor_units: amount.minor_units,
    }
}

/// A transaction as the bus and exports carry it.
pub fn transaction_event(transaction: &Transaction) -> pb::TransactionEvent {
    let kind = match transaction.kind {
        TransactionKind::Purchase => pb::TransactionKind::Purchase,
        TransactionKind::Return => pb::TransactionKind::Return,
        TransactionKind::Refund => pb::TransactionKind::Refund,
    };
    pb::TransactionEvent {
        customer_id: transaction.customer_id.clone(),
        order_id: transaction.order_id.clone(),
        kind: kind as i32,
        occurred_at: Some(timestamp_from_micros(transaction.occurred_at_micros)),
        amount: Some(money(transaction.amount.clone())),
        margin_minor_units: transaction.margin_minor,
        lines: transaction
            .lines
            .iter()
            .map(|line| pb::OrderLine {
                product: line.product.clone(),
                category: line.category.clone(),
                quantity: line.quantity,
                amount: Some(pb::Money {
                    currency: transaction.amount.currency.clone(),
                    minor_units: line.amount_minor,
                }),
            })
            .collect(),
        channel: transaction.channel,
    }
}

/// The reference a transaction was recorded under, as the contract shows it: "KIND:VALUE"
/// such as "loyalty:12345", or a customer id (differentiation's historical form, also
/// the record id of the customers it creates); the stored anchor when it is none.
pub fn customer_reference(anchor: &str) -> String {
    CustomerSelector::from_anchor(anchor)
        .map_or_else(|| anchor.to_owned(), |selector| record_id(&selector))
}

/// A customer's value, with what the last refit says of it.
pub fn value_to_proto(view: ValueView, horizon: u32) -> pb::CustomerValue {
    let ValueView {
        value,
        scores,
        model,
    } = view;
    let mut proto = pb::CustomerValue {
        customer_id: value.customer_id,
        revenue: value.revenue.into_iter().map(money).collect(),
        margin: value.margin.into_iter().map(money).collect(),
        order_count: value.order_count,
        first_purchase_at: value.first_purchase_micros.map(timestamp_from_micros),
        last_purchase_at: value.last_purchase_micros.map(timestamp_from_micros),
        horizon_periods: horizon,
        ..pb::CustomerValue::default()
    };
    if let Some(model) = &model {
        proto.model_available = true;
        proto.model_currency = model.currency.clone();
        proto.time_unit = model.time_unit.as_str().to_owned();
    }
    if let Some(scores) = &scores {
        proto.rfm = Some(pb::RfmScores {
            recency: scores.rfm[0].into(),
            frequency: scores.rfm[1].into(),
            monetary: scores.rfm[2].into(),
        });
        proto.expected_purchases = scores.expected_purchases;
        proto.probability_alive = scores.probability_alive;
        proto.expected_average_spend = scores.expected_spend;
        proto.predicted_clv = scores.clv;
        proto.rank_percentile = scores.rank_percentile;
        proto.tier = tier_to_proto(scores.tier) as i32;
    } else if model.is_some() {
        // Scored customers only; one without purchases by the last refit is worth
        // nothing predicted and ranks in the last tier.
        proto.tier = pb::Tier::D as i32;
    }
    proto
}

pub fn model_to_proto(model: &StoredModel, diagnostics: &ModelDiagnostics) -> pb::FittedModel {
    let spend_basis = if model.gamma_gamma.is_identified() {
        "gamma_gamma"
    } else {
        "customer_mean"
    };
    pb::FittedModel {
        model_id: model.model_id.clone(),
        bg_nbd: Some(pb::BgNbdParameters {
            r: model.bg_nbd.r,
            alpha: model.bg_nbd.alpha,
            a: model.bg_nbd.a,
            b: model.bg_nbd.b,
            log_likelihood: model.bg_log_likelihood,
            diagnostics: Some(diagnostics_to_proto(&diagnostics.bg_nbd)),
        }),
        gamma_gamma: Some(pb::GammaGammaParameters {
            p: model.gamma_gamma.p,
            q: model.gamma_gamma.q,
            gamma: model.gamma_gamma.gamma,
            log_likelihood: model.gg_log_likelihood,
            customers: model.gg_customers,
            diagnostics: Some(diagnostics_to_proto(&diagnostics.gamma_gamma)),
            spend_basis: spend_basis.to_owned(),
        }),
        observation_end: Some(timestamp_from_micros(model.observation_end_micros)),
        time_unit: model.time_unit.as_str().to_owned(),
        currency: model.currency.clone(),
        customers: model.customers,
        fitted_at: Some(timestamp_from_micros(model.fitted_at_micros)),
        fit_millis: model.fit_millis,
    }
}

pub fn diagnostics_to_proto(diagnostics: &Diagnostics) -> pb::FitDiagnostics {
    pb::FitDiagnostics {
        converged: diagnostics.converged,
        identified: diagnostics.identified,
        warnings: diagnostics.warnings.clone(),
    }
}

pub fn holdout_to_proto(
    check: &HoldoutCheck,
    holdout_end_micros: i64,
    periods: f64,
) -> pb::HoldoutCheck {
    pb::HoldoutCheck {
        holdout_end: Some(timestamp_from_micros(holdout_end_micros)),
        periods,
        rows: check
            .rows
            .iter()
            .map(|row| pb::HoldoutRow {
                calibration_purchases: row.calibration_purchases,
                or_more: row.or_more,
                customers: row.customers,
                predicted_purchases: row.predicted,
                actual_purchases: row.actual,
            })
            .collect(),
        customers: check.customers,
        predicted_total: check.predicted_total,
        actual_total: check.actual_total,
    }
}

/// An expressed preference as the contracts show it.
pub fn preference_to_proto(preference: Preference) -> pb::ExpressedPreference {
    pb::ExpressedPreference {
        key: preference.key,
        value: preference.value,
        channel: preference.channel,
        expressed_at: Some(timestamp_from_micros(preference.expressed_at_micros)),
        interaction_id: preference.interaction_id,
    }
}

/// The Jackson customer type on the wire.
pub fn customer_type_to_proto(customer_type: CustomerType) -> pb::CustomerType {
    match customer_type {
        CustomerType::LostForGood => pb::CustomerType::LostForGood,
        CustomerType::AlwaysAShare => pb::CustomerType::AlwaysAShare,
        CustomerType::Intermediate => pb::CustomerType::Intermediate,
    }
}

/// A customer's needs profile on the wire.
pub fn needs_to_proto(profile: NeedsProfile) -> pb::CustomerNeeds {
    pb::CustomerNeeds {
        customer_id: profile.customer_id,
        affinities: profile
            .affinities
            .into_iter()
            .map(|a| pb::CategoryAffinity {
                category: a.category,
                share: a.share,
                lift: a.lift,
            })
            .collect(),
        preferences: profile
            .preferences
            .into_iter()
            .map(preference_to_proto)
            .collect(),
        segment_id: profile
            .segment
            .as_ref()
            .map(|s| s.segment_id.clone())
            .unwrap_or_default(),
        segment_label: profile.segment.map(|s| s.label).unwrap_or_default(),
        customer_type: customer_type_to_proto(profile.customer_type) as i32,
        customer_type_explanation: profile.explanation,
    }
}

/// The strategy on the wire, with the time its skew was computed.
pub fn strategy_to_proto(strategy: Strategy) -> pb::GetStrategyResponse {
    pb::GetStrategyResponse {
        gini: strategy.gini,
        top_20_share: strategy.top_20_share,
        needs_differentiation: strategy.needs_differentiation,
        needs_segments: strategy.needs_segments,
        high_value_skew: strategy.high_value_skew,
        high_needs_spread: strategy.high_needs_spread,
        focus: strategy.focus,
        explanation: strategy.explanation,
        computed_at: Some(timestamp_from_micros(strategy.computed_at_micros)),
    }
}

pub fn tier_to_proto(tier: Tier) -> pb::Tier {
    match tier {
        Tier::A => pb::Tier::A,
        Tier::B => pb::Tier::B,
        Tier::C => pb::Tier::C,
        Tier::D => pb::Tier::D,
    }
}

/// The skew figures as GetValueSkew serves them.
pub fn skew_to_proto(skew: SkewSnapshot) -> pb::GetValueSkewResponse {
    pb::GetValueSkewResponse {
        computed_at: Some(timestamp_from_micros(skew.computed_at_micros)),
        value_measure: skew.value_measure,
        customers: skew.customers,
        zero_value_customers: skew.zero_value_customers,
        gini: skew.gini,
        lorenz: skew
            .lorenz
            .iter()
            .map(|point| pb::LorenzPoint {
                customer_share: point.customer_share,
                value_share: point.value_share,
            })
            .collect(),
        top_shares: skew
            .top_shares
            .iter()
            .map(|share| pb::TopShare {
                top_percent: share.top_percent,
                value_share: share.value_share,
            })
            .collect(),
        tiers: skew
            .tiers
            .iter()
            .map(|summary| pb::TierSummary {
                tier: tier_to_proto(summary.tier) as i32,
                customers: summary.customers,
                threshold: summary.threshold,
                value_share: summary.value_share,
            })
            .collect(),
    }
}

/// What RecordTransactions did, transaction by transaction, with the warnings of each
/// (in the order of `recorded`).
pub fn recorded_to_proto(
    recorded: Vec<(Transaction, Recorded)>,
    warnings: Vec<FieldWarnings>,
) -> pb::RecordTransactionsResponse {
    let mut response = pb::RecordTransactionsResponse::default();
    for ((transaction, outcome), warnings) in recorded.into_iter().zip(warnings) {
        if outcome.created {
            response.created += 1;
        } else {
            response.duplicates += 1;
        }
        response.results.push(pb::TransactionResult {
            order_id: transaction.order_id,
            customer_id: outcome.customer_id,
            created: outcome.created,
            customer_created: outcome.customer_created,
            warnings: warnings.into_proto(),
        });
    }
    response
}

pub fn refit_to_proto(outcome: &RefitOutcome) -> pb::RefitModelsResponse {
    pb::RefitModelsResponse {
        model: Some(model_to_proto(&outcome.model, &outcome.diagnostics)),
        holdout: outcome
            .holdout
            .as_ref()
            .map(|holdout| holdout_to_proto(&holdout.check, holdout.end_micros, holdout.periods)),
    }
}

/// A scored customer as ListCustomers shows it.
pub fn summary_to_proto(score: CustomerScores) -> pb::CustomerValueSummary {
    pb::CustomerValueSummary {
        customer_id: score.customer_id,
        predicted_clv: score.clv,
        historical_value: score.historical,
        tier: tier_to_proto(score.tier) as i32,
        rank_percentile: score.rank_percentile,
        segment_id: score.segment_id,
    }
}

/// Everything held of a customer, as ExportCustomerData answers it.
pub fn export_to_proto(data: CustomerData, horizon: u32) -> pb::DifferentiationCustomerData {
    pb::DifferentiationCustomerData {
        transactions: data
            .transactions
            .iter()
            .map(|transaction| pb::ExportedTransaction {
                transaction: Some(transaction_event(transaction)),
                customer_reference: customer_reference(&transaction.anchor),
            })
            .collect(),
        preferences: data
            .preferences
            .into_iter()
            .map(preference_to_proto)
            .collect(),
        value: Some(value_to_proto(data.value, horizon)),
        customer_id: data.customer_id,
    }
}
