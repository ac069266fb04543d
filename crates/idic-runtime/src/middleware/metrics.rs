//! Request metrics: count by service, method and status code, and the latency
//! histogram of the OpenTelemetry RPC conventions ([`crate::observability`]).
//! Paths the server does not serve are counted as `unknown`, so that a caller cannot
//! grow the label set.

use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use tower::{Layer, Service};

use super::{GrpcRequest, GrpcResponse, RouteTable};

#[derive(Clone)]
pub struct MetricsLayer {
    routes: RouteTable,
}

impl MetricsLayer {
    pub fn new(routes: RouteTable) -> Self {
        MetricsLayer { routes }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Metrics {
            inner,
            routes: self.routes.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Metrics<S> {
    inner: S,
    routes: RouteTable,
}

impl<S> Service<GrpcRequest> for Metrics<S>
where
    S: Service<GrpcRequest, Response = GrpcResponse> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = GrpcResponse;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<GrpcResponse, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: GrpcRequest) -> Self::Future {
        let (service, method) = match self.routes.get(request.uri().path()) {
            Some(route) => (route.service, route.method),
            None if request.uri().path().starts_with("/grpc.health.v1.") => {
                ("grpc.health.v1.Health", "Check")
            }
            None => ("unknown", "unknown"),
        };
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let result = call.await;
            let code = match &result {
                Ok(response) => status_code_name(response),
                Err(_) => "transport_error",
            };
            ::metrics::counter!("idic_grpc_requests_total", "service" => service, "method" => method, "code" => code)
                .increment(1);
            crate::observability::record_server_call(service, method, code, started.elapsed());
            result
        })
    }
}

/// The status of a response whose headers carry it (trailers-only, i.e. every error a
/// handler returns); a response that streams its status in trailers started fine.
fn status_code_name(response: &GrpcResponse) -> &'static str {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
        .unwrap_or(tonic::Code::Ok);
    crate::observability::status_code_name(code)
}
