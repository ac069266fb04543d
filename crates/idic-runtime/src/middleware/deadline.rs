//! Bounds every call by the earlier of the client's `grpc-timeout` and the server's
//! maximum, answers DEADLINE_EXCEEDED when it passes, and hands the deadline to
//! handlers (as [`Deadline`]) so that calls to peers can use what is left of it.

use std::collections::HashSet;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;
use tower::{Layer, Service};

use super::{GrpcRequest, GrpcResponse, refuse};

/// When the current call must be answered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// The deadline of a request that went through this layer.
    pub fn of<T>(request: &tonic::Request<T>) -> Option<Deadline> {
        request.extensions().get::<Deadline>().copied()
    }
}

#[derive(Clone)]
pub struct DeadlineLayer {
    max: Duration,
    max_stream: Duration,
    long_running: Arc<HashSet<String>>,
}

impl DeadlineLayer {
    /// `max` bounds every call but those in `long_running` (paths of streaming RPCs
    /// such as bulk loads and watches), which `max_stream` bounds.
    pub fn new(max: Duration, max_stream: Duration, long_running: Arc<HashSet<String>>) -> Self {
        DeadlineLayer {
            max,
            max_stream,
            long_running,
        }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            max: self.max,
            max_stream: self.max_stream,
            long_running: self.long_running.clone(),
        }
    }
}

#[derive(Clone)]
pub struct DeadlineService<S> {
    inner: S,
    max: Duration,
    max_stream: Duration,
    long_running: Arc<HashSet<String>>,
}

impl<S> Service<GrpcRequest> for DeadlineService<S>
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

    fn call(&mut self, mut request: GrpcRequest) -> Self::Future {
        let requested = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout);
        let max = if self.long_running.contains(request.uri().path()) {
            self.max_stream
        } else {
            self.max
        };
        let budget = requested.map_or(max, |requested| requested.min(max));
        let deadline = Instant::now() + budget;
        request.extensions_mut().insert(Deadline(deadline));
        let call = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, call).await {
                Ok(result) => result,
                Err(_elapsed) => Ok(refuse(tonic::Status::deadline_exceeded(format!(
                    "no answer within {} ms",
                    budget.as_millis()
                )))),
            }
        })
    }
}

/// Parses the gRPC wire format of a timeout: up to 8 digits and a unit
/// (H, M, S, m for milliseconds, u, n).
pub fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    if text.len() < 2 || text.len() > 9 {
        return None;
    }
    let (digits, unit) = text.split_at(text.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_wire_format() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
        assert_eq!(parse_grpc_timeout("-1S"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None, "more than 8 digits");
    }
}
