//! `/v1/webhook-endpoints`: where a tenant's events are sent, how each delivery went, and
//! re-sending. The sending itself is the worker's (`crate::webhooks`).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::{MaybeUndefined, ToJSON};
use poem_openapi::{Enum, Object, OpenApi};
use serde_json::json;
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch};
use super::events::EventType;
use super::merge::merge;
use super::pagination;
use super::responses::{
    envelopes, Accepted, Action, ApiResult, BodyAction, Conditional, Create, Created, Delete, List,
    Meta, NoContent, Read, Success, Tagged, Update,
};
use super::security::ApiKey;
use super::types::{text, PathId, Text};
use super::ApiTags;
use crate::auth::{Principal, Scope};
use crate::db::audit;
use crate::db::webhooks::{
    self as repo, AttemptRow, AttemptSort, DeliveryRow, DeliverySort, EndpointFields, EndpointRow,
    EndpointSort,
};
use crate::db::TenantTx;
use crate::domain::{fields, FieldError};
use crate::error::AppError;
use crate::state::AppState;
use crate::webhooks::{guard, secrets, signing};

const URL_MAX: usize = 2048;
const DESCRIPTION_MAX: usize = 1000;

/// Where events are sent. The signing secret is shown only when it is made (create,
/// rotate-secret).
#[derive(Debug, Clone, Object)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    /// Receives a `POST` per event.
    pub url: String,
    #[oai(nullable)]
    pub description: Option<String>,
    /// The event types sent here; empty means all, including types added later.
    pub event_types: Vec<String>,
    /// A disabled endpoint is sent nothing; what was pending for it fails and can be
    /// re-sent with `recover` once it is enabled again.
    pub enabled: bool,
    /// Why it is disabled: `manual` (by a user), `gone` (it answered `410 Gone`) or
    /// `failing` (no success for too long; 5 days by default). New reasons may be added.
    #[oai(nullable)]
    pub disabled_reason: Option<String>,
    #[oai(nullable)]
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until then the secret before the last rotation also signs every request.
    #[oai(nullable)]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// The last time it answered 2xx (to within a second).
    #[oai(nullable)]
    pub last_success_at: Option<DateTime<Utc>>,
    /// The first failure since its last success, if it is failing.
    #[oai(nullable)]
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Changes with every change to the endpoint, including its delivery health
    /// (`last_success_at`, `failing_since`).
    pub updated_at: DateTime<Utc>,
    /// Its version (`api::etag::endpoint_version`), for the `ETag`; not on the wire.
    #[oai(skip)]
    pub version: DateTime<Utc>,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(row: EndpointRow) -> Self {
        let now = Utc::now();
        Self {
            version: super::etag::endpoint_version(&row, now),
            id: row.id,
            url: row.url,
            description: row.description,
            event_types: row.event_types,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            disabled_at: row.disabled_at,
            previous_secret_expires_at: row.previous_secret_expires_at.filter(|at| *at > now),
            last_success_at: row.last_success_at,
            failing_since: row.failing_since,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// An endpoint as the API returns it, as JSON: the `data` of the
/// `webhook_endpoint.disabled` event the delivery worker emits (`startup` hands this to
/// it, as `webhooks::worker::EndpointData`, so the worker never imports the API).
pub fn endpoint_data(row: EndpointRow) -> serde_json::Value {
    WebhookEndpoint::from(row)
        .to_json()
        .unwrap_or(serde_json::Value::Null)
}

/// An endpoint with its signing secret, shown this once.
#[derive(Debug, Clone, Object)]
pub struct WebhookEndpointWithSecret {
    #[oai(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_` + base64 of 32 random bytes: the key of the `webhook-signature` HMAC
    /// (Standard Webhooks). Store it now; it is never shown again.
    pub secret: String,
}

/// A new endpoint. Unknown fields are refused.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct WebhookEndpointCreate {
    /// An absolute `http` or `https` URL. Private, loopback and link-local addresses (and
    /// names resolving to them) are refused unless the server allows them.
    pub url: Text<URL_MAX>,
    pub description: Option<Text<DESCRIPTION_MAX>>,
    /// The event types to send; absent or empty means all. Duplicates are dropped.
    pub event_types: Option<Vec<EventType>>,
    /// Default `true`.
    pub enabled: Option<bool>,
}

/// Changes to an endpoint, as a JSON Merge Patch. `enabled: true` re-enables an endpoint
/// the server disabled; deliveries that failed meanwhile are re-sent with `recover`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct WebhookEndpointPatch {
    pub url: MaybeUndefined<Text<URL_MAX>>,
    #[oai(nullable)]
    pub description: MaybeUndefined<Text<DESCRIPTION_MAX>>,
    /// `null` or `[]`: every event type.
    #[oai(nullable)]
    pub event_types: MaybeUndefined<Vec<EventType>>,
    pub enabled: MaybeUndefined<bool>,
}

/// Whether a delivery is still being tried, made it, or gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// One event bound for one endpoint.
#[derive(Debug, Clone, Object)]
pub struct WebhookDelivery {
    pub id: Uuid,
    /// The event; also the `webhook-id` header of every attempt.
    pub event_id: Uuid,
    pub event_type: String,
    pub endpoint_id: Uuid,
    /// `pending` (waiting for its next attempt, or being sent), `delivered` (answered
    /// 2xx) or `failed` (the retries ran out, the endpoint answered 410, or it was
    /// disabled). New values may be added.
    pub status: String,
    pub attempt_count: i32,
    /// When a pending delivery is tried next.
    #[oai(nullable)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt, if the endpoint answered.
    #[oai(nullable)]
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed without an answer (or why the delivery failed).
    #[oai(nullable)]
    pub last_error: Option<String>,
    #[oai(nullable)]
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DeliveryRow> for WebhookDelivery {
    fn from(row: DeliveryRow) -> Self {
        Self {
            id: row.id,
            event_id: row.event_id,
            event_type: row.event_type,
            endpoint_id: row.endpoint_id,
            next_attempt_at: row.next_attempt_at.filter(|_| row.status == "pending"),
            status: row.status,
            attempt_count: row.attempt_count,
            last_attempt_at: row.last_attempt_at,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            delivered_at: row.delivered_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// One HTTP request of a delivery.
#[derive(Debug, Clone, Object)]
pub struct WebhookAttempt {
    pub id: Uuid,
    pub delivery_id: Uuid,
    /// `scheduled` (the queue or its retries) or `manual` (test, retry or recover).
    pub trigger: String,
    /// The HTTP status the endpoint answered; `null` if it did not answer.
    #[oai(nullable)]
    pub status_code: Option<i32>,
    /// From sending the request to reading the start of the answer.
    pub duration_ms: i32,
    /// The first 4 KiB of the answer, as text.
    #[oai(nullable)]
    pub response_body: Option<String>,
    /// Why there was no (complete) answer: refused address, timeout, connection error.
    #[oai(nullable)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AttemptRow> for WebhookAttempt {
    fn from(row: AttemptRow) -> Self {
        Self {
            id: row.id,
            delivery_id: row.delivery_id,
            trigger: row.trigger,
            status_code: row.status_code,
            duration_ms: row.duration_ms,
            response_body: row.response_body,
            error: row.error,
            created_at: row.created_at,
        }
    }
}

/// Which failed deliveries to send again.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct WebhookRecover {
    /// Failed deliveries created at or after this instant.
    pub since: DateTime<Utc>,
    /// And before this one (default: now).
    pub until: Option<DateTime<Utc>>,
}

/// How many deliveries `recover` queued.
#[derive(Debug, Clone, Object)]
pub struct WebhookRecovery {
    pub queued: u64,
}

/// The `data` of a `webhook.test` event.
#[derive(Debug, Clone, Object)]
pub struct WebhookTest {
    pub endpoint_id: Uuid,
    pub message: String,
}

envelopes!(
    WebhookEndpoint,
    WebhookEndpointEnvelope,
    WebhookEndpointList,
    "One webhook endpoint in the envelope.",
    "A page of webhook endpoints in the envelope."
);
envelopes!(
    WebhookDelivery,
    WebhookDeliveryEnvelope,
    WebhookDeliveryList,
    "One delivery in the envelope.",
    "A page of deliveries in the envelope."
);
envelopes!(
    WebhookAttempt,
    WebhookAttemptEnvelope,
    WebhookAttemptList,
    "One attempt in the envelope.",
    "A page of attempts in the envelope."
);

/// An endpoint and its secret in the envelope.
#[derive(Debug, Clone, Object)]
pub struct WebhookEndpointWithSecretEnvelope {
    pub data: WebhookEndpointWithSecret,
    pub meta: Meta,
}

/// The result of `recover` in the envelope.
#[derive(Debug, Clone, Object)]
pub struct WebhookRecoveryEnvelope {
    pub data: WebhookRecovery,
    pub meta: Meta,
}

impl WebhookEndpointCreate {
    /// Checks the body, the URL's destination included.
    async fn parse(self, allow_private: bool) -> Result<EndpointFields, AppError> {
        // The description follows the rules of every other free text: unchecked, an
        // over-long one met the column's CHECK (a 500) and control characters were stored.
        let description =
            fields::optional_text("description", text(self.description), DESCRIPTION_MAX, true);
        let url = guard::parse_url(self.url.0.trim());
        let (url, description) = match (url, description) {
            (Ok(url), Ok(description)) => (url, description),
            (url, description) => {
                // One answer names every bad field.
                let mut errors = Vec::new();
                if let Err(why) = url {
                    errors.push(FieldError::new(
                        "url",
                        "invalid_url",
                        format!("`url` {why}"),
                    ));
                }
                errors.extend(description.err());
                return Err(AppError::Validation(errors));
            }
        };
        guard::check_destination(&url, allow_private)
            .await
            .map_err(|why| invalid_url(format!("`url` {why}")))?;
        let mut event_types: Vec<String> = Vec::new();
        for t in self.event_types.unwrap_or_default() {
            let name = t.as_str().to_owned();
            if !event_types.contains(&name) {
                event_types.push(name);
            }
        }
        Ok(EndpointFields {
            url: url.to_string(),
            description,
            event_types,
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

fn invalid_url(message: String) -> AppError {
    AppError::Validation(vec![FieldError::new("url", "invalid_url", message)])
}

fn endpoint_envelope(row: EndpointRow, request_id: &RequestId) -> WebhookEndpointEnvelope {
    WebhookEndpointEnvelope {
        data: row.into(),
        meta: Meta::of(request_id),
    }
}

/// The answer that shows `secret`, freshly made: the one place it is ever shown (the
/// database holds it sealed, and nothing reads it back for the API).
fn with_secret(
    row: EndpointRow,
    secret: String,
    request_id: &RequestId,
) -> WebhookEndpointWithSecretEnvelope {
    WebhookEndpointWithSecretEnvelope {
        data: WebhookEndpointWithSecret {
            endpoint: row.into(),
            secret,
        },
        meta: Meta::of(request_id),
    }
}

async fn audit(
    tx: &mut TenantTx,
    actor: &Principal,
    action: &str,
    row: &EndpointRow,
) -> Result<(), AppError> {
    let data = json!({ "url": row.url, "enabled": row.enabled, "event_types": row.event_types });
    audit::record(tx, actor, action, ("webhook_endpoint", row.id), data).await?;
    Ok(())
}

/// Retrying into a disabled endpoint would only fail again: enable it first.
fn require_enabled(row: &EndpointRow) -> Result<(), AppError> {
    if row.enabled {
        return Ok(());
    }
    Err(AppError::Conflict {
        message: "the endpoint is disabled; enable it (PATCH `enabled: true`) first".into(),
        details: vec![FieldError::new(
            "enabled",
            "disabled",
            "the endpoint is disabled",
        )],
    })
}

pub struct WebhooksApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// Create a webhook endpoint
    ///
    /// Returns the endpoint with its signing secret, shown this once. Every request to it
    /// is a `POST` of `{"type", "timestamp", "data"}` signed per Standard Webhooks
    /// (`webhook-id`, `webhook-timestamp`, `webhook-signature`); a 2xx answer within 15 s
    /// is a delivery, anything else is retried on the schedule, and `410 Gone` disables
    /// the endpoint. Deliveries may arrive out of order and, rarely, more than once:
    /// deduplicate on `webhook-id`.
    #[oai(
        path = "/webhook-endpoints",
        method = "post",
        operation_id = "webhook_endpoints_create"
    )]
    async fn create(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<WebhookEndpointCreate>,
    ) -> ApiResult<Tagged<Created<WebhookEndpointWithSecretEnvelope>>, Create> {
        let fields = body.0.parse(state.webhooks.allow_private).await?;
        let id = Uuid::now_v7();
        let secret = signing::new_secret();
        let sealed = secrets::seal(&state.secret_key, auth.0.tenant_id, id, &secret);
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let row = repo::insert_endpoint(&mut tx, id, &fields, &sealed).await?;
        audit(&mut tx, &auth.0, "webhook_endpoint.created", &row).await?;
        tx.commit().await?;
        Ok(Tagged(Created {
            location: format!("/v1/webhook-endpoints/{}", row.id),
            body: with_secret(row, secret, &request_id),
        }))
    }

    /// List webhook endpoints
    ///
    /// Oldest first, keyset-paginated.
    #[oai(
        path = "/webhook-endpoints",
        method = "get",
        operation_id = "webhook_endpoints_list"
    )]
    async fn list(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<WebhookEndpointList>, List> {
        let page = pagination::page(limit.0, cursor.0.as_deref(), None, EndpointSort::CreatedAt)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let (rows, has_more) = repo::list_endpoints(&mut tx, &page).await?;
        tx.commit().await?;
        Ok(Success(WebhookEndpointList {
            meta: pagination::meta(&page, &rows, has_more, &request_id),
            data: rows.into_iter().map(WebhookEndpoint::from).collect(),
        }))
    }

    /// Get a webhook endpoint
    #[oai(
        path = "/webhook-endpoints/:id",
        method = "get",
        operation_id = "webhook_endpoints_get"
    )]
    async fn get(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<WebhookEndpointEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let row = repo::get_endpoint(&mut tx, id).await?;
        tx.commit().await?;
        let found = endpoint_envelope(row, &request_id);
        Ok(Conditional::new(found, &if_none_match))
    }

    /// Update a webhook endpoint
    ///
    /// JSON Merge Patch. Disabling fails what is pending for the endpoint; enabling starts
    /// its failure clock afresh.
    #[oai(
        path = "/webhook-endpoints/:id",
        method = "patch",
        operation_id = "webhook_endpoints_update"
    )]
    async fn update(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<WebhookEndpointPatch>,
    ) -> ApiResult<Tagged<Success<WebhookEndpointEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let current = WebhookEndpoint::from(repo::get_endpoint_for_update(&mut tx, id).await?);
        if_match.check(&current)?;
        let fields = merge::<WebhookEndpointCreate, _>(&current, &body.0)?
            .parse(state.webhooks.allow_private)
            .await?;
        let row = repo::update_endpoint(&mut tx, id, &fields).await?;
        audit(&mut tx, &auth.0, "webhook_endpoint.updated", &row).await?;
        tx.commit().await?;
        Ok(Tagged(Success(endpoint_envelope(row, &request_id))))
    }

    /// Delete a webhook endpoint
    ///
    /// Its deliveries and attempts go with it; the events stay.
    #[oai(
        path = "/webhook-endpoints/:id",
        method = "delete",
        operation_id = "webhook_endpoints_delete"
    )]
    async fn delete(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        /// The endpoint's id.
        id: Path<PathId>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, Delete> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let row = repo::get_endpoint_for_update(&mut tx, id).await?;
        if_match.check(&row)?;
        repo::delete_endpoint(&mut tx, id).await?;
        audit(&mut tx, &auth.0, "webhook_endpoint.deleted", &row).await?;
        tx.commit().await?;
        Ok(NoContent)
    }

    /// Rotate an endpoint's signing secret
    ///
    /// Returns the new secret, shown this once. The old one keeps signing alongside it
    /// (two signatures in `webhook-signature`) until `previous_secret_expires_at`, 24 h
    /// by default, so receivers can switch without missing a delivery.
    #[oai(
        path = "/webhook-endpoints/:id/rotate-secret",
        method = "post",
        operation_id = "webhook_endpoints_rotate_secret"
    )]
    async fn rotate_secret(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
    ) -> ApiResult<Tagged<Success<WebhookEndpointWithSecretEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let secret = signing::new_secret();
        let sealed = secrets::seal(&state.secret_key, auth.0.tenant_id, id, &secret);
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let row = repo::rotate_secret(&mut tx, id, &sealed, state.webhooks.secret_overlap).await?;
        audit(&mut tx, &auth.0, "webhook_endpoint.secret_rotated", &row).await?;
        tx.commit().await?;
        Ok(Tagged(Success(with_secret(row, secret, &request_id))))
    }

    /// Send a test event
    ///
    /// Queues a `webhook.test` event for this endpoint only, whatever its event types, even
    /// when it is disabled. Returns the delivery: follow it with the deliveries and
    /// attempts operations.
    #[oai(
        path = "/webhook-endpoints/:id/test",
        method = "post",
        operation_id = "webhook_endpoints_test"
    )]
    async fn test(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
    ) -> ApiResult<Accepted<WebhookDeliveryEnvelope>, Action> {
        let id = id.0.parse("id")?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        repo::get_endpoint(&mut tx, id).await?;
        let data = WebhookTest {
            endpoint_id: id,
            message: "This is a test event from Momentum.".into(),
        };
        let data = poem_openapi::types::ToJSON::to_json(&data).unwrap_or_default();
        let delivery_id = repo::emit_test(&mut tx, id, data).await?;
        let row = repo::get_delivery(&mut tx, id, delivery_id).await?;
        tx.commit().await?;
        Ok(Accepted(WebhookDeliveryEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        }))
    }

    /// Re-send failed deliveries
    ///
    /// Queues again every failed delivery of the endpoint created in `[since, until)`,
    /// each with the retry schedule started over. The endpoint must be enabled.
    #[oai(
        path = "/webhook-endpoints/:id/recover",
        method = "post",
        operation_id = "webhook_endpoints_recover"
    )]
    async fn recover(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
        body: Json<WebhookRecover>,
    ) -> ApiResult<Accepted<WebhookRecoveryEnvelope>, BodyAction> {
        let id = id.0.parse("id")?;
        if body.0.until.is_some_and(|until| until <= body.0.since) {
            return Err(AppError::Validation(vec![FieldError::new(
                "until",
                "invalid",
                "must be after `since`",
            )])
            .into());
        }
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        require_enabled(&repo::get_endpoint(&mut tx, id).await?)?;
        let queued = repo::recover(&mut tx, id, body.0.since, body.0.until).await?;
        tx.commit().await?;
        Ok(Accepted(WebhookRecoveryEnvelope {
            data: WebhookRecovery { queued },
            meta: Meta::of(&request_id),
        }))
    }

    /// List an endpoint's deliveries
    ///
    /// Oldest first (`sort=-created_at` for newest first), keyset-paginated.
    #[oai(
        path = "/webhook-endpoints/:id/deliveries",
        method = "get",
        operation_id = "webhook_deliveries_list"
    )]
    async fn deliveries(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// `created_at` (default) or `-created_at`.
        #[oai(validator(pattern = "^-?created_at$"))]
        sort: Query<Option<String>>,
        /// Only deliveries with this status.
        status: Query<Option<DeliveryStatus>>,
    ) -> ApiResult<Success<WebhookDeliveryList>, Read> {
        let id = id.0.parse("id")?;
        let page = pagination::page(
            limit.0,
            cursor.0.as_deref(),
            sort.0.as_deref(),
            DeliverySort::CreatedAt,
        )?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        repo::get_endpoint(&mut tx, id).await?;
        let status = status.0.map(DeliveryStatus::as_str);
        let (rows, has_more) = repo::list_deliveries(&mut tx, id, status, &page).await?;
        tx.commit().await?;
        Ok(Success(WebhookDeliveryList {
            meta: pagination::meta(&page, &rows, has_more, &request_id),
            data: rows.into_iter().map(WebhookDelivery::from).collect(),
        }))
    }

    /// Get a delivery
    #[oai(
        path = "/webhook-endpoints/:id/deliveries/:delivery_id",
        method = "get",
        operation_id = "webhook_deliveries_get"
    )]
    async fn delivery(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
        /// The delivery's id.
        delivery_id: Path<PathId>,
    ) -> ApiResult<Success<WebhookDeliveryEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let delivery_id = delivery_id.0.parse("delivery_id")?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let row = repo::get_delivery(&mut tx, id, delivery_id).await?;
        tx.commit().await?;
        Ok(Success(WebhookDeliveryEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        }))
    }

    /// List a delivery's attempts
    ///
    /// Every HTTP request made for the delivery, oldest first: status code, duration, the
    /// start of the answer, or the error.
    #[oai(
        path = "/webhook-endpoints/:id/deliveries/:delivery_id/attempts",
        method = "get",
        operation_id = "webhook_attempts_list"
    )]
    async fn attempts(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
        /// The delivery's id.
        delivery_id: Path<PathId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<WebhookAttemptList>, Read> {
        let id = id.0.parse("id")?;
        let delivery_id = delivery_id.0.parse("delivery_id")?;
        let page = pagination::page(limit.0, cursor.0.as_deref(), None, AttemptSort::CreatedAt)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        repo::get_delivery(&mut tx, id, delivery_id).await?;
        let (rows, has_more) = repo::list_attempts(&mut tx, delivery_id, &page).await?;
        tx.commit().await?;
        Ok(Success(WebhookAttemptList {
            meta: pagination::meta(&page, &rows, has_more, &request_id),
            data: rows.into_iter().map(WebhookAttempt::from).collect(),
        }))
    }

    /// Re-send a delivery
    ///
    /// Queues the delivery again now, whatever its status, with the retry schedule
    /// started over and the same `webhook-id`. The endpoint must be enabled.
    #[oai(
        path = "/webhook-endpoints/:id/deliveries/:delivery_id/retry",
        method = "post",
        operation_id = "webhook_deliveries_retry"
    )]
    async fn retry(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
        /// The delivery's id.
        delivery_id: Path<PathId>,
    ) -> ApiResult<Accepted<WebhookDeliveryEnvelope>, Action> {
        let id = id.0.parse("id")?;
        let delivery_id = delivery_id.0.parse("delivery_id")?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        require_enabled(&repo::get_endpoint(&mut tx, id).await?)?;
        repo::requeue(&mut tx, id, delivery_id).await?;
        let row = repo::get_delivery(&mut tx, id, delivery_id).await?;
        tx.commit().await?;
        Ok(Accepted(WebhookDeliveryEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        }))
    }
}
