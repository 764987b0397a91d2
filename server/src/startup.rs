//! Building and running the application: connect, check the database role, assemble the
//! routes and middleware, serve until a shutdown signal. Tests start the real thing
//! through [`Application::build`] on port 0.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{get, EndpointExt, Route};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::api::{self, edge::Edge};
use crate::auth::{self, Authenticator};
use crate::config::{SecretKeyArgs, ServeArgs};
use crate::crypto::SecretKey;
use crate::db::trash::TrashSettings;
use crate::db::{self, embedded};
use crate::metrics::Metrics;
use crate::ratelimit::{self, Class, ClassQuota, RateLimiter, StoreSettings, TrustedProxies};
use crate::serving::{self, ConnectionLimits};
use crate::webhooks::worker::Worker;
use crate::webhooks::WebhookSettings;

pub use crate::state::{AppState, IdentitySettings};

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
    /// The operator's key for secrets at rest (`MOMENTUM_SECRET_KEY`).
    pub secret_key: SecretKey,
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
            // A fresh key per value: fine for a test's fresh database, and `serve` always
            // sets the operator's.
            secret_key: SecretKey::generate(),
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
        limits: Arc::clone(&state.limits),
        metrics: Arc::clone(&state.metrics),
        trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
    };
    Route::new()
        .nest("/", service.with(api::idempotency::Idempotency))
        .at("/openapi.json", get(spec))
        .at("/metrics", get(metrics_text))
        .at("/docs", get(api::docs::index))
        .at("/docs/", get(api::docs::asset))
        .at("/docs/*tail", get(api::docs::asset))
        .data(state)
        .with(edge)
}

/// A bound, not yet running server.
pub struct Application {
    acceptor: poem::listener::TcpAcceptor,
    port: u16,
    state: AppState,
    settings: HttpSettings,
    /// The worker's pool, when this process runs the webhook worker and the purges.
    worker_pool: Option<PgPool>,
    /// How long to keep serving, unready, once a shutdown is asked for.
    drain: Duration,
    /// Ends the drain early (`serve`: a second signal).
    drain_cut_short: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The sessions that LISTEN: for credential changes, and for the webhook worker's
    /// wake-ups when this process runs it.
    credential_session: PgPool,
    worker_session: Option<PgPool>,
}

/// The settings naming the URLs listened through, for errors.
const DIRECT_URL: &str = "MOMENTUM_DIRECT_DATABASE_URL";
const WORKER_URL: &str = "MOMENTUM_WORKER_DATABASE_URL (default: DATABASE_URL)";

/// What to do when a URL used for listening leads to a transaction pooler.
const DIRECT_ADVICE: &str = "Listening for credential changes and webhooks needs a session \
    of its own: set MOMENTUM_DIRECT_DATABASE_URL to a URL that reaches PostgreSQL directly. \
    Behind such a pooler, also set MOMENTUM_DB_PREPARED_STATEMENTS=false unless it keeps \
    prepared statements (PgBouncer 1.21 or later with max_prepared_statements).";

/// Adds what to do to an error saying that a statement sqlx prepared was not where it
/// left it, that its name was taken (SQLSTATE 26000, 42P05), or that it takes other
/// parameters than it did (08P01, naming the statement): the way to the database is a
/// transaction pooler that does not keep prepared statements.
fn explain_prepared_statements(err: anyhow::Error) -> anyhow::Error {
    let lost = err.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .and_then(sqlx::Error::as_database_error)
            .is_some_and(|db| match db.code().as_deref() {
                Some("26000" | "42P05") => true,
                Some("08P01") => db.message().contains("prepared statement \"sqlx_s_"),
                _ => false,
            })
    });
    if lost {
        err.context(
            "prepared statements do not survive the way to the database, as through a \
             transaction pooler that does not keep them (PgBouncer before 1.21, or without \
             max_prepared_statements): set MOMENTUM_DB_PREPARED_STATEMENTS=false",
        )
    } else {
        err
    }
}

/// A URL to listen through, checked to lead to a session of its own (see
/// [`db::listen::check_session`]); `what` names its setting in the error.
async fn listen_session(options: PgConnectOptions, what: &str) -> anyhow::Result<PgPool> {
    db::listen::check_session(&options, what, DIRECT_ADVICE).await?;
    Ok(db::listen::session_pool(options))
}

impl Application {
    /// [`Application::build_with_worker_pool`] with one pool for both: its role must then
    /// be a member of `momentum_worker` when `settings.webhooks.worker` is on (an existing
    /// deployment's single role after the upgrade), or the worker off.
    pub async fn build(pool: PgPool, listen: &str, settings: HttpSettings) -> anyhow::Result<Self> {
        Self::build_with_worker_pool(pool.clone(), pool, listen, settings).await
    }

    /// Checks the role behind `pool` (refusing superusers, BYPASSRLS and owners) and the
    /// secret key (refusing one that did not seal the stored secrets). When this process
    /// runs the worker (`settings.webhooks.worker`), checks that `worker_pool`'s role may
    /// run the worker's functions and seals plaintext secrets from before sealing through
    /// it. Binds `listen` (`127.0.0.1:0` picks a free port).
    pub async fn build_with_worker_pool(
        pool: PgPool,
        worker_pool: PgPool,
        listen: &str,
        settings: HttpSettings,
    ) -> anyhow::Result<Self> {
        Self::build_with_direct(pool, worker_pool, None, listen, settings).await
    }

    /// [`Application::build_with_worker_pool`], listening through `direct`
    /// (`MOMENTUM_DIRECT_DATABASE_URL`) when the pools go through a transaction pooler.
    /// Without it, the credential listener uses the API pool's URL and the worker its
    /// pool's, which must then be direct. Refuses a URL to listen through that does not
    /// lead to a session of its own.
    pub async fn build_with_direct(
        pool: PgPool,
        worker_pool: PgPool,
        direct: Option<PgConnectOptions>,
        listen: &str,
        settings: HttpSettings,
    ) -> anyhow::Result<Self> {
        db::check_runtime_role(&pool).await?;
        crate::webhooks::secrets::check_key(&pool, &settings.secret_key).await?;
        let credential_session = match &direct {
            Some(direct) => listen_session(direct.clone(), DIRECT_URL).await?,
            None => listen_session((*pool.connect_options()).clone(), "DATABASE_URL").await?,
        };
        let (worker_pool, worker_session) = if settings.webhooks.worker {
            db::check_worker_role(&worker_pool, db::WorkerHost::Serve).await?;
            crate::webhooks::secrets::seal_plaintext(&worker_pool, &settings.secret_key).await?;
            let session = match direct {
                Some(direct) => db::listen::session_pool(direct),
                None => {
                    let options = (*worker_pool.connect_options()).clone();
                    listen_session(options, WORKER_URL).await?
                }
            };
            (Some(worker_pool), Some(session))
        } else {
            (None, None)
        };
        if db::can_run_worker_functions(&pool).await? {
            // Kept working through the upgrade that split the roles (the migration granted
            // the worker's role to it); said at every start until the operator splits them.
            tracing::warn!(
                "the API's database role can run the worker's cross-tenant functions (it is a \
                 member of momentum_worker): give the worker a role of its own \
                 (MOMENTUM_WORKER_DATABASE_URL) and REVOKE momentum_worker FROM the API's role"
            );
        }
        let acceptor = TcpListener::bind(listen.to_owned())
            .into_acceptor()
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().map(|a| a.port()))
            .context("the listener has no TCP address")?;
        let auth = Arc::new(Authenticator::new(
            pool.clone(),
            settings.identity.auth_cache_ttl,
            settings.identity.last_used_flush,
        ));
        let metrics = Arc::new(Metrics::new());
        let limits = RateLimiter::from_settings(
            &settings.rate_store,
            &settings.rate_limits,
            settings.rate_tenant_factor,
            Arc::clone(&metrics),
        )?;
        Ok(Self {
            acceptor,
            port,
            state: AppState {
                pool,
                auth,
                identity: settings.identity.clone(),
                qr_events: Arc::new(tokio::sync::Notify::new()),
                limits: Arc::new(limits),
                metrics,
                webhooks: settings.webhooks.clone(),
                idempotency_ttl: settings.idempotency_ttl,
                secret_key: settings.secret_key.clone(),
                draining: Arc::new(AtomicBool::new(false)),
            },
            settings,
            worker_pool,
            drain: Duration::ZERO,
            drain_cut_short: None,
            credential_session,
            worker_session,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Drains before stopping: once the shutdown is asked for, `/readyz` answers 503 for
    /// `drain` while every request (new connections included) is still served as usual,
    /// so a load balancer polling `/readyz` takes this instance out of rotation before its
    /// listener closes; clients then never meet a refused connection that the balancer
    /// would still have sent them to. `cut_short` resolving ends the drain at once
    /// (`serve`: a second SIGINT/SIGTERM). Without this call there is no drain.
    #[must_use]
    pub fn with_shutdown_drain(
        mut self,
        drain: Duration,
        cut_short: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.drain = drain;
        self.drain_cut_short = Some(Box::pin(cut_short));
        self
    }

    /// Serves until `shutdown` resolves; then drains (see
    /// [`Application::with_shutdown_drain`]), stops accepting connections, and lets
    /// in-flight requests finish for up to `grace`.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> std::io::Result<()> {
        let auth = Arc::clone(&self.state.auth);
        auth.spawn_usage_flusher();
        let (stop_worker, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(auth::broadcast::listen(
            Arc::clone(&auth),
            self.credential_session.clone(),
            stopped.clone(),
        ));
        let limits = Arc::clone(&self.state.limits);
        tokio::spawn(async move {
            // Keys idle long enough to be back at a full quota are forgotten, so the
            // limiters' memory follows recent traffic, not every address ever seen.
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limits.evict_idle();
            }
        });
        let worker = match (&self.worker_pool, &self.worker_session) {
            (Some(worker_pool), Some(session)) => {
                let worker = Worker::new(
                    worker_pool.clone(),
                    session.clone(),
                    self.settings.webhooks.clone(),
                    self.settings.secret_key.clone(),
                    Some(Arc::clone(&self.state.metrics)),
                    api::webhooks::endpoint_data,
                )
                .map_err(std::io::Error::other)?;
                spawn_purges(worker_pool, self.settings.trash, &stopped);
                Some(tokio::spawn(worker.run(stopped, grace)))
            }
            _ => None,
        };
        let stop_accepting = drain_then_stop(
            shutdown,
            Arc::clone(&self.state.draining),
            self.drain,
            self.drain_cut_short,
        );
        let app = routes(self.state, &self.settings);
        let limits = ConnectionLimits {
            header_read_timeout: self.settings.header_read_timeout,
            max_header_bytes: self.settings.max_header_bytes,
            max_connections: self.settings.max_connections,
            http2_max_streams: self.settings.http2_max_streams,
            ..ConnectionLimits::default()
        };
        let served = serving::serve(self.acceptor, app, limits, stop_accepting, grace).await;
        let _ = stop_worker.send(true);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        // What the last interval recorded is not lost on the way out.
        if let Err(err) = auth.flush_usage().await {
            tracing::warn!(error = %err, "could not record last_used_at at shutdown");
        }
        served
    }
}

/// Resolves when the listener should close: `drain` after `shutdown`, during which
/// `draining` is set (so `/readyz` answers 503), or as soon as `cut_short` resolves.
async fn drain_then_stop(
    shutdown: impl Future<Output = ()>,
    draining: Arc<AtomicBool>,
    drain: Duration,
    cut_short: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
) {
    shutdown.await;
    draining.store(true, Ordering::SeqCst);
    if drain.is_zero() {
        return;
    }
    tracing::info!(
        drain_secs = drain.as_secs_f64(),
        "draining: /readyz answers 503 while requests are still served; then the listener \
         closes"
    );
    let cut_short = async {
        match cut_short {
            Some(cut_short) => cut_short.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = tokio::time::sleep(drain) => {}
        () = cut_short => tracing::info!("asked again: the drain ends now"),
    }
}

/// The background purges, beside the webhook worker and through its role (they work
/// across tenants): expired trash, and expired idempotency keys.
fn spawn_purges(worker_pool: &PgPool, trash: TrashSettings, stopped: &watch::Receiver<bool>) {
    tokio::spawn(db::trash::run(worker_pool.clone(), trash, stopped.clone()));
    tokio::spawn(purge_idempotency_keys(worker_pool.clone(), stopped.clone()));
}

/// Expired idempotency keys of every tenant: this process's turn every 10 minutes (one
/// round per interval across all processes), until `stopped` turns true.
async fn purge_idempotency_keys(pool: PgPool, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(db::idempotency::PURGE_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        if let Err(err) = db::idempotency::purge_round(&pool).await {
            tracing::warn!(error = %err, "could not purge expired idempotency keys");
        }
    }
}

/// The first and the second SIGINT or SIGTERM, as two futures: `serve` drains on the
/// first and cuts the drain short on the second (a second Ctrl-C does not wait out the
/// drain). One listener counts them, so the first signal never resolves both.
pub fn shutdown_signals() -> (
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    use tokio::signal::unix::{signal, SignalKind};

    let (count, counted) = watch::channel(0u32);
    let listeners = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    tokio::spawn(async move {
        let (Ok(mut interrupt), Ok(mut terminate)) = listeners else {
            // No way to hear a signal: never report one (the default handlers still
            // stop the process). This task keeps `count`, so the waiters keep waiting.
            tracing::warn!("cannot listen for SIGINT/SIGTERM; no graceful shutdown");
            return std::future::pending().await;
        };
        loop {
            let name = tokio::select! {
                Some(()) = interrupt.recv() => "SIGINT",
                Some(()) = terminate.recv() => "SIGTERM",
                else => std::future::pending().await,
            };
            let mut nth = 0;
            count.send_modify(|n| {
                *n += 1;
                nth = *n;
            });
            tracing::info!(signal = name, nth, "shutdown requested");
        }
    });
    let nth = move |n: u32| {
        let mut counted = counted.clone();
        async move {
            if counted.wait_for(|seen| *seen >= n).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    (nth(1), nth(2))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

pub fn parse_url(url: &str, what: &str) -> anyhow::Result<PgConnectOptions> {
    // The error of a URL parse can echo the URL, password included: keep it out.
    let options = url
        .parse()
        .map_err(|_| anyhow::anyhow!("{what} is not a valid PostgreSQL URL"))?;
    db::tls::check_url(url, what, &options)?;
    Ok(options)
}

/// A pool on the database `url` names (`what`: its variable, which a failure names),
/// whose encryption the log then states (`sslmode` and `sslrootcert` come from the URL).
pub async fn connect_url(
    url: &str,
    what: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<PgPool> {
    let pool = db::connect_with(parse_url(url, what)?, max_connections, acquire_timeout)
        .await
        .with_context(|| what.to_owned())?;
    log_encryption(&pool, what).await;
    Ok(pool)
}

/// The start-up log's line on a pool's encryption. Not a reason to stop: the checks that
/// follow on the same database fail for real if it is broken.
async fn log_encryption(pool: &PgPool, what: &str) {
    if let Err(err) = db::tls::log_encryption(pool, what).await {
        tracing::warn!(database = what, error = %err, "cannot tell whether the database connection is encrypted");
    }
}

/// The embedded database as `serve` and `tenant create` use it: started (unless already
/// running), bootstrapped and migrated.
pub struct EmbeddedDatabase {
    pub cluster: embedded::Cluster,
    /// Whether this process started it (and so stops it on the way out).
    pub started_here: bool,
    pub admin: PgPool,
    /// What migrating it at open found: `momentum migrate` refuses a database ahead of
    /// this binary, the other commands use it as it is.
    pub migrated: db::Migrated,
}

pub const EMBEDDED_DB: &str = "momentum";

impl EmbeddedDatabase {
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let cluster = embedded::Cluster::new(data_dir, true)?;
        if cluster.init()? {
            tracing::info!(dir = %cluster.root().display(), "created the embedded PostgreSQL cluster");
        }
        let started_here = cluster.start()?;
        let ready = async {
            cluster.bootstrap(EMBEDDED_DB).await?;
            let admin = db::connect(
                cluster.connect_options(embedded::OWNER_ROLE, EMBEDDED_DB),
                2,
            )
            .await?;
            let migrated = db::migrate(&admin).await?;
            warn_if_ahead(&migrated);
            cluster.grant_runtime_role().await?;
            anyhow::Ok((admin, migrated))
        }
        .await;
        match ready {
            Ok((admin, migrated)) => Ok(Self {
                cluster,
                started_here,
                admin,
                migrated,
            }),
            Err(err) => {
                if started_here {
                    let _ = cluster.stop();
                }
                Err(err)
            }
        }
    }

    pub fn runtime_options(&self) -> PgConnectOptions {
        self.cluster
            .connect_options(embedded::RUNTIME_ROLE, EMBEDDED_DB)
    }

    /// The worker's role: what the webhook worker and the purges connect as.
    pub fn worker_options(&self) -> PgConnectOptions {
        self.cluster
            .connect_options(embedded::WORKER_ROLE, EMBEDDED_DB)
    }

    pub async fn close(self) {
        self.admin.close().await;
        if self.started_here {
            if let Err(err) = self.cluster.stop() {
                tracing::warn!(error = %err, "could not stop the embedded PostgreSQL");
            }
        }
    }
}

/// A server started against a database a newer release migrated (the previous release
/// during a rolling upgrade, or one rolled back) serves without migrating: it has every
/// migration it needs, and the newer ones are expand/contract. Said once at start.
fn warn_if_ahead(migrated: &db::Migrated) {
    if let db::Migrated::Ahead(unknown) = migrated {
        let versions: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        tracing::warn!(
            unknown = %versions.join(", "),
            "the database has migrations this release does not know (a newer release \
             migrated it): serving without migrating"
        );
    }
}

/// The file under MOMENTUM_DATA_DIR holding the embedded setup's secret key.
pub const SECRET_KEY_FILE: &str = "secret-key";

/// The operator's key: MOMENTUM_SECRET_KEY if set; without it, with the embedded database
/// only (`data_dir`), the one kept in the data directory, made on first start. With
/// DATABASE_URL there is no safe default: a key made up here would be lost with the
/// process, and the secrets with it.
pub fn secret_key(args: &SecretKeyArgs, data_dir: Option<&Path>) -> anyhow::Result<SecretKey> {
    if let Some(text) = &args.secret_key {
        return Ok(SecretKey::parse(&text.0)?);
    }
    let Some(data_dir) = data_dir else {
        anyhow::bail!(
            "MOMENTUM_SECRET_KEY is not set: with DATABASE_URL, every server and worker \
             needs the operator's key that encrypts webhook signing secrets (32 bytes as \
             base64 or hex; generate one with `openssl rand -base64 32`)"
        );
    };
    embedded_secret_key(data_dir)
}

/// Reads `data_dir/secret-key`, or makes it (mode 0600) when there is none.
fn embedded_secret_key(data_dir: &Path) -> anyhow::Result<SecretKey> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let file = data_dir.join(SECRET_KEY_FILE);
    let key = SecretKey::generate();
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file);
    match created {
        Ok(mut out) => {
            out.write_all(format!("{}\n", key.to_base64()).as_bytes())
                .and_then(|()| out.sync_all())
                .with_context(|| format!("cannot write {}", file.display()))?;
            tracing::info!(file = %file.display(), key_id = key.id(), "made a secret key for the embedded database");
            Ok(key)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            SecretKey::parse(&text).map_err(|_| {
                anyhow::anyhow!(
                    "{} does not hold a secret key (32 bytes as base64 or hex)",
                    file.display()
                )
            })
        }
        Err(err) => Err(err).with_context(|| format!("cannot create {}", file.display())),
    }
}

/// `momentum serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.worker_database.worker_database_url.is_none() || args.database.database_url.is_some(),
        "MOMENTUM_WORKER_DATABASE_URL is set without DATABASE_URL: set both (the embedded \
         PostgreSQL has a worker role of its own)"
    );
    anyhow::ensure!(
        args.pooler.direct_database_url.is_none() || args.database.database_url.is_some(),
        "MOMENTUM_DIRECT_DATABASE_URL is set without DATABASE_URL: set both (the embedded \
         PostgreSQL is reached directly)"
    );
    db::set_prepared_statements(args.pooler.db_prepared_statements);
    let embedded_dir = args
        .database
        .database_url
        .is_none()
        .then_some(args.database.data_dir.as_path());
    let secret_key = secret_key(&args.secrets, embedded_dir)?;
    anyhow::ensure!(
        (1..=3600).contains(&args.header_read_timeout_secs),
        "MOMENTUM_HEADER_READ_TIMEOUT_SECS must be 1 to 3600"
    );
    anyhow::ensure!(
        (serving::MIN_HEADER_BYTES..=1024 * 1024).contains(&args.max_header_bytes),
        "MOMENTUM_MAX_HEADER_BYTES must be {} to 1048576",
        serving::MIN_HEADER_BYTES
    );
    anyhow::ensure!(
        (1..=1_000_000).contains(&args.max_connections),
        "MOMENTUM_MAX_CONNECTIONS must be 1 to 1000000"
    );
    anyhow::ensure!(
        (api::auth::MAX_WAIT_SECS + 1..=3600).contains(&args.request_timeout_secs),
        "MOMENTUM_REQUEST_TIMEOUT_SECS must be {} to 3600: a QR login's long-poll waits up \
         to {} s",
        api::auth::MAX_WAIT_SECS + 1,
        api::auth::MAX_WAIT_SECS
    );
    let settings = HttpSettings {
        max_body_bytes: args.max_body_bytes,
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
        max_header_bytes: args.max_header_bytes,
        max_connections: args.max_connections,
        http2_max_streams: ConnectionLimits::default().http2_max_streams,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        identity: IdentitySettings {
            // An hour at most: a revoked key must not live on for long anywhere.
            auth_cache_ttl: Duration::from_secs(args.auth_cache_secs.min(3600)),
            last_used_flush: Duration::from_secs(args.last_used_flush_secs.max(1)),
            qr_session_ttl: Duration::from_secs(args.qr_session_ttl_secs.max(1)),
            session_token_ttl: Duration::from_secs(args.session_token_ttl_secs.max(1)),
        },
        rate_limits: ratelimit::parse_quotas(&args.rate_limits)
            .map_err(|err| anyhow::anyhow!("MOMENTUM_RATE_LIMITS: {err}"))?,
        trusted_proxies: TrustedProxies::parse(&args.trusted_proxies)
            .map_err(|err| anyhow::anyhow!("MOMENTUM_TRUSTED_PROXIES: {err}"))?,
        rate_tenant_factor: args.rate_tenant_factor,
        rate_store: args.rate_store.settings()?,
        idempotency_ttl: Duration::from_secs(args.idempotency_ttl_secs.max(1)),
        trash: args.trash.settings()?,
        webhooks: args
            .webhooks
            .settings(args.webhook_worker, args.database.database_url.is_none())?,
        secret_key,
    };
    if settings.webhooks.allow_private {
        tracing::info!("webhook endpoints may use private and loopback addresses (MOMENTUM_WEBHOOK_ALLOW_PRIVATE)");
    }
    anyhow::ensure!(
        args.shutdown_drain_secs <= 3600,
        "MOMENTUM_SHUTDOWN_DRAIN_SECS must be 0 to 3600"
    );
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let drain = Duration::from_secs(args.shutdown_drain_secs);
    let acquire_timeout = Duration::from_millis(args.db_acquire_timeout_ms.max(1));
    match &args.database.database_url {
        Some(url) => {
            if let Some(admin_url) = &args.database.admin_database_url {
                let admin = connect_url(
                    admin_url,
                    "MOMENTUM_ADMIN_DATABASE_URL",
                    2,
                    db::DEFAULT_ACQUIRE_TIMEOUT,
                )
                .await?;
                let migrated = db::migrate(&admin).await;
                admin.close().await;
                warn_if_ahead(&migrated?);
            }
            let pool = connect_url(url, "DATABASE_URL", args.db_pool_size, acquire_timeout).await?;
            // The worker's own pool only when it has its own role; else it shares the API's.
            let worker_pool = match &args.worker_database.worker_database_url {
                Some(worker_url) if settings.webhooks.worker => {
                    connect_url(
                        worker_url,
                        "MOMENTUM_WORKER_DATABASE_URL",
                        args.db_pool_size,
                        acquire_timeout,
                    )
                    .await?
                }
                _ => pool.clone(),
            };
            let direct = args
                .pooler
                .direct_database_url
                .as_deref()
                .map(|url| parse_url(url, DIRECT_URL))
                .transpose()?;
            let app =
                Application::build_with_direct(pool, worker_pool, direct, &args.listen, settings)
                    .await
                    .map_err(explain_prepared_statements)?;
            tracing::info!(port = app.port(), "serving");
            let (first, second) = shutdown_signals();
            app.with_shutdown_drain(drain, second)
                .run_until_stopped(first, grace)
                .await?;
        }
        None => {
            let embedded = EmbeddedDatabase::open(&args.database.data_dir).await?;
            let result = async {
                let demo = demo_tenant(&embedded, &args.database.data_dir).await?;
                let pool = db::connect_with(
                    embedded.runtime_options(),
                    args.db_pool_size,
                    acquire_timeout,
                )
                .await?;
                log_encryption(&pool, "embedded").await;
                let worker_pool = if settings.webhooks.worker {
                    let options = embedded.worker_options();
                    db::connect_with(options, args.db_pool_size, acquire_timeout).await?
                } else {
                    pool.clone()
                };
                let app =
                    Application::build_with_worker_pool(pool, worker_pool, &args.listen, settings)
                        .await?;
                announce(&args.listen, app.port(), &demo);
                let (first, second) = shutdown_signals();
                app.with_shutdown_drain(drain, second)
                    .run_until_stopped(first, grace)
                    .await?;
                anyhow::Ok(())
            }
            .await;
            embedded.close().await;
            result?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// `momentum worker`: the webhook delivery worker alone, until SIGINT/SIGTERM.
pub async fn work(args: crate::config::WorkerArgs) -> anyhow::Result<()> {
    // The embedded PostgreSQL only when no database is named at all: a worker needs only
    // the worker's URL.
    let embedded =
        args.database.database_url.is_none() && args.worker_database.worker_database_url.is_none();
    let settings = args.webhooks.settings(true, embedded)?;
    anyhow::ensure!(
        args.pooler.direct_database_url.is_none() || !embedded,
        "MOMENTUM_DIRECT_DATABASE_URL is set without MOMENTUM_WORKER_DATABASE_URL or \
         DATABASE_URL: set one of them too (the embedded PostgreSQL is reached directly)"
    );
    db::set_prepared_statements(args.pooler.db_prepared_statements);
    let direct = args
        .pooler
        .direct_database_url
        .as_deref()
        .map(|url| parse_url(url, DIRECT_URL))
        .transpose()?;
    let embedded_dir = embedded.then_some(args.database.data_dir.as_path());
    let key = secret_key(&args.secrets, embedded_dir)?;
    let trash = args.trash.settings()?;
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let acquire_timeout = Duration::from_millis(args.db_acquire_timeout_ms.max(1));
    let run = |pool: PgPool| async move {
        db::check_worker_role(&pool, db::WorkerHost::Worker).await?;
        crate::webhooks::secrets::prepare(&pool, &key).await?;
        let session = match direct {
            Some(direct) => listen_session(direct, DIRECT_URL).await?,
            None => listen_session((*pool.connect_options()).clone(), WORKER_URL).await?,
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        spawn_purges(&pool, trash, &stopped);
        let endpoint_data = api::webhooks::endpoint_data;
        let worker = Worker::new(pool, session, settings, key, None, endpoint_data)?;
        let worker = tokio::spawn(worker.run(stopped, grace));
        shutdown_signal().await;
        let _ = stop.send(true);
        let _ = worker.await;
        anyhow::Ok(())
    };
    let given = match &args.worker_database.worker_database_url {
        Some(url) => Some((url, "MOMENTUM_WORKER_DATABASE_URL")),
        None => args
            .database
            .database_url
            .as_ref()
            .map(|url| (url, "DATABASE_URL")),
    };
    match given {
        Some((url, what)) => {
            let pool = connect_url(url, what, args.db_pool_size, acquire_timeout).await?;
            run(pool).await.map_err(explain_prepared_statements)
        }
        None => {
            let embedded = EmbeddedDatabase::open(&args.database.data_dir).await?;
            let result = async {
                let options = embedded.worker_options();
                run(db::connect_with(options, args.db_pool_size, acquire_timeout).await?).await
            }
            .await;
            embedded.close().await;
            result
        }
    }
}

/// The demo tenant's credentials, kept in the (private, local) data directory so every
/// start can show them again: the database holds only the key's hash.
async fn demo_tenant(embedded: &EmbeddedDatabase, data_dir: &Path) -> anyhow::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let file = data_dir.join("demo-tenant.json");
    if crate::db::tenants::any_tenant(&embedded.admin).await? {
        return Ok(std::fs::read_to_string(&file).unwrap_or_else(|_| {
            "(the demo tenant exists but its key file is gone; run `momentum tenant create --name NAME`)".into()
        }));
    }
    let tenant =
        crate::db::tenants::provision(&embedded.admin, "Demo", "owner@example.com").await?;
    let json = serde_json::to_string_pretty(&tenant)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&file)
        .with_context(|| format!("cannot write {}", file.display()))?;
    out.write_all(json.as_bytes())?;
    Ok(json)
}

fn announce(listen: &str, port: u16, demo: &str) {
    let host = listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
    let base = format!("http://{host}:{port}");
    // Printed on stdout, not logged: the key is for the person who started the server.
    println!(
        "\nMomentum is serving on {base}\n  Swagger UI: {base}/docs\n  Demo tenant (embedded database only):\n{demo}\n\n  Try: curl -s -H \"Authorization: Bearer <api_key>\" {base}/v1/contacts\n"
    );
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::Redacted;

    #[test]
    fn the_embedded_key_is_made_once_private_and_kept() {
        let dir = std::env::temp_dir().join(format!("momentum-key-{}", uuid::Uuid::new_v4()));
        let none = SecretKeyArgs { secret_key: None };
        let made = secret_key(&none, Some(&dir)).unwrap();
        let file = dir.join(SECRET_KEY_FILE);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(secret_key(&none, Some(&dir)).unwrap().id(), made.id());
        // The variable wins over the file.
        let given = SecretKey::generate();
        let set = SecretKeyArgs {
            secret_key: Some(Redacted(given.to_base64())),
        };
        assert_eq!(secret_key(&set, Some(&dir)).unwrap().id(), given.id());
        std::fs::remove_dir_all(&dir).unwrap();
        // With DATABASE_URL there is no default.
        let err = secret_key(&none, None).unwrap_err().to_string();
        assert!(err.contains("MOMENTUM_SECRET_KEY is not set"), "{err}");
    }
}
