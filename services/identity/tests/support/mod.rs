//! Requests the identity store tests share.

use idic_proto::v1 as pb;

/// A call-center record of a Lindqvist with a given name and an e-mail.
pub fn person(id: &str, given: &str, email: &str) -> pb::UpsertRecordRequest {
    pb::UpsertRecordRequest {
        record: Some(pb::SourceRecord {
            source_system: "crm".into(),
            source_record_id: id.into(),
            channel: pb::Channel::CallCenter as i32,
            name: Some(pb::PersonName {
                given: given.into(),
                family: "Lindqvist".into(),
                ..Default::default()
            }),
            emails: vec![email.into()],
            ..Default::default()
        }),
        strict: false,
    }
}
