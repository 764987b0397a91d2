//! Traces with OpenTelemetry, off unless an OTLP endpoint is named (the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): the existing
//! `tracing` spans — one per request (`api::edge`), one per database transaction
//! (`db::TenantTx`), one per webhook attempt (`webhooks::worker`) — exported over
//! OTLP/HTTP with protobuf. Every other setting is the SDK's own reading of the standard
//! `OTEL_*` variables (sampler, batch processor, headers, timeout, resource), so an
//! operator configures it as any OpenTelemetry service; only the default service name
//! (`momentum`) is ours.
//!
//! The context travels as W3C trace context (`traceparent`, `tracestate`): in from a
//! client's request, out to the database with each tenant transaction (so an event
//! remembers the change that caused it, migration `20261208100001_event_traceparent`),
//! and on to the receiver of each webhook.
//!
//! Off costs the hot path nothing it did not already do: callers ask [`enabled`] (one
//! relaxed atomic load) before anything that would allocate for a trace, and the spans
//! only traces use are at `debug` level, which the default log filter turns away before
//! they exist. A leaf module: it imports nothing of the crate, so any layer may use it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::{Layer, Registry};

/// Whether spans are exported: set once at start, read on every request.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported. Everything that would cost a trace something (reading
/// the incoming context, recording attributes only traces show, formatting the context
/// for the database) asks this first.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES`
/// gives one (the SDK would say `unknown_service`).
pub const DEFAULT_SERVICE_NAME: &str = "momentum";

/// The span layer for the log subscriber, and what flushes it at exit.
pub struct Pipeline {
    pub layer: Box<dyn Layer<Registry> + Send + Sync>,
    pub traces: Traces,
}

/// The running exporter. [`Traces::shutdown`] sends what is still queued: call it once
/// the process has stopped serving and working, so the last requests' spans are not lost.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Flushes the queued spans and stops the exporter, waiting at most
    /// `OTEL_BSP_EXPORT_TIMEOUT` for the collector. The SDK blocks its caller while it
    /// waits for its own task, so this runs on a blocking thread, never on the runtime's.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match stopped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "could not flush the last traces"),
            Err(err) => tracing::warn!(error = %err, "could not flush the last traces"),
        }
    }
}

/// Whether the environment asks for traces: an OTLP endpoint for traces (or for every
/// signal) is set and not empty, and neither `OTEL_SDK_DISABLED=true` nor
/// `OTEL_TRACES_EXPORTER=none` turns them off.
pub fn requested() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let is = |name: &str, value: &str| {
        std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    (set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT"))
        && !is("OTEL_SDK_DISABLED", "true")
        && !is("OTEL_TRACES_EXPORTER", "none")
}

/// The OTLP pipeline when [`requested`], else `None`. Must run inside the Tokio runtime:
/// the batch processor is a task of it. An endpoint the exporter cannot use stops the
/// start, naming the variable.
pub fn pipeline() -> anyhow::Result<Option<Pipeline>> {
    if !requested() {
        return Ok(None);
    }
    // The SDK falls back to `localhost:4318` on an endpoint it cannot parse: a typo would
    // send the traces nowhere, silently. The value is not repeated (it may hold
    // credentials).
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        let value = std::env::var(name).unwrap_or_default();
        anyhow::ensure!(
            value.trim().is_empty() || is_endpoint(&value),
            "{name} must be the collector's OTLP/HTTP address, an http:// or https:// URL \
             (`http://otel-collector:4318`)"
        );
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .context(
            "OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): cannot \
             export traces there",
        )?;
    // The async-runtime processor, because the exporter's client is the async reqwest
    // the server already builds; its batch settings come from `OTEL_BSP_*`.
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource())
        .build();
    let tracer = provider.tracer("momentum");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Attributes no one asked for, each an allocation per span.
        .with_threads(false)
        .with_location(false)
        .with_tracked_inactivity(false)
        .with_filter(filter_fn(|meta| {
            // Our own spans (requests, transactions, webhook attempts), and warnings and
            // errors as events on them (an error marks its span failed). Not sqlx's or
            // hyper's: the transaction's span stands for its statements.
            meta.target().starts_with("momentum")
                && if meta.is_span() {
                    *meta.level() <= Level::DEBUG
                } else {
                    *meta.level() <= Level::WARN
                }
        }));
    ENABLED.store(true, Ordering::Relaxed);
    Ok(Some(Pipeline {
        layer: Box::new(layer),
        traces: Traces { provider },
    }))
}

/// The resource the SDK reads from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`,
/// with [`DEFAULT_SERVICE_NAME`] when neither names the service, and the version.
fn resource() -> Resource {
    let attributes = std::env::var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    let given = |key: &str| {
        attributes
            .split(',')
            .any(|pair| pair.split_once('=').is_some_and(|(k, _)| k.trim() == key))
    };
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || given("service.name");
    let mut builder = Resource::builder();
    if !named {
        builder = builder.with_service_name(DEFAULT_SERVICE_NAME);
    }
    if !given("service.version") {
        builder = builder.with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ));
    }
    builder.build()
}

/// Continues the trace a request's `traceparent` (and `tracestate`) names: `span` becomes
/// a child of that remote span. Nothing happens without a valid header.
pub fn continue_trace(span: &tracing::Span, headers: &poem::http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_valid() {
        adopt(span, parent);
    }
}

/// Adds the tenant to the current span (the request's, once its credential is known).
pub fn record_tenant(tenant_id: impl std::fmt::Display) {
    if enabled() {
        tracing::Span::current().record("tenant.id", tracing::field::display(tenant_id));
    }
}

/// Makes `span` a child of the span a stored `traceparent` names (a webhook's change).
pub fn continue_from(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        adopt(span, parent);
    }
}

/// Sets `span`'s parent. It fails only for a span already started (a bug of the
/// caller's, who must set the parent first) or one no layer takes (nothing to trace).
fn adopt(span: &tracing::Span, parent: opentelemetry::Context) {
    if let Err(err) = span.set_parent(parent) {
        tracing::debug!(error = %err, "the span keeps its own trace");
    }
}

/// The W3C `traceparent` of `span` (`00-<trace id>-<span id>-<flags>`), when it belongs
/// to an exported trace.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Whether `value` is a URL an OTLP/HTTP exporter can send to.
fn is_endpoint(value: &str) -> bool {
    url::Url::parse(value.trim())
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

/// Whether `value` is a `traceparent` of version 00 as the W3C spec writes it, so a
/// stored one can be passed on untouched (lower-case hex, the zero ids refused).
pub fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    matches!(parts.as_slice(), [version, trace, span, flags]
        if *version == "00" && hex(trace, 32) && nonzero(trace) && hex(span, 16)
            && nonzero(span) && hex(flags, 2))
}

/// A request's headers as the propagator reads them.
struct Headers<'a>(&'a poem::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(poem::http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_an_http_url_with_a_host() {
        for good in [
            "http://collector:4318",
            "https://otel.example/v1/traces",
            " http://[::1]:4318 ",
        ] {
            assert!(is_endpoint(good), "{good}");
        }
        for bad in [
            "::bad",
            "collector:4318",
            "localhost",
            "grpc://collector:4317",
            "http://bad host:4318",
            "file:///tmp/x",
        ] {
            assert!(!is_endpoint(bad), "{bad}");
        }
    }

    #[test]
    fn only_well_formed_traceparents_are_passed_on() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(is_traceparent(good));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nx: y",
        ] {
            assert!(!is_traceparent(bad), "{bad:?}");
        }
    }
}
