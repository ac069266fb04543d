//! The differentiation service: what each customer is worth and what it needs.

#![forbid(unsafe_code)]

pub mod domain;
mod handler;
pub mod store;

use std::sync::Arc;

use idic_proto::v1::differentiation_service_server::DifferentiationServiceServer;
use idic_runtime::auth::Access;
use idic_runtime::server::ServiceRegistration;
use idic_runtime::{ServiceContext, ServiceName};

pub use handler::DifferentiationHandler;
pub use store::{DifferentiationStore, SqlDifferentiationStore};

/// Every RPC and the access it needs.
pub const METHODS: &[(&str, Access)] = &[("GetCustomerValue", Access::Read)];

/// Connects differentiation's storage and returns the service, ready to be served.
pub async fn build(context: &ServiceContext) -> anyhow::Result<ServiceRegistration> {
    let database = idic_runtime::storage::connect(
        &context.config,
        ServiceName::Differentiation,
        &store::MIGRATIONS,
    )
    .await?;
    let store: Arc<dyn DifferentiationStore> = Arc::new(SqlDifferentiationStore::new(database));
    let limit = context.config.grpc.max_message_bytes;
    let server = DifferentiationServiceServer::new(DifferentiationHandler::new(
        store,
        context.peers.clone(),
    ))
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit);
    Ok(ServiceRegistration {
        service: ServiceName::Differentiation,
        methods: METHODS,
        long_running: &[],
        add_routes: Box::new(move |routes| {
            routes.add_service(server);
        }),
    })
}
