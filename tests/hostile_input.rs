//! Random and hostile messages to every RPC of the four services.
//!
//! The messages are built at the protobuf wire level, without the schema: random
//! fields 1..=16 with random wire types, holding hostile values (huge and negative
//! numbers, `i64::MAX`, empty, long, control-character and invalid-UTF-8 strings,
//! nested messages), plus plain random bytes. Sent raw to every RPC path, they decode
//! into well-typed hostile requests, wrongly-typed ones and undecodable ones alike.
//!
//! For every call: no INTERNAL, UNKNOWN or DATA_LOSS (a caller's mistake is never the
//! server's failure); the error message and details stay small; and when the call is
//! refused, no row was added or removed in any of the four services' databases.
//! Run with `--nocapture` to see the calls and statuses per RPC.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use idic_testkit::TestSuite;
use idic_testkit::raw::RawCodec;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use sqlx::{Connection, Row, SqliteConnection};
use tonic::Code;

/// Cases per RPC: enough to hit every field number with several wire types, few
/// enough that the file runs well under a minute in a debug build. A longer hunt:
/// `IDIC_HOSTILE_CASES=200 cargo test --test hostile_input -- --nocapture`.
const CASES_PER_RPC: u32 = 24;

fn cases_per_rpc() -> u32 {
    std::env::var("IDIC_HOSTILE_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CASES_PER_RPC)
}
/// The largest status message a refusal may carry, in bytes.
const MAX_MESSAGE_BYTES: usize = 1024;
/// The largest `grpc-status-details-bin` a refusal may carry, in bytes (before
/// base64), well under a client's 16 KiB header limit.
const MAX_DETAILS_BYTES: usize = 8 * 1024;

const IDENTITY: &str = "idic.v1.IdentityService";
const DIFFERENTIATION: &str = "idic.v1.DifferentiationService";
const INTERACTION: &str = "idic.v1.InteractionService";
const CUSTOMIZATION: &str = "idic.v1.CustomizationService";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Unary,
    ServerStreaming,
    ClientStreaming,
}

/// Every RPC of the four services (47), with its streaming shape; checked against the
/// contracts by `the_list_holds_every_rpc_of_the_contracts`.
const RPCS: &[(&str, &str, Shape)] = &[
    (IDENTITY, "UpsertRecord", Shape::Unary),
    (IDENTITY, "ImportRecords", Shape::ClientStreaming),
    (IDENTITY, "Resolve", Shape::Unary),
    (IDENTITY, "GetCustomer", Shape::Unary),
    (IDENTITY, "LookupCustomerId", Shape::Unary),
    (IDENTITY, "ExplainMatch", Shape::Unary),
    (IDENTITY, "Merge", Shape::Unary),
    (IDENTITY, "Unmerge", Shape::Unary),
    (IDENTITY, "GetMergeHistory", Shape::Unary),
    (IDENTITY, "EraseCustomer", Shape::Unary),
    (IDENTITY, "ExportCustomer", Shape::Unary),
    (IDENTITY, "ExportClusters", Shape::ServerStreaming),
    (IDENTITY, "WatchChanges", Shape::ServerStreaming),
    (IDENTITY, "EstimateParameters", Shape::Unary),
    (IDENTITY, "Recluster", Shape::ServerStreaming),
    (DIFFERENTIATION, "RecordTransactions", Shape::Unary),
    (DIFFERENTIATION, "GetCustomerValue", Shape::Unary),
    (DIFFERENTIATION, "RefitModels", Shape::Unary),
    (DIFFERENTIATION, "ListCustomers", Shape::Unary),
    (DIFFERENTIATION, "GetValueSkew", Shape::Unary),
    (DIFFERENTIATION, "GetCustomerNeeds", Shape::Unary),
    (DIFFERENTIATION, "GetStrategy", Shape::Unary),
    (DIFFERENTIATION, "ExportCustomerData", Shape::Unary),
    (INTERACTION, "RecordInteraction", Shape::Unary),
    (INTERACTION, "RecordInteractions", Shape::Unary),
    (INTERACTION, "GetContext", Shape::Unary),
    (INTERACTION, "ListTimeline", Shape::Unary),
    (INTERACTION, "StreamTimeline", Shape::ServerStreaming),
    (INTERACTION, "StreamInteractions", Shape::ServerStreaming),
    (INTERACTION, "GetThread", Shape::Unary),
    (INTERACTION, "ListThreads", Shape::Unary),
    (INTERACTION, "IngestSegmentEvents", Shape::Unary),
    (INTERACTION, "RecordConsent", Shape::Unary),
    (INTERACTION, "CheckConsent", Shape::Unary),
    (INTERACTION, "GetPreferences", Shape::Unary),
    (INTERACTION, "GetChannelReport", Shape::Unary),
    (INTERACTION, "ExportCustomerData", Shape::Unary),
    (CUSTOMIZATION, "ListComponents", Shape::Unary),
    (CUSTOMIZATION, "UpsertComponents", Shape::Unary),
    (CUSTOMIZATION, "GetRules", Shape::Unary),
    (CUSTOMIZATION, "PublishRules", Shape::Unary),
    (CUSTOMIZATION, "GetTailoredOffering", Shape::Unary),
    (CUSTOMIZATION, "GetPackagingOptions", Shape::Unary),
    (CUSTOMIZATION, "RecordOutcome", Shape::Unary),
    (CUSTOMIZATION, "GetOffering", Shape::Unary),
    (CUSTOMIZATION, "GetLearningReport", Shape::Unary),
    (CUSTOMIZATION, "ExportCustomerData", Shape::Unary),
];

/// The list above is every RPC the contracts declare, each with its shape: an RPC
/// added to a contract and not here would go untested.
#[test]
fn the_list_holds_every_rpc_of_the_contracts() {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(idic_proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled contracts decode");
    let mut declared: Vec<(String, String, Shape)> = Vec::new();
    for file in set.file.iter().filter(|file| file.package() == "idic.v1") {
        for service in &file.service {
            for method in &service.method {
                let shape = match (method.client_streaming(), method.server_streaming()) {
                    (false, false) => Shape::Unary,
                    (false, true) => Shape::ServerStreaming,
                    (true, false) => Shape::ClientStreaming,
                    (true, true) => panic!("{} is bidirectional: add a shape", method.name()),
                };
                declared.push((
                    format!("idic.v1.{}", service.name()),
                    method.name().to_owned(),
                    shape,
                ));
            }
        }
    }
    let mut listed: Vec<(String, String, Shape)> = RPCS
        .iter()
        .map(|(service, method, shape)| ((*service).to_owned(), (*method).to_owned(), *shape))
        .collect();
    let key = |entry: &(String, String, Shape)| (entry.0.clone(), entry.1.clone());
    declared.sort_by_key(key);
    listed.sort_by_key(key);
    assert_eq!(
        listed, declared,
        "the hostile-input list differs from the contracts"
    );
}

/// What one call answered: OK, or the status of its refusal.
async fn call(
    channel: &tonic::transport::Channel,
    path: &str,
    shape: Shape,
    body: Vec<u8>,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("the channel is ready");
    let path = path.parse().expect("a valid path");
    let codec = RawCodec;
    let deadline = Duration::from_secs(20);
    match shape {
        Shape::Unary => {
            let mut request = tonic::Request::new(body);
            request.set_timeout(deadline);
            grpc.unary(request, path, codec).await.map(drop)
        }
        Shape::ClientStreaming => {
            let mut request = tonic::Request::new(futures::stream::iter(vec![body]));
            request.set_timeout(deadline);
            grpc.client_streaming(request, path, codec).await.map(drop)
        }
        Shape::ServerStreaming => {
            let mut request = tonic::Request::new(body);
            request.set_timeout(deadline);
            let mut stream = grpc
                .server_streaming(request, path, codec)
                .await?
                .into_inner();
            // Watches never end: the first message (or a refusal) is what counts.
            match tokio::time::timeout(Duration::from_millis(200), stream.message()).await {
                Ok(Err(status)) => Err(status),
                Ok(Ok(_)) | Err(_) => Ok(()),
            }
        }
    }
}

// ---- "nothing stored": the row count of every table of every database ----

/// Row counts by `database.table`, over every SQLite file of the suite.
struct Fingerprint {
    connections: Vec<(String, SqliteConnection)>,
}

impl Fingerprint {
    async fn open(data_dir: &Path) -> Fingerprint {
        let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir)
            .expect("the data directory")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "db"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 4, "one database per service: {files:?}");
        let mut connections = Vec::new();
        for file in files {
            let url = format!("sqlite://{}?mode=ro", file.display());
            let connection = SqliteConnection::connect(&url)
                .await
                .expect("the service database opens read-only");
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            connections.push((name, connection));
        }
        Fingerprint { connections }
    }

    async fn counts(&mut self) -> BTreeMap<String, i64> {
        let mut counts = BTreeMap::new();
        for (database, connection) in &mut self.connections {
            let tables: Vec<String> = sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
            )
            .fetch_all(&mut *connection)
            .await
            .expect("the table list")
            .iter()
            .map(|row| row.get(0))
            .collect();
            for table in tables {
                let count: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM \"{table}\""))
                    .fetch_one(&mut *connection)
                    .await
                    .expect("a row count")
                    .get(0);
                counts.insert(format!("{database}.{table}"), count);
            }
        }
        counts
    }

    /// The counts once background work (event consumers, outboxes) has settled.
    async fn settled(&mut self) -> BTreeMap<String, i64> {
        let mut previous = self.counts().await;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let current = self.counts().await;
            if current == previous {
                return current;
            }
            previous = current;
        }
        previous
    }
}

// ---- hostile messages at the wire level ----

#[derive(Debug, Clone)]
enum WireValue {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(Vec<u8>),
    Message(Vec<WireField>),
}

#[derive(Debug, Clone)]
struct WireField {
    number: u32,
    value: WireValue,
}

fn encode_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn encode_fields(fields: &[WireField]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        let (wire_type, payload): (u64, Vec<u8>) = match &field.value {
            WireValue::Varint(value) => {
                let mut bytes = Vec::new();
                encode_varint(*value, &mut bytes);
                (0, bytes)
            }
            WireValue::Fixed64(value) => (1, value.to_le_bytes().to_vec()),
            WireValue::Fixed32(value) => (5, value.to_le_bytes().to_vec()),
            WireValue::Bytes(bytes) => {
                let mut framed = Vec::new();
                encode_varint(bytes.len() as u64, &mut framed);
                framed.extend_from_slice(bytes);
                (2, framed)
            }
            WireValue::Message(fields) => {
                let inner = encode_fields(fields);
                let mut framed = Vec::new();
                encode_varint(inner.len() as u64, &mut framed);
                framed.extend(inner);
                (2, framed)
            }
        };
        encode_varint((u64::from(field.number) << 3) | wire_type, &mut out);
        out.extend(payload);
    }
    out
}

/// Numbers that break careless code: bounds, signs, sums that overflow.
fn hostile_number() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(2),
        Just(3),
        Just(7),
        Just(u64::MAX),        // -1 as int64/int32
        Just(i64::MAX as u64), // two of them overflow a sum
        Just(i64::MIN as u64),
        Just(u64::from(u32::MAX)),
        Just(1_000_000_000_000_001), // above the money bound
        Just(253_402_300_800),       // year 10000 in seconds
        Just(100_000),
        Just(5_000_000),
        any::<u64>(),
    ]
}

/// Texts a caller should not send: empty, blank, long, control characters, wrong
/// shapes of e-mails, phones and ids, bidirectional overrides, invalid UTF-8.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b"   ".to_vec()),
        Just(b"bad@@x".to_vec()),
        Just(b"ada@example.com".to_vec()),
        Just(b"+44 20 7946 0000".to_vec()),
        Just(b"cus_00000000000000000000000000".to_vec()),
        Just(b"EUR".to_vec()),
        Just(b"A".to_vec()),
        Just(b"'; DROP TABLE customers; --".to_vec()),
        Just("\u{202e}evil\u{0000}\u{0007}".as_bytes().to_vec()),
        Just(vec![0xff, 0xfe, 0xfd]),
        Just(
            br#"{"type":"identify","messageId":"m","userId":"u","traits":{"email":"bad@@x"}}"#
                .to_vec()
        ),
        Just(b"x".repeat(70_000)),
        Just("\u{e9}".repeat(3_000).into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..64),
        "[a-z0-9_:@.+-]{1,24}".prop_map(String::into_bytes),
    ]
}

fn wire_message() -> impl Strategy<Value = Vec<WireField>> {
    let leaf = (1u32..=16, leaf_value()).prop_map(|(number, value)| WireField { number, value });
    let field = leaf.prop_recursive(3, 24, 6, |inner| {
        (1u32..=16, proptest::collection::vec(inner, 0..6)).prop_map(|(number, fields)| WireField {
            number,
            value: WireValue::Message(fields),
        })
    });
    proptest::collection::vec(field, 0..10)
}

fn leaf_value() -> impl Strategy<Value = WireValue> {
    prop_oneof![
        3 => hostile_number().prop_map(WireValue::Varint),
        1 => hostile_number().prop_map(WireValue::Fixed64),
        1 => any::<u32>().prop_map(WireValue::Fixed32),
        3 => hostile_bytes().prop_map(WireValue::Bytes),
    ]
}

/// A request body: a random wire message, a repeated field flooding the server, or
/// plain random bytes (mostly undecodable).
fn request_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => wire_message().prop_map(|fields| encode_fields(&fields)),
        1 => (1u32..=16, hostile_bytes(), 1_000usize..100_000).prop_map(|(number, bytes, copies)| {
            // At most ~3 MB: under the server's 4 MiB message limit.
            let copies = copies.min(3_000_000 / (bytes.len() + 4));
            let field = WireField { number, value: WireValue::Bytes(bytes) };
            encode_fields(&vec![field; copies])
        }),
        1 => (1u32..=16, 1_000usize..20_000).prop_map(|(number, copies)| {
            let field = WireField { number, value: WireValue::Varint(u64::from(u32::MAX)) };
            encode_fields(&vec![field; copies])
        }),
        2 => proptest::collection::vec(any::<u8>(), 1..256),
    ]
}

// ---- the run ----

#[derive(Default)]
struct Tally {
    calls: u64,
    statuses: BTreeMap<String, u64>,
    largest_error: usize,
}

impl Tally {
    fn record(&mut self, code: Code) {
        self.calls += 1;
        *self.statuses.entry(format!("{code:?}")).or_default() += 1;
    }

    fn record_error_size(&mut self, size: usize) {
        self.largest_error = self.largest_error.max(size);
    }
}

fn check_refusal(status: &tonic::Status) -> Result<usize, TestCaseError> {
    prop_assert!(
        !matches!(
            status.code(),
            Code::Internal | Code::Unknown | Code::DataLoss
        ),
        "a caller's mistake answered {:?}: {}",
        status.code(),
        status.message()
    );
    prop_assert!(
        status.message().len() <= MAX_MESSAGE_BYTES,
        "a {}-byte message",
        status.message().len()
    );
    prop_assert!(
        status.details().len() <= MAX_DETAILS_BYTES,
        "{}-byte details",
        status.details().len()
    );
    Ok(status.message().len() + status.details().len())
}

#[test]
fn every_rpc_survives_hostile_messages() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let suite = runtime.block_on(TestSuite::start());
    // The runner's closure is `Fn`: the state it updates sits behind locks.
    let fingerprint =
        tokio::sync::Mutex::new(runtime.block_on(Fingerprint::open(&suite.config.data_dir)));
    let _inside_the_runtime = runtime.enter();
    let channel = tonic::transport::Channel::from_shared(suite.endpoint())
        .expect("a valid endpoint")
        .connect_lazy();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for (service, method, shape) in RPCS {
        let path = format!("/{service}/{method}");
        let mut runner = TestRunner::new(ProptestConfig {
            cases: cases_per_rpc(),
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let tally = std::sync::Mutex::new(Tally::default());
        let outcome = runner.run(&request_body(), |body| {
            runtime.block_on(async {
                let mut fingerprint = fingerprint.lock().await;
                let before = fingerprint.settled().await;
                let answer = call(&channel, &path, *shape, body).await;
                let code = match &answer {
                    Ok(()) => Code::Ok,
                    Err(status) => status.code(),
                };
                tally.lock().unwrap().record(code);
                if let Err(status) = answer {
                    let size = check_refusal(&status)?;
                    tally.lock().unwrap().record_error_size(size);
                    let after = fingerprint.counts().await;
                    prop_assert_eq!(
                        &before,
                        &after,
                        "{} refused ({:?}: {}) but changed what is stored",
                        path,
                        status.code(),
                        status.message()
                    );
                }
                Ok(())
            })
        });
        if let Err(failure) = outcome {
            panic!("{path}: {failure}");
        }
        tallies.insert(format!("{service}/{method}"), tally.into_inner().unwrap());
    }
    let mut total_calls = 0;
    let mut largest_error = 0;
    for (rpc, tally) in &tallies {
        total_calls += tally.calls;
        largest_error = largest_error.max(tally.largest_error);
        println!(
            "{rpc}: {} calls, {:?}, largest error {} bytes",
            tally.calls, tally.statuses, tally.largest_error
        );
    }
    println!(
        "{} RPCs, {total_calls} calls, largest error {largest_error} bytes",
        tallies.len()
    );
    runtime.block_on(suite.stop()).expect("the suite stops");
}
