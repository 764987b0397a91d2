//! `/v1/events`: the outbox as an API. A write records its events in the transaction of
//! the change (`app/`, through `crate::events::emit`), with the resource exactly as the
//! API returns it: that is the `data` of `GET /v1/events` and of every webhook. The
//! catalogue ([`EventType`]) and `emit` are `crate::events`, below this layer, so the
//! webhook worker can emit without importing HTTP code.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Object, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::edge::RequestId;
use super::pagination;
use super::responses::{envelopes, ApiResult, List, Meta, Read, Success};
use super::security::ApiKey;
use super::types::PathId;
use super::ApiTags;
use crate::app::events::{self as events_app, EventFilter, EventRow};
use crate::app::page::PageRequest;
use crate::auth::Scope;
use crate::events::EventType;
use crate::state::AppState;

/// One change, as recorded in the transaction that made it. A webhook delivers it as
/// `{"type", "timestamp", "data"}` with the event's `id` in the `webhook-id` header.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Event {
    /// Also the `webhook-id` of its deliveries: receivers can drop repeats by it.
    pub id: Uuid,
    /// One of the catalogue's types (see `EventType`). New types may be added.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event was recorded, inside the change's transaction (RFC 3339). Events
    /// of one transaction are in the order they were emitted.
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub timestamp: DateTime<Utc>,
    /// The resource as the API returns it.
    pub data: BTreeMap<String, Value>,
    /// On `*.updated` and `lead.stage_changed` only (absent on every other type): the
    /// top-level fields of `data` whose values the change made differ, sorted, with each
    /// custom field as `custom_fields.<key>`. `updated_at` is never listed. Empty when a
    /// write changed nothing (a `PATCH` that repeats the current values).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_fields: Option<Vec<String>>,
    /// With `changed_fields`: each of those names with its value before the change
    /// (`null` where it had none); `data` holds the values after it.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<BTreeMap<String, Value>>,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Self {
            id: row.id,
            event_type: row.event_type,
            timestamp: row.created_at,
            data: super::contacts::object(row.data),
            changed_fields: row.changed_fields,
            previous: row.previous.map(super::contacts::object),
        }
    }
}

envelopes!(
    Event,
    EventEnvelope,
    EventList,
    "One event in the envelope.",
    "A page of events in the envelope."
);

pub struct EventsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Webhooks")]
impl EventsApi {
    /// List events
    ///
    /// Every change the API made for the tenant, oldest first (`sort=-created_at` for
    /// newest first), keyset-paginated: the outbox the webhooks are sent from. Events are
    /// recorded whether or not any endpoint takes them.
    #[oai(path = "/events", method = "get", operation_id = "events_list")]
    async fn list(
        &self,
        #[oai(scope = "Scope::EventsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// `created_at` (default) or `-created_at`.
        #[oai(validator(pattern = "^-?created_at$"))]
        sort: Query<Option<String>>,
        /// Only events of this type.
        #[oai(name = "type")]
        event_type: Query<Option<EventType>>,
        /// Only events recorded strictly after this instant. An event is recorded before its
        /// transaction commits, so a poller should ask again from a few seconds before its
        /// last `timestamp` and skip the ids it has seen.
        updated_after: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Success<EventList>, List> {
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: sort.0,
        };
        let filter = EventFilter {
            event_type: event_type.0.map(|t| t.as_str().to_owned()),
            after: updated_after.0,
        };
        let list = events_app::list(&state, &auth.0, &filter, &page).await?;
        Ok(Success(EventList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.map(Event::from).items,
        }))
    }

    /// Get an event
    #[oai(path = "/events/:id", method = "get", operation_id = "events_get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::EventsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The event's id.
        id: Path<PathId>,
    ) -> ApiResult<Success<EventEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let row = events_app::get(&state, &auth.0, id).await?;
        Ok(Success(EventEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        }))
    }
}
