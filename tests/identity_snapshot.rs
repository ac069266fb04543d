//! Identity's engine snapshots, with real `idic serve --service identity` processes: a
//! restart from a snapshot gives the customers a rebuild from the tables gives; writes
//! after the snapshot are not lost (embedded: the snapshot is refused and the tables
//! read; replicas: the log is replayed from the snapshot's position, or the tables read
//! when the log no longer covers it); a torn or damaged snapshot is ignored; an erasure
//! leaves no snapshot file holding the erased customer's data.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use idic_proto::v1 as pb;
use idic_proto::v1::customer_ref;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use tonic::transport::Channel;

struct Server {
    child: Child,
    address: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server as Kubernetes does (SIGTERM) and waits for it to exit.
    fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.log_text()
    }

    /// Kills the server (no graceful shutdown, so no snapshot at the end).
    fn kill(self) -> String {
        let log = self.log_text();
        drop(self);
        log
    }

    fn client(&self) -> IdentityServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.address))
            .unwrap()
            .timeout(Duration::from_secs(20))
            .connect_lazy();
        IdentityServiceClient::new(channel)
    }
}

fn free_port() -> u16 {
    idic_testkit::free_loopback_address().port()
}

/// Starts identity on `data_dir` (embedded, or on `database_url`) with `env` set, and
/// waits until it listens; its log goes to `<data_dir>/<log>`.
fn start(data_dir: &Path, database_url: Option<&str>, env: &[(&str, &str)], log: &str) -> Server {
    let address = format!("127.0.0.1:{}", free_port());
    let log = data_dir.join(log);
    let log_file = std::fs::File::create(&log).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_idic"));
    command
        .args(["serve", "--service", "identity", "--listen", &address])
        .args(["--admin-listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("IDIC_IDENTITY__ADVERTISE_ADDRESS", &address)
        .env("IDIC_IDENTITY__SNAPSHOT_EVERY_SECONDS", "3600")
        .env("IDIC_GRPC__SHUTDOWN_GRACE_MS", "1000")
        .env("RUST_LOG", "info")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(log_file);
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("idic starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .unwrap();
        if line.starts_with("IDIC suite listening on ") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        address,
        log,
    }
}

/// Record `index` of `system`; records with the same `person` share name and e-mail,
/// so the engine joins them into one customer.
fn record(system: &str, index: usize, person: usize) -> pb::SourceRecord {
    pb::SourceRecord {
        source_system: system.to_owned(),
        source_record_id: format!("{system}-{index:05}"),
        name: Some(pb::PersonName {
            given: format!("Given{person}"),
            family: format!("Family{person}"),
            ..Default::default()
        }),
        emails: vec![format!("person.{person}@example.com")],
        ..Default::default()
    }
}

async fn upsert(identity: &mut IdentityServiceClient<Channel>, record: pb::SourceRecord) -> String {
    identity
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(record),
            strict: false,
        })
        .await
        .expect("the write is taken")
        .into_inner()
        .customer_id
}

/// Writes records `from..to` of two systems (each person twice), and merges the
/// customers of two persons as a steward would.
async fn write_people(identity: &mut IdentityServiceClient<Channel>, from: usize, to: usize) {
    let mut customers = Vec::new();
    for index in from..to {
        customers.push(upsert(identity, record("crm", index, index)).await);
        upsert(identity, record("web", index, index)).await;
    }
    identity
        .merge(pb::MergeRequest {
            customer_ids: vec![customers[0].clone(), customers[1].clone()],
            reason: "the same person, says the call center".to_owned(),
        })
        .await
        .expect("the merge is taken");
}

/// (source system, record id) -> customer id, as the server exports it.
async fn export(
    identity: &mut IdentityServiceClient<Channel>,
) -> BTreeMap<(String, String), String> {
    idic_testkit::identity::cluster_rows(identity)
        .await
        .into_iter()
        .map(|row| ((row.source_system, row.source_record_id), row.customer_id))
        .collect()
}

/// The snapshot files in `dir`.
fn snapshots(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.to_string_lossy().contains(".snap"))
                .collect()
        })
        .unwrap_or_default()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

const FROM_SNAPSHOT: &str = "identity engine loaded from a snapshot";
const FROM_TABLES: &str = "identity engine loaded from the tables";

#[tokio::test]
async fn an_embedded_restart_from_the_snapshot_gives_the_customers_of_a_rebuild() {
    let data = tempfile::tempdir().unwrap();
    let snapshot_dir = data.path().join("identity-snapshots");

    let first = start(data.path(), None, &[], "first.log");
    write_people(&mut first.client(), 0, 40).await;
    let before = export(&mut first.client()).await;
    assert_eq!(before.len(), 80);
    let log = first.stop();
    assert!(log.contains("identity snapshot written"), "{log}");
    assert_eq!(snapshots(&snapshot_dir).len(), 1, "one snapshot on disk");

    // Start from the snapshot: the same customers.
    let second = start(data.path(), None, &[], "second.log");
    assert!(
        second.log_text().contains(FROM_SNAPSHOT),
        "{}",
        second.log_text()
    );
    let from_snapshot = export(&mut second.client()).await;
    assert_eq!(from_snapshot, before);
    // Writes after the snapshot, then a crash: no snapshot covers them.
    write_people(&mut second.client(), 40, 60).await;
    let after_writes = export(&mut second.client()).await;
    assert_eq!(after_writes.len(), 120);
    second.kill();

    let third = start(data.path(), None, &[], "third.log");
    let log = third.log_text();
    assert!(log.contains("identity snapshot not current"), "{log}");
    assert!(log.contains(FROM_TABLES), "{log}");
    assert_eq!(export(&mut third.client()).await, after_writes);
    let third_log = third.stop();

    // The snapshot written at that shutdown against a rebuild with snapshots off.
    let from_snapshot = start(data.path(), None, &[], "fourth.log");
    assert!(
        from_snapshot.log_text().contains(FROM_SNAPSHOT),
        "{third_log}\n---\n{}",
        from_snapshot.log_text()
    );
    let exported = export(&mut from_snapshot.client()).await;
    from_snapshot.stop();
    let rebuilt = start(
        data.path(),
        None,
        &[("IDIC_IDENTITY__SNAPSHOT_DIR", "off")],
        "fifth.log",
    );
    assert!(rebuilt.log_text().contains(FROM_TABLES));
    assert_eq!(export(&mut rebuilt.client()).await, exported);
    assert_eq!(exported, after_writes);
    rebuilt.stop();
}

#[tokio::test]
async fn a_torn_or_damaged_snapshot_is_ignored() {
    let data = tempfile::tempdir().unwrap();
    let snapshot_dir = data.path().join("identity-snapshots");
    let first = start(data.path(), None, &[], "first.log");
    write_people(&mut first.client(), 0, 20).await;
    let before = export(&mut first.client()).await;
    first.stop();
    let [snapshot] = snapshots(&snapshot_dir).try_into().expect("one snapshot");
    let good = std::fs::read(&snapshot).unwrap();

    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x20;
    let damaged: [(&str, Vec<u8>); 3] = [
        ("torn", good[..good.len() * 2 / 3].to_vec()),
        ("flipped", flipped),
        (
            "foreign",
            b"not a snapshot at all, but long enough to read".to_vec(),
        ),
    ];
    for (case, bytes) in damaged {
        // Only the damaged file (a start from the tables writes a good one soon after).
        for path in snapshots(&snapshot_dir) {
            std::fs::remove_file(path).unwrap();
        }
        std::fs::write(&snapshot, &bytes).unwrap();
        let server = start(data.path(), None, &[], &format!("{case}.log"));
        let log = server.log_text();
        assert!(
            log.contains("ignoring an unreadable identity snapshot"),
            "{case}: {log}"
        );
        assert!(log.contains(FROM_TABLES), "{case}: {log}");
        assert_eq!(export(&mut server.client()).await, before, "{case}");
        // Killed: the next case starts from the damaged file again.
        server.kill();
    }
}

#[tokio::test]
async fn an_erasure_leaves_no_snapshot_with_the_customer_in_it() {
    let data = tempfile::tempdir().unwrap();
    let snapshot_dir = data.path().join("identity-snapshots");
    let first = start(data.path(), None, &[], "first.log");
    let mut identity = first.client();
    write_people(&mut identity, 0, 10).await;
    let zelda = pb::SourceRecord {
        source_system: "crm".to_owned(),
        source_record_id: "zelda".to_owned(),
        name: Some(pb::PersonName {
            given: "Zelda".to_owned(),
            family: "Quimbyfontaine".to_owned(),
            ..Default::default()
        }),
        emails: vec!["zelda.quimbyfontaine@example.org".to_owned()],
        ..Default::default()
    };
    let customer_id = upsert(&mut identity, zelda).await;
    first.stop();
    let on_disk: Vec<u8> = snapshots(&snapshot_dir)
        .iter()
        .flat_map(|path| std::fs::read(path).unwrap())
        .collect();
    assert!(
        contains(&on_disk, "zelda.quimbyfontaine@example.org"),
        "the snapshot holds her e-mail before the erasure (or this test proves nothing)"
    );

    let second = start(data.path(), None, &[], "second.log");
    assert!(second.log_text().contains(FROM_SNAPSHOT));
    let mut identity = second.client();
    identity
        .erase_customer(pb::EraseCustomerRequest {
            customer: Some(pb::CustomerRef {
                r#ref: Some(customer_ref::Ref::CustomerId(customer_id.clone())),
            }),
            reason: "data subject request 7".to_owned(),
        })
        .await
        .expect("the erasure is taken");
    // Answered: no file in the snapshot directory may hold her any more.
    let no_trace = |moment: &str| {
        for path in snapshots(&snapshot_dir) {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            for needle in ["zelda.quimbyfontaine", "Quimbyfontaine", "quimbyfontaine"] {
                assert!(
                    !contains(&bytes, needle),
                    "{moment}: {} holds {needle}",
                    path.display()
                );
            }
        }
    };
    no_trace("right after the erasure");
    let log = second.stop();
    assert!(
        log.contains("identity snapshots removed after an erasure"),
        "{log}"
    );
    assert!(
        !snapshots(&snapshot_dir).is_empty(),
        "a snapshot after the erasure"
    );
    no_trace("after the next snapshot");

    // And the start from the post-erasure snapshot works, without her.
    let third = start(data.path(), None, &[], "third.log");
    assert!(
        third.log_text().contains(FROM_SNAPSHOT),
        "{}",
        third.log_text()
    );
    let exported = export(&mut third.client()).await;
    assert_eq!(exported.len(), 20);
    assert!(!exported.contains_key(&("crm".to_owned(), "zelda".to_owned())));
    third.stop();
}

/// Runs `sql` on the test database (identity's schema).
async fn execute(url: &str, sql: &str) {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query(sql).execute(&mut connection).await.unwrap();
    connection.close().await.unwrap();
}

#[tokio::test]
async fn a_replica_starts_from_its_snapshot_and_replays_the_log_or_reads_the_tables() {
    let Some(postgres) = idic_testkit::require_postgres().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let (leader_dir, follower_dir) = (data.path().join("leader"), data.path().join("follower"));
    std::fs::create_dir_all(&leader_dir).unwrap();
    std::fs::create_dir_all(&follower_dir).unwrap();
    let snapshot_env = |dir: &Path| dir.join("snapshots").to_string_lossy().into_owned();
    let (leader_snapshots, follower_snapshots) =
        (snapshot_env(&leader_dir), snapshot_env(&follower_dir));
    let leader = start(
        &leader_dir,
        Some(&postgres.url),
        &[("IDIC_IDENTITY__SNAPSHOT_DIR", &leader_snapshots)],
        "leader.log",
    );
    let follower_env = [("IDIC_IDENTITY__SNAPSHOT_DIR", follower_snapshots.as_str())];
    let follower = start(
        &follower_dir,
        Some(&postgres.url),
        &follower_env,
        "follower-1.log",
    );
    let mut to_leader = leader.client();
    write_people(&mut to_leader, 0, 30).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log = follower.stop();
    assert!(log.contains("identity snapshot written"), "{log}");

    // Written while the follower is down: replayed from the log after its snapshot.
    write_people(&mut to_leader, 30, 45).await;
    let on_leader = export(&mut to_leader).await;
    assert_eq!(on_leader.len(), 90);
    let follower = start(
        &follower_dir,
        Some(&postgres.url),
        &follower_env,
        "follower-2.log",
    );
    assert!(
        follower.log_text().contains(FROM_SNAPSHOT),
        "{}",
        follower.log_text()
    );
    let caught_up = wait_for_export(&follower, &on_leader).await;
    assert_eq!(
        caught_up, on_leader,
        "the follower replayed the writes after its snapshot"
    );
    follower.stop();

    // The log no longer holds the entry right after the follower's snapshot (as after
    // a trim or an erasure): the follower reads the tables instead.
    write_people(&mut to_leader, 45, 55).await;
    let on_leader = export(&mut to_leader).await;
    let snapshot_position = snapshot_position(&follower_dir.join("follower-2.log"));
    execute(
        &postgres.url,
        &format!(
            "DELETE FROM identity.identity_log WHERE position = {}",
            snapshot_position + 1
        ),
    )
    .await;
    let follower = start(
        &follower_dir,
        Some(&postgres.url),
        &follower_env,
        "follower-3.log",
    );
    assert!(follower.log_text().contains(FROM_SNAPSHOT));
    let caught_up = wait_for_export(&follower, &on_leader).await;
    assert_eq!(caught_up, on_leader);
    let log = follower.stop();
    assert!(
        log.contains("the log no longer holds what this replica needs; reloading"),
        "{log}"
    );
    leader.stop();
}

/// The log position of the last snapshot a replica's log reports.
fn snapshot_position(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text
        .lines()
        .rfind(|line| line.contains("identity snapshot written"))
        .unwrap_or_else(|| panic!("no snapshot in {text}"));
    let rest = line
        .split("Log(")
        .nth(1)
        .unwrap_or_else(|| panic!("no log position in {line}"));
    let digits: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// The follower's export once it equals `expected` (it replays every 100 ms), or the
/// last one after 20 s.
async fn wait_for_export(
    server: &Server,
    expected: &BTreeMap<(String, String), String>,
) -> BTreeMap<(String, String), String> {
    let mut identity = server.client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let exported = export(&mut identity).await;
        if &exported == expected || Instant::now() > deadline {
            return exported;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn no_snapshot_is_taken_while_an_import_streams() {
    let data = tempfile::tempdir().unwrap();
    let snapshot_dir = data.path().join("identity-snapshots");
    // Due after every change, checked every second.
    let server = start(
        data.path(),
        None,
        &[("IDIC_IDENTITY__SNAPSHOT_EVERY_CHANGES", "1")],
        "import.log",
    );
    let (batches, stream) = tokio::sync::mpsc::channel::<pb::ImportRecordsRequest>(4);
    let mut client = server.client();
    let import = tokio::spawn(async move {
        client
            .import_records(tokio_stream::wrappers::ReceiverStream::new(stream))
            .await
    });
    batches
        .send(pb::ImportRecordsRequest {
            records: (0..50).map(|index| record("crm", index, index)).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    // The first batch commits while the stream stays open: without the import's
    // guard, the schedule would write a snapshot within a second or two.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        snapshots(&snapshot_dir).is_empty(),
        "a snapshot was written while the import streamed: {}",
        server.log_text()
    );
    drop(batches);
    let summary = import
        .await
        .unwrap()
        .expect("the import is taken")
        .into_inner();
    assert_eq!(summary.received, 50);
    // Once the import has ended, the snapshot it made due is written (the schedule
    // retries a refused snapshot after 5 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    while snapshots(&snapshot_dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no snapshot after the import ended: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.stop();
}
