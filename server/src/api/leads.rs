//! `/v1/leads`: deals moving through a pipeline, and their conversion.

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

use super::companies::Company;
use super::contacts::Contact;
use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch};
use super::pagination;
use super::responses::{
    envelopes, Action, ApiResult, Conditional, Create, Created, Delete, FilteredList, Meta,
    NoContent, Read, Success, Tagged, Update,
};
use super::security::ApiKey;
use super::types::{merge_patch, patch, text, Amount, Date, Email, PathId, Text};
use super::ApiTags;
use crate::app::leads::{self, LeadQuery, LeadRow};
use crate::app::page::PageRequest;
use crate::app::version::{by_field, by_updated_at};
use crate::auth::Scope;
use crate::domain::contact;
use crate::domain::fields::{self, DOMAIN_MAX, PHONE_MAX};
use crate::domain::lead::{self as domain, Prospect};
use crate::domain::pipeline::StageKind;
use crate::state::AppState;

const PERSON_NAME_MAX: usize = contact::NAME_MAX;

/// A lead's status, which follows the kind of its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum LeadStatus {
    Open,
    Won,
    Lost,
}

impl From<LeadStatus> for StageKind {
    fn from(status: LeadStatus) -> Self {
        match status {
            LeadStatus::Open => Self::Open,
            LeadStatus::Won => Self::Won,
            LeadStatus::Lost => Self::Lost,
        }
    }
}

/// A deal in a pipeline.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Lead {
    pub id: Uuid,
    pub title: String,
    #[oai(nullable)]
    pub contact_id: Option<Uuid>,
    #[oai(nullable)]
    pub company_id: Option<Uuid>,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    /// `open`, `won` or `lost`: the kind of the lead's stage. New values may be added.
    pub status: String,
    /// A decimal amount as a string, with as many decimals as the currency has
    /// (`"1250.50"` in EUR, `"1250"` in JPY).
    #[oai(nullable)]
    pub value: Option<Amount>,
    /// ISO 4217 code.
    #[oai(nullable)]
    pub currency: Option<String>,
    #[oai(nullable)]
    pub expected_close_date: Option<Date>,
    /// The user who owns the lead.
    #[oai(nullable)]
    pub owner_id: Option<Uuid>,
    #[oai(nullable)]
    pub source: Option<String>,
    #[oai(nullable)]
    pub lost_reason: Option<String>,
    #[oai(nullable)]
    pub prospect_first_name: Option<String>,
    #[oai(nullable)]
    pub prospect_last_name: Option<String>,
    #[oai(nullable)]
    pub prospect_email: Option<String>,
    #[oai(nullable)]
    pub prospect_phone: Option<String>,
    #[oai(nullable)]
    pub prospect_company_name: Option<String>,
    #[oai(nullable)]
    pub prospect_company_domain: Option<String>,
    /// When the lead was converted (`leads_convert`).
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub converted_at: Option<DateTime<Utc>>,
    /// When the lead last entered a stage (its creation, at first).
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub stage_changed_at: DateTime<Utc>,
    /// When the lead entered a `won` stage; `null` while it is not won.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub won_at: Option<DateTime<Utc>>,
    /// When the lead entered a `lost` stage; `null` while it is not lost.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub lost_at: Option<DateTime<Utc>>,
    /// Values of the tenant's custom fields for leads (`/v1/custom-fields`), by key.
    pub custom_fields: BTreeMap<String, Value>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
    /// When the lead was deleted (moved to the trash); `null` while it is live.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<LeadRow> for Lead {
    fn from(row: LeadRow) -> Self {
        Self {
            id: row.id,
            title: row.title,
            contact_id: row.contact_id,
            company_id: row.company_id,
            pipeline_id: row.pipeline_id,
            stage_id: row.stage_id,
            status: row.status,
            value: row
                .value
                .map(|v| Amount(fields::format_amount(v, row.currency.as_deref()))),
            currency: row.currency,
            expected_close_date: row.expected_close_date.map(Date),
            owner_id: row.owner_id,
            source: row.source,
            lost_reason: row.lost_reason,
            prospect_first_name: row.prospect_first_name,
            prospect_last_name: row.prospect_last_name,
            prospect_email: row.prospect_email,
            prospect_phone: row.prospect_phone,
            prospect_company_name: row.prospect_company_name,
            prospect_company_domain: row.prospect_company_domain,
            converted_at: row.converted_at,
            stage_changed_at: row.stage_changed_at,
            won_at: row.won_at,
            lost_at: row.lost_at,
            custom_fields: super::contacts::object(row.custom_fields),
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        }
    }
}

/// A new lead. It needs a `title`; its place is a `stage_id`, or a `pipeline_id` alone
/// (the lead starts in that pipeline's first stage), or neither (the first open stage of
/// the tenant's default pipeline); given both, the stage must belong to the pipeline.
/// Unknown fields are refused.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct LeadCreate {
    pub title: Text<{ domain::TITLE_MAX }>,
    /// A contact of the tenant.
    pub contact_id: Option<Uuid>,
    /// A company of the tenant.
    pub company_id: Option<Uuid>,
    /// A pipeline of the tenant; default: the tenant's default pipeline (a tenant
    /// without pipelines answers 422 on this field).
    pub pipeline_id: Option<Uuid>,
    /// A stage of the pipeline. A `lost` stage needs a `lost_reason`.
    pub stage_id: Option<Uuid>,
    /// A decimal amount ≥ 0 as a string (`"1250.50"`), at most as many decimals as the
    /// currency has, below 10^15. Needs `currency`.
    pub value: Option<Amount>,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: Option<Text<3>>,
    pub expected_close_date: Option<Date>,
    /// A user of the tenant; default: the user the API key acts for.
    pub owner_id: Option<Uuid>,
    /// Where the lead came from, e.g. `website`.
    pub source: Option<Text<{ domain::SOURCE_MAX }>>,
    /// Why the lead was lost; required in a `lost` stage.
    pub lost_reason: Option<Text<{ domain::LOST_REASON_MAX }>>,
    /// The person the lead is about, for `leads_convert`.
    pub prospect_first_name: Option<Text<PERSON_NAME_MAX>>,
    pub prospect_last_name: Option<Text<PERSON_NAME_MAX>>,
    pub prospect_email: Option<Email>,
    pub prospect_phone: Option<Text<PHONE_MAX>>,
    /// The organisation the lead is about, for `leads_convert`.
    pub prospect_company_name: Option<Text<{ domain::COMPANY_NAME_MAX }>>,
    /// Normalised like a company's domain.
    pub prospect_company_domain: Option<Text<DOMAIN_MAX>>,
    /// Values of the tenant's custom fields for leads, by key, each checked against
    /// its definition (`/v1/custom-fields`): an unknown key or a bad value is a `422`
    /// naming `custom_fields.<key>`, a missing `required` one too, a `unique` value
    /// another live lead holds a `409` naming it. At most 16 KiB as JSON.
    pub custom_fields: Option<BTreeMap<String, Value>>,
}

/// Changes to a lead, as a JSON Merge Patch: a field left out is kept, `null` clears it,
/// any other value replaces it; the result must satisfy the create rules. Setting
/// `pipeline_id` without `stage_id` moves the lead to that pipeline's first stage. Each
/// change of stage is recorded as a `stage_change` activity on the lead.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct LeadPatch {
    pub title: NotNull<Text<{ domain::TITLE_MAX }>>,
    #[oai(nullable)]
    pub contact_id: MaybeUndefined<Uuid>,
    #[oai(nullable)]
    pub company_id: MaybeUndefined<Uuid>,
    pub pipeline_id: NotNull<Uuid>,
    pub stage_id: NotNull<Uuid>,
    #[oai(nullable)]
    pub value: MaybeUndefined<Amount>,
    #[oai(nullable)]
    pub currency: MaybeUndefined<Text<3>>,
    #[oai(nullable)]
    pub expected_close_date: MaybeUndefined<Date>,
    #[oai(nullable)]
    pub owner_id: MaybeUndefined<Uuid>,
    #[oai(nullable)]
    pub source: MaybeUndefined<Text<{ domain::SOURCE_MAX }>>,
    #[oai(nullable)]
    pub lost_reason: MaybeUndefined<Text<{ domain::LOST_REASON_MAX }>>,
    #[oai(nullable)]
    pub prospect_first_name: MaybeUndefined<Text<PERSON_NAME_MAX>>,
    #[oai(nullable)]
    pub prospect_last_name: MaybeUndefined<Text<PERSON_NAME_MAX>>,
    #[oai(nullable)]
    pub prospect_email: MaybeUndefined<Email>,
    #[oai(nullable)]
    pub prospect_phone: MaybeUndefined<Text<PHONE_MAX>>,
    #[oai(nullable)]
    pub prospect_company_name: MaybeUndefined<Text<{ domain::COMPANY_NAME_MAX }>>,
    #[oai(nullable)]
    pub prospect_company_domain: MaybeUndefined<Text<DOMAIN_MAX>>,
    /// Merged key by key: a key set to `null` removes that value, other keys are set,
    /// keys left out are kept; `null` removes every value.
    #[oai(nullable)]
    pub custom_fields: MaybeUndefined<BTreeMap<String, Value>>,
}

/// The result of a conversion: the lead and the contact and company it is now linked to.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct LeadConversion {
    pub lead: Lead,
    pub contact: Contact,
    /// Absent when the lead names no company.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<Company>,
}

/// A conversion in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct LeadConversionEnvelope {
    pub data: LeadConversion,
    pub meta: Meta,
}

envelopes!(
    Lead,
    LeadEnvelope,
    LeadList,
    "One lead in the envelope.",
    "A page of leads in the envelope."
);

impl From<LeadCreate> for domain::LeadInput {
    fn from(body: LeadCreate) -> Self {
        Self {
            title: Some(body.title.0),
            contact_id: body.contact_id,
            company_id: body.company_id,
            pipeline_id: body.pipeline_id,
            stage_id: body.stage_id,
            value: body.value.map(|v| v.0),
            currency: text(body.currency),
            expected_close_date: body.expected_close_date.map(|d| d.0),
            owner_id: body.owner_id,
            source: text(body.source),
            lost_reason: text(body.lost_reason),
            prospect: Prospect {
                first_name: text(body.prospect_first_name),
                last_name: text(body.prospect_last_name),
                email: body.prospect_email.map(|e| e.0),
                phone: text(body.prospect_phone),
                company_name: text(body.prospect_company_name),
                company_domain: text(body.prospect_company_domain),
            },
        }
    }
}

impl From<LeadPatch> for domain::LeadPatch {
    fn from(body: LeadPatch) -> Self {
        Self {
            title: body.title.0.map(|t| t.0),
            contact_id: patch(body.contact_id, Some),
            company_id: patch(body.company_id, Some),
            pipeline_id: body.pipeline_id.0,
            stage_id: body.stage_id.0,
            value: patch(body.value, |v| Some(v.0)),
            currency: patch(body.currency, |t| Some(t.0)),
            expected_close_date: patch(body.expected_close_date, |d| Some(d.0)),
            owner_id: patch(body.owner_id, Some),
            source: patch(body.source, |t| Some(t.0)),
            lost_reason: patch(body.lost_reason, |t| Some(t.0)),
            prospect_first_name: patch(body.prospect_first_name, |t| Some(t.0)),
            prospect_last_name: patch(body.prospect_last_name, |t| Some(t.0)),
            prospect_email: patch(body.prospect_email, |e| Some(e.0)),
            prospect_phone: patch(body.prospect_phone, |t| Some(t.0)),
            prospect_company_name: patch(body.prospect_company_name, |t| Some(t.0)),
            prospect_company_domain: patch(body.prospect_company_domain, |t| Some(t.0)),
            custom_fields: merge_patch(body.custom_fields),
        }
    }
}

fn envelope(data: Lead, request_id: &RequestId) -> LeadEnvelope {
    LeadEnvelope {
        data,
        meta: Meta::of(request_id),
    }
}

by_updated_at!(Lead);
by_field!(LeadEnvelope => data);

pub struct LeadsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Leads")]
impl LeadsApi {
    /// Create a lead
    ///
    /// In the stage `stage_id`, in the first stage of `pipeline_id`, or, given neither, in
    /// the first open stage of the tenant's default pipeline (a `422` naming
    /// `pipeline_id` when the tenant has no pipeline). Its status follows the stage's
    /// kind.
    #[oai(path = "/leads", method = "post", operation_id = "leads_create")]
    async fn create(
        &self,
        #[oai(scope = "Scope::LeadsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<LeadCreate>,
    ) -> ApiResult<Tagged<Created<LeadEnvelope>>, Create> {
        let mut body = body.0;
        let values = body
            .custom_fields
            .take()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let created: Lead = leads::create(&state, &auth.0, body.into(), values).await?;
        Ok(Tagged(Created {
            location: format!("/v1/leads/{}", created.id),
            body: envelope(created, &request_id),
        }))
    }

    /// Get a lead
    ///
    /// A lead of another tenant is reported exactly like one that does not exist; so is a
    /// deleted one, unless `include_deleted=true`.
    #[oai(path = "/leads/:id", method = "get", operation_id = "leads_get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::LeadsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The lead's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// Also find the lead in the trash (it then has `deleted_at` set).
        include_deleted: Query<Option<bool>>,
    ) -> ApiResult<Conditional<LeadEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = leads::get(&state, &auth.0, id, include_deleted.0 == Some(true)).await?;
        let found = envelope(row.into(), &request_id);
        Ok(Conditional::new(found, &if_none_match))
    }

    /// Update a lead
    ///
    /// JSON Merge Patch. Moving the lead (`stage_id`, or `pipeline_id` alone for that
    /// pipeline's first stage) sets its status from the new stage's kind, updates
    /// `stage_changed_at`, `won_at` and `lost_at`, and records a `stage_change` activity
    /// on the lead. A `lost` stage needs a `lost_reason` (422).
    #[oai(path = "/leads/:id", method = "patch", operation_id = "leads_update")]
    async fn update(
        &self,
        #[oai(scope = "Scope::LeadsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The lead's id.
        id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<LeadPatch>,
    ) -> ApiResult<Tagged<Success<LeadEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let updated = leads::update(&state, &auth.0, id, &if_match, body.0.into()).await?;
        Ok(Tagged(Success(envelope(updated, &request_id))))
    }

    /// Delete a lead
    ///
    /// Moves the lead to the trash with its `stage_change` activities: it disappears from
    /// reads, lists and timelines. The activities people logged on it stay, and keep
    /// their `lead_id` (it becomes `null` only when the lead is purged). `leads_restore`
    /// brings it back within the retention period (30 days by default). `lead.deleted`
    /// carries it with its `deleted_at`.
    #[oai(path = "/leads/:id", method = "delete", operation_id = "leads_delete")]
    async fn delete(
        &self,
        #[oai(scope = "Scope::LeadsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        /// The lead's id.
        id: Path<PathId>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, Delete> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        leads::delete::<Lead>(&state, &auth.0, id, &if_match).await?;
        Ok(NoContent)
    }

    /// Convert a lead
    ///
    /// In one transaction: links the lead's contact — its `contact_id`, else the contact
    /// with the `prospect_email`, else a new contact from the `prospect_*` fields — and
    /// its company — its `company_id`, else the company with the
    /// `prospect_company_domain`, else a new one from `prospect_company_name` (none if
    /// the lead names no company). The contact is linked to the company if it had none.
    /// Returns all three. A lead converts once (409 after).
    #[oai(
        path = "/leads/:id/convert",
        method = "post",
        operation_id = "leads_convert"
    )]
    async fn convert(
        &self,
        #[oai(
            scope = "Scope::LeadsWrite",
            scope = "Scope::ContactsWrite",
            scope = "Scope::CompaniesWrite"
        )]
        auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The lead's id.
        id: Path<PathId>,
    ) -> ApiResult<Success<LeadConversionEnvelope>, Action> {
        let id = id.0.parse("id")?;
        let converted = leads::convert::<Lead, Contact, Company>(&state, &auth.0, id).await?;
        Ok(Success(LeadConversionEnvelope {
            data: LeadConversion {
                lead: converted.lead,
                contact: converted.contact,
                company: converted.company,
            },
            meta: Meta::of(&request_id),
        }))
    }

    /// Restore a lead
    ///
    /// Brings a deleted lead back from the trash as it was, in its stage, with its links
    /// (contact, company, and the activities that point to it) and its `stage_change`
    /// history. Restoring a lead that is not in the trash changes nothing and answers
    /// `200` with it (no event). Unknown ids, another tenant's and purged leads are
    /// `404`.
    #[oai(
        path = "/leads/:id/restore",
        method = "post",
        operation_id = "leads_restore"
    )]
    async fn restore(
        &self,
        #[oai(scope = "Scope::LeadsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The lead's id.
        id: Path<PathId>,
    ) -> ApiResult<Tagged<Success<LeadEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let lead = leads::restore(&state, &auth.0, id).await?;
        Ok(Tagged(Success(envelope(lead, &request_id))))
    }

    /// List leads
    ///
    /// Keyset-paginated: follow `meta.next_cursor` (with the same `sort` and filters) until
    /// it is `null`. The value range compares amounts regardless of currency; combine it
    /// with `currency`.
    #[oai(path = "/leads", method = "get", operation_id = "leads_list")]
    async fn list(
        &self,
        #[oai(scope = "Scope::LeadsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Sort order: `created_at` (default), `updated_at`, `value` (no value sorts as 0)
        /// or `expected_close_date` (none sorts last); a leading `-` sorts descending.
        #[oai(validator(pattern = "^-?(created_at|updated_at|value|expected_close_date)$"))]
        sort: Query<Option<String>>,
        /// Case-insensitive substring of the title.
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        pipeline_id: Query<Option<Uuid>>,
        stage_id: Query<Option<Uuid>>,
        status: Query<Option<LeadStatus>>,
        /// Leads owned by this user.
        owner_id: Query<Option<Uuid>>,
        contact_id: Query<Option<Uuid>>,
        company_id: Query<Option<Uuid>>,
        /// ISO 4217 code.
        #[oai(validator(max_length = 3))]
        currency: Query<Option<String>>,
        /// Smallest value, inclusive: a decimal string (`1250.50`).
        #[oai(validator(max_length = 24, pattern = r"^[0-9]+(\.[0-9]+)?$"))]
        value_min: Query<Option<String>>,
        /// Largest value, inclusive: a decimal string (`1250.50`).
        #[oai(validator(max_length = 24, pattern = r"^[0-9]+(\.[0-9]+)?$"))]
        value_max: Query<Option<String>>,
        /// Earliest expected close date, inclusive.
        expected_close_from: Query<Option<Date>>,
        /// Latest expected close date, inclusive.
        expected_close_to: Query<Option<Date>>,
        /// Only leads changed strictly after this instant (RFC 3339).
        updated_after: Query<Option<DateTime<Utc>>>,
        /// Also list leads in the trash (with `deleted_at` set).
        include_deleted: Query<Option<bool>>,
        /// A filter on a custom field, `key:op:value`; repeat it to combine filters (all
        /// must hold). `op` is `eq` for every type (`multi_select`: has this option), or
        /// `gt`, `gte`, `lt`, `lte` for `number`, `decimal`, `date` and `datetime`. A key
        /// the record type does not define, an op its type does not take or a value it
        /// cannot hold is a `422` naming `custom_field`.
        custom_field: Query<Option<Vec<String>>>,
    ) -> ApiResult<Success<LeadList>, FilteredList> {
        let query = LeadQuery {
            q: q.0,
            pipeline_id: pipeline_id.0,
            stage_id: stage_id.0,
            status: status.0.map(StageKind::from),
            owner_id: owner_id.0,
            contact_id: contact_id.0,
            company_id: company_id.0,
            currency: currency.0,
            value_min: value_min.0,
            value_max: value_max.0,
            expected_close_from: expected_close_from.0.map(|d| d.0),
            expected_close_to: expected_close_to.0.map(|d| d.0),
            updated_after: updated_after.0,
            include_deleted: include_deleted.0 == Some(true),
            custom_field: custom_field.0.unwrap_or_default(),
        };
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: sort.0,
        };
        let list = leads::list(&state, &auth.0, &query, &page).await?;
        Ok(Success(LeadList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.map(Lead::from).items,
        }))
    }
}
