//! The interaction store behaves the same on SQLite and on PostgreSQL: grouped writes
//! with idempotency keys and threads, filtered timelines, context, consent, the channel
//! report, and following identity (merge, anchor moves, erase).

use idic_interaction::domain::{
    Consent, Cost, Interaction, NewInteraction, ThreadRequest, TimelineCursor, TimelineFilter,
    thread_status,
};
use idic_interaction::store::{InteractionStore, MIGRATIONS, SqlInteractionStore, WriteOutcome};
use idic_runtime::ServiceName;
use idic_testkit::{Backend, TestDatabase};

fn interaction(id: &str, key: &str, customer: &str, at: i64) -> Interaction {
    Interaction {
        interaction_id: id.into(),
        idempotency_key: key.into(),
        customer_id: customer.into(),
        anchor: format!("id:{customer}"),
        channel: 1,
        kind: 8,
        direction: 1,
        occurred_at_micros: at,
        recorded_at_micros: at,
        thread_id: String::new(),
        thread_status: 0,
        topic: "late delivery".into(),
        summary: "parcel two days late".into(),
        needs: vec![("delivery".into(), "evenings".into())],
        outcome: String::new(),
        sentiment: 1,
        agent: "agent-7".into(),
        cost: Some(Cost {
            currency: "EUR".into(),
            minor_units: 300,
        }),
        automated: false,
    }
}

fn plain(interaction: Interaction) -> NewInteraction {
    NewInteraction {
        interaction,
        thread: ThreadRequest::None,
        requested_status: 0,
    }
}

fn in_thread(interaction: Interaction, thread: ThreadRequest, status: i32) -> NewInteraction {
    NewInteraction {
        interaction,
        thread,
        requested_status: status,
    }
}

fn ids(items: &[Interaction]) -> Vec<&str> {
    items
        .iter()
        .map(|item| item.interaction_id.as_str())
        .collect()
}

async fn contract(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Interaction, &MIGRATIONS).await
    else {
        return;
    };
    let store = SqlInteractionStore::new(test_database.database.clone());
    // One group: a complaint opening a thread, two more contacts, one continuing the
    // thread as WAITING, and a retry of the first key inside the same group.
    let outcomes = store
        .write_group(vec![
            in_thread(
                interaction("i1", "k1", "cus_1", 100),
                ThreadRequest::Open("thr_1".into()),
                0,
            ),
            plain(interaction("i2", "k2", "cus_1", 300)),
            plain(interaction("i3", "k3", "cus_1", 300)),
            in_thread(
                interaction("i4", "k4", "cus_1", 200),
                ThreadRequest::Continue("thr_1".into()),
                thread_status::WAITING,
            ),
            plain(interaction("i9", "k1", "cus_1", 999)),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0], WriteOutcome::Created { thread: Some(t), .. } if t.status == thread_status::OPEN)
    );
    assert!(
        matches!(&outcomes[3], WriteOutcome::Created { thread: Some(t), .. } if t.step_count == 2 && t.status == thread_status::WAITING)
    );
    assert!(
        matches!(&outcomes[4], WriteOutcome::Duplicate { interaction, .. } if interaction.interaction_id == "i1")
    );
    // A retry in a later group finds the first one too; another customer's thread is refused.
    let later = store
        .write_group(vec![
            plain(interaction("i8", "k2", "cus_1", 5)),
            in_thread(
                interaction("i7", "k7", "cus_2", 400),
                ThreadRequest::Continue("thr_1".into()),
                0,
            ),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&later[0], WriteOutcome::Duplicate { interaction, .. } if interaction.interaction_id == "i2")
    );
    assert_eq!(later[1], WriteOutcome::ThreadOfAnotherCustomer);

    let all = TimelineFilter::default();
    let first = store.timeline("cus_1", &all, None, 2).await.unwrap();
    assert_eq!(ids(&first), ["i3", "i2"], "newest first, ties by id");
    assert_eq!(
        first[0].needs,
        [("delivery".to_owned(), "evenings".to_owned())]
    );
    assert_eq!(first[0].cost.as_ref().unwrap().minor_units, 300);
    let cursor = TimelineCursor::of(first.last().unwrap());
    let second = store
        .timeline("cus_1", &all, Some(&cursor), 10)
        .await
        .unwrap();
    assert_eq!(ids(&second), ["i4", "i1"]);
    let threaded = TimelineFilter {
        thread_id: Some("thr_1".into()),
        ..TimelineFilter::default()
    };
    assert_eq!(
        ids(&store.timeline("cus_1", &threaded, None, 10).await.unwrap()),
        ["i4", "i1"]
    );
    let windowed = TimelineFilter {
        start_micros: Some(150),
        end_micros: Some(300),
        channels: vec![1],
        kinds: vec![8],
        ..TimelineFilter::default()
    };
    assert_eq!(
        ids(&store.timeline("cus_1", &windowed, None, 10).await.unwrap()),
        ["i4"]
    );
    assert!(
        store
            .timeline("cus_2", &all, None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let context = store.context("cus_1", 10).await.unwrap();
    assert_eq!(context.interaction_count, 4);
    assert_eq!(context.active_threads.len(), 1);
    let (thread, last) = &context.active_threads[0];
    assert_eq!(thread.thread_id, "thr_1");
    assert_eq!(last.as_ref().unwrap().interaction_id, "i4");
    assert_eq!(store.thread_steps("thr_1", 10).await.unwrap().len(), 2);
    // Four contacts stated the same key: only the latest is read (i2 and i3 share the
    // latest time; the higher id wins the tie).
    let latest: Vec<(&str, &str)> = context
        .preferences
        .iter()
        .map(|preference| (preference.key.as_str(), preference.interaction_id.as_str()))
        .collect();
    assert_eq!(latest, [("delivery", "i3")]);

    let consent = Consent {
        consent_id: "c1".into(),
        idempotency_key: "ck1".into(),
        customer_id: "cus_1".into(),
        anchor: "id:cus_1".into(),
        channel: 3,
        purpose: "marketing".into(),
        status: 1,
        decided_at_micros: 10,
        source: "web".into(),
        recorded_at_micros: 10,
    };
    assert!(store.insert_consent(&consent).await.unwrap().1);
    let retried = Consent {
        consent_id: "c2".into(),
        ..consent.clone()
    };
    let (stored, new) = store.insert_consent(&retried).await.unwrap();
    assert!(!new);
    assert_eq!(stored.consent_id, "c1");

    let report = store.channel_report(0, 1_000, 250).await.unwrap();
    assert_eq!(report.rows.len(), 1);
    assert_eq!(report.rows[0].contacts, 4);
    assert_eq!(report.rows[0].cost_minor_units, 1_200);
    // Same topic at 100, 200, 300, 300: the last three follow within 250.
    assert_eq!((report.topic_contacts, report.repeat_contacts), (4, 3));

    // Following identity: merge, move back by anchor, erase.
    store
        .write_group(vec![plain(Interaction {
            anchor: "EMAIL:b@example.com".into(),
            ..interaction("j1", "kj1", "cus_2", 50)
        })])
        .await
        .unwrap();
    store.merge("cus_1", &["cus_2".to_owned()]).await.unwrap();
    store.merge("cus_1", &["cus_2".to_owned()]).await.unwrap();
    assert_eq!(
        store.timeline("cus_1", &all, None, 10).await.unwrap().len(),
        5
    );
    let mut anchors = store.anchors("cus_1").await.unwrap();
    anchors.sort();
    assert_eq!(anchors, ["EMAIL:b@example.com", "id:cus_1"]);
    store
        .move_anchor("cus_1", "EMAIL:b@example.com", "cus_3")
        .await
        .unwrap();
    assert_eq!(
        ids(&store.timeline("cus_3", &all, None, 10).await.unwrap()),
        ["j1"]
    );
    assert_eq!(
        store.timeline("cus_1", &all, None, 10).await.unwrap().len(),
        4
    );
    store.erase("cus_1").await.unwrap();
    assert!(
        store
            .timeline("cus_1", &all, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.thread("thr_1").await.unwrap().is_none());
    assert!(store.consents("cus_1").await.unwrap().is_empty());
    assert_eq!(
        store.timeline("cus_3", &all, None, 10).await.unwrap().len(),
        1
    );

    // Several keys, each stated several times: the latest value of each, newest first.
    let mut stated = Vec::new();
    for (index, (at, needs)) in [
        (10, vec![("size", "S"), ("delivery", "evenings")]),
        (20, vec![("size", "M")]),
        (30, vec![("colour", "blue"), ("delivery", "mornings")]),
        (40, vec![("size", "L")]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut contact = interaction(&format!("p{index}"), &format!("pk{index}"), "cus_4", at);
        contact.needs = needs
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        stated.push(plain(contact));
    }
    store.write_group(stated).await.unwrap();
    let preferences: Vec<(String, String)> = store
        .preferences("cus_4")
        .await
        .unwrap()
        .into_iter()
        .map(|preference| (preference.key, preference.value))
        .collect();
    let expected = [("size", "L"), ("colour", "blue"), ("delivery", "mornings")]
        .map(|(key, value)| (key.to_owned(), value.to_owned()));
    assert_eq!(preferences, expected);
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
