//! The suite in one process: binds the ports, connects the shared resources, builds
//! the enabled services and serves them until stopped. `main`, the test kit and the
//! benchmarks all start the suite through [`Application`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use idic_runtime::admin::AdminServer;
use idic_runtime::auth::Authenticator;
use idic_runtime::config::{ApiKeyConfig, Secret};
use idic_runtime::peers::Peers;
use idic_runtime::server::{GrpcServer, ServiceRegistration, requirements};
use idic_runtime::{Config, ServiceContext, ServiceName};
use tokio_util::sync::CancellationToken;

use crate::console::{ConsoleState, SessionStore};

/// The client name under which the services of one process call each other when
/// authentication is on and no `peers.api_key` is configured.
pub const INTERNAL_CLIENT: &str = "idic-internal";

pub struct Application {
    config: Arc<Config>,
    grpc: GrpcServer,
    admin: Option<AdminServer>,
    /// The console and webhook routes served on the admin port beside the metrics.
    admin_routes: axum::Router,
    registrations: Vec<ServiceRegistration>,
    keys: KeyReloader,
    /// Tells the services that shutdown began.
    stopping: CancellationToken,
    /// What the services finish once calls are drained.
    after_drain: idic_runtime::shared::AfterDrain,
}

impl Application {
    /// Binds the listeners (port 0 picks a free one), connects storage, cache and bus,
    /// and builds the enabled services.
    pub async fn build(mut config: Config) -> anyhow::Result<Application> {
        let grpc = GrpcServer::bind(config.listen).await?;
        // Peers default to this process's own address: it must be the bound one.
        config.listen = grpc.local_addr();
        let internal_key = internal_peer_key(&mut config)?;
        let config = config.validated()?;
        check_peer_key_scopes(&config)?;
        idic_runtime::server::server_tls(&config)?;
        let peer_key = config.peers.api_key.clone();
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
        let authenticator = Authenticator::new(
            &config.auth.keys,
            requirements(&registrations),
            config.peers.api_key.as_ref(),
        )?;
        let admin_routes = admin_routes(&config, authenticator.clone())?;
        Ok(Application {
            config,
            grpc,
            admin,
            admin_routes,
            registrations,
            keys: KeyReloader {
                authenticator,
                internal_key,
            },
            stopping: context.shutdown.clone(),
            after_drain: context.after_drain.clone(),
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

    /// Replaces the accepted API keys while serving (see [`KeyReloader`]).
    pub fn key_reloader(&self) -> KeyReloader {
        self.keys.clone()
    }

    /// Serves until `shutdown` completes, then drains in-flight calls (bounded).
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let admin_routes = self.admin_routes;
        let admin = self.admin.map(|admin| {
            let stopped = stop.clone().cancelled_owned();
            tokio::spawn(admin.serve_with(admin_routes, stopped))
        });
        let grpc = self
            .grpc
            .serve(
                &self.config,
                self.registrations,
                self.keys.authenticator,
                async {
                    shutdown.await;
                    stop.cancel();
                    self.stopping.cancel();
                },
            )
            .await;
        self.after_drain.run().await;
        stop.cancel();
        if let Some(admin) = admin {
            admin.await.context("admin server task")??;
        }
        grpc
    }
}

/// The operator console and the Segment/RudderStack endpoint. Both call the services
/// over gRPC at their peer addresses with the caller's own key (not the peer key), so
/// they work the same in the all-in-one process and beside a single service whose
/// peers are configured, and never reach further than that key allows.
fn admin_routes(
    config: &Config,
    authenticator: Arc<Authenticator>,
) -> anyhow::Result<axum::Router> {
    let peers = Peers::from_config(config, None)?;
    let console = Arc::new(ConsoleState {
        sessions: SessionStore::default(),
        authenticator,
        peers: peers.clone(),
    });
    Ok(crate::console::router(console).merge(crate::segment_http::router(peers)))
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

/// Swaps the API keys a running process accepts, keeping the key the process minted
/// for its own peer calls.
#[derive(Clone)]
pub struct KeyReloader {
    authenticator: Arc<Authenticator>,
    internal_key: Option<ApiKeyConfig>,
}

impl KeyReloader {
    /// Accepts `config`'s keys from now on (it must have passed `Config::validated`);
    /// returns how many clients' keys are configured. On error the old keys stay.
    pub fn reload(&self, config: &Config) -> anyhow::Result<usize> {
        let mut effective = config.clone();
        effective.auth.keys.extend(self.internal_key.clone());
        check_peer_key_scopes(&effective)?;
        self.authenticator.replace_keys(&effective.auth.keys)?;
        Ok(config.auth.keys.len())
    }
}

/// Refuses to start (or reload) when the configured peer key is one of this process's
/// own keys but lacks a scope the enabled services need from their peers: otherwise the
/// first call that needs it would fail. A peer key this process does not know is
/// checked by the peers themselves, whose refusals name the missing scope.
fn check_peer_key_scopes(config: &Config) -> anyhow::Result<()> {
    let Some(peer_key) = &config.peers.api_key else {
        return Ok(());
    };
    let digest = idic_runtime::auth::digest_key(peer_key.expose());
    let Some(entry) = config
        .auth
        .keys
        .iter()
        .find(|key| key.digest().is_ok_and(|known| known == digest))
    else {
        if config.auth_enabled() {
            tracing::warn!(
                "peers.api_key is not among this process's auth.keys: its scopes cannot be checked at start"
            );
        }
        return Ok(());
    };
    for service in config.enabled_services() {
        for (scope, why) in idic_runtime::peers::scopes_needed_from_peers(service) {
            if !idic_runtime::auth::grants(&entry.scopes, scope) {
                anyhow::bail!(
                    "peers.api_key (client '{}') lacks scope '{scope}', which the {service} service needs to {why}: add it to that key's scopes",
                    entry.client
                );
            }
        }
    }
    Ok(())
}

/// The key this process presents to its peers, recorded as `peers.api_key`. With auth on
/// and no configured key, the all-in-one process mints one for itself (returned, so
/// that reloads keep it); separate processes must share a configured `peers.api_key`,
/// since a minted key is known to this process only.
fn internal_peer_key(config: &mut Config) -> anyhow::Result<Option<ApiKeyConfig>> {
    if !config.auth_enabled() || config.peers.api_key.is_some() {
        return Ok(None);
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
    let internal = ApiKeyConfig {
        client: INTERNAL_CLIENT.to_owned(),
        key: None,
        key_sha256: Some(idic_runtime::auth::hex_digest(key.expose())),
        scopes,
    };
    config.auth.keys.push(internal.clone());
    config.peers.api_key = Some(key);
    Ok(Some(internal))
}
