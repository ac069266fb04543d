//! A short-lived in-process copy of a value read often and changed rarely: here the
//! base-wide figures of the last refit (latest model, category shares, needs
//! segments), which every GetCustomerValue and GetCustomerNeeds call needs.
//!
//! A refit in this process invalidates the copy at once; the time to live bounds
//! how long a refit made by another process sharing the database (PostgreSQL) goes
//! unseen. A generation counter keeps a load that raced with an invalidation from
//! putting back what it read before the change.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct Cached<T> {
    ttl: Duration,
    state: Mutex<State<T>>,
}

struct State<T> {
    generation: u64,
    value: Option<(Instant, Arc<T>)>,
}

impl<T> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Cached {
            ttl,
            state: Mutex::new(State {
                generation: 0,
                value: None,
            }),
        }
    }

    /// The copy while it is fresh, else the generation a load must present to `put`.
    pub fn get(&self) -> Result<Arc<T>, u64> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &state.value {
            Some((loaded, value)) if loaded.elapsed() < self.ttl => Ok(value.clone()),
            _ => Err(state.generation),
        }
    }

    /// Keeps `value`, read after `get` answered `generation`, unless the copy was
    /// invalidated meanwhile.
    pub fn put(&self, generation: u64, value: Arc<T>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.generation == generation {
            state.value = Some((Instant::now(), value));
        }
    }

    /// Forgets the copy: the next `get` loads again.
    pub fn invalidate(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.generation += 1;
        state.value = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_copies_are_served_until_invalidated() {
        let cache = Cached::new(Duration::from_secs(60));
        let generation = cache.get().unwrap_err();
        cache.put(generation, Arc::new(1));
        assert_eq!(*cache.get().unwrap(), 1);
        cache.invalidate();
        let generation = cache.get().unwrap_err();
        cache.put(generation, Arc::new(2));
        assert_eq!(*cache.get().unwrap(), 2);
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_dropped() {
        let cache = Cached::new(Duration::from_secs(60));
        let generation = cache.get().unwrap_err();
        cache.invalidate();
        cache.put(generation, Arc::new(1));
        assert!(cache.get().is_err());
    }

    #[test]
    fn copies_expire() {
        let cache = Cached::new(Duration::ZERO);
        let generation = cache.get().unwrap_err();
        cache.put(generation, Arc::new(1));
        assert!(cache.get().is_err());
    }
}
