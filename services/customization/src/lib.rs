//! The customization service: each customer's offering assembled from modular
//! components of a catalog, chosen by authored rules, by what the customer chose
//! before and by what customers of the same needs segment accept, with a reason for
//! every choice; degraded, never broken, when a dependency is slow or down.

#![forbid(unsafe_code)]

mod breaker;
mod convert;
pub mod deps;
pub mod domain;
mod events;
mod follow;
mod handler;
mod parse;
pub mod service;
pub mod store;
mod stored;

use std::sync::Arc;
use std::time::Duration;

use idic_proto::v1::customization_service_server::CustomizationServiceServer;
use idic_runtime::auth::Access;
use idic_runtime::server::ServiceRegistration;
use idic_runtime::{ServiceContext, ServiceName};

pub use breaker::CircuitBreaker;
pub use handler::CustomizationHandler;
pub use service::{Customization, OFFERS_TOPIC};
pub use store::{CustomizationStore, SqlCustomizationStore};

/// Every RPC and the access it needs.
pub const METHODS: &[(&str, Access)] = &[
    ("ListComponents", Access::Read),
    ("UpsertComponents", Access::Write),
    ("GetRules", Access::Read),
    ("PublishRules", Access::Write),
    ("GetTailoredOffering", Access::Read),
    ("GetPackagingOptions", Access::Read),
    ("RecordOutcome", Access::Write),
    ("GetOffering", Access::Read),
    ("GetLearningReport", Access::Read),
    ("ExportCustomerData", Access::Admin),
];

/// How often a replica re-reads the catalog, rules and bandit arms others wrote.
const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Connects customization's storage and returns the service, ready to be served.
pub async fn build(context: &ServiceContext) -> anyhow::Result<ServiceRegistration> {
    let database = idic_runtime::storage::connect(
        &context.config,
        ServiceName::Customization,
        &store::MIGRATIONS,
    )
    .await?;
    let store: Arc<dyn CustomizationStore> = Arc::new(SqlCustomizationStore::new(database));
    let settings = context.config.customization.clone();
    let deps = Arc::new(deps::Dependencies::new(
        context.peers.clone(),
        context.cache.clone(),
        settings.clone(),
    ));
    let service = Arc::new(Customization::new(
        store.clone(),
        deps.clone(),
        context.bus.clone(),
        settings,
    ));
    service.reload().await?;
    spawn_reloader(service.clone(), context.shutdown.clone());
    idic_runtime::follow::spawn_identity_follower(
        context,
        "customization",
        Arc::new(follow::Follower {
            store,
            deps,
            peers: context.peers.clone(),
        }),
    );
    let limit = context.config.grpc.max_message_bytes;
    let max_request = Duration::from_millis(context.config.grpc.max_request_ms);
    let server = CustomizationServiceServer::new(CustomizationHandler::new(service, max_request))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    Ok(ServiceRegistration {
        readiness: None,
        service: ServiceName::Customization,
        methods: METHODS,
        long_running: &[],
        add_routes: Box::new(move |routes| {
            routes.add_service(server);
        }),
    })
}

fn spawn_reloader(service: Arc<Customization>, shutdown: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RELOAD_EVERY) => {}
            }
            if let Err(error) = service.reload().await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "reloading the catalog and arms failed"
                );
            }
        }
    });
}
