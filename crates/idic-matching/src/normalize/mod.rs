//! Normalization: turns a source record's dirty fields into comparable form
//! (`NormalizedRecord`), with a warning for each field it cannot read, by its path in
//! the record; only a record with nothing usable (or over the size limits) is refused.

mod address;
mod country;
mod date;
mod email;
mod identifier;
mod name;
mod nickname;
mod phone;
mod phone_nanp;
mod phone_plan;
mod phonetic;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod tests;

pub use address::normalize_address;
pub use country::normalize_country;
pub use date::parse_date;
pub use email::canonical_email;
pub use name::fold_name;
pub use nickname::{names_agree_but_for_a_typo, names_may_agree, nickname_root};
pub use phone::{PhoneReading, e164_phone, phone_evidence, read_phone};
pub use phonetic::phonetic_code;

use crate::record::{
    FieldError, FieldWarning, NormalizedAddress, NormalizedRecord, RawAddress, RawRecord,
};
use identifier::IdentifierError;

/// The longest text field accepted, in bytes: no real name, address line or id is
/// longer, and the limit bounds the memory and time one record can take.
pub const MAX_FIELD_BYTES: usize = 256;

/// The most e-mails, phones, addresses or identifiers one record may carry.
pub const MAX_ENTRIES: usize = 16;

/// The reason given (on field "") for a record with nothing to recognise it by.
pub const NO_USABLE_FIELD: &str =
    "the record has no usable field: give a name, an e-mail, a phone, an address or an identifier";

/// Settings that the records themselves do not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizeOptions {
    /// ISO 3166-1 alpha-2 region for phones without a country code and addresses
    /// without a country.
    pub default_region: String,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions {
            default_region: "US".to_owned(),
        }
    }
}

/// A record in comparable form and the fields of it that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    pub record: NormalizedRecord,
    /// Fields kept as received but left out of the comparisons, in record order.
    pub warnings: Vec<FieldWarning>,
}

/// `normalize` without the warnings, for callers that only compare.
pub fn normalize_record(
    raw: &RawRecord,
    options: &NormalizeOptions,
) -> Result<NormalizedRecord, Vec<FieldError>> {
    normalize(raw, options).map(|normalized| normalized.record)
}

/// Normalizes every field of a raw record. A field that does not parse (a phone, an
/// e-mail, a date, a country, an identifier) is a warning with its path (`emails[1]`,
/// `addresses[0].country`) and is left out of the normalized record: dirty data is
/// still a customer. A record is refused only when a field or list is over the size
/// limits (every one named) or when nothing usable is left, in which case the
/// warnings are returned as errors too, to say why. Empty fields are missing values.
/// E-mails, phones, addresses and identifiers are deduplicated, in input order.
pub fn normalize(
    raw: &RawRecord,
    options: &NormalizeOptions,
) -> Result<Normalized, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut record = NormalizedRecord::default();

    // Titles say little about who someone is and are not compared; of the suffixes,
    // only a generational one ("Jr", "Sr") is kept.
    check_length(&raw.name_prefix, || "name_prefix".to_owned(), &mut errors);
    if check_length(&raw.name_suffix, || "name_suffix".to_owned(), &mut errors) {
        record.generation = name::generation_in(&raw.name_suffix, false);
    }
    record.generation = record
        .generation
        .or_else(|| name::generation_in(&raw.family_name, true))
        .or_else(|| name::generation_in(&raw.given_name, true));
    record.given_name = person_name("given_name", &raw.given_name, &mut errors);
    record.middle_name = person_name("middle_name", &raw.middle_name, &mut errors);
    record.family_name = person_name("family_name", &raw.family_name, &mut errors);
    if check_length(
        &raw.organization_name,
        || "organization_name".to_owned(),
        &mut errors,
    ) {
        record.organization_name =
            Some(fold_name(&raw.organization_name)).filter(|folded| !folded.is_empty());
    }

    if !raw.date_of_birth.trim().is_empty()
        && check_length(
            &raw.date_of_birth,
            || "date_of_birth".to_owned(),
            &mut errors,
        )
    {
        match parse_date(&raw.date_of_birth) {
            Ok(date) => record.date_of_birth = Some(date),
            Err(reason) => warnings.push(FieldWarning::new(
                "date_of_birth",
                reason,
                &raw.date_of_birth,
            )),
        }
    }

    if check_count("emails", raw.emails.len(), &mut errors) {
        for (index, email) in raw.emails.iter().enumerate() {
            let path = || format!("emails[{index}]");
            if email.trim().is_empty() || !check_length(email, path, &mut errors) {
                continue;
            }
            match canonical_email(email) {
                Ok(canonical) => push_unique(&mut record.emails, canonical),
                Err(reason) => warnings.push(FieldWarning::new(path(), reason, email)),
            }
        }
    }

    if check_count("phones", raw.phones.len(), &mut errors) {
        for (index, phone) in raw.phones.iter().enumerate() {
            let path = || format!("phones[{index}]");
            if phone.trim().is_empty() || !check_length(phone, path, &mut errors) {
                continue;
            }
            match read_phone(phone, &options.default_region) {
                PhoneReading::Valid(e164) => push_unique(&mut record.phones, e164),
                PhoneReading::Invalid { reason, evidence } => {
                    // Not a number in service, but its digits may still be evidence.
                    if let Some(digits) = evidence {
                        push_unique(&mut record.phones, digits);
                    }
                    warnings.push(FieldWarning::new(path(), reason, phone));
                }
            }
        }
    }

    if check_count("addresses", raw.addresses.len(), &mut errors) {
        for (index, address) in raw.addresses.iter().enumerate() {
            let normalized = postal_address(index, address, options, &mut errors, &mut warnings);
            if let Some(normalized) = normalized {
                push_unique(&mut record.addresses, normalized);
            }
        }
    }

    if check_count("identifiers", raw.identifiers.len(), &mut errors) {
        for (index, identifier) in raw.identifiers.iter().enumerate() {
            let value_ok = check_length(
                &identifier.value,
                || format!("identifiers[{index}].value"),
                &mut errors,
            );
            let system_ok = check_length(
                &identifier.system,
                || format!("identifiers[{index}].system"),
                &mut errors,
            );
            if !(value_ok && system_ok) {
                continue;
            }
            match identifier::normalize_identifier(identifier) {
                Ok(normalized) => push_unique(&mut record.identifiers, normalized),
                Err(problems) => {
                    warnings.extend(problems.into_iter().map(|problem| match problem {
                        IdentifierError::Value(reason) => FieldWarning::new(
                            format!("identifiers[{index}].value"),
                            reason,
                            &identifier.value,
                        ),
                        IdentifierError::System(reason) => FieldWarning::new(
                            format!("identifiers[{index}].system"),
                            reason,
                            &identifier.system,
                        ),
                    }))
                }
            }
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    if !has_usable_field(&record) {
        let mut errors = vec![FieldError::new("", NO_USABLE_FIELD)];
        errors.extend(warnings.into_iter().map(FieldWarning::into_error));
        return Err(errors);
    }
    Ok(Normalized { record, warnings })
}

/// A date of birth alone does not single anyone out, so it does not make a record usable.
fn has_usable_field(record: &NormalizedRecord) -> bool {
    record.given_name.is_some()
        || record.middle_name.is_some()
        || record.family_name.is_some()
        || record.organization_name.is_some()
        || !record.emails.is_empty()
        || !record.phones.is_empty()
        || !record.addresses.is_empty()
        || !record.identifiers.is_empty()
}

fn person_name(field: &'static str, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    if check_length(raw, || field.to_owned(), errors) {
        name::normalize_name_part(raw)
    } else {
        None
    }
}

/// One address, or `None` when it is empty or over the size limits (added to
/// `errors`). A country that is not recognised is a warning; the other parts are then
/// normalized without a country's rules and still compared.
fn postal_address(
    index: usize,
    address: &RawAddress,
    options: &NormalizeOptions,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<FieldWarning>,
) -> Option<NormalizedAddress> {
    let parts = [
        ("street_number", &address.street_number),
        ("street", &address.street),
        ("address_line2", &address.address_line2),
        ("locality", &address.locality),
        ("postcode", &address.postcode),
        ("region", &address.region),
        ("country", &address.country),
    ];
    let errors_before = errors.len();
    for (part, value) in parts {
        check_length(value, || format!("addresses[{index}].{part}"), errors);
    }
    if errors.len() > errors_before || parts.iter().all(|(_, value)| value.trim().is_empty()) {
        return None;
    }
    let (country, country_read) = match normalize_country(&address.country, &options.default_region)
    {
        Ok(country) => (country, true),
        Err(reason) => {
            warnings.push(FieldWarning::new(
                format!("addresses[{index}].country"),
                reason,
                &address.country,
            ));
            (String::new(), false)
        }
    };
    let normalized = address::normalize_address_in(address, country);
    // Parts that folded to nothing ("???") leave nothing to compare but the country.
    let folded_empty = normalized.street_number.is_empty()
        && normalized.street.is_empty()
        && normalized.unit.is_empty()
        && normalized.locality.is_empty()
        && normalized.postcode.is_empty()
        && normalized.region.is_empty();
    if folded_empty && (address.country.trim().is_empty() || !country_read) {
        return None;
    }
    Some(normalized)
}

/// Adds an error and returns false when `value` is longer than `MAX_FIELD_BYTES`. The
/// path is built only then, so that good records allocate no paths.
fn check_length(value: &str, path: impl FnOnce() -> String, errors: &mut Vec<FieldError>) -> bool {
    if value.len() <= MAX_FIELD_BYTES {
        return true;
    }
    errors.push(FieldError::new(
        path(),
        format!(
            "is {} bytes long; at most {MAX_FIELD_BYTES} are accepted",
            value.len()
        ),
    ));
    false
}

/// Adds an error and returns false when a list has more than `MAX_ENTRIES` entries; its
/// entries are then not read at all.
fn check_count(field: &str, count: usize, errors: &mut Vec<FieldError>) -> bool {
    if count <= MAX_ENTRIES {
        return true;
    }
    errors.push(FieldError::new(
        field,
        format!("has {count} entries; at most {MAX_ENTRIES} are accepted"),
    ));
    false
}

/// Lists hold at most `MAX_ENTRIES`, so a linear search is cheaper than hashing.
fn push_unique<T: PartialEq>(list: &mut Vec<T>, value: T) {
    if !list.contains(&value) {
        list.push(value);
    }
}
