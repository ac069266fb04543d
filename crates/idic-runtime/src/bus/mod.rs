//! The event bus: one trait, an in-process implementation for the embedded default and
//! a Redis Streams one for production.
//!
//! Two ways to listen: [`EventBus::subscribe`] broadcasts every event published after
//! the call to each subscriber (cache invalidation on every replica), and
//! [`EventBus::subscribe_group`] shares the events among a group's members, each event
//! to one member, delivered again until acknowledged (work that must happen once per
//! service, such as putting a purchase on the timeline).

mod memory;
mod redis;

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

pub use self::memory::MemoryBus;
pub use self::redis::RedisBus;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// A broadcast subscriber fell behind and `0` events were dropped for it.
    #[error("subscriber lagged behind and missed {0} events")]
    Lagged(u64),
}

impl From<::redis::RedisError> for BusError {
    fn from(error: ::redis::RedisError) -> Self {
        BusError::Unavailable(error.to_string())
    }
}

/// One published event. `id` orders events of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub topic: String,
    pub payload: Vec<u8>,
}

/// Marks a delivered event handled, in whatever way the bus keeps track.
type Acknowledge = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), BusError>> + Send>;

/// An event handed to one member of a group; [`Delivery::ack`] it once handled.
pub struct Delivery {
    pub event: Event,
    acknowledge: Option<Acknowledge>,
    on_drop_unacknowledged: Option<Box<dyn FnOnce() + Send>>,
}

impl Delivery {
    fn new(
        event: Event,
        acknowledge: Acknowledge,
        on_drop_unacknowledged: Option<Box<dyn FnOnce() + Send>>,
    ) -> Self {
        Delivery {
            event,
            acknowledge: Some(acknowledge),
            on_drop_unacknowledged,
        }
    }

    /// Marks the event handled, so that it is not delivered again.
    pub async fn ack(mut self) -> Result<(), BusError> {
        self.on_drop_unacknowledged = None;
        match self.acknowledge.take() {
            Some(acknowledge) => acknowledge().await,
            None => Ok(()),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(requeue) = self.on_drop_unacknowledged.take() {
            requeue();
        }
    }
}

pub type EventStream = BoxStream<'static, Result<Event, BusError>>;
pub type DeliveryStream = BoxStream<'static, Result<Delivery, BusError>>;

#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Publishes `payload` on `topic` and returns the event's id.
    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<String, BusError>;

    /// Every event published on `topic` after this call returns, in order.
    async fn subscribe(&self, topic: &str) -> Result<EventStream, BusError>;

    /// Joins `group` as `consumer`. A group sees the events published after it was
    /// first created; each goes to one member and comes again until acknowledged.
    async fn subscribe_group(
        &self,
        topic: &str,
        group: &str,
        consumer: &str,
    ) -> Result<DeliveryStream, BusError>;
}
