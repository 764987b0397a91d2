//! A bound server with everything it runs beside the routes: the credential and
//! webhook listeners, the worker and the purges when this process runs them, and the
//! drain on shutdown. Tests start the real thing through [`Application::build`] on
//! port 0.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpListener};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::api;
use crate::auth::{self, Authenticator};
use crate::db;
use crate::db::trash::TrashSettings;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::serving::{self, ConnectionLimits};
use crate::webhooks::worker::Worker;

use super::*;

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
pub(super) const DIRECT_URL: &str = "MOMENTUM_DIRECT_DATABASE_URL";
pub(super) const WORKER_URL: &str = "MOMENTUM_WORKER_DATABASE_URL (default: DATABASE_URL)";

/// What to do when a URL used for listening leads to a transaction pooler.
pub(super) const DIRECT_ADVICE: &str =
    "Listening for credential changes and webhooks needs a session \
    of its own: set MOMENTUM_DIRECT_DATABASE_URL to a URL that reaches PostgreSQL directly. \
    Behind such a pooler, also set MOMENTUM_DB_PREPARED_STATEMENTS=false unless it keeps \
    prepared statements (PgBouncer 1.21 or later with max_prepared_statements).";

/// Adds what to do to an error saying that a statement sqlx prepared was not where it
/// left it, that its name was taken (SQLSTATE 26000, 42P05), or that it takes other
/// parameters than it did (08P01, naming the statement): the way to the database is a
/// transaction pooler that does not keep prepared statements.
pub(super) fn explain_prepared_statements(err: anyhow::Error) -> anyhow::Error {
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
pub(super) async fn listen_session(
    options: PgConnectOptions,
    what: &str,
) -> anyhow::Result<PgPool> {
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
        db::check_migrated(&pool, "DATABASE_URL").await?;
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
        metrics.watch_pool("api", &pool);
        if let Some(worker_pool) = &worker_pool {
            // Nothing new when the worker shares the API's pool.
            metrics.watch_pool("worker", worker_pool);
        }
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
                sandboxes: settings.sandboxes,
                exports: settings.exports.clone(),
                imports: settings.imports.clone(),
                uploads: Arc::new(tokio::sync::Semaphore::new(
                    usize::try_from(settings.imports.uploads_at_once).unwrap_or(1),
                )),
                blobs: settings.blobs.clone(),
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

    /// The admin listener's routes for this server: its metrics, and probes that answer
    /// as the public ones do.
    pub fn admin_routes(&self) -> impl poem::Endpoint {
        super::admin::serve_routes(self.state.clone())
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
                spawn_background_work(
                    worker_pool,
                    self.settings.trash,
                    self.settings.sandboxes,
                    Files {
                        exports: self.settings.exports.clone(),
                        imports: self.settings.imports.clone(),
                        blobs: self.settings.blobs.clone(),
                    },
                    &self.state.metrics,
                    &stopped,
                );
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
pub(super) async fn drain_then_stop(
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

/// The exports and imports the worker runs, and the store their files are in.
pub(super) struct Files {
    pub exports: crate::db::exports::ExportSettings,
    pub imports: crate::db::imports::ImportSettings,
    pub blobs: crate::blob::Blobs,
}

/// The background work beside the webhook worker, through its role (it works across
/// tenants): exports and imports, the purges of expired trash, of expired idempotency
/// keys and of expired sandboxes, and the webhook queue's gauges.
pub(super) fn spawn_background_work(
    worker_pool: &PgPool,
    trash: TrashSettings,
    sandboxes: crate::db::sandboxes::SandboxSettings,
    files: Files,
    metrics: &Arc<Metrics>,
    stopped: &watch::Receiver<bool>,
) {
    let metrics = Arc::clone(metrics);
    let jobs = crate::app::exports::Jobs {
        pool: worker_pool.clone(),
        blobs: files.blobs.clone(),
        settings: files.exports,
        render: api::exports::RENDER,
        metrics: Some(Arc::clone(&metrics)),
    };
    tokio::spawn(crate::app::exports::run(jobs.clone(), stopped.clone()));
    tokio::spawn(crate::app::exports::purge(jobs, stopped.clone()));
    let imports = crate::app::imports::Jobs {
        pool: worker_pool.clone(),
        blobs: files.blobs,
        settings: files.imports,
        metrics: Some(Arc::clone(&metrics)),
    };
    tokio::spawn(crate::app::imports::run::<api::imports::Wire>(
        imports.clone(),
        stopped.clone(),
    ));
    tokio::spawn(crate::app::imports::purge(imports, stopped.clone()));
    tokio::spawn(db::trash::run(
        worker_pool.clone(),
        trash,
        Arc::clone(&metrics),
        stopped.clone(),
    ));
    tokio::spawn(purge_idempotency_keys(worker_pool.clone(), stopped.clone()));
    tokio::spawn(db::sandboxes::run(
        worker_pool.clone(),
        sandboxes.purge_interval,
        Arc::clone(&metrics),
        stopped.clone(),
    ));
    tokio::spawn(watch_webhook_queue(
        worker_pool.clone(),
        metrics,
        stopped.clone(),
    ));
}

/// How often the process that runs the worker reads the queue for its gauges: a scrape
/// reads what was last read, so scrapes, however frequent, cost the database nothing.
const QUEUE_STATS_INTERVAL: Duration = Duration::from_secs(5);

/// Reads the webhook queue across tenants every [`QUEUE_STATS_INTERVAL`] into
/// `momentum_webhook_deliveries_due` and `momentum_webhook_oldest_due_age_seconds`, until
/// `stopped` turns true. A failed read keeps the last values (and says so once).
pub(super) async fn watch_webhook_queue(
    pool: PgPool,
    metrics: Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(QUEUE_STATS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        match db::webhooks::due_stats(&pool).await {
            Ok((due, oldest_age)) => {
                metrics.webhook_queue(due, oldest_age);
                failing = false;
            }
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(error = %err, "could not read the webhook queue for its metrics");
            }
            Err(_) => {}
        }
    }
}

/// Expired idempotency keys of every tenant: this process's turn every 10 minutes (one
/// round per interval across all processes), until `stopped` turns true.
pub(super) async fn purge_idempotency_keys(pool: PgPool, mut stopped: watch::Receiver<bool>) {
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
