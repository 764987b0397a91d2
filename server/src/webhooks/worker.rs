//! The delivery worker: claim due deliveries, sign and send each, record the attempt and
//! decide what comes next (delivered, retry later, failed), then look for more. It wakes
//! on `LISTEN momentum_webhooks` (sent when a change commits) and, should a notification
//! be missed, polls; between the two it sleeps exactly until the next retry is due.
//!
//! Delivery is at least once: a claim is a lease, and a worker that dies mid-send leaves
//! its deliveries due again when the lease ends, under the same `webhook-id`. Several
//! workers (one per server instance, or `momentum worker`) share the queue without
//! sending a delivery twice (`FOR UPDATE SKIP LOCKED`). Order per endpoint is not
//! promised: deliveries are sent concurrently, and retries overtake nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use rand::Rng;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{watch, Notify, Semaphore};
use tracing::Instrument;
use url::Host;

use super::guard::{self, GuardedResolver};
use super::WebhookSettings;
use super::{secrets, signing};
use crate::crypto::SecretKey;
use crate::db::webhooks::{self as repo, Attempt, Claim, EndpointRow, Next, CHANNEL};
use crate::db::TenantTx;
use crate::error::AppError;
use crate::events::{self, EventType};
use crate::metrics::Metrics;
use crate::telemetry;

/// The most of a receiver's answer kept with an attempt.
pub const RESPONSE_BODY_LIMIT: usize = 4096;

/// The longest a `Retry-After` can push a retry back; beyond it the receiver is asking for
/// more patience than the schedule has.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 3600);

/// Renders an endpoint as the API returns it, for the `data` of the
/// `webhook_endpoint.disabled` event the worker emits. The API provides it
/// (`api::webhooks::endpoint_data`) and `startup` hands it over: the wire form is the
/// API's to define, and this module must never import `crate::api`.
pub type EndpointData = fn(EndpointRow) -> serde_json::Value;

pub struct Worker {
    pool: PgPool,
    /// Where the worker LISTENs: a session of its own, not through a transaction pooler
    /// (see [`crate::db::listen`]).
    listen_session: PgPool,
    settings: WebhookSettings,
    client: reqwest::Client,
    slots: Arc<Semaphore>,
    /// Signalled when a delivery ends: its slot, and its endpoint's share of the
    /// per-endpoint cap, are free for what is due behind it.
    finished: Notify,
    metrics: Option<Arc<Metrics>>,
    /// Whether the LISTEN connection is up (`momentum worker`'s `/readyz`).
    listening: Arc<AtomicBool>,
    /// Opens the endpoints' signing secrets.
    key: SecretKey,
    endpoint_data: EndpointData,
}

impl Worker {
    /// A worker claiming and recording through `pool`, and listening through
    /// `listen_session` ([`crate::db::listen::session_pool`]); `endpoint_data` renders the
    /// endpoints it disables.
    pub fn new(
        pool: PgPool,
        listen_session: PgPool,
        settings: WebhookSettings,
        key: SecretKey,
        metrics: Option<Arc<Metrics>>,
        endpoint_data: EndpointData,
    ) -> anyhow::Result<Arc<Self>> {
        let client = client(&settings)?;
        Ok(Arc::new(Self {
            pool,
            listen_session,
            slots: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            finished: Notify::new(),
            settings,
            client,
            metrics,
            listening: Arc::new(AtomicBool::new(false)),
            key,
            endpoint_data,
        }))
    }

    /// `true` while the worker's LISTEN connection is up: the flag, to read while it runs.
    pub fn listening(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.listening)
    }

    /// Runs until `stop` turns true, then waits up to `grace` for requests in flight
    /// (those not finished are sent again by a later claim).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>, grace: Duration) {
        let mut listener = self.listen().await;
        self.listening.store(listener.is_some(), Ordering::SeqCst);
        tracing::info!(
            concurrency = self.settings.concurrency,
            listening = listener.is_some(),
            "webhook worker started"
        );
        // Without a listener (the database went away, or never let us LISTEN) the worker
        // tries to listen again on this backoff, and polls at least as often meanwhile:
        // otherwise it would fall back to the (long) poll interval for good.
        let mut relisten = Relisten::new(self.settings.poll_interval);
        loop {
            if *stop.borrow() {
                break;
            }
            if listener.is_none() && relisten.due() {
                listener = self.listen().await;
                self.listening.store(listener.is_some(), Ordering::SeqCst);
                relisten.outcome(listener.is_some());
            }
            let claimed = tokio::select! {
                claimed = self.claim_and_send() => claimed,
                _ = stop.changed() => break,
            };
            match claimed {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "webhook worker could not claim"),
            }
            let mut wait = self.idle_wait().await;
            if listener.is_none() {
                wait = wait.min(relisten.until_due());
            }
            tokio::select! {
                _ = stop.changed() => break,
                () = tokio::time::sleep(wait) => {}
                () = self.finished.notified() => {}
                woke = wait_for_notification(&mut listener) => {
                    if !woke {
                        // The listening connection is gone. What was notified meanwhile
                        // is found by the claim that follows the next LISTEN.
                        tracing::warn!("webhook worker lost its LISTEN connection");
                        listener = None;
                        self.listening.store(false, Ordering::SeqCst);
                        relisten.outcome(false);
                    }
                }
            }
        }
        let all = u32::try_from(self.settings.concurrency.max(1)).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(grace, self.slots.acquire_many(all)).await;
        if drained.is_err() {
            tracing::warn!(
                "webhook worker stopped with requests in flight; they will be sent again"
            );
        }
        self.listening.store(false, Ordering::SeqCst);
        tracing::info!("webhook worker stopped");
    }

    async fn listen(&self) -> Option<PgListener> {
        let listener = async {
            let mut listener = PgListener::connect_with(&self.listen_session).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        match listener {
            Ok(listener) => Some(listener),
            Err(err) => {
                tracing::warn!(error = %err, "webhook worker cannot LISTEN; polling only");
                None
            }
        }
    }

    /// Claims as many due deliveries as there are free slots (waiting for one slot at
    /// least) and starts sending them. `true` when the claim was full, so more may be due.
    async fn claim_and_send(self: &Arc<Self>) -> Result<bool, sqlx::Error> {
        let Ok(first) = Arc::clone(&self.slots).acquire_owned().await else {
            return Ok(false);
        };
        let wanted = 1 + self.slots.available_permits();
        let claims = repo::claim(
            &self.pool,
            wanted,
            self.settings.endpoint_concurrency.max(1),
            self.settings.lease(),
        )
        .await?;
        let full = claims.len() == wanted;
        let mut first = Some(first);
        for claim in claims {
            let permit = match first.take() {
                Some(permit) => permit,
                // Only this loop takes slots, so the ones counted free are still free.
                None => match Arc::clone(&self.slots).try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let worker = Arc::clone(self);
            let in_flight = self.metrics.as_ref().map(|m| m.webhook_in_flight().clone());
            if let Some(gauge) = &in_flight {
                gauge.inc();
            }
            tokio::spawn(async move {
                worker.deliver(claim).await;
                if let Some(gauge) = in_flight {
                    gauge.dec();
                }
                drop(permit);
                worker.finished.notify_one();
            });
        }
        Ok(full)
    }

    /// How long to sleep with nothing (more) to claim: until the next retry is due, at most
    /// the poll interval. Something due already that the claim just left was held back
    /// (its endpoint is at its cap, or another worker is taking it): the end of a delivery
    /// wakes the worker for it, so this waits up to a second rather than spinning.
    async fn idle_wait(&self) -> Duration {
        let poll = self.settings.poll_interval;
        match repo::next_due(&self.pool).await {
            Ok(Some(at)) => match (at - Utc::now()).to_std() {
                Ok(wait) => wait.clamp(Duration::from_millis(20), poll),
                Err(_) => poll.min(Duration::from_secs(1)),
            },
            Ok(None) | Err(_) => poll,
        }
    }

    async fn deliver(&self, claim: Claim) {
        // `debug`: it exists only when traces are on or the logs ask for it. Never the
        // URL (its query string may hold a receiver's token) nor the secrets.
        let span = tracing::debug_span!(
            "webhook.attempt",
            otel.kind = "client",
            endpoint_id = %claim.endpoint_id,
            delivery_id = %claim.delivery_id,
            event_id = %claim.event_id,
            event_type = %claim.event_type,
            attempt = claim.step.saturating_add(1),
            manual = claim.manual,
            outcome = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if telemetry::enabled() {
            // A child of the change that emitted the event: the receiver's trace, the
            // request's and this attempt's are one.
            if let Some(traceparent) = &claim.event_traceparent {
                telemetry::continue_from(&span, traceparent);
            }
        }
        let delivered = self.try_deliver(&claim).instrument(span).await;
        if let Err(err) = delivered {
            // The attempt could not be recorded: the lease runs out and the delivery is
            // sent again (at least once, never lost).
            // The cause too: "internal error" alone tells an operator nothing.
            let cause = std::error::Error::source(&err).map(ToString::to_string);
            tracing::warn!(
                delivery_id = %claim.delivery_id,
                error = %err,
                cause = cause.as_deref().unwrap_or_default(),
                "could not record a webhook attempt"
            );
        }
    }

    async fn try_deliver(&self, claim: &Claim) -> Result<(), AppError> {
        if !claim.endpoint_enabled && claim.event_type != EventType::WebhookTest.as_str() {
            let mut tx = TenantTx::begin(&self.pool, claim.tenant_id).await?;
            repo::drop_claim(&mut tx, claim, "endpoint disabled").await?;
            return tx.commit().await;
        }
        let started = Instant::now();
        // A secret that does not open is never replaced by anything else: the delivery is
        // not sent, the attempt says so, and it is retried on the schedule (or by hand,
        // once the operator has fixed the key).
        let result = match self.signing_secrets(claim) {
            Ok(secrets) => self.send(claim, &secrets).await,
            Err(why) => Err(why),
        };
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let outcome = Outcome::of(result).await;
        let next = self.next_step(claim, &outcome);
        let attempt = Attempt {
            manual: claim.manual,
            status_code: outcome.status,
            duration_ms,
            response_body: outcome.body.clone(),
            error: outcome.error.clone(),
        };
        let next_label = match next {
            Next::Delivered => "delivered",
            Next::RetryAt { .. } => "retry",
            Next::Failed => "failed",
        };
        if let Some(metrics) = &self.metrics {
            metrics.webhook_attempt(next_label);
        }
        let span = tracing::Span::current();
        span.record("outcome", next_label);
        if let Some(status) = outcome.status {
            span.record("http.response.status_code", status);
        }
        if !outcome.delivered() {
            span.record("otel.status_code", "error");
        }
        tracing::debug!(
            delivery_id = %claim.delivery_id,
            endpoint_id = %claim.endpoint_id,
            status = ?outcome.status,
            error = ?outcome.error,
            duration_ms,
            "webhook attempt"
        );
        // Lock order: the endpoint's row before the delivery's, the order in which
        // deleting or disabling an endpoint takes them (its row, then its deliveries by
        // cascade or by failing them). Recording the attempt first and touching the
        // endpoint after deadlocks with a concurrent DELETE of the endpoint, which its
        // client then sees as a `409 conflict`.
        let mut tx = TenantTx::begin(&self.pool, claim.tenant_id).await?;
        let disable_for = if outcome.delivered() {
            repo::endpoint_succeeded(&mut tx, claim.endpoint_id).await?;
            None
        } else {
            let failing_since = repo::endpoint_failed(&mut tx, claim.endpoint_id).await?;
            let failing_too_long = failing_since.is_some_and(|since| {
                (Utc::now() - since)
                    .to_std()
                    .is_ok_and(|d| d >= self.settings.disable_after)
            });
            if outcome.status == Some(410) {
                Some("gone")
            } else if failing_too_long {
                Some("failing")
            } else {
                None
            }
        };
        if disable_for.is_some() {
            repo::lock_endpoint(&mut tx, claim.endpoint_id).await?;
        }
        // Disabling fails the endpoint's pending deliveries, this one included if it is
        // to be retried: it must come after the attempt has set this delivery's status.
        repo::record_attempt(&mut tx, claim, &attempt, next).await?;
        let mut disabled = None;
        if let Some(reason) = disable_for {
            if let Some(row) = repo::disable(&mut tx, claim.endpoint_id, reason).await? {
                tracing::info!(endpoint_id = %row.id, reason, "webhook endpoint disabled");
                let endpoint = (self.endpoint_data)(row);
                events::emit(&mut tx, EventType::WebhookEndpointDisabled, &endpoint).await?;
                disabled = Some(reason);
            }
        }
        tx.commit().await?;
        if let (Some(reason), Some(metrics)) = (disabled, &self.metrics) {
            metrics.webhook_endpoint_disabled(reason);
        }
        Ok(())
    }

    /// The secrets that sign this delivery, opened: the current one, and the previous
    /// one during a rotation's overlap. The current one must open; a previous one that
    /// does not is left out (its receivers have the current one).
    fn signing_secrets(&self, claim: &Claim) -> Result<Vec<String>, String> {
        let open =
            |stored: &str| secrets::open(&self.key, claim.tenant_id, claim.endpoint_id, stored);
        let current = open(&claim.secret).map_err(|err| {
            tracing::error!(
                endpoint_id = %claim.endpoint_id,
                error = %err,
                "cannot decrypt a webhook signing secret; the delivery is not sent"
            );
            "not sent: the server could not decrypt the endpoint's signing secret".to_owned()
        })?;
        let mut all = vec![current];
        if let Some(stored) = &claim.previous_secret {
            match open(stored) {
                Ok(previous) => all.push(previous),
                Err(err) => tracing::error!(
                    endpoint_id = %claim.endpoint_id,
                    error = %err,
                    "cannot decrypt a previous webhook signing secret; signing with the current one only"
                ),
            }
        }
        Ok(all)
    }

    /// One signed POST. The body is rebuilt from the stored event the same way every
    /// time, so every retry carries the same bytes under the same `webhook-id`.
    async fn send(&self, claim: &Claim, secrets: &[String]) -> Result<reqwest::Response, String> {
        let url = guard::parse_url(&claim.url).map_err(|why| format!("the URL {why}"))?;
        if !self.settings.allow_private {
            let literal = match url.host() {
                Some(Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(guard::is_forbidden) {
                return Err(format!(
                    "refused: the URL's host is a {}",
                    guard::NON_PUBLIC
                ));
            }
        }
        let body = payload(claim);
        let id = claim.event_id.to_string();
        let timestamp = Utc::now().timestamp();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let signature = signing::signature_header(&secrets, &id, timestamp, &body);
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
        // Outside the signature (which covers the id, the timestamp and the body), so a
        // receiver verifies as before and may ignore it.
        let request = match traceparent(claim) {
            Some(traceparent) => request.header("traceparent", traceparent),
            None => request,
        };
        request.body(body).send().await.map_err(describe)
    }

    fn next_step(&self, claim: &Claim, outcome: &Outcome) -> Next {
        if outcome.delivered() {
            return Next::Delivered;
        }
        if outcome.status == Some(410) {
            return Next::Failed;
        }
        let step = usize::try_from(claim.step).unwrap_or(usize::MAX);
        let Some(wait) = self.settings.retry_schedule.get(step) else {
            return Next::Failed;
        };
        let wait = jitter(*wait).max(outcome.retry_after.unwrap_or_default().min(RETRY_AFTER_CAP));
        let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
        Next::RetryAt {
            at,
            step: claim.step.saturating_add(1),
        }
    }
}

/// The client every webhook request is sent with.
fn client(settings: &WebhookSettings) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        // A redirect would send the signed body somewhere the tenant never named.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Momentum-Webhooks/", env!("CARGO_PKG_VERSION")));
    let builder = match &settings.proxy {
        // Only the proxy's own name is ever resolved here (the proxy resolves the
        // destination), so the guarded resolver would check the wrong address and refuse
        // a proxy on the operator's private network. The operator's proxy must enforce
        // the egress rules; URLs are still checked at registration and literal addresses
        // at every send.
        Some(proxy) => {
            tracing::info!(
                ?proxy,
                "webhook requests go through MOMENTUM_WEBHOOK_PROXY, which must refuse \
                 private destinations itself"
            );
            builder.proxy(reqwest::Proxy::all(proxy.url().as_str())?)
        }
        // reqwest would otherwise follow HTTP_PROXY, HTTPS_PROXY and ALL_PROXY from the
        // environment: through such a proxy the proxy resolves and connects, and the
        // guarded resolver is never asked, so any address becomes reachable.
        None => builder.no_proxy().dns_resolver(Arc::new(GuardedResolver {
            allow_private: settings.allow_private,
        })),
    };
    Ok(builder.build()?)
}

/// When to try LISTEN again after losing it: soon at first, then backing off to the poll
/// interval (at most 5 s), so a database that is down is not hammered and one that is back
/// is noticed within seconds.
struct Relisten {
    next: Instant,
    backoff: Duration,
    max: Duration,
}

impl Relisten {
    const FIRST: Duration = Duration::from_millis(100);

    fn new(poll: Duration) -> Self {
        Self {
            next: Instant::now(),
            backoff: Self::FIRST,
            max: poll.min(Duration::from_secs(5)).max(Self::FIRST),
        }
    }

    fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    fn until_due(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    fn outcome(&mut self, listening: bool) {
        if listening {
            self.backoff = Self::FIRST;
        } else {
            self.next = Instant::now() + self.backoff;
            self.backoff = (self.backoff * 2).min(self.max);
        }
    }
}

/// Resolves `true` on a notification, `false` when the listening connection failed;
/// never without a listener.
async fn wait_for_notification(listener: &mut Option<PgListener>) -> bool {
    match listener {
        Some(l) => l.recv().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// The `traceparent` a delivery carries: with traces on, this attempt's (a child of the
/// change that emitted the event, or the start of a trace when the change was not
/// traced); with them off, the change's as it was stored; none when neither exists.
fn traceparent(claim: &Claim) -> Option<String> {
    let own = if telemetry::enabled() {
        telemetry::traceparent(&tracing::Span::current())
    } else {
        None
    };
    own.or_else(|| {
        claim
            .event_traceparent
            .clone()
            .filter(|stored| telemetry::is_traceparent(stored))
    })
}

/// The body of a delivery: `{"type", "timestamp", "data"}`, and `changed_fields` and
/// `previous` for the events that carry them, as `GET /v1/events` shows it.
pub fn payload(claim: &Claim) -> Vec<u8> {
    let mut body = serde_json::json!({
        "type": claim.event_type,
        "timestamp": claim.event_created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "data": claim.event_data,
    });
    if let (Some(changed), Some(previous)) = (&claim.event_changed_fields, &claim.event_previous) {
        body["changed_fields"] = serde_json::json!(changed);
        body["previous"] = previous.clone();
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

/// ±10%, so deliveries that failed together do not all come back at the same instant.
fn jitter(wait: Duration) -> Duration {
    wait.mul_f64(rand::thread_rng().gen_range(0.9..=1.1))
}

/// What a request came to, as recorded.
struct Outcome {
    status: Option<u16>,
    body: Option<String>,
    error: Option<String>,
    retry_after: Option<Duration>,
}

impl Outcome {
    async fn of(result: Result<reqwest::Response, String>) -> Self {
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                return Self {
                    status: None,
                    body: None,
                    error: Some(error),
                    retry_after: None,
                }
            }
        };
        let status = response.status().as_u16();
        // Delta-seconds only; an HTTP-date `Retry-After` falls back to the schedule.
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let (body, error) = read_start(response).await;
        Self {
            status: Some(status),
            body: Some(body),
            error,
            retry_after,
        }
    }

    fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The first [`RESPONSE_BODY_LIMIT`] bytes of the answer, as text; the rest is not read.
async fn read_start(mut response: reqwest::Response) -> (String, Option<String>) {
    let mut bytes = Vec::new();
    let mut error = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = RESPONSE_BODY_LIMIT - bytes.len();
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if bytes.len() >= RESPONSE_BODY_LIMIT {
                    break;
                }
            }
            Ok(None) => break,
            Err(err) => {
                error = Some(describe(err));
                break;
            }
        }
    }
    (String::from_utf8_lossy(&bytes).into_owned(), error)
}

/// A request error as the attempt log shows it: the kind first, then the causes.
fn describe(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Set in the child process [`the_client_ignores_the_environment_s_proxy_variables`]
    /// starts, so that only there does [`proxy_probe`] send anything.
    const PROBE: &str = "MOMENTUM_TEST_PROXY_PROBE";

    /// A stand-in proxy on 127.0.0.1: answers every connection 204 and counts them.
    fn fake_proxy() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counted.fetch_add(1, Ordering::SeqCst);
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let _ = stream.write_all(
                    b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        (url, hits)
    }

    fn worker(settings: WebhookSettings) -> Arc<Worker> {
        // Never connected: only the worker's HTTP client is used.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://probe@127.0.0.1:1/probe")
            .expect("a lazy pool");
        // Nothing is disabled here: no endpoint is ever rendered.
        let endpoint_data: EndpointData = |_| serde_json::Value::Null;
        Worker::new(
            pool.clone(),
            pool,
            settings,
            SecretKey::generate(),
            None,
            endpoint_data,
        )
        .expect("build the worker")
    }

    /// The proxy variables are process-wide, so they are set only in a child process
    /// (this test binary again, running [`proxy_probe`] alone), never in this one.
    #[test]
    fn the_client_ignores_the_environment_s_proxy_variables() {
        let (proxy, hits) = fake_proxy();
        let exe = std::env::current_exe().expect("the test binary");
        let mut child = std::process::Command::new(exe);
        child
            .args([
                "--exact",
                "webhooks::worker::tests::proxy_probe",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(PROBE, "1")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
            child.env(name, &proxy).env(name.to_lowercase(), &proxy);
        }
        let out = child.output().expect("run the probe");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("probe sent"),
            "the probe did not run: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "webhook requests went through the environment's proxy, past the guard: {stdout}"
        );
    }

    #[tokio::test]
    async fn a_proxy_the_operator_names_carries_every_request_even_on_a_private_network() {
        let (proxy, hits) = fake_proxy();
        // By name, on loopback: the guard must not refuse the operator's own proxy.
        let proxy = proxy.replace("127.0.0.1", "localhost");
        let worker = worker(WebhookSettings {
            timeout: Duration::from_secs(3),
            proxy: Some(super::super::WebhookProxy::parse(&proxy).unwrap()),
            ..WebhookSettings::default()
        });
        let sent = worker
            .client
            .post("http://hook.invalid/hook")
            .body("{}")
            .send()
            .await
            .expect("sent through the proxy");
        assert_eq!(sent.status().as_u16(), 204);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    /// Runs only in the child process of the test above: sends webhook requests to a
    /// name that does not resolve, which only a proxy could carry.
    #[tokio::test]
    async fn proxy_probe() {
        if std::env::var_os(PROBE).is_none() {
            return;
        }
        let worker = worker(WebhookSettings {
            timeout: Duration::from_secs(3),
            ..WebhookSettings::default()
        });
        for url in ["http://hook.invalid/hook", "https://hook.invalid/hook"] {
            let result = worker.client.post(url).body("{}").send().await;
            println!("probe sent to {url}: {:?}", result.map(|r| r.status()));
        }
    }
}
