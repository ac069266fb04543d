//! Opens a server span for each call, continuing the caller's trace from the W3C
//! `traceparent` in the gRPC metadata.

use std::task::{Context, Poll};

use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use super::{GrpcRequest, GrpcResponse};
use crate::telemetry::extract_context;

#[derive(Clone, Default)]
pub struct TraceContextLayer;

impl<S> Layer<S> for TraceContextLayer {
    type Service = TraceContext<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TraceContext { inner }
    }
}

#[derive(Clone)]
pub struct TraceContext<S> {
    inner: S,
}

impl<S> Service<GrpcRequest> for TraceContext<S>
where
    S: Service<GrpcRequest, Response = GrpcResponse>,
{
    type Response = GrpcResponse;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: GrpcRequest) -> Self::Future {
        let path = request.uri().path();
        // A span per call costs allocations in the subscriber; it is worth it only
        // when spans are exported (or debug logging asks for it).
        let span = if crate::telemetry::exporting_traces() {
            tracing::info_span!(
                "grpc",
                otel.name = path,
                otel.kind = "server",
                rpc.system = "grpc"
            )
        } else {
            tracing::debug_span!("grpc", rpc.path = path)
        };
        extract_context(request.headers(), &span);
        self.inner.call(request).instrument(span)
    }
}
