//! A source record's fields as received (`RawRecord`) and in comparable form
//! (`NormalizedRecord`). The identity service converts the wire message into a
//! `RawRecord`; `normalize::normalize` turns it into a `NormalizedRecord` with a
//! warning for each field it could not read, or says why the record is unusable.

use serde::{Deserialize, Serialize};

/// Text the matcher compares: held inline up to 24 bytes (nearly every name, street,
/// postcode, phone and e-mail), so that a record's comparable fields lie together in
/// memory. Comparing a new record with its candidates reads every candidate's fields;
/// as separate heap strings each was a cache miss, and those misses were most of the
/// comparison's time.
pub type Text = compact_str::CompactString;

/// Identifier kinds other than e-mail, phone and postal address, which are fields of
/// their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IdKind {
    Loyalty,
    Account,
    Device,
    National,
    /// An id issued by another system, named in `system`.
    External,
}

impl IdKind {
    /// The kind's name, as `Debug` writes it.
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Loyalty => "Loyalty",
            IdKind::Account => "Account",
            IdKind::Device => "Device",
            IdKind::National => "National",
            IdKind::External => "External",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawAddress {
    pub street_number: String,
    pub street: String,
    pub address_line2: String,
    pub locality: String,
    pub postcode: String,
    pub region: String,
    /// ISO 3166-1 alpha-2; empty means the configured default region.
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawIdentifier {
    pub kind: IdKind,
    /// Required for `External`, empty otherwise.
    pub system: String,
    pub value: String,
}

/// The fields of one source record, as the source sent them. Empty strings are
/// missing values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRecord {
    pub name_prefix: String,
    pub given_name: String,
    pub middle_name: String,
    pub family_name: String,
    pub name_suffix: String,
    pub organization_name: String,
    /// `YYYY-MM-DD` or `YYYYMMDD`.
    pub date_of_birth: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub addresses: Vec<RawAddress>,
    pub identifiers: Vec<RawIdentifier>,
}

/// A generational suffix ("Jr", "Sr", "III"): a father and the son named after him
/// differ in it, so two different ones name two people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Generation {
    Senior,
    /// "Jr" and "II" both mark the younger of two people of one name.
    Junior,
    Third,
    Fourth,
}

/// A calendar date that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// `YYYYMMDD` as ASCII digits (a year of more than four digits keeps its last
    /// four; parsed dates have four).
    pub fn digits(self) -> [u8; 8] {
        let mut digits = [b'0'; 8];
        let mut fill = |at: usize, width: usize, mut value: u16| {
            for place in (at..at + width).rev() {
                digits[place] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        fill(0, 4, self.year);
        fill(4, 2, u16::from(self.month));
        fill(6, 2, u16::from(self.day));
        digits
    }
}

/// An address in comparable form. Every text field is folded (lower case, no
/// diacritics, single spaces) and street types, unit designators and directionals are
/// abbreviated to one spelling ("Street"/"St."/"str" -> "st", "Apartment 4"/"#4" ->
/// "unit 4").
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NormalizedAddress {
    pub street_number: Text,
    pub street: Text,
    pub unit: Text,
    pub locality: Text,
    /// Upper case, no spaces.
    pub postcode: Text,
    pub region: Text,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Text,
}

/// An identifier in comparable form (trimmed; account-like codes upper-cased, spaces
/// and dashes removed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NormalizedIdentifier {
    pub kind: IdKind,
    pub system: Text,
    pub value: Text,
}

/// A source record in comparable form; `None` and empty lists are missing values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizedRecord {
    /// Folded name parts: lower case ASCII letters, digits and single spaces.
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub family_name: Option<String>,
    pub organization_name: Option<String>,
    /// From the suffix field or a trailing "Jr"/"Sr"/"III" of a name part.
    #[serde(default)]
    pub generation: Option<Generation>,
    pub date_of_birth: Option<Date>,
    /// Canonical e-mails, deduplicated, in input order.
    pub emails: Vec<String>,
    /// E.164 phones, deduplicated, in input order.
    pub phones: Vec<String>,
    pub addresses: Vec<NormalizedAddress>,
    pub identifiers: Vec<NormalizedIdentifier>,
}

/// One bad field of a raw record, by its path in the record (`emails[1]`,
/// `addresses[0].country`, `date_of_birth`), with a reason a person can act on.
/// An empty `field` means the record as a whole (e.g. it has no usable field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A field of a raw record that could not be read (a phone that is not a number, a day
/// that does not exist). The record is kept with the field as received; the field is
/// left out of the comparisons (but see `normalize::phone_evidence`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWarning {
    /// The field's path in the record (`phones[0]`, `addresses[1].country`).
    pub field: String,
    /// Why it could not be read; never contains the value, so it can be counted.
    pub reason: String,
    /// The value as received.
    pub value: String,
}

impl FieldWarning {
    pub fn new(field: impl Into<String>, reason: impl Into<String>, value: &str) -> Self {
        FieldWarning {
            field: field.into(),
            reason: reason.into(),
            value: value.to_owned(),
        }
    }

    /// The same problem as a refusal, for callers that ask for strict checking.
    pub fn into_error(self) -> FieldError {
        FieldError {
            field: self.field,
            reason: self.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digits block keys and typo comparisons use, as `{:04}{:02}{:02}` writes them.
    #[test]
    fn date_digits_are_the_formatted_date() {
        for (year, month, day) in [(1900, 1, 1), (1987, 12, 31), (2026, 2, 9), (999, 7, 4)] {
            let date = Date { year, month, day };
            assert_eq!(
                std::str::from_utf8(&date.digits()).unwrap(),
                format!("{year:04}{month:02}{day:02}")
            );
        }
    }

    /// Identifier block keys hash the kind's name; `Debug` wrote it before.
    #[test]
    fn id_kind_names_are_their_debug_names() {
        for kind in [
            IdKind::Loyalty,
            IdKind::Account,
            IdKind::Device,
            IdKind::National,
            IdKind::External,
        ] {
            assert_eq!(kind.name(), format!("{kind:?}"));
        }
    }
}
