//! Standard output of the client commands. Every command prints through [`stdout`]
//! and returns write errors instead of panicking (as `println!` would), so that a
//! reader that stops early (`idic timeline REF | head`) ends the command quietly:
//! [`ignore_broken_pipe`] turns that one error into success.
//!
//! `--json` output goes through [`write_message`]: the protobuf JSON mapping of the
//! response (field names as in `proto/`, RFC 3339 timestamps, enum names), done by
//! `prost-reflect` from the contracts' descriptors rather than by hand per command.

use std::io::{self, BufWriter, StdoutLock, Write};
use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

/// Buffered, locked standard output. Flush it before returning so that the last rows
/// and any write error reach the caller.
pub type Out = BufWriter<StdoutLock<'static>>;

/// Buffered, locked standard output (see [`Out`]).
pub fn stdout() -> Out {
    BufWriter::new(io::stdout().lock())
}

/// `Ok` when the command failed only because its reader closed the pipe.
pub fn ignore_broken_pipe(result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(error) if is_broken_pipe(&error) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let io_kind = cause
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| match cause.downcast_ref::<csv::Error>()?.kind() {
                csv::ErrorKind::Io(error) => Some(error.kind()),
                _ => None,
            })
            .or_else(|| cause.downcast_ref::<serde_json::Error>()?.io_error_kind());
        io_kind == Some(io::ErrorKind::BrokenPipe)
    })
}

/// Ends an import that rejected rows with a failure, after its summary was printed,
/// so that scripts notice.
pub fn fail_if_rejected(rejected: u64, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(rejected == 0, "{rejected} {what} rejected (see above)");
    Ok(())
}

/// The contracts' descriptors, decoded once.
static POOL: LazyLock<Result<DescriptorPool, String>> = LazyLock::new(|| {
    DescriptorPool::decode(idic_proto::FILE_DESCRIPTOR_SET).map_err(|error| error.to_string())
});

/// A response as JSON by the protobuf JSON mapping: `message_name` is its name in
/// package `idic.v1` (`"GetContextResponse"`). Every field is present, defaults
/// included, so scripts need not know proto3's omissions; 64-bit integers are numbers.
pub fn message_json(
    message: &impl prost::Message,
    message_name: &str,
) -> anyhow::Result<serde_json::Value> {
    let pool = POOL
        .as_ref()
        .map_err(|error| anyhow::anyhow!("the contracts' descriptors: {error}"))?;
    let full_name = format!("idic.v1.{message_name}");
    let descriptor = pool
        .get_message_by_name(&full_name)
        .ok_or_else(|| anyhow::anyhow!("no message {full_name} in the contracts"))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    Ok(dynamic.serialize_with_options(serde_json::value::Serializer, &options)?)
}

/// Writes a response as pretty JSON (see [`message_json`]).
pub fn write_message(
    out: &mut impl Write,
    message: &impl prost::Message,
    message_name: &str,
) -> anyhow::Result<()> {
    write_json(out, &message_json(message, message_name)?)
}

/// Prints a command's answer and flushes: with `--json` (`json`) the response in the
/// protobuf JSON mapping (`message_name` as for [`message_json`]), otherwise what
/// `table` writes of it. Every read command ends with this.
pub fn print<M: prost::Message>(
    json: bool,
    response: M,
    message_name: &str,
    table: impl FnOnce(&mut Out, M) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut out = stdout();
    if json {
        write_message(&mut out, &response, message_name)?;
    } else {
        table(&mut out, response)?;
    }
    out.flush()?;
    Ok(())
}

/// Writes a JSON value, pretty, with a final newline.
pub fn write_json(out: &mut impl Write, value: &serde_json::Value) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// One message as a single JSON line, for streams (`--json` on watch and follow).
pub fn write_message_line(
    out: &mut impl Write,
    message: &impl prost::Message,
    message_name: &str,
) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, &message_json(message, message_name)?)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// `2026-03-02T09:00:00Z`: a timestamp to the second, as the tables show it.
pub fn time_text(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp.map_or_else(String::new, |t| {
        let mut text = t.to_string();
        if let Some(dot) = text.find('.') {
            text.truncate(dot);
            text.push('Z');
        }
        text
    })
}

/// A timestamp as an RFC 3339 JSON string, or null.
pub fn time_json(timestamp: Option<&prost_types::Timestamp>) -> serde_json::Value {
    timestamp.map_or(serde_json::Value::Null, |t| {
        serde_json::Value::String(time_text(Some(t)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use idic_proto::v1 as pb;

    #[test]
    fn only_a_broken_pipe_is_quiet() {
        let closed = || io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(ignore_broken_pipe(Err(closed().into())).is_ok());
        let through_csv = csv::Error::from(closed());
        assert!(ignore_broken_pipe(Err(anyhow::Error::new(through_csv).context("row"))).is_ok());
        let through_json = serde_json::Error::io(closed());
        assert!(ignore_broken_pipe(Err(through_json.into())).is_ok());
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert!(ignore_broken_pipe(Err(full.into())).is_err());
        assert!(ignore_broken_pipe(Err(anyhow::anyhow!("unavailable"))).is_err());
    }

    #[test]
    fn json_has_rfc_3339_times_enum_names_and_every_field() {
        let event = pb::ChangeEvent {
            event_id: 7,
            kind: pb::ChangeKind::Merged as i32,
            customer_id: "cus_1".into(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_749_393_030,
                nanos: 0,
            }),
            ..Default::default()
        };
        let json = message_json(&event, "ChangeEvent").unwrap();
        assert_eq!(json["occurred_at"], "2025-06-08T14:30:30Z");
        assert_eq!(json["kind"], "CHANGE_KIND_MERGED");
        assert_eq!(json["event_id"], 7);
        assert_eq!(json["reason"], "");
        assert_eq!(json["absorbed_customer_ids"], serde_json::json!([]));
        assert!(message_json(&event, "NoSuchMessage").is_err());
    }

    #[test]
    fn table_times_are_to_the_second() {
        let at = prost_types::Timestamp {
            seconds: 1_749_393_030,
            nanos: 5,
        };
        assert_eq!(time_text(Some(&at)), "2025-06-08T14:30:30Z");
        assert_eq!(time_json(None), serde_json::Value::Null);
    }
}
