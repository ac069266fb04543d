//! Redis Streams bus: a stream per topic (`<prefix>:events:<topic>`), trimmed to about
//! `stream_max_len` entries. Broadcast subscribers read with XREAD from the last id
//! they saw; groups are Redis consumer groups, and entries a dead member left pending
//! for a minute are claimed by the living (XAUTOCLAIM).

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{BusError, Delivery, DeliveryStream, Event, EventBus, EventStream};

/// How long one blocking read waits before checking that the reader is still wanted.
const BLOCK_MS: u64 = 1_000;
/// How long past `BLOCK_MS` a reader waits for Redis's answer before it calls the bus
/// unavailable. The client's default (500 ms) is shorter than the blocking read
/// itself: every quiet second then failed with "timed out", consumers rejoined, and
/// the resolve cache was cleared, again and again.
const READ_GRACE_MS: u64 = 5_000;
const BATCH: usize = 256;
/// Pending entries idle this long are taken over from the member that had them.
const CLAIM_IDLE_MS: u64 = 60_000;
const PAYLOAD_FIELD: &str = "p";

#[derive(Clone)]
pub struct RedisBus {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
    max_len: u64,
}

impl RedisBus {
    pub fn new(
        client: redis::Client,
        connection: ConnectionManager,
        key_prefix: &str,
        max_len: u64,
    ) -> Self {
        RedisBus {
            client,
            connection,
            prefix: format!("{key_prefix}:events:"),
            max_len,
        }
    }

    fn stream_key(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    /// A connection of its own for blocking reads, which would stall a shared one, and
    /// which waits for an answer longer than a read blocks.
    async fn reader(&self) -> Result<MultiplexedConnection, BusError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(Duration::from_millis(BLOCK_MS + READ_GRACE_MS)));
        Ok(self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }
}

fn to_event(topic: &str, entry: &StreamId) -> Event {
    let payload = entry.get::<Vec<u8>>(PAYLOAD_FIELD).unwrap_or_default();
    Event {
        id: entry.id.clone(),
        topic: topic.to_owned(),
        payload,
    }
}

async fn last_id(connection: &mut ConnectionManager, key: &str) -> Result<String, BusError> {
    let newest: Vec<StreamId> = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async::<redis::streams::StreamRangeReply>(connection)
        .await?
        .ids;
    Ok(newest
        .first()
        .map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone()))
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<String, BusError> {
        let mut connection = self.connection.clone();
        let id: String = redis::cmd("XADD")
            .arg(self.stream_key(topic))
            .arg("MAXLEN")
            .arg("~")
            .arg(self.max_len)
            .arg("*")
            .arg(PAYLOAD_FIELD)
            .arg(payload)
            .query_async(&mut connection)
            .await?;
        Ok(id)
    }

    async fn subscribe(&self, topic: &str) -> Result<EventStream, BusError> {
        let key = self.stream_key(topic);
        let mut connection = self.connection.clone();
        let mut after = last_id(&mut connection, &key).await?;
        let mut reader = self.reader().await?;
        let (sender, receiver) = mpsc::channel(BATCH);
        let topic = topic.to_owned();
        tokio::spawn(async move {
            while !sender.is_closed() {
                let reply: Result<Option<StreamReadReply>, _> = redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(BATCH)
                    .arg("BLOCK")
                    .arg(BLOCK_MS)
                    .arg("STREAMS")
                    .arg(&key)
                    .arg(&after)
                    .query_async(&mut reader)
                    .await;
                let entries = match reply {
                    Ok(reply) => reply.map(|reply| reply.keys).unwrap_or_default(),
                    Err(error) => {
                        let _ = sender.send(Err(BusError::from(error))).await;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                for entry in entries.iter().flat_map(|stream| stream.ids.iter()) {
                    after = entry.id.clone();
                    if sender.send(Ok(to_event(&topic, entry))).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(ReceiverStream::new(receiver).boxed())
    }

    async fn subscribe_group(
        &self,
        topic: &str,
        group: &str,
        consumer: &str,
    ) -> Result<DeliveryStream, BusError> {
        let key = self.stream_key(topic);
        let mut connection = self.connection.clone();
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&key)
            .arg(group)
            .arg("$")
            .arg("MKSTREAM")
            .query_async(&mut connection)
            .await;
        if let Err(error) = created
            && error.code() != Some("BUSYGROUP")
        {
            return Err(error.into());
        }
        let reader = self.reader().await?;
        let (sender, receiver) = mpsc::channel(BATCH);
        let member = GroupMember {
            key,
            topic: topic.to_owned(),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            acknowledger: connection,
        };
        tokio::spawn(member.run(reader, sender));
        Ok(ReceiverStream::new(receiver).boxed())
    }
}

struct GroupMember {
    key: String,
    topic: String,
    group: String,
    consumer: String,
    acknowledger: ConnectionManager,
}

impl GroupMember {
    async fn run(
        self,
        mut reader: MultiplexedConnection,
        sender: mpsc::Sender<Result<Delivery, BusError>>,
    ) {
        // "0" re-reads what this member had pending before a restart, ">" reads new.
        let mut position = "0".to_owned();
        while !sender.is_closed() {
            let entries = match self.read(&mut reader, &position).await {
                Ok(entries) => entries,
                Err(error) => {
                    let _ = sender.send(Err(error)).await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if entries.is_empty() {
                position = ">".to_owned();
                match self.claim_abandoned(&mut reader).await {
                    Ok(claimed) => {
                        for entry in claimed {
                            if sender.send(Ok(self.delivery(&entry))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                    }
                }
                continue;
            }
            if position != ">"
                && let Some(last) = entries.last()
            {
                // Walk this member's pending entries once, not again and again.
                position = last.id.clone();
            }
            for entry in entries {
                if sender.send(Ok(self.delivery(&entry))).await.is_err() {
                    return;
                }
            }
        }
    }

    async fn read(
        &self,
        reader: &mut MultiplexedConnection,
        position: &str,
    ) -> Result<Vec<StreamId>, BusError> {
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(BATCH);
        if position == ">" {
            command.arg("BLOCK").arg(BLOCK_MS);
        }
        let reply: Option<StreamReadReply> = command
            .arg("STREAMS")
            .arg(&self.key)
            .arg(position)
            .query_async(reader)
            .await?;
        Ok(reply
            .map(|reply| {
                reply
                    .keys
                    .into_iter()
                    .flat_map(|stream| stream.ids)
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn claim_abandoned(
        &self,
        reader: &mut MultiplexedConnection,
    ) -> Result<Vec<StreamId>, BusError> {
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(CLAIM_IDLE_MS)
            .arg("0-0")
            .arg("COUNT")
            .arg(BATCH)
            .query_async(reader)
            .await?;
        Ok(reply.claimed)
    }

    fn delivery(&self, entry: &StreamId) -> Delivery {
        record_consume_lag(&entry.id);
        let mut connection = self.acknowledger.clone();
        let key = self.key.clone();
        let group = self.group.clone();
        let id = entry.id.clone();
        Delivery::new(
            to_event(&self.topic, entry),
            Box::new(move || {
                Box::pin(async move {
                    let _acknowledged: i64 = redis::cmd("XACK")
                        .arg(&key)
                        .arg(&group)
                        .arg(&id)
                        .query_async(&mut connection)
                        .await?;
                    Ok(())
                })
            }),
            // Left pending in Redis: XAUTOCLAIM hands it out again after CLAIM_IDLE_MS.
            None,
        )
    }
}

/// The time since a stream entry was added, from its id (`<milliseconds>-<sequence>`,
/// Redis's clock), in `idic_bus_consume_lag_seconds`.
fn record_consume_lag(id: &str) {
    let Some(added_ms) = id
        .split_once('-')
        .and_then(|(milliseconds, _)| milliseconds.parse::<u64>().ok())
    else {
        return;
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    crate::observability::record_consume_lag(Duration::from_millis(
        now_ms.saturating_sub(added_ms),
    ));
}
