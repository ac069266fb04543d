//! What every service of a process shares: configuration, cache, event bus and peer
//! clients. Redis when `REDIS_URL` is set, in-process otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use crate::bus::{EventBus, MemoryBus, RedisBus};
use crate::cache::{Cache, MemoryCache, RedisCache};
use crate::config::{Config, Secret};
use crate::peers::Peers;

/// Handed to each service's `build`.
#[derive(Clone)]
pub struct ServiceContext {
    pub config: Arc<Config>,
    pub cache: Arc<dyn Cache>,
    pub bus: Arc<dyn EventBus>,
    pub peers: Peers,
    /// Cancelled when the process begins to shut down: long-lived streams end then,
    /// so that draining does not wait for them.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Work to finish once the servers have drained, before the process exits (an
    /// identity snapshot of the final state).
    pub after_drain: AfterDrain,
}

type DrainTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Tasks a process runs after its last call was answered (see
/// [`ServiceContext::after_drain`]).
#[derive(Clone, Default)]
pub struct AfterDrain {
    tasks: Arc<Mutex<Vec<DrainTask>>>,
}

impl AfterDrain {
    pub fn add(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Box::pin(task));
    }

    /// Runs every task added, together, to its end.
    pub async fn run(&self) {
        let tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        futures::future::join_all(tasks).await;
    }
}

impl ServiceContext {
    /// Connects the shared resources the configuration names. `peer_key` is the key
    /// this process presents to its peers, if they require one.
    pub async fn connect(config: Arc<Config>, peer_key: Option<&Secret>) -> anyhow::Result<Self> {
        let (cache, bus): (Arc<dyn Cache>, Arc<dyn EventBus>) = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.expose()).context("parsing REDIS_URL")?;
                let connection = redis::aio::ConnectionManager::new(client.clone())
                    .await
                    .with_context(|| format!("connecting to Redis at {}", url.masked()))?;
                let prefix = &config.redis.key_prefix;
                (
                    Arc::new(RedisCache::new(connection.clone(), prefix)),
                    Arc::new(RedisBus::new(
                        client,
                        connection,
                        prefix,
                        config.redis.stream_max_len,
                    )),
                )
            }
            None => (Arc::new(MemoryCache::default()), Arc::new(MemoryBus::new())),
        };
        let peers = Peers::from_config(&config, peer_key)?;
        let shutdown = tokio_util::sync::CancellationToken::new();
        peers
            .resolve_cache()
            .clone()
            .spawn_invalidation(bus.clone(), shutdown.clone());
        Ok(ServiceContext {
            config,
            cache,
            bus,
            peers,
            shutdown,
            after_drain: AfterDrain::default(),
        })
    }
}
