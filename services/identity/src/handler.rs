//! gRPC handlers of `idic.v1.IdentityService`: wire <-> domain, validation at the edge.

use std::sync::Arc;

use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_server::IdentityService;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::timestamp_from_micros;
use idic_runtime::{ApiError, ApiResult};
use tonic::{Request, Response, Status};

use crate::domain::{Customer, IdentifierKey};
use crate::store::IdentityStore;

pub struct IdentityHandler {
    store: Arc<dyn IdentityStore>,
}

impl IdentityHandler {
    pub fn new(store: Arc<dyn IdentityStore>) -> Self {
        IdentityHandler { store }
    }

    /// The one customer `selector` names, or why there is none.
    async fn find_customer(&self, selector: &CustomerSelector) -> ApiResult<Customer> {
        let customer_id = match selector {
            CustomerSelector::Id(id) => self
                .store
                .surviving_id(id)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::not_found(format!("no customer with id {id}")))?,
            CustomerSelector::Identifier {
                kind,
                system,
                value,
            } => {
                let key = IdentifierKey::normalized(*kind as i32, system, value);
                let mut matches = self
                    .store
                    .customers_with_identifier(&key)
                    .await
                    .map_err(ApiError::internal)?;
                match matches.len() {
                    0 => return Err(ApiError::not_found("no customer has this identifier")),
                    1 => matches.remove(0),
                    count => {
                        return Err(ApiError::FailedPrecondition(format!(
                            "the identifier belongs to {count} customers; use Resolve to rank them"
                        )));
                    }
                }
            }
        };
        self.store
            .customer(&customer_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(format!("no customer with id {customer_id}")))
    }
}

#[tonic::async_trait]
impl IdentityService for IdentityHandler {
    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::GetCustomerResponse>, Status> {
        let selector = CustomerSelector::parse(request.get_ref().customer.as_ref(), "customer")
            .map_err(ApiError::from)?;
        let customer = self.find_customer(&selector).await?;
        Ok(Response::new(pb::GetCustomerResponse {
            customer: Some(customer_to_proto(customer)),
        }))
    }
}

fn customer_to_proto(customer: Customer) -> pb::Customer {
    let golden = customer.golden;
    pb::Customer {
        customer_id: customer.customer_id,
        golden: Some(pb::GoldenRecord {
            given_name: golden.given_name,
            middle_name: golden.middle_name,
            family_name: golden.family_name,
            organization_name: golden.organization_name,
            date_of_birth: golden.date_of_birth,
            emails: golden.emails,
            phones: golden.phones,
            addresses: golden
                .addresses
                .into_iter()
                .map(|address| pb::PostalAddress {
                    street_number: address.street_number,
                    street: address.street,
                    address_line2: address.address_line2,
                    locality: address.locality,
                    postcode: address.postcode,
                    region: address.region,
                    country: address.country,
                })
                .collect(),
            identifiers: golden
                .identifiers
                .into_iter()
                .map(|identifier| pb::Identifier {
                    kind: identifier.kind,
                    value: identifier.value,
                    system: identifier.system,
                    address: None,
                })
                .collect(),
        }),
        records: customer
            .records
            .into_iter()
            .map(|record| pb::SourceRecordRef {
                source_system: record.source_system,
                source_record_id: record.source_record_id,
                channel: record.channel,
                observed_at: Some(timestamp_from_micros(record.observed_at_micros)),
            })
            .collect(),
        aliases: customer.aliases,
        created_at: Some(timestamp_from_micros(customer.created_at_micros)),
        updated_at: Some(timestamp_from_micros(customer.updated_at_micros)),
    }
}
