//! How the import commands print their warnings (fields left out because they could
//! not be read), counted per field and reason from the server's answers and the CSV
//! reader's own.

use idic_runtime::warnings::WarningCounts;

/// Most frequent first, one line per field and reason; nothing when there are none.
pub fn print_warning_counts(heading: &str, counts: WarningCounts) {
    if counts.is_empty() {
        return;
    }
    println!("{heading}");
    for count in counts.into_proto() {
        println!("  {:>9}  {}: {}", count.count, count.field, count.reason);
    }
}
