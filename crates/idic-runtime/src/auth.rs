//! Per-client API keys with scopes.
//!
//! A client sends `authorization: Bearer <key>` (or `x-api-key: <key>`). Each RPC needs
//! one scope, `<service>:read` or `<service>:write`, declared by its service; `admin`
//! grants every scope. Health checks and reflection stay open so that probes and
//! tooling work without credentials.
//!
//! Only SHA-256 digests of keys are held: a presented key is hashed and its digest
//! compared with every configured digest in constant time, so neither the content nor
//! the length of a key leaks through timing. The key set can be replaced while serving
//! ([`Authenticator::replace_keys`]).
//!
//! A call authenticated with the peer key may be made on behalf of a client (see
//! [`crate::delegation`]); it is then granted only what both the peer key and the
//! client hold.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use subtle::ConstantTimeEq;
use tonic::Status;

use crate::config::{ApiKeyConfig, Secret};
use crate::delegation;
use crate::scopes::intersection;

// The scopes and key digests are their own leaf modules (configuration validates
// against them too); these are their long-standing paths.
pub use crate::key_digest::{KeyDigest, digest_key, hex_digest};
pub use crate::scopes::{ADMIN_SCOPE, Access, Caller, grants, known_scopes, scope_for};

/// What a path needs: its scope and how it was declared.
#[derive(Debug, Clone)]
pub struct Requirement {
    pub scope: String,
    pub access: Access,
}

struct Client {
    name: String,
    digest: KeyDigest,
    scopes: BTreeSet<String>,
}

/// Decides, for a request's path and headers, whether it may proceed.
pub struct Authenticator {
    clients: ArcSwap<Vec<Client>>,
    /// gRPC path (`/idic.v1.IdentityService/GetCustomer`) -> what it needs.
    requirements: HashMap<String, Requirement>,
    /// The key services present to each other; only calls made with it may say whom
    /// they are made for.
    peer_key: Option<KeyDigest>,
}

impl Authenticator {
    /// `keys` must have passed [`crate::config::Config::validated`].
    pub fn new(
        keys: &[ApiKeyConfig],
        requirements: HashMap<String, Requirement>,
        peer_key: Option<&Secret>,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Authenticator {
            clients: ArcSwap::from_pointee(clients_of(keys)?),
            requirements,
            peer_key: peer_key.map(|key| digest_key(key.expose())),
        }))
    }

    /// Replaces the key set while serving (rotation). Turning authentication on or off
    /// this way is refused: that changes what every caller may do and needs a restart.
    pub fn replace_keys(&self, keys: &[ApiKeyConfig]) -> anyhow::Result<usize> {
        let clients = clients_of(keys)?;
        if clients.is_empty() != self.clients.load().is_empty() {
            anyhow::bail!(
                "a reload may not turn authentication on or off (auth.keys empty vs. not): restart instead"
            );
        }
        let count = clients.len();
        self.clients.store(Arc::new(clients));
        Ok(count)
    }

    pub fn enabled(&self) -> bool {
        !self.clients.load().is_empty()
    }

    /// The name of the client holding `key`, whatever its scopes; `None` for a key this
    /// process does not accept. For HTTP front doors (the console's login) that check
    /// the key once and leave scopes to the gRPC calls they make with it.
    pub fn client_for_key(&self, key: &str) -> Option<String> {
        let clients = self.clients.load();
        find_client(&clients, &digest_key(key)).map(|client| client.name.clone())
    }

    /// `Ok(caller)` when the request may proceed, else the status to answer with.
    pub fn authorize(&self, path: &str, headers: &http::HeaderMap) -> Result<Caller, Status> {
        let clients = self.clients.load();
        if clients.is_empty() {
            return Ok(Caller::anonymous());
        }
        let presented = presented_key(headers).ok_or_else(|| {
            Status::unauthenticated("missing credentials: send 'authorization: Bearer <api key>'")
        })?;
        let presented = digest_key(presented);
        let client = find_client(&clients, &presented)
            .ok_or_else(|| Status::unauthenticated("unknown API key"))?;
        let requirement = self.requirements.get(path).cloned().unwrap_or(Requirement {
            scope: ADMIN_SCOPE.to_owned(),
            access: Access::Admin,
        });
        let is_peer = self
            .peer_key
            .is_some_and(|peer_key| bool::from(peer_key.ct_eq(&presented)));
        let on_behalf_of = is_peer.then(|| delegation::from_headers(headers)).flatten();
        match on_behalf_of {
            None => authorize_direct(client, &requirement, path),
            Some(on_behalf_of) => authorize_on_behalf(client, on_behalf_of, &requirement, path),
        }
    }
}

/// A client calling with its own key gets what its key holds.
fn authorize_direct(
    client: &Client,
    requirement: &Requirement,
    path: &str,
) -> Result<Caller, Status> {
    if !grants(&client.scopes, &requirement.scope) {
        return Err(Status::permission_denied(format!(
            "client '{}' lacks scope '{}' needed for {path}",
            client.name, requirement.scope
        )));
    }
    Ok(Caller {
        client: client.name.clone(),
        scopes: client.scopes.clone(),
        authenticated: true,
    })
}

/// A service calling for a client gets what both its peer key and the client hold,
/// except for lookups, which every service makes for the calls it serves.
fn authorize_on_behalf(
    peer: &Client,
    on_behalf_of: delegation::OnBehalfOf,
    requirement: &Requirement,
    path: &str,
) -> Result<Caller, Status> {
    if !grants(&peer.scopes, &requirement.scope) {
        return Err(Status::permission_denied(format!(
            "the peer key of client '{}' lacks scope '{}' needed for {path}: add it to that key in auth.keys",
            peer.name, requirement.scope
        )));
    }
    let client_may =
        requirement.access == Access::Lookup || grants(&on_behalf_of.scopes, &requirement.scope);
    if !client_may {
        return Err(Status::permission_denied(format!(
            "client '{}' lacks scope '{}' needed for {path}, which this call makes on its behalf",
            on_behalf_of.client, requirement.scope
        )));
    }
    Ok(Caller {
        client: on_behalf_of.client,
        scopes: intersection(&peer.scopes, &on_behalf_of.scopes),
        authenticated: true,
    })
}

fn clients_of(keys: &[ApiKeyConfig]) -> anyhow::Result<Vec<Client>> {
    keys.iter()
        .map(|key| {
            Ok(Client {
                name: key.client.clone(),
                digest: key.digest().map_err(anyhow::Error::msg)?,
                scopes: key.scopes.clone(),
            })
        })
        .collect()
}

/// Compares the digest against every key in constant time, so timing tells nothing of a
/// key; digests have one length, so neither does the length of the presented key.
fn find_client<'a>(clients: &'a [Client], presented: &KeyDigest) -> Option<&'a Client> {
    let mut found = None;
    for client in clients {
        let equal: bool = client.digest.ct_eq(presented).into();
        if equal {
            found = Some(client);
        }
    }
    found
}

fn presented_key(headers: &http::HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(http::header::AUTHORIZATION) {
        let text = value.to_str().ok()?;
        let (scheme, key) = text.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| key.trim());
    }
    headers.get("x-api-key")?.to_str().ok().map(str::trim)
}

/// Paths every caller may use: health probes and reflection.
pub fn is_public_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    const PEER_KEY: &str = "peer-key-of-the-suite-0003";

    fn key(client: &str, key: &str, scopes: &[&str]) -> ApiKeyConfig {
        ApiKeyConfig {
            client: client.into(),
            key: Some(Secret::new(key)),
            key_sha256: None,
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        }
    }

    fn requirement(scope: &str, access: Access) -> Requirement {
        Requirement {
            scope: scope.to_owned(),
            access,
        }
    }

    fn authenticator() -> Arc<Authenticator> {
        let keys = vec![
            key("callcenter", "callcenter-key-0001", &["identity:read"]),
            key("ops", "operations-key-0002", &[ADMIN_SCOPE]),
            key("idic-peers", PEER_KEY, &["identity:read", "identity:write"]),
        ];
        let requirements = HashMap::from([
            (
                "/idic.v1.IdentityService/GetCustomer".to_owned(),
                requirement("identity:read", Access::Read),
            ),
            (
                "/idic.v1.IdentityService/Merge".to_owned(),
                requirement("identity:write", Access::Write),
            ),
            (
                "/idic.v1.IdentityService/LookupCustomerId".to_owned(),
                requirement("identity:read", Access::Lookup),
            ),
        ]);
        Authenticator::new(&keys, requirements, Some(&Secret::new(PEER_KEY))).unwrap()
    }

    fn headers(name: &'static str, value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        headers
    }

    fn on_behalf_of(key: &str, client: &str, scopes: &str) -> http::HeaderMap {
        let mut headers = headers("authorization", &format!("Bearer {key}"));
        headers.insert(delegation::ON_BEHALF_OF_CLIENT, client.parse().unwrap());
        headers.insert(delegation::ON_BEHALF_OF_SCOPES, scopes.parse().unwrap());
        headers
    }

    #[test]
    fn scopes_decide() {
        let auth = authenticator();
        let read = "/idic.v1.IdentityService/GetCustomer";
        let write = "/idic.v1.IdentityService/Merge";
        let callcenter = headers("authorization", "Bearer callcenter-key-0001");
        assert_eq!(
            auth.authorize(read, &callcenter).unwrap().client,
            "callcenter"
        );
        let denied = auth.authorize(write, &callcenter).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        let ops = headers("x-api-key", "operations-key-0002");
        assert!(
            auth.authorize(write, &ops).is_ok(),
            "admin grants every scope"
        );
        assert!(
            auth.authorize("/idic.v1.Unknown/Call", &callcenter)
                .is_err()
        );
    }

    #[test]
    fn missing_or_wrong_keys_are_unauthenticated() {
        let auth = authenticator();
        let path = "/idic.v1.IdentityService/GetCustomer";
        let none = auth.authorize(path, &http::HeaderMap::new()).unwrap_err();
        assert_eq!(none.code(), tonic::Code::Unauthenticated);
        for wrong in [
            "Bearer callcenter-key-0002",
            "Bearer callcenter-key-000",
            "Bearer callcenter-key-00011",
        ] {
            let status = auth
                .authorize(path, &headers("authorization", wrong))
                .unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{wrong}");
        }
    }

    #[test]
    fn hashed_keys_are_accepted() {
        let hashed = ApiKeyConfig {
            client: "orders".into(),
            key: None,
            key_sha256: Some(hex_digest("orders-secret-key-0004")),
            scopes: ["identity:read".to_owned()].into(),
        };
        let requirements = HashMap::from([(
            "/p/Read".to_owned(),
            requirement("identity:read", Access::Read),
        )]);
        let auth = Authenticator::new(&[hashed], requirements, None).unwrap();
        let caller = auth
            .authorize(
                "/p/Read",
                &headers("authorization", "Bearer orders-secret-key-0004"),
            )
            .unwrap();
        assert_eq!(caller.client, "orders");
    }

    #[test]
    fn a_peer_acting_for_a_client_gets_no_more_than_the_client() {
        let auth = authenticator();
        let write = "/idic.v1.IdentityService/Merge";
        let read = "/idic.v1.IdentityService/GetCustomer";
        let lookup = "/idic.v1.IdentityService/LookupCustomerId";

        let narrow = on_behalf_of(PEER_KEY, "callcenter", "interaction:write");
        let denied = auth.authorize(write, &narrow).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert!(denied.message().contains("identity:write"), "{denied:?}");
        assert!(denied.message().contains("callcenter"), "{denied:?}");
        assert!(auth.authorize(read, &narrow).is_err());
        assert!(
            auth.authorize(lookup, &narrow).is_ok(),
            "resolving references is part of serving any call"
        );

        let wide = on_behalf_of(PEER_KEY, "steward", "admin");
        let caller = auth.authorize(write, &wide).unwrap();
        assert_eq!(caller.client, "steward");
        assert_eq!(
            caller.scopes,
            BTreeSet::from(["identity:read".to_owned(), "identity:write".to_owned()]),
            "the peer key bounds an admin client"
        );

        // Without the headers the peer acts for itself (event consumers).
        let own = headers("authorization", &format!("Bearer {PEER_KEY}"));
        assert_eq!(auth.authorize(write, &own).unwrap().client, "idic-peers");
    }

    #[test]
    fn only_the_peer_key_may_speak_for_someone_else() {
        let auth = authenticator();
        let read = "/idic.v1.IdentityService/GetCustomer";
        // A client claiming to act for an admin keeps its own scopes and name.
        let forged = on_behalf_of("callcenter-key-0001", "ops", "admin");
        let caller = auth.authorize(read, &forged).unwrap();
        assert_eq!(caller.client, "callcenter");
        assert!(
            auth.authorize("/idic.v1.IdentityService/Merge", &forged)
                .is_err()
        );
    }

    #[test]
    fn keys_can_be_replaced_while_serving() {
        let auth = authenticator();
        let path = "/idic.v1.IdentityService/GetCustomer";
        let rotated = [key("callcenter", "callcenter-key-0099", &["identity:read"])];
        assert_eq!(auth.replace_keys(&rotated).unwrap(), 1);
        let old = headers("authorization", "Bearer callcenter-key-0001");
        assert_eq!(
            auth.authorize(path, &old).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let new = headers("authorization", "Bearer callcenter-key-0099");
        assert!(auth.authorize(path, &new).is_ok());
        assert!(
            auth.replace_keys(&[]).is_err(),
            "a reload does not turn authentication off"
        );
        assert!(auth.authorize(path, &new).is_ok());
    }

    #[test]
    fn disabled_lets_everyone_in() {
        let auth = Authenticator::new(&[], HashMap::new(), None).unwrap();
        assert_eq!(
            auth.authorize("/x/y", &http::HeaderMap::new()).unwrap(),
            Caller::anonymous()
        );
    }
}
