//! The operator console: read-only web pages on the admin port for finding a customer by
//! any identifier and seeing what the suite knows (the 360 view), the value skew and
//! strategy, the channel report and the learning report. Server-rendered HTML with
//! inline SVG charts; no JavaScript.
//!
//! The pages call the four services over gRPC, at their peer addresses (this process's
//! own address by default), with the logged-in user's API key: a page shows exactly what
//! that key may read, in the all-in-one process and in separate Deployments alike.
//! Login posts the key once; the browser then holds only a random session token (see
//! [`session`]). The access log names the route, never a query or a customer.

pub mod access_log;
mod charts;
mod data;
mod format;
mod handlers;
mod pages;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderValue;
use idic_runtime::auth::Authenticator;
use idic_runtime::config::Secret;
use idic_runtime::peers::Peers;

pub use session::{SessionStore, SessionUser};

/// The most a page waits for one service.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What the console's handlers share.
pub struct ConsoleState {
    pub sessions: SessionStore,
    pub authenticator: Arc<Authenticator>,
    pub peers: Peers,
}

impl ConsoleState {
    /// A gRPC request for `message` made with `key` (none when authentication is off),
    /// bounded by [`CALL_TIMEOUT`].
    pub fn request<T>(
        key: Option<&Secret>,
        message: T,
    ) -> Result<tonic::Request<T>, tonic::Status> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(CALL_TIMEOUT);
        if let Some(key) = key {
            let value: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
                format!("Bearer {}", key.expose()).parse().map_err(|_| {
                    tonic::Status::unauthenticated("the API key is not valid in a header")
                })?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

/// The console's routes under `/console`, with its access log.
pub fn router(state: Arc<ConsoleState>) -> Router {
    handlers::routes(state).layer(axum::middleware::from_fn(access_log::log_request))
}

/// A header value that is always valid (constant text).
fn constant_header(text: &'static str) -> HeaderValue {
    HeaderValue::from_static(text)
}
