//! Identity's domain: customers, their golden records and the source records behind
//! them. No SQL and no protobuf here.

use serde::{Deserialize, Serialize};

/// How a stored identifier is looked up: its kind (the wire enum's number), the issuing
/// system for external ids, and the value in comparable form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentifierKey {
    pub kind: i32,
    pub system: String,
    pub value: String,
}

/// A postal address as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub street_number: String,
    pub street: String,
    pub address_line2: String,
    pub locality: String,
    pub postcode: String,
    pub region: String,
    pub country: String,
}

/// An identifier as stored in a golden record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIdentifier {
    pub kind: i32,
    pub system: String,
    pub value: String,
}

/// The best known value of each field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoldenRecord {
    pub given_name: String,
    pub middle_name: String,
    pub family_name: String,
    pub organization_name: String,
    pub date_of_birth: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub addresses: Vec<Address>,
    pub identifiers: Vec<StoredIdentifier>,
}

/// Where a source record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecordRef {
    pub source_system: String,
    pub source_record_id: String,
    pub channel: i32,
    pub observed_at_micros: i64,
}

/// One customer with everything `GetCustomer` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub customer_id: String,
    pub golden: GoldenRecord,
    pub records: Vec<SourceRecordRef>,
    pub aliases: Vec<String>,
    pub created_at_micros: i64,
    pub updated_at_micros: i64,
}

impl IdentifierKey {
    /// The comparable form of an identifier: e-mails in lower case, phones as their
    /// digits with a leading `+` kept, everything else trimmed.
    pub fn normalized(kind: i32, system: &str, value: &str) -> IdentifierKey {
        use idic_proto::v1::IdentifierKind;
        let value = value.trim();
        let value = match IdentifierKind::try_from(kind) {
            Ok(IdentifierKind::Email) => value.to_lowercase(),
            Ok(IdentifierKind::Phone) => {
                let digits: String = value.chars().filter(char::is_ascii_digit).collect();
                if value.starts_with('+') {
                    format!("+{digits}")
                } else {
                    digits
                }
            }
            _ => value.to_owned(),
        };
        IdentifierKey {
            kind,
            system: system.trim().to_owned(),
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idic_proto::v1::IdentifierKind;

    #[test]
    fn identifiers_compare_in_normal_form() {
        let email =
            IdentifierKey::normalized(IdentifierKind::Email as i32, "", " Ann@Example.COM ");
        assert_eq!(email.value, "ann@example.com");
        let phone =
            IdentifierKey::normalized(IdentifierKind::Phone as i32, "", "+44 (20) 7946-0018");
        assert_eq!(phone.value, "+442079460018");
    }
}
