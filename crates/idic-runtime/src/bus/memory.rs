//! In-process bus: a broadcast channel per topic for subscribers and a shared queue per
//! group. Events live as long as the process; an unacknowledged delivery that is
//! dropped goes back to the front of its group's queue.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{Notify, broadcast};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{BusError, Delivery, DeliveryStream, Event, EventBus, EventStream};

/// Events a slow broadcast subscriber may fall behind by before it misses some.
const BROADCAST_CAPACITY: usize = 16_384;

#[derive(Default)]
struct GroupQueue {
    events: Mutex<VecDeque<Event>>,
    ready: Notify,
}

impl GroupQueue {
    fn push_back(&self, event: Event) {
        lock(&self.events).push_back(event);
        self.ready.notify_one();
    }

    fn push_front(&self, event: Event) {
        lock(&self.events).push_front(event);
        self.ready.notify_one();
    }

    async fn pop(&self) -> Event {
        loop {
            let notified = self.ready.notified();
            if let Some(event) = lock(&self.events).pop_front() {
                return event;
            }
            notified.await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the queues half-updated.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Topic {
    broadcast: broadcast::Sender<Event>,
    groups: HashMap<String, Arc<GroupQueue>>,
}

impl Topic {
    fn new() -> Self {
        Topic {
            broadcast: broadcast::channel(BROADCAST_CAPACITY).0,
            groups: HashMap::new(),
        }
    }
}

#[derive(Default)]
pub struct MemoryBus {
    topics: Mutex<HashMap<String, Topic>>,
    sequence: AtomicU64,
}

impl MemoryBus {
    pub fn new() -> Self {
        MemoryBus::default()
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<String, BusError> {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let event = Event {
            id: format!("{sequence}"),
            topic: topic.to_owned(),
            payload: payload.to_vec(),
        };
        let mut topics = lock(&self.topics);
        let state = topics.entry(topic.to_owned()).or_insert_with(Topic::new);
        for queue in state.groups.values() {
            queue.push_back(event.clone());
        }
        // No subscriber is not an error: the event simply has no broadcast audience.
        let _ = state.broadcast.send(event.clone());
        Ok(event.id)
    }

    async fn subscribe(&self, topic: &str) -> Result<EventStream, BusError> {
        let receiver = lock(&self.topics)
            .entry(topic.to_owned())
            .or_insert_with(Topic::new)
            .broadcast
            .subscribe();
        let stream = BroadcastStream::new(receiver).map(|item| {
            item.map_err(|BroadcastStreamRecvError::Lagged(missed)| BusError::Lagged(missed))
        });
        Ok(stream.boxed())
    }

    async fn subscribe_group(
        &self,
        topic: &str,
        group: &str,
        _consumer: &str,
    ) -> Result<DeliveryStream, BusError> {
        let queue = lock(&self.topics)
            .entry(topic.to_owned())
            .or_insert_with(Topic::new)
            .groups
            .entry(group.to_owned())
            .or_default()
            .clone();
        let stream = futures::stream::unfold(queue, |queue| async move {
            let event = queue.pop().await;
            let requeue_to = queue.clone();
            let requeued = event.clone();
            let delivery = Delivery::new(
                event,
                Box::new(|| Box::pin(async { Ok(()) })),
                Some(Box::new(move || requeue_to.push_front(requeued))),
            );
            Some((Ok(delivery), queue))
        });
        Ok(stream.boxed())
    }
}
