//! The admin listener (`MOMENTUM_ADMIN_LISTEN`): `/metrics`, `/healthz` and `/readyz` for
//! Prometheus and probes, apart from the API, in `serve` and `worker` alike. Plain JSON,
//! not the API's envelope: nothing here is part of the contract, and no request here is
//! rate limited, counted or logged as an API request.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::web::Json;
use poem::{get, handler, EndpointExt, IntoResponse, Response, Route};
use serde_json::json;
use sqlx::PgPool;

use crate::app::system;
use crate::db;
use crate::metrics::Metrics;
use crate::state::AppState;

/// The setting, for errors.
const ADMIN_LISTEN: &str = "MOMENTUM_ADMIN_LISTEN";

/// How long the worker's `/readyz` waits for its database.
const WORKER_READY_TIMEOUT: Duration = Duration::from_secs(2);

/// A bound admin listener, or none (`off`).
pub struct AdminListener {
    acceptor: Option<TcpAcceptor>,
}

impl AdminListener {
    /// Binds `listen` (`off`: nothing); an address that is not one, or cannot be bound,
    /// is an error naming the setting.
    pub async fn bind(listen: &str) -> anyhow::Result<Self> {
        let listen = listen.trim();
        if listen.eq_ignore_ascii_case("off") {
            return Ok(Self { acceptor: None });
        }
        let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
            anyhow::anyhow!(
                "{ADMIN_LISTEN}: `{listen}` is not an address to listen on (host:port, e.g. \
                 127.0.0.1:9464) nor `off`"
            )
        })?;
        let acceptor = TcpListener::bind(addr)
            .into_acceptor()
            .await
            .with_context(|| format!("{ADMIN_LISTEN}: cannot listen on {addr}"))?;
        Ok(Self {
            acceptor: Some(acceptor),
        })
    }

    /// The bound port (`None` when off).
    pub fn port(&self) -> Option<u16> {
        let acceptor = self.acceptor.as_ref()?;
        acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().map(|a| a.port()))
    }

    /// Serves `app` until `shutdown` resolves, in a task of its own.
    pub fn spawn(
        self,
        app: impl poem::Endpoint + 'static,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let port = self.port();
        let Some(acceptor) = self.acceptor else {
            return;
        };
        tracing::info!(port, "admin listener serving /metrics, /healthz, /readyz");
        tokio::spawn(async move {
            let served = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(1)))
                .await;
            if let Err(err) = served {
                tracing::warn!(error = %err, "the admin listener stopped");
            }
        });
    }
}

fn metrics_text(metrics: &Metrics) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}

fn probe(ready: bool, extra: serde_json::Value) -> Response {
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({"status": if ready { "ok" } else { "unavailable" }});
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    Json(body).with_status(status).into_response()
}

#[handler]
fn healthz() -> Response {
    probe(true, json!({}))
}

/// `serve`'s admin routes: `/readyz` is the public `/readyz`'s check (not draining, the
/// database answers with every migration), without the envelope.
pub fn serve_routes(state: AppState) -> impl poem::Endpoint {
    let metrics = Arc::clone(&state.metrics);
    let ready = move |_req: poem::Request| {
        let state = state.clone();
        async move {
            match system::readiness(&state).await {
                Ok(readiness) => probe(
                    true,
                    json!({"database": {"encrypted": readiness.encrypted}}),
                ),
                Err(_) => probe(false, json!({})),
            }
        }
    };
    Route::new()
        .at(
            "/metrics",
            get(poem::endpoint::make_sync(move |_| metrics_text(&metrics))),
        )
        .at("/healthz", get(healthz))
        .at("/readyz", get(poem::endpoint::make(ready)))
        .map_to_response()
}

/// `momentum worker`'s admin routes: `/readyz` is 200 while the worker's database answers
/// and its LISTEN connection is up (`listening`), 503 otherwise.
pub fn worker_routes(
    pool: PgPool,
    listening: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> impl poem::Endpoint {
    let ready = move |_req: poem::Request| {
        let (pool, listening) = (pool.clone(), Arc::clone(&listening));
        async move {
            let database = tokio::time::timeout(WORKER_READY_TIMEOUT, db::ping(&pool))
                .await
                .is_ok_and(|answered| answered.is_ok());
            let listening = listening.load(Ordering::SeqCst);
            probe(
                database && listening,
                json!({"database": database, "listening": listening}),
            )
        }
    };
    Route::new()
        .at(
            "/metrics",
            get(poem::endpoint::make_sync(move |_| metrics_text(&metrics))),
        )
        .at("/healthz", get(healthz))
        .at("/readyz", get(poem::endpoint::make(ready)))
        .map_to_response()
}
