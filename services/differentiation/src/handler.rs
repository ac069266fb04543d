//! gRPC handlers of `idic.v1.DifferentiationService`.

use std::sync::Arc;
use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::differentiation_service_server::DifferentiationService;
use idic_runtime::ApiError;
use idic_runtime::middleware::Deadline;
use idic_runtime::peers::Peers;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::timestamp_from_micros;
use tonic::{Request, Response, Status};

use crate::domain::{Amount, CustomerValue};
use crate::store::DifferentiationStore;

/// The most a call to identity may take of the caller's deadline.
const RESOLVE_BUDGET: Duration = Duration::from_secs(2);

pub struct DifferentiationHandler {
    store: Arc<dyn DifferentiationStore>,
    peers: Peers,
}

impl DifferentiationHandler {
    pub fn new(store: Arc<dyn DifferentiationStore>, peers: Peers) -> Self {
        DifferentiationHandler { store, peers }
    }
}

#[tonic::async_trait]
impl DifferentiationService for DifferentiationHandler {
    async fn get_customer_value(
        &self,
        request: Request<pb::GetCustomerValueRequest>,
    ) -> Result<Response<pb::GetCustomerValueResponse>, Status> {
        let selector = CustomerSelector::parse(request.get_ref().customer.as_ref(), "customer")
            .map_err(ApiError::from)?;
        let budget = Deadline::of(&request).map_or(RESOLVE_BUDGET, |deadline| {
            deadline.remaining().min(RESOLVE_BUDGET)
        });
        let customer_id = self.peers.resolve_customer(&selector, budget).await?;
        let value = self
            .store
            .customer_value(&customer_id)
            .await
            .map_err(ApiError::internal)?;
        Ok(Response::new(pb::GetCustomerValueResponse {
            value: Some(value_to_proto(value)),
        }))
    }
}

fn money(amount: Amount) -> pb::Money {
    pb::Money {
        currency: amount.currency,
        minor_units: amount.minor_units,
    }
}

fn value_to_proto(value: CustomerValue) -> pb::CustomerValue {
    pb::CustomerValue {
        customer_id: value.customer_id,
        revenue: value.revenue.into_iter().map(money).collect(),
        margin: value.margin.into_iter().map(money).collect(),
        order_count: value.order_count,
        first_purchase_at: value.first_purchase_micros.map(timestamp_from_micros),
        last_purchase_at: value.last_purchase_micros.map(timestamp_from_micros),
    }
}
