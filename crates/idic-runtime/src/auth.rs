//! Per-client API keys with scopes.
//!
//! A client sends `authorization: Bearer <key>` (or `x-api-key: <key>`). Each RPC needs
//! one scope, `<service>:read` or `<service>:write`, declared by its service; `admin`
//! grants every scope. Health checks and reflection stay open so that probes and
//! tooling work without credentials.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::Status;

use crate::config::{ApiKeyConfig, ServiceName};

/// What an RPC does, which decides the scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Only `admin` may call it (erasure, stewardship across customers).
    Admin,
}

/// The scope that grants everything.
pub const ADMIN_SCOPE: &str = "admin";

/// The scope a call of `access` on `service` needs.
pub fn scope_for(service: ServiceName, access: Access) -> String {
    match access {
        Access::Read => format!("{service}:read"),
        Access::Write => format!("{service}:write"),
        Access::Admin => ADMIN_SCOPE.to_owned(),
    }
}

/// Who is calling, as handlers see it (audit trails record `client`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client: String,
}

impl Caller {
    /// The caller when authentication is off (development).
    pub fn anonymous() -> Self {
        Caller {
            client: "anonymous".to_owned(),
        }
    }

    /// The caller of a request that passed the auth layer.
    pub fn of<T>(request: &tonic::Request<T>) -> Caller {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(Caller::anonymous)
    }
}

struct Client {
    name: String,
    key: Vec<u8>,
    scopes: BTreeSet<String>,
}

/// Decides, for a request's path and headers, whether it may proceed.
pub struct Authenticator {
    clients: Vec<Client>,
    /// gRPC path (`/idic.v1.IdentityService/GetCustomer`) -> required scope.
    required_scopes: HashMap<String, String>,
}

impl Authenticator {
    pub fn new(keys: &[ApiKeyConfig], required_scopes: HashMap<String, String>) -> Arc<Self> {
        let clients = keys
            .iter()
            .map(|key| Client {
                name: key.client.clone(),
                key: key.key.expose().as_bytes().to_vec(),
                scopes: key.scopes.clone(),
            })
            .collect();
        Arc::new(Authenticator {
            clients,
            required_scopes,
        })
    }

    pub fn enabled(&self) -> bool {
        !self.clients.is_empty()
    }

    /// `Ok(caller)` when the request may proceed, else the status to answer with.
    pub fn authorize(&self, path: &str, headers: &http::HeaderMap) -> Result<Caller, Status> {
        if !self.enabled() {
            return Ok(Caller::anonymous());
        }
        let presented = presented_key(headers).ok_or_else(|| {
            Status::unauthenticated("missing credentials: send 'authorization: Bearer <api key>'")
        })?;
        let client = self
            .find_client(presented.as_bytes())
            .ok_or_else(|| Status::unauthenticated("unknown API key"))?;
        let required = self
            .required_scopes
            .get(path)
            .map(String::as_str)
            .unwrap_or(ADMIN_SCOPE);
        if client.scopes.contains(required) || client.scopes.contains(ADMIN_SCOPE) {
            return Ok(Caller {
                client: client.name.clone(),
            });
        }
        Err(Status::permission_denied(format!(
            "client '{}' lacks scope '{required}' needed for {path}",
            client.name
        )))
    }

    /// Compares against every key in constant time, so timing tells nothing of a key.
    fn find_client(&self, presented: &[u8]) -> Option<&Client> {
        let mut found = None;
        for client in &self.clients {
            let equal: bool = client.key.as_slice().ct_eq(presented).into();
            if equal {
                found = Some(client);
            }
        }
        found
    }
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

    fn authenticator() -> Arc<Authenticator> {
        let keys = vec![
            ApiKeyConfig {
                client: "callcenter".into(),
                key: Secret::new("callcenter-key-0001"),
                scopes: ["identity:read".to_owned()].into(),
            },
            ApiKeyConfig {
                client: "ops".into(),
                key: Secret::new("operations-key-0002"),
                scopes: [ADMIN_SCOPE.to_owned()].into(),
            },
        ];
        let scopes = HashMap::from([
            (
                "/idic.v1.IdentityService/GetCustomer".to_owned(),
                "identity:read".to_owned(),
            ),
            (
                "/idic.v1.IdentityService/Merge".to_owned(),
                "identity:write".to_owned(),
            ),
        ]);
        Authenticator::new(&keys, scopes)
    }

    fn headers(name: &'static str, value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
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
        let wrong = auth
            .authorize(
                path,
                &headers("authorization", "Bearer callcenter-key-0002"),
            )
            .unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
        let prefix = auth
            .authorize(path, &headers("authorization", "Bearer callcenter-key-000"))
            .unwrap_err();
        assert_eq!(prefix.code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn disabled_lets_everyone_in() {
        let auth = Authenticator::new(&[], HashMap::new());
        assert_eq!(
            auth.authorize("/x/y", &http::HeaderMap::new()).unwrap(),
            Caller::anonymous()
        );
    }
}
