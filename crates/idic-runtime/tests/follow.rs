//! A service following identity's changes: each change reaches the follower in order,
//! and one whose application fails comes again until it succeeds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use idic_runtime::follow::{
    CHANGES_TOPIC, FollowIdentity, IdentityChange, spawn_identity_follower,
};
use idic_runtime::{Config, ServiceContext};

/// Records what it applied; fails the first attempt at every erasure.
#[derive(Default)]
struct Recording {
    applied: Mutex<Vec<IdentityChange>>,
    failed_once: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl FollowIdentity for Recording {
    async fn apply(&self, change: &IdentityChange) -> anyhow::Result<()> {
        if let IdentityChange::Erased { customer_id } = change {
            let mut failed = self.failed_once.lock().unwrap();
            if !failed.contains(customer_id) {
                failed.push(customer_id.clone());
                anyhow::bail!("the store is briefly unavailable");
            }
        }
        self.applied.lock().unwrap().push(change.clone());
        Ok(())
    }
}

fn payload(kind: &str, customer: &str, absorbed: &[&str], new: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "event_id": 1,
        "kind": kind,
        "customer_id": customer,
        "absorbed_customer_ids": absorbed,
        "new_customer_ids": new,
        "occurred_at_micros": 0,
    }))
    .unwrap()
}

#[tokio::test]
async fn changes_arrive_in_order_and_a_failed_one_comes_again() {
    let ctx = ServiceContext::connect(Arc::new(Config::default()), None)
        .await
        .unwrap();
    let follower = Arc::new(Recording::default());
    let task = spawn_identity_follower(&ctx, "test", follower.clone());
    // The group exists once the follower has joined it.
    tokio::time::sleep(Duration::from_millis(100)).await;

    ctx.bus
        .publish(CHANGES_TOPIC, &payload("merged", "cus_a", &["cus_b"], &[]))
        .await
        .unwrap();
    ctx.bus
        .publish(CHANGES_TOPIC, &payload("erased", "cus_c", &[], &[]))
        .await
        .unwrap();
    ctx.bus
        .publish(CHANGES_TOPIC, &payload("split", "cus_a", &[], &["cus_d"]))
        .await
        .unwrap();

    let expected = vec![
        IdentityChange::Merged {
            survivor: "cus_a".into(),
            absorbed: vec!["cus_b".into()],
        },
        IdentityChange::Erased {
            customer_id: "cus_c".into(),
        },
        IdentityChange::Split {
            customer_id: "cus_a".into(),
            new_customer_ids: vec!["cus_d".into()],
        },
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while follower.applied.lock().unwrap().len() < expected.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "applied only {:?}",
            follower.applied.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*follower.applied.lock().unwrap(), expected);
    assert_eq!(
        *follower.failed_once.lock().unwrap(),
        vec!["cus_c".to_owned()]
    );

    ctx.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the follower stops at shutdown")
        .unwrap();
}
