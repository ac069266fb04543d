//! An event bus that fails on demand, for tests of what survives a bus outage.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use idic_runtime::bus::{BusError, DeliveryStream, EventBus, EventStream, MemoryBus};

/// The in-process bus, except that publications fail while it is down and for the
/// next `failures` ones. Subscriptions always work.
#[derive(Default)]
pub struct UnreliableBus {
    inner: MemoryBus,
    down: AtomicBool,
    failures: AtomicUsize,
}

impl UnreliableBus {
    /// Refuses the next `count` publications, then delivers again.
    pub fn failing_next(count: usize) -> Self {
        let bus = UnreliableBus::default();
        bus.failures.store(count, Ordering::SeqCst);
        bus
    }

    /// Refuses every publication while `down` is set.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn refuses(&self) -> bool {
        if self.down.load(Ordering::SeqCst) {
            return true;
        }
        self.failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

#[async_trait]
impl EventBus for UnreliableBus {
    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<String, BusError> {
        if self.refuses() {
            return Err(BusError::Unavailable("the bus is down".into()));
        }
        self.inner.publish(topic, payload).await
    }

    async fn subscribe(&self, topic: &str) -> Result<EventStream, BusError> {
        self.inner.subscribe(topic).await
    }

    async fn subscribe_group(
        &self,
        topic: &str,
        group: &str,
        consumer: &str,
    ) -> Result<DeliveryStream, BusError> {
        self.inner.subscribe_group(topic, group, consumer).await
    }
}
