//! What is measured: the full suite or a bare tonic health server started in this
//! process on 127.0.0.1 (each on its own tokio runtime, so that server and load
//! generator get the same threads whichever is measured), or a server already running
//! on this machine.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use clap::ValueEnum;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

/// The name of the server runtime's threads, by which CPU use is attributed.
pub const SERVER_THREAD_NAME: &str = "bench-server";

/// Health service names the suite answers; the bare server answers the same ones so
/// that both do the same lookup.
const HEALTH_SERVICE_NAMES: [&str; 5] = [
    "",
    "idic.v1.IdentityService",
    "idic.v1.DifferentiationService",
    "idic.v1.InteractionService",
    "idic.v1.CustomizationService",
];

/// How long a stopping in-process server may take to drain before it is dropped.
const STOP_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// The whole suite (all four services, every tower layer, health, reflection) on
    /// embedded SQLite in a temporary directory.
    Suite,
    /// tonic with `tonic_health` only: no layers, no reflection. The reference point.
    Bare,
    /// A server already running on this machine (`--server`).
    External,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Suite => "suite",
            TargetKind::Bare => "bare",
            TargetKind::External => "external",
        }
    }
}

/// A server ready to take load.
pub struct Target {
    pub kind: TargetKind,
    /// The URL clients connect to (`http://127.0.0.1:PORT`).
    pub url: String,
    in_process: Option<InProcessServer>,
}

/// A server this process started, with everything that must live as long as it does.
struct InProcessServer {
    runtime: Runtime,
    stop: CancellationToken,
    serving: JoinHandle<anyhow::Result<()>>,
    /// The suite's SQLite files; removed when the server is gone.
    _data_dir: Option<tempfile::TempDir>,
}

impl Target {
    /// Starts the full suite on a runtime of `server_threads` workers.
    pub fn start_suite(server_threads: usize) -> anyhow::Result<Target> {
        let runtime = server_runtime(server_threads)?;
        let data_dir = tempfile::tempdir().context("creating the suite's data directory")?;
        let defaults = idic_runtime::Config::default();
        let config = idic_runtime::Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: None,
            data_dir: data_dir.path().to_path_buf(),
            grpc: idic_runtime::config::GrpcConfig {
                // Nothing is in flight when the benchmark stops the suite: no 20 s wait.
                shutdown_grace_ms: 1_000,
                ..defaults.grpc.clone()
            },
            ..defaults
        };
        let application = runtime
            .block_on(idic::Application::build(config))
            .context("starting the suite")?;
        let address = application.grpc_address();
        let stop = CancellationToken::new();
        let serving = runtime.spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
        Ok(Target {
            kind: TargetKind::Suite,
            url: format!("http://{address}"),
            in_process: Some(InProcessServer {
                runtime,
                stop,
                serving,
                _data_dir: Some(data_dir),
            }),
        })
    }

    /// Starts a bare tonic server with only the health service, configured like the
    /// suite's listener (TCP_NODELAY), on a runtime of `server_threads` workers.
    pub fn start_bare(server_threads: usize) -> anyhow::Result<Target> {
        let runtime = server_runtime(server_threads)?;
        let listener = runtime
            .block_on(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))))
            .context("binding the bare server")?;
        let address = listener.local_addr()?;
        let stop = CancellationToken::new();
        let serving = runtime.spawn(serve_bare(listener, stop.clone()));
        Ok(Target {
            kind: TargetKind::Bare,
            url: format!("http://{address}"),
            in_process: Some(InProcessServer {
                runtime,
                stop,
                serving,
                _data_dir: None,
            }),
        })
    }

    /// A server already running at `url`, which must be on this machine: the benchmark
    /// only ever sends load to loopback.
    pub fn external(url: &str) -> anyhow::Result<Target> {
        let uri: tonic::codegen::http::Uri = url
            .parse()
            .with_context(|| format!("'{url}' is not a URL"))?;
        let host = uri.host().with_context(|| format!("'{url}' has no host"))?;
        anyhow::ensure!(
            is_loopback_host(host),
            "refusing to load {host}: the benchmark only targets 127.0.0.1 (or localhost, ::1)"
        );
        Ok(Target {
            kind: TargetKind::External,
            url: url.to_owned(),
            in_process: None,
        })
    }

    /// Stops an in-process server and frees its runtime; nothing for an external one.
    pub fn stop(self) -> anyhow::Result<()> {
        let Some(server) = self.in_process else {
            return Ok(());
        };
        server.stop.cancel();
        // The timer must be created inside the runtime, hence the async block.
        let finished = server
            .runtime
            .block_on(async { tokio::time::timeout(STOP_GRACE, server.serving).await });
        server.runtime.shutdown_timeout(Duration::from_secs(1));
        match finished {
            Ok(joined) => joined.context("the server task failed")?,
            Err(_elapsed) => anyhow::bail!(
                "the {} server did not stop within {} s",
                self.kind.name(),
                STOP_GRACE.as_secs()
            ),
        }
    }
}

async fn serve_bare(listener: TcpListener, stop: CancellationToken) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    for name in HEALTH_SERVICE_NAMES {
        health
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(health_service)
        .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
        .await
        .context("the bare server failed")
}

fn server_runtime(worker_threads: usize) -> anyhow::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads.max(1))
        .thread_name(SERVER_THREAD_NAME)
        .enable_all()
        .build()
        .context("building the server runtime")
}

fn is_loopback_host(host: &str) -> bool {
    let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
    if unbracketed.eq_ignore_ascii_case("localhost") {
        return true;
    }
    unbracketed
        .parse::<IpAddr>()
        .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_servers_are_accepted() {
        assert!(Target::external("http://127.0.0.1:50051").is_ok());
        assert!(Target::external("http://localhost:50051").is_ok());
        assert!(Target::external("http://[::1]:50051").is_ok());
        assert!(Target::external("http://10.0.0.7:50051").is_err());
        assert!(Target::external("http://example.com:50051").is_err());
        assert!(Target::external("not a url").is_err());
    }
}
