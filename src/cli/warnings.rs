//! How the import commands print their warnings (fields left out because they could
//! not be read), counted per field and reason from the server's answers and the CSV
//! reader's own.

use std::io::{self, Write};

use idic_runtime::warnings::WarningCounts;

/// Most frequent first, one line per field and reason; nothing when there are none.
pub fn print_warning_counts(
    out: &mut impl Write,
    heading: &str,
    counts: WarningCounts,
) -> io::Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    writeln!(out, "{heading}")?;
    for count in counts.into_proto() {
        writeln!(
            out,
            "  {:>9}  {}: {}",
            count.count, count.field, count.reason
        )?;
    }
    Ok(())
}
