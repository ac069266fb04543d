//! How interaction resolves the references callers give: through the runtime's one
//! customer-reference module ([`idic_runtime::customers`]), creating in identity the
//! customer of an identifier it does not know yet, under this service's source system.
//!
//! Every row keeps its *anchor* ([`CustomerSelector::anchor`]), so that after an
//! unmerge in identity each row can be re-resolved and follow its own anchor.

use std::time::Duration;

use idic_runtime::ApiResult;
use idic_runtime::customers::{self, NewCustomer};
use idic_runtime::peers::Peers;
use idic_runtime::refs::CustomerSelector;

pub use idic_runtime::customers::{Resolved, lookup_uncached, upsert_record};

/// The `source_system` of the records this service creates in identity.
pub const SOURCE_SYSTEM: &str = "interaction";

/// The records interaction creates: no channel of their own, keyed by the anchor; a
/// postal address alone creates no customer.
const NEW_CUSTOMER: NewCustomer<'static> = NewCustomer {
    source_system: SOURCE_SYSTEM,
    channel: 0,
    from_postal_address: false,
    record_id: CustomerSelector::anchor,
};

/// Resolves `selector` through identity (cached by the runtime); an identifier
/// identity does not know creates the customer; an unknown customer id stays NOT_FOUND.
pub async fn resolve_or_create(
    peers: &Peers,
    selector: &CustomerSelector,
    budget: Duration,
) -> ApiResult<Resolved> {
    customers::resolve_or_create(peers, selector, NEW_CUSTOMER, budget).await
}
