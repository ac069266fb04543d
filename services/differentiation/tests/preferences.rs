//! Expressed preferences keep the reference they were recorded under, so that an
//! unmerge in identity moves them with that reference, as it moves transactions. On
//! SQLite and PostgreSQL.

use idic_differentiation::domain::Preference;
use idic_differentiation::listen::preferences_of;
use idic_differentiation::store::{DifferentiationStore, MIGRATIONS, SqlDifferentiationStore};
use idic_proto::v1 as pb;
use idic_runtime::ServiceName;
use idic_testkit::{Backend, TestDatabase};

/// An interaction event as the interaction service publishes it.
fn event(interaction_id: &str, customer_id: &str, anchor: &str, key: &str) -> pb::InteractionEvent {
    pb::InteractionEvent {
        interaction: Some(pb::Interaction {
            interaction_id: interaction_id.into(),
            ..Default::default()
        }),
        customer_id: customer_id.into(),
        needs: vec![pb::ExpressedNeed {
            key: key.into(),
            value: "yes".into(),
        }],
        anchor: anchor.into(),
        ..Default::default()
    }
}

fn keys(preferences: &[Preference]) -> Vec<&str> {
    let mut keys: Vec<&str> = preferences.iter().map(|p| p.key.as_str()).collect();
    keys.sort();
    keys
}

async fn preferences_follow_their_anchor(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Differentiation, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlDifferentiationStore::new(test_database.database.clone());
    // Two references that identity had merged into cus_a: one by e-mail, one by
    // loyalty card, plus one recorded by the customer id itself.
    for event in [
        event("int_1", "cus_a", "EMAIL:ann@example.com", "gift-wrap"),
        event("int_2", "cus_a", "LOYALTY_ID:L-77", "evening-delivery"),
        event("int_3", "cus_a", "id:cus_a", "paper-invoice"),
    ] {
        for preference in preferences_of(&event) {
            store.insert_preference(&preference).await.unwrap();
        }
    }
    // Sorted here: PostgreSQL orders text by the database's collation.
    let mut anchors = store.anchors("cus_a").await.unwrap();
    anchors.sort();
    assert_eq!(
        anchors,
        ["EMAIL:ann@example.com", "LOYALTY_ID:L-77", "id:cus_a"]
    );

    // Identity split them: the loyalty card now resolves to cus_b.
    store
        .move_anchor("cus_a", "LOYALTY_ID:L-77", "cus_b")
        .await
        .unwrap();
    let kept = store.preferences("cus_a").await.unwrap();
    let moved = store.preferences("cus_b").await.unwrap();
    assert_eq!(keys(&kept), ["gift-wrap", "paper-invoice"]);
    assert_eq!(keys(&moved), ["evening-delivery"]);
    assert_eq!(moved[0].anchor, "LOYALTY_ID:L-77");
    test_database.remove().await.unwrap();
}

#[tokio::test]
async fn preferences_follow_an_unmerge_on_sqlite() {
    preferences_follow_their_anchor(Backend::Embedded).await;
}

#[tokio::test]
async fn preferences_follow_an_unmerge_on_postgres() {
    preferences_follow_their_anchor(Backend::Postgres).await;
}
