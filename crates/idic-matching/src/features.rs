//! What the matcher compares, derived once per record from its normalized form:
//! folded names with their nickname roots and phonetic codes, the birth date as
//! digits, e-mail local parts. Comparing two records then costs no allocation.

use crate::normalize::{nickname_root, phonetic_code};
use crate::record::{
    Date, Generation, IdKind, NormalizedAddress, NormalizedIdentifier, NormalizedRecord, Text,
};

/// A name part ready for comparison.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NameFeatures {
    /// Folded: lower-case ASCII, single spaces.
    pub folded: Text,
    /// The given name behind a nickname ("bill" -> "william"); the folded name otherwise.
    /// Family names have one too, for when they are compared as swapped given names.
    pub root: Text,
    /// Double Metaphone primary code.
    pub phonetic: Text,
}

impl NameFeatures {
    pub fn given(folded: &str) -> Self {
        let root = Text::from(nickname_root(folded));
        NameFeatures {
            phonetic: phonetic_code(&root).into(),
            root,
            folded: folded.into(),
        }
    }

    pub fn family(folded: &str) -> Self {
        NameFeatures {
            phonetic: phonetic_code(folded).into(),
            // Sources swap given and family names: read crosswise, "Babs" in the family
            // field is Barbara.
            root: nickname_root(folded).into(),
            folded: folded.into(),
        }
    }

    /// A lone letter ("j"), as sources give initials.
    pub fn is_initial(&self) -> bool {
        self.folded.len() == 1
    }
}

/// Everything the matcher looks at in one record. Serializable so that an engine
/// snapshot keeps features and a start from it normalizes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Features {
    pub given: Option<NameFeatures>,
    pub family: Option<NameFeatures>,
    /// First letter of the middle name: sources give it whole or as an initial.
    pub middle_initial: Option<u8>,
    pub generation: Option<Generation>,
    pub organization: Option<Text>,
    pub birth_date: Option<Date>,
    /// YYYYMMDD digits of the birth date, for typo comparison.
    pub birth_digits: Option<[u8; 8]>,
    pub emails: Vec<Text>,
    pub phones: Vec<Text>,
    pub addresses: Vec<NormalizedAddress>,
    /// Loyalty, account, external and national ids (strong identifiers).
    pub identifiers: Vec<NormalizedIdentifier>,
    /// Device ids, which households may share.
    pub devices: Vec<Text>,
}

/// The values as comparable text.
fn texts(values: &[String]) -> Vec<Text> {
    values
        .iter()
        .map(|value| Text::from(value.as_str()))
        .collect()
}

impl Features {
    pub fn of(record: &NormalizedRecord) -> Features {
        let (identifiers, devices): (Vec<_>, Vec<_>) = record
            .identifiers
            .iter()
            .cloned()
            .partition(|identifier| identifier.kind != IdKind::Device);
        Features {
            given: record.given_name.as_deref().map(NameFeatures::given),
            family: record.family_name.as_deref().map(NameFeatures::family),
            middle_initial: record
                .middle_name
                .as_deref()
                .and_then(|middle| middle.bytes().next()),
            generation: record.generation,
            organization: record.organization_name.as_deref().map(Text::from),
            birth_date: record.date_of_birth,
            birth_digits: record.date_of_birth.map(Date::digits),
            emails: texts(&record.emails),
            phones: texts(&record.phones),
            addresses: record.addresses.clone(),
            identifiers,
            devices: devices.into_iter().map(|device| device.value).collect(),
        }
    }

    /// The local part of each e-mail.
    pub fn email_locals(&self) -> impl Iterator<Item = &str> {
        self.emails.iter().map(|email| {
            email
                .split_once('@')
                .map_or(email.as_str(), |(local, _)| local)
        })
    }

    /// The local parts that say who the address belongs to wherever it is hosted: at
    /// least six characters ("john", "info" are not) and not a role mailbox
    /// ("billing", "orders"), which thousands of unrelated organizations have.
    pub fn distinctive_email_locals(&self) -> impl Iterator<Item = &str> {
        self.email_locals()
            .filter(|local| local.len() >= 6 && !is_role_mailbox(local))
    }
}

/// Whether an e-mail local part holds a digit ("sigridxue1960", "aaronmurray1978"): it
/// says more than a name or a word, which strangers hold at every host.
pub fn local_holds_digit(local: &str) -> bool {
    local.bytes().any(|byte| byte.is_ascii_digit())
}

/// Mailboxes that name a function, not a person: RFC 2142's and the common business
/// ones. Compared without separators ("customer.service" is "customerservice").
const ROLE_MAILBOXES: &[&str] = &[
    "abuse",
    "accounting",
    "accounts",
    "accountspayable",
    "admin",
    "administrator",
    "billing",
    "bookings",
    "careers",
    "contact",
    "contactus",
    "customercare",
    "customerservice",
    "enquiries",
    "feedback",
    "finance",
    "hello",
    "help",
    "helpdesk",
    "hostmaster",
    "info",
    "information",
    "inquiries",
    "invoice",
    "invoices",
    "jobs",
    "mail",
    "marketing",
    "media",
    "news",
    "newsletter",
    "noreply",
    "office",
    "operations",
    "order",
    "orders",
    "payments",
    "postmaster",
    "press",
    "purchasing",
    "reception",
    "reservations",
    "sales",
    "security",
    "service",
    "shop",
    "store",
    "support",
    "team",
    "webmaster",
];

/// Runs for every pair whose e-mails differ, so without allocating: the local part's
/// letters and digits, looked up among the roles (sorted).
fn is_role_mailbox(local: &str) -> bool {
    const LONGEST: usize = 16;
    let mut bare = [0u8; LONGEST];
    let mut length = 0;
    for byte in local.bytes().filter(u8::is_ascii_alphanumeric) {
        if length == LONGEST {
            return false;
        }
        bare[length] = byte;
        length += 1;
    }
    let bare = &bare[..length];
    ROLE_MAILBOXES
        .binary_search_by(|role| role.as_bytes().cmp(bare))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition the lookup replaces: the local part's letters and digits equal
    /// to one of the roles.
    fn is_role_mailbox_by_definition(local: &str) -> bool {
        let bare: String = local.chars().filter(char::is_ascii_alphanumeric).collect();
        ROLE_MAILBOXES.contains(&bare.as_str())
    }

    #[test]
    fn roles_are_sorted_and_fit_the_lookup() {
        assert!(ROLE_MAILBOXES.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(ROLE_MAILBOXES.iter().all(|role| role.len() < 16));
    }

    #[test]
    fn role_lookup_agrees_with_its_definition() {
        let mut locals: Vec<String> = Vec::new();
        for role in ROLE_MAILBOXES {
            locals.push(role.to_string());
            locals.push(format!("{role}1"));
            locals.push(role[1..].to_string());
            locals.push(role.to_uppercase());
            let (head, tail) = role.split_at(role.len() / 2);
            locals.push(format!("{head}.{tail}"));
            locals.push(format!("{head}-é-{tail}"));
            locals.push(format!("{role}{role}"));
        }
        locals.extend(
            [
                "",
                ".",
                "customer.service",
                "accounts_payable",
                "jordan_lin",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "accountspayablex",
            ]
            .map(String::from),
        );
        for local in &locals {
            assert_eq!(
                is_role_mailbox(local),
                is_role_mailbox_by_definition(local),
                "{local}"
            );
        }
    }
}
