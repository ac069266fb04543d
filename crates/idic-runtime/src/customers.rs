//! Customer references resolved through identity, the one way every service does it:
//! resolve (cached) or create the customer of an identifier identity does not know
//! yet, look a reference up uncached (after a split, when cached answers may be stale),
//! and the share of the caller's deadline one call to identity may take. Every failure
//! of identity reaches the caller through [`peer_error`], keeping its status class.
//!
//! Rows keyed by customer keep their reference's *anchor* ([`CustomerSelector::anchor`],
//! the only anchor format), so that after a split each row can be resolved again.

use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::IdentifierKind;

use crate::error::{ApiError, ApiResult};
use crate::middleware::Deadline;
use crate::peers::{Peers, peer_error};
use crate::refs::CustomerSelector;

/// The most one call to identity may take of the caller's deadline, by default.
pub const RESOLVE_BUDGET: Duration = Duration::from_secs(2);

/// What a call to identity may take: the caller's remaining deadline, at most `most`.
pub fn budget<T>(request: &tonic::Request<T>, most: Duration) -> Duration {
    Deadline::of(request).map_or(most, |deadline| deadline.remaining().min(most))
}

/// A resolved reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub customer_id: String,
    /// The reference as rows store it ([`CustomerSelector::anchor`]).
    pub anchor: String,
    /// True when identity created the customer for this call.
    pub created: bool,
}

/// How a service creates the customer of an identifier identity does not know.
#[derive(Debug, Clone, Copy)]
pub struct NewCustomer<'a> {
    /// The `source_system` of the record the service sends to identity.
    pub source_system: &'a str,
    /// The channel of that record (`Channel` number; 0 when unknown).
    pub channel: i32,
    /// Whether a postal address alone creates a customer (differentiation: a
    /// transaction shipped to an address; interaction: no, a contact needs more).
    pub from_postal_address: bool,
    /// The record id of the created record, its idempotency key in identity (and the
    /// key an operator unmerges it by): the anchor for interaction; differentiation
    /// keeps the `kind:value` ids it always gave.
    pub record_id: fn(&CustomerSelector) -> String,
}

/// Resolves `selector` through identity (cached by the runtime). An identifier
/// identity does not know creates the customer with a record from `new`, keyed by
/// `new.record_id` so that a retry changes nothing; an unknown customer id stays
/// NOT_FOUND.
pub async fn resolve_or_create(
    peers: &Peers,
    selector: &CustomerSelector,
    new: NewCustomer<'_>,
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
            CustomerSelector::Identifier { kind, .. }
                if *kind == IdentifierKind::PostalAddress && !new.from_postal_address =>
            {
                Err(ApiError::NotFound(message))
            }
            CustomerSelector::Identifier { .. } => {
                let customer_id = create_customer(peers, selector, new, budget).await?;
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

/// Asks identity to create (or find) the customer of one identifier.
async fn create_customer(
    peers: &Peers,
    selector: &CustomerSelector,
    new: NewCustomer<'_>,
    budget: Duration,
) -> ApiResult<String> {
    let Some(pb::customer_ref::Ref::Identifier(identifier)) = selector.to_proto().r#ref else {
        return Err(ApiError::not_found("no customer matches the reference"));
    };
    let record = pb::SourceRecord {
        source_system: new.source_system.to_owned(),
        source_record_id: (new.record_id)(selector),
        channel: new.channel,
        identifiers: vec![identifier],
        ..pb::SourceRecord::default()
    };
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

/// The customer id `selector` resolves to now, asking identity itself (None when
/// identity knows it no more): for re-resolving rows after a split, when cached answers
/// may be stale.
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
            CustomerSelector::Identifier {
                kind: IdentifierKind::PostalAddress,
                system: String::new(),
                value: "1, Main Street, Leeds".into(),
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

    #[test]
    fn the_budget_is_the_most_without_a_deadline() {
        let request = tonic::Request::new(());
        assert_eq!(budget(&request, RESOLVE_BUDGET), RESOLVE_BUDGET);
    }
}
