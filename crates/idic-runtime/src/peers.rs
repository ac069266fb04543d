//! Clients for calling the other services. A peer is reached at its configured address
//! or, by default, at this process's own listen address, so the same code serves the
//! all-in-one process and separate Deployments. Every call carries the trace context
//! and, when the peer requires it, this process's API key and the client the call is
//! made for (see [`crate::delegation`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;

use anyhow::Context as _;
use idic_proto::topics::{self, IdentityChange};
use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::{Config, Secret, ServiceName};
use crate::peer_calls::ObservedChannel;
use crate::telemetry::inject_context;

/// Adds the trace context and credentials to every outgoing call.
#[derive(Clone, Default)]
pub struct PeerInterceptor {
    authorization: Option<MetadataValue<Ascii>>,
}

impl PeerInterceptor {
    pub fn new(api_key: Option<&Secret>) -> anyhow::Result<Self> {
        let authorization = api_key
            .map(|key| format!("Bearer {}", key.expose()).parse())
            .transpose()
            .context("the peer API key is not valid in a header")?;
        Ok(PeerInterceptor { authorization })
    }
}

impl Interceptor for PeerInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_context(request.metadata_mut());
        crate::delegation::add_headers(request.metadata_mut());
        // A call made with its client's own credentials (identity's ExportCustomer
        // gathering the other services' parts) keeps them: it must not reach further
        // than that client's key.
        if let Some(authorization) = &self.authorization
            && !request.metadata().contains_key("authorization")
        {
            request
                .metadata_mut()
                .insert("authorization", authorization.clone());
        }
        Ok(request)
    }
}

pub type PeerChannel = InterceptedService<Channel, PeerInterceptor>;

/// A peer channel whose calls get a client span and latency metrics; what [`Peers`]
/// hands out.
pub type ObservedPeerChannel = InterceptedService<ObservedChannel, PeerInterceptor>;

/// Lazily connected channels to each service, and the cache of resolved references.
#[derive(Clone)]
pub struct Peers {
    identity: ObservedChannel,
    differentiation: ObservedChannel,
    interaction: ObservedChannel,
    customization: ObservedChannel,
    interceptor: PeerInterceptor,
    resolved: Arc<ResolveCache>,
}

impl Peers {
    pub fn from_config(config: &Config, api_key: Option<&Secret>) -> anyhow::Result<Peers> {
        let channel = |service| peer_channel(config, service).map(ObservedChannel::new);
        Ok(Peers {
            identity: channel(ServiceName::Identity)?,
            differentiation: channel(ServiceName::Differentiation)?,
            interaction: channel(ServiceName::Interaction)?,
            customization: channel(ServiceName::Customization)?,
            interceptor: PeerInterceptor::new(api_key)?,
            resolved: Arc::new(ResolveCache::new(
                config.peers.resolve_cache_entries,
                Duration::from_millis(config.peers.resolve_cache_ttl_ms),
            )),
        })
    }

    /// The cache of resolved references, for the task that keeps it right.
    pub fn resolve_cache(&self) -> &Arc<ResolveCache> {
        &self.resolved
    }

    pub fn identity(&self) -> IdentityServiceClient<ObservedPeerChannel> {
        IdentityServiceClient::with_interceptor(self.identity.clone(), self.interceptor.clone())
    }

    pub fn differentiation(&self) -> DifferentiationServiceClient<ObservedPeerChannel> {
        DifferentiationServiceClient::with_interceptor(
            self.differentiation.clone(),
            self.interceptor.clone(),
        )
    }

    pub fn interaction(&self) -> InteractionServiceClient<ObservedPeerChannel> {
        InteractionServiceClient::with_interceptor(
            self.interaction.clone(),
            self.interceptor.clone(),
        )
    }

    pub fn customization(&self) -> CustomizationServiceClient<ObservedPeerChannel> {
        CustomizationServiceClient::with_interceptor(
            self.customization.clone(),
            self.interceptor.clone(),
        )
    }
}

/// The channel to `service`: this process's own TLS listener is reached with its own
/// certificate pinned (see [`crate::own_tls`]); any other address as configured.
fn peer_channel(config: &Config, service: ServiceName) -> anyhow::Result<Channel> {
    let Some(served_certificate) = config
        .grpc
        .tls_cert_file
        .as_deref()
        .filter(|_| config.peer_is_this_process(service))
    else {
        return channel(config, &config.peer_address(service));
    };
    let address = config.own_socket_address();
    // The connector speaks TLS itself; the URI only names the authority.
    let endpoint = endpoint(&format!("http://{address}"))?;
    crate::own_tls::channel(
        endpoint,
        address,
        served_certificate,
        own_client_identity(config),
    )
}

/// What this process presents to its own listener when that asks for a client
/// certificate: the peer certificate if configured, else the served one (which must then
/// also be valid for client authentication; see the README).
fn own_client_identity(config: &Config) -> Option<crate::own_tls::ClientIdentity<'_>> {
    config.grpc.tls_client_ca_file.as_ref()?;
    let (certificate_file, key_file) =
        match (&config.peers.tls_cert_file, &config.peers.tls_key_file) {
            (Some(certificate), Some(key)) => (certificate, key),
            _ => (
                config.grpc.tls_cert_file.as_ref()?,
                config.grpc.tls_key_file.as_ref()?,
            ),
        };
    Some(crate::own_tls::ClientIdentity {
        certificate_file,
        key_file,
    })
}

fn endpoint(address: &str) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(address.to_owned())
        .with_context(|| format!("peer address '{address}' is not a URL"))?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true))
}

fn channel(config: &Config, address: &str) -> anyhow::Result<Channel> {
    let mut endpoint = endpoint(address)?;
    if address.starts_with("https://") {
        endpoint = endpoint.tls_config(peer_tls(config)?)?;
    }
    Ok(endpoint.connect_lazy())
}

fn peer_tls(config: &Config) -> anyhow::Result<ClientTlsConfig> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    };
    let mut tls = ClientTlsConfig::new();
    if let Some(ca_file) = &config.peers.tls_ca_file {
        tls = tls.ca_certificate(Certificate::from_pem(read(ca_file)?));
    }
    if let (Some(cert), Some(key)) = (&config.peers.tls_cert_file, &config.peers.tls_key_file) {
        tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(tls)
}

impl Peers {
    /// The surviving customer id of `selector`, from the cache or asked of the identity
    /// service within `budget`. Unknown customers are NOT_FOUND (and not cached, since
    /// the customer may appear); an unreachable identity service is UNAVAILABLE, so that
    /// the caller may retry.
    pub async fn resolve_customer(
        &self,
        selector: &crate::refs::CustomerSelector,
        budget: Duration,
    ) -> crate::error::ApiResult<String> {
        let cached = self.resolved.get(selector);
        crate::observability::record_resolve_cache(cached.is_some());
        if let Some(customer_id) = cached {
            return Ok(customer_id);
        }
        let generation = self.resolved.generation();
        let customer_id = self.lookup_customer_id(selector, budget).await?;
        self.resolved
            .insert_unless_changed(selector.clone(), customer_id.clone(), generation);
        Ok(customer_id)
    }

    /// Asks identity's `LookupCustomerId`, which returns only the surviving id.
    async fn lookup_customer_id(
        &self,
        selector: &crate::refs::CustomerSelector,
        budget: Duration,
    ) -> crate::error::ApiResult<String> {
        use crate::error::ApiError;
        let mut request = tonic::Request::new(idic_proto::v1::LookupCustomerIdRequest {
            customer: Some(selector.to_proto()),
        });
        request.set_timeout(budget);
        let response = self.identity().lookup_customer_id(request).await;
        match response {
            Ok(response) => Ok(response.into_inner().customer_id),
            Err(status) if status.code() == tonic::Code::NotFound => {
                Err(ApiError::not_found("no customer matches the reference"))
            }
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }
}

/// A peer's refusal or failure as the caller sees it, keeping the status class: the
/// peer's INVALID_ARGUMENT, NOT_FOUND and FAILED_PRECONDITION are the caller's, with the
/// peer's words; a peer that cannot be reached, times out or breaks the connection
/// (tonic reports a failed HTTP/2 handshake as UNKNOWN or CANCELLED) is UNAVAILABLE, so
/// the caller may retry; a refused key is PERMISSION_DENIED naming what is missing.
/// Anything else is this service's internal error. Every service maps peer errors here.
pub fn peer_error(peer: impl std::fmt::Display, status: tonic::Status) -> crate::error::ApiError {
    use crate::error::ApiError;
    match status.code() {
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::Cancelled
        | tonic::Code::Unknown => ApiError::Unavailable {
            message: format!("the {peer} service did not answer"),
            retry_after: Duration::from_millis(200),
        },
        tonic::Code::InvalidArgument => ApiError::invalid("customer", status.message().to_owned()),
        tonic::Code::NotFound => ApiError::not_found(status.message().to_owned()),
        tonic::Code::FailedPrecondition => {
            ApiError::FailedPrecondition(status.message().to_owned())
        }
        tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => {
            refused_by_peer(&peer, &status)
        }
        _ => ApiError::internal(anyhow::anyhow!("{peer} service: {status}")),
    }
}

/// A peer's PERMISSION_DENIED or UNAUTHENTICATED, as the caller sees it: PERMISSION_DENIED
/// naming what is missing. A peer refusing a call made for the caller names the scope
/// the caller lacks; a peer refusing this process's own key is a deployment mistake,
/// said as such (the key itself is never repeated).
pub fn refused_by_peer(
    peer: impl std::fmt::Display,
    status: &tonic::Status,
) -> crate::error::ApiError {
    let message = match status.code() {
        tonic::Code::Unauthenticated => format!(
            "the {peer} service does not accept this service's peer key (peers.api_key): {}",
            status.message()
        ),
        _ => format!("the {peer} service refused: {}", status.message()),
    };
    crate::error::ApiError::PermissionDenied(message)
}

/// What each service needs its peer key to hold on the other services, and why: checked
/// at start, so that a key missing a scope stops the process instead of failing calls.
pub fn scopes_needed_from_peers(service: ServiceName) -> &'static [(&'static str, &'static str)] {
    const RESOLVE: (&str, &str) = ("identity:read", "resolve customer references");
    const CREATE: (&str, &str) = (
        "identity:write",
        "create the customer of an identifier identity does not know yet",
    );
    match service {
        ServiceName::Identity => &[],
        ServiceName::Differentiation => &[RESOLVE, CREATE],
        ServiceName::Interaction => &[
            RESOLVE,
            CREATE,
            (
                "differentiation:read",
                "show the customer's value in GetContext",
            ),
        ],
        ServiceName::Customization => &[
            RESOLVE,
            (
                "differentiation:read",
                "read value and needs for an offering",
            ),
            (
                "interaction:read",
                "read context and consent for an offering",
            ),
        ],
    }
}

/// Resolved references (identifier or customer id -> surviving customer id), kept until
/// identity says a customer they name changed, or for a TTL at most.
pub struct ResolveCache {
    entries: moka::sync::Cache<crate::refs::CustomerSelector, String>,
    /// Bumped by every invalidation, so that an answer fetched before a change is not
    /// cached after it.
    generation: AtomicU64,
}

impl ResolveCache {
    fn new(capacity: u64, ttl: Duration) -> Self {
        ResolveCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    fn get(&self, selector: &crate::refs::CustomerSelector) -> Option<String> {
        self.entries.get(selector)
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn insert_unless_changed(
        &self,
        selector: crate::refs::CustomerSelector,
        customer_id: String,
        generation: u64,
    ) {
        if self.generation() == generation {
            self.entries.insert(selector, customer_id);
        }
    }

    /// Forgets every reference that resolved to one of the customers `change` touches.
    pub fn invalidate(&self, change: &IdentityChange) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let touched: Vec<String> = change
            .customer_ids()
            .into_iter()
            .map(str::to_owned)
            .collect();
        // Only fails when closures are not enabled, which `new` does.
        let _ = self
            .entries
            .invalidate_entries_if(move |_, customer_id| touched.contains(customer_id));
    }

    /// Forgets everything: when changes may have been missed.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// Keeps the cache right from identity's change events (a broadcast: every replica
    /// of every service hears each change) until `shutdown`.
    pub fn spawn_invalidation(
        self: Arc<Self>,
        bus: Arc<dyn crate::bus::EventBus>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                match bus.subscribe(topics::IDENTITY_CHANGES.name()).await {
                    Ok(mut events) => loop {
                        let next = tokio::select! {
                            () = shutdown.cancelled() => return,
                            next = events.next() => next,
                        };
                        match next {
                            Some(Ok(event)) => match IdentityChange::from_payload(&event.payload) {
                                Ok(change) => self.invalidate(&change),
                                Err(_) => self.invalidate_all(),
                            },
                            // Lagged or broken: changes may have been missed.
                            Some(Err(error)) => {
                                tracing::warn!(%error, "identity change feed interrupted; resolve cache cleared");
                                self.invalidate_all();
                                if !matches!(error, crate::bus::BusError::Lagged(_)) {
                                    break;
                                }
                            }
                            None => {
                                self.invalidate_all();
                                break;
                            }
                        }
                    },
                    Err(error) => {
                        tracing::warn!(%error, "subscribing to identity's changes failed");
                    }
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    }
}
