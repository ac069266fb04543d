//! The customization service: each customer's offering assembled from modular
//! components of a catalog.

#![forbid(unsafe_code)]

pub mod domain;
mod handler;
pub mod store;

use std::sync::Arc;

use idic_proto::v1::customization_service_server::CustomizationServiceServer;
use idic_runtime::auth::Access;
use idic_runtime::server::ServiceRegistration;
use idic_runtime::{ServiceContext, ServiceName};

pub use handler::CustomizationHandler;
pub use store::{CustomizationStore, SqlCustomizationStore};

/// Every RPC and the access it needs.
pub const METHODS: &[(&str, Access)] = &[("ListComponents", Access::Read)];

/// Connects customization's storage and returns the service, ready to be served.
pub async fn build(context: &ServiceContext) -> anyhow::Result<ServiceRegistration> {
    let database = idic_runtime::storage::connect(
        &context.config,
        ServiceName::Customization,
        &store::MIGRATIONS,
    )
    .await?;
    let store: Arc<dyn CustomizationStore> = Arc::new(SqlCustomizationStore::new(database));
    let limit = context.config.grpc.max_message_bytes;
    let server = CustomizationServiceServer::new(CustomizationHandler::new(store))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    Ok(ServiceRegistration {
        service: ServiceName::Customization,
        methods: METHODS,
        long_running: &[],
        add_routes: Box::new(move |routes| {
            routes.add_service(server);
        }),
    })
}
