//! The metrics an operator watches, in one place: every name with its HELP text,
//! registered at zero when the server starts (a dashboard or an alert sees a series
//! before anything has happened, and `rate()` works from the first failure), and the
//! functions the rest of the code records through.
//!
//! Per-call latency follows the OpenTelemetry RPC semantic conventions
//! (`rpc.server.call.duration` and `rpc.client.call.duration` in seconds, with
//! `rpc.system`, `rpc.service`, `rpc.method` and `rpc.response.status_code`), spelled
//! as an OpenTelemetry Prometheus exporter spells them: dots become underscores and
//! the unit is a `_seconds` suffix.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

pub const RPC_SERVER_DURATION: &str = "rpc_server_call_duration_seconds";
pub const RPC_CLIENT_DURATION: &str = "rpc_client_call_duration_seconds";
pub const OFFERINGS_DEGRADED: &str = "idic_offerings_degraded_total";
pub const CIRCUIT_BREAKER_STATE: &str = "idic_circuit_breaker_state";
pub const OUTBOX_BACKLOG: &str = "idic_outbox_backlog_events";
pub const BUS_PUBLISH_LAG: &str = "idic_bus_publish_lag_seconds";
pub const BUS_CONSUME_LAG: &str = "idic_bus_consume_lag_seconds";
pub const RESOLVE_CACHE_LOOKUPS: &str = "idic_resolve_cache_lookups_total";
pub const IDENTITY_ENGINE_RECORDS: &str = "idic_identity_engine_records";
pub const IDENTITY_ENGINE_CUSTOMERS: &str = "idic_identity_engine_customers";
pub const IDENTITY_AUTO_ESTIMATE_RUNS: &str = "idic_identity_auto_estimate_runs_total";
pub const IDENTITY_AUTO_ESTIMATE_RUNNING: &str = "idic_identity_auto_estimate_running";
pub const IDENTITY_AUTO_ESTIMATE_GROUPS_CHANGED: &str =
    "idic_identity_auto_estimate_groups_changed_total";
/// The stages of the automatic estimate that `IDENTITY_AUTO_ESTIMATE_RUNS` counts.
pub const AUTO_ESTIMATE_EVENTS: [&str; 3] = ["started", "finished", "failed"];
pub const PROCESS_MEMORY: &str = "process_resident_memory_bytes";
pub const OPEN_CONNECTIONS: &str = "idic_grpc_open_connections";
pub const DATABASE_CONNECTIONS: &str = "idic_database_connections";

/// The dependencies an offering is composed from, as `missing_source` and
/// `dependency` label values.
pub const OFFERING_SOURCES: [&str; 3] = ["identity", "differentiation", "interaction"];

/// The status code of a gRPC response as the semantic conventions name it.
pub fn status_code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The HELP text of every metric; called once, by [`register_server`].
fn describe_all() {
    describe_histogram!(
        RPC_SERVER_DURATION,
        Unit::Seconds,
        "Duration of gRPC calls this process served (OpenTelemetry rpc.server.call.duration), by rpc_service, rpc_method and rpc_response_status_code"
    );
    describe_histogram!(
        RPC_CLIENT_DURATION,
        Unit::Seconds,
        "Duration of gRPC calls this process made to its peers (OpenTelemetry rpc.client.call.duration), by rpc_service, rpc_method and rpc_response_status_code"
    );
    describe_counter!(
        "idic_grpc_requests_total",
        "gRPC calls served, by service, method and status code"
    );
    describe_counter!(
        "idic_grpc_shed_total",
        "gRPC calls refused UNAVAILABLE because the concurrency limit was reached"
    );
    describe_counter!(
        OFFERINGS_DEGRADED,
        "Offerings and packaging answers made without a source, by the missing_source that was late, failing or skipped by its open circuit breaker"
    );
    describe_gauge!(
        CIRCUIT_BREAKER_STATE,
        "State of customization's circuit breaker per dependency: 0 closed, 1 open (calls skipped), 2 half-open (one probe in flight)"
    );
    describe_gauge!(
        OUTBOX_BACKLOG,
        "Events written to this process's outboxes and not yet published on the bus, after the last relay pass"
    );
    describe_histogram!(
        BUS_PUBLISH_LAG,
        Unit::Seconds,
        "Time from an event's commit in the outbox to its publication on the bus"
    );
    describe_histogram!(
        BUS_CONSUME_LAG,
        Unit::Seconds,
        "Time from an event's publication on the bus to its delivery to a consumer group member of this process"
    );
    describe_counter!(
        RESOLVE_CACHE_LOOKUPS,
        "Lookups of customer references in this process's resolve cache, by result (hit or miss); a miss asks identity"
    );
    describe_gauge!(
        IDENTITY_ENGINE_RECORDS,
        "Live source records held by the identity engine in memory"
    );
    describe_gauge!(
        IDENTITY_ENGINE_CUSTOMERS,
        "Live customers (clusters) held by the identity engine in memory"
    );
    describe_counter!(
        IDENTITY_AUTO_ESTIMATE_RUNS,
        "Automatic parameter estimates and reclusters after an import, by event (started, finished, failed)"
    );
    describe_gauge!(
        IDENTITY_AUTO_ESTIMATE_RUNNING,
        "1 while the automatic parameter estimate and recluster after an import runs, else 0"
    );
    describe_counter!(
        IDENTITY_AUTO_ESTIMATE_GROUPS_CHANGED,
        "Groups of records whose clusters the automatic recluster after an import changed"
    );
    describe_gauge!(
        PROCESS_MEMORY,
        Unit::Bytes,
        "Resident memory of this process (VmRSS)"
    );
    describe_gauge!(
        OPEN_CONNECTIONS,
        "Client connections open on this process's gRPC port"
    );
    describe_gauge!(
        DATABASE_CONNECTIONS,
        "Connections of this process's database pools, by service and state (idle or in_use)"
    );
}

/// One gRPC method of a served service, for the series registered at zero.
pub struct ServedMethod {
    pub service: &'static str,
    pub method: &'static str,
}

/// Describes every metric and registers at zero the series an operator's dashboard
/// and alerts start from: latency of each served RPC (as `OK`), degraded offerings by
/// source and breaker states (customization), resolve-cache lookups, outbox backlog,
/// bus lags, engine size, memory, connections.
pub fn register_server(methods: &[ServedMethod], customization: bool) {
    describe_all();
    for served in methods {
        // Registering the handle is what makes the series exist; nothing is recorded.
        let _registered = metrics::histogram!(
            RPC_SERVER_DURATION,
            "rpc_system" => "grpc",
            "rpc_service" => served.service,
            "rpc_method" => served.method,
            "rpc_response_status_code" => "OK"
        );
    }
    if customization {
        for source in OFFERING_SOURCES {
            metrics::counter!(OFFERINGS_DEGRADED, "missing_source" => source).absolute(0);
            metrics::gauge!(CIRCUIT_BREAKER_STATE, "dependency" => source).set(0.0);
        }
    }
    for result in ["hit", "miss"] {
        metrics::counter!(RESOLVE_CACHE_LOOKUPS, "result" => result).absolute(0);
    }
    metrics::counter!("idic_grpc_shed_total").absolute(0);
    metrics::gauge!(OUTBOX_BACKLOG).set(0.0);
    let _registered = metrics::histogram!(BUS_PUBLISH_LAG);
    let _registered = metrics::histogram!(BUS_CONSUME_LAG);
    metrics::gauge!(OPEN_CONNECTIONS).set(0.0);
    for event in AUTO_ESTIMATE_EVENTS {
        metrics::counter!(IDENTITY_AUTO_ESTIMATE_RUNS, "event" => event).absolute(0);
    }
    metrics::gauge!(IDENTITY_AUTO_ESTIMATE_RUNNING).set(0.0);
    metrics::counter!(IDENTITY_AUTO_ESTIMATE_GROUPS_CHANGED).absolute(0);
    refresh_process_memory();
}

/// Records a served call.
pub fn record_server_call(
    service: &'static str,
    method: &'static str,
    code: &'static str,
    took: Duration,
) {
    metrics::histogram!(
        RPC_SERVER_DURATION,
        "rpc_system" => "grpc",
        "rpc_service" => service,
        "rpc_method" => method,
        "rpc_response_status_code" => code
    )
    .record(took.as_secs_f64());
}

/// Records a call made to a peer; `service` and `method` come from the path this
/// process built, never from a caller.
pub fn record_client_call(service: String, method: String, code: &'static str, took: Duration) {
    metrics::histogram!(
        RPC_CLIENT_DURATION,
        "rpc_system" => "grpc",
        "rpc_service" => service,
        "rpc_method" => method,
        "rpc_response_status_code" => code
    )
    .record(took.as_secs_f64());
}

/// Counts an offering (or packaging answer) made without `missing` sources.
pub fn record_degraded(missing: &[String]) {
    for source in missing {
        let source = OFFERING_SOURCES
            .iter()
            .find(|known| **known == source.as_str())
            .copied()
            .unwrap_or("other");
        metrics::counter!(OFFERINGS_DEGRADED, "missing_source" => source).increment(1);
    }
}

/// A circuit breaker's state as [`CIRCUIT_BREAKER_STATE`] encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

pub fn record_breaker_state(dependency: &'static str, state: BreakerState) {
    let value = match state {
        BreakerState::Closed => 0.0,
        BreakerState::Open => 1.0,
        BreakerState::HalfOpen => 2.0,
    };
    metrics::gauge!(CIRCUIT_BREAKER_STATE, "dependency" => dependency).set(value);
}

pub fn record_resolve_cache(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!(RESOLVE_CACHE_LOOKUPS, "result" => result).increment(1);
}

/// Outbox backlogs per outbox (a process running several services has several),
/// summed into the one gauge.
fn backlogs() -> &'static Mutex<std::collections::BTreeMap<usize, u64>> {
    static BACKLOGS: OnceLock<Mutex<std::collections::BTreeMap<usize, u64>>> = OnceLock::new();
    BACKLOGS.get_or_init(Mutex::default)
}

/// The backlog of the outbox numbered `outbox` after a relay pass.
pub fn record_outbox_backlog(outbox: usize, events: u64) {
    let mut backlogs = backlogs()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    backlogs.insert(outbox, events);
    metrics::gauge!(OUTBOX_BACKLOG).set(backlogs.values().sum::<u64>() as f64);
}

pub fn record_publish_lag(lag: Duration) {
    metrics::histogram!(BUS_PUBLISH_LAG).record(lag.as_secs_f64());
}

pub fn record_consume_lag(lag: Duration) {
    metrics::histogram!(BUS_CONSUME_LAG).record(lag.as_secs_f64());
}

/// The identity engine's size, set at each scrape.
pub fn record_identity_engine(records: usize, customers: usize) {
    metrics::gauge!(IDENTITY_ENGINE_RECORDS).set(records as f64);
    metrics::gauge!(IDENTITY_ENGINE_CUSTOMERS).set(customers as f64);
}

/// A stage of the automatic estimate after an import (one of `AUTO_ESTIMATE_EVENTS`);
/// a finished run adds the groups its recluster changed.
pub fn record_auto_estimate(event: &'static str, groups_changed: u64) {
    debug_assert!(AUTO_ESTIMATE_EVENTS.contains(&event));
    metrics::counter!(IDENTITY_AUTO_ESTIMATE_RUNS, "event" => event).increment(1);
    let running = if event == "started" { 1.0 } else { 0.0 };
    metrics::gauge!(IDENTITY_AUTO_ESTIMATE_RUNNING).set(running);
    metrics::counter!(IDENTITY_AUTO_ESTIMATE_GROUPS_CHANGED).increment(groups_changed);
}

/// Work done just before each scrape: gauges whose value is cheaper to read when
/// asked than to keep current (engine size, pool connections).
/// A hook returns false once what it reports is gone (a closed pool): it is dropped.
type ScrapeHook = Arc<dyn Fn() -> bool + Send + Sync>;

fn scrape_hooks() -> &'static Mutex<Vec<ScrapeHook>> {
    static HOOKS: OnceLock<Mutex<Vec<ScrapeHook>>> = OnceLock::new();
    HOOKS.get_or_init(Mutex::default)
}

/// Runs `hook` before every scrape (and once now, so the gauge exists from the
/// start) until it returns false.
pub fn on_scrape(hook: impl Fn() -> bool + Send + Sync + 'static) {
    if hook() {
        scrape_hooks()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arc::new(hook));
    }
}

/// Brings the scrape-time gauges up to date; the admin server calls it before render.
pub fn refresh() {
    refresh_process_memory();
    let hooks: Vec<ScrapeHook> = scrape_hooks()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let finished: Vec<ScrapeHook> = hooks.into_iter().filter(|hook| !hook()).collect();
    if !finished.is_empty() {
        scrape_hooks()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|hook| !finished.iter().any(|done| Arc::ptr_eq(done, hook)));
    }
}

fn refresh_process_memory() {
    if let Some(bytes) = resident_memory_bytes() {
        metrics::gauge!(PROCESS_MEMORY).set(bytes as f64);
    }
}

/// VmRSS from `/proc/self/status` (Linux); `None` elsewhere.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kilobytes * 1024)
}

/// Counts an open gRPC connection for as long as it lives.
pub struct ConnectionGuard(());

impl ConnectionGuard {
    pub fn open() -> ConnectionGuard {
        metrics::gauge!(OPEN_CONNECTIONS).increment(1.0);
        ConnectionGuard(())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        metrics::gauge!(OPEN_CONNECTIONS).decrement(1.0);
    }
}

/// Reports the pool of `service`'s database at every scrape.
pub fn watch_database_pool(service: &'static str, pool: sqlx::AnyPool) {
    on_scrape(move || {
        if pool.is_closed() {
            return false;
        }
        let size = pool.size() as f64;
        let idle = pool.num_idle() as f64;
        metrics::gauge!(DATABASE_CONNECTIONS, "service" => service, "state" => "idle").set(idle);
        metrics::gauge!(DATABASE_CONNECTIONS, "service" => service, "state" => "in_use")
            .set((size - idle).max(0.0));
        true
    });
}
