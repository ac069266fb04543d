//! What an operator scrapes from `/metrics` of each process: every metric with HELP
//! text and present at zero from the start, then moving with traffic.

use crate::cluster::{Cluster, SERVICES, Service};

/// The value of the first sample of `name` whose labels include every one of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

fn has_help(text: &str, name: &str) -> bool {
    text.lines()
        .any(|line| line.starts_with(&format!("# HELP {name} ")) && line.len() > name.len() + 20)
}

/// Label name and value pairs a sample must carry.
type Labels = &'static [(&'static str, &'static str)];

/// Present in every process, with HELP: (metric, sample name, labels).
const EVERY_PROCESS: &[(&str, &str, Labels)] = &[
    (
        "rpc_server_call_duration_seconds",
        "rpc_server_call_duration_seconds_count",
        &[("rpc_system", "grpc"), ("rpc_response_status_code", "OK")],
    ),
    (
        "idic_resolve_cache_lookups_total",
        "idic_resolve_cache_lookups_total",
        &[("result", "hit")],
    ),
    (
        "idic_outbox_backlog_events",
        "idic_outbox_backlog_events",
        &[],
    ),
    (
        "idic_bus_publish_lag_seconds",
        "idic_bus_publish_lag_seconds_count",
        &[],
    ),
    (
        "idic_bus_consume_lag_seconds",
        "idic_bus_consume_lag_seconds_count",
        &[],
    ),
    ("idic_grpc_shed_total", "idic_grpc_shed_total", &[]),
    (
        "idic_grpc_open_connections",
        "idic_grpc_open_connections",
        &[],
    ),
    (
        "idic_database_connections",
        "idic_database_connections",
        &[("state", "idle")],
    ),
];

/// Every process of a cluster no client has called yet.
pub async fn fresh_processes_show_every_metric_at_zero(cluster: &Cluster) {
    for service in SERVICES {
        let text = cluster.scrape(service).await;
        for (metric, sample_name, labels) in EVERY_PROCESS {
            assert!(
                has_help(&text, metric),
                "{service:?}: HELP of {metric}\n{text}"
            );
            assert!(
                sample(&text, sample_name, labels).is_some(),
                "{service:?}: {sample_name}{labels:?} at start\n{text}"
            );
        }
        let memory = sample(&text, "process_resident_memory_bytes", &[]).unwrap_or_default();
        assert!(memory > 1e6, "{service:?}: resident memory {memory}");
        assert!(has_help(&text, "process_resident_memory_bytes"));
    }
    let identity = cluster.scrape(Service::Identity).await;
    // No one has asked identity to estimate parameters: its series is there, at zero.
    assert_eq!(
        sample(
            &identity,
            "rpc_server_call_duration_seconds_count",
            &[("rpc_method", "EstimateParameters")]
        ),
        Some(0.0)
    );
    for gauge in [
        "idic_identity_engine_records",
        "idic_identity_engine_customers",
    ] {
        assert!(has_help(&identity, gauge));
        assert_eq!(sample(&identity, gauge, &[]), Some(0.0), "{gauge}");
    }
    let customization = cluster.scrape(Service::Customization).await;
    for source in ["identity", "differentiation", "interaction"] {
        assert_eq!(
            sample(
                &customization,
                "idic_offerings_degraded_total",
                &[("missing_source", source)]
            ),
            Some(0.0),
            "degraded offerings missing {source}"
        );
        assert_eq!(
            sample(
                &customization,
                "idic_circuit_breaker_state",
                &[("dependency", source)]
            ),
            Some(0.0),
            "the breaker of {source} is closed"
        );
    }
    assert!(has_help(&customization, "idic_offerings_degraded_total"));
    assert!(has_help(&customization, "idic_circuit_breaker_state"));
}

/// After the stories: calls served and made, events relayed and consumed, records
/// held, all counted.
pub async fn after_traffic_the_metrics_moved(cluster: &Cluster) {
    let customization = cluster.scrape(Service::Customization).await;
    let offerings = sample(
        &customization,
        "rpc_server_call_duration_seconds_count",
        &[
            ("rpc_method", "GetTailoredOffering"),
            ("rpc_response_status_code", "OK"),
        ],
    )
    .unwrap_or_default();
    assert!(offerings >= 1.0, "offerings served: {offerings}");
    assert!(has_help(&customization, "rpc_client_call_duration_seconds"));
    let asked_identity = sample(
        &customization,
        "rpc_client_call_duration_seconds_count",
        &[("rpc_service", "idic.v1.IdentityService")],
    )
    .unwrap_or_default();
    assert!(asked_identity >= 1.0, "calls to identity: {asked_identity}");

    let identity = cluster.scrape(Service::Identity).await;
    let published =
        sample(&identity, "idic_bus_publish_lag_seconds_count", &[]).unwrap_or_default();
    assert!(published >= 1.0, "identity's changes relayed: {published}");
    let records = sample(&identity, "idic_identity_engine_records", &[]).unwrap_or_default();
    assert!(records >= 30.0, "records in the engine: {records}");

    let interaction = cluster.scrape(Service::Interaction).await;
    let consumed =
        sample(&interaction, "idic_bus_consume_lag_seconds_count", &[]).unwrap_or_default();
    assert!(
        consumed >= 1.0,
        "events consumed by interaction: {consumed}"
    );
    let lookups = sample(
        &interaction,
        "idic_resolve_cache_lookups_total",
        &[("result", "hit")],
    )
    .unwrap_or_default()
        + sample(
            &interaction,
            "idic_resolve_cache_lookups_total",
            &[("result", "miss")],
        )
        .unwrap_or_default();
    assert!(lookups >= 1.0, "interaction resolved references: {lookups}");
}

/// After offerings made while interaction hung.
pub async fn a_degraded_offering_is_counted(cluster: &Cluster) {
    let customization = cluster.scrape(Service::Customization).await;
    let degraded = sample(
        &customization,
        "idic_offerings_degraded_total",
        &[("missing_source", "interaction")],
    )
    .unwrap_or_default();
    assert!(
        degraded >= 1.0,
        "offerings degraded by interaction: {degraded}"
    );
}
