//! Saving match parameters is a write like any other: on PostgreSQL with replicas the
//! store checks the leader's fence first, so a replica that does not lead (or no
//! longer does) saves nothing; the embedded store has no fence and saves.

use std::sync::Arc;

use idic_identity::replication::Fence;
use idic_identity::store::MIGRATIONS;
use idic_identity::{IdentityStore as _, SqlIdentityStore};
use idic_matching::params::MatchParameters;
use idic_runtime::ServiceName;
use idic_testkit::{Backend, TestDatabase};

#[tokio::test]
async fn a_replica_that_does_not_lead_cannot_save_parameters() {
    let Some(test_database) =
        TestDatabase::open(Backend::Postgres, ServiceName::Identity, &MIGRATIONS).await
    else {
        return;
    };
    let database = test_database.database.clone();
    let params = MatchParameters::default();

    // A follower's fence: no epoch.
    let follower = SqlIdentityStore::new(database.clone()).with_fence(Arc::new(Fence::default()));
    let refused = follower.save_params(1, &params, "{}").await;
    assert!(refused.is_err(), "a follower saved parameters");
    assert!(
        follower.latest_params().await.unwrap().is_none(),
        "nothing saved"
    );

    // Without replication (the embedded store's way) the same call saves.
    let single = SqlIdentityStore::new(database);
    assert_eq!(single.save_params(2, &params, "{}").await.unwrap(), 1);
    assert!(single.latest_params().await.unwrap().is_some());

    test_database.remove().await.unwrap();
}
