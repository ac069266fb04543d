//! The identity service: recognises the same customer at every touch point, from
//! partial and dirty records in every channel, and keeps one customer, with a golden
//! record, per person or organization, explainably and reversibly.

#![forbid(unsafe_code)]

mod auto_estimate;
mod convert;
/// The engine is its own crate (`crates/idic-engine`); re-exported under its old path.
pub use idic_engine as engine;
mod export;
mod handler;
pub mod replication;
pub mod service;
pub mod snapshot;
pub mod store;

use std::sync::Arc;

use idic_matching::normalize::NormalizeOptions;
use idic_proto::v1::identity_service_server::IdentityServiceServer;
use idic_runtime::auth::Access;
use idic_runtime::server::ServiceRegistration;
use idic_runtime::storage::Backend;
use idic_runtime::{ServiceContext, ServiceName};

pub use handler::IdentityHandler;
use replication::forward::Forwarder;
pub use service::{CHANGES_TOPIC, Identity};
pub use store::{IdentityStore, SqlIdentityStore};

/// Every RPC and the access it needs.
pub const METHODS: &[(&str, Access)] = &[
    ("UpsertRecord", Access::Write),
    ("ImportRecords", Access::Write),
    ("Resolve", Access::Read),
    ("GetCustomer", Access::Read),
    ("LookupCustomerId", Access::Lookup),
    ("ExplainMatch", Access::Read),
    ("Merge", Access::Write),
    ("Unmerge", Access::Write),
    ("GetMergeHistory", Access::Read),
    ("EraseCustomer", Access::Admin),
    ("ExportCustomer", Access::Admin),
    ("ExportClusters", Access::Read),
    ("WatchChanges", Access::Read),
    ("EstimateParameters", Access::Admin),
    ("Recluster", Access::Admin),
];

/// Reports the engine's records and customers at every scrape, while it lives.
fn watch_engine_size(identity: &Arc<Identity>) {
    let watched = Arc::downgrade(identity);
    idic_runtime::observability::on_scrape(move || {
        let Some(identity) = watched.upgrade() else {
            return false;
        };
        let engine = identity.read();
        idic_runtime::observability::record_identity_engine(
            engine.record_count(),
            engine.customer_count(),
        );
        true
    });
}

/// Connects identity's storage, rebuilds the engine from it and returns the service. On
/// PostgreSQL the process is one replica of several: the leader, or a follower of the
/// leader's log (`replication`).
pub async fn build(context: &ServiceContext) -> anyhow::Result<ServiceRegistration> {
    let config = &context.config;
    let database =
        idic_runtime::storage::connect(config, ServiceName::Identity, &store::MIGRATIONS).await?;
    // Change events reach the bus through the outbox their change set writes, so an
    // erasure reaches the other services even if the process dies after the commit.
    let outbox = idic_runtime::outbox::spawn_relay(
        database.clone(),
        context.bus.clone(),
        context.shutdown.clone(),
    );
    let settings = engine::Settings {
        threshold: engine::MatchThreshold::from_config(
            config.identity.match_probability,
            config.identity.match_threshold,
        ),
        source_trust: config.identity.source_trust.clone(),
    };
    let normalize = NormalizeOptions {
        default_region: config.identity.default_region.clone(),
    };
    let snapshots = snapshot::from_config(config, database.backend)?;
    let identity = match (database.backend, snapshots.clone()) {
        (Backend::Sqlite, Some(snapshots)) => {
            let store: Arc<dyn IdentityStore> = Arc::new(SqlIdentityStore::new(database));
            Identity::start_single(store, settings, normalize, outbox, snapshots).await?
        }
        (Backend::Sqlite, None) => {
            let store: Arc<dyn IdentityStore> = Arc::new(SqlIdentityStore::new(database));
            Identity::start(store, settings, normalize, outbox).await?
        }
        (Backend::Postgres, snapshots) => {
            replication::follow::start(replication::follow::ReplicaOptions {
                database,
                settings,
                normalize,
                outbox,
                address: advertised_address(config),
                shutdown: context.shutdown.clone(),
                snapshots,
            })
            .await?
        }
    };
    if let Some(snapshots) = snapshots {
        snapshot::spawn_schedule(&identity, snapshots.clone(), context.shutdown.clone());
        context
            .after_drain
            .add(snapshot::at_shutdown(identity.clone(), snapshots));
    }
    watch_engine_size(&identity);
    let readiness = identity.replication().readiness();
    let limit = config.grpc.max_message_bytes;
    let server = IdentityServiceServer::new(
        IdentityHandler::new(identity, context.shutdown.clone())
            .with_auto_estimate(config.identity.auto_estimate)
            .with_peers(context.peers.clone())
            .with_forwarding(Forwarder::new(config.grpc.tls_cert_file.is_none(), limit)),
    )
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit);
    Ok(ServiceRegistration {
        service: ServiceName::Identity,
        methods: METHODS,
        long_running: &[
            "ImportRecords",
            "ExportClusters",
            "WatchChanges",
            "Recluster",
        ],
        readiness: Some(readiness),
        add_routes: Box::new(move |routes| {
            routes.add_service(server);
        }),
    })
}

/// Where the other replicas reach this one: the configured address, else the listen
/// address.
fn advertised_address(config: &idic_runtime::Config) -> String {
    if config.identity.advertise_address.is_empty() {
        config.listen.to_string()
    } else {
        config.identity.advertise_address.clone()
    }
}
