//! An opt-in retry policy for calls that may be lost on the way: `429`, `503`, an
//! `idempotency_key_in_use` `409`, connection errors and answers cut off in transit are
//! retried with exponential backoff and jitter, waiting at least what `Retry-After` says.
//! Every attempt of one call carries the same `Idempotency-Key`, so a create whose answer
//! was lost is replayed by the server, never made twice.
//!
//! ```no_run
//! # async fn run(client: &momentum_sdk::Client) -> Result<(), momentum_sdk::Error<momentum_sdk::types::ErrorEnvelope>> {
//! use momentum_sdk::retry::RetryPolicy;
//! use momentum_sdk::types::ContactCreate;
//!
//! let body = ContactCreate { email: Some("ada@example.com".into()), ..Default::default() };
//! let created = RetryPolicy::default()
//!     .send(|key| client.contacts_create().idempotency_key(key).body(body.clone()).send())
//!     .await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::types::ErrorEnvelope;
use crate::{Error, ResponseValue};

/// How often and how patiently to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with each retry.
    pub base_delay: Duration,
    /// The longest wait between attempts (`Retry-After` included).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Runs `call` with one idempotency key (a new UUID) until it succeeds, fails in a way
    /// a retry cannot fix, or the attempts run out; returns the last result.
    pub async fn send<T, F, Fut>(&self, call: F) -> Result<ResponseValue<T>, Error<ErrorEnvelope>>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, Error<ErrorEnvelope>>>,
    {
        self.send_with_key(&uuid::Uuid::new_v4().to_string(), call)
            .await
    }

    /// [`RetryPolicy::send`] with a key of the caller's (e.g. one stored with a job, so a
    /// restarted job does not create twice either).
    pub async fn send_with_key<T, F, Fut>(
        &self,
        key: &str,
        call: F,
    ) -> Result<ResponseValue<T>, Error<ErrorEnvelope>>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, Error<ErrorEnvelope>>>,
    {
        let mut attempt = 1;
        loop {
            let result = call(key.to_owned()).await;
            let Err(err) = &result else {
                return result;
            };
            let Some(asked) = retryable(err) else {
                return result;
            };
            if attempt >= self.max_attempts {
                return result;
            }
            tokio_sleep(self.delay(attempt, asked)).await;
            attempt += 1;
        }
    }

    /// Exponential backoff with full jitter, but never less than the server asked.
    fn delay(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt - 1))
            .min(self.max_delay);
        let jittered = ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        jittered.max(asked.unwrap_or_default()).min(self.max_delay)
    }
}

/// `Some(Retry-After)` when a retry may succeed; `None` when it cannot.
fn retryable(err: &Error<ErrorEnvelope>) -> Option<Option<Duration>> {
    match err {
        Error::ErrorResponse(resp) => {
            let status = resp.status().as_u16();
            let in_use = status == 409 && resp.error.code == "idempotency_key_in_use";
            (status == 429 || status == 503 || in_use).then(|| {
                resp.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
            })
        }
        // The request may or may not have reached the server: the key makes it safe.
        Error::CommunicationError(_) | Error::ResponseBodyError(_) => Some(None),
        Error::UnexpectedResponse(resp) if resp.status().as_u16() == 503 => Some(None),
        _ => None,
    }
}

async fn tokio_sleep(duration: Duration) {
    // The SDK already runs on tokio (reqwest); its timer needs no extra feature.
    tokio::time::sleep(duration).await;
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
}
