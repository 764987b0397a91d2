//! `/v1/webhook-endpoints`: where a tenant's events are sent, how each delivery went, and
//! re-sending. The rules (where a URL may lead, the signing secret, the audit log) are
//! `app::webhooks`; the sending itself is the worker's (`crate::webhooks`).

use crate::api::types::NotNull;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::{MaybeUndefined, ToJSON};
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch};
use super::pagination;
use super::responses::{
    envelopes, Accepted, Action, ApiResult, BodyAction, Conditional, Create, Created, Delete, List,
    Meta, NoContent, Read, Success, Tagged, Update,
};
use super::security::ApiKey;
use super::types::{patch, text, Bounded, PathId, Text};
use super::ApiTags;
use crate::app::page::PageRequest;
use crate::app::version::by_field;
use crate::app::webhooks::{
    self as webhooks, AttemptRow, DeliveryRow, EndpointInput, EndpointPatch, EndpointRow,
    TestEvent, WithSecret,
};
use crate::auth::Scope;
use crate::domain::webhook::{
    self, ChangedFieldFilter, DESCRIPTION_MAX, FIELD_NAME_MAX, FILTERS_MAX, FILTER_FIELDS_MAX,
    URL_MAX,
};
use crate::events::EventType;
use crate::state::AppState;

/// Where events are sent. The signing secret is shown only when it is made (create,
/// rotate-secret).
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    /// Receives a `POST` per event.
    pub url: String,
    #[oai(nullable)]
    pub description: Option<String>,
    /// The event types sent here; empty means all, including types added later.
    pub event_types: Vec<String>,
    /// Changed-field filters, by event type: an event of a type listed here is sent only
    /// if it changed one of the filter's fields. Empty: no such filter. (Absent from
    /// the `data` of `webhook_endpoint.disabled` events recorded before filters existed.)
    #[oai(default)]
    pub filters: Vec<WebhookEndpointFilter>,
    /// A disabled endpoint is sent nothing; what was pending for it fails and can be
    /// re-sent with `recover` once it is enabled again.
    pub enabled: bool,
    /// Why it is disabled: `manual` (by a user), `gone` (it answered `410 Gone`) or
    /// `failing` (no success for too long; 5 days by default). New reasons may be added.
    #[oai(nullable)]
    pub disabled_reason: Option<String>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until then the secret before the last rotation also signs every request.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// The last time it answered 2xx (to within a second).
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub last_success_at: Option<DateTime<Utc>>,
    /// The first failure since its last success, if it is failing.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// Changes with every change to the endpoint, including its delivery health
    /// (`last_success_at`, `failing_since`).
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
    /// Its version (`api::etag::endpoint_version`), for the `ETag`; not on the wire.
    #[oai(skip)]
    #[serde(skip)]
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
            filters: webhook::filter_list(&row.changed_field_filters)
                .into_iter()
                .filter_map(WebhookEndpointFilter::from_domain)
                .collect(),
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

/// Sends events of `event_type` only when they changed one of `changed_fields`, e.g.
/// `{"event_type": "lead.updated", "changed_fields": ["stage_id"]}` for stage moves and
/// nothing else. Only types whose events carry `changed_fields` (every `*.updated`, and
/// `lead.stage_changed`) can be filtered; names are matched exactly as events list them
/// (a custom field as `custom_fields.<key>`).
#[derive(Debug, Clone, PartialEq, Object, serde::Serialize)]
pub struct WebhookEndpointFilter {
    /// A `*.updated` type or `lead.stage_changed`.
    pub event_type: EventType,
    /// Field names as events list them; an event is sent if it changed any of them.
    pub changed_fields: Vec<String>,
}

impl WebhookEndpointFilter {
    fn from_domain(filter: ChangedFieldFilter) -> Option<Self> {
        Some(Self {
            event_type: EventType::parse(&filter.event_type)?,
            changed_fields: filter.changed_fields,
        })
    }
}

/// A changed-field filter as a request gives it (see `WebhookEndpointFilter`, the form
/// endpoints answer with). Its own type because a request refuses unknown fields while
/// an answer stays open to fields added later, and one schema cannot say both.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(deny_unknown_fields)]
pub struct NewWebhookEndpointFilter {
    /// A `*.updated` type or `lead.stage_changed`, at most once per endpoint and among
    /// the endpoint's `event_types` when it names any.
    pub event_type: EventType,
    /// Field names as events list them; an event is sent if it changed any of them.
    /// Repeats are dropped.
    pub changed_fields: Bounded<Text<FIELD_NAME_MAX>, 1, FILTER_FIELDS_MAX>,
}

impl From<NewWebhookEndpointFilter> for ChangedFieldFilter {
    fn from(filter: NewWebhookEndpointFilter) -> Self {
        Self {
            event_type: filter.event_type.as_str().to_owned(),
            changed_fields: filter.changed_fields.0.into_iter().map(|f| f.0).collect(),
        }
    }
}

/// An endpoint with its signing secret, shown this once.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct WebhookEndpointWithSecret {
    #[oai(flatten)]
    #[serde(flatten)]
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
    /// Changed-field filters (see `WebhookEndpointFilter`); absent or empty: none.
    pub filters: Option<Filters>,
}

/// Changes to an endpoint, as a JSON Merge Patch. `enabled: true` re-enables an endpoint
/// the server disabled; deliveries that failed meanwhile are re-sent with `recover`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct WebhookEndpointPatch {
    pub url: NotNull<Text<URL_MAX>>,
    #[oai(nullable)]
    pub description: MaybeUndefined<Text<DESCRIPTION_MAX>>,
    /// `null` or `[]`: every event type.
    #[oai(nullable)]
    pub event_types: MaybeUndefined<Vec<EventType>>,
    pub enabled: NotNull<bool>,
    /// Replaces the changed-field filters; `null` or `[]`: none.
    #[oai(nullable)]
    pub filters: MaybeUndefined<Filters>,
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
#[derive(Debug, Clone, Object, serde::Serialize)]
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
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt, if the endpoint answered.
    #[oai(nullable)]
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed without an answer (or why the delivery failed).
    #[oai(nullable)]
    pub last_error: Option<String>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
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
#[derive(Debug, Clone, Object, serde::Serialize)]
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
    #[serde(serialize_with = "crate::api::json::timestamp")]
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
#[derive(Debug, Clone, Object, serde::Serialize)]
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
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct WebhookEndpointWithSecretEnvelope {
    pub data: WebhookEndpointWithSecret,
    pub meta: Meta,
}

/// The result of `recover` in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct WebhookRecoveryEnvelope {
    pub data: WebhookRecovery,
    pub meta: Meta,
}

/// An endpoint's changed-field filters as a request sends them (counted by the domain).
pub type Filters = Bounded<NewWebhookEndpointFilter, 0, FILTERS_MAX>;

fn filter_list(filters: Filters) -> Vec<ChangedFieldFilter> {
    filters
        .0
        .into_iter()
        .map(ChangedFieldFilter::from)
        .collect()
}

fn event_type_names(types: Vec<EventType>) -> Vec<String> {
    types.into_iter().map(|t| t.as_str().to_owned()).collect()
}

impl From<WebhookEndpointCreate> for EndpointInput {
    fn from(body: WebhookEndpointCreate) -> Self {
        Self {
            url: body.url.0,
            description: text(body.description),
            event_types: event_type_names(body.event_types.unwrap_or_default()),
            enabled: body.enabled,
            filters: body.filters.map(filter_list).unwrap_or_default(),
        }
    }
}

impl From<WebhookEndpointPatch> for EndpointPatch {
    fn from(body: WebhookEndpointPatch) -> Self {
        Self {
            url: body.url.0.map(|url| url.0),
            description: patch(body.description, |d| Some(d.0)),
            event_types: patch(body.event_types, event_type_names),
            enabled: body.enabled.0,
            filters: patch(body.filters, filter_list),
        }
    }
}

impl From<TestEvent> for WebhookTest {
    fn from(test: TestEvent) -> Self {
        Self {
            endpoint_id: test.endpoint_id,
            message: test.message,
        }
    }
}

fn endpoint_envelope(row: EndpointRow, request_id: &RequestId) -> WebhookEndpointEnvelope {
    WebhookEndpointEnvelope {
        data: row.into(),
        meta: Meta::of(request_id),
    }
}

/// The answer that shows a secret, freshly made: the one place it is ever shown.
fn with_secret(made: WithSecret, request_id: &RequestId) -> WebhookEndpointWithSecretEnvelope {
    WebhookEndpointWithSecretEnvelope {
        data: WebhookEndpointWithSecret {
            endpoint: made.endpoint.into(),
            secret: made.secret,
        },
        meta: Meta::of(request_id),
    }
}

fn delivery_envelope(row: DeliveryRow, request_id: &RequestId) -> WebhookDeliveryEnvelope {
    WebhookDeliveryEnvelope {
        data: row.into(),
        meta: Meta::of(request_id),
    }
}

by_field!(WebhookEndpointEnvelope => data, WebhookEndpointWithSecretEnvelope => data, WebhookEndpointWithSecret => endpoint);

impl crate::app::version::Versioned for WebhookEndpoint {
    fn version(&self) -> DateTime<Utc> {
        self.version
    }
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
        #[oai(scope = "Scope::WebhooksWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<WebhookEndpointCreate>,
    ) -> ApiResult<Tagged<Created<WebhookEndpointWithSecretEnvelope>>, Create> {
        let made = webhooks::create(&state, &auth.0, body.0.into()).await?;
        Ok(Tagged(Created {
            location: format!("/v1/webhook-endpoints/{}", made.endpoint.id),
            body: with_secret(made, &request_id),
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
        #[oai(scope = "Scope::WebhooksRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<WebhookEndpointList>, List> {
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = webhooks::list(&state, &auth.0, &page).await?;
        Ok(Success(WebhookEndpointList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.map(WebhookEndpoint::from).items,
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
        #[oai(scope = "Scope::WebhooksRead")] auth: ApiKey,
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
        let row = webhooks::get(&state, &auth.0, id).await?;
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
        #[oai(scope = "Scope::WebhooksWrite")] auth: ApiKey,
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
        let row = webhooks::update(&state, &auth.0, id, &if_match, body.0.into()).await?;
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
        #[oai(scope = "Scope::WebhooksWrite")] auth: ApiKey,
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
        webhooks::delete(&state, &auth.0, id, &if_match).await?;
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
        #[oai(scope = "Scope::WebhooksWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
    ) -> ApiResult<Tagged<Success<WebhookEndpointWithSecretEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let made = webhooks::rotate_secret(&state, &auth.0, id).await?;
        Ok(Tagged(Success(with_secret(made, &request_id))))
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
        #[oai(scope = "Scope::WebhooksWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
    ) -> ApiResult<Accepted<WebhookDeliveryEnvelope>, Action> {
        let id = id.0.parse("id")?;
        let row = webhooks::send_test::<WebhookTest>(&state, &auth.0, id).await?;
        Ok(Accepted(delivery_envelope(row, &request_id)))
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
        #[oai(scope = "Scope::WebhooksWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
        body: Json<WebhookRecover>,
    ) -> ApiResult<Accepted<WebhookRecoveryEnvelope>, BodyAction> {
        let id = id.0.parse("id")?;
        let queued = webhooks::recover(&state, &auth.0, id, body.0.since, body.0.until).await?;
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
        #[oai(scope = "Scope::WebhooksRead")] auth: ApiKey,
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
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: sort.0,
        };
        let status = status.0.map(DeliveryStatus::as_str);
        let list = webhooks::deliveries(&state, &auth.0, id, status, &page).await?;
        Ok(Success(WebhookDeliveryList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.map(WebhookDelivery::from).items,
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
        #[oai(scope = "Scope::WebhooksRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
        /// The delivery's id.
        delivery_id: Path<PathId>,
    ) -> ApiResult<Success<WebhookDeliveryEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let delivery_id = delivery_id.0.parse("delivery_id")?;
        let row = webhooks::delivery(&state, &auth.0, id, delivery_id).await?;
        Ok(Success(delivery_envelope(row, &request_id)))
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
        #[oai(scope = "Scope::WebhooksRead")] auth: ApiKey,
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
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = webhooks::attempts(&state, &auth.0, id, delivery_id, &page).await?;
        Ok(Success(WebhookAttemptList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.map(WebhookAttempt::from).items,
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
        #[oai(scope = "Scope::WebhooksWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The endpoint's id.
        id: Path<PathId>,
        /// The delivery's id.
        delivery_id: Path<PathId>,
    ) -> ApiResult<Accepted<WebhookDeliveryEnvelope>, Action> {
        let id = id.0.parse("id")?;
        let delivery_id = delivery_id.0.parse("delivery_id")?;
        let row = webhooks::retry(&state, &auth.0, id, delivery_id).await?;
        Ok(Accepted(delivery_envelope(row, &request_id)))
    }
}
