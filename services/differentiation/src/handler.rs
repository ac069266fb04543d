//! gRPC handlers of `idic.v1.DifferentiationService`: validation and conversion at the
//! edge, then the store and the value models.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::differentiation_service_server::DifferentiationService;
use idic_runtime::ApiError;
use idic_runtime::bus::EventBus;
use idic_runtime::customers::{self, NewCustomer, RESOLVE_BUDGET};
use idic_runtime::error::FieldViolation;
use idic_runtime::limits;
use idic_runtime::paging::{Page, finish_page};
use idic_runtime::peers::Peers;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::{now_micros, timestamp_from_micros};
use idic_runtime::warnings::FieldWarnings;
use idic_value::diagnostics::Diagnostics;
use idic_value::holdout::HoldoutCheck;
use idic_value::jackson::{self, Commitment, CustomerType};
use idic_value::skew::{self, Tier};
use idic_value::{TimeUnit, needs};
use prost::Message as _;
use tonic::{Request, Response, Status};

use crate::domain::{
    Amount, CustomerFilter, CustomerScores, CustomerValue, MICROS_PER_DAY, OrderLine, StoredModel,
    Transaction, TransactionKind, day_of,
};
use crate::refit::{self, ModelDiagnostics, RefitError, ValueSettings, tier_to_proto};
use crate::store::DifferentiationStore;

/// The most transactions in one RecordTransactions call.
pub const MAX_BATCH: usize = 1000;
/// The bus topic every new transaction is published on.
pub const TRANSACTIONS_TOPIC: &str = idic_proto::topics::TRANSACTIONS.name();
/// The source system differentiation creates customers under in identity.
pub const SOURCE_SYSTEM: &str = "differentiation";
/// Needs differentiation (bits) at and above which needs count as spread.
pub const HIGH_NEEDS_SPREAD: f64 = 0.3;
/// Share of value from the top 20% at and above which value counts as skewed.
pub const HIGH_VALUE_SKEW: f64 = 0.6;

pub struct DifferentiationHandler {
    store: Arc<dyn DifferentiationStore>,
    peers: Peers,
    bus: Arc<dyn EventBus>,
    settings: ValueSettings,
    /// One refit at a time per process (they replace the same tables).
    refit_lock: Arc<tokio::sync::Mutex<()>>,
}

impl DifferentiationHandler {
    pub fn new(
        store: Arc<dyn DifferentiationStore>,
        peers: Peers,
        bus: Arc<dyn EventBus>,
        settings: ValueSettings,
        refit_lock: Arc<tokio::sync::Mutex<()>>,
    ) -> Self {
        DifferentiationHandler {
            store,
            peers,
            bus,
            settings,
            refit_lock,
        }
    }

    async fn resolve<T>(
        &self,
        request: &Request<T>,
        reference: Option<&pb::CustomerRef>,
    ) -> Result<String, ApiError> {
        let selector = CustomerSelector::parse(reference, "customer")?;
        self.peers
            .resolve_customer(&selector, budget(request))
            .await
    }
}

fn budget<T>(request: &Request<T>) -> Duration {
    customers::budget(request, RESOLVE_BUDGET)
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

/// The record id of a customer differentiation creates in identity: `kind:value`
/// (`loyalty:12345`, `email:ann@example.com`, `system:value` for an external id), as it
/// always was, so that the records already in identity keep their keys and operators
/// unmerge them by the key the README gives; exports show references so too.
pub fn record_id(selector: &CustomerSelector) -> String {
    let anchor = selector.anchor();
    let Some((kind, rest)) = anchor.split_once(':') else {
        return anchor;
    };
    let kind = match kind {
        "id" | "EXTERNAL_ID" => return rest.to_owned(),
        "EMAIL" => "email",
        "PHONE" => "phone",
        "LOYALTY_ID" => "loyalty",
        "ACCOUNT_CODE" => "account",
        "DEVICE_ID" => "device",
        "NATIONAL_ID" => "national",
        "POSTAL_ADDRESS" => "address",
        other => return format!("{}:{rest}", other.to_lowercase()),
    };
    format!("{kind}:{rest}")
}

/// A validated transaction before its customer is resolved.
struct Input {
    selector: CustomerSelector,
    transaction: Transaction,
    /// Optional fields left out because they could not be read.
    warnings: FieldWarnings,
}

fn violation(index: usize, field: &str, description: &str) -> FieldViolation {
    FieldViolation::new(format!("transactions[{index}].{field}"), description)
}

fn valid_currency(currency: &str) -> bool {
    currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase())
}

fn valid_text(text: &str, max: usize) -> bool {
    text.len() <= max && !text.chars().any(char::is_control)
}

/// A transaction of the request. The key (order id, kind), the customer, the time and
/// the amount are required: without them the transaction is refused. An optional
/// field that cannot be read (channel, commitment, a line's product, category or
/// amount) is left out with a warning, and the transaction is kept; with `strict` it
/// is refused instead.
fn parse_input(
    index: usize,
    input: &pb::TransactionInput,
    strict: bool,
) -> Result<Input, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let mut warnings = FieldWarnings::default();
    let selector = CustomerSelector::parse(
        input.customer.as_ref(),
        &format!("transactions[{index}].customer"),
    )
    .map_err(|v| violations.push(v))
    .ok();
    let order_id = input.order_id.trim();
    if order_id.is_empty() || !valid_text(order_id, 128) {
        violations.push(violation(
            index,
            "order_id",
            "is required: at most 128 characters, no control characters",
        ));
    }
    let kind = match pb::TransactionKind::try_from(input.kind) {
        Ok(pb::TransactionKind::Unspecified | pb::TransactionKind::Purchase) => {
            Some(TransactionKind::Purchase)
        }
        Ok(pb::TransactionKind::Return) => Some(TransactionKind::Return),
        Ok(pb::TransactionKind::Refund) => Some(TransactionKind::Refund),
        Err(_) => {
            violations.push(violation(index, "kind", "is not a TransactionKind"));
            None
        }
    };
    let path = |name: &str| format!("transactions[{index}].{name}");
    let occurred_at = match &input.occurred_at {
        Some(at) => limits::instant_micros(at, &path("occurred_at"))
            .map_err(|v| violations.push(v))
            .ok(),
        None => {
            violations.push(violation(index, "occurred_at", "is required"));
            None
        }
    };
    let amount = match &input.amount {
        Some(money) if !valid_currency(&money.currency) => {
            violations.push(violation(
                index,
                "amount.currency",
                "must be an ISO 4217 code such as EUR",
            ));
            None
        }
        Some(money) if money.minor_units < 0 => {
            violations.push(violation(
                index,
                "amount.minor_units",
                "must not be negative: returns and refunds are deducted by their kind",
            ));
            None
        }
        Some(money) => limits::check_money(money.minor_units, &path("amount.minor_units"))
            .map_err(|v| violations.push(v))
            .ok()
            .map(|_| money.clone()),
        None => {
            violations.push(violation(index, "amount", "is required"));
            None
        }
    };
    if let Some(margin) = input.margin_minor_units
        && let Err(v) = limits::check_money(margin, &path("margin_minor_units"))
    {
        violations.push(v);
    }
    let channel = if pb::Channel::try_from(input.channel).is_ok() {
        input.channel
    } else {
        warnings.push(
            path("channel"),
            "is not a Channel; left unspecified",
            &input.channel.to_string(),
        );
        pb::Channel::Unspecified as i32
    };
    let commitment_months = if input.commitment_months <= 600 {
        input.commitment_months
    } else {
        warnings.push(
            path("commitment_months"),
            "must be at most 600; left out",
            &input.commitment_months.to_string(),
        );
        0
    };
    if input.lines.len() > 1000 {
        violations.push(violation(index, "lines", "must hold at most 1000 lines"));
    }
    let mut lines = Vec::new();
    for (line_index, line) in input.lines.iter().enumerate() {
        let field = |name: &str| path(&format!("lines[{line_index}].{name}"));
        let readable_text = |text: &str, max: usize, name: &str, warnings: &mut FieldWarnings| {
            if valid_text(text, max) {
                return true;
            }
            warnings.push(
                field(name),
                format!("must be at most {max} characters, no control characters; left out"),
                text,
            );
            false
        };
        let product = if readable_text(&line.product, 256, "product", &mut warnings) {
            line.product.trim().to_owned()
        } else {
            String::new()
        };
        let category = if readable_text(&line.category, 128, "category", &mut warnings) {
            line.category.trim().to_lowercase()
        } else {
            String::new()
        };
        let mut line_amount = line.amount.as_ref().map_or(0, |money| money.minor_units);
        if line_amount < 0 {
            warnings.push(
                field("amount.minor_units"),
                "must not be negative; the line's amount is left out",
                &line_amount.to_string(),
            );
            line_amount = 0;
        }
        if let Err(v) = limits::check_money(line_amount, &field("amount.minor_units")) {
            violations.push(v);
        }
        if let Err(v) = limits::check_quantity(line.quantity, &field("quantity")) {
            violations.push(v);
        }
        if let (Some(money), Some(total)) = (&line.amount, &amount)
            && !money.currency.is_empty()
            && money.currency != total.currency
        {
            warnings.push(
                field("amount.currency"),
                "must be the transaction's currency; the line's amount is left out",
                &money.currency,
            );
            line_amount = 0;
        }
        lines.push(OrderLine {
            product,
            category,
            quantity: line.quantity,
            amount_minor: line_amount,
        });
    }
    if strict {
        violations.extend(std::mem::take(&mut warnings).into_violations());
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    let (Some(selector), Some(kind), Some(occurred_at), Some(amount)) =
        (selector, kind, occurred_at, amount)
    else {
        return Err(vec![violation(index, "customer", "is invalid")]);
    };
    // Returns and refunds deduct: stored negative.
    let sign = if kind == TransactionKind::Purchase {
        1
    } else {
        -1
    };
    if kind != TransactionKind::Purchase {
        for line in &mut lines {
            line.amount_minor = -line.amount_minor;
        }
    }
    Ok(Input {
        transaction: Transaction {
            order_id: order_id.to_owned(),
            kind,
            customer_id: String::new(),
            anchor: selector.anchor(),
            occurred_at_micros: occurred_at,
            amount: Amount {
                currency: amount.currency,
                minor_units: sign * amount.minor_units,
            },
            margin_minor: input.margin_minor_units.map(|margin| sign * margin),
            lines,
            channel,
            commitment_months,
        },
        selector,
        warnings,
    })
}

impl DifferentiationHandler {
    async fn record(
        &self,
        budget: Duration,
        inputs: Vec<Input>,
    ) -> Result<pb::RecordTransactionsResponse, ApiError> {
        // Resolve every reference first, so that nothing is stored when one fails.
        let mut resolved: HashMap<CustomerSelector, (String, bool)> = HashMap::new();
        for input in &inputs {
            if !resolved.contains_key(&input.selector) {
                let outcome = customers::resolve_or_create(
                    &self.peers,
                    &input.selector,
                    new_customer(input.transaction.channel),
                    budget,
                )
                .await?;
                resolved.insert(
                    input.selector.clone(),
                    (outcome.customer_id, outcome.created),
                );
            }
        }
        let mut response = pb::RecordTransactionsResponse::default();
        // The first transaction of a created customer says so, not every one.
        let mut announced_creation: std::collections::HashSet<String> = Default::default();
        for mut input in inputs {
            let (customer_id, created_customer) =
                resolved.get(&input.selector).cloned().unwrap_or_default();
            input.transaction.customer_id = customer_id.clone();
            let created = self
                .store
                .insert_transaction(&input.transaction)
                .await
                .map_err(ApiError::internal)?;
            // A retried batch publishes again: consumers are idempotent by order id, and
            // this way a publish that failed after the insert is made good by the retry.
            let event = transaction_event(&input.transaction);
            self.bus
                .publish(TRANSACTIONS_TOPIC, &event.encode_to_vec())
                .await
                .map_err(|error| ApiError::Unavailable {
                    message: error.to_string(),
                    retry_after: Duration::from_millis(200),
                })?;
            if created {
                response.created += 1;
            } else {
                response.duplicates += 1;
            }
            let customer_created =
                created_customer && announced_creation.insert(input.transaction.anchor.clone());
            response.results.push(pb::TransactionResult {
                order_id: input.transaction.order_id,
                customer_id,
                created,
                customer_created,
                warnings: input.warnings.into_proto(),
            });
        }
        Ok(response)
    }
}

fn money(amount: Amount) -> pb::Money {
    pb::Money {
        currency: amount.currency,
        minor_units: amount.minor_units,
    }
}

fn transaction_event(transaction: &Transaction) -> pb::TransactionEvent {
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

fn value_to_proto(
    value: CustomerValue,
    scores: Option<&CustomerScores>,
    model: Option<&StoredModel>,
    horizon: u32,
) -> pb::CustomerValue {
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
    if let Some(model) = model {
        proto.model_available = true;
        proto.model_currency = model.currency.clone();
        proto.time_unit = model.time_unit.as_str().to_owned();
    }
    if let Some(scores) = scores {
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

fn model_to_proto(model: &StoredModel, diagnostics: &ModelDiagnostics) -> pb::FittedModel {
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

fn diagnostics_to_proto(diagnostics: &Diagnostics) -> pb::FitDiagnostics {
    pb::FitDiagnostics {
        converged: diagnostics.converged,
        identified: diagnostics.identified,
        warnings: diagnostics.warnings.clone(),
    }
}

fn holdout_to_proto(
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

/// What a refit gives back: the model, how the fits went, and the holdout check when
/// one was asked for.
pub struct RefitOutcome {
    pub model: StoredModel,
    pub diagnostics: ModelDiagnostics,
    pub holdout: Option<pb::HoldoutCheck>,
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
            Some(holdout_to_proto(&check, end, periods))
        }
    };
    Ok(RefitOutcome {
        model: fitted.model,
        diagnostics: fitted.diagnostics,
        holdout,
    })
}

/// A time of RefitModelsRequest, within the suite's range of instants (`limits`).
fn refit_time(at: &prost_types::Timestamp, field: &str) -> Result<i64, ApiError> {
    limits::instant_micros(at, field).map_err(ApiError::from)
}

fn tier_from_proto(value: i32) -> Result<Option<Tier>, ApiError> {
    match pb::Tier::try_from(value) {
        Ok(pb::Tier::Unspecified) => Ok(None),
        Ok(pb::Tier::A) => Ok(Some(Tier::A)),
        Ok(pb::Tier::B) => Ok(Some(Tier::B)),
        Ok(pb::Tier::C) => Ok(Some(Tier::C)),
        Ok(pb::Tier::D) => Ok(Some(Tier::D)),
        Err(_) => Err(ApiError::invalid("tier", "is not a Tier")),
    }
}

/// Parses a page cursor "clv|customer_id".
fn parse_cursor(cursor: &str) -> Result<(f64, String), ApiError> {
    cursor
        .split_once('|')
        .and_then(|(value, id)| Some((f64::from_bits(value.parse::<u64>().ok()?), id.to_owned())))
        .ok_or_else(|| ApiError::invalid("page.page_token", "is not a token this server issued"))
}

impl DifferentiationHandler {
    async fn skew_now(&self) -> Result<pb::GetValueSkewResponse, ApiError> {
        if let Some(snapshot) = self
            .store
            .latest_snapshot()
            .await
            .map_err(ApiError::internal)?
        {
            return pb::GetValueSkewResponse::decode(snapshot.skew.as_slice())
                .map_err(ApiError::internal);
        }
        // No refit yet: historical net revenue in the most common currency, live.
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
        Ok(refit::skew_response(
            &values,
            &tiers,
            now_micros(),
            "historical_revenue",
        ))
    }
}

#[tonic::async_trait]
impl DifferentiationService for DifferentiationHandler {
    async fn record_transactions(
        &self,
        request: Request<pb::RecordTransactionsRequest>,
    ) -> Result<Response<pb::RecordTransactionsResponse>, Status> {
        let batch = &request.get_ref().transactions;
        if batch.is_empty() {
            return Err(
                ApiError::invalid("transactions", "must hold at least one transaction").into(),
            );
        }
        if batch.len() > MAX_BATCH {
            return Err(ApiError::invalid(
                "transactions",
                format!("must hold at most {MAX_BATCH} transactions"),
            )
            .into());
        }
        let mut violations = Vec::new();
        let mut inputs = Vec::with_capacity(batch.len());
        for (index, input) in batch.iter().enumerate() {
            match parse_input(index, input, request.get_ref().strict) {
                Ok(input) => inputs.push(input),
                Err(mut found) => violations.append(&mut found),
            }
        }
        if !violations.is_empty() {
            return Err(ApiError::from(violations).into());
        }
        let response = self.record(budget(&request), inputs).await?;
        Ok(Response::new(response))
    }

    async fn get_customer_value(
        &self,
        request: Request<pb::GetCustomerValueRequest>,
    ) -> Result<Response<pb::GetCustomerValueResponse>, Status> {
        let customer_id = self
            .resolve(&request, request.get_ref().customer.as_ref())
            .await?;
        let (value, scores, model) = tokio::try_join!(
            self.store.customer_value(&customer_id),
            self.store.customer_scores(&customer_id),
            self.store.latest_model(),
        )
        .map_err(ApiError::internal)?;
        Ok(Response::new(pb::GetCustomerValueResponse {
            value: Some(value_to_proto(
                value,
                scores.as_ref(),
                model.as_ref(),
                self.settings.horizon_periods,
            )),
        }))
    }

    async fn refit_models(
        &self,
        request: Request<pb::RefitModelsRequest>,
    ) -> Result<Response<pb::RefitModelsResponse>, Status> {
        let message = request.get_ref();
        let unit = if message.time_unit.is_empty() {
            self.settings.time_unit
        } else {
            TimeUnit::parse(&message.time_unit)
                .ok_or_else(|| ApiError::invalid("time_unit", "must be \"day\" or \"week\""))?
        };
        let end = match &message.observation_end {
            None => now_micros(),
            Some(at) => refit_time(at, "observation_end")?,
        };
        let holdout_end = match &message.holdout_end {
            None => None,
            Some(at) => {
                let holdout_end = refit_time(at, "holdout_end")?;
                // At least one whole day after the observation end: the summaries count
                // days.
                if day_of(holdout_end) <= day_of(end) {
                    return Err(ApiError::invalid(
                        "holdout_end",
                        "must be on a later day than observation_end",
                    )
                    .into());
                }
                Some(holdout_end)
            }
        };
        let outcome = run_refit(
            self.store.as_ref(),
            &self.settings,
            &self.refit_lock,
            end,
            unit,
            holdout_end,
        )
        .await?;
        Ok(Response::new(pb::RefitModelsResponse {
            model: Some(model_to_proto(&outcome.model, &outcome.diagnostics)),
            holdout: outcome.holdout,
        }))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let message = request.get_ref();
        let tier = tier_from_proto(message.tier)?;
        let segment = message.segment_id.trim();
        let filter = match (tier, segment.is_empty()) {
            (Some(_), false) => {
                return Err(
                    ApiError::invalid("segment_id", "give a tier or a segment, not both").into(),
                );
            }
            (Some(tier), true) => CustomerFilter::Tier(tier),
            (None, false) => CustomerFilter::Segment(segment.to_owned()),
            (None, true) => CustomerFilter::All,
        };
        let page = Page::parse(message.page.as_ref(), "page").map_err(ApiError::from)?;
        let after = page.after.as_deref().map(parse_cursor).transpose()?;
        let rows = self
            .store
            .list_scores(&filter, after, page.fetch_limit())
            .await
            .map_err(ApiError::internal)?;
        let (rows, page_response) = finish_page(&page, rows, |score| {
            format!("{}|{}", score.clv.to_bits(), score.customer_id)
        });
        Ok(Response::new(pb::ListCustomersResponse {
            customers: rows
                .into_iter()
                .map(|score| pb::CustomerValueSummary {
                    customer_id: score.customer_id,
                    predicted_clv: score.clv,
                    historical_value: score.historical,
                    tier: tier_to_proto(score.tier) as i32,
                    rank_percentile: score.rank_percentile,
                    segment_id: score.segment_id,
                })
                .collect(),
            page: Some(page_response),
        }))
    }

    async fn get_value_skew(
        &self,
        _request: Request<pb::GetValueSkewRequest>,
    ) -> Result<Response<pb::GetValueSkewResponse>, Status> {
        Ok(Response::new(self.skew_now().await?))
    }

    async fn get_customer_needs(
        &self,
        request: Request<pb::GetCustomerNeedsRequest>,
    ) -> Result<Response<pb::GetCustomerNeedsResponse>, Status> {
        let customer_id = self
            .resolve(&request, request.get_ref().customer.as_ref())
            .await?;
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
        let customer_type = match customer_type {
            CustomerType::LostForGood => pb::CustomerType::LostForGood,
            CustomerType::AlwaysAShare => pb::CustomerType::AlwaysAShare,
            CustomerType::Intermediate => pb::CustomerType::Intermediate,
        };
        Ok(Response::new(pb::GetCustomerNeedsResponse {
            needs: Some(pb::CustomerNeeds {
                customer_id,
                affinities: affinities
                    .into_iter()
                    .map(|a| pb::CategoryAffinity {
                        category: a.category,
                        share: a.share,
                        lift: a.lift,
                    })
                    .collect(),
                preferences: preferences.into_iter().map(preference_to_proto).collect(),
                segment_id: segment
                    .as_ref()
                    .map(|s| s.segment_id.clone())
                    .unwrap_or_default(),
                segment_label: segment.map(|s| s.label).unwrap_or_default(),
                customer_type: customer_type as i32,
                customer_type_explanation: explanation,
            }),
        }))
    }

    async fn get_strategy(
        &self,
        _request: Request<pb::GetStrategyRequest>,
    ) -> Result<Response<pb::GetStrategyResponse>, Status> {
        let skew = self.skew_now().await?;
        let snapshot = self
            .store
            .latest_snapshot()
            .await
            .map_err(ApiError::internal)?;
        let (needs_differentiation, needs_segments) = snapshot
            .as_ref()
            .map_or((0.0, 0), |s| (s.needs_differentiation, s.needs_segments));
        let top_20_share = skew
            .top_shares
            .iter()
            .find(|t| (t.top_percent - 20.0).abs() < 1e-9)
            .map_or(0.0, |t| t.value_share);
        Ok(Response::new(strategy(
            skew.gini,
            top_20_share,
            needs_differentiation,
            needs_segments,
            skew.computed_at,
            snapshot.is_some(),
        )))
    }

    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<pb::DifferentiationCustomerData>, Status> {
        let customer_id = self
            .resolve(&request, request.get_ref().customer.as_ref())
            .await?;
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
        Ok(Response::new(pb::DifferentiationCustomerData {
            transactions: transactions
                .iter()
                .map(|transaction| pb::ExportedTransaction {
                    transaction: Some(transaction_event(transaction)),
                    // The contract's historical form ("loyalty:12345", a customer id).
                    customer_reference: CustomerSelector::from_anchor(&transaction.anchor)
                        .map_or_else(
                            || transaction.anchor.clone(),
                            |selector| record_id(&selector),
                        ),
                })
                .collect(),
            preferences: preferences.into_iter().map(preference_to_proto).collect(),
            value: Some(value_to_proto(
                value,
                scores.as_ref(),
                model.as_ref(),
                self.settings.horizon_periods,
            )),
            customer_id,
        }))
    }
}

/// Peppers & Rogers' matrix: value skew x needs spread -> the focus.
pub fn strategy(
    gini: f64,
    top_20_share: f64,
    needs_differentiation: f64,
    needs_segments: u32,
    computed_at: Option<prost_types::Timestamp>,
    refitted: bool,
) -> pb::GetStrategyResponse {
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
    pb::GetStrategyResponse {
        gini,
        top_20_share,
        needs_differentiation,
        needs_segments,
        high_value_skew,
        high_needs_spread,
        focus: focus.to_owned(),
        explanation: format!("{figures}: {advice}{caveat}"),
        computed_at,
    }
}

/// The commitment and purchase pattern the Jackson rule needs.
fn commitment_of(
    purchases: &[(i64, u32)],
    preferences: &[crate::domain::Preference],
    now: i64,
) -> Commitment {
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

/// An expressed preference as the contracts show it.
fn preference_to_proto(preference: crate::domain::Preference) -> pb::ExpressedPreference {
    pb::ExpressedPreference {
        key: preference.key,
        value: preference.value,
        channel: preference.channel,
        expressed_at: Some(timestamp_from_micros(preference.expressed_at_micros)),
        interaction_id: preference.interaction_id,
    }
}
