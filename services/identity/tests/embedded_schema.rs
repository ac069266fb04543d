//! The embedded engine's own layout of records and links (migrations-sqlite/0006): a
//! database written under the shared schema keeps every record, link and customer
//! through the migration, the tables have the layout the migration promises, and the
//! service goes on writing into them.

use std::path::Path;
use std::sync::Arc;

use idic_identity::engine::{MatchThreshold, Settings};
use idic_identity::store::{IdentityStore as _, MIGRATIONS, StoredRecord};
use idic_identity::{Identity, IdentityHandler, SqlIdentityStore};
use idic_matching::normalize::NormalizeOptions;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_server::IdentityService as _;
use idic_runtime::ServiceName;
use idic_runtime::outbox::spawn_relay;
use idic_runtime::storage::{Database, Migrations};
use idic_testkit::bus::UnreliableBus;
use idic_testkit::{Backend, TestDatabase};
use sqlx::Row as _;
use tokio_util::sync::CancellationToken;
use tonic::Request;

mod support;

/// [`support::person`] with a phone and a birth date: enough for two records to link.
fn person(id: &str, given: &str, email: &str) -> pb::UpsertRecordRequest {
    let mut request = support::person(id, given, email);
    if let Some(record) = request.record.as_mut() {
        record.phones = vec!["+46 8 123 456 78".into()];
        record.date_of_birth = "1980-04-02".into();
    }
    request
}

async fn start(database: &Database, stop: &CancellationToken) -> IdentityHandler {
    let outbox = spawn_relay(
        database.clone(),
        Arc::new(UnreliableBus::default()),
        stop.clone(),
    );
    let identity = Identity::start(
        Arc::new(SqlIdentityStore::new(database.clone())),
        Settings {
            threshold: MatchThreshold::Bits(22.0),
            source_trust: Default::default(),
        },
        NormalizeOptions::default(),
        outbox,
    )
    .await
    .unwrap();
    IdentityHandler::new(identity, stop.clone())
}

async fn upsert(handler: &IdentityHandler, request: pb::UpsertRecordRequest) -> String {
    handler
        .upsert_record(Request::new(request))
        .await
        .unwrap()
        .into_inner()
        .customer_id
}

/// Everything the store holds, in a comparable order.
async fn stored(database: &Database) -> String {
    let store = SqlIdentityStore::new(database.clone());
    let mut state = store.load().await.unwrap();
    state.links.sort_by_key(|link| (link.a, link.b));
    state
        .customers
        .sort_by(|x, y| x.customer_id.cmp(&y.customer_id));
    let mut records: Vec<StoredRecord> = Vec::new();
    store
        .load_records(&mut |record| records.push(record))
        .await
        .unwrap();
    format!(
        "{:?}\n{:?}\n{:?}",
        state.links,
        state.customers,
        records
            .iter()
            .map(|r| (r.record_id, &r.key, &r.customer, &r.content))
            .collect::<Vec<_>>()
    )
}

async fn table_sql(database: &Database, name: &str) -> String {
    sqlx::query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
        .bind(name)
        .fetch_one(&database.pool)
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn records_and_links_survive_the_move_to_the_embedded_layout() {
    // The shared migrations alone: the schema every embedded database had before.
    let shared: &'static sqlx::migrate::Migrator = Box::leak(Box::new(
        sqlx::migrate::Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
            .await
            .unwrap(),
    ));
    let before = Migrations {
        postgres: shared,
        sqlite: shared,
    };
    let test_database = TestDatabase::open(Backend::Embedded, ServiceName::Identity, &before)
        .await
        .expect("the embedded database needs no server");
    let database = test_database.database.clone();
    let stop = CancellationToken::new();
    let handler = start(&database, &stop).await;
    let astrid = upsert(&handler, person("c-1", "Astrid", "astrid@example.com")).await;
    assert_eq!(
        upsert(&handler, person("c-2", "Astrid", "a.lindqvist@example.com")).await,
        astrid,
        "the same person, linked"
    );
    let nils = upsert(&handler, person("c-3", "Nils", "nils@example.com")).await;
    assert_ne!(nils, astrid);
    stop.cancel();
    drop(handler);
    let written = stored(&database).await;
    assert!(written.contains("LinkRow"), "a link was stored: {written}");

    MIGRATIONS.sqlite.run(&database.pool).await.unwrap();
    assert_eq!(
        stored(&database).await,
        written,
        "the migration keeps every row"
    );
    assert!(
        table_sql(&database, "links")
            .await
            .contains("WITHOUT ROWID")
    );
    assert!(
        table_sql(&database, "records")
            .await
            .contains("record_id INTEGER PRIMARY KEY")
    );
    let indexes: i64 = sqlx::query(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'",
    )
    .fetch_one(&database.pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(indexes, 0, "records has no index beside its key");

    // The service starts from the moved tables and goes on linking and re-keying.
    let stop = CancellationToken::new();
    let handler = start(&database, &stop).await;
    assert_eq!(
        upsert(&handler, person("c-4", "Astrid", "astrid@example.com")).await,
        astrid
    );
    assert_eq!(
        upsert(&handler, person("c-2", "Astrid", "astrid@example.com")).await,
        astrid,
        "a rewrite of a stored record keeps its row"
    );
    let rows: i64 = sqlx::query("SELECT COUNT(*) FROM records")
        .fetch_one(&database.pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 4);
    stop.cancel();
    test_database.remove().await.unwrap();
}
