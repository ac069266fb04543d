//! E-mail addresses in canonical form: syntax checked, lower case, plus-tags removed,
//! and Gmail's dot-insensitive local parts collapsed.

use email_address::{EmailAddress, Error as EmailError, Options};

/// Plain addresses only: no display name ("Ann <ann@x.com>"), no IP literal, and a
/// domain with at least two labels, since records carry addresses people type.
const EMAIL_OPTIONS: Options = Options {
    minimum_sub_domains: 2,
    allow_domain_literal: false,
    allow_display_text: false,
};

/// The canonical form of an e-mail address, or why it is not one. The whole address
/// is lower-cased (providers treat local parts case-insensitively in practice), a
/// plus-tag is removed for every domain (`ann+news@x.com` -> `ann@x.com`), and for
/// Gmail dots in the local part are removed and `googlemail.com` becomes `gmail.com`.
pub fn canonical_email(text: &str) -> Result<String, String> {
    let address = EmailAddress::parse_with_options(text.trim(), EMAIL_OPTIONS)
        .map_err(|error| format!("is not an e-mail address: {}", describe(&error)))?;
    let domain = address.domain().to_lowercase();
    let mut local = address.local_part().to_lowercase();
    // A quoted local part may legitimately contain '+' and '.'; leave it alone.
    if !local.starts_with('"') {
        if let Some(plus) = local.find('+')
            && plus > 0
        {
            local.truncate(plus);
        }
        if domain == "gmail.com" || domain == "googlemail.com" {
            local.retain(|ch| ch != '.');
        }
    }
    let domain = if domain == "googlemail.com" {
        "gmail.com"
    } else {
        domain.as_str()
    };
    if is_placeholder(&local, domain) {
        return Err(PLACEHOLDER.to_owned());
    }
    let mut canonical = local;
    canonical.push('@');
    canonical.push_str(domain);
    Ok(canonical)
}

/// Why a placeholder address is not read.
pub const PLACEHOLDER: &str =
    "is a placeholder, not an address of the customer's (e.g. test@test.com, noemail@...)";

/// Mailboxes that forms are filled with when the customer gives no address: thousands
/// of unrelated records carry them, so they must never agree as evidence. Compared
/// without separators ("no.email", "no-email" are "noemail").
const PLACEHOLDER_MAILBOXES: &[&str] = &[
    "donotreply",
    "dummy",
    "fake",
    "noaddress",
    "nobody",
    "noemail",
    "nomail",
    "none",
    "noreply",
    "null",
    "test",
    "unknown",
];

/// Domains that exist only to be typed into forms.
const PLACEHOLDER_DOMAINS: &[&str] = &["noemail.com", "nomail.com", "none.com", "test.com"];

fn is_placeholder(local: &str, domain: &str) -> bool {
    let compact: String = local
        .chars()
        .filter(|ch| !matches!(ch, '.' | '-' | '_'))
        .collect();
    PLACEHOLDER_MAILBOXES.contains(&compact.as_str()) || PLACEHOLDER_DOMAINS.contains(&domain)
}

fn describe(error: &EmailError) -> String {
    match error {
        EmailError::MissingSeparator => "it has no '@'".to_owned(),
        EmailError::LocalPartEmpty => "nothing comes before the '@'".to_owned(),
        EmailError::DomainEmpty => "nothing comes after the '@'".to_owned(),
        EmailError::DomainTooFew => "the domain needs a dot (as in example.com)".to_owned(),
        EmailError::UnsupportedDisplayName | EmailError::MissingDisplayName => {
            "give the bare address, without a name or angle brackets".to_owned()
        }
        EmailError::UnsupportedDomainLiteral => {
            "the domain must be a name, not an IP address".to_owned()
        }
        other => {
            // The library's messages are sentences ("Invalid character."); make them fit
            // after a colon.
            let message = other.to_string();
            let message = message.trim_end_matches('.');
            let mut chars = message.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "it is malformed".to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_and_trims() {
        assert_eq!(
            canonical_email("  Ann.Lee@Example.COM ").unwrap(),
            "ann.lee@example.com"
        );
    }

    #[test]
    fn strips_plus_tags_for_every_domain() {
        assert_eq!(canonical_email("ann+news@x.com").unwrap(), "ann@x.com");
        assert_eq!(canonical_email("ann+a+b@x.co.uk").unwrap(), "ann@x.co.uk");
        // Nothing would remain of the local part: keep the address as it is.
        assert_eq!(canonical_email("+ann@x.com").unwrap(), "+ann@x.com");
    }

    #[test]
    fn collapses_gmail_local_parts() {
        assert_eq!(
            canonical_email("Ann.Lee+shop@gmail.com").unwrap(),
            "annlee@gmail.com"
        );
        assert_eq!(
            canonical_email("a.n.n@googlemail.com").unwrap(),
            "ann@gmail.com"
        );
        // Dots matter for other providers.
        assert_eq!(
            canonical_email("a.n.n@outlook.com").unwrap(),
            "a.n.n@outlook.com"
        );
    }

    #[test]
    fn rejects_malformed_addresses_with_a_reason() {
        for bad in [
            "ann",
            "ann@",
            "@x.com",
            "ann@localhost",
            "ann@@x.com",
            "ann lee@x.com",
            "Ann <ann@x.com>",
            "ann@[127.0.0.1]",
            "ann@x..com",
        ] {
            let reason = canonical_email(bad).expect_err(bad);
            assert!(
                reason.starts_with("is not an e-mail address: "),
                "{bad}: {reason}"
            );
        }
        assert_eq!(
            canonical_email("ann").unwrap_err(),
            "is not an e-mail address: it has no '@'"
        );
        assert_eq!(
            canonical_email("ann@localhost").unwrap_err(),
            "is not an e-mail address: the domain needs a dot (as in example.com)"
        );
    }

    #[test]
    fn placeholders_are_not_addresses() {
        for placeholder in [
            "test@test.com",
            "TEST@example.org",
            "no.email@gmail.com",
            "no-reply@shop.example",
            "none@none.com",
            "ann@noemail.com",
        ] {
            assert_eq!(
                canonical_email(placeholder),
                Err(PLACEHOLDER.to_owned()),
                "{placeholder}"
            );
        }
        // Real mailboxes that merely contain such words are addresses.
        for real in ["tester@x.com", "nonea@x.com", "unknownpleasures@x.com"] {
            assert!(canonical_email(real).is_ok(), "{real}");
        }
    }
}
