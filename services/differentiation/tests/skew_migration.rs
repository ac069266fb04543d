//! Migration 0008 stores the base's skew as JSON of `SkewSnapshot`. A snapshot stored
//! before it (prost bytes) is not read: it is removed, the service answers as before a
//! first refit, and the next refit's snapshot is read back whole. On SQLite and
//! PostgreSQL.

use idic_differentiation::domain::{BaseSnapshot, SkewSnapshot};
use idic_differentiation::store::{DifferentiationStore, MIGRATIONS, SqlDifferentiationStore};
use idic_runtime::ServiceName;
use idic_testkit::{Backend, TestDatabase};
use idic_value::skew::Tier;

const MIGRATION: &str = include_str!("../migrations/0008_skew_as_json.sql");

/// The table as migrations 0002 to 0007 left it.
const BEFORE: &str = "CREATE TABLE base_snapshots (
    computed_at BIGINT PRIMARY KEY,
    skew BYTEA NOT NULL,
    needs_differentiation DOUBLE PRECISION NOT NULL,
    needs_segments INTEGER NOT NULL
)";

async fn old_snapshots_give_way_to_the_next_refit(backend: Backend) {
    let Some(test_database) =
        TestDatabase::open(backend, ServiceName::Differentiation, &MIGRATIONS).await
    else {
        return;
    };
    let pool = &test_database.database.pool;
    sqlx::query("DROP TABLE base_snapshots")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(BEFORE).execute(pool).await.unwrap();
    // A prost-encoded GetValueSkewResponse, as a refit stored it before.
    sqlx::query(
        "INSERT INTO base_snapshots (computed_at, skew, needs_differentiation, needs_segments)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(1_700_000_000_000_000_i64)
    .bind(vec![
        0x1a_u8, 0x0d, b'p', b'r', b'e', b'd', b'i', b'c', b't',
    ])
    .bind(0.5_f64)
    .bind(3_i64)
    .execute(pool)
    .await
    .unwrap();

    for statement in MIGRATION
        .split(';')
        .map(|sql| {
            sql.lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|sql| !sql.trim().is_empty())
    {
        sqlx::query(&statement).execute(pool).await.unwrap();
    }

    let store = SqlDifferentiationStore::new(test_database.database.clone());
    assert_eq!(
        store.latest_snapshot().await.unwrap(),
        None,
        "the old snapshot is not served"
    );

    let values = [120.5, 80.25, 33.0 / 7.0, 0.0];
    let tiers = [Tier::A, Tier::B, Tier::C, Tier::D];
    let snapshot = BaseSnapshot {
        computed_at_micros: 1_700_000_000_000_123,
        skew: SkewSnapshot::of_values(&values, &tiers, 1_700_000_000_000_123, "predicted_clv"),
        needs_differentiation: 0.42,
        needs_segments: 2,
    };
    store
        .replace_scores(&[], &[], &[], &snapshot)
        .await
        .unwrap();
    assert_eq!(store.latest_snapshot().await.unwrap(), Some(snapshot));
    test_database.remove().await.unwrap();
}

#[tokio::test]
async fn old_snapshots_give_way_to_the_next_refit_on_sqlite() {
    old_snapshots_give_way_to_the_next_refit(Backend::Embedded).await;
}

#[tokio::test]
async fn old_snapshots_give_way_to_the_next_refit_on_postgres() {
    old_snapshots_give_way_to_the_next_refit(Backend::Postgres).await;
}
