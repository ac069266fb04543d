//! Replicas sharing one PostgreSQL database write at the same moment: the same
//! idempotency key sent to two of them stores one interaction and answers both, and
//! steps of one thread written by both are all counted. (SQLite has one writer per
//! process, so the race cannot happen there.)

use idic_interaction::domain::{Interaction, NewInteraction, ThreadRequest};
use idic_interaction::store::{InteractionStore, MIGRATIONS, SqlInteractionStore, WriteOutcome};
use idic_runtime::ServiceName;
use idic_testkit::{Backend, TestDatabase};
use sqlx::Row as _;

fn contact(id: &str, key: &str, thread: ThreadRequest) -> NewInteraction {
    NewInteraction {
        interaction: Interaction {
            interaction_id: id.into(),
            idempotency_key: key.into(),
            customer_id: "cus_race".into(),
            anchor: "id:cus_race".into(),
            channel: 1,
            kind: 8,
            direction: 1,
            occurred_at_micros: 1_700_000_000_000_000,
            recorded_at_micros: 1_700_000_000_000_000,
            thread_id: String::new(),
            thread_status: 0,
            topic: "late delivery".into(),
            summary: String::new(),
            needs: Vec::new(),
            outcome: String::new(),
            sentiment: 0,
            agent: String::new(),
            cost: None,
            automated: false,
        },
        thread,
        requested_status: 0,
    }
}

fn created(outcomes: &[WriteOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|outcome| matches!(outcome, WriteOutcome::Created { .. }))
        .count()
}

#[tokio::test]
async fn replicas_racing_on_one_key_or_one_thread_lose_nothing() {
    let Some(test_database) =
        TestDatabase::open(Backend::Postgres, ServiceName::Interaction, &MIGRATIONS).await
    else {
        return;
    };
    // Two stores on one database are two replicas: each write group is its own
    // transaction on its own connection.
    let first = SqlInteractionStore::new(test_database.database.clone());
    let second = SqlInteractionStore::new(test_database.database.clone());

    for round in 0..20 {
        let key = format!("retry-{round}");
        let (a, b) = tokio::join!(
            first.write_group(vec![contact(
                &format!("int_a{round}"),
                &key,
                ThreadRequest::None
            )]),
            second.write_group(vec![contact(
                &format!("int_b{round}"),
                &key,
                ThreadRequest::None
            )]),
        );
        let (a, b) = (a.expect("replica A answers"), b.expect("replica B answers"));
        assert_eq!(
            created(&a) + created(&b),
            1,
            "round {round}: one is new, one a duplicate"
        );
        let stored: i64 = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM interactions WHERE idempotency_key = $1",
        )
        .bind(&key)
        .fetch_one(&test_database.database.pool)
        .await
        .unwrap()
        .get(0);
        assert_eq!(stored, 1);
    }

    let thread_id = "thr_race".to_owned();
    let opened = first
        .write_group(vec![contact(
            "int_open",
            "open",
            ThreadRequest::Open(thread_id.clone()),
        )])
        .await
        .unwrap();
    assert_eq!(created(&opened), 1);
    for round in 0..10 {
        let (a, b) = tokio::join!(
            first.write_group(vec![contact(
                &format!("int_ta{round}"),
                &format!("ta-{round}"),
                ThreadRequest::Continue(thread_id.clone()),
            )]),
            second.write_group(vec![contact(
                &format!("int_tb{round}"),
                &format!("tb-{round}"),
                ThreadRequest::Continue(thread_id.clone()),
            )]),
        );
        a.unwrap();
        b.unwrap();
    }
    let thread = first
        .thread(&thread_id)
        .await
        .unwrap()
        .expect("the thread exists");
    assert_eq!(
        thread.step_count, 21,
        "the opening step and 20 concurrent ones"
    );
    test_database.remove().await.unwrap();
}
