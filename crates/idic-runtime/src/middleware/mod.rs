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
