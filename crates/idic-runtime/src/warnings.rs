//! Warnings of tolerant ingest: a bad optional field of a record, row or event keeps
//! the record, is left out of computations and is reported with its path, reason and
//! the value as received; a caller that asks for `strict` gets the same problems as
//! INVALID_ARGUMENT field violations instead.

use idic_proto::v1 as pb;

use crate::error::FieldViolation;

/// The longest value echoed back in a warning, in bytes: enough to recognise it, and
/// an answer stays small whatever was sent.
pub const MAX_ECHOED_VALUE_BYTES: usize = 256;

/// The warnings of one record, in field order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldWarnings {
    warnings: Vec<pb::FieldWarning>,
}

impl FieldWarnings {
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>, value: &str) {
        self.warnings.push(pb::FieldWarning {
            field: field.into(),
            reason: reason.into(),
            value: bounded(value).to_owned(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty()
    }

    /// The warnings as refusals, for a strict request.
    pub fn into_violations(self) -> Vec<FieldViolation> {
        self.warnings
            .into_iter()
            .map(|warning| FieldViolation::new(warning.field, warning.reason))
            .collect()
    }

    pub fn into_proto(self) -> Vec<pb::FieldWarning> {
        self.warnings
    }
}

/// At most `MAX_ECHOED_VALUE_BYTES` of `value`, cut at a character boundary.
fn bounded(value: &str) -> &str {
    if value.len() <= MAX_ECHOED_VALUE_BYTES {
        return value;
    }
    let mut end = MAX_ECHOED_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_echoed_cut_at_a_character_boundary() {
        let mut warnings = FieldWarnings::default();
        let long = "é".repeat(200);
        warnings.push("lines[0].category", "is too long", &long);
        let proto = warnings.into_proto();
        assert!(proto[0].value.len() <= MAX_ECHOED_VALUE_BYTES);
        assert!(long.starts_with(&proto[0].value));
    }

    #[test]
    fn strict_turns_each_warning_into_a_violation_of_its_field() {
        let mut warnings = FieldWarnings::default();
        warnings.push("channel", "is not a known channel", "99");
        assert_eq!(
            warnings.into_violations(),
            [FieldViolation::new("channel", "is not a known channel")]
        );
    }
}
