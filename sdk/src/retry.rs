//! Retries, set once on the client: `429` (after at least its `Retry-After`), `502`,
//! `503`, `504`, a `409 idempotency_key_in_use`, connection errors and answers cut off in
//! transit are retried with exponential backoff and full jitter, up to a cap.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use momentum_sdk::{retry::RetryPolicy, types::ContactCreate, Client};
//!
//! let client = Client::builder("https://api.example.com")
//!     .api_key("mk_...")
//!     .retry(RetryPolicy::default())
//!     .build()?;
//! // Sent with a fresh Idempotency-Key, the same on every attempt: a create whose
//! // answer was lost is replayed by the server, never made twice.
//! let created = client
//!     .contacts_create()
//!     .body(ContactCreate::builder().email("ada@example.com"))
//!     .send()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Every operation that takes an `Idempotency-Key` gets one: yours if you set it with
//! `.idempotency_key(..)` (e.g. one stored with a job, so a restarted job does not create
//! twice either), else a new UUID. A request the server may have acted on is repeated
//! only if repeating it is safe: a `GET`, `PUT` or `DELETE`, or an operation sent with a
//! key. Any other request (a `PATCH`, a `POST` without a key) is retried only when it
//! surely did not reach the server: a refused connection, or a `429`.

use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::{Method, Request, Response, StatusCode};

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// How often and how patiently to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with each retry.
    pub base_delay: Duration,
    /// The longest wait between attempts. A `Retry-After` longer than this is not waited
    /// for: the answer is returned as it is.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// What one attempt's outcome means for the next.
#[derive(Debug, PartialEq)]
enum Verdict {
    Done,
    /// Retry, waiting at least this long (the server's `Retry-After`).
    Retry(Option<Duration>),
}

impl RetryPolicy {
    /// Sends `request` through `http`, retrying as the module's docs say. Answers are
    /// read in full here, so one cut off in transit is retried too.
    pub(crate) async fn execute(
        &self,
        http: &reqwest::Client,
        mut request: Request,
        operation: &str,
    ) -> reqwest::Result<Response> {
        let keyed = crate::operations::KEYED.contains(&operation);
        if keyed && !request.headers().contains_key(IDEMPOTENCY_KEY) {
            let key = uuid::Uuid::new_v4().to_string();
            if let Ok(value) = HeaderValue::from_str(&key) {
                request.headers_mut().insert(IDEMPOTENCY_KEY, value);
            }
        }
        let repeatable = keyed
            || matches!(
                *request.method(),
                Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
            );
        let mut attempt = 1;
        loop {
            // A body that cannot be cloned (a stream) is sent once.
            let next = (attempt < self.max_attempts)
                .then(|| request.try_clone())
                .flatten();
            let outcome = send_buffered(http, request).await;
            let Some(next) = next else {
                return outcome;
            };
            let verdict = match &outcome {
                Ok(response) => verdict_for_answer(response, repeatable),
                Err(err) if err.is_connect() => Verdict::Retry(None),
                Err(_) if repeatable => Verdict::Retry(None),
                Err(_) => Verdict::Done,
            };
            let Verdict::Retry(asked) = verdict else {
                return outcome;
            };
            if asked.is_some_and(|asked| asked > self.max_delay) {
                return outcome;
            }
            tokio::time::sleep(self.delay(attempt, asked)).await;
            request = next;
            attempt += 1;
        }
    }

    /// Exponential backoff with full jitter, at least what the server asked, at most
    /// `max_delay`.
    fn delay(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt - 1))
            .min(self.max_delay);
        let jittered = ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        jittered.max(asked.unwrap_or_default()).min(self.max_delay)
    }
}

fn verdict_for_answer(response: &Response, repeatable: bool) -> Verdict {
    let asked = || {
        response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    };
    match response.status() {
        // Refused before anything was done.
        StatusCode::TOO_MANY_REQUESTS => Verdict::Retry(asked()),
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
            if repeatable =>
        {
            Verdict::Retry(asked())
        }
        // Another attempt with this key is still running: its answer will be replayed.
        StatusCode::CONFLICT if repeatable && key_in_use(response) => Verdict::Retry(asked()),
        _ => Verdict::Done,
    }
}

/// Whether a buffered `409` is `idempotency_key_in_use`. The body is already in memory
/// ([`send_buffered`]); reading it here would consume it, so the check looks at a copy
/// kept in the response's extensions.
fn key_in_use(response: &Response) -> bool {
    response
        .extensions()
        .get::<Body>()
        .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body.0).ok())
        .is_some_and(|json| json["error"]["code"] == "idempotency_key_in_use")
}

#[derive(Clone)]
struct Body(bytes::Bytes);

/// Sends `request` and reads its answer in full, so a connection that drops mid-body is
/// an error of this attempt rather than of the caller's decoding.
async fn send_buffered(http: &reqwest::Client, request: Request) -> reqwest::Result<Response> {
    let response = http.execute(request).await?;
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    let mut rebuilt = http::Response::new(body.clone());
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    if status == StatusCode::CONFLICT {
        rebuilt.extensions_mut().insert(Body(body));
    }
    Ok(Response::from(rebuilt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_respect_retry_after_and_the_ceiling() {
        let policy = RetryPolicy::default();
        for attempt in 1..=4 {
            let wait = policy.delay(attempt, None);
            let ceiling = Duration::from_millis(250) * 2u32.pow(attempt - 1);
            assert!(
                wait <= ceiling && wait >= ceiling / 2,
                "{attempt}: {wait:?}"
            );
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }

    fn answer(status: u16, body: &str) -> Response {
        let mut response = http::Response::new(bytes::Bytes::from(body.to_owned()));
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or_default();
        if status == 409 {
            response
                .extensions_mut()
                .insert(Body(bytes::Bytes::from(body.to_owned())));
        }
        Response::from(response)
    }

    #[test]
    fn only_safe_repeats_follow_an_answer_the_server_may_have_acted_on() {
        for status in [502, 503, 504] {
            assert_eq!(
                verdict_for_answer(&answer(status, ""), true),
                Verdict::Retry(None)
            );
            assert_eq!(
                verdict_for_answer(&answer(status, ""), false),
                Verdict::Done
            );
        }
        assert_eq!(
            verdict_for_answer(&answer(429, ""), false),
            Verdict::Retry(None)
        );
        let in_use = r#"{"error":{"code":"idempotency_key_in_use"}}"#;
        assert_eq!(
            verdict_for_answer(&answer(409, in_use), true),
            Verdict::Retry(None)
        );
        let conflict = r#"{"error":{"code":"conflict"}}"#;
        assert_eq!(
            verdict_for_answer(&answer(409, conflict), true),
            Verdict::Done
        );
        for status in [200, 400, 404, 412, 422, 500] {
            assert_eq!(verdict_for_answer(&answer(status, ""), true), Verdict::Done);
        }
    }
}
