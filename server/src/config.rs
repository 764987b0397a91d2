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
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// `momentum` alone serves, with the same flags and variables as `momentum serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve(ServeArgs),
    /// Apply database migrations as the owner role, then exit.
    Migrate(DatabaseArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant, its owner user and a first API key; prints them as JSON.
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
    /// not BYPASSRLS, not the tables' owner). Unset: use the embedded PostgreSQL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL URL of the owner role (owns the tables, runs migrations; needs BYPASSRLS
    /// and CREATEROLE). Used by `migrate`, `tenant create`, and by `serve` to migrate at
    /// start. Unset with DATABASE_URL set: `serve` expects migrations already applied.
    #[arg(long, env = "MOMENTUM_ADMIN_DATABASE_URL", hide_env_values = true)]
    pub admin_database_url: Option<String>,

    /// Where the embedded PostgreSQL keeps its data.
    #[arg(long, env = "MOMENTUM_DATA_DIR", default_value = ".momentum")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Address to listen on.
    #[arg(long, env = "MOMENTUM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Largest accepted request body, in bytes; larger ones get 413.
    #[arg(long, env = "MOMENTUM_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Maximum number of database connections.
    #[arg(long, env = "MOMENTUM_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// Seconds to let in-flight requests finish after SIGINT/SIGTERM.
    #[arg(long, env = "MOMENTUM_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Seconds a credential lookup is cached: the longest a revoked key keeps working on
    /// another instance (0 turns the cache off; at most 3600).
    #[arg(long, env = "MOMENTUM_AUTH_CACHE_SECS", default_value_t = 5)]
    pub auth_cache_secs: u64,

    /// Seconds between the batched writes of API keys' and tokens' `last_used_at`.
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

    /// Comma-separated IP addresses of reverse proxies whose `X-Forwarded-For` names the
    /// client. Default: none (the socket's peer is the client).
    #[arg(long, env = "MOMENTUM_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Seconds a session token from a QR login lives.
    #[arg(long, env = "MOMENTUM_SESSION_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub session_token_ttl_secs: u64,
}
