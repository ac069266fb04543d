//! Every call a service makes to a peer, observed: a client span (so that a trace shows
//! the call leaving one process and arriving at the other, with the wait between) whose
//! W3C context is what the peer continues, and the call's latency and status in
//! `rpc_client_call_duration_seconds` ([`crate::observability`]).

use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use tonic::body::Body;
use tonic::transport::Channel;
use tower::Service;
use tracing::Instrument as _;

/// A channel to a peer whose calls are observed.
#[derive(Clone, Debug)]
pub struct ObservedChannel {
    inner: Channel,
}

impl ObservedChannel {
    pub fn new(inner: Channel) -> Self {
        ObservedChannel { inner }
    }
}

/// `("idic.v1.IdentityService", "Resolve")` from `/idic.v1.IdentityService/Resolve`.
fn service_and_method(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default().to_owned();
    let method = parts.next().unwrap_or_default().to_owned();
    (service, method)
}

/// The status in the response headers (trailers-only answers, i.e. every error);
/// absent means the call started well and its status follows in the trailers.
fn status_of(response: &http::Response<Body>) -> tonic::Code {
    response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
        .unwrap_or(tonic::Code::Ok)
}

impl Service<http::Request<Body>> for ObservedChannel {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let (service, method) = service_and_method(request.uri().path());
        let span = if crate::telemetry::exporting_traces() {
            tracing::info_span!(
                "grpc.client",
                otel.name = request.uri().path(),
                otel.kind = "client",
                rpc.system = "grpc",
                rpc.service = service.as_str(),
                rpc.method = method.as_str(),
            )
        } else {
            tracing::Span::none()
        };
        // The peer continues the client span, not the span that made the call.
        crate::telemetry::inject_span_context(&span, request.headers_mut());
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(
            async move {
                let answer = call.await;
                let code = match &answer {
                    Ok(response) => status_of(response),
                    Err(_) => tonic::Code::Unavailable,
                };
                crate::observability::record_client_call(
                    service,
                    method,
                    crate::observability::status_code_name(code),
                    started.elapsed(),
                );
                answer
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_service_and_method() {
        assert_eq!(
            service_and_method("/idic.v1.IdentityService/LookupCustomerId"),
            (
                "idic.v1.IdentityService".to_owned(),
                "LookupCustomerId".to_owned()
            )
        );
        assert_eq!(service_and_method("/"), (String::new(), String::new()));
    }
}
