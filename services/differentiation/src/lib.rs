//! The differentiation service: what each customer is worth (revenue, RFM, BG/NBD and
//! Gamma-Gamma lifetime value, tiers, skew) and what it needs (affinities, expressed
//! preferences, segments, Jackson type), and the one-to-one strategy that follows.

#![forbid(unsafe_code)]

pub mod base_cache;
pub mod convert;
pub mod domain;
pub mod events;
pub mod handler;
pub mod listen;
mod parse;
pub mod refit;
pub mod rescore;
pub mod service;
pub mod skew;
pub mod store;
pub mod summaries;

use std::sync::Arc;
use std::time::Duration;

use idic_proto::v1::differentiation_service_server::DifferentiationServiceServer;
use idic_runtime::auth::Access;
use idic_runtime::config::DifferentiationConfig;
use idic_runtime::server::ServiceRegistration;
use idic_runtime::storage::now_micros;
use idic_runtime::{ServiceContext, ServiceName};
use idic_value::TimeUnit;
use idic_value::skew::TierCutoffs;

pub use handler::DifferentiationHandler;
pub use service::Differentiation;
pub use store::{DifferentiationStore, SqlDifferentiationStore};

/// Every RPC and the access it needs.
pub const METHODS: &[(&str, Access)] = &[
    ("RecordTransactions", Access::Write),
    ("GetCustomerValue", Access::Read),
    ("RefitModels", Access::Write),
    ("ListCustomers", Access::Read),
    ("GetValueSkew", Access::Read),
    ("GetCustomerNeeds", Access::Read),
    ("GetStrategy", Access::Read),
    ("ExportCustomerData", Access::Admin),
];

/// RPCs that may run longer than the request deadline cap (a refit over a large base).
const LONG_RUNNING: &[&str] = &["RefitModels"];

/// The value settings of the configuration, validated.
pub fn settings(config: &DifferentiationConfig) -> anyhow::Result<refit::ValueSettings> {
    let time_unit = TimeUnit::parse(&config.time_unit)
        .ok_or_else(|| anyhow::anyhow!("differentiation.time_unit must be \"day\" or \"week\""))?;
    let [a, b, c] = config.tier_cutoffs;
    let cutoffs = TierCutoffs { a, b, c };
    anyhow::ensure!(
        cutoffs.is_valid(),
        "differentiation.tier_cutoffs must rise within (0, 1]: got {:?}",
        config.tier_cutoffs
    );
    anyhow::ensure!(
        config.horizon_periods > 0,
        "differentiation.horizon_periods must be positive"
    );
    Ok(refit::ValueSettings {
        time_unit,
        horizon_periods: config.horizon_periods,
        cutoffs,
        model_currency: config.model_currency.clone(),
        max_segments: config.max_segments.clamp(2, 20),
    })
}

/// Connects differentiation's storage and returns the service, ready to be served.
pub async fn build(context: &ServiceContext) -> anyhow::Result<ServiceRegistration> {
    let settings = settings(&context.config.differentiation)?;
    let database = idic_runtime::storage::connect(
        &context.config,
        ServiceName::Differentiation,
        &store::MIGRATIONS,
    )
    .await?;
    let store: Arc<dyn DifferentiationStore> = Arc::new(SqlDifferentiationStore::new(database));
    let refit_lock = Arc::new(tokio::sync::Mutex::new(()));
    idic_runtime::follow::spawn_identity_follower(
        context,
        listen::GROUP,
        Arc::new(listen::IdentityFollower {
            store: store.clone(),
            peers: context.peers.clone(),
            settings: settings.clone(),
            refit_lock: refit_lock.clone(),
        }),
    );
    listen::spawn_interaction_listener(context, store.clone());
    spawn_scheduled_refits(context, store.clone(), settings.clone(), refit_lock.clone());
    let limit = context.config.grpc.max_message_bytes;
    let service = Arc::new(service::Differentiation::new(
        store,
        context.peers.clone(),
        context.bus.clone(),
        settings,
        refit_lock,
    ));
    let server = DifferentiationServiceServer::new(DifferentiationHandler::new(service))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    Ok(ServiceRegistration {
        readiness: None,
        service: ServiceName::Differentiation,
        methods: METHODS,
        long_running: LONG_RUNNING,
        add_routes: Box::new(move |routes| {
            routes.add_service(server);
        }),
    })
}

/// Refits every `refit_interval_secs` (0: never), the first one after one interval.
fn spawn_scheduled_refits(
    context: &ServiceContext,
    store: Arc<dyn DifferentiationStore>,
    settings: refit::ValueSettings,
    lock: Arc<tokio::sync::Mutex<()>>,
) {
    let interval_secs = context.config.differentiation.refit_interval_secs;
    if interval_secs == 0 {
        return;
    }
    let shutdown = context.shutdown.clone();
    tokio::spawn(async move {
        let interval = Duration::from_secs(interval_secs);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            let outcome = service::run_refit(
                store.as_ref(),
                &settings,
                &lock,
                now_micros(),
                settings.time_unit,
                None,
            )
            .await;
            if let Err(error) = outcome {
                tracing::warn!(%error, "scheduled refit did not run");
            }
        }
    });
}
