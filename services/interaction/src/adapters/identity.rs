//! The calls interaction makes to identity beyond resolving references (which go
//! through `crate::resolve` and `idic_runtime::customers`): the customer summary of an
//! agent's context, Segment's identify and alias records, and merging the customers of
//! an anonymous visitor. Protobuf stays here; callers get domain values.
//!
//! An identify keeps its event when only some of its traits are malformed. Per the
//! tolerant-ingest rule, an event is refused only when it has no usable key.
//! Identity keeps a record whose optional fields it cannot read and answers with a
//! warning per field; those become the event's warnings, named by trait. When identity
//! still refuses the record for an optional trait (one past its size limits), that
//! trait is left out, the record is sent again, and the event's result carries a
//! warning naming the trait. A refusal of the record's keys (the user or anonymous id)
//! rejects the event.

use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::IdentifierKind;
use idic_runtime::ApiResult;
use idic_runtime::error::bounded;
use idic_runtime::peers::{Peers, peer_error};
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::micros_from_timestamp;
use tonic::Code;
use tonic_types::StatusExt;

use super::PeerPart;
use crate::domain::CustomerSummary;
use crate::segment::{Profile, SEGMENT_SYSTEM};

/// The longest description of identity's kept in a warning, in bytes.
const MAX_REASON_BYTES: usize = 160;

/// What became of an identify event's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identified {
    /// Stored: the customer, and a warning per trait left out.
    Stored {
        customer_id: String,
        warnings: Vec<String>,
    },
    /// Refused: the event has no usable key.
    Refused(String),
}

/// The customer of a Segment user id.
pub fn segment_user(user_id: &str) -> CustomerSelector {
    CustomerSelector::Identifier {
        kind: IdentifierKind::ExternalId,
        system: SEGMENT_SYSTEM.to_owned(),
        value: user_id.to_owned(),
    }
}

/// The customer of a Segment anonymous id (a device id).
pub fn device(anonymous_id: &str) -> CustomerSelector {
    CustomerSelector::Identifier {
        kind: IdentifierKind::DeviceId,
        system: String::new(),
        value: anonymous_id.to_owned(),
    }
}

/// The person of a Segment event: the user id when known, else the anonymous id.
pub fn segment_person(user_id: Option<&str>, anonymous_id: Option<&str>) -> CustomerSelector {
    match (user_id, anonymous_id) {
        (Some(user_id), _) => segment_user(user_id),
        (None, Some(anonymous_id)) => device(anonymous_id),
        // parse_event refuses an event with neither; an empty id resolves to nothing.
        (None, None) => CustomerSelector::Id(String::new()),
    }
}

/// The summary of a resolved customer for an agent's screen, within `budget`.
pub async fn customer_summary(
    peers: &Peers,
    customer_id: &str,
    budget: Duration,
) -> PeerPart<CustomerSummary> {
    let mut request = tonic::Request::new(pb::GetCustomerRequest {
        customer: Some(CustomerSelector::Id(customer_id.to_owned()).to_proto()),
    });
    request.set_timeout(budget);
    let mut client = peers.identity();
    let call = client.get_customer(request);
    match tokio::time::timeout(budget, call).await {
        Ok(Ok(response)) => match response.into_inner().customer {
            Some(customer) => PeerPart::Found(summarize_customer(customer)),
            None => PeerPart::Nothing,
        },
        Ok(Err(status)) if status.code() == Code::NotFound => PeerPart::Nothing,
        Ok(Err(status)) => {
            tracing::warn!(code = ?status.code(), "identity failed for a context; degrading");
            PeerPart::Failed
        }
        Err(_) => {
            tracing::warn!("identity was late for a context; degrading");
            PeerPart::Failed
        }
    }
}

fn summarize_customer(customer: pb::Customer) -> CustomerSummary {
    let golden = customer.golden.unwrap_or_default();
    let person = [
        golden.given_name.as_str(),
        golden.middle_name.as_str(),
        golden.family_name.as_str(),
    ]
    .iter()
    .filter(|part| !part.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" ");
    let display_name = if person.is_empty() {
        golden.organization_name.clone()
    } else {
        person
    };
    let address = golden.addresses.first();
    CustomerSummary {
        display_name,
        organization_name: golden.organization_name,
        email: golden.emails.first().cloned().unwrap_or_default(),
        phone: golden.phones.first().cloned().unwrap_or_default(),
        locality: address.map(|a| a.locality.clone()).unwrap_or_default(),
        country: address.map(|a| a.country.clone()).unwrap_or_default(),
        source_records: u32::try_from(customer.records.len()).unwrap_or(u32::MAX),
        aliases: customer.aliases,
        customer_since_micros: customer.created_at.as_ref().map(micros_from_timestamp),
    }
}

/// Tells identity that a Segment user id and an earlier anonymous id are one person
/// (an alias call): one record carrying both. Returns the customer.
pub async fn alias(
    peers: &Peers,
    user_id: &str,
    previous_id: &str,
    budget: Duration,
) -> ApiResult<String> {
    let record = pb::SourceRecord {
        source_system: SEGMENT_SYSTEM.to_owned(),
        source_record_id: format!("alias:{previous_id}"),
        identifiers: vec![user_identifier(user_id), device_identifier(previous_id)],
        ..Default::default()
    };
    crate::resolve::upsert_record(peers, record, budget).await
}

/// Merges `customer_ids` in identity (the first survives as identity decides).
pub async fn merge(
    peers: &Peers,
    customer_ids: Vec<String>,
    reason: String,
    budget: Duration,
) -> ApiResult<()> {
    let mut request = tonic::Request::new(pb::MergeRequest {
        customer_ids,
        reason,
    });
    request.set_timeout(budget);
    peers
        .identity()
        .merge(request)
        .await
        .map_err(|status| peer_error("identity", status))?;
    Ok(())
}

fn user_identifier(user_id: &str) -> pb::Identifier {
    pb::Identifier {
        kind: IdentifierKind::ExternalId as i32,
        value: user_id.to_owned(),
        system: SEGMENT_SYSTEM.to_owned(),
        address: None,
    }
}

fn device_identifier(anonymous_id: &str) -> pb::Identifier {
    pb::Identifier {
        kind: IdentifierKind::DeviceId as i32,
        value: anonymous_id.to_owned(),
        system: String::new(),
        address: None,
    }
}

/// The source record an identify call's profile becomes, keyed by the person's anchor.
fn source_record(profile: &Profile) -> pb::SourceRecord {
    let person = segment_person(profile.user_id.as_deref(), profile.anonymous_id.as_deref());
    let mut record = pb::SourceRecord {
        source_system: SEGMENT_SYSTEM.to_owned(),
        source_record_id: person.anchor(),
        channel: pb::Channel::Web as i32,
        emails: profile.emails.clone(),
        phones: profile.phones.clone(),
        organization_name: profile.organization_name.clone(),
        date_of_birth: profile.date_of_birth.clone(),
        ..Default::default()
    };
    if let Some(user_id) = &profile.user_id {
        record.identifiers.push(user_identifier(user_id));
    }
    if let Some(anonymous_id) = &profile.anonymous_id {
        record.identifiers.push(device_identifier(anonymous_id));
    }
    if let Some((given, family)) = &profile.name {
        record.name = Some(pb::PersonName {
            given: given.clone(),
            family: family.clone(),
            ..Default::default()
        });
    }
    if let Some(address) = &profile.address {
        record.addresses.push(pb::PostalAddress {
            street: address.street.clone(),
            locality: address.locality.clone(),
            postcode: address.postcode.clone(),
            region: address.region.clone(),
            country: address.country.clone(),
            ..Default::default()
        });
    }
    record
}

/// Upserts the record of an identify call's `profile`; traits identity refuses are
/// left out and warned about.
pub async fn upsert_profile(
    peers: &Peers,
    profile: &Profile,
    budget: Duration,
) -> ApiResult<Identified> {
    let record = source_record(profile);
    let status = match send(peers, &record, budget).await {
        Ok((customer_id, warnings)) => {
            return Ok(Identified::Stored {
                customer_id,
                warnings,
            });
        }
        Err(status) => status,
    };
    let refused = refused_fields(&status)?;
    let only_traits = !refused.is_empty()
        && refused
            .iter()
            .all(|(field, _)| trait_of_field(field).is_some());
    if !only_traits {
        return Ok(Identified::Refused(refusal(&status)));
    }
    let mut warnings: Vec<String> = refused
        .iter()
        .filter_map(|(field, description)| {
            let name = trait_of_field(field)?;
            Some(format!(
                "{name}: {}; left out",
                bounded(description, MAX_REASON_BYTES)
            ))
        })
        .collect();
    let record = without_fields(record, refused.iter().map(|(field, _)| field.as_str()));
    // A second refusal is about what is left: the event has nothing usable.
    match send(peers, &record, budget).await {
        Ok((customer_id, kept_with_warnings)) => {
            warnings.extend(kept_with_warnings);
            Ok(Identified::Stored {
                customer_id,
                warnings,
            })
        }
        Err(status) if status.code() == Code::InvalidArgument => {
            Ok(Identified::Refused(refusal(&status)))
        }
        Err(status) => Err(peer_error("identity", status)),
    }
}

/// Upserts the record tolerantly: the customer, and a warning per trait identity kept
/// as received but could not read.
async fn send(
    peers: &Peers,
    record: &pb::SourceRecord,
    budget: Duration,
) -> Result<(String, Vec<String>), tonic::Status> {
    let mut request = tonic::Request::new(pb::UpsertRecordRequest {
        record: Some(record.clone()),
        strict: false,
    });
    request.set_timeout(budget);
    let response = peers.identity().upsert_record(request).await?.into_inner();
    let warnings = response
        .warnings
        .iter()
        .map(|warning| {
            let field = warning
                .field
                .strip_prefix("record.")
                .unwrap_or(&warning.field);
            let name = trait_of_field(field).unwrap_or("traits");
            format!(
                "{name}: {}; kept as received, not matched on",
                bounded(&warning.reason, MAX_REASON_BYTES)
            )
        })
        .collect();
    Ok((response.customer_id, warnings))
}

fn refusal(status: &tonic::Status) -> String {
    format!(
        "identity refused the record: {}",
        bounded(status.message(), 2 * MAX_REASON_BYTES)
    )
}

/// The fields identity's INVALID_ARGUMENT names, relative to the record; any other
/// status is not the event's fault and fails the call (a retry is safe: events are
/// keyed by `messageId`).
fn refused_fields(status: &tonic::Status) -> ApiResult<Vec<(String, String)>> {
    if status.code() != Code::InvalidArgument {
        return Err(peer_error("identity", status.clone()));
    }
    let details = status.get_error_details();
    let Some(bad_request) = details.bad_request() else {
        return Ok(Vec::new());
    };
    Ok(bad_request
        .field_violations
        .iter()
        .map(|violation| {
            let field = violation
                .field
                .strip_prefix("record.")
                .unwrap_or(&violation.field);
            (field.to_owned(), violation.description.clone())
        })
        .collect())
}

/// The Segment trait a record field was made from, for the optional ones only.
fn trait_of_field(field: &str) -> Option<&'static str> {
    let (head, _) = field.split_once(['[', '.']).unwrap_or((field, ""));
    match head {
        "emails" => Some("traits.email"),
        "phones" => Some("traits.phone"),
        "name" => Some("traits.name"),
        "addresses" => Some("traits.address"),
        "organization_name" => Some("traits.company.name"),
        "date_of_birth" => Some("traits.birthday"),
        _ => None,
    }
}

/// The index of a list field (`emails[2]` or `addresses[0].postcode` -> 2 or 0).
fn list_index(field: &str) -> Option<usize> {
    let (_, rest) = field.split_once('[')?;
    rest.split_once(']')?.0.parse().ok()
}

/// `record` with the named optional fields left out.
fn without_fields<'a>(
    mut record: pb::SourceRecord,
    fields: impl Iterator<Item = &'a str>,
) -> pb::SourceRecord {
    let (mut emails, mut phones, mut addresses) = (Vec::new(), Vec::new(), Vec::new());
    for field in fields {
        match trait_of_field(field) {
            Some("traits.email") => emails.extend(list_index(field)),
            Some("traits.phone") => phones.extend(list_index(field)),
            Some("traits.address") => addresses.extend(list_index(field)),
            Some("traits.name") => record.name = None,
            Some("traits.company.name") => record.organization_name.clear(),
            Some("traits.birthday") => record.date_of_birth.clear(),
            _ => {}
        }
    }
    record.emails = keep_unlisted(record.emails, &emails);
    record.phones = keep_unlisted(record.phones, &phones);
    record.addresses = keep_unlisted(record.addresses, &addresses);
    record
}

fn keep_unlisted<T>(values: Vec<T>, left_out: &[usize]) -> Vec<T> {
    values
        .into_iter()
        .enumerate()
        .filter(|(index, _)| !left_out.contains(index))
        .map(|(_, value)| value)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identify_carries_traits_to_identity() {
        let event = crate::segment::parse_event(
            r#"{"type":"identify","messageId":"m2","userId":"u1","anonymousId":"a1",
                "traits":{"name":"Ada Lovelace","email":"ada@example.com","company":{"name":"Engines Ltd"}}}"#,
        )
        .unwrap();
        let record = source_record(&crate::segment::profile_of(&event));
        assert_eq!(record.source_record_id, "EXTERNAL_ID:segment:u1");
        assert_eq!(record.source_system, "segment");
        assert_eq!(record.identifiers.len(), 2);
        assert_eq!(record.emails, ["ada@example.com"]);
        let name = record.name.unwrap();
        assert_eq!(
            (name.given.as_str(), name.family.as_str()),
            ("Ada", "Lovelace")
        );
        assert_eq!(record.organization_name, "Engines Ltd");
        let anonymous = source_record(&crate::segment::Profile {
            anonymous_id: Some("a1".into()),
            ..Default::default()
        });
        assert_eq!(anonymous.source_record_id, "DEVICE_ID:a1");
        assert_eq!(anonymous.identifiers.len(), 1);
    }

    #[test]
    fn only_optional_traits_are_left_out() {
        let record = pb::SourceRecord {
            source_record_id: "EXTERNAL_ID:segment:u1".into(),
            emails: vec!["bad@@x".into(), "ada@example.com".into()],
            phones: vec!["+44 20 7946 0000".into()],
            date_of_birth: "1815-12-10".into(),
            name: Some(pb::PersonName::default()),
            ..Default::default()
        };
        let kept = without_fields(record, ["emails[0]", "name.given"].into_iter());
        assert_eq!(kept.emails, ["ada@example.com"]);
        assert_eq!(kept.phones.len(), 1);
        assert_eq!(kept.name, None);
        assert_eq!(kept.date_of_birth, "1815-12-10");
        assert_eq!(trait_of_field("identifiers[0].value"), None);
        assert_eq!(trait_of_field("source_record_id"), None);
        assert_eq!(
            trait_of_field("addresses[1].postcode"),
            Some("traits.address")
        );
    }
}
