//! Logs and traces. Human-readable logs by default, JSON with `IDIC_LOG_FORMAT=json`;
//! OpenTelemetry traces exported over OTLP/gRPC when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set. W3C trace context
//! travels in gRPC metadata: [`extract_context`] on the way in, [`inject_context`] out.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::global;
use opentelemetry::propagation::Injector;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Whether spans are exported; when not, trace context is not parsed at all.
static TRACING_EXPORT: AtomicBool = AtomicBool::new(false);

/// Flushes and stops trace export when dropped (at the end of `main`).
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("trace export did not shut down cleanly: {error}");
        }
    }
}

/// Installs the global subscriber. Call once, early in `main`. A second call (tests)
/// keeps the first subscriber.
pub fn init(format: LogFormat, default_filter: &str) -> anyhow::Result<TelemetryGuard> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let filter =
        EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(default_filter))?;
    let logs = match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let provider = otlp_provider()?;
    // The log filter is the logs' alone: an operator who quiets the logs to `warn`
    // must not switch off the traces, whose spans are at `info`.
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("idic"))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    let installed = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .try_init()
        .is_ok();
    if installed && provider.is_some() {
        TRACING_EXPORT.store(true, Ordering::Relaxed);
        tracing::info!("exporting traces over OTLP");
    }
    Ok(TelemetryGuard { provider })
}

fn otlp_provider() -> anyhow::Result<Option<SdkTracerProvider>> {
    let configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
    if !configured {
        return Ok(None);
    }
    // The exporter reads the endpoint, headers and timeout from the standard variables.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "idic".to_owned()))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    global::set_tracer_provider(provider.clone());
    Ok(Some(provider))
}

/// Whether spans are exported over OTLP.
pub fn exporting_traces() -> bool {
    TRACING_EXPORT.load(Ordering::Relaxed)
}

/// Makes `span` a child of the trace named in the incoming `traceparent`, if any.
pub fn extract_context(headers: &http::HeaderMap, span: &tracing::Span) {
    if !TRACING_EXPORT.load(Ordering::Relaxed) || !headers.contains_key("traceparent") {
        return;
    }
    let parent = global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
    });
    // Fails only when the span is disabled, in which case there is nothing to link.
    let _ = span.set_parent(parent);
}

/// Writes the current span's trace context into outgoing gRPC metadata.
pub fn inject_context(metadata: &mut tonic::metadata::MetadataMap) {
    if !TRACING_EXPORT.load(Ordering::Relaxed) {
        return;
    }
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(metadata))
    });
}

/// Writes `span`'s trace context into outgoing HTTP headers (a peer call's client span).
pub fn inject_span_context(span: &tracing::Span, headers: &mut http::HeaderMap) {
    if !TRACING_EXPORT.load(Ordering::Relaxed) || span.is_none() {
        return;
    }
    let context = span.context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut opentelemetry_http::HeaderInjector(headers))
    });
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}
