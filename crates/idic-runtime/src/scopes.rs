//! The scopes an RPC needs and a caller holds: `<service>:read`, `<service>:write` and
//! `admin`, which grants every scope; and [`Caller`], who is calling, as handlers see
//! it. A leaf: configuration validates keys' scopes against it, authentication and
//! delegation grant by it.

use std::collections::BTreeSet;

use crate::service_name::ServiceName;

/// What an RPC does, which decides the scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Reads only the customer id a reference resolves to. A client needs
    /// `<service>:read`; a peer acting for a client needs only its own key's scope,
    /// since every service resolves the references of the calls it serves.
    Lookup,
    Write,
    /// Only `admin` may call it (erasure, stewardship across customers).
    Admin,
}

/// The scope that grants everything.
pub const ADMIN_SCOPE: &str = "admin";

/// The scope a call of `access` on `service` needs.
pub fn scope_for(service: ServiceName, access: Access) -> String {
    match access {
        Access::Read | Access::Lookup => format!("{service}:read"),
        Access::Write => format!("{service}:write"),
        Access::Admin => ADMIN_SCOPE.to_owned(),
    }
}

/// Every scope a key may hold: `admin` and `<service>:read|write` for each service.
pub fn known_scopes() -> BTreeSet<String> {
    let mut scopes: BTreeSet<String> = ServiceName::ALL
        .iter()
        .flat_map(|service| [format!("{service}:read"), format!("{service}:write")])
        .collect();
    scopes.insert(ADMIN_SCOPE.to_owned());
    scopes
}

/// Whether `scopes` grant `scope` (`admin` grants all).
pub fn grants(scopes: &BTreeSet<String>, scope: &str) -> bool {
    scopes.contains(scope) || scopes.contains(ADMIN_SCOPE)
}

/// What both scope sets grant.
pub(crate) fn intersection(
    first: &BTreeSet<String>,
    second: &BTreeSet<String>,
) -> BTreeSet<String> {
    if first.contains(ADMIN_SCOPE) {
        return second.clone();
    }
    if second.contains(ADMIN_SCOPE) {
        return first.clone();
    }
    first.intersection(second).cloned().collect()
}

/// Who is calling, as handlers see it (audit trails record `client`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client: String,
    /// What the caller may do; for a call made on a client's behalf, what both the
    /// peer key and the client hold.
    pub scopes: BTreeSet<String>,
    /// False when authentication is off.
    pub authenticated: bool,
}

impl Caller {
    /// The caller when authentication is off (development).
    pub fn anonymous() -> Self {
        Caller {
            client: "anonymous".to_owned(),
            scopes: BTreeSet::new(),
            authenticated: false,
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
