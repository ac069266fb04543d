//! Requests of `idic.v1.CustomizationService` parsed into domain values, every bad
//! field named (collected with `idic_runtime::error::{collect, refuse_violations}`).

use idic_offer::{Component, Slot};
use idic_proto::v1 as pb;
use idic_runtime::error::{collect, refuse_violations};
use idic_runtime::paging::Page;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::{ApiError, ApiResult, FieldViolation, limits};

use crate::convert;
use crate::domain::{OfferRequest, Order, OutcomeKind, OutcomeReport, SlotOutcome};

const MAX_ORDER_LINES: usize = 1000;

/// Checks an order's lines, naming `field.lines[i].…`.
fn check_order(order: Option<&pb::OfferOrder>, field: &str, violations: &mut Vec<FieldViolation>) {
    let Some(order) = order else { return };
    if order.order_id.len() > 128 {
        violations.push(FieldViolation::new(
            format!("{field}.order_id"),
            "must be at most 128 bytes",
        ));
    }
    if order.lines.len() > MAX_ORDER_LINES {
        violations.push(FieldViolation::new(
            format!("{field}.lines"),
            format!("at most {MAX_ORDER_LINES} lines"),
        ));
        return;
    }
    for (index, line) in order.lines.iter().enumerate() {
        let path = |name: &str| format!("{field}.lines[{index}].{name}");
        if line.quantity == 0 {
            violations.push(FieldViolation::new(path("quantity"), "must be at least 1"));
        }
        if let Err(violation) = limits::check_quantity(line.quantity, &path("quantity")) {
            violations.push(violation);
        }
        if line.product_id.len() > 128 || line.category.len() > 128 {
            violations.push(FieldViolation::new(
                path("product_id"),
                "product_id and category: at most 128 bytes",
            ));
        }
        if let Some(price) = &line.unit_price {
            if price.minor_units < 0 {
                violations.push(FieldViolation::new(
                    path("unit_price.minor_units"),
                    "must not be negative",
                ));
            }
            if let Err(violation) =
                limits::check_money(price.minor_units, &path("unit_price.minor_units"))
            {
                violations.push(violation);
            }
        }
    }
}

fn check_channel(channel: i32, field: &str, violations: &mut Vec<FieldViolation>) {
    if pb::Channel::try_from(channel).is_err() {
        violations.push(FieldViolation::new(field, "is not a known channel"));
    }
}

/// The most components in one UpsertComponents call.
const MAX_COMPONENTS: usize = 1000;
/// The most rules in one PublishRules call.
pub const MAX_RULES: usize = 10_000;

/// The components of an UpsertComponents request, with the violations found in them
/// before the catalog is checked (currency, money range).
pub fn components(changes: &[pb::Component]) -> ApiResult<(Vec<Component>, Vec<FieldViolation>)> {
    if changes.is_empty() {
        return Err(ApiError::invalid("components", "must not be empty"));
    }
    if changes.len() > MAX_COMPONENTS {
        return Err(ApiError::invalid("components", "at most 1000 per request"));
    }
    let mut violations: Vec<FieldViolation> = changes
        .iter()
        .enumerate()
        .filter_map(|(index, component)| convert::price_currency_violation(index, component))
        .collect();
    for (index, component) in changes.iter().enumerate() {
        violations.extend(convert::money_range_violations(index, component));
    }
    let components = changes.iter().map(convert::component_from_proto).collect();
    Ok((components, violations))
}

/// An offering id: 1 to 64 bytes once trimmed.
pub fn offering_id(id: &str) -> Result<String, FieldViolation> {
    let id = id.trim();
    if id.is_empty() || id.len() > 64 {
        return Err(FieldViolation::new("offering_id", "must be 1 to 64 bytes"));
    }
    Ok(id.to_owned())
}

/// One reported outcome: a known slot, a known kind, `changed_to` only for CHANGED.
fn slot_outcome(
    index: usize,
    outcome: &pb::SlotOutcome,
    violations: &mut Vec<FieldViolation>,
) -> Option<SlotOutcome> {
    let field = |name: &str| format!("outcomes[{index}].{name}");
    let Some(slot) = Slot::from_wire(outcome.slot) else {
        violations.push(FieldViolation::new(field("slot"), "must name a known slot"));
        return None;
    };
    let Some(kind) = convert::outcome_kind_from_proto(outcome.outcome) else {
        violations.push(FieldViolation::new(
            field("outcome"),
            "must be ACCEPTED, REJECTED or CHANGED",
        ));
        return None;
    };
    let changed_to = outcome.changed_to.trim();
    if kind != OutcomeKind::Changed && !changed_to.is_empty() {
        violations.push(FieldViolation::new(
            field("changed_to"),
            "is only for CHANGED",
        ));
        return None;
    }
    Some(SlotOutcome {
        slot,
        kind,
        changed_to: changed_to.to_owned(),
    })
}

/// A RecordOutcome request: the offering, the channel and every outcome parsed, each
/// slot once. Whether they fit the offering is checked by the service.
pub fn outcome_report(message: &pb::RecordOutcomeRequest) -> ApiResult<OutcomeReport> {
    let mut violations = Vec::new();
    let offering_id = collect(offering_id(&message.offering_id), &mut violations);
    check_channel(message.channel, "channel", &mut violations);
    if message.outcomes.is_empty() {
        violations.push(FieldViolation::new("outcomes", "must not be empty"));
    }
    let mut outcomes: Vec<SlotOutcome> = Vec::new();
    for (index, outcome) in message.outcomes.iter().enumerate() {
        let Some(outcome) = slot_outcome(index, outcome, &mut violations) else {
            continue;
        };
        if outcomes.iter().any(|seen| seen.slot == outcome.slot) {
            violations.push(FieldViolation::new(
                format!("outcomes[{index}].slot"),
                "is given twice",
            ));
            continue;
        }
        outcomes.push(outcome);
    }
    refuse_violations(violations)?;
    Ok(OutcomeReport {
        offering_id: offering_id.unwrap_or_default(),
        channel: message.channel,
        outcomes,
    })
}

/// A GetTailoredOffering request, every bad field named.
pub fn offer_request(message: &pb::GetTailoredOfferingRequest) -> ApiResult<OfferRequest> {
    let mut violations = Vec::new();
    let selector = collect(
        CustomerSelector::parse(message.customer.as_ref(), "customer"),
        &mut violations,
    );
    check_order(message.order.as_ref(), "order", &mut violations);
    check_channel(message.channel, "channel", &mut violations);
    if message.occasion.len() > 200 {
        violations.push(FieldViolation::new("occasion", "must be at most 200 bytes"));
    }
    let key = message.idempotency_key.trim();
    if key.len() > 128 {
        violations.push(FieldViolation::new(
            "idempotency_key",
            "must be at most 128 bytes",
        ));
    }
    let (Some(selector), true) = (selector, violations.is_empty()) else {
        return Err(ApiError::InvalidArgument(violations));
    };
    Ok(OfferRequest {
        selector,
        order: message.order.as_ref().map(convert::order_from_proto),
        channel: message.channel,
        occasion: message.occasion.trim().to_owned(),
        idempotency_key: (!key.is_empty()).then(|| key.to_owned()),
    })
}

/// A GetPackagingOptions request: the customer and an order of at least one line.
pub fn packaging_request(
    message: &pb::GetPackagingOptionsRequest,
) -> ApiResult<(CustomerSelector, Order)> {
    let mut violations = Vec::new();
    let selector = collect(
        CustomerSelector::parse(message.customer.as_ref(), "customer"),
        &mut violations,
    );
    if message
        .order
        .as_ref()
        .is_none_or(|order| order.lines.is_empty())
    {
        violations.push(FieldViolation::new(
            "order.lines",
            "an order with at least one line is required",
        ));
    }
    check_order(message.order.as_ref(), "order", &mut violations);
    let (Some(selector), Some(order), true) =
        (selector, message.order.as_ref(), violations.is_empty())
    else {
        return Err(ApiError::InvalidArgument(violations));
    };
    Ok((selector, convert::order_from_proto(order)))
}

/// A ListComponents request: the slot (`None`: every slot, as a wire number) and the
/// page.
pub fn list_request(message: &pb::ListComponentsRequest) -> ApiResult<(Option<i32>, Page)> {
    let mut violations = Vec::new();
    let slot = match pb::Slot::try_from(message.slot) {
        Ok(pb::Slot::Unspecified) => None,
        Ok(slot) => Some(slot as i32),
        Err(_) => {
            violations.push(FieldViolation::new("slot", "is not a known slot"));
            None
        }
    };
    let page = collect(Page::parse(message.page.as_ref(), "page"), &mut violations);
    let (Some(page), true) = (page, violations.is_empty()) else {
        return Err(ApiError::InvalidArgument(violations));
    };
    Ok((slot, page))
}

/// The reference of a request about one customer.
pub fn customer(reference: Option<&pb::CustomerRef>) -> ApiResult<CustomerSelector> {
    Ok(CustomerSelector::parse(reference, "customer")?)
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

    fn outcome(slot: Slot, kind: pb::OutcomeKind, changed_to: &str) -> pb::SlotOutcome {
        pb::SlotOutcome {
            slot: slot.wire(),
            outcome: kind as i32,
            changed_to: changed_to.into(),
        }
    }

    #[test]
    fn an_outcome_report_names_every_bad_outcome() {
        let message = pb::RecordOutcomeRequest {
            offering_id: "  ".into(),
            outcomes: vec![
                outcome(Slot::Packaging, pb::OutcomeKind::Accepted, ""),
                pb::SlotOutcome {
                    slot: 99,
                    ..pb::SlotOutcome::default()
                },
                outcome(Slot::Delivery, pb::OutcomeKind::Unspecified, ""),
                outcome(Slot::Delivery, pb::OutcomeKind::Rejected, "other"),
                outcome(Slot::Packaging, pb::OutcomeKind::Rejected, ""),
            ],
            channel: 999,
        };
        let error = outcome_report(&message).err().unwrap();
        assert_eq!(
            fields(error),
            [
                "offering_id",
                "channel",
                "outcomes[1].slot",
                "outcomes[2].outcome",
                "outcomes[3].changed_to",
                "outcomes[4].slot",
            ]
        );
    }

    #[test]
    fn an_outcome_report_keeps_each_outcome_trimmed() {
        let message = pb::RecordOutcomeRequest {
            offering_id: " off_1 ".into(),
            outcomes: vec![outcome(
                Slot::Packaging,
                pb::OutcomeKind::Changed,
                " plain-box ",
            )],
            channel: 0,
        };
        let report = outcome_report(&message).unwrap();
        assert_eq!(report.offering_id, "off_1");
        assert_eq!(
            report.outcomes,
            [SlotOutcome {
                slot: Slot::Packaging,
                kind: OutcomeKind::Changed,
                changed_to: "plain-box".into(),
            }]
        );
        let empty = pb::RecordOutcomeRequest {
            offering_id: "off_1".into(),
            ..pb::RecordOutcomeRequest::default()
        };
        assert_eq!(fields(outcome_report(&empty).err().unwrap()), ["outcomes"]);
    }

    #[test]
    fn packaging_needs_an_order_line() {
        let message = pb::GetPackagingOptionsRequest {
            customer: None,
            order: None,
        };
        let found = fields(packaging_request(&message).err().unwrap());
        assert!(found.contains(&"order.lines".to_owned()), "{found:?}");
        assert!(found.contains(&"customer".to_owned()), "{found:?}");
    }
}
