//! `/v1/activities`, and the timelines of contacts, companies and leads.

use crate::api::types::NotNull;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch};
use super::pagination;
use super::responses::{
    envelopes, Action, ApiResult, Conditional, Create, Created, FilteredList, GuardedDelete, Meta,
    NoContent, Read, Success, Tagged, Update,
};
use super::security::ApiKey;
use super::types::{merge_patch, patch, text, PathId, Text};
use super::ApiTags;
use crate::app::activities::{self, ActivityFilter, ActivityRow, ActivityType};
use crate::app::page::{Listed, PageRequest};
use crate::app::version::{by_field, by_updated_at};
use crate::auth::Scope;
use crate::domain::activity::{self as domain, BODY_MAX, SUBJECT_MAX};
use crate::state::AppState;

/// The kinds of activity a client writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ActivityKind {
    Note,
    Call,
    Email,
    Meeting,
    Task,
}

impl From<ActivityKind> for ActivityType {
    fn from(kind: ActivityKind) -> Self {
        match kind {
            ActivityKind::Note => Self::Note,
            ActivityKind::Call => Self::Call,
            ActivityKind::Email => Self::Email,
            ActivityKind::Meeting => Self::Meeting,
            ActivityKind::Task => Self::Task,
        }
    }
}

/// Something that happened, or is to be done, about a contact, a company or a lead.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Activity {
    pub id: Uuid,
    /// `note`, `call`, `email`, `meeting`, `task`, or `stage_change` (written by the
    /// server when a lead changes stage). New types may be added.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// Written by the server; read-only.
    pub system: bool,
    #[oai(nullable)]
    pub subject: Option<String>,
    #[oai(nullable)]
    pub body: Option<String>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub due_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub completed_at: Option<DateTime<Utc>>,
    /// The user responsible.
    #[oai(nullable)]
    pub owner_id: Option<Uuid>,
    #[oai(nullable)]
    pub contact_id: Option<Uuid>,
    #[oai(nullable)]
    pub company_id: Option<Uuid>,
    #[oai(nullable)]
    pub lead_id: Option<Uuid>,
    /// Values of the tenant's custom fields for activities (`/v1/custom-fields`), by key.
    pub custom_fields: BTreeMap<String, Value>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
    /// When the activity was deleted (moved to the trash), or its lead was (for a
    /// `stage_change`); `null` while it is live.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<ActivityRow> for Activity {
    fn from(row: ActivityRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            system: row.system,
            subject: row.subject,
            body: row.body,
            due_at: row.due_at,
            completed_at: row.completed_at,
            owner_id: row.owner_id,
            contact_id: row.contact_id,
            company_id: row.company_id,
            lead_id: row.lead_id,
            custom_fields: super::contacts::object(row.custom_fields),
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        }
    }
}

/// A new activity: a `subject` or a `body` at least, linked to any of a contact, a
/// company and a lead of the tenant (an unknown id is a 422 on its field).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ActivityCreate {
    #[oai(rename = "type")]
    pub kind: ActivityKind,
    pub subject: Option<Text<SUBJECT_MAX>>,
    /// Free text; newlines allowed.
    pub body: Option<Text<BODY_MAX>>,
    pub due_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// A user of the tenant; default: the user the API key acts for.
    pub owner_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// Values of the tenant's custom fields for activities, by key, each checked against
    /// its definition (`/v1/custom-fields`): an unknown key or a bad value is a `422`
    /// naming `custom_fields.<key>`, a missing `required` one too, a `unique` value
    /// another live activity holds a `409` naming it. At most 16 KiB as JSON.
    pub custom_fields: Option<BTreeMap<String, Value>>,
}

/// Changes to an activity, as a JSON Merge Patch. `stage_change` activities cannot be
/// changed (409).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ActivityPatch {
    #[oai(rename = "type")]
    pub kind: NotNull<ActivityKind>,
    #[oai(nullable)]
    pub subject: MaybeUndefined<Text<SUBJECT_MAX>>,
    #[oai(nullable)]
    pub body: MaybeUndefined<Text<BODY_MAX>>,
    #[oai(nullable)]
    pub due_at: MaybeUndefined<DateTime<Utc>>,
    #[oai(nullable)]
    pub completed_at: MaybeUndefined<DateTime<Utc>>,
    #[oai(nullable)]
    pub owner_id: MaybeUndefined<Uuid>,
    #[oai(nullable)]
    pub contact_id: MaybeUndefined<Uuid>,
    #[oai(nullable)]
    pub company_id: MaybeUndefined<Uuid>,
    #[oai(nullable)]
    pub lead_id: MaybeUndefined<Uuid>,
    /// Merged key by key: a key set to `null` removes that value, other keys are set,
    /// keys left out are kept; `null` removes every value.
    #[oai(nullable)]
    pub custom_fields: MaybeUndefined<BTreeMap<String, Value>>,
}

envelopes!(
    Activity,
    ActivityEnvelope,
    ActivityList,
    "One activity in the envelope.",
    "A page of activities in the envelope."
);

impl From<ActivityCreate> for domain::ActivityInput {
    fn from(body: ActivityCreate) -> Self {
        Self {
            kind: body.kind.into(),
            subject: text(body.subject),
            body: text(body.body),
            due_at: body.due_at,
            completed_at: body.completed_at,
            owner_id: body.owner_id,
            contact_id: body.contact_id,
            company_id: body.company_id,
            lead_id: body.lead_id,
        }
    }
}

impl From<ActivityPatch> for domain::ActivityPatch {
    fn from(body: ActivityPatch) -> Self {
        Self {
            kind: body.kind.0.map(Into::into),
            subject: patch(body.subject, |t| Some(t.0)),
            body: patch(body.body, |t| Some(t.0)),
            due_at: patch(body.due_at, Some),
            completed_at: patch(body.completed_at, Some),
            owner_id: patch(body.owner_id, Some),
            contact_id: patch(body.contact_id, Some),
            company_id: patch(body.company_id, Some),
            lead_id: patch(body.lead_id, Some),
            custom_fields: merge_patch(body.custom_fields),
        }
    }
}

fn envelope(data: Activity, request_id: &RequestId) -> ActivityEnvelope {
    ActivityEnvelope {
        data,
        meta: Meta::of(request_id),
    }
}

fn list_envelope(list: Listed<ActivityRow>, request_id: &RequestId) -> ActivityList {
    ActivityList {
        meta: pagination::list_meta(&list, request_id),
        data: list.map(Activity::from).items,
    }
}

/// The page a timeline asks for; its order is the timeline's own (newest first).
fn timeline_page(limit: Option<u32>, cursor: Option<String>) -> PageRequest {
    PageRequest {
        limit,
        cursor,
        sort: None,
    }
}

by_updated_at!(Activity);
by_field!(ActivityEnvelope => data);

pub struct ActivitiesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Activities")]
impl ActivitiesApi {
    /// Create an activity
    #[oai(
        path = "/activities",
        method = "post",
        operation_id = "activities_create"
    )]
    async fn create(
        &self,
        #[oai(scope = "Scope::ActivitiesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<ActivityCreate>,
    ) -> ApiResult<Tagged<Created<ActivityEnvelope>>, Create> {
        let mut body = body.0;
        let values = body
            .custom_fields
            .take()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let created: Activity = activities::create(&state, &auth.0, body.into(), values).await?;
        Ok(Tagged(Created {
            location: format!("/v1/activities/{}", created.id),
            body: envelope(created, &request_id),
        }))
    }

    /// Get an activity
    #[oai(
        path = "/activities/:id",
        method = "get",
        operation_id = "activities_get"
    )]
    async fn get(
        &self,
        #[oai(scope = "Scope::ActivitiesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The activity's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// Also find the activity in the trash (it then has `deleted_at` set).
        include_deleted: Query<Option<bool>>,
    ) -> ApiResult<Conditional<ActivityEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = activities::get(&state, &auth.0, id, include_deleted.0 == Some(true)).await?;
        let found = envelope(row.into(), &request_id);
        Ok(Conditional::new(found, &if_none_match))
    }

    /// Update an activity
    ///
    /// JSON Merge Patch. `stage_change` activities are read-only (409).
    #[oai(
        path = "/activities/:id",
        method = "patch",
        operation_id = "activities_update"
    )]
    async fn update(
        &self,
        #[oai(scope = "Scope::ActivitiesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The activity's id.
        id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<ActivityPatch>,
    ) -> ApiResult<Tagged<Success<ActivityEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let updated = activities::update(&state, &auth.0, id, &if_match, body.0.into()).await?;
        Ok(Tagged(Success(envelope(updated, &request_id))))
    }

    /// Delete an activity
    ///
    /// Moves the activity to the trash: it disappears from reads, lists and timelines.
    /// `activities_restore` brings it back within the retention period (30 days by
    /// default). `activity.deleted` carries it with its `deleted_at`. `stage_change`
    /// activities are read-only (409); they go to the trash, and come back, with their
    /// lead.
    #[oai(
        path = "/activities/:id",
        method = "delete",
        operation_id = "activities_delete"
    )]
    async fn delete(
        &self,
        #[oai(scope = "Scope::ActivitiesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        /// The activity's id.
        id: Path<PathId>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, GuardedDelete> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        activities::delete::<Activity>(&state, &auth.0, id, &if_match).await?;
        Ok(NoContent)
    }

    /// Complete a task
    ///
    /// Sets `completed_at` to now. Completing a completed task changes nothing (the first
    /// completion time is kept). Only `task` activities can be completed (409).
    #[oai(
        path = "/activities/:id/complete",
        method = "post",
        operation_id = "activities_complete"
    )]
    async fn complete(
        &self,
        #[oai(scope = "Scope::ActivitiesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The activity's id.
        id: Path<PathId>,
    ) -> ApiResult<Tagged<Success<ActivityEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let completed = activities::complete(&state, &auth.0, id).await?;
        Ok(Tagged(Success(envelope(completed, &request_id))))
    }

    /// Restore an activity
    ///
    /// Brings a deleted activity back from the trash as it was, with its links (to
    /// records that may themselves be in the trash). Restoring an activity that is not in
    /// the trash changes nothing and answers `200` with it (no event). A `stage_change`
    /// activity comes back only with its lead (`leads_restore`; 409 here). Unknown ids,
    /// another tenant's and purged activities are `404`.
    #[oai(
        path = "/activities/:id/restore",
        method = "post",
        operation_id = "activities_restore"
    )]
    async fn restore(
        &self,
        #[oai(scope = "Scope::ActivitiesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The activity's id.
        id: Path<PathId>,
    ) -> ApiResult<Tagged<Success<ActivityEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let activity = activities::restore(&state, &auth.0, id).await?;
        Ok(Tagged(Success(envelope(activity, &request_id))))
    }

    /// List activities
    ///
    /// Keyset-paginated: follow `meta.next_cursor` (with the same `sort` and filters) until
    /// it is `null`.
    #[oai(path = "/activities", method = "get", operation_id = "activities_list")]
    async fn list(
        &self,
        #[oai(scope = "Scope::ActivitiesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Sort order: `created_at` (default), `updated_at` or `due_at` (none sorts last);
        /// a leading `-` sorts descending.
        #[oai(validator(pattern = "^-?(created_at|updated_at|due_at)$"))]
        sort: Query<Option<String>>,
        /// One of `note`, `call`, `email`, `meeting`, `task`, `stage_change`.
        #[oai(
            name = "type",
            validator(pattern = "^(note|call|email|meeting|task|stage_change)$")
        )]
        kind: Query<Option<String>>,
        owner_id: Query<Option<Uuid>>,
        contact_id: Query<Option<Uuid>>,
        company_id: Query<Option<Uuid>>,
        lead_id: Query<Option<Uuid>>,
        /// `true`: only completed ones; `false`: only open ones.
        completed: Query<Option<bool>>,
        /// Due at or after this instant.
        due_from: Query<Option<DateTime<Utc>>>,
        /// Due at or before this instant.
        due_to: Query<Option<DateTime<Utc>>>,
        /// Only activities changed strictly after this instant (RFC 3339).
        updated_after: Query<Option<DateTime<Utc>>>,
        /// Also list activities in the trash (with `deleted_at` set).
        include_deleted: Query<Option<bool>>,
        /// A filter on a custom field, `key:op:value`; repeat it to combine filters (all
        /// must hold). `op` is `eq` for every type (`multi_select`: has this option), or
        /// `gt`, `gte`, `lt`, `lte` for `number`, `decimal`, `date` and `datetime`. A key
        /// the record type does not define, an op its type does not take or a value it
        /// cannot hold is a `422` naming `custom_field`.
        custom_field: Query<Option<Vec<String>>>,
    ) -> ApiResult<Success<ActivityList>, FilteredList> {
        let filter = ActivityFilter {
            kind: kind.0.as_deref().and_then(ActivityType::parse),
            owner_id: owner_id.0,
            contact_id: contact_id.0,
            company_id: company_id.0,
            lead_id: lead_id.0,
            completed: completed.0,
            due_from: due_from.0,
            due_to: due_to.0,
            updated_after: updated_after.0,
            include_deleted: include_deleted.0 == Some(true),
            custom_fields: Vec::new(),
        };
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: sort.0,
        };
        let custom_field = custom_field.0.unwrap_or_default();
        let list = activities::list(&state, &auth.0, filter, &custom_field, &page).await?;
        Ok(Success(list_envelope(list, &request_id)))
    }

    /// A contact's timeline
    ///
    /// The activities linked to the contact, newest first, keyset-paginated.
    #[oai(
        path = "/contacts/:id/activities",
        method = "get",
        operation_id = "contacts_activities"
    )]
    async fn contact_timeline(
        &self,
        #[oai(scope = "Scope::ActivitiesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The contact's id.
        id: Path<PathId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<ActivityList>, Read> {
        let filter = ActivityFilter {
            contact_id: Some(id.0.parse("id")?),
            ..Default::default()
        };
        let page = timeline_page(limit.0, cursor.0);
        let list = activities::timeline(&state, &auth.0, filter, &page).await?;
        Ok(Success(list_envelope(list, &request_id)))
    }

    /// A company's timeline
    ///
    /// The activities linked to the company, newest first, keyset-paginated.
    #[oai(
        path = "/companies/:id/activities",
        method = "get",
        operation_id = "companies_activities"
    )]
    async fn company_timeline(
        &self,
        #[oai(scope = "Scope::ActivitiesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The company's id.
        id: Path<PathId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<ActivityList>, Read> {
        let filter = ActivityFilter {
            company_id: Some(id.0.parse("id")?),
            ..Default::default()
        };
        let page = timeline_page(limit.0, cursor.0);
        let list = activities::timeline(&state, &auth.0, filter, &page).await?;
        Ok(Success(list_envelope(list, &request_id)))
    }

    /// A lead's timeline
    ///
    /// The activities linked to the lead, including its `stage_change` history, newest
    /// first, keyset-paginated.
    #[oai(
        path = "/leads/:id/activities",
        method = "get",
        operation_id = "leads_activities"
    )]
    async fn lead_timeline(
        &self,
        #[oai(scope = "Scope::ActivitiesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The lead's id.
        id: Path<PathId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<ActivityList>, Read> {
        let filter = ActivityFilter {
            lead_id: Some(id.0.parse("id")?),
            ..Default::default()
        };
        let page = timeline_page(limit.0, cursor.0);
        let list = activities::timeline(&state, &auth.0, filter, &page).await?;
        Ok(Success(list_envelope(list, &request_id)))
    }
}
