//! The `serve` and `worker` commands: settings read, the database reached and checked,
//! the process run until a shutdown signal.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;

use crate::api;
use crate::config::ServeArgs;
use crate::db;
use crate::metrics::Metrics;
use crate::ratelimit::{self, TrustedProxies};
use crate::serving::ConnectionLimits;
use crate::webhooks::worker::Worker;

use super::admin::{worker_routes, AdminListener};
use super::*;

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
    // Before the database: a wrong address stops the start at once.
    let admin = AdminListener::bind(&args.admin.admin_listen).await?;
    db::set_prepared_statements(args.pooler.db_prepared_statements);
    let embedded_dir = args
        .database
        .database_url
        .is_none()
        .then_some(args.database.data_dir.as_path());
    let secret_key = secret_key(&args.secrets, embedded_dir)?;
    // Every URL is read now, so a malformed one stops the start before anything connects
    // or migrates. (Numeric ranges and addresses were checked as clap parsed them.)
    check_urls(&[
        (&args.database.database_url, "DATABASE_URL"),
        (
            &args.database.admin_database_url,
            "MOMENTUM_ADMIN_DATABASE_URL",
        ),
        (
            &args.worker_database.worker_database_url,
            "MOMENTUM_WORKER_DATABASE_URL",
        ),
        (&args.pooler.direct_database_url, DIRECT_URL),
    ])?;
    let settings = HttpSettings {
        max_body_bytes: args.max_body_bytes,
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
        max_header_bytes: args.max_header_bytes,
        max_connections: args.max_connections,
        http2_max_streams: ConnectionLimits::default().http2_max_streams,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        identity: IdentitySettings {
            auth_cache_ttl: Duration::from_secs(args.auth_cache_secs),
            last_used_flush: Duration::from_secs(args.last_used_flush_secs),
            qr_session_ttl: Duration::from_secs(args.qr_session_ttl_secs),
            session_token_ttl: Duration::from_secs(args.session_token_ttl_secs),
        },
        rate_limits: ratelimit::parse_quotas(&args.rate_limits)
            .map_err(|err| anyhow::anyhow!("MOMENTUM_RATE_LIMITS: {err}"))?,
        trusted_proxies: TrustedProxies::parse(&args.trusted_proxies)
            .map_err(|err| anyhow::anyhow!("MOMENTUM_TRUSTED_PROXIES: {err}"))?,
        rate_tenant_factor: args.rate_tenant_factor,
        rate_store: args.rate_store.settings()?,
        idempotency_ttl: Duration::from_secs(args.idempotency_ttl_secs),
        trash: args.trash.settings(),
        sandboxes: args.sandboxes.settings(),
        exports: args.exports.settings(),
        imports: args.imports.settings(),
        blobs: args.exports.blobs(&args.database.data_dir)?,
        webhooks: args
            .webhooks
            .settings(args.webhook_worker, args.database.database_url.is_none())?,
        secret_key,
        public_metrics: args.public_metrics,
    };
    if settings.webhooks.allow_private {
        tracing::info!("webhook endpoints may use private and loopback addresses (MOMENTUM_WEBHOOK_ALLOW_PRIVATE)");
    }
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let drain = Duration::from_secs(args.shutdown_drain_secs);
    let acquire_timeout = Duration::from_millis(args.db_acquire_timeout_ms);
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
            let (_admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
            admin.spawn(app.admin_routes(), async {
                let _ = admin_stopped.await;
            });
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
                let (_admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
                admin.spawn(app.admin_routes(), async {
                    let _ = admin_stopped.await;
                });
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
    check_urls(&[
        (&args.database.database_url, "DATABASE_URL"),
        (
            &args.worker_database.worker_database_url,
            "MOMENTUM_WORKER_DATABASE_URL",
        ),
    ])?;
    // Before the database: a wrong address stops the start at once.
    let admin = AdminListener::bind(&args.admin.admin_listen).await?;
    db::set_prepared_statements(args.pooler.db_prepared_statements);
    let direct = args
        .pooler
        .direct_database_url
        .as_deref()
        .map(|url| parse_url(url, DIRECT_URL))
        .transpose()?;
    let embedded_dir = embedded.then_some(args.database.data_dir.as_path());
    let key = secret_key(&args.secrets, embedded_dir)?;
    let trash = args.trash.settings();
    let sandboxes = args.sandboxes.settings();
    let files = super::application::Files {
        exports: args.exports.settings(),
        imports: args.imports.settings(),
        blobs: args.exports.blobs(&args.database.data_dir)?,
    };
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let acquire_timeout = Duration::from_millis(args.db_acquire_timeout_ms);
    let run = |pool: PgPool, what: &'static str| async move {
        // Before the role's checks, which on an unmigrated database would blame the role.
        db::check_migrated(&pool, what).await?;
        db::check_worker_role(&pool, db::WorkerHost::Worker).await?;
        crate::webhooks::secrets::prepare(&pool, &key).await?;
        let session = match direct {
            Some(direct) => listen_session(direct, DIRECT_URL).await?,
            None => listen_session((*pool.connect_options()).clone(), WORKER_URL).await?,
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let metrics = Arc::new(Metrics::new());
        metrics.watch_pool("worker", &pool);
        spawn_background_work(&pool, trash, sandboxes, files, &metrics, &stopped);
        let endpoint_data = api::webhooks::endpoint_data;
        let worker = Worker::new(
            pool.clone(),
            session,
            settings,
            key,
            Some(Arc::clone(&metrics)),
            endpoint_data,
        )?;
        let (_admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        admin.spawn(worker_routes(pool, worker.listening(), metrics), async {
            let _ = admin_stopped.await;
        });
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
            run(pool, what).await.map_err(explain_prepared_statements)
        }
        None => {
            let embedded = EmbeddedDatabase::open(&args.database.data_dir).await?;
            let result = async {
                let options = embedded.worker_options();
                let pool = db::connect_with(options, args.db_pool_size, acquire_timeout).await?;
                run(pool, "the embedded PostgreSQL").await
            }
            .await;
            embedded.close().await;
            result
        }
    }
}

/// Refuses a set URL that does not parse, naming its variable (never echoing the URL).
fn check_urls(urls: &[(&Option<String>, &str)]) -> anyhow::Result<()> {
    for (url, what) in urls {
        if let Some(url) = url {
            parse_url(url, what)?;
        }
    }
    Ok(())
}

/// The demo tenant's credentials, kept in the (private, local) data directory so every
/// start can show them again: the database holds only the key's hash.
pub(super) async fn demo_tenant(
    embedded: &EmbeddedDatabase,
    data_dir: &Path,
) -> anyhow::Result<String> {
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

pub(super) fn announce(listen: &str, port: u16, demo: &str) {
    let host = listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
    let base = format!("http://{host}:{port}");
    // Printed on stdout, not logged: the key is for the person who started the server.
    println!(
        "\nMomentum is serving on {base}\n  Swagger UI: {base}/docs\n  Demo tenant (embedded database only):\n{demo}\n\n  Try: curl -s -H \"Authorization: Bearer <api_key>\" {base}/v1/contacts\n"
    );
}
