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

/// Warnings of many records counted per field (list positions left out, so that
/// `phones[0]` and `phones[1]` count together) and reason, for import summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarningCounts {
    counts: std::collections::HashMap<(String, String), u64>,
}

impl WarningCounts {
    pub fn add(&mut self, field: &str, reason: &str, count: u64) {
        *self
            .counts
            .entry((without_positions(field), reason.to_owned()))
            .or_default() += count;
    }

    pub fn add_all<'a>(&mut self, warnings: impl IntoIterator<Item = &'a pb::FieldWarning>) {
        for warning in warnings {
            self.add(&warning.field, &warning.reason, 1);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Most frequent first; ties by field and reason, so that the answer is stable.
    pub fn into_proto(self) -> Vec<pb::WarningCount> {
        let mut counts: Vec<pb::WarningCount> = self
            .counts
            .into_iter()
            .map(|((field, reason), count)| pb::WarningCount {
                field,
                reason,
                count,
            })
            .collect();
        counts.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.field, &a.reason).cmp(&(&b.field, &b.reason)))
        });
        counts
    }
}

/// `transactions[3].lines[0].category` -> `transactions.lines.category`.
pub fn without_positions(path: &str) -> String {
    let mut plain = String::with_capacity(path.len());
    let mut in_brackets = false;
    for ch in path.chars() {
        match ch {
            '[' => in_brackets = true,
            ']' => in_brackets = false,
            _ if !in_brackets => plain.push(ch),
            _ => {}
        }
    }
    plain
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
    fn counts_group_a_field_over_its_positions_most_frequent_first() {
        let mut counts = WarningCounts::default();
        let warning = |field: &str, reason: &str| pb::FieldWarning {
            field: field.to_owned(),
            reason: reason.to_owned(),
            value: String::new(),
        };
        counts.add_all(&[
            warning("transactions[0].lines[1].category", "too long"),
            warning("date_of_birth", "no such day"),
            warning("transactions[7].lines[0].category", "too long"),
        ]);
        counts.add("date_of_birth", "in the future", 1);
        let summary: Vec<(String, String, u64)> = counts
            .into_proto()
            .into_iter()
            .map(|count| (count.field, count.reason, count.count))
            .collect();
        assert_eq!(
            summary,
            [
                ("transactions.lines.category".into(), "too long".into(), 2),
                ("date_of_birth".into(), "in the future".into(), 1),
                ("date_of_birth".into(), "no such day".into(), 1),
            ]
        );
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
