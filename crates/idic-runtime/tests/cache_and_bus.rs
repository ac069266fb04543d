//! The in-process and Redis implementations of the cache and the event bus pass the
//! same tests.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use idic_runtime::bus::{EventBus, MemoryBus, RedisBus};
use idic_runtime::cache::{Cache, MemoryCache, RedisCache};
use idic_testkit::{TestRedis, require_redis};

const WAIT: Duration = Duration::from_secs(5);

async fn redis_parts(redis: &TestRedis) -> (redis::Client, redis::aio::ConnectionManager) {
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let manager = redis::aio::ConnectionManager::new(client.clone())
        .await
        .unwrap();
    (client, manager)
}

async fn cache_contract(cache: Arc<dyn Cache>) {
    let ttl = Duration::from_secs(60);
    assert_eq!(cache.get("missing").await.unwrap(), None);
    cache.set("a", b"one", ttl).await.unwrap();
    assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
    cache.set("a", b"two", ttl).await.unwrap();
    assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"two"[..]));

    assert!(cache.set_if_absent("key", b"first", ttl).await.unwrap());
    assert!(!cache.set_if_absent("key", b"second", ttl).await.unwrap());
    assert_eq!(
        cache.get("key").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );

    cache.delete("a").await.unwrap();
    assert_eq!(cache.get("a").await.unwrap(), None);

    cache
        .set("short", b"x", Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cache.get("short").await.unwrap(), None, "entries expire");
}

async fn broadcast_contract(bus: Arc<dyn EventBus>) {
    bus.publish("orders", b"before").await.unwrap();
    let mut first = bus.subscribe("orders").await.unwrap();
    let mut second = bus.subscribe("orders").await.unwrap();
    for payload in [&b"1"[..], b"2", b"3"] {
        bus.publish("orders", payload).await.unwrap();
    }
    bus.publish("other-topic", b"elsewhere").await.unwrap();
    for subscriber in [&mut first, &mut second] {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let event = tokio::time::timeout(WAIT, subscriber.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(event.topic, "orders");
            seen.push(event.payload);
        }
        assert_eq!(
            seen,
            [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()],
            "every subscriber sees every later event, in order"
        );
    }
}

/// Subscribers of a quiet topic wait without errors: a blocking read that outlasts the
/// client's answer timeout must not surface as the bus being unavailable.
async fn quiet_contract(bus: Arc<dyn EventBus>) {
    let mut broadcast = bus.subscribe("quiet").await.unwrap();
    let mut group = bus
        .subscribe_group("quiet", "followers", "one")
        .await
        .unwrap();
    let quiet = Duration::from_millis(2_500);
    let broadcast_item = tokio::time::timeout(quiet, broadcast.next()).await;
    assert!(
        broadcast_item.is_err(),
        "nothing was published, yet the subscriber got {:?}",
        broadcast_item.map(|item| item.map(|result| result.map(|event| event.payload)))
    );
    let group_item = tokio::time::timeout(quiet, group.next()).await;
    assert!(
        group_item.is_err(),
        "nothing was published, yet the group member got {:?}",
        group_item
            .map(|item| item.map(|result| result.map(|delivery| delivery.event.payload.clone())))
    );
    bus.publish("quiet", b"at last").await.unwrap();
    let event = tokio::time::timeout(WAIT, broadcast.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.payload, b"at last");
}

async fn group_contract(bus: Arc<dyn EventBus>) {
    let mut alice = bus
        .subscribe_group("purchases", "timeline", "alice")
        .await
        .unwrap();
    let mut bob = bus
        .subscribe_group("purchases", "timeline", "bob")
        .await
        .unwrap();
    let expected: BTreeSet<Vec<u8>> = (0..20).map(|n| format!("order-{n}").into_bytes()).collect();
    for payload in &expected {
        bus.publish("purchases", payload).await.unwrap();
    }
    let mut received = Vec::new();
    while received.len() < expected.len() {
        let delivery = tokio::select! {
            Some(delivery) = alice.next() => delivery,
            Some(delivery) = bob.next() => delivery,
            () = tokio::time::sleep(WAIT) => panic!("only {} of {} events arrived", received.len(), expected.len()),
        }
        .unwrap();
        received.push(delivery.event.payload.clone());
        delivery.ack().await.unwrap();
    }
    let distinct: BTreeSet<_> = received.iter().cloned().collect();
    assert_eq!(
        received.len(),
        distinct.len(),
        "each event goes to one member only"
    );
    assert_eq!(distinct, expected);
}

async fn redelivery_contract(bus: Arc<dyn EventBus>) {
    let mut carol = bus
        .subscribe_group("refunds", "ledger", "carol")
        .await
        .unwrap();
    bus.publish("refunds", b"refund-1").await.unwrap();
    let delivery = tokio::time::timeout(WAIT, carol.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(delivery.event.payload, b"refund-1");
    // Carol stops before acknowledging; when she comes back the event comes again.
    drop(delivery);
    drop(carol);
    let mut carol_again = bus
        .subscribe_group("refunds", "ledger", "carol")
        .await
        .unwrap();
    let again = tokio::time::timeout(WAIT, carol_again.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(again.event.payload, b"refund-1");
    again.ack().await.unwrap();
}

#[tokio::test]
async fn memory_cache() {
    cache_contract(Arc::new(MemoryCache::new(1_000))).await;
}

#[tokio::test]
async fn redis_cache() {
    let Some(redis) = require_redis().await else {
        return;
    };
    let (_, manager) = redis_parts(&redis).await;
    cache_contract(Arc::new(RedisCache::new(manager, &redis.key_prefix))).await;
    redis.clean().await.unwrap();
}

#[tokio::test]
async fn memory_bus() {
    broadcast_contract(Arc::new(MemoryBus::new())).await;
    group_contract(Arc::new(MemoryBus::new())).await;
    redelivery_contract(Arc::new(MemoryBus::new())).await;
    quiet_contract(Arc::new(MemoryBus::new())).await;
}

#[tokio::test]
async fn redis_bus() {
    let Some(redis) = require_redis().await else {
        return;
    };
    let (client, manager) = redis_parts(&redis).await;
    let bus = || -> Arc<dyn EventBus> {
        Arc::new(RedisBus::new(
            client.clone(),
            manager.clone(),
            &redis.key_prefix,
            10_000,
        ))
    };
    broadcast_contract(bus()).await;
    group_contract(bus()).await;
    redelivery_contract(bus()).await;
    quiet_contract(bus()).await;
    redis.clean().await.unwrap();
}
