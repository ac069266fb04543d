//! A service following identity's changes: each change reaches the follower in order,
//! and one whose application fails comes again until it succeeds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use idic_runtime::follow::{
    CHANGES_TOPIC, FollowIdentity, Holding, IdentityChange, spawn_identity_follower,
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

/// A service that holds data for some customers: a merge moves the absorbed
/// customers' data to the survivor, an erasure deletes it.
struct Holder {
    with_data: Mutex<std::collections::HashSet<String>>,
    applied: Mutex<Vec<IdentityChange>>,
    observed: Mutex<Vec<IdentityChange>>,
}

#[async_trait::async_trait]
impl FollowIdentity for Holder {
    async fn apply(&self, change: &IdentityChange) -> anyhow::Result<()> {
        let mut with_data = self.with_data.lock().unwrap();
        match change {
            IdentityChange::Merged { survivor, absorbed } => {
                let before = with_data.len();
                with_data.retain(|id| !absorbed.contains(id));
                if with_data.len() < before {
                    with_data.insert(survivor.clone());
                }
            }
            IdentityChange::Split { .. } => {}
            IdentityChange::Erased { customer_id } => {
                with_data.remove(customer_id);
            }
        }
        self.applied.lock().unwrap().push(change.clone());
        Ok(())
    }

    async fn holding(&self, customer_ids: &[&str]) -> anyhow::Result<Holding> {
        let with_data = self.with_data.lock().unwrap();
        Ok(Holding::Only(
            customer_ids
                .iter()
                .filter(|id| with_data.contains(**id))
                .map(|id| (*id).to_owned())
                .collect(),
        ))
    }

    async fn observe(&self, change: &IdentityChange) {
        self.observed.lock().unwrap().push(change.clone());
    }
}

#[tokio::test]
async fn changes_about_customers_without_data_are_skipped_but_observed() {
    let ctx = ServiceContext::connect(Arc::new(Config::default()), None)
        .await
        .unwrap();
    let follower = Arc::new(Holder {
        with_data: Mutex::new(["cus_held".to_owned()].into_iter().collect()),
        applied: Mutex::new(Vec::new()),
        observed: Mutex::new(Vec::new()),
    });
    let task = spawn_identity_follower(&ctx, "test-holding", follower.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let changes = [
        // Nobody here has data: skipped.
        payload("merged", "cus_x", &["cus_y"], &[]),
        // cus_held's data moves to cus_w, which then has data too.
        payload("merged", "cus_w", &["cus_held"], &[]),
        payload("erased", "cus_q", &[], &[]),
        payload("split", "cus_w", &[], &["cus_v"]),
        payload("erased", "cus_w", &[], &[]),
    ];
    for change in &changes {
        ctx.bus.publish(CHANGES_TOPIC, change).await.unwrap();
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while follower.observed.lock().unwrap().len() < changes.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every change was seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        *follower.applied.lock().unwrap(),
        vec![
            IdentityChange::Merged {
                survivor: "cus_w".into(),
                absorbed: vec!["cus_held".into()],
            },
            IdentityChange::Split {
                customer_id: "cus_w".into(),
                new_customer_ids: vec!["cus_v".into()],
            },
            IdentityChange::Erased {
                customer_id: "cus_w".into(),
            },
        ]
    );
    ctx.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the follower stops at shutdown")
        .unwrap();
}
