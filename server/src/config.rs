//! Configuration: command-line flags, each also settable by an environment variable
//! (shown by `momentum --help`). Values that hold secrets are never echoed.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "momentum",
    version,
    about = "Momentum: a multi-tenant CRM API server",
    long_about = "Momentum: a multi-tenant CRM API server.\n\nWith no subcommand, `serve`. \
                  Without DATABASE_URL it runs an embedded PostgreSQL under MOMENTUM_DATA_DIR."
)]
#[command(args_conflicts_with_subcommands = true, after_help = LOGGING_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// `momentum` alone serves, with the same flags and variables as `momentum serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The settings read before any command's own: shown under every command that logs.
const LOGGING_HELP: &str = "Logging: `RUST_LOG` (a tracing filter; default `info,sqlx=warn`) \
                            and `MOMENTUM_LOG_FORMAT` (`json` for one JSON object a line; \
                            default: text). Secrets are never logged.";

// Parsed once at start and moved into its command: the size of the biggest variant
// (every serve setting) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    #[command(after_help = LOGGING_HELP)]
    Serve(ServeArgs),
    /// Apply database migrations as the owner role (MOMENTUM_ADMIN_DATABASE_URL; unset:
    /// the embedded PostgreSQL), then exit.
    #[command(after_help = LOGGING_HELP)]
    Migrate(DatabaseArgs),
    /// Run only the webhook delivery worker (for API servers started with
    /// `--webhook-worker=false`); any number can share one database.
    #[command(after_help = LOGGING_HELP)]
    Worker(WorkerArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Ask a running server on this machine whether it is up (`GET /healthz`): exits 0
    /// when it answers 200, else non-zero. For container and service health checks, which
    /// then need no HTTP client in the image.
    Healthcheck(HealthcheckArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
}

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The server's listen address, as it was started with; an unspecified host (`0.0.0.0`,
    /// `[::]`) is asked on loopback.
    #[arg(long, env = "MOMENTUM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant, its owner user and a first API key; prints them as JSON
    /// (`{"tenant_id", "user_id", "api_key"}`: the key has every scope, `*`, and acts as
    /// the owner). As the owner role (MOMENTUM_ADMIN_DATABASE_URL; unset: the embedded
    /// PostgreSQL).
    Create {
        /// The tenant's display name.
        #[arg(long)]
        name: String,
        /// The owner user's email.
        #[arg(long, default_value = "owner@example.com")]
        owner_email: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL of the runtime role (a member of `momentum_app`; not a superuser,
    /// not BYPASSRLS, not the tables' owner: `serve` refuses those at start and exits
    /// non-zero). Unset: use the embedded PostgreSQL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL URL of the owner role (owns the tables, runs migrations; needs BYPASSRLS
    /// and CREATEROLE). Used by `migrate`, `tenant create`, and by `serve` to migrate at
    /// start. Unset with DATABASE_URL set: `serve` expects migrations already applied.
    /// A direct session, never a transaction pooler: migrations hold a session-level lock
    /// (checked before migrating).
    #[arg(long, env = "MOMENTUM_ADMIN_DATABASE_URL", hide_env_values = true)]
    pub admin_database_url: Option<String>,

    /// Where the embedded PostgreSQL keeps its data. As root, the cluster runs as the
    /// `postgres` (or `nobody`) user; where that user cannot reach this folder, the cluster
    /// is kept under `/var/lib/momentum/clusters/` instead, and the log says so.
    #[arg(long, env = "MOMENTUM_DATA_DIR", default_value = ".momentum")]
    pub data_dir: PathBuf,
}

/// Where the webhook worker and the purges connect.
#[derive(Debug, Clone, Args)]
pub struct WorkerDatabaseArgs {
    /// PostgreSQL URL of the role the webhook worker, the trash and idempotency purges and
    /// the start-up sealing of plaintext webhook secrets use: a member of
    /// `momentum_worker`, which alone may run the functions that act across tenants.
    /// Unset: DATABASE_URL (whose role must then be such a member when this process runs
    /// the worker); with the embedded PostgreSQL, its own worker role. Set it so the API's
    /// role stays a plain member of `momentum_app`. A role that cannot run those functions
    /// is refused at start, naming the fix.
    #[arg(long, env = "MOMENTUM_WORKER_DATABASE_URL", hide_env_values = true)]
    pub worker_database_url: Option<String>,
}

/// Running behind a transaction pooler (PgBouncer with `pool_mode = transaction`).
#[derive(Debug, Clone, Args)]
pub struct PoolerArgs {
    /// PostgreSQL URL of a direct session (not through a transaction pooler) for what
    /// needs one: listening for credential changes and for the webhook worker's wake-ups
    /// (LISTEN). Any role that may connect will do, since listening needs no grants; the
    /// API's own role is the natural choice. Unset: DATABASE_URL, and for the worker's
    /// wake-ups MOMENTUM_WORKER_DATABASE_URL, which must then be direct: at start each
    /// process checks that a notification sent to it arrives, and refuses to start, naming
    /// this setting, when it does not.
    #[arg(long, env = "MOMENTUM_DIRECT_DATABASE_URL", hide_env_values = true)]
    pub direct_database_url: Option<String>,

    /// `false` sends every statement unnamed, inside a transaction, as a transaction
    /// pooler that cannot keep prepared statements needs (PgBouncer before 1.21, or later
    /// without `max_prepared_statements`); it costs a round trip or two per statement.
    /// `true`: each connection prepares a statement once and reuses it.
    #[arg(
        long,
        env = "MOMENTUM_DB_PREPARED_STATEMENTS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub db_prepared_statements: bool,
}

/// Text that must not show up in a log or an error: its `Debug` hides it, and clap is
/// never asked to validate it (clap echoes invalid values).
#[derive(Clone)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redacted")
    }
}

fn redacted(text: &str) -> Result<Redacted, std::convert::Infallible> {
    Ok(Redacted(text.to_owned()))
}

/// The operator's key for secrets the server keeps at rest.
#[derive(Debug, Clone, Args)]
pub struct SecretKeyArgs {
    /// Key that encrypts webhook signing secrets and the answers kept for
    /// `Idempotency-Key` retries in the database: 32 random bytes as
    /// base64 or hex (`openssl rand -base64 32`). Required with DATABASE_URL; with the
    /// embedded PostgreSQL one is made on first start and kept in MOMENTUM_DATA_DIR
    /// (file `secret-key`, mode 0600). Prefer the variable to the flag (flags show in
    /// `ps`). Every server and worker of one database needs the same key: one started with
    /// another key refuses to start.
    #[arg(
        long,
        env = "MOMENTUM_SECRET_KEY",
        hide_env_values = true,
        value_parser = redacted
    )]
    pub secret_key: Option<Redacted>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub worker_database: WorkerDatabaseArgs,

    #[command(flatten)]
    pub pooler: PoolerArgs,

    #[command(flatten)]
    pub secrets: SecretKeyArgs,

    #[command(flatten)]
    pub admin: AdminArgs,

    /// Serve `/metrics` on the public listener (MOMENTUM_LISTEN) too, beside the admin
    /// listener's. Off by default: the series name operations, tenants' traffic and the
    /// build, for the operator's eyes only.
    #[arg(
        long,
        env = "MOMENTUM_PUBLIC_METRICS",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub public_metrics: bool,

    /// Address to listen on.
    #[arg(long, env = "MOMENTUM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Largest accepted request body, in bytes; larger ones get 413.
    #[arg(long, env = "MOMENTUM_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Seconds a client has to send a complete request head (request line and headers),
    /// against clients that trickle them to hold connections; also how long a connection
    /// with no request in flight is kept (HTTP/1 keep-alive and HTTP/2 alike). A late head
    /// is answered by closing the connection.
    /// Behind a load balancer, keep it above the balancer's idle timeout.
    #[arg(long, env = "MOMENTUM_HEADER_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub header_read_timeout_secs: u64,

    /// Largest request head (request line and headers), in bytes; larger ones get a bare
    /// 431 (no error envelope) and the connection is closed. At least 8192.
    #[arg(long, env = "MOMENTUM_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,

    /// Connections served at once. Past it, new connections wait in the listen queue
    /// (the kernel's backlog) until one closes; they are not refused (past the queue's
    /// length the kernel refuses them). Keep it below the process's open-file limit
    /// (`ulimit -n`), leaving room for the database pool.
    #[arg(long, env = "MOMENTUM_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Seconds a request has from its head to its answer, body upload included; past it
    /// the answer is 503 `service_unavailable` with `Retry-After`, and PostgreSQL cancels
    /// the request's statement if one is still running (`statement_timeout`, set to the
    /// time the request has left when its transaction begins). More than 30 (the longest
    /// QR long-poll).
    #[arg(long, env = "MOMENTUM_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,

    /// Maximum number of database connections. With MOMENTUM_WORKER_DATABASE_URL set and
    /// the worker on, a second pool of this size serves the worker.
    #[arg(long, env = "MOMENTUM_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// Milliseconds a request waits for a database connection before it is answered
    /// 503 `service_unavailable` (the pool is exhausted, or the database is away).
    #[arg(long, env = "MOMENTUM_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3000)]
    pub db_acquire_timeout_ms: u64,

    /// Seconds to let in-flight requests finish once the listener has closed (after the
    /// drain, see MOMENTUM_SHUTDOWN_DRAIN_SECS).
    #[arg(long, env = "MOMENTUM_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Seconds to keep serving after SIGINT/SIGTERM with `/readyz` answering 503, so a
    /// load balancer stops sending requests before the listener closes (0: close at once;
    /// at most 3600). A second signal ends the drain early.
    #[arg(long, env = "MOMENTUM_SHUTDOWN_DRAIN_SECS", default_value_t = 5)]
    pub shutdown_drain_secs: u64,

    /// Seconds a credential lookup is cached (0 turns the cache off; at most 3600). A
    /// revocation, a deactivation or a role change reaches every instance within a second
    /// through the `momentum_credentials` notification; this is the longest it takes on an
    /// instance that is not listening (its listening session lost).
    #[arg(long, env = "MOMENTUM_AUTH_CACHE_SECS", default_value_t = 5)]
    pub auth_cache_secs: u64,

    /// Seconds between the batched writes of API keys' and tokens' `last_used_at`, and
    /// its precision: a use is written only when the stored time is more than this older,
    /// so several instances seeing one key do not each write it.
    #[arg(long, env = "MOMENTUM_LAST_USED_FLUSH_SECS", default_value_t = 30)]
    pub last_used_flush_secs: u64,

    /// Seconds a QR login session can be approved and exchanged.
    #[arg(long, env = "MOMENTUM_QR_SESSION_TTL_SECS", default_value_t = 120)]
    pub qr_session_ttl_secs: u64,

    /// Rate limits per class over the defaults (auth=10/min, read=1000/min,
    /// write=300/min, admin=60/min, webhook_test=10/min), e.g. `read=500/min,write=100/min:20`
    /// (`:N` is the burst; default: the per-minute quota).
    #[arg(long, env = "MOMENTUM_RATE_LIMITS", default_value = "")]
    pub rate_limits: String,

    /// A tenant's ceiling across all its API keys and tokens, as a multiple of each
    /// class's quota, so minting keys does not multiply a tenant's quota (0: none).
    #[arg(long, env = "MOMENTUM_RATE_TENANT_FACTOR", default_value_t = 5)]
    pub rate_tenant_factor: u32,

    /// Comma-separated IP addresses and CIDR ranges of reverse proxies whose
    /// `X-Forwarded-For` names the client (e.g. `10.0.0.0/8,192.0.2.7`): behind one, the
    /// client is the right-most entry of all the header's lines that is not one of them.
    /// Default: none (the socket's peer is the client). An entry that is neither refuses
    /// to start, naming it.
    #[arg(long, env = "MOMENTUM_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    #[command(flatten)]
    pub rate_store: RateStoreArgs,

    /// Seconds a session token from a QR login lives.
    #[arg(long, env = "MOMENTUM_SESSION_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub session_token_ttl_secs: u64,

    /// Seconds the answer to a request with an `Idempotency-Key` is kept (encrypted) for
    /// replay to the same credential.
    #[arg(long, env = "MOMENTUM_IDEMPOTENCY_TTL_SECS", default_value_t = 24 * 3600)]
    pub idempotency_ttl_secs: u64,

    /// Run the webhook delivery worker in this process (`false`: a separate
    /// `momentum worker` sends them).
    #[arg(
        long,
        env = "MOMENTUM_WEBHOOK_WORKER",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub webhook_worker: bool,

    #[command(flatten)]
    pub webhooks: WebhookArgs,

    #[command(flatten)]
    pub trash: TrashArgs,
}

/// The admin listener, for Prometheus and probes.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Address of the admin listener, which serves `/metrics` (Prometheus text),
    /// `/healthz` and `/readyz` for monitoring and probes, apart from the API; `off` turns
    /// it off. Keep it off the public network. An address that cannot be listened on
    /// stops the start.
    #[arg(long, env = "MOMENTUM_ADMIN_LISTEN", default_value = "127.0.0.1:9464")]
    pub admin_listen: String,
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub worker_database: WorkerDatabaseArgs,

    #[command(flatten)]
    pub pooler: PoolerArgs,

    #[command(flatten)]
    pub secrets: SecretKeyArgs,

    #[command(flatten)]
    pub admin: AdminArgs,

    /// Maximum number of database connections.
    #[arg(long, env = "MOMENTUM_DB_POOL_SIZE", default_value_t = 8)]
    pub db_pool_size: u32,

    /// Milliseconds the worker waits for a database connection before it gives up on a
    /// claim and tries again later.
    #[arg(long, env = "MOMENTUM_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3000)]
    pub db_acquire_timeout_ms: u64,

    /// Seconds to let requests in flight finish after SIGINT/SIGTERM.
    #[arg(long, env = "MOMENTUM_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    #[command(flatten)]
    pub webhooks: WebhookArgs,

    #[command(flatten)]
    pub trash: TrashArgs,
}

/// How webhooks are sent.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Webhook requests in flight at most, per worker.
    #[arg(long, env = "MOMENTUM_WEBHOOK_CONCURRENCY", default_value_t = 32)]
    pub webhook_concurrency: usize,

    /// Deliveries to one endpoint in flight at most, across all workers, so a receiver
    /// that hangs or answers slowly cannot take every slot from the others.
    #[arg(
        long,
        env = "MOMENTUM_WEBHOOK_ENDPOINT_CONCURRENCY",
        default_value_t = 16
    )]
    pub webhook_endpoint_concurrency: usize,

    /// Seconds a webhook request may take, connection included.
    #[arg(long, env = "MOMENTUM_WEBHOOK_TIMEOUT_SECS", default_value_t = 15)]
    pub webhook_timeout_secs: u64,

    /// The waits before each retry after the first, immediate attempt (`ms`, `s`, `m`,
    /// `h`, `d`); its length is the number of retries. Each wait varies by ±10%.
    #[arg(
        long,
        env = "MOMENTUM_WEBHOOK_RETRY_SCHEDULE",
        default_value = crate::webhooks::DEFAULT_RETRY_SCHEDULE
    )]
    pub webhook_retry_schedule: String,

    /// Whether webhook URLs may reach private, loopback, link-local and other
    /// special-purpose addresses (docs/api.md lists the ranges).
    /// Default: `true` with the embedded PostgreSQL (local development), else `false`.
    #[arg(long, env = "MOMENTUM_WEBHOOK_ALLOW_PRIVATE", action = clap::ArgAction::Set)]
    pub webhook_allow_private: Option<bool>,

    /// An HTTP(S) proxy every webhook request goes through (`http://host:port`;
    /// credentials may be in the URL). Unset: webhooks connect directly, and the
    /// HTTP_PROXY, HTTPS_PROXY and ALL_PROXY variables are ignored. The proxy resolves
    /// and connects by itself, past the worker's check of the connected address: it must
    /// refuse private and special-purpose destinations itself.
    #[arg(
        long,
        env = "MOMENTUM_WEBHOOK_PROXY",
        hide_env_values = true,
        value_parser = redacted
    )]
    pub webhook_proxy: Option<Redacted>,

    /// Seconds an endpoint may fail without a success before it is disabled.
    #[arg(long, env = "MOMENTUM_WEBHOOK_DISABLE_AFTER_SECS", default_value_t = 5 * 24 * 3600)]
    pub webhook_disable_after_secs: u64,

    /// Seconds a rotated-out signing secret keeps signing alongside the new one.
    #[arg(long, env = "MOMENTUM_WEBHOOK_SECRET_OVERLAP_SECS", default_value_t = 24 * 3600)]
    pub webhook_secret_overlap_secs: u64,

    /// Milliseconds an idle worker waits at most before looking for due deliveries, in
    /// case a notification was missed.
    #[arg(long, env = "MOMENTUM_WEBHOOK_POLL_MS", default_value_t = 5000)]
    pub webhook_poll_ms: u64,
}

impl WebhookArgs {
    /// The settings, with `embedded` deciding the private-address default.
    pub fn settings(
        &self,
        worker: bool,
        embedded: bool,
    ) -> anyhow::Result<crate::webhooks::WebhookSettings> {
        use std::time::Duration;
        anyhow::ensure!(
            (1..=1024).contains(&self.webhook_concurrency),
            "MOMENTUM_WEBHOOK_CONCURRENCY must be 1 to 1024"
        );
        anyhow::ensure!(
            (1..=1024).contains(&self.webhook_endpoint_concurrency),
            "MOMENTUM_WEBHOOK_ENDPOINT_CONCURRENCY must be 1 to 1024"
        );
        anyhow::ensure!(
            (1..=300).contains(&self.webhook_timeout_secs),
            "MOMENTUM_WEBHOOK_TIMEOUT_SECS must be 1 to 300"
        );
        Ok(crate::webhooks::WebhookSettings {
            worker,
            concurrency: self.webhook_concurrency,
            endpoint_concurrency: self.webhook_endpoint_concurrency,
            timeout: Duration::from_secs(self.webhook_timeout_secs),
            retry_schedule: crate::webhooks::parse_schedule(&self.webhook_retry_schedule)
                .map_err(|e| anyhow::anyhow!("MOMENTUM_WEBHOOK_RETRY_SCHEDULE: {e}"))?,
            allow_private: self.webhook_allow_private.unwrap_or(embedded),
            proxy: self
                .webhook_proxy
                .as_ref()
                .map(|p| crate::webhooks::WebhookProxy::parse(&p.0))
                .transpose()
                .map_err(anyhow::Error::msg)?,
            disable_after: Duration::from_secs(self.webhook_disable_after_secs.max(1)),
            secret_overlap: Duration::from_secs(self.webhook_secret_overlap_secs),
            poll_interval: Duration::from_millis(self.webhook_poll_ms.max(10)),
        })
    }
}

/// How long deleted records stay in the trash. The process that runs the webhook worker
/// (`serve` with `MOMENTUM_WEBHOOK_WORKER=true`, or `momentum worker`) also empties it.
#[derive(Debug, Clone, Args)]
pub struct TrashArgs {
    /// Days a deleted contact, company, lead or activity can be restored before it is
    /// purged for good (1 to 36500: the database keeps a trashed record a day whatever it
    /// is asked).
    #[arg(long, env = "MOMENTUM_TRASH_RETENTION_DAYS", default_value_t = 30)]
    pub trash_retention_days: u64,

    /// Seconds between two runs of the purge of expired trash: one round per interval
    /// across every process that runs the worker; a process also takes a turn at start.
    #[arg(
        long,
        env = "MOMENTUM_TRASH_PURGE_INTERVAL_SECS",
        default_value_t = 3600
    )]
    pub trash_purge_interval_secs: u64,
}

impl TrashArgs {
    pub fn settings(&self) -> anyhow::Result<crate::db::trash::TrashSettings> {
        use std::time::Duration;
        anyhow::ensure!(
            (1..=36_500).contains(&self.trash_retention_days),
            "MOMENTUM_TRASH_RETENTION_DAYS must be 1 to 36500 (the database keeps a trashed \
             record at least a day, so it can be restored the day it was deleted)"
        );
        anyhow::ensure!(
            (1..=7 * 24 * 3600).contains(&self.trash_purge_interval_secs),
            "MOMENTUM_TRASH_PURGE_INTERVAL_SECS must be 1 to 604800 (a week)"
        );
        Ok(crate::db::trash::TrashSettings {
            retention: Duration::from_secs(self.trash_retention_days * 24 * 3600),
            purge_interval: Duration::from_secs(self.trash_purge_interval_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::TrashArgs;

    fn trash(days: u64, interval: u64) -> anyhow::Result<crate::db::trash::TrashSettings> {
        TrashArgs {
            trash_retention_days: days,
            trash_purge_interval_secs: interval,
        }
        .settings()
    }

    #[test]
    fn the_trash_keeps_records_for_whole_days_and_refuses_nonsense() {
        let settings = trash(30, 3600).unwrap();
        assert_eq!(settings, crate::db::trash::TrashSettings::default());
        assert_eq!(settings.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(trash(1, 1).unwrap().retention, Duration::from_secs(86_400));
        assert!(trash(0, 3600).is_err(), "the database keeps a day at least");
        assert!(trash(36_501, 3600).is_err());
        assert!(trash(30, 0).is_err(), "a zero interval would spin");
        assert!(trash(30, 7 * 86_400 + 1).is_err());
    }
}

/// Where the rate limiters keep their state.
#[derive(Debug, Clone, Args)]
pub struct RateStoreArgs {
    /// Redis URL (`redis://[[user]:password@]host[:port][/db]`) where every rate limiter
    /// keeps its state, so all instances using it share one quota per credential, tenant
    /// and address. Unset: each instance counts on its own, in process. Never logged; a
    /// URL that is not one refuses to start.
    #[arg(long, env = "MOMENTUM_REDIS_URL", hide_env_values = true, value_parser = redacted)]
    pub redis_url: Option<Redacted>,

    /// What a request meets while Redis cannot be reached: `allow` (let through
    /// uncounted; the headers state the quota but not what is left) or `deny` (503
    /// `service_unavailable` with `Retry-After`).
    #[arg(
        long,
        env = "MOMENTUM_RATE_LIMIT_STORE_FAILURE",
        value_enum,
        default_value_t = crate::ratelimit::StoreFailure::Allow
    )]
    pub rate_limit_store_failure: crate::ratelimit::StoreFailure,

    /// Milliseconds one call to Redis may take before it counts as unreachable (and the
    /// request meets MOMENTUM_RATE_LIMIT_STORE_FAILURE).
    #[arg(long, env = "MOMENTUM_REDIS_TIMEOUT_MS", default_value_t = 250)]
    pub redis_timeout_ms: u64,
}

impl RateStoreArgs {
    /// The store these ask for; refuses a Redis URL that is not one (without echoing it).
    pub fn settings(&self) -> anyhow::Result<crate::ratelimit::StoreSettings> {
        use crate::ratelimit::{check_redis_url, RedisSettings, StoreSettings};
        match &self.redis_url {
            Some(url) => {
                check_redis_url(&url.0)?;
                Ok(StoreSettings::Redis(RedisSettings {
                    url: url.0.clone(),
                    timeout: std::time::Duration::from_millis(self.redis_timeout_ms.max(1)),
                    on_failure: self.rate_limit_store_failure,
                }))
            }
            None => Ok(StoreSettings::InProcess),
        }
    }
}
