//! What every handler can reach: [`AppState`], with the settings it carries. Its own module,
//! below `api/` and above what it holds (`auth/`, `ratelimit/`, `webhooks/`, `metrics`,
//! `crypto`), so the handlers can name it without importing `startup`, which builds it
//! and sits on top of them all. Holds no logic and must never import `crate::api` or
//! `crate::startup`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::auth::Authenticator;
use crate::crypto::SecretKey;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::webhooks::WebhookSettings;

/// What every handler can reach, through `Data<&AppState>`.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Arc<Authenticator>,
    pub identity: IdentitySettings,
    /// Wakes QR-session long polls on this instance when a session changes.
    pub qr_events: Arc<tokio::sync::Notify>,
    pub limits: Arc<RateLimiter>,
    pub metrics: Arc<Metrics>,
    pub webhooks: WebhookSettings,
    /// How long answers to requests with an `Idempotency-Key` are kept.
    pub idempotency_ttl: Duration,
    /// Seals the webhook signing secrets the API makes.
    pub secret_key: SecretKey,
    /// How many sandboxes a tenant may hold.
    pub sandboxes: crate::db::sandboxes::SandboxSettings,
    /// How many exports a tenant may queue.
    pub exports: crate::db::exports::ExportSettings,
    /// How large an import's file may be, how many a tenant may queue.
    pub imports: crate::db::imports::ImportSettings,
    /// The uploads this process may still take at once (each buffers a part of its file
    /// on its way to the store).
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Where export files and uploaded imports are kept.
    pub blobs: crate::blob::Blobs,
    /// Set once a shutdown is asked for: `/readyz` answers 503 from then on, so a load
    /// balancer stops sending requests while those it still sends are served.
    pub draining: Arc<AtomicBool>,
}

/// Credentials and QR-code login.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// How long a credential lookup is cached: the most a revocation takes to reach
    /// every instance.
    pub auth_cache_ttl: Duration,
    /// How often `last_used_at` is written (one batch per interval).
    pub last_used_flush: Duration,
    /// How long a QR session can be approved and exchanged.
    pub qr_session_ttl: Duration,
    /// How long a session token from a QR login lives.
    pub session_token_ttl: Duration,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            auth_cache_ttl: Duration::from_secs(5),
            last_used_flush: Duration::from_secs(30),
            qr_session_ttl: Duration::from_secs(120),
            session_token_ttl: Duration::from_secs(3600),
        }
    }
}
