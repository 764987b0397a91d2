//! Configuration: command-line flags, each also settable by an environment variable
//! (shown by `momentum --help`). Values that hold secrets are never echoed.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

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
                            and `MOMENTUM_LOG_FORMAT` (`text`, the default, or `json` for one \
                            JSON object a line). A filter that does not parse or an unknown \
                            format stops the start, naming the variable. Secrets are never \
                            logged. Traces: the standard `OTEL_*` variables, off unless \
                            `OTEL_EXPORTER_OTLP_ENDPOINT` is set (docs/operations.md, \
                            \"Traces\").";

/// Seconds in a day, for the ranges below.
const DAY: u64 = 24 * 3600;
/// Milliseconds in an hour.
const HOUR_MS: u64 = 3600 * 1000;
const MAX_BODY_BYTES: RangeInclusive<u64> = 1..=1024 * 1024 * 1024;
const MAX_HEADER_BYTES: RangeInclusive<u64> = crate::serving::MIN_HEADER_BYTES as u64..=1024 * 1024;
/// A QR login's long-poll must be answered before the request's own deadline.
const REQUEST_TIMEOUT_SECS: RangeInclusive<u64> = crate::api::auth::MAX_WAIT_SECS + 1..=3600;
/// 0 connections is no pool at all: nothing could ever reach the database.
const POOL_SIZE: RangeInclusive<u64> = 1..=10_000;
const ACQUIRE_TIMEOUT_MS: RangeInclusive<u64> = 1..=HOUR_MS;
const SHUTDOWN_SECS: RangeInclusive<u64> = 0..=3600;

/// A whole number within `range`, refused by clap at parse time (naming the range), so
/// `--help`, the error and the value used agree, and nothing is silently clamped later.
fn within<T>(range: RangeInclusive<u64>) -> RangedU64ValueParser<T>
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
    <T as TryFrom<u64>>::Error: std::error::Error + Send + Sync + 'static,
{
    RangedU64ValueParser::new().range(range)
}

/// `host:port` as a listener takes it: an IP socket address, or a host name and a port.
/// Names are resolved when the listener binds, so only their shape is checked here.
fn listen_address(text: &str) -> Result<String, String> {
    if text.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(text.to_owned());
    }
    let is_name = |host: &str| {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    match text.rsplit_once(':') {
        Some((host, port)) if is_name(host) && port.parse::<u16>().is_ok() => Ok(text.to_owned()),
        _ => Err(
            "expected `host:port`, such as `127.0.0.1:8080`, `[::]:8080` or \
                  `localhost:8080`"
                .to_owned(),
        ),
    }
}

/// How log lines are written (`MOMENTUM_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

impl LogFormat {
    /// `MOMENTUM_LOG_FORMAT`, read before the command line is acted on (every command
    /// logs): unset is text; an unknown value is an error listing the accepted ones.
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("MOMENTUM_LOG_FORMAT") {
            Err(std::env::VarError::NotPresent) => Ok(Self::Text),
            Ok(value) if value.is_empty() => Ok(Self::Text),
            Ok(value) => Self::from_str(&value, true).map_err(|_| {
                anyhow::anyhow!(
                    "MOMENTUM_LOG_FORMAT is `{value}`: expected one of {}",
                    Self::names()
                )
            }),
            Err(std::env::VarError::NotUnicode(_)) => anyhow::bail!(
                "MOMENTUM_LOG_FORMAT is not UTF-8: expected one of {}",
                Self::names()
            ),
        }
    }

    fn names() -> String {
        Self::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| format!("`{}`", v.get_name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The default log filter, when `RUST_LOG` is unset.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn";

/// The log filter: `RUST_LOG` parsed strictly (tracing-subscriber's lenient parse drops a
/// directive it cannot read, so a typo would silently log something else), or
/// [`DEFAULT_LOG_FILTER`] when it is unset or empty.
pub fn log_filter() -> anyhow::Result<tracing_subscriber::EnvFilter> {
    use tracing_subscriber::EnvFilter;
    let directives = match std::env::var("RUST_LOG") {
        Err(std::env::VarError::NotPresent) => DEFAULT_LOG_FILTER.to_owned(),
        Ok(value) if value.trim().is_empty() => DEFAULT_LOG_FILTER.to_owned(),
        Ok(value) => value,
        Err(std::env::VarError::NotUnicode(_)) => anyhow::bail!("RUST_LOG is not UTF-8"),
    };
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|err| anyhow::anyhow!("RUST_LOG is not a valid tracing filter: {err}"))
}

impl Cli {
    /// [`Parser::parse`], naming the environment variable of a refused value beside its
    /// flag: clap names only the flag, though most settings come from the environment.
    /// Exits as clap does on an error (status 2) and on `--help` or `--version`.
    pub fn parse_naming_variables() -> Self {
        match Self::try_parse() {
            Ok(cli) => cli,
            Err(err) => match variable_of(&err) {
                Some(variable) => {
                    let message = err.render().to_string();
                    let message = message.strip_prefix("error: ").unwrap_or(&message);
                    eprint!("error: {variable}: {message}");
                    std::process::exit(err.exit_code())
                }
                None => err.exit(),
            },
        }
    }
}

/// The environment variable of the setting a clap error is about, if it has one.
fn variable_of(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let ContextValue::String(arg) = err.get(ContextKind::InvalidArg)? else {
        return None;
    };
    // `--db-pool-size <DB_POOL_SIZE>`
    let long = arg.strip_prefix("--")?.split([' ', '=']).next()?;
    fn find(command: &clap::Command, long: &str) -> Option<String> {
        command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .or_else(|| command.get_subcommands().find_map(|sub| find(sub, long)))
    }
    find(&Cli::command(), long)
}

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
    #[arg(
        long,
        env = "MOMENTUM_LISTEN",
        default_value = "127.0.0.1:8080",
        value_parser = listen_address
    )]
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
        /// `demo` also loads the demo data set (10 companies, 30 contacts, 15 leads across
        /// the default pipeline's stages, 20 activities, 10 associations): the same data
        /// as a sandbox made with `"seed": "demo"`.
        #[arg(long, value_enum, default_value_t = Seed::None)]
        seed: Seed,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// What a new tenant starts with besides its default pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Seed {
    /// Nothing else.
    #[default]
    None,
    /// The demo data set.
    Demo,
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

    /// Address to listen on: `host:port`, the host an IP address or a name.
    #[arg(
        long,
        env = "MOMENTUM_LISTEN",
        default_value = "127.0.0.1:8080",
        value_parser = listen_address
    )]
    pub listen: String,

    /// Largest accepted request body, in bytes; larger ones get 413 (1 to 1073741824: a gibibyte).
    #[arg(
        long,
        env = "MOMENTUM_MAX_BODY_BYTES",
        default_value_t = 1024 * 1024,
        value_parser = within::<usize>(MAX_BODY_BYTES)
    )]
    pub max_body_bytes: usize,

    /// Seconds a client has to send a complete request head (request line and headers),
    /// against clients that trickle them to hold connections; also how long a connection
    /// with no request in flight is kept (HTTP/1 keep-alive and HTTP/2 alike). A late head
    /// is answered by closing the connection.
    /// Behind a load balancer, keep it above the balancer's idle timeout. 1 to 3600.
    #[arg(
        long,
        env = "MOMENTUM_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 30,
        value_parser = within::<u64>(1..=3600)
    )]
    pub header_read_timeout_secs: u64,

    /// Largest request head (request line and headers), in bytes; larger ones get a bare
    /// 431 (no error envelope) and the connection is closed. 8192 to 1048576.
    #[arg(
        long,
        env = "MOMENTUM_MAX_HEADER_BYTES",
        default_value_t = 32 * 1024,
        value_parser = within::<usize>(MAX_HEADER_BYTES)
    )]
    pub max_header_bytes: usize,

    /// Connections served at once. Past it, new connections wait in the listen queue
    /// (the kernel's backlog) until one closes; they are not refused (past the queue's
    /// length the kernel refuses them). Keep it below the process's open-file limit
    /// (`ulimit -n`), leaving room for the database pool. 1 to 1000000.
    #[arg(
        long,
        env = "MOMENTUM_MAX_CONNECTIONS",
        default_value_t = 10_000,
        value_parser = within::<usize>(1..=1_000_000)
    )]
    pub max_connections: usize,

    /// Seconds a request has from its head to its answer, body upload included; past it
    /// the answer is 503 `service_unavailable` with `Retry-After`, and PostgreSQL cancels
    /// the request's statement if one is still running (`statement_timeout`, set to the
    /// time the request has left when its transaction begins). 31 to 3600: more than 30,
    /// the longest QR long-poll.
    #[arg(
        long,
        env = "MOMENTUM_REQUEST_TIMEOUT_SECS",
        default_value_t = 60,
        value_parser = within::<u64>(REQUEST_TIMEOUT_SECS)
    )]
    pub request_timeout_secs: u64,

    /// Maximum number of database connections (1 to 10000). With
    /// MOMENTUM_WORKER_DATABASE_URL set and the worker on, a second pool of this size
    /// serves the worker.
    #[arg(
        long,
        env = "MOMENTUM_DB_POOL_SIZE",
        default_value_t = 16,
        value_parser = within::<u32>(POOL_SIZE)
    )]
    pub db_pool_size: u32,

    /// Milliseconds a request waits for a database connection before it is answered
    /// 503 `service_unavailable` (the pool is exhausted, or the database is away); 1 to
    /// 3600000 (an hour).
    #[arg(
        long,
        env = "MOMENTUM_DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = 3000,
        value_parser = within::<u64>(ACQUIRE_TIMEOUT_MS)
    )]
    pub db_acquire_timeout_ms: u64,

    /// Seconds to let in-flight requests finish once the listener has closed (after the
    /// drain, see MOMENTUM_SHUTDOWN_DRAIN_SECS); 0 to 3600.
    #[arg(
        long,
        env = "MOMENTUM_SHUTDOWN_GRACE_SECS",
        default_value_t = 30,
        value_parser = within::<u64>(SHUTDOWN_SECS)
    )]
    pub shutdown_grace_secs: u64,

    /// Seconds to keep serving after SIGINT/SIGTERM with `/readyz` answering 503, so a
    /// load balancer stops sending requests before the listener closes (0: close at once;
    /// at most 3600). A second signal ends the drain early.
    #[arg(
        long,
        env = "MOMENTUM_SHUTDOWN_DRAIN_SECS",
        default_value_t = 5,
        value_parser = within::<u64>(SHUTDOWN_SECS)
    )]
    pub shutdown_drain_secs: u64,

    /// Seconds a credential lookup is cached (0 turns the cache off; at most 3600). A
    /// revocation, a deactivation or a role change reaches every instance within a second
    /// through the `momentum_credentials` notification; this is the longest it takes on an
    /// instance that is not listening (its listening session lost).
    // An hour at most: a revoked key must not live on for long anywhere.
    #[arg(
        long,
        env = "MOMENTUM_AUTH_CACHE_SECS",
        default_value_t = 5,
        value_parser = within::<u64>(0..=3600)
    )]
    pub auth_cache_secs: u64,

    /// Seconds between the batched writes of API keys' and tokens' `last_used_at`, and
    /// its precision: a use is written only when the stored time is more than this older,
    /// so several instances seeing one key do not each write it. 1 to 86400 (a day).
    #[arg(
        long,
        env = "MOMENTUM_LAST_USED_FLUSH_SECS",
        default_value_t = 30,
        value_parser = within::<u64>(1..=DAY)
    )]
    pub last_used_flush_secs: u64,

    /// Seconds a QR login session can be approved and exchanged (1 to 3600).
    #[arg(
        long,
        env = "MOMENTUM_QR_SESSION_TTL_SECS",
        default_value_t = 120,
        value_parser = within::<u64>(1..=3600)
    )]
    pub qr_session_ttl_secs: u64,

    /// Rate limits per class over the defaults (auth=10/min, read=1000/min,
    /// write=300/min, admin=60/min, webhook_test=10/min), e.g. `read=500/min,write=100/min:20`
    /// (`:N` is the burst; default: the per-minute quota).
    #[arg(long, env = "MOMENTUM_RATE_LIMITS", default_value = "")]
    pub rate_limits: String,

    /// A tenant's ceiling across all its API keys and tokens, as a multiple of each
    /// class's quota, so minting keys does not multiply a tenant's quota (0: none; at most
    /// 1000).
    #[arg(
        long,
        env = "MOMENTUM_RATE_TENANT_FACTOR",
        default_value_t = 5,
        value_parser = within::<u32>(0..=1000)
    )]
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

    /// Seconds a session token from a QR login lives (1 to 2592000: 30 days).
    #[arg(
        long,
        env = "MOMENTUM_SESSION_TOKEN_TTL_SECS",
        default_value_t = 3600,
        value_parser = within::<u64>(1..=30 * DAY)
    )]
    pub session_token_ttl_secs: u64,

    /// Seconds the answer to a request with an `Idempotency-Key` is kept (encrypted) for
    /// replay to the same credential (1 to 2592000: 30 days).
    #[arg(
        long,
        env = "MOMENTUM_IDEMPOTENCY_TTL_SECS",
        default_value_t = 24 * 3600,
        value_parser = within::<u64>(1..=30 * DAY)
    )]
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

    #[command(flatten)]
    pub sandboxes: SandboxArgs,

    #[command(flatten)]
    pub exports: ExportArgs,

    #[command(flatten)]
    pub imports: ImportArgs,
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

    /// Maximum number of database connections (1 to 10000).
    #[arg(
        long,
        env = "MOMENTUM_DB_POOL_SIZE",
        default_value_t = 8,
        value_parser = within::<u32>(POOL_SIZE)
    )]
    pub db_pool_size: u32,

    /// Milliseconds the worker waits for a database connection before it gives up on a
    /// claim and tries again later (1 to 3600000: an hour).
    #[arg(
        long,
        env = "MOMENTUM_DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = 3000,
        value_parser = within::<u64>(ACQUIRE_TIMEOUT_MS)
    )]
    pub db_acquire_timeout_ms: u64,

    /// Seconds to let requests in flight finish after SIGINT/SIGTERM (0 to 3600).
    #[arg(
        long,
        env = "MOMENTUM_SHUTDOWN_GRACE_SECS",
        default_value_t = 30,
        value_parser = within::<u64>(SHUTDOWN_SECS)
    )]
    pub shutdown_grace_secs: u64,

    #[command(flatten)]
    pub webhooks: WebhookArgs,

    #[command(flatten)]
    pub trash: TrashArgs,

    #[command(flatten)]
    pub sandboxes: SandboxArgs,

    #[command(flatten)]
    pub exports: ExportArgs,

    #[command(flatten)]
    pub imports: ImportArgs,
}

/// How webhooks are sent.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Webhook requests in flight at most, per worker (1 to 1024).
    #[arg(
        long,
        env = "MOMENTUM_WEBHOOK_CONCURRENCY",
        default_value_t = 32,
        value_parser = within::<usize>(1..=1024)
    )]
    pub webhook_concurrency: usize,

    /// Deliveries to one endpoint in flight at most, across all workers, so a receiver
    /// that hangs or answers slowly cannot take every slot from the others (1 to 1024).
    #[arg(
        long,
        env = "MOMENTUM_WEBHOOK_ENDPOINT_CONCURRENCY",
        default_value_t = 16,
        value_parser = within::<usize>(1..=1024)
    )]
    pub webhook_endpoint_concurrency: usize,

    /// Seconds a webhook request may take, connection included (1 to 300).
    #[arg(
        long,
        env = "MOMENTUM_WEBHOOK_TIMEOUT_SECS",
        default_value_t = 15,
        value_parser = within::<u64>(1..=300)
    )]
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

    /// Seconds an endpoint may fail without a success before it is disabled (1 to
    /// 31536000: a year).
    #[arg(
        long,
        env = "MOMENTUM_WEBHOOK_DISABLE_AFTER_SECS",
        default_value_t = 5 * 24 * 3600,
        value_parser = within::<u64>(1..=365 * DAY)
    )]
    pub webhook_disable_after_secs: u64,

    /// Seconds a rotated-out signing secret keeps signing alongside the new one (0 to
    /// 2592000: 30 days).
    #[arg(
        long,
        env = "MOMENTUM_WEBHOOK_SECRET_OVERLAP_SECS",
        default_value_t = 24 * 3600,
        value_parser = within::<u64>(0..=30 * DAY)
    )]
    pub webhook_secret_overlap_secs: u64,

    /// Milliseconds an idle worker waits at most before looking for due deliveries, in
    /// case a notification was missed (10 to 3600000: an hour).
    #[arg(
        long,
        env = "MOMENTUM_WEBHOOK_POLL_MS",
        default_value_t = 5000,
        value_parser = within::<u64>(10..=HOUR_MS)
    )]
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
            disable_after: Duration::from_secs(self.webhook_disable_after_secs),
            secret_overlap: Duration::from_secs(self.webhook_secret_overlap_secs),
            poll_interval: Duration::from_millis(self.webhook_poll_ms),
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
    #[arg(
        long,
        env = "MOMENTUM_TRASH_RETENTION_DAYS",
        default_value_t = 30,
        value_parser = within::<u64>(1..=36_500)
    )]
    pub trash_retention_days: u64,

    /// Seconds between two runs of the purge of expired trash: one round per interval
    /// across every process that runs the worker; a process also takes a turn at start.
    /// 1 to 604800 (a week).
    #[arg(
        long,
        env = "MOMENTUM_TRASH_PURGE_INTERVAL_SECS",
        default_value_t = 3600,
        value_parser = within::<u64>(1..=7 * DAY)
    )]
    pub trash_purge_interval_secs: u64,
}

impl TrashArgs {
    /// The settings; their ranges were checked as they were parsed.
    pub fn settings(&self) -> crate::db::trash::TrashSettings {
        use std::time::Duration;
        crate::db::trash::TrashSettings {
            retention: Duration::from_secs(self.trash_retention_days * DAY),
            purge_interval: Duration::from_secs(self.trash_purge_interval_secs),
        }
    }
}

/// Sandboxes (`POST /v1/sandboxes`): how many a tenant may hold, and how often the
/// process that runs the webhook worker purges expired ones.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Live (unexpired) sandboxes a tenant may hold at once (0 to 1000; 0 turns making
    /// sandboxes off). The database holds no tenant to more than 1000.
    #[arg(
        long,
        env = "MOMENTUM_SANDBOXES_MAX",
        default_value_t = 10,
        value_parser = within::<u32>(0..=1000)
    )]
    pub sandboxes_max: u32,

    /// Seconds between two runs of the purge of expired sandboxes (each with all its
    /// data): one round per interval across every process that runs the worker; a process
    /// also takes a turn at start. 1 to 86400 (a day).
    #[arg(
        long,
        env = "MOMENTUM_SANDBOXES_PURGE_INTERVAL_SECS",
        default_value_t = 300,
        value_parser = within::<u64>(1..=DAY)
    )]
    pub sandboxes_purge_interval_secs: u64,
}

impl SandboxArgs {
    /// The settings; their ranges were checked as they were parsed.
    pub fn settings(&self) -> crate::db::sandboxes::SandboxSettings {
        crate::db::sandboxes::SandboxSettings {
            max_live: self.sandboxes_max,
            purge_interval: std::time::Duration::from_secs(self.sandboxes_purge_interval_secs),
        }
    }
}

/// Exports (`POST /v1/exports`): where their files live, how long they are kept, and how
/// many a tenant may queue and run. The files are written by the process that runs the
/// webhook worker.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Where export files and uploaded imports are kept: unset, a folder `files` under
    /// `MOMENTUM_DATA_DIR` (so every instance that serves downloads or takes uploads must
    /// share that disk with the worker);
    /// `s3://bucket/prefix`, an S3-compatible object store shared by every instance,
    /// with its endpoint, region and keys in the `AWS_*` variables (`AWS_ENDPOINT`,
    /// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`).
    /// Any other scheme stops the start.
    #[arg(long, env = "MOMENTUM_BLOB_URL")]
    pub blob_url: Option<String>,

    /// Seconds a completed export's file can be downloaded; the worker deletes it then.
    /// 60 to 2592000 (30 days).
    #[arg(
        long,
        env = "MOMENTUM_EXPORTS_TTL_SECS",
        default_value_t = DAY,
        value_parser = within::<u64>(60..=30 * DAY)
    )]
    pub exports_ttl_secs: u64,

    /// Exports of one tenant that run at once, across every worker (1 to 16).
    #[arg(
        long,
        env = "MOMENTUM_EXPORTS_PER_TENANT",
        default_value_t = 1,
        value_parser = within::<u32>(1..=16)
    )]
    pub exports_per_tenant: u32,

    /// Exports a tenant may have queued or running; one more is a `409` (1 to 1000).
    #[arg(
        long,
        env = "MOMENTUM_EXPORTS_MAX_PENDING",
        default_value_t = 10,
        value_parser = within::<u32>(1..=1000)
    )]
    pub exports_max_pending: u32,

    /// Exports one worker process writes at once (1 to 64).
    #[arg(
        long,
        env = "MOMENTUM_EXPORTS_CONCURRENCY",
        default_value_t = 2,
        value_parser = within::<u32>(1..=64)
    )]
    pub exports_concurrency: u32,

    /// Seconds one run of an export may take before it is stopped and the export failed
    /// (`timed_out`). 10 to 86400 (a day).
    #[arg(
        long,
        env = "MOMENTUM_EXPORTS_TIMEOUT_SECS",
        default_value_t = 3600,
        value_parser = within::<u64>(10..=DAY)
    )]
    pub exports_timeout_secs: u64,

    /// Milliseconds between two looks at the queue by an idle worker (10 to 60000).
    #[arg(
        long,
        env = "MOMENTUM_EXPORTS_POLL_INTERVAL_MS",
        default_value_t = 1000,
        value_parser = within::<u64>(10..=60_000)
    )]
    pub exports_poll_interval_ms: u64,

    /// Seconds between two runs of the deletion of expired export files: one round per
    /// interval across every process that runs the worker. 1 to 86400 (a day).
    #[arg(
        long,
        env = "MOMENTUM_EXPORTS_PURGE_INTERVAL_SECS",
        default_value_t = 300,
        value_parser = within::<u64>(1..=DAY)
    )]
    pub exports_purge_interval_secs: u64,
}

/// How imports are taken and applied.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The largest file an import takes, in bytes; a larger one is a `413` before
    /// anything is stored (1024 to 1073741824: 1 GiB; default 100 MiB).
    #[arg(
        long,
        env = "MOMENTUM_IMPORTS_MAX_BYTES",
        default_value_t = 100 * 1024 * 1024,
        value_parser = within::<u64>(1024..=1024 * 1024 * 1024)
    )]
    pub imports_max_bytes: u64,

    /// Imports a tenant may have queued or running; one more is a `409` (1 to 100).
    #[arg(
        long,
        env = "MOMENTUM_IMPORTS_MAX_PENDING",
        default_value_t = 5,
        value_parser = within::<u32>(1..=100)
    )]
    pub imports_max_pending: u32,

    /// Imports of one tenant that run at once, across every worker (1 to 16).
    #[arg(
        long,
        env = "MOMENTUM_IMPORTS_PER_TENANT",
        default_value_t = 1,
        value_parser = within::<u32>(1..=16)
    )]
    pub imports_per_tenant: u32,

    /// Imports one worker process runs at once (1 to 64).
    #[arg(
        long,
        env = "MOMENTUM_IMPORTS_CONCURRENCY",
        default_value_t = 2,
        value_parser = within::<u32>(1..=64)
    )]
    pub imports_concurrency: u32,

    /// Uploads one API process takes at once; one more is a `503` with `Retry-After`.
    /// Each holds up to 16 MiB while it is written to the store (1 to 256).
    #[arg(
        long,
        env = "MOMENTUM_IMPORTS_UPLOADS_AT_ONCE",
        default_value_t = 4,
        value_parser = within::<u32>(1..=256)
    )]
    pub imports_uploads_at_once: u32,

    /// Seconds an upload may take, instead of `MOMENTUM_REQUEST_TIMEOUT_SECS` (60 to
    /// 86400).
    #[arg(
        long,
        env = "MOMENTUM_IMPORTS_UPLOAD_TIMEOUT_SECS",
        default_value_t = 900,
        value_parser = within::<u64>(60..=DAY)
    )]
    pub imports_upload_timeout_secs: u64,

    /// Rows applied per transaction (1 to 5000): a larger chunk is faster, a smaller
    /// one holds its rows' locks for less time.
    #[arg(
        long,
        env = "MOMENTUM_IMPORTS_CHUNK_ROWS",
        default_value_t = 500,
        value_parser = within::<u32>(1..=5000)
    )]
    pub imports_chunk_rows: u32,

    /// Milliseconds between two looks at the queue by an idle worker (10 to 60000).
    #[arg(
        long,
        env = "MOMENTUM_IMPORTS_POLL_INTERVAL_MS",
        default_value_t = 1000,
        value_parser = within::<u64>(10..=60_000)
    )]
    pub imports_poll_interval_ms: u64,
}

impl ImportArgs {
    /// The settings; their ranges were checked as they were parsed.
    pub fn settings(&self) -> crate::db::imports::ImportSettings {
        use std::time::Duration;
        crate::db::imports::ImportSettings {
            max_bytes: self.imports_max_bytes,
            max_pending: self.imports_max_pending,
            per_tenant: self.imports_per_tenant,
            concurrency: self.imports_concurrency,
            uploads_at_once: self.imports_uploads_at_once,
            upload_timeout: Duration::from_secs(self.imports_upload_timeout_secs),
            chunk_rows: self.imports_chunk_rows,
            poll_interval: Duration::from_millis(self.imports_poll_interval_ms),
            ..Default::default()
        }
    }
}

impl ExportArgs {
    /// The settings; their ranges were checked as they were parsed.
    pub fn settings(&self) -> crate::db::exports::ExportSettings {
        use std::time::Duration;
        crate::db::exports::ExportSettings {
            ttl: Duration::from_secs(self.exports_ttl_secs),
            per_tenant: self.exports_per_tenant,
            max_pending: self.exports_max_pending,
            concurrency: self.exports_concurrency,
            timeout: Duration::from_secs(self.exports_timeout_secs),
            poll_interval: Duration::from_millis(self.exports_poll_interval_ms),
            purge_interval: Duration::from_secs(self.exports_purge_interval_secs),
            ..Default::default()
        }
    }

    /// The file store these arguments name, under `data_dir` unless `MOMENTUM_BLOB_URL`
    /// names another.
    pub fn blobs(&self, data_dir: &std::path::Path) -> anyhow::Result<crate::blob::Blobs> {
        crate::blob::Blobs::from_settings(self.blob_url.as_deref(), data_dir)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::{Cli, Command};

    /// `momentum worker` or `momentum serve` with these flags, as clap parses them.
    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("momentum").chain(args.iter().copied()))
    }

    #[test]
    fn the_trash_keeps_records_for_whole_days_and_refuses_nonsense() {
        let trash = |days: &str, interval: &str| {
            parse(&[
                "worker",
                "--trash-retention-days",
                days,
                "--trash-purge-interval-secs",
                interval,
            ])
            .map(|cli| match cli.command {
                Some(Command::Worker(args)) => args.trash.settings(),
                other => panic!("not the worker: {other:?}"),
            })
        };
        let settings = trash("30", "3600").unwrap();
        assert_eq!(settings, crate::db::trash::TrashSettings::default());
        assert_eq!(settings.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(
            trash("1", "1").unwrap().retention,
            Duration::from_secs(86_400)
        );
        assert!(
            trash("0", "3600").is_err(),
            "the database keeps a day at least"
        );
        assert!(trash("36501", "3600").is_err());
        assert!(trash("30", "0").is_err(), "a zero interval would spin");
        assert!(trash("30", "604801").is_err());
    }

    /// Each numeric setting takes its range's ends and refuses what lies past them, so
    /// the range its help states is the one enforced.
    #[test]
    fn numeric_settings_take_their_ranges_and_refuse_what_lies_outside() {
        let ranges: &[(&str, &str, u64, u64)] = &[
            ("serve", "--max-body-bytes", 1, 1 << 30),
            ("serve", "--header-read-timeout-secs", 1, 3600),
            ("serve", "--max-header-bytes", 8192, 1 << 20),
            ("serve", "--max-connections", 1, 1_000_000),
            ("serve", "--request-timeout-secs", 31, 3600),
            ("serve", "--db-pool-size", 1, 10_000),
            ("worker", "--db-pool-size", 1, 10_000),
            ("serve", "--db-acquire-timeout-ms", 1, 3_600_000),
            ("worker", "--db-acquire-timeout-ms", 1, 3_600_000),
            ("serve", "--shutdown-grace-secs", 0, 3600),
            ("worker", "--shutdown-grace-secs", 0, 3600),
            ("serve", "--shutdown-drain-secs", 0, 3600),
            ("serve", "--auth-cache-secs", 0, 3600),
            ("serve", "--last-used-flush-secs", 1, 86_400),
            ("serve", "--qr-session-ttl-secs", 1, 3600),
            ("serve", "--rate-tenant-factor", 0, 1000),
            ("serve", "--session-token-ttl-secs", 1, 30 * 86_400),
            ("serve", "--idempotency-ttl-secs", 1, 30 * 86_400),
            ("serve", "--redis-timeout-ms", 1, 60_000),
            ("worker", "--webhook-concurrency", 1, 1024),
            ("worker", "--webhook-endpoint-concurrency", 1, 1024),
            ("worker", "--webhook-timeout-secs", 1, 300),
            ("worker", "--webhook-disable-after-secs", 1, 365 * 86_400),
            ("worker", "--webhook-secret-overlap-secs", 0, 30 * 86_400),
            ("worker", "--webhook-poll-ms", 10, 3_600_000),
        ];
        for &(command, flag, low, high) in ranges {
            for fits in [low, high] {
                let value = fits.to_string();
                if let Err(err) = parse(&[command, flag, &value]) {
                    panic!("{command} {flag} {value} refused: {err}");
                }
            }
            for past in [low.checked_sub(1), high.checked_add(1)]
                .into_iter()
                .flatten()
            {
                let value = past.to_string();
                assert!(
                    parse(&[command, flag, &value]).is_err(),
                    "{command} {flag} {value} accepted"
                );
            }
        }
    }

    #[test]
    fn a_listen_address_is_host_and_port() {
        for fits in [
            "127.0.0.1:8080",
            "0.0.0.0:0",
            "[::]:8080",
            "localhost:8080",
            "api.internal:80",
        ] {
            assert!(parse(&["serve", "--listen", fits]).is_ok(), "{fits}");
        }
        for refused in [
            "8080",
            "127.0.0.1",
            "127.0.0.1:65536",
            ":8080",
            "local host:80",
            "::1:80x",
        ] {
            assert!(parse(&["serve", "--listen", refused]).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_refused_value_names_its_variable() {
        let err = parse(&["serve", "--db-pool-size", "0"]).unwrap_err();
        assert_eq!(
            super::variable_of(&err).as_deref(),
            Some("MOMENTUM_DB_POOL_SIZE")
        );
        let err = parse(&["worker", "--webhook-poll-ms", "1"]).unwrap_err();
        assert_eq!(
            super::variable_of(&err).as_deref(),
            Some("MOMENTUM_WEBHOOK_POLL_MS")
        );
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
    /// request meets MOMENTUM_RATE_LIMIT_STORE_FAILURE); 1 to 60000.
    #[arg(
        long,
        env = "MOMENTUM_REDIS_TIMEOUT_MS",
        default_value_t = 250,
        value_parser = within::<u64>(1..=60_000)
    )]
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
                    timeout: std::time::Duration::from_millis(self.redis_timeout_ms),
                    on_failure: self.rate_limit_store_failure,
                }))
            }
            None => Ok(StoreSettings::InProcess),
        }
    }
}
