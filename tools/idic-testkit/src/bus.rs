//! An event bus that fails on demand, for tests of what survives a bus outage.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use idic_runtime::bus::{BusError, DeliveryStream, Event, EventBus, EventStream, MemoryBus};
use idic_runtime::storage::Database;
use sqlx::Row as _;

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

/// The next event of `events`; fails the test after 5 s without one.
pub async fn next_event(events: &mut EventStream) -> Event {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream goes on")
        .expect("no bus error")
}

/// Events waiting in `database`'s transactional outbox (`idic_runtime::outbox`).
pub async fn outbox_rows(database: &Database) -> i64 {
    sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox")
        .fetch_one(&database.pool)
        .await
        .expect("counting the outbox")
        .get(0)
}

/// Asserts that the relay empties `database`'s outbox within a second, and that
/// nothing more arrives on `events` for `quiet` (each event was published once).
pub async fn assert_relayed_once(database: &Database, events: &mut EventStream, quiet: Duration) {
    for _ in 0..50 {
        if outbox_rows(database).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        outbox_rows(database).await,
        0,
        "published events leave the outbox"
    );
    assert!(
        tokio::time::timeout(quiet, events.next()).await.is_err(),
        "each event is published once"
    );
}
