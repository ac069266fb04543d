//! What the other services rely on: a reference they resolved through identity is
//! cached, and the cache forgets it as soon as identity merges the customer away; and
//! a follower of identity's change stream hears the merge. Against PostgreSQL and
//! Redis, since that is where separate processes share the change stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use idic_proto::v1 as pb;
use idic_runtime::config::SecretUrl;
use idic_runtime::follow::{FollowIdentity, IdentityChange, spawn_identity_follower};
use idic_runtime::refs::CustomerSelector;
use idic_runtime::{Config, ServiceContext};
use idic_testkit::{Backend, SuiteOptions, TestSuite};

fn record(system: &str, id: &str, given: &str, email: &str) -> pb::SourceRecord {
    pb::SourceRecord {
        source_system: system.into(),
        source_record_id: id.into(),
        channel: pb::Channel::Web as i32,
        name: Some(pb::PersonName {
            given: given.into(),
            family: "Okafor".into(),
            ..Default::default()
        }),
        emails: vec![email.into()],
        ..Default::default()
    }
}

#[derive(Default)]
struct Heard(Mutex<Vec<IdentityChange>>);

#[async_trait::async_trait]
impl FollowIdentity for Heard {
    async fn apply(&self, change: &IdentityChange) -> anyhow::Result<()> {
        self.0.lock().unwrap().push(change.clone());
        Ok(())
    }
}

/// A context like another service's process: its own peers and cache, the suite's
/// Redis for the bus.
async fn other_process(suite: &TestSuite) -> ServiceContext {
    let mut config = Config::default();
    config.redis_url = suite.config.redis_url.clone();
    config.redis.key_prefix = suite.config.redis.key_prefix.clone();
    config.peers.identity = Some(suite.endpoint());
    assert!(
        config
            .redis_url
            .as_ref()
            .is_some_and(|url: &SecretUrl| !url.expose().is_empty())
    );
    ServiceContext::connect(Arc::new(config), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_merge_reaches_followers_and_clears_cached_resolutions() {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(Backend::Postgres)).await else {
        return;
    };
    let mut identity = suite.identity();
    let ctx = other_process(&suite).await;
    let heard = Arc::new(Heard::default());
    let _follower = spawn_identity_follower(&ctx, "test-follower", heard.clone());
    // Joining the group and the broadcast takes a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let older = identity
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(record("web", "w-1", "Chidi", "chidi@example.com")),
            strict: false,
        })
        .await
        .unwrap()
        .into_inner();
    let newer = identity
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(record("crm", "c-1", "Ngozi", "ngozi@example.org")),
            strict: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(older.customer_id, newer.customer_id);

    let ngozi = CustomerSelector::Identifier {
        kind: pb::IdentifierKind::Email,
        system: String::new(),
        value: "ngozi@example.org".into(),
    };
    let budget = Duration::from_secs(2);
    assert_eq!(
        ctx.peers.resolve_customer(&ngozi, budget).await.unwrap(),
        newer.customer_id
    );
    let by_old_id = CustomerSelector::Id(newer.customer_id.clone());
    assert_eq!(
        ctx.peers
            .resolve_customer(&by_old_id, budget)
            .await
            .unwrap(),
        newer.customer_id
    );

    identity
        .merge(pb::MergeRequest {
            customer_ids: vec![older.customer_id.clone(), newer.customer_id.clone()],
            reason: "same household account, confirmed by phone".into(),
        })
        .await
        .unwrap();

    let fresh = identity
        .lookup_customer_id(pb::LookupCustomerIdRequest {
            customer: Some(ngozi.to_proto()),
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id;
    assert_eq!(
        fresh, older.customer_id,
        "identity itself resolves to the survivor"
    );
    // Without invalidation both would stay cached for the TTL (minutes).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let by_email = ctx.peers.resolve_customer(&ngozi, budget).await.unwrap();
        let by_alias = ctx
            .peers
            .resolve_customer(&by_old_id, budget)
            .await
            .unwrap();
        if by_email == older.customer_id && by_alias == older.customer_id {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still resolving to {by_email} and {by_alias} after the merge into {}; the follower heard {:?}",
            older.customer_id,
            heard.0.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected = IdentityChange::Merged {
        survivor: older.customer_id.clone(),
        absorbed: vec![newer.customer_id.clone()],
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !heard.0.lock().unwrap().contains(&expected) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower heard {:?}",
            heard.0.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ctx.shutdown.cancel();
}
