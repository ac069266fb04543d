//! What a measurement phase collects: latency histograms (hdrhistogram, microseconds)
//! and the failed calls counted by gRPC status code.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// The largest latency the histograms resolve (a minute, in microseconds); longer
/// values are clamped to it rather than dropped, so that they still count.
const HIGHEST_MICROS: u64 = 60_000_000;
/// Three significant digits: a 250 µs value is known to within 0.25 µs.
const SIGNIFICANT_DIGITS: u8 = 3;

/// The outcome of every request sent in one phase.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// From the time the request was meant to be sent to the answer. In fixed-rate mode
    /// this includes any wait behind earlier requests (no coordinated omission); in
    /// max-throughput mode it equals the service time.
    latency: Histogram<u64>,
    /// From the time the request was actually sent to the answer.
    service_time: Histogram<u64>,
    successes: u64,
    errors: BTreeMap<ErrorCode, u64>,
}

/// A gRPC status code, ordered by its number so that reports list codes stably.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ErrorCode(i32);

impl ErrorCode {
    pub fn of(code: tonic::Code) -> ErrorCode {
        ErrorCode(code as i32)
    }

    /// The canonical upper-case name (`UNAVAILABLE`), as gRPC documentation spells it.
    pub fn name(self) -> &'static str {
        use tonic::Code;
        match Code::from_i32(self.0) {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            latency: empty_histogram(),
            service_time: empty_histogram(),
            successes: 0,
            errors: BTreeMap::new(),
        }
    }

    /// Records a successful call.
    pub fn record_success(&mut self, latency: Duration, service_time: Duration) {
        self.successes += 1;
        self.latency.saturating_record(micros(latency));
        self.service_time.saturating_record(micros(service_time));
    }

    /// Records a failed call. Its latency is left out of the histograms: a call shed at
    /// once would otherwise make an overloaded server look fast.
    pub fn record_error(&mut self, code: tonic::Code) {
        *self.errors.entry(ErrorCode::of(code)).or_insert(0) += 1;
    }

    pub fn successes(&self) -> u64 {
        self.successes
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn errors(&self) -> &BTreeMap<ErrorCode, u64> {
        &self.errors
    }

    pub fn latency(&self) -> &Histogram<u64> {
        &self.latency
    }

    pub fn service_time(&self) -> &Histogram<u64> {
        &self.service_time
    }
}

fn empty_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; a failure here is a bug in
    // this file, caught by the unit tests.
    Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_DIGITS)
        .expect("valid histogram bounds")
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_successes_and_errors_by_code() {
        let mut recorder = Recorder::new();
        recorder.record_success(Duration::from_micros(200), Duration::from_micros(150));
        recorder.record_success(Duration::from_micros(400), Duration::from_micros(300));
        recorder.record_error(tonic::Code::Unavailable);
        recorder.record_error(tonic::Code::Unavailable);
        recorder.record_error(tonic::Code::DeadlineExceeded);

        assert_eq!(recorder.successes(), 2);
        assert_eq!(recorder.error_count(), 3);
        let named: Vec<_> = recorder
            .errors()
            .iter()
            .map(|(code, count)| (code.name(), *count))
            .collect();
        assert_eq!(named, [("DEADLINE_EXCEEDED", 1), ("UNAVAILABLE", 2)]);
        assert_eq!(
            recorder.latency().len(),
            2,
            "errors stay out of the histogram"
        );
        assert_eq!(recorder.latency().max(), 400);
        assert_eq!(recorder.service_time().max(), 300);
    }

    #[test]
    fn clamps_latencies_beyond_the_range() {
        let mut recorder = Recorder::new();
        recorder.record_success(Duration::from_secs(3600), Duration::from_secs(3600));
        assert_eq!(recorder.latency().len(), 1);
        assert!(recorder.latency().max() >= HIGHEST_MICROS);
    }
}
