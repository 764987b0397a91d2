//! The webhook pipeline end to end: a local receiver that verifies every signature, one
//! endpoint pointing at it, then
//! - latency: contacts created through the API at a steady rate; each delivery's latency
//!   is its arrival time minus the event's own timestamp (taken inside the transaction
//!   that committed it, so commit, wake-up, claim, signing and the POST are all in it);
//! - throughput: a backlog of events committed in one transaction, and how fast the
//!   worker drains it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use sqlx::PgPool;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::load::{self, Target};
use crate::stats::Latencies;

#[derive(Debug, Serialize)]
pub struct WebhookResult {
    /// Deliveries in the latency measurement.
    pub latency_events: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Events in the backlog.
    pub backlog: u64,
    /// From the backlog's commit to its last delivery.
    pub backlog_seconds: f64,
    pub deliveries_per_second: f64,
    /// Deliveries whose signature failed to verify (must be 0).
    pub invalid_signatures: u64,
}

#[derive(Default)]
struct Received {
    secret: String,
    /// Milliseconds from the event's timestamp to its arrival, per delivery.
    latencies_ms: Vec<f64>,
    last: Option<Instant>,
    invalid: u64,
    /// Every request that arrived, verified or not.
    arrived: u64,
}

/// Starts the receiver; it answers 204 to anything and records what it verified.
async fn receiver(state: Arc<Mutex<Received>>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await?.to_bytes();
                        let arrived = Utc::now();
                        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                        state.arrived += 1;
                        match momentum_sdk::webhooks::verify(&state.secret, &parts.headers, &body) {
                            Ok(event) => {
                                let ms = (arrived - event.timestamp).num_microseconds();
                                state
                                    .latencies_ms
                                    .push(ms.unwrap_or(i64::MAX) as f64 / 1000.0);
                                state.last = Some(Instant::now());
                            }
                            Err(_) => state.invalid += 1,
                        }
                        drop(state);
                        let mut answer = Response::new(Full::new(Bytes::new()));
                        *answer.status_mut() = hyper::StatusCode::NO_CONTENT;
                        Ok::<_, hyper::Error>(answer)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

pub async fn measure(
    target: &Target,
    runtime: &PgPool,
    tenant_id: Uuid,
    rate: u64,
    backlog: u64,
) -> anyhow::Result<WebhookResult> {
    let state = Arc::new(Mutex::new(Received::default()));
    let addr = receiver(state.clone()).await?;

    let mut sender = load::connect(target.addr).await?;
    let body = serde_json::json!({
        "url": format!("http://{addr}/hooks"),
        "event_types": ["contact.created"],
    });
    let (status, answer) = load::send(
        &mut sender,
        target,
        Method::POST,
        "/v1/webhook-endpoints",
        Some(body.to_string()),
    )
    .await?;
    if status != 201 {
        bail!(
            "creating the webhook endpoint: {status} {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let created: serde_json::Value = serde_json::from_slice(&answer)?;
    let secret = created["data"]["secret"]
        .as_str()
        .context("no secret in the endpoint's answer")?;
    lock(&state).secret = secret.to_owned();

    // Latency: `rate` creates a second for five seconds, over four connections.
    let total = rate * 5;
    let connections = 4u64;
    let every = Duration::from_secs_f64(connections as f64 / rate as f64);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = load::connect(target.addr).await?;
            let mut tick = tokio::time::interval(every);
            for i in (c..total).step_by(connections as usize) {
                tick.tick().await;
                let body = serde_json::json!({
                    "first_name": "Hook",
                    "email": format!("hook-{i}-{}@bench.example", Uuid::new_v4().simple()),
                });
                let (status, answer) = load::send(
                    &mut sender,
                    &target,
                    Method::POST,
                    "/v1/contacts",
                    Some(body.to_string()),
                )
                .await?;
                if status != 201 {
                    bail!("create: {status} {}", String::from_utf8_lossy(&answer));
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    wait_for(&state, total, Duration::from_secs(60)).await?;
    let mut latencies = Latencies::default();
    for ms in lock(&state).latencies_ms.drain(..) {
        latencies.record_micros((ms * 1000.0).max(0.0) as u64);
    }

    // Throughput: a backlog committed at once, in the tenant's own transaction, with
    // contacts as their payload. A tenant seeded with fewer contacts than the backlog
    // (`--contacts 5000`) goes round its contacts again, so the backlog is always the
    // size asked for; before, it fell short and the wait below ran out.
    let mut tx = runtime.begin().await?;
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant_id.to_string())
        .execute(&mut *tx)
        .await?;
    let emitted = sqlx::query(
        "SELECT emit_event('contact.created', to_jsonb(c) - 'tenant_id') \
         FROM (SELECT contacts.* FROM contacts, generate_series(1, \
                 ceil($1::numeric / greatest((SELECT count(*) FROM contacts), 1))::int) AS round \
               ORDER BY round, contacts.created_at LIMIT $1) AS c",
    )
    .bind(backlog as i64)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    anyhow::ensure!(
        emitted == backlog,
        "the webhook backlog needs contacts to carry: {emitted} of {backlog} events were emitted"
    );
    tx.commit().await?;
    let committed = Instant::now();
    let queued = wait_for(&state, total + backlog, Duration::from_secs(120)).await?;
    let last = lock(&state).last.unwrap_or(committed);
    let seconds = (last - committed).as_secs_f64();
    let invalid = lock(&state).invalid;
    Ok(WebhookResult {
        latency_events: latencies.len() as u64,
        latency_p50_ms: latencies.percentile_ms(0.50),
        latency_p99_ms: latencies.percentile_ms(0.99),
        backlog: queued - total,
        backlog_seconds: seconds,
        deliveries_per_second: (queued - total) as f64 / seconds,
        invalid_signatures: invalid,
    })
}

fn lock(state: &Mutex<Received>) -> std::sync::MutexGuard<'_, Received> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until `count` deliveries have arrived (verified or not); returns how many did.
async fn wait_for(state: &Mutex<Received>, count: u64, limit: Duration) -> anyhow::Result<u64> {
    let deadline = Instant::now() + limit;
    loop {
        let seen = lock(state).arrived;
        if seen >= count {
            return Ok(seen);
        }
        if Instant::now() > deadline {
            bail!("only {seen} of {count} webhooks arrived within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
