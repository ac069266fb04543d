//! Identity replicas on one PostgreSQL database, as an operator runs them: real
//! `idic serve --service identity` processes. A second replica never overwrites the
//! first one's records (it follows the leader instead of writing on its own); a client
//! reads its writes through the follower; when the leader is killed under a steady
//! write load the follower takes over with every acknowledged write; a leader that
//! loses its database session steps down and follows; and a rolling restart of both
//! replicas fails no read that a retry on the other replica does not answer.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use idic_proto::v1 as pb;
use idic_proto::v1::customer_ref;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use tonic::Code;
use tonic::transport::Channel;

/// The header a write's answer carries its log position in.
const POSITION_HEADER: &str = "idic-log-position";
/// The header a read asks for at least a log position with.
const MIN_POSITION_HEADER: &str = "idic-min-log-position";

struct Replica {
    child: Child,
    address: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    idic_testkit::free_loopback_address().port()
}

/// Starts a replica on `database_url` and waits until it listens. Its log goes to
/// `log` (read when a test fails).
fn start_replica(database_url: &str, data_dir: &std::path::Path, log: &str) -> Replica {
    let address = format!("127.0.0.1:{}", free_port());
    let log_file = std::fs::File::create(data_dir.join(log)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_idic"))
        .args(["serve", "--service", "identity", "--listen", &address])
        .args(["--admin-listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("DATABASE_URL", database_url)
        .env("IDIC_IDENTITY__ADVERTISE_ADDRESS", &address)
        .env("IDIC_GRPC__SHUTDOWN_GRACE_MS", "1000")
        .env("RUST_LOG", "info")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("idic starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("the replica prints its address")
            .unwrap();
        if line.starts_with("IDIC suite listening on ") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Replica { child, address }
}

fn client(address: &str) -> IdentityServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    IdentityServiceClient::new(channel)
}

/// A person nobody else in the test resembles.
fn person(system: &str, index: usize) -> pb::SourceRecord {
    pb::SourceRecord {
        source_system: system.to_owned(),
        source_record_id: format!("{system}-{index:05}"),
        name: Some(pb::PersonName {
            given: format!("Given{system}{index}"),
            family: format!("Family{system}{index}"),
            ..Default::default()
        }),
        emails: vec![format!("{system}.{index}@example.com")],
        ..Default::default()
    }
}

/// Stops a replica as Kubernetes does (SIGTERM) and waits for it to exit.
fn stop(mut replica: Replica) {
    let status = Command::new("kill")
        .args(["-TERM", &replica.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while replica.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the replica did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn by_id(customer_id: &str) -> pb::CustomerRef {
    pb::CustomerRef {
        r#ref: Some(customer_ref::Ref::CustomerId(customer_id.to_owned())),
    }
}

/// A request asking for at least log position `at_least`.
fn at_position<T>(message: T, at_least: u64) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(MIN_POSITION_HEADER, at_least.to_string().parse().unwrap());
    request
}

fn position_of<T>(response: &tonic::Response<T>) -> u64 {
    response
        .metadata()
        .get(POSITION_HEADER)
        .and_then(|value| value.to_str().ok()?.parse().ok())
        .expect("a write's answer carries its log position")
}

fn upsert_request(record: pb::SourceRecord) -> pb::UpsertRecordRequest {
    pb::UpsertRecordRequest {
        record: Some(record),
        strict: false,
    }
}

/// An acknowledged write: its customer and the log position it committed at.
struct Acknowledged {
    customer_id: String,
    position: u64,
}

async fn upsert(
    identity: &mut IdentityServiceClient<Channel>,
    record: pb::SourceRecord,
) -> Result<Acknowledged, tonic::Status> {
    let response = identity.upsert_record(upsert_request(record)).await?;
    let position = position_of(&response);
    Ok(Acknowledged {
        customer_id: response.into_inner().customer_id,
        position,
    })
}

/// (source system, record id) -> customer id, as the replica exports it, once it holds
/// log position `at_least`.
async fn export(
    identity: &mut IdentityServiceClient<Channel>,
    at_least: u64,
) -> Result<BTreeMap<(String, String), String>, tonic::Status> {
    let request = at_position(pb::ExportClustersRequest {}, at_least);
    let mut stream = identity.export_clusters(request).await?.into_inner();
    let mut assignments = BTreeMap::new();
    while let Some(assignment) = stream.next().await {
        let assignment = assignment?;
        assignments.insert(
            (assignment.source_system, assignment.source_record_id),
            assignment.customer_id,
        );
    }
    Ok(assignments)
}

/// Every acknowledged record is in `exported`, in the customer the write answered.
fn assert_all_kept(
    acknowledged: &BTreeMap<(String, String), Acknowledged>,
    exported: &BTreeMap<(String, String), String>,
    replica: &str,
) {
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|(key, ack)| exported.get(*key) != Some(&ack.customer_id))
        .map(|(key, _)| key.1.clone())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged records missing or moved on the {replica}: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
}

fn key_of(record: &pb::SourceRecord) -> (String, String) {
    (
        record.source_system.clone(),
        record.source_record_id.clone(),
    )
}

fn highest_position(acknowledged: &BTreeMap<(String, String), Acknowledged>) -> u64 {
    acknowledged
        .values()
        .map(|ack| ack.position)
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_second_replica_follows_and_never_overwrites_the_first() {
    let Some(postgres) = idic_testkit::require_postgres().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let first = start_replica(&postgres.url, data_dir.path(), "first.log");
    let second = start_replica(&postgres.url, data_dir.path(), "second.log");
    let (mut to_first, mut to_second) = (client(&first.address), client(&second.address));

    // 50 writes to each, as a client that does not know which replica leads.
    let mut acknowledged = BTreeMap::new();
    let mut refused_by_second = 0;
    for index in 0..50 {
        let record = person("first", index);
        let key = key_of(&record);
        let ack = upsert(&mut to_first, record)
            .await
            .expect("the first replica leads and takes the write");
        acknowledged.insert(key, ack);
        let record = person("second", index);
        let key = key_of(&record);
        match upsert(&mut to_second, record).await {
            Ok(ack) => {
                acknowledged.insert(key, ack);
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(
                    status.message().contains(&first.address),
                    "the refusal names the leader: {}",
                    status.message()
                );
                refused_by_second += 1;
            }
        }
    }
    assert!(acknowledged.len() + refused_by_second == 100);

    let at = highest_position(&acknowledged);
    let on_leader = export(&mut to_first, at).await.expect("the leader exports");
    assert_all_kept(&acknowledged, &on_leader, "leader");
    assert_eq!(
        on_leader.len(),
        acknowledged.len(),
        "nothing but the acknowledged records"
    );
    // The follower serves the same answer from its own engine, once it holds the
    // position of the last write (it waits for it).
    let on_follower = export(&mut to_second, at)
        .await
        .expect("the follower exports");
    assert_eq!(
        on_follower, on_leader,
        "the follower holds what the leader holds"
    );

    drop((first, second));
    postgres.drop_database().await.unwrap();
}

#[tokio::test]
async fn killing_the_leader_under_writes_loses_no_acknowledged_write() {
    let Some(postgres) = idic_testkit::require_postgres().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let mut first = start_replica(&postgres.url, data_dir.path(), "first.log");
    let second = start_replica(&postgres.url, data_dir.path(), "second.log");
    let mut replicas = [client(&first.address), client(&second.address)];

    // A steady load: one writer, each record sent to the replica that answered last,
    // the other on UNAVAILABLE, until acknowledged.
    let mut acknowledged = BTreeMap::new();
    let mut target = 0;
    let mut killed_at: Option<Instant> = None;
    let mut first_ack_after_kill: Option<Duration> = None;
    let mut failed_attempts = 0;
    for index in 0..400 {
        if index == 150 {
            first.child.kill().expect("SIGKILL the leader");
            killed_at = Some(Instant::now());
        }
        let record = person("load", index);
        let key = key_of(&record);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match upsert(&mut replicas[target], record.clone()).await {
                Ok(ack) => {
                    if let (Some(killed), None) = (killed_at, first_ack_after_kill) {
                        first_ack_after_kill = Some(killed.elapsed());
                    }
                    acknowledged.insert(key, ack);
                    break;
                }
                Err(status) => {
                    assert!(
                        matches!(status.code(), Code::Unavailable | Code::Unknown),
                        "a write during failover fails retryably: {status:?}"
                    );
                    assert!(Instant::now() < deadline, "no replica took writes for 60 s");
                    failed_attempts += 1;
                    target = 1 - target;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    let takeover = first_ack_after_kill.expect("writes resumed after the kill");
    eprintln!(
        "leader killed after 150 of 400 writes: writes resumed on the follower after {:.2} s, \
         {failed_attempts} attempts refused meanwhile",
        takeover.as_secs_f64()
    );
    assert!(
        takeover < Duration::from_secs(15),
        "the follower took over within seconds, not {takeover:?}"
    );

    let survivor = &mut replicas[1];
    let exported = export(survivor, highest_position(&acknowledged))
        .await
        .expect("the new leader exports");
    assert_all_kept(&acknowledged, &exported, "new leader");
    assert_eq!(exported.len(), 400);

    drop((first, second));
    postgres.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_client_reads_its_writes_and_steward_actions_through_the_follower() {
    let Some(postgres) = idic_testkit::require_postgres().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let leader = start_replica(&postgres.url, data_dir.path(), "leader.log");
    let follower = start_replica(&postgres.url, data_dir.path(), "follower.log");
    // Only the follower: its writes are forwarded, its reads answered by its engine.
    let mut identity = client(&follower.address);

    let first = upsert(&mut identity, person("ryw", 1))
        .await
        .expect("a write sent to the follower is forwarded to the leader");
    let second = upsert(&mut identity, person("ryw", 2))
        .await
        .expect("forwarded");
    assert_ne!(first.customer_id, second.customer_id);
    let found = identity
        .get_customer(at_position(
            pb::GetCustomerRequest {
                customer: Some(by_id(&second.customer_id)),
            },
            second.position,
        ))
        .await
        .expect("the follower waits for the write's position and finds it")
        .into_inner();
    assert_eq!(found.customer.unwrap().customer_id, second.customer_id);

    let merged = identity
        .merge(pb::MergeRequest {
            customer_ids: vec![first.customer_id.clone(), second.customer_id.clone()],
            reason: "same person, checked by phone".to_owned(),
        })
        .await
        .expect("a steward merge sent to the follower is forwarded");
    let position = position_of(&merged);
    let survivor = merged.into_inner().customer_id;
    for id in [&first.customer_id, &second.customer_id] {
        let looked_up = identity
            .lookup_customer_id(at_position(
                pb::LookupCustomerIdRequest {
                    customer: Some(by_id(id)),
                },
                position,
            ))
            .await
            .expect("the follower holds the merge")
            .into_inner();
        assert_eq!(
            looked_up.customer_id, survivor,
            "{id} resolves to the survivor"
        );
    }

    // A bulk import sent to the follower goes to the leader too, and its position
    // covers every record of it.
    let batches: Vec<pb::ImportRecordsRequest> = (0..3)
        .map(|batch| pb::ImportRecordsRequest {
            records: (0..10).map(|n| person("bulk", batch * 10 + n)).collect(),
            strict: false,
            skip_auto_estimate: false,
        })
        .collect();
    let imported = identity
        .import_records(futures::stream::iter(batches))
        .await
        .expect("an import sent to the follower is forwarded");
    let import_position = position_of(&imported);
    assert_eq!(imported.into_inner().accepted, 30);
    let exported = export(&mut identity, import_position)
        .await
        .expect("the follower exports");
    let bulk = exported.keys().filter(|key| key.0 == "bulk").count();
    assert_eq!(
        bulk, 30,
        "the follower holds the whole import at its position"
    );

    // A position no replica holds yet: UNAVAILABLE with retry info, after a short wait.
    let refused = identity
        .lookup_customer_id(at_position(
            pb::LookupCustomerIdRequest {
                customer: Some(by_id(&survivor)),
            },
            position + 1_000,
        ))
        .await
        .expect_err("the follower does not hold that position");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let invalid = identity
        .lookup_customer_id({
            let mut request = tonic::Request::new(pb::LookupCustomerIdRequest {
                customer: Some(by_id(&survivor)),
            });
            request
                .metadata_mut()
                .insert(MIN_POSITION_HEADER, "latest".parse().unwrap());
            request
        })
        .await
        .expect_err("not a position");
    assert_eq!(invalid.code(), Code::InvalidArgument, "{invalid:?}");
    assert!(
        invalid.message().contains(MIN_POSITION_HEADER),
        "{invalid:?}"
    );

    drop((leader, follower));
    postgres.drop_database().await.unwrap();
}

/// Reads `customer_id` on one replica, and on the other if that fails: a client with
/// both addresses (or a Service with both pods behind it) retrying once.
async fn read_with_one_retry(
    addresses: &[String; 2],
    first_choice: usize,
    customer_id: &str,
) -> Result<(), tonic::Status> {
    let mut last = None;
    for attempt in 0..2 {
        let address = &addresses[(first_choice + attempt) % 2];
        let mut identity = client(address);
        match identity
            .lookup_customer_id(pb::LookupCustomerIdRequest {
                customer: Some(by_id(customer_id)),
            })
            .await
        {
            Ok(found) if found.get_ref().customer_id == customer_id => return Ok(()),
            Ok(found) => panic!("{customer_id} resolved to {}", found.get_ref().customer_id),
            Err(status) => last = Some(status),
        }
    }
    Err(last.expect("two attempts"))
}

// Starting and stopping replicas blocks a thread; the read load runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_both_replicas_fails_no_read_beyond_a_retry() {
    let Some(postgres) = idic_testkit::require_postgres().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let first = start_replica(&postgres.url, data_dir.path(), "first.log");
    let second = start_replica(&postgres.url, data_dir.path(), "second.log");
    let mut writer = client(&first.address);
    let mut customers = Vec::new();
    for index in 0..20 {
        customers.push(
            upsert(&mut writer, person("roll", index))
                .await
                .expect("the leader writes")
                .customer_id,
        );
    }
    let (first_address, second_address) = (first.address.clone(), second.address.clone());

    // Read load on both replicas while each is restarted in turn, as a RollingUpdate
    // with maxUnavailable 0 does: the new pod serves before the old one stops.
    let reading = tokio::sync::watch::channel(true);
    let addresses = std::sync::Arc::new(std::sync::Mutex::new([
        first_address.clone(),
        second_address.clone(),
    ]));
    let load = {
        let addresses = addresses.clone();
        let customers = customers.clone();
        let running = reading.1.clone();
        tokio::spawn(async move {
            let (mut reads, mut failed) = (0u64, Vec::new());
            let mut index = 0usize;
            while *running.borrow() {
                let now = addresses.lock().unwrap().clone();
                let customer = &customers[index % customers.len()];
                if let Err(status) = read_with_one_retry(&now, index % 2, customer).await {
                    failed.push(status);
                }
                reads += 1;
                index += 1;
            }
            (reads, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The first (the leader) is replaced: a new replica starts and follows...
    let third = start_replica(&postgres.url, data_dir.path(), "third.log");
    addresses.lock().unwrap()[0] = third.address.clone();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(first);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // ...then the second (leader by now) is replaced the same way.
    let fourth = start_replica(&postgres.url, data_dir.path(), "fourth.log");
    addresses.lock().unwrap()[1] = fourth.address.clone();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(second);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    reading.0.send(false).unwrap();
    let (reads, failed) = load.await.unwrap();
    eprintln!(
        "rolling restart of both replicas under read load: {reads} reads, {} failed after one retry",
        failed.len()
    );
    assert!(reads > 20, "the read load ran ({reads} reads)");
    assert!(
        failed.is_empty(),
        "{} of {reads} reads failed after a retry: {:?}",
        failed.len(),
        failed.first()
    );

    // The new pair still writes (one of them took over) and has every record.
    let mut identity = client(&third.address);
    let deadline = Instant::now() + Duration::from_secs(15);
    let written = loop {
        match upsert(&mut identity, person("roll", 100)).await {
            Ok(ack) => break ack,
            Err(status) => {
                assert!(
                    Instant::now() < deadline,
                    "no leader after the restart: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let exported = export(&mut client(&fourth.address), written.position)
        .await
        .expect("exports");
    assert_eq!(exported.len(), 21);

    drop((third, fourth));
    postgres.drop_database().await.unwrap();
}

/// Ends the PostgreSQL session holding identity's leadership lock in the test's
/// database, as a network cut or a server restart would.
async fn cut_the_leaders_session(database_url: &str) -> u64 {
    use sqlx::{Connection as _, Row as _};
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let ended = sqlx::query(
        "SELECT CAST(COUNT(pg_terminate_backend(pid)) AS BIGINT) FROM pg_locks
         WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap()
    .get::<i64, _>(0);
    ended as u64
}

#[tokio::test]
async fn a_leader_that_loses_its_database_session_steps_down_and_follows() {
    let Some(postgres) = idic_testkit::require_postgres().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let first = start_replica(&postgres.url, data_dir.path(), "first.log");
    let second = start_replica(&postgres.url, data_dir.path(), "second.log");
    let mut to_first = client(&first.address);
    let mut acknowledged = BTreeMap::new();
    for index in 0..10 {
        let record = person("cut", index);
        let key = key_of(&record);
        acknowledged.insert(key, upsert(&mut to_first, record).await.expect("leads"));
    }

    assert_eq!(
        cut_the_leaders_session(&postgres.url).await,
        1,
        "one session held the lock"
    );

    // Keep writing to the old leader only: it refuses while it steps down, then
    // forwards to the new leader.
    let started = Instant::now();
    for index in 10..30 {
        let record = person("cut", index);
        let key = key_of(&record);
        let ack = loop {
            match upsert(&mut to_first, record.clone()).await {
                Ok(ack) => break ack,
                Err(status) => {
                    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "writes did not resume: {status:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        acknowledged.insert(key, ack);
    }
    let at = highest_position(&acknowledged);
    let on_first = export(&mut to_first, at)
        .await
        .expect("the old leader exports");
    let on_second = export(&mut client(&second.address), at)
        .await
        .expect("the new leader exports");
    assert_all_kept(&acknowledged, &on_first, "old leader, now following");
    assert_all_kept(&acknowledged, &on_second, "new leader");
    assert_eq!(on_first, on_second);
    assert_eq!(on_second.len(), 30);

    drop((first, second));
    postgres.drop_database().await.unwrap();
}

/// Sends a signal to a replica's process (`STOP`, `CONT`).
fn signal(replica: &Replica, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &replica.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name}");
}

/// An upsert that gives up after `wait`: a frozen replica never answers.
async fn upsert_within(
    identity: &mut IdentityServiceClient<Channel>,
    record: pb::SourceRecord,
    wait: Duration,
) -> Result<Acknowledged, tonic::Status> {
    let mut request = tonic::Request::new(upsert_request(record));
    request.set_timeout(wait);
    let response = identity.upsert_record(request).await?;
    let position = position_of(&response);
    Ok(Acknowledged {
        customer_id: response.into_inner().customer_id,
        position,
    })
}

/// What a client sees when a write cannot be done now but may be retried.
fn retryable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
    )
}

/// How long after `since` the leader's epoch moved (polled every 50 ms, 60 s at most).
async fn epoch_raised_after(database_url: String, since: Instant) -> Duration {
    use sqlx::{Connection as _, Row as _};
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(&database_url).await.unwrap();
    let query = "SELECT epoch FROM identity.identity_leader WHERE id = 1";
    let first: i64 = sqlx::query(query)
        .fetch_one(&mut connection)
        .await
        .unwrap()
        .get(0);
    while since.elapsed() < Duration::from_secs(60) {
        let now: i64 = sqlx::query(query)
            .fetch_one(&mut connection)
            .await
            .unwrap()
            .get(0);
        if now != first {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the epoch did not move in 60 s");
}

/// (epoch, lowest position, highest position) of every epoch in the log.
async fn log_epochs(database_url: &str) -> Vec<(i64, i64, i64)> {
    use sqlx::{Connection as _, Row as _};
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(database_url).await.unwrap();
    sqlx::query(
        "SELECT epoch, MIN(position), MAX(position) FROM identity.identity_log GROUP BY epoch ORDER BY epoch",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap()
    .iter()
    .map(|row| (row.get(0), row.get(1), row.get(2)))
    .collect()
}

/// A leader that is frozen (SIGSTOP: its process stops, its sockets stay open, so
/// PostgreSQL keeps its sessions) is replaced within seconds: its lease session goes
/// idle and PostgreSQL ends it. Writes in the gap fail retryably; when the frozen
/// leader wakes (SIGCONT) it cannot commit under its old epoch, steps down and
/// forwards; no acknowledged write is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_is_replaced_and_cannot_commit_when_it_wakes() {
    let Some(postgres) = idic_testkit::require_postgres().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let first = start_replica(&postgres.url, data_dir.path(), "first.log");
    let second = start_replica(&postgres.url, data_dir.path(), "second.log");
    let mut replicas = [client(&first.address), client(&second.address)];
    let mut acknowledged = BTreeMap::new();
    for index in 0..21 {
        let record = person("frozen", index);
        let key = key_of(&record);
        acknowledged.insert(key, upsert(&mut replicas[0], record).await.expect("leads"));
    }

    // Writers keep the leader busy as it freezes, so that it likely stops inside a
    // write transaction, holding the row lock a new leader's epoch bump waits for.
    // Their writes in flight then are answered after it wakes, or fail.
    let stop_load = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for writer in 0..3 {
        let mut to_leader = client(&first.address);
        let stop_load = stop_load.clone();
        load.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for index in 0.. {
                if stop_load.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let record = person(&format!("load{writer}"), index);
                let key = key_of(&record);
                match upsert_within(&mut to_leader, record, Duration::from_secs(30)).await {
                    Ok(ack) => acknowledged.push((key, ack)),
                    Err(status) => {
                        assert!(retryable(&status), "{status:?}");
                        break;
                    }
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&first, "STOP");
    let frozen_at = Instant::now();
    stop_load.store(true, std::sync::atomic::Ordering::Relaxed);
    // When the follower raises the epoch: the takeover itself (writes resume later,
    // when a client's retry reaches it).
    let elected = tokio::spawn(epoch_raised_after(postgres.url.clone(), frozen_at));

    // A client that does not know who leads: each write to one replica, on failure
    // to the other, until acknowledged.
    let mut target = 1;
    let mut failed = 0;
    let mut first_ack: Option<Duration> = None;
    for index in 21..60 {
        let record = person("frozen", index);
        let key = key_of(&record);
        let deadline = Instant::now() + Duration::from_secs(60);
        let ack = loop {
            match upsert_within(
                &mut replicas[target],
                record.clone(),
                Duration::from_secs(2),
            )
            .await
            {
                Ok(ack) => break ack,
                Err(status) => {
                    assert!(
                        retryable(&status),
                        "a write in the gap fails retryably: {status:?}"
                    );
                    assert!(Instant::now() < deadline, "no replica took writes for 60 s");
                    failed += 1;
                    target = 1 - target;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        first_ack.get_or_insert_with(|| frozen_at.elapsed());
        acknowledged.insert(key, ack);
    }
    let takeover = first_ack.expect("writes resumed");
    let epochs_while_frozen = log_epochs(&postgres.url).await;

    signal(&first, "CONT");
    let woken_at = Instant::now();
    // Writes through the woken replica: refused while it steps down, then forwarded.
    for index in 60..80 {
        let record = person("frozen", index);
        let key = key_of(&record);
        let ack = loop {
            match upsert_within(&mut replicas[0], record.clone(), Duration::from_secs(5)).await {
                Ok(ack) => break ack,
                Err(status) => {
                    assert!(retryable(&status), "{status:?}");
                    assert!(
                        woken_at.elapsed() < Duration::from_secs(30),
                        "the woken replica did not step down: {status:?}"
                    );
                    failed += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        acknowledged.insert(key, ack);
    }
    let mut load_acknowledged = 0;
    for writer in load {
        for (key, ack) in writer.await.unwrap() {
            acknowledged.insert(key, ack);
            load_acknowledged += 1;
        }
    }
    let elected = elected.await.unwrap();
    eprintln!(
        "leader frozen: the follower raised the epoch after {:.2} s, writes resumed after \
         {:.2} s (client retries every 2 s), {failed} attempts failed (retryably); \
         {load_acknowledged} writes of the load on the leader acknowledged, {} acknowledged in all",
        elected.as_secs_f64(),
        takeover.as_secs_f64(),
        acknowledged.len()
    );
    assert!(
        takeover < Duration::from_secs(15),
        "the follower took over within seconds, not {takeover:?}"
    );

    // Fenced: no entry of the old epoch after the first of the new one, then or now.
    let epochs = log_epochs(&postgres.url).await;
    assert!(
        epochs_while_frozen.len() >= 2,
        "a new epoch: {epochs_while_frozen:?}"
    );
    for pair in epochs.windows(2) {
        assert!(
            pair[0].2 < pair[1].1,
            "epoch {} committed at {} after epoch {} began at {}: {epochs:?}",
            pair[0].0,
            pair[0].2,
            pair[1].0,
            pair[1].1
        );
    }
    let at = highest_position(&acknowledged);
    let on_first = export(&mut replicas[0], at)
        .await
        .expect("the old leader exports");
    let on_second = export(&mut replicas[1], at)
        .await
        .expect("the new leader exports");
    assert_all_kept(&acknowledged, &on_second, "new leader");
    assert_all_kept(&acknowledged, &on_first, "old leader, now following");
    assert_eq!(on_first, on_second);
    // Nothing but acknowledged records, and at most the three writes that were in
    // flight when the leader froze (committed, their answers lost with the connection).
    let extra = on_second.len() - acknowledged.len();
    assert!(extra <= 3, "{extra} records were never acknowledged");
    let log = std::fs::read_to_string(data_dir.path().join("first.log")).unwrap();
    assert!(
        log.contains("identity lost its leadership"),
        "the woken leader stepped down"
    );

    drop((first, second));
    postgres.drop_database().await.unwrap();
}

/// Reads a `Recluster` stream to its last message.
async fn recluster(
    identity: &mut IdentityServiceClient<Channel>,
    dry_run: bool,
) -> Result<pb::ReclusterSummary, tonic::Status> {
    let mut stream = identity
        .recluster(pb::ReclusterRequest {
            dry_run,
            batch_size: 7,
        })
        .await?
        .into_inner();
    let mut last = None;
    while let Some(progress) = stream.next().await {
        last = Some(progress?);
    }
    let last = last.expect("a recluster answers at least once");
    assert!(last.done, "the last message is final");
    Ok(last.summary.expect("a summary"))
}

/// `EstimateParameters` and `Recluster` reaching a follower go to the leader (the
/// recluster's progress stream comes back through the follower); a dry run is
/// answered by the follower itself. The follower takes the new parameters.
#[tokio::test]
async fn a_follower_forwards_estimates_and_reclusters_to_the_leader() {
    let Some(postgres) = idic_testkit::require_postgres().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let first = start_replica(&postgres.url, data_dir.path(), "first.log");
    let second = start_replica(&postgres.url, data_dir.path(), "second.log");
    let (mut leader, mut follower) = (client(&first.address), client(&second.address));
    let mut acknowledged = BTreeMap::new();
    for index in 0..30 {
        let record = person("forward", index);
        let key = key_of(&record);
        acknowledged.insert(key, upsert(&mut leader, record).await.expect("leads"));
    }

    let estimate = follower
        .estimate_parameters(pb::EstimateParametersRequest {
            random_pairs: 1_000,
            candidate_pairs: 1_000,
        })
        .await
        .expect("forwarded to the leader")
        .into_inner();
    assert_eq!(estimate.version, 1, "{estimate:?}");

    let at = highest_position(&acknowledged);
    let _ = export(&mut follower, at)
        .await
        .expect("the follower caught up");
    let dry = recluster(&mut follower, true)
        .await
        .expect("answered locally");
    assert!(dry.dry_run);
    assert_eq!(dry.records_done, 30);
    let done = recluster(&mut follower, false)
        .await
        .expect("forwarded to the leader");
    assert!(!done.dry_run);
    assert_eq!(done.records_done, 30);
    assert_eq!(
        (
            done.components_changed,
            done.customers_merged,
            done.customers_split
        ),
        (
            dry.components_changed,
            dry.customers_merged,
            dry.customers_split
        ),
        "the dry run on the follower predicted the leader's pass"
    );
    // The leader ran it: a second pass on the leader finds nothing left to do.
    let again = recluster(&mut leader, false)
        .await
        .expect("the leader reclusters");
    assert_eq!(again.components_changed, 0, "{again:?}");

    drop((first, second));
    postgres.drop_database().await.unwrap();
}
