//! The one way the command line reads a customer reference, for every command that
//! takes one and for the `customer_ref` column of `idic import transactions`:
//!
//! - `KIND:VALUE` with KIND one of `email`, `phone`, `loyalty`, `account`, `device`,
//!   `national` (any case);
//! - `external:SYSTEM:VALUE`, or `SYSTEM:VALUE` for any other SYSTEM: an external id
//!   issued by that system (`erp:42` is `external:erp:42`);
//! - a bare e-mail address (has an `@`) or phone number (`+` and digits, or digits
//!   with spaces, dashes, dots or brackets);
//! - anything else is a customer id (`cus_…`, or an alias of a merged customer).

use anyhow::Context as _;
use idic_proto::v1 as pb;
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
}
