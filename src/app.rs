//! The suite in one process: binds the ports, connects the shared resources, builds
//! the enabled services and serves them until stopped. `main`, the test kit and the
//! benchmarks all start the suite through [`Application`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use idic_runtime::admin::AdminServer;
use idic_runtime::config::{ApiKeyConfig, Secret};
use idic_runtime::server::{GrpcServer, ServiceRegistration};
use idic_runtime::{Config, ServiceContext, ServiceName};
use tokio_util::sync::CancellationToken;

/// The client name under which the services of one process call each other when
/// authentication is on and no `peers.api_key` is configured.
pub const INTERNAL_CLIENT: &str = "idic-internal";

pub struct Application {
    config: Arc<Config>,
    grpc: GrpcServer,
    admin: Option<AdminServer>,
    registrations: Vec<ServiceRegistration>,
    /// Tells the services that shutdown began.
    stopping: CancellationToken,
}

impl Application {
    /// Binds the listeners (port 0 picks a free one), connects storage, cache and bus,
    /// and builds the enabled services.
    pub async fn build(mut config: Config) -> anyhow::Result<Application> {
        let grpc = GrpcServer::bind(config.listen).await?;
        // Peers default to this process's own address: it must be the bound one.
        config.listen = grpc.local_addr();
        let peer_key = internal_peer_key(&mut config)?;
        let admin = match config.admin_listen {
            Some(address) => Some(AdminServer::bind(address).await?),
            None => None,
        };
        let config = Arc::new(config);
        let context = ServiceContext::connect(config.clone(), peer_key.as_ref()).await?;
        let mut registrations = Vec::new();
        for service in config.enabled_services() {
            let registration = build_service(service, &context)
                .await
                .with_context(|| format!("starting the {service} service"))?;
            registrations.push(registration);
        }
        Ok(Application {
            config,
            grpc,
            admin,
            registrations,
            stopping: context.shutdown.clone(),
        })
    }

    /// The bound gRPC address.
    pub fn grpc_address(&self) -> SocketAddr {
        self.grpc.local_addr()
    }

    /// The bound admin (metrics, healthz) address, if enabled.
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin
            .as_ref()
            .and_then(|admin| admin.local_addr().ok())
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves until `shutdown` completes, then drains in-flight calls (bounded).
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let admin = self.admin.map(|admin| {
            let stopped = stop.clone().cancelled_owned();
            tokio::spawn(admin.serve(stopped))
        });
        let grpc = self
            .grpc
            .serve(&self.config, self.registrations, async {
                shutdown.await;
                stop.cancel();
                self.stopping.cancel();
            })
            .await;
        stop.cancel();
        if let Some(admin) = admin {
            admin.await.context("admin server task")??;
        }
        grpc
    }
}

async fn build_service(
    service: ServiceName,
    context: &ServiceContext,
) -> anyhow::Result<ServiceRegistration> {
    match service {
        ServiceName::Identity => idic_identity::build(context).await,
        ServiceName::Differentiation => idic_differentiation::build(context).await,
        ServiceName::Interaction => idic_interaction::build(context).await,
        ServiceName::Customization => idic_customization::build(context).await,
    }
}

/// The key this process presents to its peers. With auth on and no configured key, the
/// all-in-one process mints one for itself; separate processes must share a configured
/// `peers.api_key`, since a minted key is known to this process only.
fn internal_peer_key(config: &mut Config) -> anyhow::Result<Option<Secret>> {
    if !config.auth_enabled() {
        return Ok(config.peers.api_key.clone());
    }
    if let Some(key) = &config.peers.api_key {
        return Ok(Some(key.clone()));
    }
    let remote_peers = [
        &config.peers.identity,
        &config.peers.differentiation,
        &config.peers.interaction,
        &config.peers.customization,
    ];
    if remote_peers.iter().any(|peer| peer.is_some()) {
        anyhow::bail!(
            "authentication is on and peers are configured: set peers.api_key (IDIC_PEERS__API_KEY) to a key the peers accept"
        );
    }
    let key = Secret::new(format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    ));
    let scopes = ServiceName::ALL
        .iter()
        .flat_map(|service| [format!("{service}:read"), format!("{service}:write")])
        .collect();
    config.auth.keys.push(ApiKeyConfig {
        client: INTERNAL_CLIENT.to_owned(),
        key: key.clone(),
        scopes,
    });
    Ok(Some(key))
}
