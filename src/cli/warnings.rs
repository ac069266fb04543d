//! The import commands' count of warnings (fields kept out because they could not be
//! read) per field and reason, from the server's answers and the CSV reader's own.

use std::collections::BTreeMap;

use idic_proto::v1 as pb;

#[derive(Debug, Clone, Default)]
pub struct WarningTally {
    /// (field without list positions, reason) -> count.
    counts: BTreeMap<(String, String), u64>,
}

impl WarningTally {
    pub fn add(&mut self, field: &str, reason: &str, count: u64) {
        *self
            .counts
            .entry((without_positions(field), reason.to_owned()))
            .or_default() += count;
    }

    pub fn add_all(&mut self, warnings: &[pb::FieldWarning]) {
        for warning in warnings {
            self.add(&warning.field, &warning.reason, 1);
        }
    }

    /// Most frequent first, one line per field and reason; nothing when there are none.
    pub fn print(&self, heading: &str) {
        if self.counts.is_empty() {
            return;
        }
        let mut lines: Vec<(&(String, String), &u64)> = self.counts.iter().collect();
        lines.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        println!("{heading}");
        for ((field, reason), count) in lines {
            println!("  {count:>9}  {field}: {reason}");
        }
    }
}

/// `transactions[3].lines[0].category` -> `lines.category`: the request's own list
/// positions say nothing about the file, and the same field counts together.
fn without_positions(path: &str) -> String {
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
        .strip_prefix("transactions.")
        .unwrap_or(&plain)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_count_together_without_their_positions() {
        let mut tally = WarningTally::default();
        tally.add("transactions[0].lines[1].category", "too long", 1);
        tally.add("transactions[7].lines[0].category", "too long", 1);
        tally.add("phones[0]", "not valid", 3);
        assert_eq!(
            tally.counts.into_iter().collect::<Vec<_>>(),
            [
                (("lines.category".to_owned(), "too long".to_owned()), 2),
                (("phones".to_owned(), "not valid".to_owned()), 3),
            ]
        );
    }
}
