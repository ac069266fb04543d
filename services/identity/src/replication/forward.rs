//! Writes that reach a follower go on to the leader, so that clients need not know
//! which replica leads: the handler sends the request, with its metadata (the caller's
//! credentials), to the address the leader published, and returns the leader's answer
//! as it is (with its log position). A forwarded request is marked and never forwarded
//! again; one that reaches a replica that does not lead is refused (UNAVAILABLE).
//!
//! Forwarding speaks plain HTTP/2: with TLS configured, a follower answers UNAVAILABLE
//! naming the leader instead ([`super::Replication::refuse_write`]).

use std::sync::Mutex;
use std::time::Duration;

use idic_proto::v1::identity_service_client::IdentityServiceClient;
use tonic::transport::Channel;
use tonic::{Extensions, Request};

use super::{Replication, Role};

/// Marks a request a follower forwarded.
pub const FORWARDED_HEADER: &str = "idic-forwarded";

/// How long a follower waits for the leader's connection to open.
const FORWARD_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// HTTP/2 pings on the connection to the leader, and how long one may go unanswered.
const FORWARD_PING_EVERY: Duration = Duration::from_secs(1);
const FORWARD_PING_TIMEOUT: Duration = Duration::from_secs(2);

pub type LeaderClient = IdentityServiceClient<Channel>;

/// The client of the current leader, kept while the leader stays.
#[derive(Default)]
pub struct Forwarder {
    enabled: bool,
    max_message_bytes: usize,
    leader: Mutex<Option<(String, LeaderClient)>>,
}

impl Forwarder {
    pub fn new(enabled: bool, max_message_bytes: usize) -> Forwarder {
        Forwarder {
            enabled,
            max_message_bytes,
            leader: Mutex::new(None),
        }
    }

    /// The leader to send a write to, when this replica follows one and the write was
    /// not forwarded already.
    pub fn target(
        &self,
        replication: &Replication,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Option<LeaderClient> {
        if !self.enabled || metadata.contains_key(FORWARDED_HEADER) {
            return None;
        }
        let Role::Follower { leader } = replication.role() else {
            return None;
        };
        if leader.is_empty() {
            return None;
        }
        let mut cached = self
            .leader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((address, client)) = cached.as_ref()
            && *address == leader
        {
            return Some(client.clone());
        }
        let channel = Channel::from_shared(format!("http://{leader}"))
            .ok()?
            // A frozen leader's kernel still accepts connections and acknowledges
            // TCP, but the process answers no HTTP/2 ping: the connection is dropped
            // and forwarded calls fail UNAVAILABLE (retryable) instead of hanging.
            .connect_timeout(FORWARD_CONNECT_TIMEOUT)
            .http2_keep_alive_interval(FORWARD_PING_EVERY)
            .keep_alive_timeout(FORWARD_PING_TIMEOUT)
            .keep_alive_while_idle(true)
            .connect_lazy();
        let client = IdentityServiceClient::new(channel)
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes);
        *cached = Some((leader, client.clone()));
        Some(client)
    }
}

/// The request as the leader gets it: the caller's metadata and message, marked.
pub fn forwarded<T>(request: Request<T>) -> Request<T> {
    let (mut metadata, _, message) = request.into_parts();
    metadata.insert(
        FORWARDED_HEADER,
        tonic::metadata::MetadataValue::from_static("1"),
    );
    Request::from_parts(metadata, Extensions::default(), message)
}
