//! The access log of the admin port's web routes. It records the route as declared
//! (`/console/customers/{customer_id}`), never the request's own path or query, so no
//! customer id, e-mail or search text reaches the log; searches are POSTed for the same
//! reason (a URL also lands in browser history and proxies' logs).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// What the log shows for a request that matched no route.
const UNMATCHED: &str = "(no route)";

/// Logs method, route, status and duration of each request.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = logged_route(request.extensions().get::<MatchedPath>());
    let response = next.run(request).await;
    tracing::info!(
        target: "idic::access",
        %method,
        route = %route,
        status = response.status().as_u16(),
        millis = started.elapsed().as_millis() as u64,
        "http request"
    );
    response
}

/// The route template a request matched, or a constant: never the path itself.
pub fn logged_route(matched: Option<&MatchedPath>) -> String {
    matched
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.to_owned())
}
