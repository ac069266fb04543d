//! gRPC handlers of `idic.v1.CustomizationService`: each RPC parses and validates its
//! request ([`crate::parse`]), calls one use case of the service ([`crate::service`])
//! and converts the answer ([`crate::convert`]).

use std::sync::Arc;
use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::customization_service_server::CustomizationService;
use idic_runtime::ApiError;
use idic_runtime::middleware::Deadline;
use idic_runtime::paging::finish_page;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::service::Customization;
use crate::{convert, parse};

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

#[tonic::async_trait]
impl CustomizationService for CustomizationHandler {
    async fn list_components(
        &self,
        request: Request<pb::ListComponentsRequest>,
    ) -> Result<Response<pb::ListComponentsResponse>, Status> {
        let (slot, page) = parse::list_request(request.get_ref())?;
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
        let (components, violations) = parse::components(&request.get_ref().components)?;
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
        if message.rules.len() > parse::MAX_RULES {
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
        let offer_request = parse::offer_request(request.get_ref())?;
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
        let (selector, order) = parse::packaging_request(request.get_ref())?;
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
        let report = parse::outcome_report(request.get_ref())?;
        let recorded = self.service.record_outcome(report).await?;
        Ok(Response::new(convert::recorded_to_proto(recorded)))
    }

    async fn get_offering(
        &self,
        request: Request<pb::GetOfferingRequest>,
    ) -> Result<Response<pb::StoredOffering>, Status> {
        let offering_id =
            parse::offering_id(&request.get_ref().offering_id).map_err(ApiError::from)?;
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
        let selector = parse::customer(request.get_ref().customer.as_ref())?;
        let budget = self
            .deadline(&request)
            .saturating_duration_since(Instant::now());
        let data = self.service.export_customer(&selector, budget).await?;
        Ok(Response::new(convert::customer_data_to_proto(&data)))
    }
}
