//! `POST /v1/contacts/{id}/merge`, `POST /v1/companies/{id}/merge` and
//! `GET /v1/contacts/duplicates`: folding a duplicate record into the one that stays, and
//! finding the contacts that are likely duplicates. (JSON Merge Patch is `api::merge`.)

use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::associations::Association;
use super::companies::{Company, CompanyEnvelope};
use super::contacts::{Contact, ContactEnvelope};
use super::edge::RequestId;
use super::etag::IfMatch;
use super::responses::{ApiResult, List, Meta, Success, Tagged, Update};
use super::security::ApiKey;
use super::types::PathId;
use super::ApiTags;
use crate::app::merges::{self, DuplicateRow, Merged, DEFAULT_LIMIT, NAME_THRESHOLD};
use crate::auth::Scope;
use crate::state::AppState;

/// Which record to merge into this one.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct MergeRequest {
    /// The duplicate: merged into the record of the path, then deleted for good. Must be
    /// another record of the same type in the tenant (else 422 naming this field).
    pub duplicate_id: Uuid,
}

/// The `data` of a `contact.merged` event.
#[derive(Debug, Clone, Object)]
pub struct ContactMerged {
    /// The contact that stays, as it is after the merge.
    pub survivor: Contact,
    /// The id of the duplicate, which no longer exists.
    pub merged_id: Uuid,
    /// The duplicate as it was just before the merge.
    pub merged: Contact,
}

/// The `data` of a `company.merged` event.
#[derive(Debug, Clone, Object)]
pub struct CompanyMerged {
    /// The company that stays, as it is after the merge.
    pub survivor: Company,
    /// The id of the duplicate, which no longer exists.
    pub merged_id: Uuid,
    /// The duplicate as it was just before the merge.
    pub merged: Company,
}

/// Why two contacts look like duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    /// The same email, ignoring case and a `+tag` (`ada+crm@x.com` and `Ada@x.com`).
    Email,
    /// The same phone number, compared as digits.
    Phone,
    /// Similar full names (trigram similarity at or above the threshold).
    Name,
}

/// A pair of contacts that are likely the same person.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct DuplicateSuggestion {
    /// The older-id contact of the pair (pass either as the survivor of a merge).
    pub contact_id: Uuid,
    pub duplicate_id: Uuid,
    /// 0 to 2.8: an email match counts 1, a phone match 0.8, plus the names' similarity
    /// (0 to 1). Suggestions come best first.
    pub score: f64,
    /// Every reason that holds, strongest first.
    pub reasons: Vec<DuplicateReason>,
    /// The trigram similarity of the two full names (0 to 1).
    pub name_similarity: f64,
}

/// `meta` of the duplicate suggestions.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct DuplicateMeta {
    /// The id of this request, also in the `X-Request-Id` header.
    pub request_id: String,
    /// The most suggestions asked for.
    pub limit: u32,
}

/// Duplicate suggestions in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct DuplicateList {
    pub data: Vec<DuplicateSuggestion>,
    pub meta: DuplicateMeta,
}

impl From<DuplicateRow> for DuplicateSuggestion {
    fn from(row: DuplicateRow) -> Self {
        let mut reasons = Vec::new();
        if row.same_email {
            reasons.push(DuplicateReason::Email);
        }
        if row.same_phone {
            reasons.push(DuplicateReason::Phone);
        }
        if row.name_similarity >= NAME_THRESHOLD {
            reasons.push(DuplicateReason::Name);
        }
        Self {
            contact_id: row.contact_id,
            duplicate_id: row.duplicate_id,
            score: round(row.score),
            reasons,
            name_similarity: round(row.name_similarity),
        }
    }
}

fn round(value: f32) -> f64 {
    (f64::from(value) * 1000.0).round() / 1000.0
}

impl From<Merged<Contact>> for ContactMerged {
    fn from(merged: Merged<Contact>) -> Self {
        Self {
            survivor: merged.survivor,
            merged_id: merged.merged_id,
            merged: merged.merged,
        }
    }
}

impl From<Merged<Company>> for CompanyMerged {
    fn from(merged: Merged<Company>) -> Self {
        Self {
            survivor: merged.survivor,
            merged_id: merged.merged_id,
            merged: merged.merged,
        }
    }
}

pub struct MergingApi;

#[OpenApi(prefix_path = "/v1")]
impl MergingApi {
    /// Merge a duplicate into a contact
    ///
    /// In one transaction: the duplicate's leads, activities and associations move to
    /// this contact (associations that would repeat one it has, or link it to itself, are
    /// deleted); each field this contact lacks is filled from the duplicate (tags: the
    /// union; `custom_fields`: the keys it lacks); the duplicate is deleted for good (its
    /// email can move here) and the merge is recorded. Returns this contact. Emits
    /// `contact.merged` only, plus `association.deleted` for the associations dropped:
    /// see the `EventType` catalogue. `If-Match` applies to this contact.
    #[oai(
        path = "/contacts/:id/merge",
        method = "post",
        operation_id = "contacts_merge",
        tag = "ApiTags::Contacts"
    )]
    async fn contacts_merge(
        &self,
        #[oai(scope = "Scope::ContactsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The contact that stays.
        id: Path<PathId>,
        /// Merge only into this version of the contact: its `ETag` (or a list of them), or
        /// `*` for any; otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<MergeRequest>,
    ) -> ApiResult<Tagged<Success<ContactEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let survivor = merges::contacts::<Contact, ContactMerged, Association>(
            &state,
            &auth.0,
            id,
            &if_match,
            body.0.duplicate_id,
        )
        .await?;
        Ok(Tagged(Success(ContactEnvelope {
            data: survivor,
            meta: Meta::of(&request_id),
        })))
    }

    /// Merge a duplicate into a company
    ///
    /// As for contacts: the duplicate's contacts, leads, activities and associations move
    /// to this company; each field it lacks is filled from the duplicate (the address as
    /// a whole, only when this company has none); the duplicate is deleted for good (its
    /// domain can move here) and the merge is recorded. Emits `company.merged` only, plus
    /// `association.deleted` for the associations dropped.
    #[oai(
        path = "/companies/:id/merge",
        method = "post",
        operation_id = "companies_merge",
        tag = "ApiTags::Companies"
    )]
    async fn companies_merge(
        &self,
        #[oai(scope = "Scope::CompaniesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The company that stays.
        id: Path<PathId>,
        /// Merge only into this version of the company: its `ETag` (or a list of them), or
        /// `*` for any; otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<MergeRequest>,
    ) -> ApiResult<Tagged<Success<CompanyEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let survivor = merges::companies::<Company, CompanyMerged, Association>(
            &state,
            &auth.0,
            id,
            &if_match,
            body.0.duplicate_id,
        )
        .await?;
        Ok(Tagged(Success(CompanyEnvelope {
            data: survivor,
            meta: Meta::of(&request_id),
        })))
    }

    /// Suggest duplicate contacts
    ///
    /// Pairs of contacts that are likely the same person, best first, each with its
    /// reasons: the same email ignoring case and a `+tag` (emails are unique ignoring
    /// case, so this catches `ada+news@x.com` beside `ada@x.com`), the same phone
    /// (compared as digits), or similar names (trigram similarity of the full names ≥
    /// 0.5). With `contact_id`, only that contact's pairs (fast: index lookups).
    /// Tenant-wide, similar names are looked for from the 100 most recently changed
    /// contacts (emails and phones from all; a few seconds on 100,000 contacts), and a
    /// value shared by more than 20 contacts is not taken as evidence. Not paginated: at
    /// most `limit` pairs; merge or change some and ask again.
    #[oai(
        path = "/contacts/duplicates",
        method = "get",
        operation_id = "contacts_duplicates",
        tag = "ApiTags::Contacts"
    )]
    async fn contacts_duplicates(
        &self,
        #[oai(scope = "Scope::ContactsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Only pairs including this contact (an unknown one gives an empty list).
        contact_id: Query<Option<Uuid>>,
        /// The most pairs to return, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Success<DuplicateList>, List> {
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        let rows = merges::duplicates(&state, &auth.0, contact_id.0, limit).await?;
        Ok(Success(DuplicateList {
            data: rows.into_iter().map(DuplicateSuggestion::from).collect(),
            meta: DuplicateMeta {
                request_id: request_id.0 .0.clone(),
                limit,
            },
        }))
    }
}
