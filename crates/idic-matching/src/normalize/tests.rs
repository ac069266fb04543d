//! Tests of `normalize`: whole records, warnings, error collection and field paths.

use super::*;
use crate::record::{Date, IdKind, NormalizedIdentifier, RawIdentifier};

fn options() -> NormalizeOptions {
    NormalizeOptions::default()
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|error| error.field.as_str()).collect()
}

fn warned_fields(warnings: &[FieldWarning]) -> Vec<&str> {
    warnings
        .iter()
        .map(|warning| warning.field.as_str())
        .collect()
}

fn full_record() -> RawRecord {
    RawRecord {
        name_prefix: "Dr.".into(),
        given_name: "  Zoë ".into(),
        middle_name: "Anne-Marie".into(),
        family_name: "O'Brien Jr.".into(),
        name_suffix: "PhD".into(),
        organization_name: "Müller & Söhne GmbH".into(),
        date_of_birth: "1984-02-29".into(),
        emails: vec![
            "Zoe.OBrien+shop@GoogleMail.com".into(),
            "zoeobrien@gmail.com".into(),
            "".into(),
            "zoe@example.org".into(),
        ],
        phones: vec![
            "(415) 555-0123".into(),
            "+1 415 555 0123".into(),
            "+44 20 7946 0018".into(),
        ],
        addresses: vec![
            RawAddress {
                street: "12 North High Street, Apt 4".into(),
                locality: "Springfield".into(),
                postcode: "62701".into(),
                region: "Illinois".into(),
                ..RawAddress::default()
            },
            RawAddress::default(),
        ],
        identifiers: vec![
            RawIdentifier {
                kind: IdKind::Loyalty,
                system: Default::default(),
                value: "ab-12 34".into(),
            },
            RawIdentifier {
                kind: IdKind::Loyalty,
                system: Default::default(),
                value: "AB1234".into(),
            },
            RawIdentifier {
                kind: IdKind::External,
                system: "Shopify".into(),
                value: "c-42".into(),
            },
        ],
    }
}

#[test]
fn normalizes_a_full_record() {
    let record = normalize_record(&full_record(), &options()).unwrap();
    assert_eq!(record.given_name.as_deref(), Some("zoe"));
    assert_eq!(record.middle_name.as_deref(), Some("anne marie"));
    assert_eq!(record.family_name.as_deref(), Some("obrien"));
    assert_eq!(
        record.organization_name.as_deref(),
        Some("muller sohne gmbh")
    );
    assert_eq!(
        record.date_of_birth,
        Some(Date {
            year: 1984,
            month: 2,
            day: 29
        })
    );
    assert_eq!(record.emails, ["zoeobrien@gmail.com", "zoe@example.org"]);
    assert_eq!(record.phones, ["+14155550123", "+442079460018"]);
    assert_eq!(
        record.addresses,
        [NormalizedAddress {
            street_number: "12".into(),
            street: "n high st".into(),
            unit: "unit 4".into(),
            locality: "springfield".into(),
            postcode: "62701".into(),
            region: "il".into(),
            country: "US".into(),
        }]
    );
    assert_eq!(
        record.identifiers,
        [
            NormalizedIdentifier {
                kind: IdKind::Loyalty,
                system: Default::default(),
                value: "AB1234".into()
            },
            NormalizedIdentifier {
                kind: IdKind::External,
                system: "shopify".into(),
                value: "C42".into()
            },
        ]
    );
}

#[test]
fn every_unreadable_field_is_a_warning_and_the_record_is_kept() {
    let raw = RawRecord {
        given_name: "Ann".into(),
        date_of_birth: "2023-02-30".into(),
        emails: vec!["ann@example.com".into(), "not-an-email".into()],
        phones: vec!["12".into(), "415 555 0123".into()],
        addresses: vec![RawAddress {
            street: "1 Main St".into(),
            country: "Narnia".into(),
            ..RawAddress::default()
        }],
        identifiers: vec![
            RawIdentifier {
                kind: IdKind::Account,
                system: Default::default(),
                value: "A1".into(),
            },
            RawIdentifier {
                kind: IdKind::Loyalty,
                system: Default::default(),
                value: "B2".into(),
            },
            RawIdentifier {
                kind: IdKind::External,
                system: " ".into(),
                value: "  ".into(),
            },
        ],
        ..RawRecord::default()
    };
    let normalized = normalize(&raw, &options()).unwrap();
    let warnings = &normalized.warnings;
    assert_eq!(
        warned_fields(warnings),
        [
            "date_of_birth",
            "emails[1]",
            "phones[0]",
            "addresses[0].country",
            "identifiers[2].system",
            "identifiers[2].value",
        ]
    );
    assert_eq!(warnings[0].reason, "is not a date that exists");
    assert!(
        warnings[1].reason.starts_with("is not an e-mail address"),
        "{}",
        warnings[1].reason
    );
    assert_eq!(
        warnings[2].reason,
        "is not a valid phone number for region US"
    );
    assert_eq!(
        warnings[3].reason,
        "is not an ISO 3166-1 alpha-2 country code"
    );
    // Each warning keeps the value as received.
    assert_eq!(warnings[0].value, "2023-02-30");
    assert_eq!(warnings[1].value, "not-an-email");
    assert_eq!(warnings[3].value, "Narnia");
    // What could be read is kept, and nothing of what could not.
    let record = &normalized.record;
    assert_eq!(record.given_name.as_deref(), Some("ann"));
    assert_eq!(record.date_of_birth, None);
    assert_eq!(record.emails, ["ann@example.com"]);
    assert_eq!(record.phones, ["+14155550123"]);
    assert_eq!(record.identifiers.len(), 2);
    // The address without its unreadable country is still an address.
    assert_eq!(record.addresses.len(), 1);
    assert_eq!(record.addresses[0].street, "main st");
    assert_eq!(record.addresses[0].country, "");
}

#[test]
fn a_record_with_only_unreadable_fields_is_refused_with_the_reasons() {
    let raw = RawRecord {
        date_of_birth: "1990-02-31".into(),
        emails: vec!["not-an-email".into()],
        phones: vec!["000-0000".into()],
        addresses: vec![RawAddress {
            country: "Narnia".into(),
            ..RawAddress::default()
        }],
        ..RawRecord::default()
    };
    let errors = normalize(&raw, &options()).unwrap_err();
    assert_eq!(
        fields(&errors),
        [
            "",
            "date_of_birth",
            "emails[0]",
            "phones[0]",
            "addresses[0].country"
        ]
    );
    assert_eq!(errors[0].reason, NO_USABLE_FIELD);
}

#[test]
fn an_invalid_but_whole_phone_number_is_kept_as_exact_evidence() {
    let raw = RawRecord {
        phones: vec!["+1 421 616 3490".into(), "000-0000".into()],
        ..RawRecord::default()
    };
    let normalized = normalize(&raw, &options()).unwrap();
    assert_eq!(normalized.record.phones, ["+14216163490"]);
    assert_eq!(
        warned_fields(&normalized.warnings),
        ["phones[0]", "phones[1]"]
    );
}

#[test]
fn an_empty_record_is_one_error_on_the_record() {
    let expected = vec![FieldError::new("", NO_USABLE_FIELD)];
    assert_eq!(
        normalize_record(&RawRecord::default(), &options()).unwrap_err(),
        expected
    );
    let blank = RawRecord {
        given_name: "???".into(),
        family_name: "  ".into(),
        name_prefix: "Mr".into(),
        emails: vec![String::new(), " ".into()],
        addresses: vec![
            RawAddress::default(),
            RawAddress {
                street: "--".into(),
                ..RawAddress::default()
            },
        ],
        ..RawRecord::default()
    };
    assert_eq!(normalize_record(&blank, &options()).unwrap_err(), expected);
    // A date of birth alone singles nobody out.
    let birth_only = RawRecord {
        date_of_birth: "1990-01-01".into(),
        ..RawRecord::default()
    };
    assert_eq!(
        normalize_record(&birth_only, &options()).unwrap_err(),
        expected
    );
}

#[test]
fn names_that_fold_to_nothing_are_missing_not_errors() {
    let raw = RawRecord {
        given_name: "???".into(),
        family_name: "Smith".into(),
        ..RawRecord::default()
    };
    let record = normalize_record(&raw, &options()).unwrap();
    assert_eq!(record.given_name, None);
    assert_eq!(record.family_name.as_deref(), Some("smith"));
}

#[test]
fn titles_and_suffixes_are_not_part_of_names() {
    let raw = RawRecord {
        given_name: "Dr. John".into(),
        family_name: "Smith III".into(),
        ..RawRecord::default()
    };
    let record = normalize_record(&raw, &options()).unwrap();
    assert_eq!(record.given_name.as_deref(), Some("john"));
    assert_eq!(record.family_name.as_deref(), Some("smith"));
}

#[test]
fn long_fields_are_rejected() {
    let long = "x".repeat(MAX_FIELD_BYTES + 1);
    let raw = RawRecord {
        given_name: long.clone(),
        name_prefix: long.clone(),
        family_name: "x".repeat(MAX_FIELD_BYTES),
        emails: vec![long.clone()],
        addresses: vec![RawAddress {
            locality: long.clone(),
            ..RawAddress::default()
        }],
        identifiers: vec![RawIdentifier {
            kind: IdKind::External,
            system: long.clone(),
            value: "1".into(),
        }],
        ..RawRecord::default()
    };
    let errors = normalize_record(&raw, &options()).unwrap_err();
    assert_eq!(
        fields(&errors),
        [
            "name_prefix",
            "given_name",
            "emails[0]",
            "addresses[0].locality",
            "identifiers[0].system"
        ]
    );
    assert_eq!(
        errors[0].reason,
        "is 257 bytes long; at most 256 are accepted"
    );
}

#[test]
fn long_lists_are_rejected_without_reading_them() {
    let raw = RawRecord {
        given_name: "Ann".into(),
        emails: vec!["bad".into(); MAX_ENTRIES + 1],
        phones: vec!["415 555 0123".into(); MAX_ENTRIES],
        addresses: vec![RawAddress::default(); MAX_ENTRIES + 1],
        identifiers: vec![
            RawIdentifier {
                kind: IdKind::Device,
                system: Default::default(),
                value: "d".into()
            };
            MAX_ENTRIES + 5
        ],
        ..RawRecord::default()
    };
    let errors = normalize_record(&raw, &options()).unwrap_err();
    assert_eq!(fields(&errors), ["emails", "addresses", "identifiers"]);
    assert_eq!(errors[0].reason, "has 17 entries; at most 16 are accepted");
}

#[test]
fn the_default_region_applies_to_phones_and_addresses() {
    let raw = RawRecord {
        phones: vec!["020 7946 0018".into()],
        addresses: vec![RawAddress {
            street: "10 Downing Street".into(),
            postcode: "sw1a 2aa".into(),
            ..RawAddress::default()
        }],
        ..RawRecord::default()
    };
    let options = NormalizeOptions {
        default_region: "GB".into(),
    };
    let record = normalize_record(&raw, &options).unwrap();
    assert_eq!(record.phones, ["+442079460018"]);
    assert_eq!(record.addresses[0].country, "GB");
    assert_eq!(record.addresses[0].postcode, "SW1A2AA");
    // The same national number is not a US number.
    let normalized = normalize(&raw, &NormalizeOptions::default()).unwrap();
    assert_eq!(warned_fields(&normalized.warnings), ["phones[0]"]);
}

#[test]
fn duplicates_collapse_in_input_order() {
    let raw = RawRecord {
        emails: vec!["b@x.com".into(), "a@x.com".into(), "B+1@X.com".into()],
        phones: vec![
            "415 555 0123".into(),
            "+44 20 7946 0018".into(),
            "1-415-555-0123".into(),
        ],
        addresses: vec![
            RawAddress {
                street: "1 Main Street".into(),
                ..RawAddress::default()
            },
            RawAddress {
                street_number: "1".into(),
                street: "main st.".into(),
                country: "us".into(),
                ..RawAddress::default()
            },
        ],
        ..RawRecord::default()
    };
    let record = normalize_record(&raw, &options()).unwrap();
    assert_eq!(record.emails, ["b@x.com", "a@x.com"]);
    assert_eq!(record.phones, ["+14155550123", "+442079460018"]);
    assert_eq!(record.addresses.len(), 1);
}

#[test]
fn an_address_with_only_a_country_is_kept() {
    let raw = RawRecord {
        addresses: vec![RawAddress {
            country: "France".into(),
            ..RawAddress::default()
        }],
        ..RawRecord::default()
    };
    let record = normalize_record(&raw, &options()).unwrap();
    assert_eq!(
        record.addresses,
        [NormalizedAddress {
            country: "FR".into(),
            ..NormalizedAddress::default()
        }]
    );
}

#[test]
fn options_default_to_the_us() {
    assert_eq!(NormalizeOptions::default().default_region, "US");
}
