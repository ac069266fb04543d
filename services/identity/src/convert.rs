//! Wire <-> domain for identity: parsing `SourceRecord`s (every offending field named
//! by its path in the request) and rendering customers, golden records and events.

use std::collections::BTreeMap;

use idic_matching::features::Features;
use idic_matching::normalize::{NormalizeOptions, normalize};
use idic_matching::record::{FieldWarning, IdKind, RawAddress, RawIdentifier, RawRecord};
use idic_proto::v1 as pb;
use idic_runtime::storage::timestamp_from_micros;
use idic_runtime::{FieldViolation, limits};

use idic_engine::{
    ChangeEvent, Golden, IncomingRecord, PreparedRecord, RecordContent, RecordEntry, RecordKey,
};

const MAX_KEY_BYTES: usize = 128;
const MAX_ATTRIBUTES: usize = 64;
const MAX_ATTRIBUTE_BYTES: usize = 256;

/// Where each raw list entry came from in the wire message, so that a normalization
/// error on `emails[3]` can name `identifiers[1].value` when that is where it was.
#[derive(Default)]
struct Origins {
    emails: Vec<Origin>,
    phones: Vec<Origin>,
    addresses: Vec<Origin>,
    identifiers: Vec<Origin>,
}

/// One entry's place in the wire message, written out only when a warning or an error
/// names it: a path formatted for every entry of every record was a percent of an
/// import's instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// `emails[i]`, `phones[i]` or `addresses[i]`.
    List(&'static str, usize),
    /// `identifiers[i]`, with a tail (`.value`, `.address`) or none.
    Identifier(usize, &'static str),
}

impl Origin {
    fn path(self) -> String {
        match self {
            Origin::List(list, index) => format!("{list}[{index}]"),
            Origin::Identifier(index, tail) => format!("identifiers[{index}]{tail}"),
        }
    }
}

/// Parses and validates a record key.
pub fn parse_key(
    source_system: &str,
    source_record_id: &str,
    field: &str,
) -> Result<RecordKey, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    for (name, value) in [
        ("source_system", source_system),
        ("source_record_id", source_record_id),
    ] {
        let path = if field.is_empty() {
            name.to_owned()
        } else {
            format!("{field}.{name}")
        };
        if value.trim().is_empty() {
            violations.push(FieldViolation::new(path, "is required"));
        } else if value.len() > MAX_KEY_BYTES || value.chars().any(char::is_control) {
            violations.push(FieldViolation::new(
                path,
                format!("must be at most {MAX_KEY_BYTES} bytes without control characters"),
            ));
        }
    }
    if violations.is_empty() {
        Ok(RecordKey::new(
            source_system.trim(),
            source_record_id.trim(),
        ))
    } else {
        Err(violations)
    }
}

/// The raw record of a wire record, and where each list entry came from.
fn raw_record(record: &pb::SourceRecord) -> (RawRecord, Origins, Vec<FieldViolation>) {
    let mut raw = RawRecord::default();
    let mut origins = Origins::default();
    let mut violations = Vec::new();
    if let Some(name) = &record.name {
        raw.name_prefix = name.prefix.clone();
        raw.given_name = name.given.clone();
        raw.middle_name = name.middle.clone();
        raw.family_name = name.family.clone();
        raw.name_suffix = name.suffix.clone();
    }
    raw.organization_name = record.organization_name.clone();
    raw.date_of_birth = record.date_of_birth.clone();
    for (index, email) in record.emails.iter().enumerate() {
        raw.emails.push(email.clone());
        origins.emails.push(Origin::List("emails", index));
    }
    for (index, phone) in record.phones.iter().enumerate() {
        raw.phones.push(phone.clone());
        origins.phones.push(Origin::List("phones", index));
    }
    for (index, address) in record.addresses.iter().enumerate() {
        raw.addresses.push(raw_address(address));
        origins.addresses.push(Origin::List("addresses", index));
    }
    for (index, identifier) in record.identifiers.iter().enumerate() {
        let kind = pb::IdentifierKind::try_from(identifier.kind)
            .unwrap_or(pb::IdentifierKind::Unspecified);
        let strong = match kind {
            pb::IdentifierKind::Email => {
                raw.emails.push(identifier.value.clone());
                origins.emails.push(Origin::Identifier(index, ".value"));
                continue;
            }
            pb::IdentifierKind::Phone => {
                raw.phones.push(identifier.value.clone());
                origins.phones.push(Origin::Identifier(index, ".value"));
                continue;
            }
            pb::IdentifierKind::PostalAddress => {
                match &identifier.address {
                    Some(address) => {
                        raw.addresses.push(raw_address(address));
                        origins
                            .addresses
                            .push(Origin::Identifier(index, ".address"));
                    }
                    None => violations.push(FieldViolation::new(
                        Origin::Identifier(index, ".address").path(),
                        "is required for a postal address",
                    )),
                }
                continue;
            }
            pb::IdentifierKind::LoyaltyId => IdKind::Loyalty,
            pb::IdentifierKind::AccountCode => IdKind::Account,
            pb::IdentifierKind::DeviceId => IdKind::Device,
            pb::IdentifierKind::NationalId => IdKind::National,
            pb::IdentifierKind::ExternalId => IdKind::External,
            pb::IdentifierKind::Unspecified => {
                violations.push(FieldViolation::new(
                    Origin::Identifier(index, ".kind").path(),
                    "must name a known identifier kind",
                ));
                continue;
            }
        };
        raw.identifiers.push(RawIdentifier {
            kind: strong,
            system: identifier.system.clone(),
            value: identifier.value.clone(),
        });
        origins.identifiers.push(Origin::Identifier(index, ""));
    }
    (raw, origins, violations)
}

fn raw_address(address: &pb::PostalAddress) -> RawAddress {
    RawAddress {
        street_number: address.street_number.clone(),
        street: address.street.clone(),
        address_line2: address.address_line2.clone(),
        locality: address.locality.clone(),
        postcode: address.postcode.clone(),
        region: address.region.clone(),
        country: address.country.clone(),
    }
}

/// The wire path of a normalization error's raw-record path.
fn wire_path(field: &str, origins: &Origins) -> String {
    let simple = match field {
        "" => return String::new(),
        "name_prefix" => Some("name.prefix"),
        "given_name" => Some("name.given"),
        "middle_name" => Some("name.middle"),
        "family_name" => Some("name.family"),
        "name_suffix" => Some("name.suffix"),
        _ => None,
    };
    if let Some(path) = simple {
        return path.to_owned();
    }
    let Some((list, rest)) = field.split_once('[') else {
        return field.to_owned();
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return field.to_owned();
    };
    let Ok(index) = index.parse::<usize>() else {
        return field.to_owned();
    };
    let origin = match list {
        "emails" => origins.emails.get(index),
        "phones" => origins.phones.get(index),
        "addresses" => origins.addresses.get(index),
        "identifiers" => origins.identifiers.get(index),
        _ => None,
    };
    match origin {
        // An e-mail given as an identifier is its `.value`; keep the origin's own tail.
        Some(&origin) if tail.is_empty() || matches!(origin, Origin::Identifier(_, ".value")) => {
            origin.path()
        }
        Some(&origin) => format!("{}{tail}", origin.path()),
        None => field.to_owned(),
    }
}

fn prefixed(prefix: &str, field: String) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field,
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// A source record as parsed for a write, with the fields kept as received but not
/// read (by their wire path).
pub struct ParsedRecord {
    /// Prepared here, outside the engine's lock (see [`PreparedRecord`]).
    pub incoming: PreparedRecord,
    /// Whether the record carried its own `observed_at`.
    pub explicit_time: bool,
    pub warnings: Vec<FieldWarning>,
}

/// The valid channels, as a warning names them.
const VALID_CHANNELS: &str = "CHANNEL_CALL_CENTER, CHANNEL_WEB, CHANNEL_EMAIL, CHANNEL_STORE, \
CHANNEL_MOBILE_APP, CHANNEL_PARTNER, CHANNEL_MAIL (or CHANNEL_UNSPECIFIED)";

/// Parses a full source record (as written), naming offending fields under `prefix`.
/// A field that cannot be read is a warning and the record is kept without it; with
/// `strict`, every warning refuses the record instead.
pub fn incoming_record(
    record: Option<&pb::SourceRecord>,
    prefix: &str,
    options: &NormalizeOptions,
    now: i64,
    strict: bool,
) -> Result<ParsedRecord, Vec<FieldViolation>> {
    let Some(record) = record else {
        return Err(vec![FieldViolation::new(prefix, "is required")]);
    };
    let mut violations = Vec::new();
    let mut warnings = Vec::new();
    let key = parse_key(&record.source_system, &record.source_record_id, "")
        .map_err(|errors| {
            violations.extend(
                errors
                    .into_iter()
                    .map(|v| FieldViolation::new(prefixed(prefix, v.field.clone()), v.description)),
            )
        })
        .ok();
    let channel = match pb::Channel::try_from(record.channel) {
        Ok(_) => record.channel,
        Err(_) => {
            warnings.push(FieldWarning::new(
                prefixed(prefix, "channel".to_owned()),
                format!("is not a known channel; the valid ones are {VALID_CHANNELS}"),
                &record.channel.to_string(),
            ));
            pb::Channel::Unspecified as i32
        }
    };
    if record.attributes.len() > MAX_ATTRIBUTES {
        violations.push(FieldViolation::new(
            prefixed(prefix, "attributes".to_owned()),
            format!("at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    for (name, value) in &record.attributes {
        if name.is_empty() || name.len() > MAX_ATTRIBUTE_BYTES || value.len() > MAX_ATTRIBUTE_BYTES
        {
            violations.push(FieldViolation::new(
                prefixed(prefix, format!("attributes[{name}]")),
                format!(
                    "names must be non-empty; names and values at most {MAX_ATTRIBUTE_BYTES} bytes"
                ),
            ));
        }
    }
    let observed_at_field = prefixed(prefix, "observed_at".to_owned());
    let observed_at = match record
        .observed_at
        .as_ref()
        .map(|at| limits::instant_micros(at, &observed_at_field))
    {
        Some(Err(violation)) => {
            violations.push(violation);
            None
        }
        Some(Ok(micros)) => Some(micros),
        None => None,
    };
    if observed_at.is_some_and(|micros| micros > now + 86_400_000_000) {
        violations.push(FieldViolation::new(
            prefixed(prefix, "observed_at".to_owned()),
            "is more than a day in the future",
        ));
    }
    let (raw, origins, list_violations) = raw_record(record);
    violations.extend(
        list_violations
            .into_iter()
            .map(|v| FieldViolation::new(prefixed(prefix, v.field), v.description)),
    );
    let normalized = match normalize(&raw, options) {
        Ok(normalized) => {
            warnings.extend(normalized.warnings.into_iter().map(|warning| FieldWarning {
                field: prefixed(prefix, wire_path(&warning.field, &origins)),
                ..warning
            }));
            Some(normalized.record)
        }
        Err(errors) => {
            for error in errors {
                let path = prefixed(prefix, wire_path(&error.field, &origins));
                violations.push(FieldViolation::new(path, error.reason));
            }
            None
        }
    };
    if strict {
        violations.extend(
            warnings
                .drain(..)
                .map(|warning| FieldViolation::new(warning.field, warning.reason)),
        );
    }
    match (key, normalized, violations.is_empty()) {
        (Some(key), Some(normalized), true) => {
            let attributes: BTreeMap<String, String> = record
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok(ParsedRecord {
                incoming: IncomingRecord {
                    key,
                    channel,
                    observed_at: observed_at.unwrap_or(now),
                    features: Features::of(&normalized),
                    content: RecordContent {
                        record: raw,
                        attributes,
                    },
                }
                .into(),
                explicit_time: observed_at.is_some(),
                warnings,
            })
        }
        _ => Err(violations),
    }
}

/// The fields of a stored record that were kept as received but could not be read,
/// by their path in the record as exported (`phones[0]`): normalizing is pure, so
/// this gives what the write warned about (under today's rules).
pub fn unreadable_fields(raw: &RawRecord, options: &NormalizeOptions) -> Vec<FieldWarning> {
    match normalize(raw, options) {
        Ok(normalized) => normalized.warnings,
        Err(_) => Vec::new(),
    }
}

pub fn warning_to_proto(warning: FieldWarning) -> pb::FieldWarning {
    pb::FieldWarning {
        field: warning.field,
        reason: warning.reason,
        value: warning.value,
    }
}

/// The features of a partial record for a look-up; no key needed. A look-up asks
/// about one field at a time, so a field that cannot be read refuses it: searching
/// without that field would answer another question than the one asked.
pub fn query_features(
    record: &pb::SourceRecord,
    prefix: &str,
    options: &NormalizeOptions,
) -> Result<Features, Vec<FieldViolation>> {
    let (raw, origins, mut violations) = raw_record(record);
    violations = violations
        .into_iter()
        .map(|v| FieldViolation::new(prefixed(prefix, v.field), v.description))
        .collect();
    let to_violation = |field: &str, reason: String| {
        FieldViolation::new(prefixed(prefix, wire_path(field, &origins)), reason)
    };
    match normalize(&raw, options) {
        Ok(normalized) => {
            violations.extend(
                normalized
                    .warnings
                    .into_iter()
                    .map(|warning| to_violation(&warning.field, warning.reason)),
            );
            if violations.is_empty() {
                Ok(Features::of(&normalized.record))
            } else {
                Err(violations)
            }
        }
        Err(errors) => {
            violations.extend(
                errors
                    .into_iter()
                    .map(|error| to_violation(&error.field, error.reason)),
            );
            Err(violations)
        }
    }
}

/// The features of one identifier for a strong look-up.
pub fn identifier_features(
    identifier: &pb::Identifier,
    prefix: &str,
    options: &NormalizeOptions,
) -> Result<Features, Vec<FieldViolation>> {
    let record = pb::SourceRecord {
        identifiers: vec![identifier.clone()],
        ..pb::SourceRecord::default()
    };
    let features = query_features(&record, "", options).map_err(|violations| {
        violations
            .into_iter()
            .map(|v| {
                FieldViolation::new(
                    prefixed(
                        prefix,
                        v.field
                            .replacen("identifiers[0]", "", 1)
                            .trim_start_matches('.')
                            .to_owned(),
                    ),
                    v.description,
                )
            })
            .collect::<Vec<_>>()
    })?;
    let empty = features.emails.is_empty()
        && features.phones.is_empty()
        && features.identifiers.is_empty()
        && features.devices.is_empty()
        && features.addresses.is_empty();
    if empty {
        return Err(vec![FieldViolation::new(
            prefixed(prefix, "value".to_owned()),
            "must not be empty",
        )]);
    }
    Ok(features)
}

pub fn golden_to_proto(golden: Golden) -> pb::GoldenRecord {
    pb::GoldenRecord {
        given_name: golden.given_name,
        middle_name: golden.middle_name,
        family_name: golden.family_name,
        organization_name: golden.organization_name,
        date_of_birth: golden.date_of_birth,
        emails: golden.emails,
        phones: golden.phones,
        addresses: golden.addresses.iter().map(address_to_proto).collect(),
        identifiers: golden
            .identifiers
            .into_iter()
            .map(|(kind, system, value)| pb::Identifier {
                kind: id_kind_to_proto(kind) as i32,
                value,
                system,
                address: None,
            })
            .collect(),
        provenance: golden
            .provenance
            .into_iter()
            .map(|(field, origin)| {
                (
                    field.to_owned(),
                    pb::Provenance {
                        record: Some(key_to_proto(&origin.record)),
                        rule: origin.rule.to_owned(),
                        support: origin.support,
                    },
                )
            })
            .collect(),
        unread: Vec::new(),
    }
}

pub fn address_to_proto(address: &RawAddress) -> pb::PostalAddress {
    pb::PostalAddress {
        street_number: address.street_number.clone(),
        street: address.street.clone(),
        address_line2: address.address_line2.clone(),
        locality: address.locality.clone(),
        postcode: address.postcode.clone(),
        region: address.region.clone(),
        country: address.country.clone(),
    }
}

fn id_kind_to_proto(kind: IdKind) -> pb::IdentifierKind {
    match kind {
        IdKind::Loyalty => pb::IdentifierKind::LoyaltyId,
        IdKind::Account => pb::IdentifierKind::AccountCode,
        IdKind::Device => pb::IdentifierKind::DeviceId,
        IdKind::National => pb::IdentifierKind::NationalId,
        IdKind::External => pb::IdentifierKind::ExternalId,
    }
}

pub fn key_to_proto(key: &RecordKey) -> pb::RecordKey {
    pb::RecordKey {
        source_system: key.source_system.clone(),
        source_record_id: key.source_record_id.clone(),
    }
}

pub fn record_ref(entry: &RecordEntry) -> pb::SourceRecordRef {
    pb::SourceRecordRef {
        source_system: entry.key.source_system.clone(),
        source_record_id: entry.key.source_record_id.clone(),
        channel: entry.channel,
        observed_at: Some(timestamp_from_micros(entry.observed_at)),
    }
}

/// A stored record back in wire form, as received.
pub fn source_record(entry: &RecordEntry) -> pb::SourceRecord {
    let content = entry.content.unpack();
    let raw = &content.record;
    pb::SourceRecord {
        source_system: entry.key.source_system.clone(),
        source_record_id: entry.key.source_record_id.clone(),
        channel: entry.channel,
        name: Some(pb::PersonName {
            prefix: raw.name_prefix.clone(),
            given: raw.given_name.clone(),
            middle: raw.middle_name.clone(),
            family: raw.family_name.clone(),
            suffix: raw.name_suffix.clone(),
        }),
        organization_name: raw.organization_name.clone(),
        date_of_birth: raw.date_of_birth.clone(),
        emails: raw.emails.clone(),
        phones: raw.phones.clone(),
        addresses: raw.addresses.iter().map(address_to_proto).collect(),
        identifiers: raw
            .identifiers
            .iter()
            .map(|identifier| pb::Identifier {
                kind: id_kind_to_proto(identifier.kind) as i32,
                value: identifier.value.clone(),
                system: identifier.system.clone(),
                address: None,
            })
            .collect(),
        attributes: content.attributes.clone().into_iter().collect(),
        observed_at: Some(timestamp_from_micros(entry.observed_at)),
    }
}

pub fn event_to_proto(event: &ChangeEvent) -> pb::ChangeEvent {
    pb::ChangeEvent {
        event_id: event.event_id,
        kind: event.kind as i32,
        customer_id: event.customer_id.clone(),
        absorbed_customer_ids: event.absorbed_ids.clone(),
        new_customer_ids: event.new_ids.clone(),
        occurred_at: Some(timestamp_from_micros(event.occurred_at)),
        actor: event.actor.clone(),
        reason: event.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identifier(kind: pb::IdentifierKind, value: &str) -> pb::Identifier {
        pb::Identifier {
            kind: kind as i32,
            value: value.to_owned(),
            ..Default::default()
        }
    }

    /// A warning on an entry of the raw record names the wire field it came from: its
    /// own list, or the identifier that carried it.
    #[test]
    fn raw_paths_name_the_wire_fields_they_came_from() {
        let record = pb::SourceRecord {
            emails: vec!["a@example.com".to_owned()],
            addresses: vec![pb::PostalAddress::default()],
            identifiers: vec![
                identifier(pb::IdentifierKind::Email, "b@example.com"),
                pb::Identifier {
                    address: Some(pb::PostalAddress::default()),
                    ..identifier(pb::IdentifierKind::PostalAddress, "")
                },
                identifier(pb::IdentifierKind::LoyaltyId, "L-1"),
                identifier(pb::IdentifierKind::Phone, "+1 415 555 0123"),
                identifier(pb::IdentifierKind::Unspecified, "x"),
                identifier(pb::IdentifierKind::PostalAddress, ""),
            ],
            ..Default::default()
        };
        let (_, origins, violations) = raw_record(&record);
        for (raw, wire) in [
            ("given_name", "name.given"),
            ("emails[0]", "emails[0]"),
            ("emails[1]", "identifiers[0].value"),
            ("addresses[0].postcode", "addresses[0].postcode"),
            ("addresses[1].country", "identifiers[1].address.country"),
            ("identifiers[0].value", "identifiers[2].value"),
            ("phones[0]", "identifiers[3].value"),
            ("phones[1]", "phones[1]"),
        ] {
            assert_eq!(wire_path(raw, &origins), wire, "{raw}");
        }
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["identifiers[4].kind", "identifiers[5].address"]);
    }
}
