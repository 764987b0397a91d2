//! Verifying the webhooks Momentum sends, so a receiver is a few lines:
//!
//! ```
//! # fn handle(headers: &reqwest::header::HeaderMap, body: &[u8]) -> Result<(), momentum_sdk::webhooks::VerifyError> {
//! // `secret` is the `whsec_...` shown when the endpoint was created.
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let event = momentum_sdk::webhooks::verify(secret, headers, body)?;
//! if event.event_type == "contact.created" {
//!     let contact: momentum_sdk::types::Contact = event.data_as()?;
//!     println!("new contact {}", contact.id);
//! }
//! # Ok(()) }
//! ```
//!
//! Momentum signs per Standard Webhooks: `webhook-signature` holds `v1,<base64>`
//! signatures (two while a secret is being rotated) of `{webhook-id}.{webhook-timestamp}.{body}`
//! with HMAC-SHA256. [`verify`] accepts the request if any signature matches, in constant
//! time, and the timestamp is within five minutes of now (replays of old requests fail).
//! Deliveries are at least once: deduplicate on [`WebhookEvent::id`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use sha2::Sha256;

/// How far `webhook-timestamp` may be from the receiver's clock, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// A verified webhook.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEvent {
    /// The event's id (`webhook-id`), the same on every retry.
    #[serde(skip)]
    pub id: String,
    /// E.g. `contact.created`; see the `EventType` schema for the catalogue.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the change happened.
    pub timestamp: DateTime<Utc>,
    /// The resource as the API returns it.
    pub data: serde_json::Value,
}

impl WebhookEvent {
    /// `data` as a typed resource, e.g. [`crate::types::Contact`].
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, VerifyError> {
        serde_json::from_value(self.data.clone()).map_err(VerifyError::Body)
    }
}

/// Why a request is not a genuine, fresh webhook from Momentum.
#[derive(Debug)]
pub enum VerifyError {
    /// A `webhook-*` header is absent or not text.
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a Unix time in seconds.
    InvalidTimestamp,
    /// The timestamp is more than [`TOLERANCE_SECS`] away from now.
    TimestampOutOfTolerance,
    /// The secret is not `whsec_` + base64.
    InvalidSecret,
    /// No signature matches: not sent by Momentum with this secret, or altered.
    SignatureMismatch,
    /// Signed, but the body is not a webhook event (or not the type asked for).
    Body(serde_json::Error),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingHeader(name) => write!(f, "the `{name}` header is missing"),
            Self::InvalidTimestamp => f.write_str("`webhook-timestamp` is not a Unix time"),
            Self::TimestampOutOfTolerance => {
                f.write_str("`webhook-timestamp` is too far from now (a replay?)")
            }
            Self::InvalidSecret => f.write_str("the secret is not `whsec_` + base64"),
            Self::SignatureMismatch => f.write_str("no signature matches"),
            Self::Body(err) => write!(f, "the body is not a webhook event: {err}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verifies a received request against the endpoint's `secret` and returns its event.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<WebhookEvent, VerifyError> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(VerifyError::MissingHeader(name))
    };
    verify_parts(
        secret,
        header("webhook-id")?,
        header("webhook-timestamp")?,
        header("webhook-signature")?,
        body,
        Utc::now().timestamp(),
    )
}

/// [`verify`] for frameworks whose headers are not an `http::HeaderMap`: the three
/// header values as received, and the time to check the timestamp against.
pub fn verify_parts(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<WebhookEvent, VerifyError> {
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    if (now - sent).abs() > TOLERANCE_SECS {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| VerifyError::InvalidSecret)?;
    let mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| VerifyError::InvalidSecret)?;
    let genuine = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|signature| {
            let mut mac = mac.clone();
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(sent.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            mac.verify_slice(&signature).is_ok()
        });
    if !genuine {
        return Err(VerifyError::SignatureMismatch);
    }
    let mut event: WebhookEvent = serde_json::from_slice(body).map_err(VerifyError::Body)?;
    event.id = id.to_owned();
    Ok(event)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &[u8] =
        br#"{"type":"contact.created","timestamp":"2026-11-26T10:00:00Z","data":{"id":"x"}}"#;

    fn signature(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_genuine_request_verifies_and_decodes() {
        let sig = signature(SECRET, "evt_1", 1_000, BODY);
        let event = verify_parts(SECRET, "evt_1", "1000", &sig, BODY, 1_010).unwrap();
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.event_type, "contact.created");
        assert_eq!(event.data["id"], "x");
    }

    #[test]
    fn any_of_several_signatures_may_match_during_a_rotation() {
        let old = "whsec_c2VjcmV0LWJlZm9yZS10aGUtcm90YXRpb24=";
        let both = format!(
            "{} {}",
            signature(SECRET, "e", 1_000, BODY),
            signature(old, "e", 1_000, BODY)
        );
        assert!(verify_parts(old, "e", "1000", &both, BODY, 1_000).is_ok());
        assert!(verify_parts(SECRET, "e", "1000", &both, BODY, 1_000).is_ok());
    }

    #[test]
    fn altered_stale_or_foreign_requests_are_refused() {
        let sig = signature(SECRET, "e", 1_000, BODY);
        let altered = BODY.to_vec().into_iter().rev().collect::<Vec<u8>>();
        assert!(matches!(
            verify_parts(SECRET, "e", "1000", &sig, &altered, 1_000),
            Err(VerifyError::SignatureMismatch)
        ));
        assert!(matches!(
            verify_parts(SECRET, "other", "1000", &sig, BODY, 1_000),
            Err(VerifyError::SignatureMismatch)
        ));
        assert!(matches!(
            verify_parts(SECRET, "e", "1000", &sig, BODY, 1_000 + TOLERANCE_SECS + 1),
            Err(VerifyError::TimestampOutOfTolerance)
        ));
        assert!(matches!(
            verify_parts("whsec_b3RoZXI=", "e", "1000", &sig, BODY, 1_000),
            Err(VerifyError::SignatureMismatch)
        ));
        assert!(matches!(
            verify_parts(SECRET, "e", "soon", &sig, BODY, 1_000),
            Err(VerifyError::InvalidTimestamp)
        ));
    }
}
