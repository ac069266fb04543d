//! Parsing of `CustomerRef` at the edge: a handler turns the wire message into a
//! [`CustomerSelector`] once, and the rest of the code only ever holds a valid one.

use idic_proto::v1::{CustomerRef, Identifier, IdentifierKind, PostalAddress, customer_ref};

use crate::error::FieldViolation;

/// The longest identifier value accepted, in bytes.
const MAX_VALUE_BYTES: usize = 512;

/// A customer reference that passed validation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CustomerSelector {
    /// A customer id (surviving or alias).
    Id(String),
    /// An identifier, its value trimmed; `system` is set for external ids only.
    Identifier {
        kind: IdentifierKind,
        system: String,
        value: String,
    },
}

impl CustomerSelector {
    /// Parses the `field` of a request that holds a `CustomerRef`.
    pub fn parse(reference: Option<&CustomerRef>, field: &str) -> Result<Self, FieldViolation> {
        let reference = reference
            .and_then(|reference| reference.r#ref.as_ref())
            .ok_or_else(|| {
                FieldViolation::new(field, "is required: set customer_id or identifier")
            })?;
        match reference {
            customer_ref::Ref::CustomerId(id) => parse_customer_id(id)
                .map(CustomerSelector::Id)
                .map_err(|violation| violation.under(field)),
            customer_ref::Ref::Identifier(identifier) => {
                parse_identifier(identifier).map_err(|violation| violation.under(field))
            }
        }
    }

    /// The reference as one string that services store beside the rows they key by
    /// customer (`id:cus_...`, or `KIND:value`, `EXTERNAL_ID:system:value` for
    /// external ids), so that after a split in identity each row can be resolved
    /// again and follow its own reference.
    pub fn anchor(&self) -> String {
        match self {
            CustomerSelector::Id(id) => format!("id:{id}"),
            CustomerSelector::Identifier {
                kind,
                system,
                value,
            } => {
                let kind = kind.as_str_name().trim_start_matches("IDENTIFIER_KIND_");
                if system.is_empty() {
                    format!("{kind}:{value}")
                } else {
                    format!("{kind}:{system}:{value}")
                }
            }
        }
    }

    /// The selector an [`anchor`](Self::anchor) was made from; `None` for a
    /// malformed one.
    pub fn from_anchor(anchor: &str) -> Option<CustomerSelector> {
        if let Some(id) = anchor.strip_prefix("id:") {
            return Some(CustomerSelector::Id(id.to_owned()));
        }
        let (kind, rest) = anchor.split_once(':')?;
        let kind = IdentifierKind::from_str_name(&format!("IDENTIFIER_KIND_{kind}"))?;
        let (system, value) = if kind == IdentifierKind::ExternalId {
            let (system, value) = rest.split_once(':')?;
            (system.to_owned(), value.to_owned())
        } else {
            (String::new(), rest.to_owned())
        };
        Some(CustomerSelector::Identifier {
            kind,
            system,
            value,
        })
    }

    /// The reference back on the wire, for calls to peers.
    pub fn to_proto(&self) -> CustomerRef {
        let reference = match self {
            CustomerSelector::Id(id) => customer_ref::Ref::CustomerId(id.clone()),
            CustomerSelector::Identifier {
                kind,
                system,
                value,
            } => customer_ref::Ref::Identifier(Identifier {
                kind: *kind as i32,
                value: value.clone(),
                system: system.clone(),
                address: None,
            }),
        };
        CustomerRef {
            r#ref: Some(reference),
        }
    }
}

fn parse_customer_id(id: &str) -> Result<String, FieldViolation> {
    let id = id.trim();
    if id.is_empty() {
        return Err(FieldViolation::new("customer_id", "must not be empty"));
    }
    if id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(FieldViolation::new(
            "customer_id",
            "must be at most 64 letters, digits, '_' or '-'",
        ));
    }
    Ok(id.to_owned())
}

fn parse_identifier(identifier: &Identifier) -> Result<CustomerSelector, FieldViolation> {
    let kind = IdentifierKind::try_from(identifier.kind)
        .ok()
        .filter(|kind| *kind != IdentifierKind::Unspecified)
        .ok_or_else(|| {
            FieldViolation::new("identifier.kind", "must name a known identifier kind")
        })?;
    let value = match kind {
        IdentifierKind::PostalAddress => identifier
            .address
            .as_ref()
            .map(address_line)
            .filter(|line| !line.is_empty())
            .ok_or_else(|| {
                FieldViolation::new("identifier.address", "is required for a postal address")
            })?,
        _ => identifier.value.trim().to_owned(),
    };
    if value.is_empty() {
        return Err(FieldViolation::new("identifier.value", "must not be empty"));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(FieldViolation::new(
            "identifier.value",
            format!("must be at most {MAX_VALUE_BYTES} bytes"),
        ));
    }
    let system = if kind == IdentifierKind::ExternalId {
        let system = identifier.system.trim();
        if system.is_empty() {
            return Err(FieldViolation::new(
                "identifier.system",
                "is required for an external id",
            ));
        }
        system.to_owned()
    } else {
        String::new()
    };
    Ok(CustomerSelector::Identifier {
        kind,
        system,
        value,
    })
}

/// The address's non-empty parts on one line, in a fixed order.
fn address_line(address: &PostalAddress) -> String {
    [
        &address.street_number,
        &address.street,
        &address.address_line2,
        &address.locality,
        &address.postcode,
        &address.region,
        &address.country,
    ]
    .iter()
    .map(|part| part.trim())
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_identifier(kind: IdentifierKind, value: &str, system: &str) -> CustomerRef {
        CustomerRef {
            r#ref: Some(customer_ref::Ref::Identifier(Identifier {
                kind: kind as i32,
                value: value.into(),
                system: system.into(),
                address: None,
            })),
        }
    }

    #[test]
    fn names_the_offending_field() {
        let missing = CustomerSelector::parse(None, "customer").unwrap_err();
        assert_eq!(missing.field, "customer");
        let empty = by_identifier(IdentifierKind::Email, "  ", "");
        assert_eq!(
            CustomerSelector::parse(Some(&empty), "customer")
                .unwrap_err()
                .field,
            "customer.identifier.value"
        );
        let unknown_kind = by_identifier(IdentifierKind::Unspecified, "x", "");
        assert_eq!(
            CustomerSelector::parse(Some(&unknown_kind), "customer")
                .unwrap_err()
                .field,
            "customer.identifier.kind"
        );
        let no_system = by_identifier(IdentifierKind::ExternalId, "123", "");
        assert_eq!(
            CustomerSelector::parse(Some(&no_system), "customer")
                .unwrap_err()
                .field,
            "customer.identifier.system"
        );
        let bad_id = CustomerRef {
            r#ref: Some(customer_ref::Ref::CustomerId("cus 1; drop".into())),
        };
        assert_eq!(
            CustomerSelector::parse(Some(&bad_id), "customer")
                .unwrap_err()
                .field,
            "customer.customer_id"
        );
    }

    #[test]
    fn accepts_and_round_trips_valid_references() {
        let reference = by_identifier(IdentifierKind::LoyaltyId, " 12345 ", "");
        let selector = CustomerSelector::parse(Some(&reference), "customer").unwrap();
        assert_eq!(
            selector,
            CustomerSelector::Identifier {
                kind: IdentifierKind::LoyaltyId,
                system: String::new(),
                value: "12345".into()
            }
        );
        assert_eq!(
            CustomerSelector::parse(Some(&selector.to_proto()), "customer").unwrap(),
            selector
        );
    }
}
