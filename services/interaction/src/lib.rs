//! The interaction service: every contact with a customer, so that the next one picks
//! up where the last left off.

#![forbid(unsafe_code)]

pub mod domain;
mod handler;
pub mod store;

use std::sync::Arc;

use idic_proto::v1::interaction_service_server::InteractionServiceServer;
use idic_runtime::auth::Access;
use idic_runtime::server::ServiceRegistration;
use idic_runtime::{ServiceContext, ServiceName};

pub use handler::InteractionHandler;
pub use store::{InteractionStore, SqlInteractionStore};

/// Every RPC and the access it needs.
pub const METHODS: &[(&str, Access)] = &[("ListTimeline", Access::Read)];

/// Connects interaction's storage and returns the service, ready to be served.
pub async fn build(context: &ServiceContext) -> anyhow::Result<ServiceRegistration> {
    let database = idic_runtime::storage::connect(
        &context.config,
        ServiceName::Interaction,
        &store::MIGRATIONS,
    )
    .await?;
    let store: Arc<dyn InteractionStore> = Arc::new(SqlInteractionStore::new(database));
    let limit = context.config.grpc.max_message_bytes;
    let server =
        InteractionServiceServer::new(InteractionHandler::new(store, context.peers.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
    Ok(ServiceRegistration {
        service: ServiceName::Interaction,
        methods: METHODS,
        long_running: &[],
        add_routes: Box::new(move |routes| {
            routes.add_service(server);
        }),
    })
}
