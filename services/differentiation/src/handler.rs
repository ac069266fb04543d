//! gRPC handlers of `idic.v1.DifferentiationService`: each RPC parses and validates its
//! request, calls one use case of the service ([`crate::service`]) and converts the
//! answer ([`crate::convert`]).

use std::sync::Arc;
use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::differentiation_service_server::DifferentiationService;
use idic_runtime::ApiError;
use idic_runtime::customers::{self, RESOLVE_BUDGET};
use idic_runtime::error::{FieldViolation, refuse_violations};
use idic_runtime::limits;
use idic_runtime::paging::{Page, finish_page};
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::now_micros;
use idic_runtime::warnings::FieldWarnings;
use idic_value::TimeUnit;
use idic_value::skew::Tier;
use prost::Message as _;
use tonic::{Request, Response, Status};

use crate::convert::{
    customer_reference, holdout_to_proto, model_to_proto, needs_to_proto, preference_to_proto,
    strategy_to_proto, transaction_event, value_to_proto,
};
use crate::domain::{Amount, CustomerFilter, OrderLine, Transaction, TransactionKind, day_of};
use crate::refit::{self, tier_to_proto};
use crate::service::{self, Differentiation, Skew};

/// The most transactions in one RecordTransactions call.
pub const MAX_BATCH: usize = 1000;
/// The bus topic every new transaction is published on.
pub const TRANSACTIONS_TOPIC: &str = idic_proto::topics::TRANSACTIONS.name();

pub struct DifferentiationHandler {
    service: Arc<Differentiation>,
}

impl DifferentiationHandler {
    pub fn new(service: Arc<Differentiation>) -> Self {
        DifferentiationHandler { service }
    }

    async fn resolve<T>(
        &self,
        request: &Request<T>,
        reference: Option<&pb::CustomerRef>,
    ) -> Result<String, ApiError> {
        let selector = CustomerSelector::parse(reference, "customer")?;
        self.service.resolve(&selector, budget(request)).await
    }

    async fn skew_now(&self) -> Result<pb::GetValueSkewResponse, ApiError> {
        match self.service.skew().await? {
            Skew::Stored(encoded) => {
                pb::GetValueSkewResponse::decode(encoded.as_slice()).map_err(ApiError::internal)
            }
            Skew::Live {
                values,
                tiers,
                computed_at_micros,
            } => Ok(refit::skew_response(
                &values,
                &tiers,
                computed_at_micros,
                "historical_revenue",
            )),
        }
    }
}

fn budget<T>(request: &Request<T>) -> Duration {
    customers::budget(request, RESOLVE_BUDGET)
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
        refuse_violations(violations)?;
        let mut all_warnings = Vec::with_capacity(inputs.len());
        let mut transactions = Vec::with_capacity(inputs.len());
        for input in inputs {
            all_warnings.push(input.warnings);
            transactions.push((input.selector, input.transaction));
        }
        let recorded = self.service.record(budget(&request), transactions).await?;
        let mut response = pb::RecordTransactionsResponse::default();
        for ((transaction, outcome), warnings) in recorded.into_iter().zip(all_warnings) {
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
        Ok(Response::new(response))
    }

    async fn get_customer_value(
        &self,
        request: Request<pb::GetCustomerValueRequest>,
    ) -> Result<Response<pb::GetCustomerValueResponse>, Status> {
        let customer_id = self
            .resolve(&request, request.get_ref().customer.as_ref())
            .await?;
        let view = self.service.customer_value(&customer_id).await?;
        Ok(Response::new(pb::GetCustomerValueResponse {
            value: Some(value_to_proto(
                view,
                self.service.settings().horizon_periods,
            )),
        }))
    }

    async fn refit_models(
        &self,
        request: Request<pb::RefitModelsRequest>,
    ) -> Result<Response<pb::RefitModelsResponse>, Status> {
        let message = request.get_ref();
        let unit = if message.time_unit.is_empty() {
            self.service.settings().time_unit
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
        let outcome = self.service.refit(end, unit, holdout_end).await?;
        Ok(Response::new(pb::RefitModelsResponse {
            model: Some(model_to_proto(&outcome.model, &outcome.diagnostics)),
            holdout: outcome.holdout.map(|holdout| {
                holdout_to_proto(&holdout.check, holdout.end_micros, holdout.periods)
            }),
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
            .service
            .list_customers(&filter, after, page.fetch_limit())
            .await?;
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
        let profile = self.service.customer_needs(customer_id).await?;
        Ok(Response::new(pb::GetCustomerNeedsResponse {
            needs: Some(needs_to_proto(profile)),
        }))
    }

    async fn get_strategy(
        &self,
        _request: Request<pb::GetStrategyRequest>,
    ) -> Result<Response<pb::GetStrategyResponse>, Status> {
        let skew = self.skew_now().await?;
        let spread = self.service.needs_spread().await?;
        let (needs_differentiation, needs_segments) = spread.unwrap_or((0.0, 0));
        let top_20_share = skew
            .top_shares
            .iter()
            .find(|t| (t.top_percent - 20.0).abs() < 1e-9)
            .map_or(0.0, |t| t.value_share);
        let strategy = service::strategy(
            skew.gini,
            top_20_share,
            needs_differentiation,
            needs_segments,
            spread.is_some(),
        );
        Ok(Response::new(strategy_to_proto(strategy, skew.computed_at)))
    }

    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<pb::DifferentiationCustomerData>, Status> {
        let customer_id = self
            .resolve(&request, request.get_ref().customer.as_ref())
            .await?;
        let data = self.service.export(customer_id).await?;
        Ok(Response::new(pb::DifferentiationCustomerData {
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
            value: Some(value_to_proto(
                data.value,
                self.service.settings().horizon_periods,
            )),
            customer_id: data.customer_id,
        }))
    }
}
