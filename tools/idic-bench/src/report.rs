//! Turns measurements into what a reader needs: a plain-text table for the terminal and
//! a Markdown section for `docs/benchmarks.md`, both with the machine, date and settings,
//! and the suite/bare comparison against the throughput target.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use hdrhistogram::Histogram;

use crate::cpu::CpuUse;
use crate::load::Mode;
use crate::recorder::Recorder;
use crate::targets::TargetKind;

/// The target: the full layer stack keeps this share of the bare throughput.
pub const THROUGHPUT_TARGET: f64 = 0.80;

/// The outcome of one measured phase.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub target: TargetKind,
    pub mode: Mode,
    /// Which repetition this is (1-based); a run without repetitions has only round 1.
    pub round: usize,
    pub measured_for: Duration,
    pub recorder: Recorder,
    pub cpu: Option<CpuUse>,
}

impl Measurement {
    /// Successful calls per second over the measured time.
    pub fn requests_per_second(&self) -> f64 {
        self.recorder.successes() as f64 / self.measured_for.as_secs_f64().max(f64::EPSILON)
    }

    /// Server CPU time per successful call, in microseconds: what a call costs the
    /// server whether or not the load generator kept it busy.
    pub fn server_micros_per_request(&self) -> Option<f64> {
        let cpu = self.cpu.as_ref()?;
        let rate = self.requests_per_second();
        (rate > 0.0).then(|| cpu.server_cores * 1_000_000.0 / rate)
    }
}

/// Everything a results section shows.
#[derive(Debug, Clone)]
pub struct Report {
    pub title: String,
    pub date: String,
    pub machine: String,
    /// `(name, value)` pairs, in the order they are printed.
    pub settings: Vec<(String, String)>,
    /// Every measurement of every round.
    pub measurements: Vec<Measurement>,
}

const HEADERS: [&str; 13] = [
    "target",
    "mode",
    "req/s",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "errors",
    "server CPU",
    "client CPU",
    "other CPU",
    "server CPU/call",
];

/// Other processes using more than this share of a core during a run disturb it enough
/// to say so next to the figures.
pub const DISTURBANCE_CORES: f64 = 0.05;

impl Report {
    /// Aligned columns for a terminal.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "{} ({})", self.title, self.date);
        let _ = writeln!(text, "machine: {}", self.machine);
        for (name, value) in &self.settings {
            let _ = writeln!(text, "{name}: {value}");
        }
        text.push('\n');
        let rows: Vec<Vec<String>> = self.table().into_iter().map(row).collect();
        let widths: Vec<usize> = (0..HEADERS.len())
            .map(|column| {
                rows.iter()
                    .map(|cells| cells[column].chars().count())
                    .chain([HEADERS[column].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let _ = writeln!(text, "{}", line(HEADERS.to_vec()));
        for cells in &rows {
            let _ = writeln!(text, "{}", line(cells.iter().map(String::as_str).collect()));
        }
        text.push('\n');
        for note in self.notes() {
            let _ = writeln!(text, "{note}");
        }
        text
    }

    /// A Markdown section: heading, machine, date, settings, table, comparison.
    pub fn to_markdown(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "### {} ({})\n", self.title, self.date);
        let _ = writeln!(text, "- Machine: {}", self.machine);
        for (name, value) in &self.settings {
            let _ = writeln!(text, "- {}: {value}", capitalized(name));
        }
        text.push('\n');
        let _ = writeln!(text, "| {} |", HEADERS.join(" | "));
        let _ = writeln!(text, "|{}", "---|".repeat(HEADERS.len()));
        for measurement in self.table() {
            let _ = writeln!(text, "| {} |", row(measurement).join(" | "));
        }
        text.push('\n');
        for note in self.notes() {
            let _ = writeln!(text, "- {note}");
        }
        text
    }

    fn rounds(&self) -> usize {
        self.measurements
            .iter()
            .map(|measurement| measurement.round)
            .max()
            .unwrap_or(0)
    }

    /// The (target, mode) pairs measured, in the order first measured.
    fn series(&self) -> Vec<(TargetKind, Mode)> {
        let mut series = Vec::new();
        for measurement in &self.measurements {
            let key = (measurement.target, measurement.mode);
            if !series.contains(&key) {
                series.push(key);
            }
        }
        series
    }

    fn rounds_of(&self, target: TargetKind, mode: Mode) -> Vec<&Measurement> {
        self.measurements
            .iter()
            .filter(|measurement| measurement.target == target && measurement.mode == mode)
            .collect()
    }

    /// One row per (target, mode): the round with the median throughput, so that one
    /// lucky or disturbed round does not speak for the others.
    fn table(&self) -> Vec<&Measurement> {
        self.series()
            .into_iter()
            .filter_map(|(target, mode)| {
                let rounds = self.rounds_of(target, mode);
                let throughputs: Vec<f64> = rounds
                    .iter()
                    .map(|measurement| measurement.requests_per_second())
                    .collect();
                median_index(&throughputs).map(|index| rounds[index])
            })
            .collect()
    }

    /// Disturbances, rounds, service times of fixed-rate runs, then one comparison per
    /// mode measured on both the bare server and the suite.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for measurement in &self.measurements {
            if let Some(cpu) = measurement.cpu
                && cpu.other_cores > DISTURBANCE_CORES
            {
                notes.push(format!(
                    "warning: other processes used {:.0}% of a core during {} {} (round {}): that run was disturbed",
                    cpu.other_cores * 100.0,
                    measurement.target.name(),
                    measurement.mode.label(),
                    measurement.round,
                ));
            }
        }
        if self.rounds() > 1 {
            notes.push(format!(
                "{} rounds; the table shows the round with the median req/s",
                self.rounds()
            ));
        }
        for measurement in self.table() {
            if let Mode::FixedRate { .. } = measurement.mode {
                let service = measurement.recorder.service_time();
                notes.push(format!(
                    "{} {}: latency is from the scheduled send time; service time (from the actual send) p50 {}, p99 {}",
                    measurement.target.name(),
                    measurement.mode.label(),
                    format_micros(service.value_at_quantile(0.50)),
                    format_micros(service.value_at_quantile(0.99)),
                ));
            }
        }
        let mut modes: Vec<Mode> = Vec::new();
        for (_, mode) in self.series() {
            if !modes.contains(&mode) {
                modes.push(mode);
            }
        }
        for mode in modes {
            if let Some(line) = self.comparison(mode) {
                notes.push(line);
            }
        }
        notes
    }

    /// The suite against the bare server in one mode: the ratio of each round (bare and
    /// suite of a round ran back to back, under the same conditions) and their median.
    fn comparison(&self, mode: Mode) -> Option<String> {
        let mut ratios = Vec::new();
        let mut costs = Vec::new();
        for bare in self.rounds_of(TargetKind::Bare, mode) {
            let suite = self
                .rounds_of(TargetKind::Suite, mode)
                .into_iter()
                .find(|suite| suite.round == bare.round)?;
            ratios.push(suite.requests_per_second() / bare.requests_per_second().max(f64::EPSILON));
            if let (Some(bare_cost), Some(suite_cost)) = (
                bare.server_micros_per_request(),
                suite.server_micros_per_request(),
            ) {
                costs.push((bare_cost, suite_cost));
            }
        }
        let ratio = ratios[median_index(&ratios)?];
        let mut line = format!("{}: suite/bare throughput {}", mode.label(), percent(ratio));
        if ratios.len() > 1 {
            let each: Vec<String> = ratios.iter().map(|ratio| percent(*ratio)).collect();
            let _ = write!(
                line,
                " (median of {} rounds: {})",
                ratios.len(),
                each.join(", ")
            );
        }
        if let Mode::MaxThroughput { .. } = mode {
            let _ = write!(
                line,
                "; target >= {}: {}",
                percent(THROUGHPUT_TARGET),
                if ratio >= THROUGHPUT_TARGET {
                    "met"
                } else {
                    "NOT met"
                }
            );
        }
        let cost_ratios: Vec<f64> = costs.iter().map(|(bare, suite)| suite / bare).collect();
        if let Some(index) = median_index(&cost_ratios) {
            let (bare_cost, suite_cost) = costs[index];
            let _ = write!(
                line,
                "; server CPU per call {suite_cost:.1} µs vs {bare_cost:.1} µs bare (x{:.2})",
                cost_ratios[index]
            );
        }
        let table = self.table();
        let representative = |target: TargetKind| {
            table
                .iter()
                .find(|measurement| measurement.target == target && measurement.mode == mode)
        };
        if let (Mode::FixedRate { .. }, Some(bare), Some(suite)) = (
            mode,
            representative(TargetKind::Bare),
            representative(TargetKind::Suite),
        ) {
            let quantile = |measurement: &Measurement, q: f64| {
                format_micros(measurement.recorder.latency().value_at_quantile(q))
            };
            let _ = write!(
                line,
                "; p50 {} vs {} bare, p99 {} vs {} bare",
                quantile(suite, 0.50),
                quantile(bare, 0.50),
                quantile(suite, 0.99),
                quantile(bare, 0.99),
            );
        }
        Some(line)
    }
}

/// The index of the median value (the lower one of an even count); `None` when empty.
fn median_index(values: &[f64]) -> Option<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|left, right| values[*left].total_cmp(&values[*right]));
    let middle = values.len().checked_sub(1)? / 2;
    order.get(middle).copied()
}

fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

fn row(measurement: &Measurement) -> Vec<String> {
    let latency: &Histogram<u64> = measurement.recorder.latency();
    let quantile = |q: f64| {
        if latency.is_empty() {
            "-".to_owned()
        } else {
            format_micros(latency.value_at_quantile(q))
        }
    };
    let cores = |pick: fn(&CpuUse) -> f64| {
        measurement
            .cpu
            .as_ref()
            .map_or("-".to_owned(), |cpu| format!("{:.0}%", pick(cpu) * 100.0))
    };
    vec![
        measurement.target.name().to_owned(),
        measurement.mode.label(),
        format!("{:.0}", measurement.requests_per_second()),
        quantile(0.50),
        quantile(0.90),
        quantile(0.99),
        quantile(0.999),
        if latency.is_empty() {
            "-".to_owned()
        } else {
            format_micros(latency.max())
        },
        error_summary(&measurement.recorder),
        cores(|cpu| cpu.server_cores),
        cores(|cpu| cpu.client_cores),
        cores(|cpu| cpu.other_cores),
        measurement
            .server_micros_per_request()
            .map_or("-".to_owned(), |micros| format!("{micros:.1} µs")),
    ]
}

/// `0`, or the count and the codes: `12 (UNAVAILABLE 10, DEADLINE_EXCEEDED 2)`.
pub fn error_summary(recorder: &Recorder) -> String {
    let total = recorder.error_count();
    if total == 0 {
        return "0".to_owned();
    }
    let by_code: Vec<String> = recorder
        .errors()
        .iter()
        .map(|(code, count)| format!("{} {count}", code.name()))
        .collect();
    format!("{total} ({})", by_code.join(", "))
}

/// A latency in microseconds, in the unit a reader takes in at a glance:
/// `87 µs`, `1.25 ms`, `2.50 s`.
pub fn format_micros(micros: u64) -> String {
    if micros < 1_000 {
        format!("{micros} µs")
    } else if micros < 1_000_000 {
        format!("{:.2} ms", micros as f64 / 1_000.0)
    } else {
        format!("{:.2} s", micros as f64 / 1_000_000.0)
    }
}

fn capitalized(text: &str) -> String {
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// Appends `text` and a line break to the Markdown file at `path`, creating it.
pub fn append_markdown(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{text}").with_context(|| format!("appending to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(target: TargetKind, mode: Mode, successes: u64, micros: u64) -> Measurement {
        let mut recorder = Recorder::new();
        for _ in 0..successes {
            recorder.record_success(Duration::from_micros(micros), Duration::from_micros(micros));
        }
        Measurement {
            target,
            mode,
            round: 1,
            measured_for: Duration::from_secs(1),
            recorder,
            cpu: None,
        }
    }

    #[test]
    fn latencies_are_printed_in_a_readable_unit() {
        assert_eq!(format_micros(0), "0 µs");
        assert_eq!(format_micros(87), "87 µs");
        assert_eq!(format_micros(999), "999 µs");
        assert_eq!(format_micros(1_250), "1.25 ms");
        assert_eq!(format_micros(2_500_000), "2.50 s");
    }

    #[test]
    fn errors_are_summarised_by_code() {
        let mut recorder = Recorder::new();
        assert_eq!(error_summary(&recorder), "0");
        recorder.record_error(tonic::Code::Unavailable);
        recorder.record_error(tonic::Code::Unavailable);
        recorder.record_error(tonic::Code::DeadlineExceeded);
        assert_eq!(
            error_summary(&recorder),
            "3 (DEADLINE_EXCEEDED 1, UNAVAILABLE 2)"
        );
    }

    #[test]
    fn compares_the_suite_with_the_bare_server_in_the_same_mode() {
        let closed = Mode::MaxThroughput { concurrency: 8 };
        let report = Report {
            title: "t".into(),
            date: "d".into(),
            machine: "m".into(),
            settings: vec![("connections".into(), "2".into())],
            measurements: vec![
                measurement(TargetKind::Bare, closed, 100, 200),
                measurement(TargetKind::Suite, closed, 85, 250),
            ],
        };
        let markdown = report.to_markdown();
        assert!(markdown.contains("suite/bare throughput 85.0%; target >= 80.0%: met"));
        assert!(markdown.contains("| bare | max-throughput (c=8) | 100 | 200 µs |"));
        assert!(markdown.contains("- Connections: 2"));
        assert!(report.to_text().contains("suite/bare throughput 85.0%"));
    }

    #[test]
    fn with_rounds_the_table_shows_the_median_round() {
        let closed = Mode::MaxThroughput { concurrency: 8 };
        let mut measurements = Vec::new();
        for (round, (bare, suite)) in [(100, 70), (120, 108), (110, 99)].into_iter().enumerate() {
            for (target, successes) in [(TargetKind::Bare, bare), (TargetKind::Suite, suite)] {
                let mut taken = measurement(target, closed, successes, 200);
                taken.round = round + 1;
                measurements.push(taken);
            }
        }
        let report = Report {
            title: "t".into(),
            date: "d".into(),
            machine: "m".into(),
            settings: Vec::new(),
            measurements,
        };
        let table = report.table();
        assert_eq!(table.len(), 2);
        assert_eq!(table[0].recorder.successes(), 110, "bare median");
        assert_eq!(table[1].recorder.successes(), 99, "suite median");
        let text = report.to_text();
        assert_eq!(
            text.matches("suite/bare throughput").count(),
            1,
            "one line per mode"
        );
        assert!(
            text.contains("suite/bare throughput 90.0% (median of 3 rounds: 70.0%, 90.0%, 90.0%); target >= 80.0%: met"),
            "{text}"
        );
    }

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median_index(&[]), None);
        assert_eq!(median_index(&[3.0]), Some(0));
        assert_eq!(median_index(&[3.0, 1.0, 2.0]), Some(2));
        assert_eq!(
            median_index(&[4.0, 1.0, 3.0, 2.0]),
            Some(3),
            "lower middle of four"
        );
    }
}
