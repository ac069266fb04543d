//! The tower layers every gRPC server of the suite runs, outermost first:
//! trace context -> metrics -> load shedding -> authentication -> deadline.
//!
//! Each layer is small and does one thing; [`crate::server`] stacks them.

mod auth;
mod deadline;
mod metrics;
mod shed;
mod trace;

use std::collections::HashMap;
use std::sync::Arc;

pub use self::auth::AuthLayer;
pub use self::deadline::{Deadline, DeadlineLayer};
pub use self::metrics::MetricsLayer;
pub use self::shed::LoadShedLayer;
pub use self::trace::TraceContextLayer;

/// Requests and responses as tonic's server sees them.
pub type GrpcRequest = http::Request<tonic::body::Body>;
pub type GrpcResponse = http::Response<tonic::body::Body>;

/// What the layers know of each RPC the server serves, by gRPC path.
#[derive(Debug, Clone)]
pub struct Route {
    pub service: &'static str,
    pub method: &'static str,
    pub scope: String,
}

/// Every served RPC, keyed by its path (`/idic.v1.IdentityService/GetCustomer`).
pub type RouteTable = Arc<HashMap<String, Route>>;

/// The answer to a request a layer refuses: a trailers-only gRPC response.
fn refuse(status: tonic::Status) -> GrpcResponse {
    status.into_http()
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Notify;
    use tonic_types::StatusExt;
    use tower::{Layer, Service, ServiceExt};

    use super::*;

    fn request(path: &str, timeout: Option<&str>) -> GrpcRequest {
        let mut builder = http::Request::builder().uri(format!("http://localhost{path}"));
        if let Some(timeout) = timeout {
            builder = builder.header("grpc-timeout", timeout);
        }
        builder.body(tonic::body::Body::empty()).unwrap()
    }

    fn status_of(response: &GrpcResponse) -> tonic::Status {
        tonic::Status::from_header_map(response.headers()).unwrap_or_else(|| tonic::Status::ok(""))
    }

    /// An inner service that answers OK once `release` is notified.
    fn held_until(
        release: Arc<Notify>,
    ) -> impl Service<GrpcRequest, Response = GrpcResponse, Error = Infallible, Future: Send>
    + Clone
    + Send {
        tower::service_fn(move |_request: GrpcRequest| {
            let release = release.clone();
            async move {
                release.notified().await;
                Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty()))
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn the_shorter_of_client_and_server_deadline_wins() {
        let never = Arc::new(Notify::new());
        let mut service = DeadlineLayer::new(
            Duration::from_secs(30),
            Duration::from_secs(3600),
            Arc::default(),
        )
        .layer(held_until(never.clone()));
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request("/idic.v1.X/Y", Some("50m")))
            .await
            .unwrap();
        assert_eq!(status_of(&response).code(), tonic::Code::DeadlineExceeded);

        let long_running: Arc<std::collections::HashSet<String>> =
            Arc::new(["/idic.v1.X/Stream".to_owned()].into());
        let mut capped = DeadlineLayer::new(
            Duration::from_millis(100),
            Duration::from_secs(3600),
            long_running,
        )
        .layer(held_until(never));
        let started = tokio::time::Instant::now();
        let response = capped
            .ready()
            .await
            .unwrap()
            .call(request("/idic.v1.X/Y", Some("1H")))
            .await
            .unwrap();
        assert_eq!(status_of(&response).code(), tonic::Code::DeadlineExceeded);
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(100),
            "the server's maximum caps a long client deadline"
        );
    }

    #[tokio::test]
    async fn calls_past_the_limit_are_shed_with_a_retry_hint() {
        let release = Arc::new(Notify::new());
        let mut service = LoadShedLayer::new(1).layer(held_until(release.clone()));
        let first = tokio::spawn(service.clone().oneshot(request("/idic.v1.X/Y", None)));
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;

        let shed = service
            .ready()
            .await
            .unwrap()
            .call(request("/idic.v1.X/Y", None))
            .await
            .unwrap();
        let status = status_of(&shed);
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(
            status.get_error_details().retry_info().is_some(),
            "UNAVAILABLE carries RetryInfo"
        );

        // Health checks are never shed: probes must not fail because the server is busy.
        let health = tokio::spawn(
            service
                .clone()
                .oneshot(request("/grpc.health.v1.Health/Check", None)),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        release.notify_waiters();
        assert_eq!(
            status_of(&first.await.unwrap().unwrap()).code(),
            tonic::Code::Ok
        );
        assert_eq!(
            status_of(&health.await.unwrap().unwrap()).code(),
            tonic::Code::Ok
        );

        // Once the first call is done, a new one is accepted again.
        let again = tokio::spawn(service.clone().oneshot(request("/idic.v1.X/Y", None)));
        tokio::time::sleep(Duration::from_millis(20)).await;
        release.notify_waiters();
        assert_eq!(
            status_of(&again.await.unwrap().unwrap()).code(),
            tonic::Code::Ok
        );
    }
}
