//! The identity service: recognises the same customer at every touch point and keeps
//! one customer, with a golden record, per person or organization.

#![forbid(unsafe_code)]

pub mod domain;
mod handler;
pub mod store;

use std::sync::Arc;

use idic_proto::v1::identity_service_server::IdentityServiceServer;
use idic_runtime::auth::Access;
use idic_runtime::server::ServiceRegistration;
use idic_runtime::{ServiceContext, ServiceName};

pub use handler::IdentityHandler;
pub use store::{IdentityStore, SqlIdentityStore};

/// Every RPC and the access it needs.
pub const METHODS: &[(&str, Access)] = &[("GetCustomer", Access::Read)];

/// Connects identity's storage and returns the service, ready to be served.
pub async fn build(context: &ServiceContext) -> anyhow::Result<ServiceRegistration> {
    let database =
        idic_runtime::storage::connect(&context.config, ServiceName::Identity, &store::MIGRATIONS)
            .await?;
    let store: Arc<dyn IdentityStore> = Arc::new(SqlIdentityStore::new(database));
    let limit = context.config.grpc.max_message_bytes;
    let server = IdentityServiceServer::new(IdentityHandler::new(store))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    Ok(ServiceRegistration {
        service: ServiceName::Identity,
        methods: METHODS,
        add_routes: Box::new(move |routes| {
            routes.add_service(server);
        }),
    })
}
