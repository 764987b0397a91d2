//! Verifying the webhooks Momentum sends, and decoding them into a typed [`Event`], so a
//! receiver is a few lines:
//!
//! ```
//! # fn handle(headers: &reqwest::header::HeaderMap, body: &[u8]) -> Result<(), momentum_sdk::webhooks::VerifyError> {
//! use momentum_sdk::webhooks::{verify, Event};
//!
//! // `secret` is the `whsec_...` shown when the endpoint was created.
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let webhook = verify(secret, headers, body)?;
//! match webhook.event {
//!     Event::ContactCreated(contact) => println!("new contact {}", contact.id),
//!     Event::LeadWon(lead) => println!("won {}", lead.title),
//!     Event::Unknown { event_type, .. } => println!("{event_type}: newer than this SDK"),
//!     other => println!("{}", other.event_type()),
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

use crate::types;

/// How far `webhook-timestamp` may be from the receiver's clock, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// A verified webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// The event's id (`webhook-id`), the same on every retry.
    pub id: String,
    /// When the change happened.
    pub timestamp: DateTime<Utc>,
    /// What happened, with its typed `data`.
    pub event: Event,
    /// What the change changed, on `*.updated` and `lead.stage_changed` events (`None` on
    /// every other type).
    pub changes: Option<Changes>,
}

impl WebhookEvent {
    /// The event's type, e.g. `contact.created`.
    pub fn event_type(&self) -> &str {
        self.event.event_type()
    }

    /// Whether the event says it changed `field` (e.g. `stage_id`, or
    /// `custom_fields.<key>`); `false` for events that carry no changes.
    pub fn changed(&self, field: &str) -> bool {
        self.changes
            .as_ref()
            .is_some_and(|c| c.changed_fields.iter().any(|f| f == field))
    }
}

/// The `changed_fields` and `previous` of an update event: the top-level fields of its
/// `data` that the change made differ (sorted; a custom field as `custom_fields.<key>`),
/// and each of them with its value before the change (`null` where it had none). The
/// event's `data` holds the values after it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Changes {
    pub changed_fields: Vec<String>,
    pub previous: serde_json::Map<String, serde_json::Value>,
}

/// Declares [`Event`]: `Variant(DataType) = "event.type",` per event of the catalogue.
macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident($data:ty) = $name:literal,)*) => {
        /// An event of the catalogue (the document's `EventType`) with its `data`, the
        /// resource as the API returns it. Events added after this SDK was generated
        /// decode as [`Event::Unknown`].
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        // One event is decoded per request and matched by value: boxing the larger
        // variants would save little and make every pattern dereference.
        #[allow(clippy::large_enum_variant)]
        pub enum Event {
            $($(#[$doc])* $variant($data),)*
            /// An event type this SDK does not know, as sent.
            Unknown {
                event_type: String,
                data: serde_json::Value,
            },
        }

        impl Event {
            /// The event's type, e.g. `contact.created`.
            pub fn event_type(&self) -> &str {
                match self {
                    $(Self::$variant(_) => $name,)*
                    Self::Unknown { event_type, .. } => event_type,
                }
            }

            /// The event of type `event_type` carrying `data`; fails only if `data` is
            /// not what a known type carries.
            pub fn from_parts(
                event_type: String,
                data: serde_json::Value,
            ) -> Result<Self, serde_json::Error> {
                Ok(match event_type.as_str() {
                    $($name => Self::$variant(serde_json::from_value(data)?),)*
                    _ => Self::Unknown { event_type, data },
                })
            }
        }

        #[cfg(test)]
        const CATALOGUE: &[&str] = &[$($name),*];
    };
}

catalogue! {
    /// A contact was created.
    ContactCreated(types::Contact) = "contact.created",
    /// A contact was changed.
    ContactUpdated(types::Contact) = "contact.updated",
    /// A contact was moved to the trash (with its `deleted_at`).
    ContactDeleted(types::Contact) = "contact.deleted",
    /// A contact came back from the trash.
    ContactRestored(types::Contact) = "contact.restored",
    /// A duplicate contact was merged into another.
    ContactMerged(ContactMerged) = "contact.merged",
    /// A company was created.
    CompanyCreated(types::Company) = "company.created",
    /// A company was changed.
    CompanyUpdated(types::Company) = "company.updated",
    /// A company was moved to the trash (with its `deleted_at`).
    CompanyDeleted(types::Company) = "company.deleted",
    /// A company came back from the trash.
    CompanyRestored(types::Company) = "company.restored",
    /// A duplicate company was merged into another.
    CompanyMerged(CompanyMerged) = "company.merged",
    /// A lead was created.
    LeadCreated(types::Lead) = "lead.created",
    /// A lead was changed.
    LeadUpdated(types::Lead) = "lead.updated",
    /// A lead was moved to the trash (with its `deleted_at`).
    LeadDeleted(types::Lead) = "lead.deleted",
    /// A lead came back from the trash.
    LeadRestored(types::Lead) = "lead.restored",
    /// A lead moved to another stage (sent with `lead.updated`).
    LeadStageChanged(types::Lead) = "lead.stage_changed",
    /// A lead's status became `won`.
    LeadWon(types::Lead) = "lead.won",
    /// A lead's status became `lost`.
    LeadLost(types::Lead) = "lead.lost",
    /// A lead was converted into a contact and a company.
    LeadConverted(types::Lead) = "lead.converted",
    /// A pipeline was created (with its stages).
    PipelineCreated(types::Pipeline) = "pipeline.created",
    /// A pipeline or one of its stages changed.
    PipelineUpdated(types::Pipeline) = "pipeline.updated",
    /// A pipeline was deleted (as it was before).
    PipelineDeleted(types::Pipeline) = "pipeline.deleted",
    /// An activity was created.
    ActivityCreated(types::Activity) = "activity.created",
    /// An activity was changed or completed.
    ActivityUpdated(types::Activity) = "activity.updated",
    /// An activity was moved to the trash (with its `deleted_at`).
    ActivityDeleted(types::Activity) = "activity.deleted",
    /// An activity came back from the trash.
    ActivityRestored(types::Activity) = "activity.restored",
    /// A custom field was defined.
    CustomFieldCreated(types::CustomField) = "custom_field.created",
    /// A custom field definition changed.
    CustomFieldUpdated(types::CustomField) = "custom_field.updated",
    /// A custom field was deleted, and its values with it (as it was before).
    CustomFieldDeleted(types::CustomField) = "custom_field.deleted",
    /// Two records were associated.
    AssociationCreated(types::Association) = "association.created",
    /// An association was deleted (as it was before).
    AssociationDeleted(types::Association) = "association.deleted",
    /// Sent by `POST /v1/webhook-endpoints/{id}/test` to that endpoint only.
    WebhookTest(WebhookTest) = "webhook.test",
    /// The server disabled an endpoint (with its `disabled_reason`).
    WebhookEndpointDisabled(types::WebhookEndpoint) = "webhook_endpoint.disabled",
    /// An export's file is ready to download.
    ExportCompleted(types::Export) = "export.completed",
    /// An export failed (with its `error`).
    ExportFailed(types::Export) = "export.failed",
    ImportCompleted(types::Import) = "import.completed",
    ImportFailed(types::Import) = "import.failed",
    ImportCancelled(types::Import) = "import.cancelled",
}

/// The `data` of `contact.merged`. (The document has no schema for it: events are not
/// operations' answers.)
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ContactMerged {
    /// The contact that remains, after the merge.
    pub survivor: types::Contact,
    /// The id of the duplicate, now deleted.
    pub merged_id: uuid::Uuid,
    /// The duplicate as it was before the merge.
    pub merged: types::Contact,
}

/// The `data` of `company.merged`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompanyMerged {
    /// The company that remains, after the merge.
    pub survivor: types::Company,
    /// The id of the duplicate, now deleted.
    pub merged_id: uuid::Uuid,
    /// The duplicate as it was before the merge.
    pub merged: types::Company,
}

/// The `data` of `webhook.test`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookTest {
    /// The endpoint tested.
    pub endpoint_id: uuid::Uuid,
    /// A human-readable note.
    pub message: String,
}

/// The body as sent: `{"type", "timestamp", "data"}`, plus `changed_fields` and
/// `previous` on update events.
#[derive(Deserialize)]
struct Body {
    #[serde(rename = "type")]
    event_type: String,
    timestamp: DateTime<Utc>,
    data: serde_json::Value,
    #[serde(flatten)]
    changes: Option<Changes>,
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
    /// Signed, but the body is not a webhook event, or its `data` not what its type carries.
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
    let body: Body = serde_json::from_slice(body).map_err(VerifyError::Body)?;
    Ok(WebhookEvent {
        id: id.to_owned(),
        timestamp: body.timestamp,
        event: Event::from_parts(body.event_type, body.data).map_err(VerifyError::Body)?,
        changes: body.changes,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &[u8] = br#"{"type":"contact.created","timestamp":"2026-11-26T10:00:00Z",
        "data":{"id":"0192f4a0-0000-7000-8000-000000000001","first_name":"Ada","tags":[],
        "custom_fields":{},"created_at":"2026-11-26T10:00:00Z","updated_at":"2026-11-26T10:00:00Z"}}"#;

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
        let webhook = verify_parts(SECRET, "evt_1", "1000", &sig, BODY, 1_010).unwrap();
        assert_eq!(webhook.id, "evt_1");
        let Event::ContactCreated(contact) = &webhook.event else {
            panic!("{webhook:?}");
        };
        assert_eq!(contact.first_name.as_deref(), Some("Ada"));
        assert_eq!(webhook.event.event_type(), "contact.created");
    }

    #[test]
    fn an_update_carries_what_it_changed_and_a_creation_nothing() {
        let body = br#"{"type":"contact.updated","timestamp":"2026-11-26T10:00:00Z",
            "data":{"id":"0192f4a0-0000-7000-8000-000000000001","first_name":"Ada","tags":[],
            "title":"Countess","custom_fields":{},"created_at":"2026-11-26T10:00:00Z",
            "updated_at":"2026-11-26T10:00:01Z"},
            "changed_fields":["title"],"previous":{"title":null}}"#;
        let sig = signature(SECRET, "e", 1_000, body);
        let webhook = verify_parts(SECRET, "e", "1000", &sig, body, 1_000).unwrap();
        let changes = webhook.changes.as_ref().expect("changes");
        assert_eq!(changes.changed_fields, ["title"]);
        assert_eq!(changes.previous["title"], serde_json::Value::Null);
        assert!(webhook.changed("title"));
        assert!(!webhook.changed("email"));
        let sig = signature(SECRET, "evt_1", 1_000, BODY);
        let created = verify_parts(SECRET, "evt_1", "1000", &sig, BODY, 1_010).unwrap();
        assert_eq!(created.changes, None);
        assert!(!created.changed("first_name"));
    }

    #[test]
    fn a_newer_servers_event_decodes_as_unknown_and_bad_data_is_refused() {
        let body =
            br#"{"type":"contact.archived","timestamp":"2026-11-26T10:00:00Z","data":{"id":"x"}}"#;
        let sig = signature(SECRET, "e", 1_000, body);
        let webhook = verify_parts(SECRET, "e", "1000", &sig, body, 1_000).unwrap();
        assert_eq!(
            webhook.event,
            Event::Unknown {
                event_type: "contact.archived".into(),
                data: serde_json::json!({"id": "x"})
            }
        );
        let body =
            br#"{"type":"contact.created","timestamp":"2026-11-26T10:00:00Z","data":{"id":"x"}}"#;
        let sig = signature(SECRET, "e", 1_000, body);
        assert!(matches!(
            verify_parts(SECRET, "e", "1000", &sig, body, 1_000),
            Err(VerifyError::Body(_))
        ));
    }

    /// The enum must know every event of the document's catalogue (`EventType`), or a
    /// new event would reach receivers only as `Unknown`.
    #[test]
    fn the_enum_covers_the_documents_catalogue() {
        let spec: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../openapi/openapi.json"
        )))
        .unwrap();
        let mut documented: Vec<&str> = spec["components"]["schemas"]["EventType"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let mut known = CATALOGUE.to_vec();
        documented.sort_unstable();
        known.sort_unstable();
        assert_eq!(
            known, documented,
            "webhooks::Event and the document's EventType differ: add the new events to \
             `catalogue!` in sdk/src/webhooks.rs"
        );
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
