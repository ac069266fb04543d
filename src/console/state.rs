//! What the console's handlers share, and how its pages call the services: a leaf the
//! handlers, the data calls and the Segment endpoint use.

use std::sync::Arc;
use std::time::Duration;

use idic_runtime::auth::Authenticator;
use idic_runtime::config::Secret;
use idic_runtime::peers::Peers;

use super::session::SessionStore;

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
