//! The interaction service: every contact with a customer, so that the next one picks
//! up where the last left off: timelines, threads across channels, the agent's context,
//! consent, Segment ingest and the channel report.
//!
//! Layers: `handler` (gRPC: `convert::requests` validates, one call to the service,
//! `convert::answers` answers) -> `service` (the use cases, no protobuf) -> `store`
//! (SQL). `adapters` hold the protobuf of the calls to identity and differentiation and
//! of the bus events; `domain`, `segment` and `report` are pure.

#![forbid(unsafe_code)]

pub mod adapters;
mod consumers;
pub mod convert;
pub mod domain;
mod follow;
mod handler;
pub mod recorder;
mod report;
pub mod resolve;
pub mod segment;
pub mod service;
pub mod store;

use std::sync::Arc;

use idic_runtime::auth::Access;
use idic_runtime::server::ServiceRegistration;
use idic_runtime::{ServiceContext, ServiceName};

pub use consumers::{OFFERS_TOPIC, TRANSACTIONS_TOPIC};
pub use follow::InteractionFollower;
pub use handler::InteractionHandler;
/// Segment events one IngestSegmentEvents call may carry.
pub use handler::MAX_BATCH as MAX_SEGMENT_BATCH;
pub use recorder::{INTERACTIONS_TOPIC, Recorder};
pub use service::Interactions;
pub use store::{InteractionStore, SqlInteractionStore};

/// Every RPC and the access it needs.
pub const METHODS: &[(&str, Access)] = &[
    ("RecordInteraction", Access::Write),
    ("RecordInteractions", Access::Write),
    ("GetContext", Access::Read),
    ("ListTimeline", Access::Read),
    ("StreamTimeline", Access::Read),
    ("StreamInteractions", Access::Read),
    ("GetThread", Access::Read),
    ("ListThreads", Access::Read),
    ("IngestSegmentEvents", Access::Write),
    ("RecordConsent", Access::Write),
    ("CheckConsent", Access::Read),
    ("GetPreferences", Access::Read),
    ("GetChannelReport", Access::Read),
    ("ExportCustomerData", Access::Admin),
];

/// Connects interaction's storage, starts its writer, bus consumers and identity
/// follower, and returns the service, ready to be served.
pub async fn build(context: &ServiceContext) -> anyhow::Result<ServiceRegistration> {
    let database = idic_runtime::storage::connect(
        &context.config,
        ServiceName::Interaction,
        &store::MIGRATIONS,
    )
    .await?;
    let outbox = idic_runtime::outbox::spawn_relay(
        database.clone(),
        context.bus.clone(),
        context.shutdown.clone(),
    );
    let store: Arc<dyn InteractionStore> = Arc::new(SqlInteractionStore::new(database));
    let core = Arc::new(Interactions {
        store: store.clone(),
        peers: context.peers.clone(),
        recorder: Recorder::start(store.clone(), outbox),
        bus: context.bus.clone(),
        shutdown: context.shutdown.clone(),
    });
    consumers::spawn(core.clone());
    idic_runtime::follow::spawn_identity_follower(
        context,
        "interaction",
        Arc::new(InteractionFollower {
            store,
            peers: context.peers.clone(),
        }),
    );
    let server = handler::server(core, context.config.grpc.max_message_bytes);
    Ok(ServiceRegistration {
        readiness: None,
        service: ServiceName::Interaction,
        methods: METHODS,
        long_running: &["StreamTimeline", "StreamInteractions"],
        add_routes: Box::new(move |routes| {
            routes.add_service(server);
        }),
    })
}
