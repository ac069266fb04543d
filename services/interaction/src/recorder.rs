//! Recording interactions: a group-commit writer that stores whatever is queued in one
//! transaction (so that many concurrent calls share one commit). The same transaction
//! puts each new interaction's event in the outbox, whose relay publishes it on the
//! bus once committed.
//!
//! The writer is a single task, so thread updates are applied in one order and two
//! steps of a thread never race. A call is answered only once its group is durable.

use std::sync::Arc;
use std::time::Duration;

use idic_runtime::outbox::Outbox;
use idic_runtime::{ApiError, ApiResult};
use tokio::sync::{mpsc, oneshot};

use crate::domain::NewInteraction;
use crate::store::{InteractionStore, WriteOutcome};

/// The bus topic every new interaction is published on (defined with the event's
/// conversion, which the store's outbox uses too).
pub use crate::adapters::bus::INTERACTIONS_TOPIC;

/// Interactions stored per transaction, at most.
const GROUP_LIMIT: usize = 2000;
/// Calls waiting for the writer before callers wait to queue (back-pressure).
const QUEUE_DEPTH: usize = 4096;

struct Job {
    items: Vec<NewInteraction>,
    done: oneshot::Sender<Result<Vec<WriteOutcome>, String>>,
}

#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Job>,
}

impl Recorder {
    /// Starts the writer task; it ends when every Recorder clone is dropped. `outbox`
    /// is woken after each commit.
    pub fn start(store: Arc<dyn InteractionStore>, outbox: Outbox) -> Recorder {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write_groups(store, outbox, jobs));
        Recorder { queue }
    }

    /// Stores `items` (in order, with their threads); the new ones are announced.
    pub async fn record(&self, items: Vec<NewInteraction>) -> ApiResult<Vec<WriteOutcome>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (done, receiver) = oneshot::channel();
        self.queue
            .send(Job { items, done })
            .await
            .map_err(|_| writer_stopped())?;
        match receiver.await {
            Ok(Ok(outcomes)) => Ok(outcomes),
            Ok(Err(message)) => {
                tracing::error!(error = message, "storing interactions failed");
                Err(ApiError::Unavailable {
                    message: "interaction storage is unavailable; nothing was stored".to_owned(),
                    retry_after: Duration::from_millis(500),
                })
            }
            Err(_) => Err(writer_stopped()),
        }
    }
}

fn writer_stopped() -> ApiError {
    ApiError::Unavailable {
        message: "the interaction writer stopped".to_owned(),
        retry_after: Duration::from_millis(500),
    }
}

/// Takes every queued job up to the group limit, stores them in one transaction and
/// answers each job with its own outcomes.
async fn write_groups(
    store: Arc<dyn InteractionStore>,
    outbox: Outbox,
    mut jobs: mpsc::Receiver<Job>,
) {
    while let Some(first) = jobs.recv().await {
        let mut group = vec![first];
        let mut count = group[0].items.len();
        while count < GROUP_LIMIT {
            match jobs.try_recv() {
                Ok(job) => {
                    count += job.items.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let sizes: Vec<usize> = group.iter().map(|job| job.items.len()).collect();
        let mut answers = Vec::with_capacity(group.len());
        let mut items = Vec::with_capacity(count);
        for job in group {
            items.extend(job.items);
            answers.push(job.done);
        }
        match store.write_group(items).await {
            Ok(outcomes) => {
                outbox.wake();
                let mut outcomes = outcomes.into_iter();
                for (size, answer) in sizes.into_iter().zip(answers) {
                    let mine: Vec<WriteOutcome> = outcomes.by_ref().take(size).collect();
                    let _ = answer.send(Ok(mine));
                }
            }
            Err(error) => {
                let message = format!("{error:#}");
                for answer in answers {
                    let _ = answer.send(Err(message.clone()));
                }
            }
        }
    }
}
