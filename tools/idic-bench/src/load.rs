//! The two ways of applying load. Max-throughput is a closed loop: a fixed number of
//! requests in flight, each followed at once by the next. Fixed-rate is an open loop:
//! requests leave on a schedule whatever the server does, and latency is measured from
//! the scheduled time, so that a stalled server shows up as queueing instead of as
//! fewer, faster samples (coordinated omission).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::task::JoinSet;
use tokio_util::task::TaskTracker;

use crate::recorder::Recorder;
use crate::scenario::ScenarioClient;

/// How load is applied in one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Closed loop: this many requests in flight in total, spread over the connections.
    MaxThroughput { concurrency: usize },
    /// Open loop: this many requests per second in total, at fixed intervals.
    FixedRate { requests_per_second: u64 },
}

impl Mode {
    /// A short label for reports: `max-throughput (c=64)`, `fixed-rate 5000/s`.
    pub fn label(self) -> String {
        match self {
            Mode::MaxThroughput { concurrency } => format!("max-throughput (c={concurrency})"),
            Mode::FixedRate {
                requests_per_second,
            } => format!("fixed-rate {requests_per_second}/s"),
        }
    }
}

/// One phase of load: how long, and how long a single request may take before it is
/// given up and counted as DEADLINE_EXCEEDED (so that every phase ends by itself).
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub length: Duration,
    pub request_timeout: Duration,
}

/// Runs one phase in `mode` and returns what was recorded. Must be called from outside
/// the client runtime: the fixed-rate scheduler sleeps on the calling thread.
pub fn run_phase(
    runtime: &Handle,
    clients: &[ScenarioClient],
    mode: Mode,
    phase: Phase,
) -> anyhow::Result<Recorder> {
    anyhow::ensure!(!clients.is_empty(), "at least one connection is needed");
    match mode {
        Mode::MaxThroughput { concurrency } => {
            runtime.block_on(closed_loop(clients, concurrency, phase))
        }
        Mode::FixedRate {
            requests_per_second,
        } => open_loop(runtime, clients, requests_per_second, phase),
    }
}

/// `concurrency` tasks, task `i` on connection `i % connections`, each sending its next
/// request as soon as the last one is answered, until the phase ends.
async fn closed_loop(
    clients: &[ScenarioClient],
    concurrency: usize,
    phase: Phase,
) -> anyhow::Result<Recorder> {
    anyhow::ensure!(concurrency > 0, "concurrency must be at least 1");
    let recorder = Arc::new(Mutex::new(Recorder::new()));
    let stop_at = Instant::now() + phase.length;
    let mut tasks = JoinSet::new();
    for index in 0..concurrency {
        let mut client = clients[index % clients.len()].clone();
        let recorder = recorder.clone();
        tasks.spawn(async move {
            while Instant::now() < stop_at {
                let sent = Instant::now();
                let outcome = issue_with_timeout(&mut client, phase.request_timeout).await;
                let answered = Instant::now();
                // Calls answered after the end would inflate req/s over the phase.
                if answered <= stop_at {
                    record(&recorder, outcome, sent, sent, answered);
                }
            }
        });
    }
    while let Some(finished) = tasks.join_next().await {
        finished?;
    }
    Ok(take(recorder))
}

/// Sends request `k` at `start + k / rate` from a scheduler on the calling thread (an OS
/// sleep is far finer than tokio's 1 ms timer wheel), each as its own task on the client
/// runtime, connections taken in turn.
fn open_loop(
    runtime: &Handle,
    clients: &[ScenarioClient],
    requests_per_second: u64,
    phase: Phase,
) -> anyhow::Result<Recorder> {
    let recorder = Arc::new(Mutex::new(Recorder::new()));
    let tracker = TaskTracker::new();
    let schedule = FixedRateSchedule::new(Instant::now(), requests_per_second)?;
    let total = schedule.requests_in(phase.length);
    for index in 0..total {
        let intended = schedule.send_time(index);
        sleep_until(intended);
        let client_index = usize::try_from(index % clients.len() as u64).unwrap_or(0);
        let mut client = clients[client_index].clone();
        let recorder = recorder.clone();
        tracker.spawn_on(
            async move {
                let sent = Instant::now();
                let outcome = issue_with_timeout(&mut client, phase.request_timeout).await;
                record(&recorder, outcome, intended, sent, Instant::now());
            },
            runtime,
        );
    }
    tracker.close();
    // Every request gives up after its timeout, so this wait is bounded; the margin
    // covers a client runtime that is itself behind.
    let drain_limit = phase.request_timeout + Duration::from_secs(5);
    let drained =
        runtime.block_on(async { tokio::time::timeout(drain_limit, tracker.wait()).await });
    anyhow::ensure!(
        drained.is_ok(),
        "requests still running {} s after the fixed-rate phase",
        drain_limit.as_secs()
    );
    Ok(take(recorder))
}

/// When each request of a fixed-rate phase is due.
#[derive(Debug, Clone, Copy)]
pub struct FixedRateSchedule {
    start: Instant,
    requests_per_second: u64,
}

impl FixedRateSchedule {
    pub fn new(start: Instant, requests_per_second: u64) -> anyhow::Result<Self> {
        anyhow::ensure!(requests_per_second > 0, "the rate must be at least 1/s");
        Ok(FixedRateSchedule {
            start,
            requests_per_second,
        })
    }

    /// The intended send time of request `index` (0-based). Computed from the start
    /// rather than by adding intervals, so rounding never accumulates into drift.
    pub fn send_time(&self, index: u64) -> Instant {
        let nanos = u128::from(index) * 1_000_000_000 / u128::from(self.requests_per_second);
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// How many requests are due within `length` of the start (send time < length).
    pub fn requests_in(&self, length: Duration) -> u64 {
        let scaled = length.as_nanos() * u128::from(self.requests_per_second);
        u64::try_from(scaled.div_ceil(1_000_000_000)).unwrap_or(u64::MAX)
    }
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

async fn issue_with_timeout(
    client: &mut ScenarioClient,
    timeout: Duration,
) -> Result<(), tonic::Code> {
    match tokio::time::timeout(timeout, client.issue()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(status)) => Err(status.code()),
        Err(_elapsed) => Err(tonic::Code::DeadlineExceeded),
    }
}

fn record(
    recorder: &Mutex<Recorder>,
    outcome: Result<(), tonic::Code>,
    intended: Instant,
    sent: Instant,
    answered: Instant,
) {
    // A panic elsewhere cannot leave a half-written sample behind: keep recording.
    let mut recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
    match outcome {
        Ok(()) => recorder.record_success(answered - intended, answered - sent),
        Err(code) => recorder.record_error(code),
    }
}

fn take(recorder: Arc<Mutex<Recorder>>) -> Recorder {
    let mut guard = recorder.lock().unwrap_or_else(PoisonError::into_inner);
    std::mem::take(&mut *guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_leave_at_fixed_intervals_from_the_start() {
        let start = Instant::now();
        let schedule = FixedRateSchedule::new(start, 4).expect("positive rate");
        let offsets: Vec<_> = (0..5)
            .map(|index| schedule.send_time(index) - start)
            .collect();
        assert_eq!(offsets, [0, 250, 500, 750, 1000].map(Duration::from_millis));
    }

    #[test]
    fn intervals_that_do_not_divide_a_second_do_not_drift() {
        let start = Instant::now();
        let schedule = FixedRateSchedule::new(start, 3).expect("positive rate");
        assert_eq!(
            schedule.send_time(1) - start,
            Duration::from_nanos(333_333_333)
        );
        assert_eq!(schedule.send_time(3) - start, Duration::from_secs(1));
        assert_eq!(schedule.send_time(3000) - start, Duration::from_secs(1000));
    }

    #[test]
    fn a_phase_holds_rate_times_length_requests() {
        let schedule = FixedRateSchedule::new(Instant::now(), 5000).expect("positive rate");
        assert_eq!(schedule.requests_in(Duration::from_secs(10)), 50_000);
        assert_eq!(
            schedule.requests_in(Duration::from_micros(1)),
            1,
            "request 0 at t=0"
        );
        assert_eq!(schedule.requests_in(Duration::ZERO), 0);
        let odd = FixedRateSchedule::new(Instant::now(), 3).expect("positive rate");
        // Sends at 0, 1/3 s and 2/3 s fall within the first second; the one at 1 s does not.
        assert_eq!(odd.requests_in(Duration::from_secs(1)), 3);
    }

    #[test]
    fn a_zero_rate_is_refused() {
        assert!(FixedRateSchedule::new(Instant::now(), 0).is_err());
    }

    #[test]
    fn modes_have_readable_labels() {
        assert_eq!(
            Mode::MaxThroughput { concurrency: 64 }.label(),
            "max-throughput (c=64)"
        );
        assert_eq!(
            Mode::FixedRate {
                requests_per_second: 5000
            }
            .label(),
            "fixed-rate 5000/s"
        );
    }
}
