//! Everything that speaks SQL. Tenant tables are reachable only through [`TenantTx`];
//! the few lookups that precede the tenant go through SECURITY DEFINER functions.
//!
//! # The trash
//!
//! Deleting a contact, company, lead or activity sets its `deleted_at`; the row stays
//! until it is restored or purged (`purge_trash`, run by [`trash`]). Trashed rows are
//! hidden from every statement by a RESTRICTIVE row-level security policy on those four
//! tables, exactly as another tenant's rows are, unless the transaction called
//! [`TenantTx::include_deleted`] (which sets `app.include_deleted` to `on`,
//! transaction-local). So code here needs nothing special to treat a trashed record as
//! absent: `SELECT ... WHERE id = $1` finds nothing, lists leave it out, UPDATE and DELETE
//! cannot reach it. Three things to know:
//! * after `include_deleted`, every query of the transaction sees the trash: say
//!   `deleted_at IS NULL` where only live rows may match;
//! * PostgreSQL checks an UPDATE's new row against SELECT policies when the statement
//!   reads the row (WHERE, RETURNING), so writing `deleted_at` needs `include_deleted`;
//! * foreign-key checks bypass row-level security; a trigger refuses a new link from a
//!   live row to a trashed one with the foreign key's own error (see migration
//!   `20261129200001_trash.sql`), and lookups by email or domain say
//!   `deleted_at IS NULL` so the partial unique indexes serve them.

pub mod activities;
pub mod api_keys;
pub mod associations;
pub mod audit;
pub mod auth;
pub mod companies;
pub mod contacts;
pub mod custom_fields;
pub mod embedded;
mod errors;
pub mod events;
pub mod exports;
pub mod idempotency;
pub mod imports;
pub mod jobs;
pub mod leads;
pub mod listen;
pub mod merges;
pub mod page;
pub mod periodic;
pub mod pipelines;
pub mod qr;
pub mod record;
pub mod sandboxes;
pub mod search;
#[cfg(test)]
mod sql_guard;
pub mod stages;
mod statements;
mod tenant_tx;
pub mod tenants;
pub mod tls;
pub mod trash;
pub mod users;
pub mod violations;
pub mod webhooks;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Postgres;

use crate::domain::record::RecordType;

pub use statements::{
    autocommit, prepared_statements, query, query_as, query_scalar, set_prepared_statements,
    Autocommit,
};
pub use tenant_tx::TenantTx;

/// The migrations compiled into the binary, applied by `momentum migrate` (as the owner).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How long a request waits for a database connection by default: long enough to ride
/// out a busy pool, short enough that a database that is away is a prompt 503, not a
/// hanging client (sqlx's own default is 30 s, spent retrying a refused connection).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A pool with the default acquire timeout (tools, tests).
pub async fn connect(options: PgConnectOptions, max_connections: u32) -> anyhow::Result<PgPool> {
    connect_with(options, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// The runtime pool. The acquire-time ping is off: it costs a round trip per request, and
/// a dead connection surfaces as an error on first use anyway (answered with 503; sqlx
/// drops it when it comes back to the pool). `acquire_timeout` bounds the wait for a
/// connection, retries of a refused connection included. A failure names the server and
/// the reason (an untrusted certificate, a host name it lacks: [`tls::connect_error`]),
/// never the URL's password.
pub async fn connect_with(
    options: PgConnectOptions,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<PgPool> {
    // Without prepared statements nothing would use the cache; without a cache, a
    // statement that still asked to be kept (none should: see `statements`) is at least
    // prepared anew each time rather than reused by a name the pooler may have
    // given to another session.
    let options = if prepared_statements() {
        options
    } else {
        options.statement_cache_capacity(0)
    };
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await
        .map_err(|err| tls::connect_error(&err, &options))
}

/// One of `pool`'s connections, the wait for it recorded for the pool's
/// `momentum_db_pool_acquire_*` series ([`crate::metrics::observe_acquire`]).
pub async fn acquire(pool: &PgPool) -> Result<PoolConnection<Postgres>, sqlx::Error> {
    let started = Instant::now();
    let conn = pool.acquire().await;
    let timed_out = matches!(conn, Err(sqlx::Error::PoolTimedOut));
    crate::metrics::observe_acquire(pool, started.elapsed(), timed_out);
    conn
}

/// Whether the database answers, through `pool`.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    query_scalar::<i32>("SELECT 1")
        .fetch_one(autocommit(pool))
        .await
        .map(|_| ())
}

/// What [`migrate`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrated {
    /// Every migration this binary carries is applied (any that were pending now are).
    Current,
    /// The database carries migrations this binary does not know: a newer release
    /// migrated it. Nothing was applied; every migration this binary carries was already
    /// there, so it can serve (migrations are expand/contract: README, "Rolling upgrades").
    Ahead(Vec<UnknownMigration>),
}

/// A migration applied to the database that this binary does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMigration {
    pub version: i64,
    pub description: String,
}

impl std::fmt::Display for UnknownMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.version, self.description)
    }
}

impl Migrated {
    /// For `momentum migrate`, whose job is to bring the database to this binary's
    /// migrations: a database ahead of them is an error naming the versions, so a
    /// deployment script running an old release's `migrate` notices.
    pub fn ensure_current(&self) -> anyhow::Result<()> {
        match self {
            Self::Current => Ok(()),
            Self::Ahead(unknown) => bail!(
                "the database has migrations this release does not know: {}. A newer release \
                 migrated it; nothing was applied. Run the newer release's `momentum migrate` \
                 (this release can still serve this database: it has every migration this \
                 release needs)",
                list(unknown)
            ),
        }
    }
}

fn list(items: &[impl std::fmt::Display]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row of `_sqlx_migrations`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    pub checksum: Vec<u8>,
    pub success: bool,
}

/// How the database's migrations compare with this binary's ([`MIGRATOR`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationState {
    /// Carried by the binary, not (successfully) applied: it cannot serve yet.
    pub missing: Vec<i64>,
    /// Applied with another checksum than the binary's: the file was changed after it
    /// was applied, so what the binary expects may not be what the database has.
    pub differing: Vec<i64>,
    /// Applied, not carried by the binary: a newer release's. Harmless to serving.
    pub unknown: Vec<UnknownMigration>,
}

impl MigrationState {
    /// Compares what the database reports as applied with what the binary carries.
    pub fn of(applied: &[AppliedMigration]) -> Self {
        let mut state = Self::default();
        for known in MIGRATOR.iter() {
            match applied.iter().find(|a| a.version == known.version) {
                Some(a) if a.success && a.checksum == known.checksum.as_ref() => {}
                Some(a) if a.success => state.differing.push(known.version),
                _ => state.missing.push(known.version),
            }
        }
        state.unknown = applied
            .iter()
            .filter(|a| !MIGRATOR.version_exists(a.version))
            .map(|a| UnknownMigration {
                version: a.version,
                description: a.description.clone(),
            })
            .collect();
        state
    }

    /// Reads `_sqlx_migrations` through `conn` and compares.
    pub async fn read(conn: &mut sqlx::PgConnection) -> anyhow::Result<Self> {
        let applied: Vec<AppliedMigration> = query_as(
            "SELECT version, description, checksum, success FROM _sqlx_migrations \
              ORDER BY version",
        )
        .fetch_all(conn)
        .await
        .context("database unreachable or not migrated")?;
        Ok(Self::of(&applied))
    }
}

/// Applies pending migrations, as the owner role, which must hold BYPASSRLS (the
/// authentication functions it owns read api_keys across tenants) and CREATEROLE (to
/// create the runtime role).
///
/// A database that carries migrations this binary does not know (a newer release ran
/// them) is left alone: [`Migrated::Ahead`] names them. sqlx's `Migrator::run` would
/// refuse it with `VersionMissing` even when there is nothing to apply, so the check is
/// made here first, under the migrator's own lock (the advisory lock every sqlx migrator
/// of this database takes, so no release migrates between the check and the run). If the
/// database is ahead *and* lacks a migration of this binary, the histories diverged and
/// this is an error.
pub async fn migrate(admin: &PgPool) -> anyhow::Result<Migrated> {
    use sqlx::migrate::Migrate;

    let (is_super, bypass_rls, create_role): (bool, bool, bool) = query_as(
        "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(autocommit(admin))
    .await
    .context("cannot read the migration role's attributes")?;
    if !(is_super || (bypass_rls && create_role)) {
        bail!(
            "the migration (owner) role needs BYPASSRLS and CREATEROLE: \
             ALTER ROLE <owner> BYPASSRLS CREATEROLE"
        );
    }
    // sqlx holds a session-level advisory lock while it migrates: through a transaction
    // pooler it would be taken on one server session and left on it for others.
    listen::check_session(
        &admin.connect_options(),
        "MOMENTUM_ADMIN_DATABASE_URL",
        "Migrations hold a session-level advisory lock: point it at PostgreSQL itself, not \
         at the pooler.",
    )
    .await?;
    // A session of its own, closed at the end: the advisory lock is a session's, and an
    // error half-way must not hand a connection still holding it back to the pool.
    let mut conn = admin
        .acquire()
        .await
        .context("cannot connect to migrate")?
        .detach();
    conn.lock()
        .await
        .context("cannot take the migration lock")?;
    conn.ensure_migrations_table()
        .await
        .context("cannot create the migrations table")?;
    let state = MigrationState::read(&mut conn).await?;
    if !state.unknown.is_empty() {
        if !state.missing.is_empty() || !state.differing.is_empty() {
            bail!(
                "the database has migrations this release does not know ({}) and lacks or \
                 differs from ones it carries (missing {:?}, changed {:?}): its history and \
                 this release's diverged; nothing was applied",
                list(&state.unknown),
                state.missing,
                state.differing
            );
        }
        let _ = conn.unlock().await;
        let _ = sqlx::Connection::close(conn).await;
        return Ok(Migrated::Ahead(state.unknown));
    }
    // Takes the same lock again (advisory locks nest within a session) and releases it
    // once.
    MIGRATOR
        .run(&mut conn)
        .await
        .context("applying migrations failed")?;
    conn.unlock()
        .await
        .context("cannot release the migration lock")?;
    let _ = sqlx::Connection::close(conn).await;
    Ok(Migrated::Current)
}

/// What to do about a database without this release's migrations.
const RUN_MIGRATE: &str = "run `momentum migrate` with MOMENTUM_ADMIN_DATABASE_URL naming the \
    owner role (or start `momentum serve` once with it set, which migrates at start)";

/// Refuses to start `serve` or `worker` on a database that lacks a migration this release
/// carries, saying to run `momentum migrate` (otherwise the first query fails with a SQL
/// error about a missing relation or function, or a role check blames the role). `what`
/// names where the pool points. A database ahead of this release (a newer release's
/// migrations beside all of this one's) is fine; a migration applied from a changed file
/// is left to `/readyz` to report, as before.
pub async fn check_migrated(pool: &PgPool, what: &str) -> anyhow::Result<()> {
    let mut tx = pool
        .begin()
        .await
        .with_context(|| format!("{what}: database unreachable"))?;
    let (exists, readable): (bool, bool) = query_as(
        "SELECT to_regclass('_sqlx_migrations') IS NOT NULL, \
                COALESCE(has_table_privilege(to_regclass('_sqlx_migrations'), 'SELECT'), false)",
    )
    .fetch_one(&mut *tx)
    .await
    .with_context(|| format!("{what}: cannot look for the migrations table"))?;
    if !exists {
        bail!("the database of {what} has not been migrated: {RUN_MIGRATE}");
    }
    if !readable {
        bail!(
            "the database role of {what} cannot read the migrations table (_sqlx_migrations): \
             it is not a member of momentum_app (GRANT momentum_app TO <role>), or the \
             database has not been migrated: {RUN_MIGRATE}"
        );
    }
    let state = MigrationState::read(&mut tx).await?;
    let _ = tx.commit().await;
    if !state.missing.is_empty() {
        let ahead = if state.unknown.is_empty() {
            String::new()
        } else {
            format!(
                " (it also has migrations this release does not know: {}; its history and \
                 this release's diverged)",
                list(&state.unknown)
            )
        };
        bail!(
            "the database of {what} lacks migrations this release needs ({}){ahead}: \
             {RUN_MIGRATE}",
            list(&state.missing)
        );
    }
    Ok(())
}

/// Refuses to serve through a role that could read across tenants: a superuser or a
/// BYPASSRLS role ignores row-level security, and the tables' owner can switch it off.
pub async fn check_runtime_role(pool: &PgPool) -> anyhow::Result<()> {
    let (role, is_super, bypass_rls): (String, bool, bool) = query_as(
        "SELECT rolname::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(autocommit(pool))
    .await
    .context("cannot read the database role's attributes")?;
    if is_super {
        bail!(
            "refusing to serve: database role \"{role}\" is a superuser, which bypasses \
             row-level security. Connect DATABASE_URL as a role that is a member of \
             momentum_app instead."
        );
    }
    if bypass_rls {
        bail!(
            "refusing to serve: database role \"{role}\" has BYPASSRLS, which bypasses \
             row-level security. Connect DATABASE_URL as a role without it."
        );
    }
    let owned: Vec<String> = query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') \
            AND pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY 1",
    )
    .fetch_all(autocommit(pool))
    .await
    .context("cannot read table ownership")?;
    if !owned.is_empty() {
        bail!(
            "refusing to serve: database role \"{role}\" owns (or inherits the owner of) \
             tables {owned:?} and could disable their row-level security. Run migrations \
             as a separate owner role and serve as a member of momentum_app."
        );
    }
    Ok(())
}

/// The SECURITY DEFINER functions that act across tenants for background work (the
/// webhook worker's and the exports' claims, the purges, the sealing of plaintext webhook
/// secrets): only members of `momentum_worker` may run them (migration `20261202100003_worker_role.sql`).
pub const WORKER_FUNCTIONS: &[&str] = &[
    "webhook_claim_deliveries_traced(integer, interval, integer)",
    "webhook_claim_deliveries_changes(integer, interval, integer)",
    "webhook_next_due()",
    "purge_trash(interval, integer)",
    "webhook_plaintext_secrets(integer)",
    "idempotency_purge(integer)",
    "webhook_due_stats()",
    "export_claim(integer, interval, integer)",
    "export_expired_files(integer)",
    "import_claim(integer, interval, integer)",
    "import_spent_files(integer)",
];

/// The worker functions the role behind `pool` cannot run.
async fn missing_worker_functions(pool: &PgPool) -> anyhow::Result<Vec<&'static str>> {
    let mut missing = Vec::new();
    for function in WORKER_FUNCTIONS {
        let allowed: bool = query_scalar(
            "SELECT to_regprocedure($1) IS NOT NULL \
                AND has_function_privilege(to_regprocedure($1), 'EXECUTE')",
        )
        .bind(function)
        .fetch_one(autocommit(pool))
        .await
        .context("cannot read the database role's function privileges")?;
        if !allowed {
            missing.push(*function);
        }
    }
    Ok(missing)
}

/// Which process wants to run the background work, for the advice when it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerHost {
    /// `momentum serve` with the worker in the same process.
    Serve,
    /// `momentum worker`.
    Worker,
}

/// Refuses to run the webhook worker and the purges through a role that cannot run the
/// worker functions (a plain member of `momentum_app`, as the API's role should be), or
/// one that could read across tenants ([`check_runtime_role`]).
pub async fn check_worker_role(pool: &PgPool, host: WorkerHost) -> anyhow::Result<()> {
    check_runtime_role(pool).await?;
    let missing = missing_worker_functions(pool).await?;
    if missing.is_empty() {
        return Ok(());
    }
    let role: String = query_scalar("SELECT current_user::text")
        .fetch_one(autocommit(pool))
        .await
        .context("cannot read the database role")?;
    let other_way = match host {
        WorkerHost::Serve => {
            ", or serve with MOMENTUM_WEBHOOK_WORKER=false and run `momentum worker` with such \
             a role"
        }
        WorkerHost::Worker => "",
    };
    bail!(
        "refusing to start the webhook worker: database role \"{role}\" cannot run the \
         worker's functions ({}). The worker and the trash purge connect through \
         MOMENTUM_WORKER_DATABASE_URL (default: DATABASE_URL) as a member of \
         momentum_worker: set it to such a role (GRANT momentum_worker TO <role>){other_way}.",
        missing.join(", ")
    )
}

/// Whether the role behind `pool` can run any worker function: the API's role should
/// not (it would let a request reach every tenant's queue and trash).
pub async fn can_run_worker_functions(pool: &PgPool) -> anyhow::Result<bool> {
    Ok(missing_worker_functions(pool).await?.len() < WORKER_FUNCTIONS.len())
}

/// What `/readyz` reports of the database once it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// Whether the connection the check ran on is encrypted (`pg_stat_ssl`).
    pub encrypted: bool,
}

/// For `/readyz`: the database answers and has every migration this binary carries,
/// each as the binary has it (same checksum); and whether the connection is encrypted.
/// Migrations the binary does not know (a newer release's, during a rolling upgrade) do
/// not make it unready: migrations are expand/contract, so this release keeps working
/// beside them. One transaction, so a transaction pooler keeps both statements on one
/// server session (see [`statements`]).
pub async fn check_ready(pool: &PgPool) -> anyhow::Result<Readiness> {
    let mut tx = pool
        .begin()
        .await
        .context("database unreachable or not migrated")?;
    let state = MigrationState::read(&mut tx).await?;
    if !state.missing.is_empty() {
        bail!("migrations not applied: {:?}", state.missing);
    }
    if !state.differing.is_empty() {
        bail!(
            "migrations applied with another checksum than this release's: {:?}",
            state.differing
        );
    }
    let encrypted: bool = query_scalar(
        "SELECT COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
    )
    .fetch_one(&mut *tx)
    .await
    .context("database unreachable")?;
    tx.commit().await.context("database unreachable")?;
    Ok(Readiness { encrypted })
}

/// The table holding records of `kind` (a constant, safe to splice into SQL).
pub fn record_table(kind: RecordType) -> &'static str {
    match kind {
        RecordType::Contact => "contacts",
        RecordType::Company => "companies",
        RecordType::Lead => "leads",
        RecordType::Activity => "activities",
    }
}

/// Escapes `%`, `_` and `\\` so user text matches literally inside an ILIKE pattern.
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied_as_carried() -> Vec<AppliedMigration> {
        MIGRATOR
            .iter()
            .map(|m| AppliedMigration {
                version: m.version,
                description: m.description.to_string(),
                checksum: m.checksum.to_vec(),
                success: true,
            })
            .collect()
    }

    #[test]
    fn a_database_ahead_of_the_binary_lacks_nothing_the_binary_needs() {
        let mut applied = applied_as_carried();
        assert_eq!(MigrationState::of(&applied), MigrationState::default());
        applied.push(AppliedMigration {
            version: 29_991_231_000_001,
            description: "from a newer release".into(),
            checksum: vec![1; 48],
            success: true,
        });
        let state = MigrationState::of(&applied);
        assert!(
            state.missing.is_empty() && state.differing.is_empty(),
            "{state:?}"
        );
        assert_eq!(
            state.unknown,
            vec![UnknownMigration {
                version: 29_991_231_000_001,
                description: "from a newer release".into()
            }]
        );
    }

    #[test]
    fn a_missing_a_failed_or_a_changed_migration_is_named() {
        let mut applied = applied_as_carried();
        let last = applied.pop().unwrap();
        applied[0].checksum = vec![0; 48];
        applied[1].success = false;
        let state = MigrationState::of(&applied);
        assert_eq!(state.missing, vec![applied[1].version, last.version]);
        assert_eq!(state.differing, vec![applied[0].version]);
        assert!(state.unknown.is_empty());
    }
}
