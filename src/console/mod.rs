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
mod state;

use std::sync::Arc;

use axum::Router;

pub use session::{SessionStore, SessionUser};
pub use state::ConsoleState;

/// The console's routes under `/console`, with its access log.
pub fn router(state: Arc<ConsoleState>) -> Router {
    handlers::routes(state).layer(axum::middleware::from_fn(access_log::log_request))
}
