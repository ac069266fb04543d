//! The one place a gRPC server is assembled: the services a process runs, behind the
//! suite's tower layers, with health (`grpc.health.v1`, per service name), reflection,
//! message-size limits, optional TLS/mTLS and a bounded graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use futures::StreamExt as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;
use tower::ServiceBuilder;

use crate::auth::{Access, Authenticator, Requirement, scope_for};
use crate::config::{Config, ServiceName};
use crate::middleware::{
    AuthLayer, DeadlineLayer, LoadShedLayer, MetricsLayer, Route, RouteTable, TraceContextLayer,
};

/// Keeps `service`'s health entry SERVING while `ready` holds true, NOT_SERVING else.
async fn follow_readiness(
    health: tonic_health::server::HealthReporter,
    service: ServiceName,
    mut ready: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let status = if *ready.borrow_and_update() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        health.set_service_status(service.grpc_name(), status).await;
        if ready.changed().await.is_err() {
            return;
        }
    }
}

/// Adds one service's gRPC server to the routes.
pub type AddRoutes = Box<dyn FnOnce(&mut RoutesBuilder) + Send>;

/// What a service hands the server: its routes and the access each RPC needs.
pub struct ServiceRegistration {
    pub service: ServiceName,
    /// Every RPC of the service by method name, and whether it reads, writes or
    /// administers. The auth layer derives the required scope from it.
    pub methods: &'static [(&'static str, Access)],
    /// Streaming methods that may run long (bulk loads, watches): bounded by
    /// `grpc.max_stream_ms` instead of `grpc.max_request_ms`.
    pub long_running: &'static [&'static str],
    pub add_routes: AddRoutes,
    /// Whether the service is ready for calls, when that can change while it runs (an
    /// identity follower far behind its leader): its health entry follows it.
    pub readiness: Option<tokio::sync::watch::Receiver<bool>>,
}

/// A bound gRPC listener, ready to serve.
pub struct GrpcServer {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl GrpcServer {
    /// Binds `address`; port 0 picks a free port (see [`GrpcServer::local_addr`]).
    pub async fn bind(address: SocketAddr) -> anyhow::Result<GrpcServer> {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding the gRPC address {address}"))?;
        let local_addr = listener.local_addr()?;
        Ok(GrpcServer {
            listener,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting, reports NOT_SERVING and
    /// lets in-flight calls finish for at most `grpc.shutdown_grace_ms`.
    pub async fn serve(
        self,
        config: &Config,
        registrations: Vec<ServiceRegistration>,
        authenticator: Arc<Authenticator>,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let routes = route_table(&registrations);
        let registrations_paths: Vec<String> = registrations
            .iter()
            .flat_map(|registration| {
                registration
                    .long_running
                    .iter()
                    .map(move |method| format!("/{}/{method}", registration.service.grpc_name()))
            })
            .collect();
        let (health, health_service) = tonic_health::server::health_reporter();
        let served: Vec<ServiceName> = registrations.iter().map(|r| r.service).collect();
        register_metrics(&registrations);
        let readiness: Vec<(ServiceName, tokio::sync::watch::Receiver<bool>)> = registrations
            .iter()
            .filter_map(|r| Some((r.service, r.readiness.clone()?)))
            .collect();

        let mut builder = RoutesBuilder::default();
        builder.add_service(health_service);
        add_reflection(&mut builder)?;
        for registration in registrations {
            (registration.add_routes)(&mut builder);
        }

        let layers = ServiceBuilder::new()
            .layer(TraceContextLayer)
            .layer(MetricsLayer::new(routes.clone()))
            .layer(LoadShedLayer::new(config.grpc.concurrency_limit))
            .layer(AuthLayer::new(authenticator))
            .layer(DeadlineLayer::new(
                config.grpc.max_request(),
                config.grpc.max_stream(),
                long_running_paths(&registrations_paths),
            ))
            .into_inner();
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = server_tls(config)? {
            server = server.tls_config(tls)?;
        }
        let router = server
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
            .layer(layers)
            .add_routes(builder.routes());

        for service in &served {
            health
                .set_service_status(service.grpc_name(), ServingStatus::Serving)
                .await;
        }
        health.set_service_status("", ServingStatus::Serving).await;
        let readiness_tasks: Vec<_> = readiness
            .into_iter()
            .map(|(service, ready)| tokio::spawn(follow_readiness(health.clone(), service, ready)))
            .collect();

        let stop_accepting = CancellationToken::new();
        let incoming = TcpIncoming::from(self.listener)
            .with_nodelay(Some(true))
            .map(|connection| connection.map(CountedConnection::new));
        let serving =
            router.serve_with_incoming_shutdown(incoming, stop_accepting.clone().cancelled_owned());
        tokio::pin!(serving);
        tokio::select! {
            finished = &mut serving => return finished.context("gRPC server failed"),
            () = shutdown => {}
        }

        tracing::info!("shutting down: no new calls, letting in-flight calls finish");
        // Stopped first, so that none of them reports SERVING again after the drain began.
        for task in readiness_tasks {
            task.abort();
            let _ = task.await;
        }
        for service in &served {
            health
                .set_service_status(service.grpc_name(), ServingStatus::NotServing)
                .await;
        }
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        stop_accepting.cancel();
        let grace = config.grpc.shutdown_grace();
        match tokio::time::timeout(grace, serving).await {
            Ok(finished) => finished.context("gRPC server failed while draining"),
            Err(_) => {
                tracing::warn!(
                    grace_ms = grace.as_millis() as u64,
                    "calls still running after the grace period were cut off"
                );
                Ok(())
            }
        }
    }
}

/// Registers the operator's metrics at zero for what this process serves.
fn register_metrics(registrations: &[ServiceRegistration]) {
    let methods: Vec<crate::observability::ServedMethod> = registrations
        .iter()
        .flat_map(|registration| {
            registration
                .methods
                .iter()
                .map(|(method, _)| crate::observability::ServedMethod {
                    service: registration.service.grpc_name(),
                    method,
                })
        })
        .collect();
    let customization = registrations
        .iter()
        .any(|registration| registration.service == ServiceName::Customization);
    crate::observability::register_server(&methods, customization);
}

pin_project_lite::pin_project! {
    /// An accepted connection, counted in `idic_grpc_open_connections` while open.
    struct CountedConnection {
        #[pin]
        stream: tokio::net::TcpStream,
        _open: crate::observability::ConnectionGuard,
    }
}

impl CountedConnection {
    fn new(stream: tokio::net::TcpStream) -> Self {
        CountedConnection {
            stream,
            _open: crate::observability::ConnectionGuard::open(),
        }
    }
}

impl tonic::transport::server::Connected for CountedConnection {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl tokio::io::AsyncRead for CountedConnection {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buffer: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.project().stream.poll_read(context, buffer)
    }
}

impl tokio::io::AsyncWrite for CountedConnection {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buffer: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.project().stream.poll_write(context, buffer)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.project().stream.poll_flush(context)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.project().stream.poll_shutdown(context)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buffers: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.project().stream.poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// What each RPC of the registered services needs, by gRPC path, for the authenticator.
pub fn requirements(registrations: &[ServiceRegistration]) -> HashMap<String, Requirement> {
    let mut requirements = HashMap::new();
    for registration in registrations {
        let grpc_name = registration.service.grpc_name();
        for (method, access) in registration.methods {
            requirements.insert(
                format!("/{grpc_name}/{method}"),
                Requirement {
                    scope: scope_for(registration.service, *access),
                    access: *access,
                },
            );
        }
    }
    requirements
}

/// Path -> (service, method, scope) for every RPC of the registered services.
fn route_table(registrations: &[ServiceRegistration]) -> RouteTable {
    let mut table = HashMap::new();
    for registration in registrations {
        let grpc_name = registration.service.grpc_name();
        for (method, access) in registration.methods {
            table.insert(
                format!("/{grpc_name}/{method}"),
                Route {
                    service: grpc_name,
                    method,
                    scope: scope_for(registration.service, *access),
                },
            );
        }
    }
    Arc::new(table)
}

fn long_running_paths(paths: &[String]) -> Arc<std::collections::HashSet<String>> {
    Arc::new(paths.iter().cloned().collect())
}

fn add_reflection(builder: &mut RoutesBuilder) -> anyhow::Result<()> {
    // Both versions: grpcurl and older tools still ask v1alpha.
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(idic_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(idic_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    builder.add_service(v1).add_service(v1alpha);
    Ok(())
}

/// The server's TLS settings (none without a certificate), checked the way serving will
/// use them, so that an unusable file stops the start with its name rather than the
/// first handshake. Call it at start; [`GrpcServer::serve`] calls it again.
pub fn server_tls(config: &Config) -> anyhow::Result<Option<ServerTlsConfig>> {
    let (Some(cert_file), Some(key_file)) = (&config.grpc.tls_cert_file, &config.grpc.tls_key_file)
    else {
        return Ok(None);
    };
    let certificates = pem_certificates(cert_file)?;
    if certificates == 0 {
        anyhow::bail!(
            "grpc.tls_cert_file: {} holds no PEM certificate",
            cert_file.display()
        );
    }
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::PrivateKeyDer::from_pem_file(key_file).map_err(|error| {
        anyhow::anyhow!(
            "grpc.tls_key_file: {} holds no usable PEM private key ({error})",
            key_file.display()
        )
    })?;
    if let Some(ca_file) = &config.grpc.tls_client_ca_file
        && pem_certificates(ca_file)? == 0
    {
        anyhow::bail!(
            "grpc.tls_client_ca_file: {} holds no PEM certificate",
            ca_file.display()
        );
    }
    let Some(tls) = tls_config(config)? else {
        return Ok(None);
    };
    tonic::transport::Server::builder()
        .tls_config(tls.clone())
        .map_err(|error| {
            anyhow::anyhow!(
                "grpc.tls_cert_file / grpc.tls_key_file: the certificate and key cannot serve TLS: {error}"
            )
        })?;
    Ok(Some(tls))
}

fn pem_certificates(path: &std::path::Path) -> anyhow::Result<usize> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?
        .try_fold(0, |count, certificate| certificate.map(|_| count + 1))
        .map_err(|error| anyhow::anyhow!("{}: not PEM ({error})", path.display()))
}

fn tls_config(config: &Config) -> anyhow::Result<Option<ServerTlsConfig>> {
    let (Some(cert_file), Some(key_file)) = (&config.grpc.tls_cert_file, &config.grpc.tls_key_file)
    else {
        return Ok(None);
    };
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    };
    let mut tls =
        ServerTlsConfig::new().identity(Identity::from_pem(read(cert_file)?, read(key_file)?));
    if let Some(ca_file) = &config.grpc.tls_client_ca_file {
        tls = tls.client_ca_root(Certificate::from_pem(read(ca_file)?));
    }
    Ok(Some(tls))
}
