//! The customization store behaves the same on SQLite and on PostgreSQL: components
//! with their constraints, rule versions, offerings with idempotency keys, outcomes
//! recorded once per slot, bandit arms, the control group, and identity's merges,
//! splits and erasures.

use idic_customization::store::{
    CustomizationStore, InsertOffering, MIGRATIONS, OfferingRow, OutcomeRow, SqlCustomizationStore,
    StoredRules,
};
use idic_offer::bandit::ArmStats;
use idic_offer::{Component, Money, Slot};
use idic_runtime::ServiceName;
use idic_testkit::{Backend, TestDatabase};

fn component(id: &str, slot: Slot, available: bool) -> Component {
    Component {
        id: id.into(),
        slot: Some(slot),
        name: id.into(),
        cost: Money {
            currency: "EUR".into(),
            minor: 120,
        },
        available,
        ..Component::default()
    }
}

fn offering(id: &str, subject: &str, anchor: &str, key: Option<&str>) -> OfferingRow {
    OfferingRow {
        offering_id: id.into(),
        subject: subject.into(),
        anchor: anchor.into(),
        idempotency_key: key.map(str::to_owned),
        segment: "s1".into(),
        control: false,
        created_at: 1,
        record: format!("record-{id}"),
    }
}

fn outcome(offering_id: &str, slot: Slot, outcome: i32) -> OutcomeRow {
    OutcomeRow {
        offering_id: offering_id.into(),
        slot,
        offered: "packaging.eco".into(),
        outcome,
        changed_to: String::new(),
        recorded_at: 10,
    }
}

async fn contract(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Customization, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlCustomizationStore::new(test_database.database.clone());

    // Components, with constraints surviving the round trip.
    let mut gift = component("packaging.gift", Slot::Packaging, true);
    gift.requires = vec!["delivery.express".into()];
    gift.eligible_tiers = vec!["A".into()];
    gift.min_order_quantity = 2;
    gift.answers_preferences = vec!["occasion=birthday".into()];
    gift.price_minor = 250;
    let mut email = component("communication.email", Slot::Communication, true);
    email.channel = 3;
    email.consent_purpose = "marketing".into();
    store
        .upsert_components(&[
            component("packaging.eco", Slot::Packaging, true),
            gift.clone(),
            component("delivery.express", Slot::Delivery, true),
            component("packaging.bulk", Slot::Packaging, true),
            email.clone(),
        ])
        .await
        .unwrap();
    let packaging = store.components(Some(2), None, 2).await.unwrap();
    let ids: Vec<_> = packaging.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["packaging.bulk", "packaging.eco"]);
    let all = store.all_components().await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(
        all.contains(&gift) && all.contains(&email),
        "constraints round-trip"
    );

    // Rules: versions are unique.
    let rules = StoredRules {
        version: 1,
        published_at: 5,
        encoded: "AAA=".into(),
    };
    assert!(store.publish_rules(&rules).await.unwrap());
    assert!(
        !store.publish_rules(&rules).await.unwrap(),
        "version 1 exists"
    );
    assert_eq!(store.rules(None).await.unwrap(), Some(rules.clone()));
    assert_eq!(store.rules(Some(1)).await.unwrap(), Some(rules));
    assert_eq!(store.rules(Some(2)).await.unwrap(), None);

    // Offerings: an idempotency key returns the first offering.
    let first = offering("off_1", "cus_a", "EMAIL:a@example.com", Some("key-1"));
    assert!(matches!(
        store.insert_offering(&first).await.unwrap(),
        InsertOffering::Stored
    ));
    match store
        .insert_offering(&offering(
            "off_2",
            "cus_a",
            "EMAIL:a@example.com",
            Some("key-1"),
        ))
        .await
        .unwrap()
    {
        InsertOffering::Existing(earlier) => assert_eq!(earlier.offering_id, "off_1"),
        InsertOffering::Stored => panic!("the key was used before"),
    }
    for (id, subject, anchor) in [
        ("off_3", "cus_a", "cus_a"),
        ("off_4", "cus_b", "PHONE:+4420"),
    ] {
        store
            .insert_offering(&offering(id, subject, anchor, None))
            .await
            .unwrap();
    }
    assert!(store.offering("off_2").await.unwrap().is_none());

    // Outcomes: once per slot.
    let inserted = store
        .insert_outcomes(
            &first,
            &[
                outcome("off_1", Slot::Packaging, 1),
                outcome("off_1", Slot::Delivery, 2),
            ],
        )
        .await
        .unwrap();
    assert_eq!(inserted.len(), 2);
    let again = store
        .insert_outcomes(&first, &[outcome("off_1", Slot::Packaging, 1)])
        .await
        .unwrap();
    assert!(again.is_empty(), "a retry inserts nothing");
    assert_eq!(store.outcomes("off_1").await.unwrap().len(), 2);
    assert_eq!(store.history("cus_a").await.unwrap().len(), 2);
    let counts = store.outcome_counts().await.unwrap();
    assert_eq!((counts.learner_total, counts.learner_accepted), (2, 1));

    // Bandit arms add up.
    let update = |accepted, rejected| {
        (
            "s1".to_owned(),
            Slot::Packaging,
            "packaging.eco".to_owned(),
            ArmStats { accepted, rejected },
        )
    };
    store.add_to_arms(&[update(1, 0)]).await.unwrap();
    store.add_to_arms(&[update(2, 3)]).await.unwrap();
    assert_eq!(
        store.arms().await.unwrap(),
        [update(3, 3)],
        "increments, not overwrites"
    );

    // Control group: the first decision stays.
    assert!(
        store
            .control_group("cus_a", "cus_a", true, 1)
            .await
            .unwrap()
    );
    assert!(
        store
            .control_group("cus_a", "cus_a", false, 2)
            .await
            .unwrap()
    );

    // Merge: cus_b's rows follow cus_a; cus_b's control row goes.
    store
        .control_group("cus_b", "cus_b", false, 1)
        .await
        .unwrap();
    store
        .merge_subjects("cus_a", &["cus_b".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        store.offering("off_4").await.unwrap().unwrap().subject,
        "cus_a"
    );
    let mut anchors = store.anchors("cus_a").await.unwrap();
    anchors.sort();
    assert_eq!(anchors, ["EMAIL:a@example.com", "PHONE:+4420", "cus_a"]);

    // Split: the rows of one anchor move to the new customer.
    store
        .move_anchor("cus_a", "PHONE:+4420", "cus_c")
        .await
        .unwrap();
    assert_eq!(
        store.offering("off_4").await.unwrap().unwrap().subject,
        "cus_c"
    );
    assert_eq!(
        store.offering("off_3").await.unwrap().unwrap().subject,
        "cus_a"
    );

    // Erase: the customer's offerings and outcomes go; aggregates stay.
    store.erase_subject("cus_a").await.unwrap();
    assert!(store.offering("off_1").await.unwrap().is_none());
    assert!(store.history("cus_a").await.unwrap().is_empty());
    assert_eq!(store.arms().await.unwrap().len(), 1);
    test_database.remove().await.unwrap();
}

#[tokio::test]
async fn store_contract_on_sqlite() {
    contract(Backend::Embedded).await;
}

#[tokio::test]
async fn store_contract_on_postgres() {
    contract(Backend::Postgres).await;
}
