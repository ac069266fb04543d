//! "On behalf of": a peer call made while serving a client carries that client's name
//! and scopes, so that the peer grants no more than the client's own key allows.
//!
//! The auth layer runs each handler with its [`Caller`] in a task-local; the peer
//! interceptor copies it into two metadata headers. A receiving service honours the
//! headers only on calls authenticated with a peer key (see
//! [`crate::auth::Authenticator`]), and then grants the intersection of the peer key's
//! scopes and the client's. Work not done for a client (event consumers, background
//! jobs) carries no headers and acts with the peer key's own scopes.

use std::collections::BTreeSet;
use std::future::Future;

use tokio::task::futures::TaskLocalFuture;
use tonic::metadata::MetadataMap;

use crate::scopes::Caller;

/// The client a peer call is made for.
pub const ON_BEHALF_OF_CLIENT: &str = "x-idic-on-behalf-of";
/// That client's scopes, separated by spaces.
pub const ON_BEHALF_OF_SCOPES: &str = "x-idic-on-behalf-scopes";

tokio::task_local! {
    static ACTING_FOR: Option<Caller>;
}

/// Runs `work` on behalf of `caller`: peer calls it makes carry the caller's scopes.
pub fn acting_for<F: Future>(
    caller: Option<Caller>,
    work: F,
) -> TaskLocalFuture<Option<Caller>, F> {
    ACTING_FOR.scope(caller, work)
}

/// Runs `work` as the service itself: its peer calls use the peer key's own scopes.
/// Only for calls whose answers never reach the client as such (see the call sites).
pub fn as_service<F: Future>(work: F) -> TaskLocalFuture<Option<Caller>, F> {
    ACTING_FOR.scope(None, work)
}

/// The authenticated client the current task serves, if any.
pub fn current() -> Option<Caller> {
    ACTING_FOR
        .try_with(Clone::clone)
        .ok()
        .flatten()
        .filter(|caller| caller.authenticated)
}

/// Whether the client the current task serves holds `scope` (true when no client is
/// served: authentication off, or work done as the service). Lets a service leave out a
/// part a peer would refuse, without asking.
pub fn caller_may(scope: &str) -> bool {
    current().is_none_or(|caller| crate::scopes::grants(&caller.scopes, scope))
}

/// Adds the current client (if any) to an outgoing peer call.
pub fn add_headers(metadata: &mut MetadataMap) {
    let Some(caller) = current() else {
        return;
    };
    let scopes = caller.scopes.iter().cloned().collect::<Vec<_>>().join(" ");
    // Client names and scopes come from validated configuration; a name that is not a
    // valid header value is sent without its name rather than not at all.
    if let Ok(client) = caller.client.parse() {
        metadata.insert(ON_BEHALF_OF_CLIENT, client);
    } else if let Ok(client) = "unnamed".parse() {
        metadata.insert(ON_BEHALF_OF_CLIENT, client);
    }
    if let Ok(scopes) = scopes.parse() {
        metadata.insert(ON_BEHALF_OF_SCOPES, scopes);
    }
}

/// The client and scopes a peer call says it is made for.
pub struct OnBehalfOf {
    pub client: String,
    pub scopes: BTreeSet<String>,
}

/// Reads the headers [`add_headers`] writes; `None` when the call is not made for a
/// client. A client header without scopes means a client with no scopes.
pub fn from_headers(headers: &http::HeaderMap) -> Option<OnBehalfOf> {
    let client = headers.get(ON_BEHALF_OF_CLIENT)?.to_str().ok()?.to_owned();
    let scopes = headers
        .get(ON_BEHALF_OF_SCOPES)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    Some(OnBehalfOf { client, scopes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(scopes: &[&str]) -> Caller {
        Caller {
            client: "callcenter".to_owned(),
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
            authenticated: true,
        }
    }

    fn headers_of(metadata: MetadataMap) -> http::HeaderMap {
        metadata.into_headers()
    }

    #[tokio::test]
    async fn the_client_travels_with_peer_calls_made_for_it() {
        let sent = acting_for(
            Some(caller(&["interaction:write", "identity:read"])),
            async {
                let mut metadata = MetadataMap::new();
                add_headers(&mut metadata);
                metadata
            },
        )
        .await;
        let received = from_headers(&headers_of(sent)).expect("on-behalf headers");
        assert_eq!(received.client, "callcenter");
        assert_eq!(
            received.scopes,
            BTreeSet::from(["identity:read".to_owned(), "interaction:write".to_owned()])
        );
    }

    #[tokio::test]
    async fn background_and_service_work_carries_no_client() {
        let mut outside = MetadataMap::new();
        add_headers(&mut outside);
        assert!(from_headers(&headers_of(outside)).is_none());

        let inside_service = acting_for(
            Some(caller(&["interaction:read"])),
            as_service(async {
                let mut metadata = MetadataMap::new();
                add_headers(&mut metadata);
                metadata
            }),
        )
        .await;
        assert!(from_headers(&headers_of(inside_service)).is_none());

        let anonymous = acting_for(Some(Caller::anonymous()), async {
            let mut metadata = MetadataMap::new();
            add_headers(&mut metadata);
            metadata
        })
        .await;
        assert!(
            from_headers(&headers_of(anonymous)).is_none(),
            "with authentication off there is nothing to narrow"
        );
    }

    #[tokio::test]
    async fn scopes_of_the_served_client_are_known_to_the_handler() {
        assert!(caller_may("identity:read"), "no client: the service itself");
        let narrow = acting_for(Some(caller(&["interaction:read"])), async {
            (caller_may("interaction:read"), caller_may("identity:read"))
        })
        .await;
        assert_eq!(narrow, (true, false));
        assert!(
            acting_for(Some(caller(&["admin"])), async {
                caller_may("identity:read")
            })
            .await
        );
    }
}
