//! gRPC handlers of `idic.v1.CustomizationService`: parse and validate the request,
//! call the use case, convert the answer.

use std::sync::Arc;
use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::customization_service_server::CustomizationService;
use idic_runtime::error::{collect, refuse_violations};
use idic_runtime::middleware::Deadline;
use idic_runtime::paging::{Page, finish_page};
use idic_runtime::refs::CustomerSelector;
use idic_runtime::{ApiError, FieldViolation, limits};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::convert::component_to_proto;
use crate::service::{Customization, OfferRequest};

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
            components: components.iter().map(component_to_proto).collect(),
            page: Some(page),
        }))
    }

    async fn upsert_components(
        &self,
        request: Request<pb::UpsertComponentsRequest>,
    ) -> Result<Response<pb::UpsertComponentsResponse>, Status> {
        let (changed, unchanged) = self
            .service
            .upsert_components(&request.get_ref().components)
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
        Ok(Response::new(
            self.service.rules(request.get_ref().version).await?,
        ))
    }

    async fn publish_rules(
        &self,
        request: Request<pb::PublishRulesRequest>,
    ) -> Result<Response<pb::OfferRuleSet>, Status> {
        let message = request.get_ref();
        if message.rules.len() > 10_000 {
            return Err(ApiError::invalid("rules", "at most 10000 rules").into());
        }
        Ok(Response::new(
            self.service
                .publish_rules(&message.rules, message.expected_version)
                .await?,
        ))
    }

    async fn get_tailored_offering(
        &self,
        request: Request<pb::GetTailoredOfferingRequest>,
    ) -> Result<Response<pb::Offering>, Status> {
        let deadline = self.deadline(&request);
        let message = request.into_inner();
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
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let offering = self
            .service
            .tailored_offering(
                OfferRequest {
                    selector,
                    order: message.order,
                    channel: message.channel,
                    occasion: message.occasion.trim().to_owned(),
                    idempotency_key: (!key.is_empty()).then(|| key.to_owned()),
                },
                deadline,
            )
            .await?;
        Ok(Response::new(offering))
    }

    async fn get_packaging_options(
        &self,
        request: Request<pb::GetPackagingOptionsRequest>,
    ) -> Result<Response<pb::GetPackagingOptionsResponse>, Status> {
        let deadline = self.deadline(&request);
        let message = request.get_ref();
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
        let (Some(selector), true) = (selector, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        Ok(Response::new(
            self.service
                .packaging_options(&selector, message.order.as_ref(), deadline)
                .await?,
        ))
    }

    async fn record_outcome(
        &self,
        request: Request<pb::RecordOutcomeRequest>,
    ) -> Result<Response<pb::RecordOutcomeResponse>, Status> {
        let message = request.get_ref();
        let mut violations = Vec::new();
        check_channel(message.channel, "channel", &mut violations);
        refuse_violations(violations)?;
        Ok(Response::new(self.service.record_outcome(message).await?))
    }

    async fn get_offering(
        &self,
        request: Request<pb::GetOfferingRequest>,
    ) -> Result<Response<pb::StoredOffering>, Status> {
        Ok(Response::new(
            self.service
                .offering(&request.get_ref().offering_id)
                .await?,
        ))
    }

    async fn get_learning_report(
        &self,
        request: Request<pb::GetLearningReportRequest>,
    ) -> Result<Response<pb::LearningReport>, Status> {
        let period_seconds = request.get_ref().period_seconds;
        Ok(Response::new(
            self.service.learning_report(period_seconds).await?,
        ))
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
        Ok(Response::new(
            self.service.export_customer(&selector, budget).await?,
        ))
    }
}
