//! The HTTP admin port: Prometheus metrics at `/metrics` and a liveness answer at
//! `/healthz`, apart from the gRPC port so that scraping never competes with calls. The
//! all-in-one binary adds the operator console and the webhook endpoints to it.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds, from 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The process-wide metrics recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed already (tests): keep rendering ours.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .expect("spawning the metrics upkeep thread");
            handle
        })
        .clone()
}

/// A bound admin listener.
pub struct AdminServer {
    listener: TcpListener,
}

impl AdminServer {
    pub async fn bind(address: SocketAddr) -> anyhow::Result<AdminServer> {
        // Installed before the services are built, so that what they register at
        // start (pools, breakers, the series at zero) reaches the exporter.
        metrics_handle();
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding the admin address {address}"))?;
        Ok(AdminServer { listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serve_with(Router::new(), shutdown).await
    }

    /// Serves `/metrics` and `/healthz` and, beside them, `routes` (the operator
    /// console and the webhook endpoints, which live with the services they call).
    pub async fn serve_with(
        self,
        routes: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let handle = metrics_handle();
        let app = Router::new()
            .route(
                "/metrics",
                get(move || {
                    crate::observability::refresh();
                    std::future::ready(handle.render())
                }),
            )
            .route("/healthz", get(|| std::future::ready("ok\n")))
            .merge(routes);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("admin server failed")
    }
}
