//! `/v1/contacts`: the people a tenant works with.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch};
use super::pagination;
use super::responses::{
    Action, ApiResult, Conditional, Create, Created, Delete, FilteredList, ListMeta, Meta,
    NoContent, Read, Success, Tagged, Update,
};
use super::security::ApiKey;
use super::types::{patch, text, Email, PathId, Text, TextList};
use super::ApiTags;
use crate::app::contacts::{self, ContactQuery, ContactRow};
use crate::app::page::{Listed, PageRequest};
use crate::app::version::{by_field, by_updated_at};
use crate::auth::Scope;
use crate::domain::contact as domain;
use crate::domain::fields::{TAGS_MAX_ITEMS, TAG_MAX};
use crate::error::AppError;
use crate::state::AppState;

const NAME_MAX: usize = domain::NAME_MAX;
const TITLE_MAX: usize = domain::TITLE_MAX;
const NOTES_MAX: usize = domain::NOTES_MAX;
const PHONE_MAX: usize = crate::domain::fields::PHONE_MAX;

type Tags = TextList<TAGS_MAX_ITEMS, TAG_MAX>;

/// A person the tenant works with.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Contact {
    /// Unique id (UUIDv7, time-ordered).
    pub id: Uuid,
    #[oai(nullable)]
    pub first_name: Option<String>,
    #[oai(nullable)]
    pub last_name: Option<String>,
    /// Unique within the tenant, compared case-insensitively; stored as sent.
    #[oai(nullable)]
    pub email: Option<String>,
    /// E.164, e.g. `+14155552671`.
    #[oai(nullable)]
    pub phone: Option<String>,
    /// Job title.
    #[oai(nullable)]
    pub title: Option<String>,
    #[oai(nullable)]
    pub notes: Option<String>,
    pub tags: Vec<String>,
    /// Values of the tenant's custom fields for contacts (`/v1/custom-fields`), by key.
    pub custom_fields: BTreeMap<String, Value>,
    /// The contact's company. It stays while the company is in the trash (reading it
    /// then needs `include_deleted=true`), and becomes `null` when the company is purged.
    #[oai(nullable)]
    pub company_id: Option<Uuid>,
    /// The user who owns the record: by default the user whose credential created it;
    /// `null` for one created by a service key, created before owners existed (issue 24),
    /// or whose owner was deleted.
    #[oai(nullable)]
    pub owner_id: Option<Uuid>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
    /// When the contact was deleted (moved to the trash); `null` while it is live.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<ContactRow> for Contact {
    fn from(row: ContactRow) -> Self {
        Self {
            id: row.id,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
            phone: row.phone,
            title: row.title,
            notes: row.notes,
            tags: row.tags,
            custom_fields: object(row.custom_fields),
            company_id: row.company_id,
            owner_id: row.owner_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        }
    }
}

/// A new contact. It needs at least a `first_name`, a `last_name` or an `email`. Strings
/// are trimmed, and a blank string counts as absent. Unknown fields are refused.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ContactCreate {
    pub first_name: Option<Text<NAME_MAX>>,
    pub last_name: Option<Text<NAME_MAX>>,
    /// A valid address, unique within the tenant ignoring case (else 409).
    pub email: Option<Email>,
    /// International format (`+` and country code); stored as E.164.
    pub phone: Option<Text<PHONE_MAX>>,
    pub title: Option<Text<TITLE_MAX>>,
    /// Free text; newlines allowed.
    pub notes: Option<Text<NOTES_MAX>>,
    /// Up to 50 tags of up to 50 characters; duplicates are dropped.
    pub tags: Option<Tags>,
    /// Values of the tenant's custom fields for contacts, by key, each checked against
    /// its definition (`/v1/custom-fields`): an unknown key or a bad value is a `422`
    /// naming `custom_fields.<key>`, a missing `required` one too, a `unique` value
    /// another live contact holds a `409` naming it. At most 16 KiB as JSON.
    pub custom_fields: Option<BTreeMap<String, Value>>,
    /// A company of the tenant (else 422 on this field).
    pub company_id: Option<Uuid>,
    /// A user of the tenant (else 422 on this field); default: the user the API key acts
    /// for (none for a service key).
    pub owner_id: Option<Uuid>,
}

/// Changes to a contact, as a JSON Merge Patch (RFC 7396): a field left out is kept, a
/// field set to `null` is cleared (`tags` becomes empty), any other value replaces the
/// old one. `custom_fields` is merged key by key: a key set to `null` removes that value,
/// other keys are set, keys left out are kept; `custom_fields: null` removes every value.
/// The result must still satisfy the create rules.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ContactPatch {
    #[oai(nullable)]
    pub first_name: MaybeUndefined<Text<NAME_MAX>>,
    #[oai(nullable)]
    pub last_name: MaybeUndefined<Text<NAME_MAX>>,
    #[oai(nullable)]
    pub email: MaybeUndefined<Email>,
    #[oai(nullable)]
    pub phone: MaybeUndefined<Text<PHONE_MAX>>,
    #[oai(nullable)]
    pub title: MaybeUndefined<Text<TITLE_MAX>>,
    #[oai(nullable)]
    pub notes: MaybeUndefined<Text<NOTES_MAX>>,
    #[oai(nullable)]
    pub tags: MaybeUndefined<Tags>,
    #[oai(nullable)]
    pub custom_fields: MaybeUndefined<BTreeMap<String, Value>>,
    #[oai(nullable)]
    pub company_id: MaybeUndefined<Uuid>,
    /// A user of the tenant (else 422 on this field); `null` leaves the record unowned.
    #[oai(nullable)]
    pub owner_id: MaybeUndefined<Uuid>,
}

/// One contact in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ContactEnvelope {
    pub data: Contact,
    pub meta: Meta,
}

/// A page of contacts in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ContactList {
    pub data: Vec<Contact>,
    pub meta: ListMeta,
}

impl ContactCreate {
    /// Checks the body against the contact rules (every bad field reported).
    pub fn parse(self) -> Result<domain::Contact, AppError> {
        domain::Contact::parse(self.into()).map_err(AppError::Validation)
    }
}

impl From<ContactCreate> for domain::ContactInput {
    fn from(body: ContactCreate) -> Self {
        Self {
            first_name: text(body.first_name),
            last_name: text(body.last_name),
            email: body.email.map(|e| e.0),
            phone: text(body.phone),
            title: text(body.title),
            notes: text(body.notes),
            tags: body.tags.map(|t| t.0).unwrap_or_default(),
            custom_fields: body
                .custom_fields
                .map(|m| m.into_iter().collect())
                .unwrap_or_default(),
            company_id: body.company_id,
            owner_id: body.owner_id,
        }
    }
}

/// A JSON object column as the wire's map (the column's CHECK keeps it an object).
pub fn object(value: Value) -> BTreeMap<String, Value> {
    match value {
        Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

impl From<ContactPatch> for domain::ContactPatch {
    fn from(body: ContactPatch) -> Self {
        Self {
            first_name: patch(body.first_name, |t| Some(t.0)),
            last_name: patch(body.last_name, |t| Some(t.0)),
            email: patch(body.email, |e| Some(e.0)),
            phone: patch(body.phone, |t| Some(t.0)),
            title: patch(body.title, |t| Some(t.0)),
            notes: patch(body.notes, |t| Some(t.0)),
            tags: patch(body.tags, |t| t.0),
            custom_fields: patch(body.custom_fields, |m| m.into_iter().collect()),
            company_id: patch(body.company_id, Some),
            owner_id: patch(body.owner_id, Some),
        }
    }
}

fn envelope(data: Contact, request_id: &RequestId) -> ContactEnvelope {
    ContactEnvelope {
        data,
        meta: Meta::of(request_id),
    }
}

/// A page of contacts in the envelope (also the contacts listed under a company).
pub fn list_envelope(list: Listed<ContactRow>, request_id: &RequestId) -> ContactList {
    ContactList {
        meta: pagination::list_meta(&list, request_id),
        data: list.map(Contact::from).items,
    }
}

by_updated_at!(Contact);
by_field!(ContactEnvelope => data);

pub struct ContactsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Contacts")]
impl ContactsApi {
    /// Create a contact
    ///
    /// Returns the new contact with `201` and its address in `Location`. An email already
    /// used by another contact of the tenant (ignoring case) is a `409` whose details name
    /// that contact.
    #[oai(path = "/contacts", method = "post", operation_id = "contacts_create")]
    async fn create(
        &self,
        #[oai(scope = "Scope::ContactsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<ContactCreate>,
    ) -> ApiResult<Tagged<Created<ContactEnvelope>>, Create> {
        let created: Contact = contacts::create(&state, &auth.0, body.0.into()).await?;
        Ok(Tagged(Created {
            location: format!("/v1/contacts/{}", created.id),
            body: envelope(created, &request_id),
        }))
    }

    /// Get a contact
    ///
    /// A contact of another tenant is reported exactly like one that does not exist; so
    /// is a deleted one, unless `include_deleted=true`.
    #[oai(path = "/contacts/:id", method = "get", operation_id = "contacts_get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::ContactsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The contact's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// Also find the contact in the trash (it then has `deleted_at` set).
        include_deleted: Query<Option<bool>>,
    ) -> ApiResult<Conditional<ContactEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = contacts::get(&state, &auth.0, id, include_deleted.0 == Some(true)).await?;
        let found = envelope(row.into(), &request_id);
        Ok(Conditional::new(found, &if_none_match))
    }

    /// Update a contact
    ///
    /// JSON Merge Patch: fields left out are kept, `null` clears a field, other values
    /// replace it. The patched contact must still have a name or an email.
    #[oai(
        path = "/contacts/:id",
        method = "patch",
        operation_id = "contacts_update"
    )]
    async fn update(
        &self,
        #[oai(scope = "Scope::ContactsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The contact's id.
        id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<ContactPatch>,
    ) -> ApiResult<Tagged<Success<ContactEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let updated = contacts::update(&state, &auth.0, id, &if_match, body.0.into()).await?;
        Ok(Tagged(Success(envelope(updated, &request_id))))
    }

    /// Delete a contact
    ///
    /// Moves the contact to the trash: it disappears from reads, lists and searches, its
    /// email is free for another contact, and records linked to it keep the link.
    /// `contacts_restore` brings it back within the retention period (30 days by
    /// default), after which it is purged for good. `contact.deleted` carries it with
    /// its `deleted_at`.
    #[oai(
        path = "/contacts/:id",
        method = "delete",
        operation_id = "contacts_delete"
    )]
    async fn delete(
        &self,
        #[oai(scope = "Scope::ContactsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        /// The contact's id.
        id: Path<PathId>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, Delete> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        contacts::delete::<Contact>(&state, &auth.0, id, &if_match).await?;
        Ok(NoContent)
    }

    /// Restore a contact
    ///
    /// Brings a deleted contact back from the trash as it was, with its links (its
    /// company, and the leads and activities that point to it). A `409` names the live
    /// contact that took its email meanwhile. Restoring a contact that is not in the
    /// trash changes nothing and answers `200` with it (no event). Unknown ids, another
    /// tenant's and purged contacts are `404`.
    #[oai(
        path = "/contacts/:id/restore",
        method = "post",
        operation_id = "contacts_restore"
    )]
    async fn restore(
        &self,
        #[oai(scope = "Scope::ContactsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The contact's id.
        id: Path<PathId>,
    ) -> ApiResult<Tagged<Success<ContactEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let contact = contacts::restore(&state, &auth.0, id).await?;
        Ok(Tagged(Success(envelope(contact, &request_id))))
    }

    /// List contacts
    ///
    /// Keyset-paginated: follow `meta.next_cursor` (with the same `sort` and filters) until
    /// it is `null`. Pages stay consistent while contacts are added or removed: no contact
    /// is served twice and none present throughout is skipped. For incremental sync,
    /// remember the newest `updated_at` seen and pass it as `updated_after` next time.
    #[oai(path = "/contacts", method = "get", operation_id = "contacts_list")]
    async fn list(
        &self,
        #[oai(scope = "Scope::ContactsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Sort order: `created_at` (default), `updated_at`, `last_name` or `owner_id`
        /// (grouped by owner, unowned last); a leading `-` sorts descending, e.g.
        /// `-updated_at`.
        #[oai(validator(pattern = "^-?(created_at|updated_at|last_name|owner_id)$"))]
        sort: Query<Option<String>>,
        /// Case-insensitive substring of the full name or the email.
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        /// Exact email, ignoring case.
        #[oai(validator(max_length = 254))]
        email: Query<Option<String>>,
        /// Only the contacts of this company.
        company_id: Query<Option<Uuid>>,
        /// Only the contacts owned by this user.
        owner_id: Query<Option<Uuid>>,
        /// Only contacts changed strictly after this instant (RFC 3339).
        updated_after: Query<Option<DateTime<Utc>>>,
        /// Also list contacts in the trash (with `deleted_at` set). With `updated_after`,
        /// an incremental sync sees deletions too: deleting a contact changes its
        /// `updated_at`.
        include_deleted: Query<Option<bool>>,
        /// A filter on a custom field, `key:op:value`; repeat it to combine filters (all
        /// must hold). `op` is `eq` for every type (`multi_select`: has this option), or
        /// `gt`, `gte`, `lt`, `lte` for `number`, `decimal`, `date` and `datetime`. A key
        /// the record type does not define, an op its type does not take or a value it
        /// cannot hold is a `422` naming `custom_field`.
        custom_field: Query<Option<Vec<String>>>,
    ) -> ApiResult<Success<ContactList>, FilteredList> {
        let query = ContactQuery {
            q: q.0,
            email: email.0,
            company_id: company_id.0,
            owner_id: owner_id.0,
            updated_after: updated_after.0,
            include_deleted: include_deleted.0 == Some(true),
            custom_field: custom_field.0.unwrap_or_default(),
        };
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: sort.0,
        };
        let list = contacts::list(&state, &auth.0, &query, &page).await?;
        let list = list_envelope(list, &request_id);
        Ok(Success(list))
    }
}
