//! A circuit breaker per dependency: after `threshold` consecutive failures the
//! dependency is skipped for `open_for`, then one call is let through to probe it
//! (half-open); a success closes the breaker, a failure opens it again. This keeps a
//! dead dependency from costing every request its full timeout.

use std::sync::Mutex;
use std::time::Duration;

use idic_runtime::observability::{BreakerState, record_breaker_state};
use tokio::time::Instant;

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is in flight.
    HalfOpen,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    state: Mutex<State>,
    threshold: u32,
    open_for: Duration,
    /// The dependency it guards, as `idic_circuit_breaker_state` labels it.
    dependency: &'static str,
}

impl State {
    fn observed(&self) -> BreakerState {
        match self {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

impl CircuitBreaker {
    pub fn new(dependency: &'static str, threshold: u32, open_for: Duration) -> Self {
        record_breaker_state(dependency, BreakerState::Closed);
        CircuitBreaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            open_for,
            dependency,
        }
    }

    /// Publishes the state the breaker is left in.
    fn report(&self, state: &State) {
        record_breaker_state(self.dependency, state.observed());
    }

    /// Whether a call may go out now.
    pub fn allow(&self) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                self.report(&state);
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        }
    }

    pub fn success(&self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *state = State::Closed { failures: 0 };
        self.report(&state);
    }

    pub fn failure(&self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            State::Open { .. } | State::HalfOpen => self.threshold,
        };
        *state = if failures >= self.threshold {
            State::Open {
                until: Instant::now() + self.open_for,
            }
        } else {
            State::Closed { failures }
        };
        self.report(&state);
    }

    /// True while calls are being skipped.
    pub fn is_open(&self) -> bool {
        !matches!(
            *self
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            State::Closed { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_and_probes_once() {
        let breaker = CircuitBreaker::new("identity", 3, Duration::from_secs(5));
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.failure();
        }
        breaker.success();
        for _ in 0..3 {
            assert!(breaker.allow());
            breaker.failure();
        }
        assert!(!breaker.allow(), "open after three failures in a row");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(breaker.allow(), "one probe after the open period");
        assert!(!breaker.allow(), "only one probe at a time");
        breaker.failure();
        assert!(!breaker.allow(), "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(breaker.allow());
        breaker.success();
        assert!(breaker.allow() && breaker.allow(), "closed again");
    }
}
