//! gRPC handlers of `idic.v1.CustomizationService`: parse and validate the request,
//! call the use case, convert the answer.

use std::sync::Arc;
use std::time::Duration;

use idic_offer::{Component, Slot};
use idic_proto::v1 as pb;
use idic_proto::v1::customization_service_server::CustomizationService;
use idic_runtime::error::{collect, refuse_violations};
use idic_runtime::middleware::Deadline;
use idic_runtime::paging::{Page, finish_page};
use idic_runtime::refs::CustomerSelector;
use idic_runtime::{ApiError, ApiResult, FieldViolation, limits};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::domain::{OfferRequest, Order, OutcomeReport, SlotOutcome};
use crate::service::Customization;

pub struct CustomizationHandler {
    service: Arc<Customization>,
    max_request: Duration,
}

impl CustomizationHandler {
    pub fn new(service: Arc<Customization>, max_request: Duration) -> Self {
        CustomizationHandler {
            service,
            max_request,
        }
    }

    /// When the call must be answered: the deadline layer's, else the server maximum.
    fn deadline<T>(&self, request: &Request<T>) -> Instant {
        Deadline::of(request)
            .map_or_else(|| Instant::now() + self.max_request, |deadline| deadline.0)
    }
}

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
const MAX_RULES: usize = 10_000;

/// The components of an UpsertComponents request, with the violations found in them
/// before the catalog is checked (currency, money range).
fn components(changes: &[pb::Component]) -> ApiResult<(Vec<Component>, Vec<FieldViolation>)> {
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
fn offering_id(id: &str) -> Result<String, FieldViolation> {
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
    if kind != crate::domain::OutcomeKind::Changed && !changed_to.is_empty() {
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
fn outcome_report(message: &pb::RecordOutcomeRequest) -> ApiResult<OutcomeReport> {
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
fn offer_request(message: &pb::GetTailoredOfferingRequest) -> ApiResult<OfferRequest> {
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
fn packaging_request(
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

#[tonic::async_trait]
impl CustomizationService for CustomizationHandler {
    async fn list_components(
        &self,
        request: Request<pb::ListComponentsRequest>,
    ) -> Result<Response<pb::ListComponentsResponse>, Status> {
        let message = request.get_ref();
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
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let components = self
            .service
            .list_components(slot, page.after.as_deref(), page.fetch_limit())
            .await?;
        let (components, page) = finish_page(&page, components, |component| component.id.clone());
        Ok(Response::new(pb::ListComponentsResponse {
            components: components.iter().map(convert::component_to_proto).collect(),
            page: Some(page),
        }))
    }

    async fn upsert_components(
        &self,
        request: Request<pb::UpsertComponentsRequest>,
    ) -> Result<Response<pb::UpsertComponentsResponse>, Status> {
        let (components, violations) = components(&request.get_ref().components)?;
        let (changed, unchanged) = self
            .service
            .upsert_components(components, violations)
            .await?;
        Ok(Response::new(pb::UpsertComponentsResponse {
            changed,
            unchanged,
        }))
    }

    async fn get_rules(
        &self,
        request: Request<pb::GetRulesRequest>,
    ) -> Result<Response<pb::OfferRuleSet>, Status> {
        let rules = self.service.rules(request.get_ref().version).await?;
        Ok(Response::new(convert::rules_to_proto(&rules)))
    }

    async fn publish_rules(
        &self,
        request: Request<pb::PublishRulesRequest>,
    ) -> Result<Response<pb::OfferRuleSet>, Status> {
        let message = request.get_ref();
        if message.rules.len() > MAX_RULES {
            return Err(ApiError::invalid("rules", "at most 10000 rules").into());
        }
        let rules = message.rules.iter().map(convert::rule_from_proto).collect();
        let published = self
            .service
            .publish_rules(rules, message.expected_version)
            .await?;
        Ok(Response::new(convert::rules_to_proto(&published)))
    }

    async fn get_tailored_offering(
        &self,
        request: Request<pb::GetTailoredOfferingRequest>,
    ) -> Result<Response<pb::Offering>, Status> {
        let deadline = self.deadline(&request);
        let offer_request = offer_request(request.get_ref())?;
        let offering = self
            .service
            .tailored_offering(offer_request, deadline)
            .await?;
        Ok(Response::new(convert::offering_to_proto(&offering)))
    }

    async fn get_packaging_options(
        &self,
        request: Request<pb::GetPackagingOptionsRequest>,
    ) -> Result<Response<pb::GetPackagingOptionsResponse>, Status> {
        let deadline = self.deadline(&request);
        let (selector, order) = packaging_request(request.get_ref())?;
        let options = self
            .service
            .packaging_options(&selector, &order, deadline)
            .await?;
        Ok(Response::new(convert::packaging_to_proto(options)))
    }

    async fn record_outcome(
        &self,
        request: Request<pb::RecordOutcomeRequest>,
    ) -> Result<Response<pb::RecordOutcomeResponse>, Status> {
        let report = outcome_report(request.get_ref())?;
        let recorded = self.service.record_outcome(report).await?;
        Ok(Response::new(convert::recorded_to_proto(recorded)))
    }

    async fn get_offering(
        &self,
        request: Request<pb::GetOfferingRequest>,
    ) -> Result<Response<pb::StoredOffering>, Status> {
        let offering_id = offering_id(&request.get_ref().offering_id).map_err(ApiError::from)?;
        let stored = self.service.offering(&offering_id).await?;
        Ok(Response::new(convert::stored_offering_to_proto(&stored)))
    }

    async fn get_learning_report(
        &self,
        request: Request<pb::GetLearningReportRequest>,
    ) -> Result<Response<pb::LearningReport>, Status> {
        let period_seconds = request.get_ref().period_seconds;
        let report = self.service.learning_report(period_seconds).await?;
        Ok(Response::new(convert::learning_report_to_proto(&report)))
    }

    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<pb::CustomizationCustomerData>, Status> {
        let selector = CustomerSelector::parse(request.get_ref().customer.as_ref(), "customer")
            .map_err(ApiError::from)?;
        let budget = self
            .deadline(&request)
            .saturating_duration_since(Instant::now());
        let data = self.service.export_customer(&selector, budget).await?;
        Ok(Response::new(convert::customer_data_to_proto(&data)))
    }
}
