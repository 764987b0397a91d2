//! `/v1/companies`: the organisations a tenant works with, and their contacts.

use crate::api::types::NotNull;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::contacts::{self, ContactList};
use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch};
use super::pagination;
use super::responses::{
    envelopes, Action, ApiResult, Conditional, Create, Created, Delete, FilteredList, Meta,
    NoContent, Read, Success, Tagged, Update,
};
use super::security::ApiKey;
use super::types::{merge_patch, patch, text, Int, PathId, Text, TextList};
use super::ApiTags;
use crate::app::companies::{self as app, CompanyQuery, CompanyRow};
use crate::app::page::{Listed, PageRequest};
use crate::app::version::{by_field, by_updated_at};
use crate::auth::Scope;
use crate::domain::company as domain;
use crate::domain::fields::{PHONE_MAX, TAGS_MAX_ITEMS, TAG_MAX, URL_MAX};
use crate::state::AppState;

type Tags = TextList<TAGS_MAX_ITEMS, TAG_MAX>;
type Employees = Int<0, { domain::EMPLOYEES_MAX }>;

/// An organisation the tenant works with.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Company {
    /// Unique id (UUIDv7, time-ordered).
    pub id: Uuid,
    pub name: String,
    /// Lower case, without scheme or path; unique within the tenant.
    #[oai(nullable)]
    pub domain: Option<String>,
    #[oai(nullable)]
    pub website: Option<String>,
    #[oai(nullable)]
    pub industry: Option<String>,
    #[oai(nullable)]
    pub employee_count: Option<i64>,
    /// E.164, e.g. `+14155552671`.
    #[oai(nullable)]
    pub phone: Option<String>,
    #[oai(nullable)]
    pub address_line1: Option<String>,
    #[oai(nullable)]
    pub address_line2: Option<String>,
    #[oai(nullable)]
    pub city: Option<String>,
    /// State, province or county.
    #[oai(nullable)]
    pub region: Option<String>,
    #[oai(nullable)]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    #[oai(nullable)]
    pub country: Option<String>,
    pub tags: Vec<String>,
    /// Free-form JSON object.
    pub custom_fields: BTreeMap<String, Value>,
    /// The user who owns the record: by default the user whose credential created it;
    /// `null` for one created by a service key, created before owners existed (issue 24),
    /// or whose owner was deleted.
    #[oai(nullable)]
    pub owner_id: Option<Uuid>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
    /// When the company was deleted (moved to the trash); `null` while it is live.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<CompanyRow> for Company {
    fn from(row: CompanyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            domain: row.domain,
            website: row.website,
            industry: row.industry,
            employee_count: row.employee_count.map(i64::from),
            phone: row.phone,
            address_line1: row.address_line1,
            address_line2: row.address_line2,
            city: row.city,
            region: row.region,
            postal_code: row.postal_code,
            country: row.country,
            tags: row.tags,
            custom_fields: contacts::object(row.custom_fields),
            owner_id: row.owner_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        }
    }
}

/// A new company. Strings are trimmed, and a blank string counts as absent. Unknown
/// fields are refused.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CompanyCreate {
    pub name: Text<{ domain::NAME_MAX }>,
    /// A domain (`acme.com`) or a URL, reduced to its lower-case host without one leading
    /// `www.` (`https://WWW.Acme.com/x` becomes `acme.com`). Unique within the tenant
    /// (else 409 naming the holder).
    pub domain: Option<Text<URL_MAX>>,
    /// An absolute `http` or `https` URL.
    pub website: Option<Text<URL_MAX>>,
    pub industry: Option<Text<{ domain::INDUSTRY_MAX }>>,
    pub employee_count: Option<Employees>,
    /// International format (`+` and country code); stored as E.164.
    pub phone: Option<Text<PHONE_MAX>>,
    pub address_line1: Option<Text<{ domain::ADDRESS_LINE_MAX }>>,
    pub address_line2: Option<Text<{ domain::ADDRESS_LINE_MAX }>>,
    pub city: Option<Text<{ domain::CITY_MAX }>>,
    pub region: Option<Text<{ domain::REGION_MAX }>>,
    pub postal_code: Option<Text<{ domain::POSTAL_CODE_MAX }>>,
    /// ISO 3166-1 alpha-2 code, any case.
    pub country: Option<Text<2>>,
    /// Up to 50 tags of up to 50 characters; duplicates are dropped.
    pub tags: Option<Tags>,
    /// Values of the tenant's custom fields for companies, by key, each checked against
    /// its definition (`/v1/custom-fields`): an unknown key or a bad value is a `422`
    /// naming `custom_fields.<key>`, a missing `required` one too, a `unique` value
    /// another live company holds a `409` naming it. At most 16 KiB as JSON.
    pub custom_fields: Option<BTreeMap<String, Value>>,
    /// A user of the tenant (else 422 on this field); default: the user the API key acts
    /// for (none for a service key).
    pub owner_id: Option<Uuid>,
}

/// Changes to a company, as a JSON Merge Patch: a field left out is kept, `null` clears
/// it (`tags` becomes empty), any other value replaces it. `custom_fields` is merged key
/// by key: a key set to `null` removes that value, other keys are set, keys left out are
/// kept; `custom_fields: null` removes every value. The result must satisfy the create
/// rules; `name` cannot be cleared.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CompanyPatch {
    pub name: NotNull<Text<{ domain::NAME_MAX }>>,
    #[oai(nullable)]
    pub domain: MaybeUndefined<Text<URL_MAX>>,
    #[oai(nullable)]
    pub website: MaybeUndefined<Text<URL_MAX>>,
    #[oai(nullable)]
    pub industry: MaybeUndefined<Text<{ domain::INDUSTRY_MAX }>>,
    #[oai(nullable)]
    pub employee_count: MaybeUndefined<Employees>,
    #[oai(nullable)]
    pub phone: MaybeUndefined<Text<PHONE_MAX>>,
    #[oai(nullable)]
    pub address_line1: MaybeUndefined<Text<{ domain::ADDRESS_LINE_MAX }>>,
    #[oai(nullable)]
    pub address_line2: MaybeUndefined<Text<{ domain::ADDRESS_LINE_MAX }>>,
    #[oai(nullable)]
    pub city: MaybeUndefined<Text<{ domain::CITY_MAX }>>,
    #[oai(nullable)]
    pub region: MaybeUndefined<Text<{ domain::REGION_MAX }>>,
    #[oai(nullable)]
    pub postal_code: MaybeUndefined<Text<{ domain::POSTAL_CODE_MAX }>>,
    #[oai(nullable)]
    pub country: MaybeUndefined<Text<2>>,
    #[oai(nullable)]
    pub tags: MaybeUndefined<Tags>,
    #[oai(nullable)]
    pub custom_fields: MaybeUndefined<BTreeMap<String, Value>>,
    /// A user of the tenant (else 422 on this field); `null` leaves the record unowned.
    #[oai(nullable)]
    pub owner_id: MaybeUndefined<Uuid>,
}

envelopes!(
    Company,
    CompanyEnvelope,
    CompanyList,
    "One company in the envelope.",
    "A page of companies in the envelope."
);

impl From<CompanyCreate> for domain::CompanyInput {
    fn from(body: CompanyCreate) -> Self {
        Self {
            name: Some(body.name.0),
            domain: text(body.domain),
            website: text(body.website),
            industry: text(body.industry),
            employee_count: body.employee_count.map(|n| n.0),
            phone: text(body.phone),
            address_line1: text(body.address_line1),
            address_line2: text(body.address_line2),
            city: text(body.city),
            region: text(body.region),
            postal_code: text(body.postal_code),
            country: text(body.country),
            tags: body.tags.map(|t| t.0).unwrap_or_default(),
            custom_fields: body
                .custom_fields
                .map(|m| m.into_iter().collect())
                .unwrap_or_default(),
            owner_id: body.owner_id,
        }
    }
}

/// `name` is not nullable: a `null` one is left out (kept), as poem reads it.
impl From<CompanyPatch> for domain::CompanyPatch {
    fn from(body: CompanyPatch) -> Self {
        Self {
            name: body.name.0.map(|t| t.0),
            domain: patch(body.domain, |t| Some(t.0)),
            website: patch(body.website, |t| Some(t.0)),
            industry: patch(body.industry, |t| Some(t.0)),
            employee_count: patch(body.employee_count, |n| Some(n.0)),
            phone: patch(body.phone, |t| Some(t.0)),
            address_line1: patch(body.address_line1, |t| Some(t.0)),
            address_line2: patch(body.address_line2, |t| Some(t.0)),
            city: patch(body.city, |t| Some(t.0)),
            region: patch(body.region, |t| Some(t.0)),
            postal_code: patch(body.postal_code, |t| Some(t.0)),
            country: patch(body.country, |t| Some(t.0)),
            tags: patch(body.tags, |t| t.0),
            custom_fields: merge_patch(body.custom_fields),
            owner_id: patch(body.owner_id, Some),
        }
    }
}

fn envelope(data: Company, request_id: &RequestId) -> CompanyEnvelope {
    CompanyEnvelope {
        data,
        meta: Meta::of(request_id),
    }
}

fn list_envelope(list: Listed<CompanyRow>, request_id: &RequestId) -> CompanyList {
    CompanyList {
        meta: pagination::list_meta(&list, request_id),
        data: list.map(Company::from).items,
    }
}

by_updated_at!(Company);
by_field!(CompanyEnvelope => data);

pub struct CompaniesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Companies")]
impl CompaniesApi {
    /// Create a company
    ///
    /// Returns the new company with `201` and its address in `Location`. A domain already
    /// used by another company of the tenant is a `409` whose details name that company.
    #[oai(
        path = "/companies",
        method = "post",
        operation_id = "companies_create"
    )]
    async fn create(
        &self,
        #[oai(scope = "Scope::CompaniesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<CompanyCreate>,
    ) -> ApiResult<Tagged<Created<CompanyEnvelope>>, Create> {
        let created: Company = app::create(&state, &auth.0, body.0.into()).await?;
        Ok(Tagged(Created {
            location: format!("/v1/companies/{}", created.id),
            body: envelope(created, &request_id),
        }))
    }

    /// Get a company
    ///
    /// A company of another tenant is reported exactly like one that does not exist; so
    /// is a deleted one, unless `include_deleted=true`.
    #[oai(
        path = "/companies/:id",
        method = "get",
        operation_id = "companies_get"
    )]
    async fn get(
        &self,
        #[oai(scope = "Scope::CompaniesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The company's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// Also find the company in the trash (it then has `deleted_at` set).
        include_deleted: Query<Option<bool>>,
    ) -> ApiResult<Conditional<CompanyEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = app::get(&state, &auth.0, id, include_deleted.0 == Some(true)).await?;
        let found = envelope(row.into(), &request_id);
        Ok(Conditional::new(found, &if_none_match))
    }

    /// Update a company
    ///
    /// JSON Merge Patch: fields left out are kept, `null` clears a field, other values
    /// replace it.
    #[oai(
        path = "/companies/:id",
        method = "patch",
        operation_id = "companies_update"
    )]
    async fn update(
        &self,
        #[oai(scope = "Scope::CompaniesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The company's id.
        id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<CompanyPatch>,
    ) -> ApiResult<Tagged<Success<CompanyEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let updated: Company = app::update(&state, &auth.0, id, &if_match, body.0.into()).await?;
        Ok(Tagged(Success(envelope(updated, &request_id))))
    }

    /// Delete a company
    ///
    /// Moves the company to the trash: it disappears from reads, lists and searches, and
    /// its domain is free for another company. Its contacts, leads and activities keep
    /// their `company_id` (it becomes `null` only when the company is purged).
    /// `companies_restore` brings it back within the retention period (30 days by
    /// default). `company.deleted` carries it with its `deleted_at`.
    #[oai(
        path = "/companies/:id",
        method = "delete",
        operation_id = "companies_delete"
    )]
    async fn delete(
        &self,
        #[oai(scope = "Scope::CompaniesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        /// The company's id.
        id: Path<PathId>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, Delete> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        app::delete::<Company>(&state, &auth.0, id, &if_match).await?;
        Ok(NoContent)
    }

    /// List companies
    ///
    /// Keyset-paginated: follow `meta.next_cursor` (with the same `sort` and filters) until
    /// it is `null`.
    #[oai(path = "/companies", method = "get", operation_id = "companies_list")]
    async fn list(
        &self,
        #[oai(scope = "Scope::CompaniesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Sort order: `created_at` (default), `updated_at`, `name` or `owner_id` (grouped
        /// by owner, unowned last); a leading `-` sorts descending.
        #[oai(validator(pattern = "^-?(created_at|updated_at|name|owner_id)$"))]
        sort: Query<Option<String>>,
        /// Case-insensitive substring of the name or the domain.
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        /// Exact domain, normalised like the field (a URL works too).
        #[oai(validator(max_length = 2048))]
        domain: Query<Option<String>>,
        /// Exact industry, ignoring case.
        #[oai(validator(max_length = 100))]
        industry: Query<Option<String>>,
        /// Only the companies owned by this user.
        owner_id: Query<Option<Uuid>>,
        /// Only companies changed strictly after this instant (RFC 3339).
        updated_after: Query<Option<DateTime<Utc>>>,
        /// Also list companies in the trash (with `deleted_at` set).
        include_deleted: Query<Option<bool>>,
        /// A filter on a custom field, `key:op:value`; repeat it to combine filters (all
        /// must hold). `op` is `eq` for every type (`multi_select`: has this option), or
        /// `gt`, `gte`, `lt`, `lte` for `number`, `decimal`, `date` and `datetime`. A key
        /// the record type does not define, an op its type does not take or a value it
        /// cannot hold is a `422` naming `custom_field`.
        custom_field: Query<Option<Vec<String>>>,
    ) -> ApiResult<Success<CompanyList>, FilteredList> {
        let query = CompanyQuery {
            q: q.0,
            domain: domain.0,
            industry: industry.0,
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
        let list = app::list(&state, &auth.0, &query, &page).await?;
        Ok(Success(list_envelope(list, &request_id)))
    }

    /// Restore a company
    ///
    /// Brings a deleted company back from the trash as it was, with its links (the
    /// contacts, leads and activities that point to it). A `409` names the live company
    /// that took its domain meanwhile. Restoring a company that is not in the trash
    /// changes nothing and answers `200` with it (no event). Unknown ids, another
    /// tenant's and purged companies are `404`.
    #[oai(
        path = "/companies/:id/restore",
        method = "post",
        operation_id = "companies_restore"
    )]
    async fn restore(
        &self,
        #[oai(scope = "Scope::CompaniesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The company's id.
        id: Path<PathId>,
    ) -> ApiResult<Tagged<Success<CompanyEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let company = app::restore(&state, &auth.0, id).await?;
        Ok(Tagged(Success(envelope(company, &request_id))))
    }

    /// List a company's contacts
    ///
    /// The contacts whose `company_id` is this company, paginated like `contacts_list`.
    #[oai(
        path = "/companies/:id/contacts",
        method = "get",
        operation_id = "companies_contacts"
    )]
    async fn contacts(
        &self,
        #[oai(scope = "Scope::ContactsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The company's id.
        id: Path<PathId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Sort order: `created_at` (default), `updated_at` or `last_name`; a leading `-`
        /// sorts descending.
        #[oai(validator(pattern = "^-?(created_at|updated_at|last_name)$"))]
        sort: Query<Option<String>>,
        /// Only contacts changed strictly after this instant (RFC 3339).
        updated_after: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Success<ContactList>, Read> {
        let id = id.0.parse("id")?;
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: sort.0,
        };
        let list = app::contacts(&state, &auth.0, id, updated_after.0, &page).await?;
        Ok(Success(contacts::list_envelope(list, &request_id)))
    }
}
