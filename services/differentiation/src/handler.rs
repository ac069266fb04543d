//! gRPC handlers of `idic.v1.DifferentiationService`: each RPC parses and validates its
//! request ([`crate::parse`]), calls one use case of the service ([`crate::service`])
//! and converts the answer ([`crate::convert`]).

use std::sync::Arc;
use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::differentiation_service_server::DifferentiationService;
use idic_runtime::customers::{self, RESOLVE_BUDGET};
use idic_runtime::paging::finish_page;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::parse;
use crate::service::Differentiation;

pub use crate::events::TRANSACTIONS_TOPIC;
pub use crate::parse::MAX_BATCH;

pub struct DifferentiationHandler {
    service: Arc<Differentiation>,
}

impl DifferentiationHandler {
    pub fn new(service: Arc<Differentiation>) -> Self {
        DifferentiationHandler { service }
    }

    /// Periods ahead a customer's predicted value covers, as the answers say.
    fn horizon(&self) -> u32 {
        self.service.settings().horizon_periods
    }
}

/// What identity may spend resolving the request's customer.
fn budget<T>(request: &Request<T>) -> Duration {
    customers::budget(request, RESOLVE_BUDGET)
}

#[tonic::async_trait]
impl DifferentiationService for DifferentiationHandler {
    async fn record_transactions(
        &self,
        request: Request<pb::RecordTransactionsRequest>,
    ) -> Result<Response<pb::RecordTransactionsResponse>, Status> {
        let batch = parse::transaction_batch(request.get_ref())?;
        let recorded = self
            .service
            .record(budget(&request), batch.transactions)
            .await?;
        Ok(Response::new(convert::recorded_to_proto(
            recorded,
            batch.warnings,
        )))
    }

    async fn get_customer_value(
        &self,
        request: Request<pb::GetCustomerValueRequest>,
    ) -> Result<Response<pb::GetCustomerValueResponse>, Status> {
        let selector = parse::customer(request.get_ref().customer.as_ref())?;
        let view = self
            .service
            .customer_value(&selector, budget(&request))
            .await?;
        Ok(Response::new(pb::GetCustomerValueResponse {
            value: Some(convert::value_to_proto(view, self.horizon())),
        }))
    }

    async fn refit_models(
        &self,
        request: Request<pb::RefitModelsRequest>,
    ) -> Result<Response<pb::RefitModelsResponse>, Status> {
        let default_unit = self.service.settings().time_unit;
        let refit = parse::refit_request(request.get_ref(), default_unit)?;
        let outcome = self
            .service
            .refit(
                refit.observation_end_micros,
                refit.unit,
                refit.holdout_end_micros,
            )
            .await?;
        Ok(Response::new(convert::refit_to_proto(&outcome)))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let list = parse::list_request(request.get_ref())?;
        let rows = self
            .service
            .list_customers(&list.filter, list.after, list.page.fetch_limit())
            .await?;
        let (rows, page) = finish_page(&list.page, rows, parse::cursor_of);
        Ok(Response::new(pb::ListCustomersResponse {
            customers: rows.into_iter().map(convert::summary_to_proto).collect(),
            page: Some(page),
        }))
    }

    async fn get_value_skew(
        &self,
        _request: Request<pb::GetValueSkewRequest>,
    ) -> Result<Response<pb::GetValueSkewResponse>, Status> {
        let skew = self.service.skew().await?;
        Ok(Response::new(convert::skew_to_proto(skew)))
    }

    async fn get_customer_needs(
        &self,
        request: Request<pb::GetCustomerNeedsRequest>,
    ) -> Result<Response<pb::GetCustomerNeedsResponse>, Status> {
        let selector = parse::customer(request.get_ref().customer.as_ref())?;
        let profile = self
            .service
            .customer_needs(&selector, budget(&request))
            .await?;
        Ok(Response::new(pb::GetCustomerNeedsResponse {
            needs: Some(convert::needs_to_proto(profile)),
        }))
    }

    async fn get_strategy(
        &self,
        _request: Request<pb::GetStrategyRequest>,
    ) -> Result<Response<pb::GetStrategyResponse>, Status> {
        let strategy = self.service.strategy().await?;
        Ok(Response::new(convert::strategy_to_proto(strategy)))
    }

    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<pb::DifferentiationCustomerData>, Status> {
        let selector = parse::customer(request.get_ref().customer.as_ref())?;
        let data = self.service.export(&selector, budget(&request)).await?;
        Ok(Response::new(convert::export_to_proto(
            data,
            self.horizon(),
        )))
    }
}
