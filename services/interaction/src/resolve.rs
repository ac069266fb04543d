//! From the reference a caller gave to the customer id rows are keyed by, and back.
//!
//! Every row keeps its *anchor*, the reference as given (`id:cus_...`, or
//! `KIND:value`, `EXTERNAL_ID:system:value` for external ids), so that after an
//! unmerge in identity each row can be re-resolved and follow its own anchor.

use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::IdentifierKind;
use idic_runtime::ApiError;
use idic_runtime::ApiResult;
use idic_runtime::peers::{Peers, peer_error};
use idic_runtime::refs::CustomerSelector;

/// The `source_system` of the records this service creates in identity.
pub const SOURCE_SYSTEM: &str = "interaction";

/// A resolved reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub customer_id: String,
    pub anchor: String,
    /// True when identity created the customer for this call.
    pub created: bool,
}

/// Resolves `selector` through identity (cached by the runtime). An identifier
/// identity does not know creates the customer with a record from this service; an
/// unknown customer id stays NOT_FOUND.
pub async fn resolve_or_create(
    peers: &Peers,
    selector: &CustomerSelector,
    budget: Duration,
) -> ApiResult<Resolved> {
    let anchor = selector.anchor();
    match peers.resolve_customer(selector, budget).await {
        Ok(customer_id) => Ok(Resolved {
            customer_id,
            anchor,
            created: false,
        }),
        Err(ApiError::NotFound(message)) => match selector {
            CustomerSelector::Id(_) => Err(ApiError::NotFound(message)),
            CustomerSelector::Identifier { kind, .. } if *kind == IdentifierKind::PostalAddress => {
                Err(ApiError::NotFound(message))
            }
            CustomerSelector::Identifier { .. } => {
                let customer_id = create_customer(peers, selector, &anchor, budget).await?;
                Ok(Resolved {
                    customer_id,
                    anchor,
                    created: true,
                })
            }
        },
        Err(other) => Err(other),
    }
}

/// Asks identity to create (or find) the customer of one identifier, keyed by the
/// anchor so that a retry changes nothing.
async fn create_customer(
    peers: &Peers,
    selector: &CustomerSelector,
    anchor: &str,
    budget: Duration,
) -> ApiResult<String> {
    let CustomerSelector::Identifier {
        kind,
        system,
        value,
    } = selector
    else {
        return Err(ApiError::not_found("no customer matches the reference"));
    };
    let mut record = pb::SourceRecord {
        source_system: SOURCE_SYSTEM.to_owned(),
        source_record_id: anchor.to_owned(),
        ..Default::default()
    };
    match kind {
        IdentifierKind::Email => record.emails.push(value.clone()),
        IdentifierKind::Phone => record.phones.push(value.clone()),
        _ => record.identifiers.push(pb::Identifier {
            kind: *kind as i32,
            value: value.clone(),
            system: system.clone(),
            address: None,
        }),
    }
    upsert_record(peers, record, budget).await
}

/// Sends one source record to identity; returns the customer it now belongs to.
pub async fn upsert_record(
    peers: &Peers,
    record: pb::SourceRecord,
    budget: Duration,
) -> ApiResult<String> {
    let mut request = tonic::Request::new(pb::UpsertRecordRequest {
        record: Some(record),
        strict: false,
    });
    request.set_timeout(budget);
    match peers.identity().upsert_record(request).await {
        Ok(response) => Ok(response.into_inner().customer_id),
        Err(status) => Err(peer_error("identity", status)),
    }
}

/// The uncached customer id of an anchor (None when identity knows it no more), for
/// re-resolving rows after an unmerge, when cached answers may be stale.
pub async fn lookup_uncached(
    peers: &Peers,
    selector: &CustomerSelector,
    budget: Duration,
) -> ApiResult<Option<String>> {
    let mut request = tonic::Request::new(pb::LookupCustomerIdRequest {
        customer: Some(selector.to_proto()),
    });
    request.set_timeout(budget);
    match peers.identity().lookup_customer_id(request).await {
        Ok(response) => Ok(Some(response.into_inner().customer_id)),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
        Err(status) => Err(peer_error("identity", status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_round_trip() {
        let selectors = [
            CustomerSelector::Id("cus_1".into()),
            CustomerSelector::Identifier {
                kind: IdentifierKind::Phone,
                system: String::new(),
                value: "+44 20 7946 0000".into(),
            },
            CustomerSelector::Identifier {
                kind: IdentifierKind::ExternalId,
                system: "segment".into(),
                value: "user:42".into(),
            },
        ];
        for selector in selectors {
            assert_eq!(
                CustomerSelector::from_anchor(&selector.anchor()),
                Some(selector)
            );
        }
        assert_eq!(CustomerSelector::from_anchor("NOPE:1"), None);
    }
}
