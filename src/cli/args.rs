//! The one way the command line (and the console's search box) reads its arguments:
//! customer references, times and dates, for every command and for the `customer_ref`
//! and `occurred_at` columns of `idic import transactions|interactions`.
//!
//! A customer reference is read as follows:
//!
//! - `KIND:VALUE` with KIND one of `email`, `phone`, `loyalty`, `account`, `device`,
//!   `national` (any case);
//! - `external:SYSTEM:VALUE`, or `SYSTEM:VALUE` for any other SYSTEM: an external id
//!   issued by that system (`erp:42` is `external:erp:42`);
//! - a bare e-mail address (has an `@`) or phone number (`+` and digits, or digits
//!   with spaces, dashes, dots or brackets);
//! - anything else is a customer id (`cus_…`, or an alias of a merged customer).
//!
//! An amount is a decimal number in the currency's major unit (`12.5`, `-3.00`),
//! read exactly into minor units.
//!
//! A time is RFC 3339 (`2026-03-02T09:00:00Z`, `t` or a space for the `T`, fractions,
//! `Z` or an offset such as `+02:00`; no offset means UTC) or a date `YYYY-MM-DD`, which
//! means the start of that day in UTC, or its end for the bounds that include the whole
//! day ([`parse_time_through_day`]).

use anyhow::Context as _;
use idic_proto::v1 as pb;
use idic_runtime::money::minor_unit_exponent;
use pb::IdentifierKind as Kind;

/// The identifier kinds a reference names by a word of its own.
const KINDS: &[(&str, Kind)] = &[
    ("email", Kind::Email),
    ("phone", Kind::Phone),
    ("loyalty", Kind::LoyaltyId),
    ("account", Kind::AccountCode),
    ("device", Kind::DeviceId),
    ("national", Kind::NationalId),
];

/// The fewest digits a bare phone number has; shorter digit strings are customer ids.
const MIN_PHONE_DIGITS: usize = 5;

/// Parses a customer reference as the module documentation says.
pub fn parse_customer_ref(text: &str) -> anyhow::Result<pb::CustomerRef> {
    let text = text.trim();
    anyhow::ensure!(!text.is_empty(), "the customer reference is empty");
    let reference = match text.split_once(':') {
        Some((prefix, rest)) => prefixed(prefix.trim(), rest.trim())
            .with_context(|| format!("the customer reference '{text}'"))?,
        None if text.contains('@') => identifier(Kind::Email, text, ""),
        None if is_phone_number(text) => identifier(Kind::Phone, text, ""),
        None => pb::customer_ref::Ref::CustomerId(text.to_owned()),
    };
    Ok(pb::CustomerRef {
        r#ref: Some(reference),
    })
}

/// `KIND:VALUE`, `external:SYSTEM:VALUE` or `SYSTEM:VALUE`.
fn prefixed(prefix: &str, rest: &str) -> anyhow::Result<pb::customer_ref::Ref> {
    let word = prefix.to_ascii_lowercase();
    if let Some((_, kind)) = KINDS.iter().find(|(name, _)| *name == word) {
        anyhow::ensure!(!rest.is_empty(), "{word}: needs a value after the colon");
        return Ok(identifier(*kind, rest, ""));
    }
    let (system, value) = if word == "external" {
        let (system, value) = rest
            .split_once(':')
            .context("an external id is external:SYSTEM:VALUE")?;
        (system.trim(), value.trim())
    } else {
        (prefix, rest)
    };
    anyhow::ensure!(
        !system.is_empty(),
        "an external id needs its system: SYSTEM:VALUE"
    );
    anyhow::ensure!(
        !value.is_empty(),
        "the external id of system '{system}' needs a value after the colon"
    );
    Ok(identifier(Kind::ExternalId, value, system))
}

fn identifier(kind: Kind, value: &str, system: &str) -> pb::customer_ref::Ref {
    pb::customer_ref::Ref::Identifier(pb::Identifier {
        kind: kind as i32,
        value: value.to_owned(),
        system: system.to_owned(),
        address: None,
    })
}

/// `+44 20 7946 0958`, `(555) 123-4567`, `0612345678`: digits with the punctuation
/// people write phone numbers with, and enough digits to be one.
fn is_phone_number(text: &str) -> bool {
    let body = text.strip_prefix('+').unwrap_or(text);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    digits >= MIN_PHONE_DIGITS
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
}

/// A time as the module documentation says; a date is its first instant (UTC).
pub fn parse_time(text: &str) -> anyhow::Result<prost_types::Timestamp> {
    parse_rfc3339_or_date(text)
}

/// A time as [`parse_time`] reads it, except that a date is its last instant
/// (`23:59:59.999999`, microseconds as stored), so that a bound such as
/// `--observation-end 2025-12-31` includes the whole day.
pub fn parse_time_through_day(text: &str) -> anyhow::Result<prost_types::Timestamp> {
    let mut time = parse_rfc3339_or_date(text)?;
    if is_date(text.trim()) {
        time.seconds += 86_399;
        time.nanos = 999_999_000;
    }
    Ok(time)
}

/// `YYYY-MM-DD` in shape (digits and two dashes); the calendar is checked by the parser.
pub fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(index, byte)| index == 4 || index == 7 || byte.is_ascii_digit())
}

/// prost's RFC 3339 reader, which also takes a bare date and checks the calendar.
fn parse_rfc3339_or_date(text: &str) -> anyhow::Result<prost_types::Timestamp> {
    let text = text.trim();
    text.parse()
        .map_err(|_| anyhow::anyhow!("'{text}' is not an RFC 3339 time or a YYYY-MM-DD date"))
}

/// A decimal amount ("12.5", "-3.00") in the currency's minor units, exactly.
pub fn parse_amount(text: &str, currency: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let invalid = || anyhow::anyhow!("'{text}' is not an amount of {currency}");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let exponent = minor_unit_exponent(currency) as usize;
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > exponent
    {
        return Err(invalid());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<exponent$}")
            .parse()
            .map_err(|_| invalid())?
    };
    let minor = whole
        .checked_mul(10i64.pow(exponent as u32))
        .and_then(|value| value.checked_add(fraction))
        .ok_or_else(invalid)?;
    Ok(if negative { -minor } else { minor })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> pb::customer_ref::Ref {
        parse_customer_ref(text).unwrap().r#ref.unwrap()
    }

    fn id(kind: Kind, value: &str, system: &str) -> pb::customer_ref::Ref {
        identifier(kind, value, system)
    }

    #[test]
    fn named_kinds_in_any_case() {
        assert_eq!(
            parsed("email:ann@example.com"),
            id(Kind::Email, "ann@example.com", "")
        );
        assert_eq!(
            parsed("EMAIL:ann@example.com"),
            parsed("email:ann@example.com")
        );
        assert_eq!(parsed("phone:+33 6 12"), id(Kind::Phone, "+33 6 12", ""));
        assert_eq!(parsed("loyalty:12345"), id(Kind::LoyaltyId, "12345", ""));
        assert_eq!(parsed("account:A-9"), id(Kind::AccountCode, "A-9", ""));
        assert_eq!(parsed("device:d1"), id(Kind::DeviceId, "d1", ""));
        assert_eq!(parsed("national:123"), id(Kind::NationalId, "123", ""));
    }

    #[test]
    fn any_other_prefix_is_an_external_id_of_that_system() {
        assert_eq!(parsed("fax:12345"), id(Kind::ExternalId, "12345", "fax"));
        assert_eq!(parsed("erp:42"), parsed("external:erp:42"));
        assert_eq!(
            parsed("external:erp:a:b"),
            id(Kind::ExternalId, "a:b", "erp")
        );
    }

    #[test]
    fn bare_e_mails_and_phone_numbers() {
        assert_eq!(
            parsed(" ann@example.com "),
            id(Kind::Email, "ann@example.com", "")
        );
        assert_eq!(
            parsed("+44 20 7946 0958"),
            id(Kind::Phone, "+44 20 7946 0958", "")
        );
        assert_eq!(
            parsed("(555) 123-4567"),
            id(Kind::Phone, "(555) 123-4567", "")
        );
    }

    #[test]
    fn anything_else_is_a_customer_id() {
        assert_eq!(
            parsed("cus_0192"),
            pb::customer_ref::Ref::CustomerId("cus_0192".into())
        );
        assert_eq!(
            parsed("1234"),
            pb::customer_ref::Ref::CustomerId("1234".into())
        );
    }

    #[test]
    fn incomplete_references_are_refused() {
        for text in [
            "",
            "  ",
            "email:",
            "fax:",
            ":123",
            "external:erp",
            "external::1",
        ] {
            assert!(parse_customer_ref(text).is_err(), "{text:?}");
        }
    }

    fn seconds(text: &str) -> i64 {
        parse_time(text).unwrap().seconds
    }

    #[test]
    fn a_date_is_the_start_of_its_day_or_its_end() {
        assert_eq!(seconds("1970-01-02"), 86_400);
        assert_eq!(seconds("2026-03-02"), 1_772_409_600);
        let end = parse_time_through_day("1970-01-01").unwrap();
        assert_eq!((end.seconds, end.nanos), (86_399, 999_999_000));
        // A full time is the same instant whichever reader takes it.
        assert_eq!(
            parse_time_through_day("2025-01-01T00:00:00Z").unwrap(),
            parse_time("2025-01-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn rfc_3339_times_in_every_form_the_commands_took() {
        assert_eq!(seconds("2025-01-01T00:00:00Z"), 1_735_689_600);
        assert_eq!(seconds("2025-01-01t00:00:00z"), 1_735_689_600);
        assert_eq!(seconds("2025-01-01 00:00:00Z"), 1_735_689_600);
        assert_eq!(seconds("2025-01-01T02:00:00+02:00"), 1_735_689_600);
        assert_eq!(seconds("2024-12-31T23:00:00-01:00"), 1_735_689_600);
        assert_eq!(
            seconds(" 2025-01-01T00:00:00 "),
            1_735_689_600,
            "no offset is UTC"
        );
        assert_eq!(
            parse_time("2025-01-01T00:00:00.5Z").unwrap().nanos,
            500_000_000
        );
    }

    #[test]
    fn other_writings_of_a_time_are_refused() {
        for text in [
            "",
            "01/02/2025",
            "2025-1-2",
            "2025-02-30",
            "2025-13-01",
            "2025-01-01T25:00:00Z",
            "yesterday",
        ] {
            let error = parse_time(text).unwrap_err().to_string();
            assert!(error.contains("RFC 3339"), "{text:?}: {error}");
            assert!(parse_time_through_day(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn dates_in_shape() {
        assert!(is_date("2026-03-02"));
        assert!(!is_date("2026-03-02T00:00:00Z"));
        assert!(!is_date("2026/03/02"));
        assert!(!is_date("cus_012345"));
    }

    #[test]
    fn amounts_in_minor_units_exactly() {
        assert_eq!(parse_amount("12.5", "EUR").unwrap(), 1250);
        assert_eq!(parse_amount("-3", "EUR").unwrap(), -300);
        assert_eq!(parse_amount(".5", "EUR").unwrap(), 50);
        assert_eq!(parse_amount("1000", "JPY").unwrap(), 1000);
        for (text, currency) in [
            ("1.234", "EUR"),
            ("1.5", "JPY"),
            ("abc", "EUR"),
            ("", "EUR"),
            ("99999999999999999999", "EUR"),
        ] {
            assert!(parse_amount(text, currency).is_err(), "{text:?} {currency}");
        }
    }
}
