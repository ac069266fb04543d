//! Requests of `idic.v1.DifferentiationService` parsed into domain values: every bad
//! field named (collected with `idic_runtime::error::{collect, refuse_violations}`), an
//! unreadable optional field kept out with a warning.

use idic_proto::v1 as pb;
use idic_runtime::error::{FieldViolation, collect, refuse_violations};
use idic_runtime::limits;
use idic_runtime::paging::Page;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::now_micros;
use idic_runtime::warnings::FieldWarnings;
use idic_runtime::{ApiError, ApiResult};
use idic_value::TimeUnit;
use idic_value::skew::Tier;

use crate::domain::{Amount, CustomerFilter, OrderLine, Transaction, TransactionKind, day_of};

/// The most transactions in one RecordTransactions call.
pub const MAX_BATCH: usize = 1000;

/// A RecordTransactions batch: each transaction with the reference of its customer,
/// and the warnings of each, in order.
pub struct TransactionBatch {
    pub transactions: Vec<(CustomerSelector, Transaction)>,
    pub warnings: Vec<FieldWarnings>,
}

/// Parses every transaction of the batch; refuses the whole batch naming every bad
/// field of every transaction.
pub fn transaction_batch(request: &pb::RecordTransactionsRequest) -> ApiResult<TransactionBatch> {
    let batch = &request.transactions;
    if batch.is_empty() {
        return Err(ApiError::invalid(
            "transactions",
            "must hold at least one transaction",
        ));
    }
    if batch.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "transactions",
            format!("must hold at most {MAX_BATCH} transactions"),
        ));
    }
    let mut violations = Vec::new();
    let mut parsed = TransactionBatch {
        transactions: Vec::with_capacity(batch.len()),
        warnings: Vec::with_capacity(batch.len()),
    };
    for (index, input) in batch.iter().enumerate() {
        match parse_input(index, input, request.strict) {
            Ok(input) => {
                parsed
                    .transactions
                    .push((input.selector, input.transaction));
                parsed.warnings.push(input.warnings);
            }
            Err(mut found) => violations.append(&mut found),
        }
    }
    refuse_violations(violations)?;
    Ok(parsed)
}

/// What RefitModels asks for.
pub struct RefitRequest {
    pub observation_end_micros: i64,
    pub unit: TimeUnit,
    pub holdout_end_micros: Option<i64>,
}

/// A RefitModels request; an empty time unit is `default_unit`, a missing observation
/// end is now.
pub fn refit_request(
    message: &pb::RefitModelsRequest,
    default_unit: TimeUnit,
) -> ApiResult<RefitRequest> {
    let mut violations = Vec::new();
    let unit = if message.time_unit.is_empty() {
        Some(default_unit)
    } else {
        collect(
            TimeUnit::parse(&message.time_unit)
                .ok_or_else(|| FieldViolation::new("time_unit", "must be \"day\" or \"week\"")),
            &mut violations,
        )
    };
    let end = match &message.observation_end {
        None => Some(now_micros()),
        Some(at) => collect(
            limits::instant_micros(at, "observation_end"),
            &mut violations,
        ),
    };
    let holdout_end = match &message.holdout_end {
        None => None,
        Some(at) => collect(limits::instant_micros(at, "holdout_end"), &mut violations),
    };
    // At least one whole day after the observation end: the summaries count days.
    if let (Some(end), Some(holdout_end)) = (end, holdout_end)
        && day_of(holdout_end) <= day_of(end)
    {
        violations.push(FieldViolation::new(
            "holdout_end",
            "must be on a later day than observation_end",
        ));
    }
    refuse_violations(violations)?;
    let (Some(unit), Some(end)) = (unit, end) else {
        return Err(ApiError::invalid("observation_end", "is invalid"));
    };
    Ok(RefitRequest {
        observation_end_micros: end,
        unit,
        holdout_end_micros: holdout_end,
    })
}

/// What ListCustomers asks for: the filter, the page, and the position (value,
/// customer id) the page starts after.
pub struct ListRequest {
    pub filter: CustomerFilter,
    pub page: Page,
    pub after: Option<(f64, String)>,
}

pub fn list_request(message: &pb::ListCustomersRequest) -> ApiResult<ListRequest> {
    let mut violations = Vec::new();
    let tier = collect(tier_from_proto(message.tier), &mut violations).flatten();
    let segment = message.segment_id.trim();
    let filter = match (tier, segment.is_empty()) {
        (Some(_), false) => {
            violations.push(FieldViolation::new(
                "segment_id",
                "give a tier or a segment, not both",
            ));
            CustomerFilter::All
        }
        (Some(tier), true) => CustomerFilter::Tier(tier),
        (None, false) => CustomerFilter::Segment(segment.to_owned()),
        (None, true) => CustomerFilter::All,
    };
    let page = collect(Page::parse(message.page.as_ref(), "page"), &mut violations);
    let after = page
        .as_ref()
        .and_then(|page| page.after.as_deref())
        .and_then(|cursor| collect(parse_cursor(cursor), &mut violations));
    refuse_violations(violations)?;
    let Some(page) = page else {
        return Err(ApiError::invalid("page", "is invalid"));
    };
    Ok(ListRequest {
        filter,
        page,
        after,
    })
}

/// The reference of a request about one customer.
pub fn customer(reference: Option<&pb::CustomerRef>) -> ApiResult<CustomerSelector> {
    Ok(CustomerSelector::parse(reference, "customer")?)
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
    let amount = parse_amount(index, input.amount.as_ref(), &mut violations);
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
    let lines: Vec<OrderLine> = input
        .lines
        .iter()
        .enumerate()
        .map(|(line_index, line)| {
            let prefix = path(&format!("lines[{line_index}]"));
            parse_line(
                &prefix,
                line,
                amount.as_ref(),
                &mut violations,
                &mut warnings,
            )
        })
        .collect();
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
    let mut lines = lines;
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

/// The transaction's amount: required, an ISO 4217 currency, not negative (returns and
/// refunds are deducted by their kind), within the suite's money bound.
fn parse_amount(
    index: usize,
    amount: Option<&pb::Money>,
    violations: &mut Vec<FieldViolation>,
) -> Option<pb::Money> {
    let field = format!("transactions[{index}].amount.minor_units");
    match amount {
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
        Some(money) => collect(limits::check_money(money.minor_units, &field), violations)
            .map(|_| money.clone()),
        None => {
            violations.push(violation(index, "amount", "is required"));
            None
        }
    }
}

/// One order line (`prefix` is its path, `transactions[i].lines[j]`). The quantity
/// and amount must be within the suite's bounds; a product or category that cannot be
/// read, a negative amount or an amount in another currency than the transaction's
/// `total` is left out with a warning.
fn parse_line(
    prefix: &str,
    line: &pb::OrderLine,
    total: Option<&pb::Money>,
    violations: &mut Vec<FieldViolation>,
    warnings: &mut FieldWarnings,
) -> OrderLine {
    let field = |name: &str| format!("{prefix}.{name}");
    let mut readable_text = |text: &str, max: usize, name: &str| {
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
    let product = if readable_text(&line.product, 256, "product") {
        line.product.trim().to_owned()
    } else {
        String::new()
    };
    let category = if readable_text(&line.category, 128, "category") {
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
    if let (Some(money), Some(total)) = (&line.amount, total)
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
    OrderLine {
        product,
        category,
        quantity: line.quantity,
        amount_minor: line_amount,
    }
}

fn tier_from_proto(value: i32) -> Result<Option<Tier>, FieldViolation> {
    match pb::Tier::try_from(value) {
        Ok(pb::Tier::Unspecified) => Ok(None),
        Ok(pb::Tier::A) => Ok(Some(Tier::A)),
        Ok(pb::Tier::B) => Ok(Some(Tier::B)),
        Ok(pb::Tier::C) => Ok(Some(Tier::C)),
        Ok(pb::Tier::D) => Ok(Some(Tier::D)),
        Err(_) => Err(FieldViolation::new("tier", "is not a Tier")),
    }
}

/// Parses a page cursor "clv|customer_id".
fn parse_cursor(cursor: &str) -> Result<(f64, String), FieldViolation> {
    cursor
        .split_once('|')
        .and_then(|(value, id)| Some((f64::from_bits(value.parse::<u64>().ok()?), id.to_owned())))
        .ok_or_else(|| FieldViolation::new("page.page_token", "is not a token this server issued"))
}

/// The cursor of the page after `score` (see `parse_cursor`).
pub fn cursor_of(score: &crate::domain::CustomerScores) -> String {
    format!("{}|{}", score.clv.to_bits(), score.customer_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::InvalidArgument(violations) => {
                violations.into_iter().map(|v| v.field).collect()
            }
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn a_refit_request_names_every_bad_field() {
        let message = pb::RefitModelsRequest {
            time_unit: "month".into(),
            observation_end: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            holdout_end: Some(prost_types::Timestamp {
                seconds: 1_700_000_100,
                nanos: 0,
            }),
        };
        let error = refit_request(&message, TimeUnit::Week).err().unwrap();
        assert_eq!(fields(error), ["time_unit", "holdout_end"]);
    }

    #[test]
    fn a_refit_request_defaults_its_unit_and_has_no_holdout() {
        let refit = refit_request(&pb::RefitModelsRequest::default(), TimeUnit::Week).unwrap();
        assert_eq!(refit.unit, TimeUnit::Week);
        assert_eq!(refit.holdout_end_micros, None);
    }

    #[test]
    fn a_list_request_takes_a_tier_or_a_segment_not_both() {
        let message = pb::ListCustomersRequest {
            tier: pb::Tier::A as i32,
            segment_id: "seg-1".into(),
            ..pb::ListCustomersRequest::default()
        };
        assert_eq!(
            fields(list_request(&message).err().unwrap()),
            ["segment_id"]
        );
        let by_tier = list_request(&pb::ListCustomersRequest {
            tier: pb::Tier::B as i32,
            ..pb::ListCustomersRequest::default()
        })
        .unwrap();
        assert_eq!(by_tier.filter, CustomerFilter::Tier(Tier::B));
        let unknown = pb::ListCustomersRequest {
            tier: 42,
            ..pb::ListCustomersRequest::default()
        };
        assert_eq!(fields(list_request(&unknown).err().unwrap()), ["tier"]);
    }

    #[test]
    fn a_cursor_reads_back_as_written() {
        let cursor = format!("{}|cus_1", 12.5_f64.to_bits());
        assert_eq!(parse_cursor(&cursor).unwrap(), (12.5, "cus_1".into()));
        assert!(parse_cursor("no bar").is_err());
    }
}
