//! Sends a Segment `identify` to identity as a source record, keeping the event when
//! only some of its traits are malformed.
//!
//! Per the tolerant-ingest rule, an event is refused only when it has no usable key.
//! Identity keeps a record whose optional fields it cannot read and answers with a
//! warning per field; those become the event's warnings, named by trait. When identity
//! still refuses the record for an optional trait (one past its size limits), that
//! trait is left out, the record is sent again, and the event's result carries a
//! warning naming the trait. A refusal of the record's keys (the user or anonymous id)
//! rejects the event.

use std::time::Duration;

use idic_proto::v1 as pb;
use idic_runtime::ApiResult;
use idic_runtime::error::bounded;
use idic_runtime::peers::Peers;
use tonic::Code;
use tonic_types::StatusExt;

use idic_runtime::peers::peer_error;

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

/// Upserts `record`; traits identity refuses are left out and warned about.
pub async fn upsert_identify(
    peers: &Peers,
    record: pb::SourceRecord,
    budget: Duration,
) -> ApiResult<Identified> {
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
