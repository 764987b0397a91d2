//! The HTTP application: its settings, and the routes and middleware every request
//! passes through.

use std::sync::Arc;
use std::time::Duration;

use poem::{get, EndpointExt, Route};

use crate::api::{self, edge::Edge};
use crate::crypto::SecretKey;
use crate::db::trash::TrashSettings;
use crate::ratelimit::{self, Class, ClassQuota, StoreSettings, TrustedProxies};
use crate::serving::ConnectionLimits;
use crate::webhooks::WebhookSettings;

use super::*;

/// Settings of the HTTP application itself.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    /// Time a client has to send a request head; also how long an idle keep-alive
    /// connection is kept.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers); larger ones get 431.
    pub max_header_bytes: usize,
    /// Connections served at once; more wait to be accepted until one closes.
    pub max_connections: usize,
    /// Requests (streams) one HTTP/2 connection may have in flight at once.
    pub http2_max_streams: u32,
    /// Time a request has, from the end of its head to its answer, body upload
    /// included; past it the answer is 503. Longer than the longest long-poll.
    pub request_timeout: Duration,
    pub identity: IdentitySettings,
    /// Every rate-limit class's quota.
    pub rate_limits: Vec<(Class, ClassQuota)>,
    /// Proxies whose `X-Forwarded-For` names the client (none: the socket's peer is).
    pub trusted_proxies: TrustedProxies,
    /// A tenant's ceiling across all its credentials, as a multiple of each class's
    /// quota (0: no ceiling).
    pub rate_tenant_factor: u32,
    /// Where the rate limiters keep their state: in process, or shared in Redis.
    pub rate_store: StoreSettings,
    /// Webhook delivery, and whether this process runs a worker.
    pub webhooks: WebhookSettings,
    /// How long answers to requests with an `Idempotency-Key` are kept.
    pub idempotency_ttl: Duration,
    /// The trash's retention; purged by the process that runs the webhook worker.
    pub trash: TrashSettings,
    /// How many sandboxes a tenant may hold, and how often expired ones are purged (by
    /// the process that runs the webhook worker).
    pub sandboxes: crate::db::sandboxes::SandboxSettings,
    /// Exports: how long files are kept, how many a tenant may queue and run, how the
    /// worker paces them.
    pub exports: crate::db::exports::ExportSettings,
    /// Imports: how large a file may be, how many a tenant may queue and run, how the
    /// worker applies them.
    pub imports: crate::db::imports::ImportSettings,
    /// Where export files are kept (`MOMENTUM_BLOB_URL`, else under the data directory).
    pub blobs: crate::blob::Blobs,
    /// The operator's key for secrets at rest (`MOMENTUM_SECRET_KEY`).
    pub secret_key: SecretKey,
    /// Whether `/metrics` is served here too, beside the admin listener
    /// (`MOMENTUM_PUBLIC_METRICS`).
    pub public_metrics: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        let connection = ConnectionLimits::default();
        Self {
            max_body_bytes: 1024 * 1024,
            header_read_timeout: connection.header_read_timeout,
            max_header_bytes: connection.max_header_bytes,
            max_connections: connection.max_connections,
            http2_max_streams: connection.http2_max_streams,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            identity: IdentitySettings::default(),
            rate_limits: ratelimit::parse_quotas("").unwrap_or_default(),
            trusted_proxies: TrustedProxies::default(),
            rate_tenant_factor: 5,
            rate_store: StoreSettings::default(),
            webhooks: WebhookSettings::default(),
            idempotency_ttl: api::idempotency::DEFAULT_TTL,
            trash: TrashSettings::default(),
            sandboxes: Default::default(),
            exports: Default::default(),
            imports: Default::default(),
            blobs: crate::blob::Blobs::memory(),
            // A fresh key per value: fine for a test's fresh database, and `serve` always
            // sets the operator's.
            secret_key: SecretKey::generate(),
            public_metrics: false,
        }
    }
}

/// The default of [`HttpSettings::request_timeout`]: twice the longest QR long-poll, so
/// a poll is never cut off however slowly its client sent the request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub fn routes(state: AppState, settings: &HttpSettings) -> impl poem::Endpoint {
    let service = api::service();
    // The document with the notes added after generation (rate-limit classes), exactly
    // as committed in openapi/openapi.json.
    let spec = api::spec_json();
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(spec.clone())
    });
    let metrics = Arc::clone(&state.metrics);
    let metrics_text = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(metrics.render())
    });
    let edge = Edge {
        max_body_bytes: settings.max_body_bytes,
        request_timeout: settings.request_timeout,
        uploads: api::edge::UploadLimits {
            max_bytes: settings.imports.max_bytes,
            timeout: settings.imports.upload_timeout,
        },
        limits: Arc::clone(&state.limits),
        metrics: Arc::clone(&state.metrics),
        trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
    };
    let route = Route::new()
        .nest("/", service.with(api::idempotency::Idempotency))
        .at("/openapi.json", get(spec));
    // Off: `/metrics` is an unknown path here, answered 404 like any other.
    let route = if settings.public_metrics {
        route.at("/metrics", get(metrics_text))
    } else {
        route
    };
    route
        .at("/docs", get(api::docs::index))
        .at("/docs/", get(api::docs::asset))
        .at("/docs/*tail", get(api::docs::asset))
        .data(state)
        .with(edge)
}
