//! `POST /v1/contacts/batch/read`, `/v1/companies/batch/read` and `/v1/leads/batch/read`:
//! up to 100 records of one type in one request, named by id or by natural key, answered
//! key by key in the order asked (`app::batch_read` holds the lookup rules).
//!
//! POST, because 100 ids or emails do not fit a URL; read-only all the same, and limited
//! as a read (`ratelimit::Class::of`).

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::companies::Company;
use super::contacts::Contact;
use super::edge::RequestId;
use super::leads::Lead;
use super::responses::{ApiResult, BodyRead, Success};
use super::security::ApiKey;
use super::types::{Bounded, Email, Text};
use super::ApiTags;
use crate::app::batch_read::{self, Answer, Keys, MAX_KEYS};
use crate::auth::Scope;
use crate::domain::fields::URL_MAX;
use crate::state::AppState;

type Ids = Bounded<Uuid, 0, MAX_KEYS>;

/// Whether a key found its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum BatchReadStatus {
    /// The record is in `data`.
    Found,
    /// The tenant has no such record (or it is in the trash, and `include_deleted` was
    /// not set): another tenant's id is not found either.
    NotFound,
}

/// `meta` of a batch read: the request id, and how many keys found their record.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct BatchReadMeta {
    /// The id of this request, also in the `X-Request-Id` header.
    pub request_id: String,
    pub found: u32,
    pub not_found: u32,
}

/// Contacts to read, by id and by email: 1 to 100 keys in all.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ContactBatchRead {
    /// Contact ids.
    pub ids: Option<Ids>,
    /// Emails, compared ignoring case as the uniqueness rule compares them. One that is
    /// no email address is a `422` naming it (`emails[2]`).
    pub emails: Option<Bounded<Email, 0, MAX_KEYS>>,
    /// Find contacts in the trash too (with `deleted_at` set). An email then finds the
    /// live contact holding it, else the most recent trashed one.
    pub include_deleted: Option<bool>,
}

/// The answer for one key of a contact batch read.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ContactBatchReadResult {
    pub status: BatchReadStatus,
    /// The id asked for, when the key is an id.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The email asked for, as sent, when the key is an email.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The contact as `contacts_get` returns it; present only when `found`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Contact>,
}

/// One result per key: first one per id, in the order of `ids`, then one per email, in
/// the order of `emails`.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ContactBatchReadResponse {
    pub data: Vec<ContactBatchReadResult>,
    pub meta: BatchReadMeta,
}

/// Companies to read, by id and by domain: 1 to 100 keys in all.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CompanyBatchRead {
    /// Company ids.
    pub ids: Option<Ids>,
    /// Domains or URLs, normalised as `companies_create` normalises a domain
    /// (`https://WWW.Acme.com/x` finds `acme.com`). One that is no domain is a `422`
    /// naming it (`domains[2]`).
    pub domains: Option<Bounded<Text<URL_MAX>, 0, MAX_KEYS>>,
    /// Find companies in the trash too (with `deleted_at` set). A domain then finds the
    /// live company holding it, else the most recent trashed one.
    pub include_deleted: Option<bool>,
}

/// The answer for one key of a company batch read.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct CompanyBatchReadResult {
    pub status: BatchReadStatus,
    /// The id asked for, when the key is an id.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The domain asked for, as sent, when the key is a domain.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The company as `companies_get` returns it; present only when `found`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Company>,
}

/// One result per key: first one per id, in the order of `ids`, then one per domain, in
/// the order of `domains`.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct CompanyBatchReadResponse {
    pub data: Vec<CompanyBatchReadResult>,
    pub meta: BatchReadMeta,
}

/// Leads to read, by id: 1 to 100.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct LeadBatchRead {
    /// Lead ids.
    pub ids: Ids,
    /// Find leads in the trash too (with `deleted_at` set).
    pub include_deleted: Option<bool>,
}

/// The answer for one id of a lead batch read.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct LeadBatchReadResult {
    pub status: BatchReadStatus,
    /// The id asked for.
    pub id: Uuid,
    /// The lead as `leads_get` returns it; present only when `found`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Lead>,
}

/// One result per id, in the order of `ids`.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct LeadBatchReadResponse {
    pub data: Vec<LeadBatchReadResult>,
    pub meta: BatchReadMeta,
}

/// Pairs each key with its answer, in order, and counts them for `meta`.
fn pair<K, V, R>(
    keys: Vec<K>,
    answers: Vec<Option<V>>,
    meta: &mut BatchReadMeta,
    make: impl Fn(K, Option<V>) -> R,
) -> Vec<R> {
    keys.into_iter()
        .zip(answers)
        .map(|(key, found)| {
            match found {
                Some(_) => meta.found += 1,
                None => meta.not_found += 1,
            }
            make(key, found)
        })
        .collect()
}

fn status<V>(found: &Option<V>) -> BatchReadStatus {
    match found {
        Some(_) => BatchReadStatus::Found,
        None => BatchReadStatus::NotFound,
    }
}

fn meta(request_id: &RequestId) -> BatchReadMeta {
    BatchReadMeta {
        request_id: request_id.0.clone(),
        found: 0,
        not_found: 0,
    }
}

/// The answers for the ids, then for the natural keys.
fn split<V>(answer: Answer<V>) -> (Vec<Option<V>>, Vec<Option<V>>) {
    (answer.by_id, answer.by_key)
}

pub struct BatchReadApi;

#[OpenApi(prefix_path = "/v1")]
impl BatchReadApi {
    /// Read contacts in a batch
    ///
    /// Up to 100 contacts in one request, by `ids` and by `emails` (1 to 100 keys in
    /// all, else a `422` naming `ids` and `emails`). The answer is `200` with one result
    /// per key, in the order asked — every id, then every email — each `found` with the
    /// contact as `contacts_get` returns it, or `not_found`. An unknown id, another
    /// tenant's id and a trashed contact's (unless `include_deleted`) are all
    /// `not_found`. A key asked twice is answered twice. Read-only: needs
    /// `contacts:read`, and counts as a read for rate limiting, though it is a `POST` (a
    /// hundred keys do not fit a URL).
    #[oai(
        path = "/contacts/batch/read",
        method = "post",
        operation_id = "contacts_batch_read",
        tag = "ApiTags::Contacts"
    )]
    async fn contacts(
        &self,
        #[oai(scope = "Scope::ContactsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<ContactBatchRead>,
    ) -> ApiResult<Success<ContactBatchReadResponse>, BodyRead> {
        let body = body.0;
        let ids = body.ids.map(|ids| ids.0).unwrap_or_default();
        let emails: Vec<String> = body
            .emails
            .map(|e| e.0.into_iter().map(|e| e.0).collect())
            .unwrap_or_default();
        let keys = Keys {
            ids: ids.clone(),
            natural: emails.clone(),
            include_deleted: body.include_deleted == Some(true),
        };
        let (by_id, by_email) =
            split(batch_read::contacts::<Contact>(&state, &auth.0, keys).await?);
        let mut meta = meta(&request_id);
        let mut data = pair(ids, by_id, &mut meta, |id, found| ContactBatchReadResult {
            status: status(&found),
            id: Some(id),
            email: None,
            data: found,
        });
        data.extend(pair(emails, by_email, &mut meta, |email, found| {
            ContactBatchReadResult {
                status: status(&found),
                id: None,
                email: Some(email),
                data: found,
            }
        }));
        Ok(Success(ContactBatchReadResponse { data, meta }))
    }

    /// Read companies in a batch
    ///
    /// Up to 100 companies in one request, by `ids` and by `domains` (1 to 100 keys in
    /// all, else a `422` naming `ids` and `domains`). A domain is normalised as
    /// `companies_create` normalises it: `https://WWW.Acme.com/x` finds the company
    /// whose domain is `acme.com`. The answer is `200` with one result per key, in the
    /// order asked — every id, then every domain — each `found` with the company as
    /// `companies_get` returns it, or `not_found`. An unknown id, another tenant's id and
    /// a trashed company's (unless `include_deleted`) are all `not_found`. Read-only:
    /// needs `companies:read`, and counts as a read for rate limiting.
    #[oai(
        path = "/companies/batch/read",
        method = "post",
        operation_id = "companies_batch_read",
        tag = "ApiTags::Companies"
    )]
    async fn companies(
        &self,
        #[oai(scope = "Scope::CompaniesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<CompanyBatchRead>,
    ) -> ApiResult<Success<CompanyBatchReadResponse>, BodyRead> {
        let body = body.0;
        let ids = body.ids.map(|ids| ids.0).unwrap_or_default();
        let domains: Vec<String> = body
            .domains
            .map(|d| d.0.into_iter().map(|d| d.0).collect())
            .unwrap_or_default();
        let keys = Keys {
            ids: ids.clone(),
            natural: domains.clone(),
            include_deleted: body.include_deleted == Some(true),
        };
        let (by_id, by_domain) =
            split(batch_read::companies::<Company>(&state, &auth.0, keys).await?);
        let mut meta = meta(&request_id);
        let mut data = pair(ids, by_id, &mut meta, |id, found| CompanyBatchReadResult {
            status: status(&found),
            id: Some(id),
            domain: None,
            data: found,
        });
        data.extend(pair(domains, by_domain, &mut meta, |domain, found| {
            CompanyBatchReadResult {
                status: status(&found),
                id: None,
                domain: Some(domain),
                data: found,
            }
        }));
        Ok(Success(CompanyBatchReadResponse { data, meta }))
    }

    /// Read leads in a batch
    ///
    /// Up to 100 leads in one request, by `ids` (1 to 100, else a `422` naming `ids`).
    /// The answer is `200` with one result per id, in the order of `ids`, each `found`
    /// with the lead as `leads_get` returns it, or `not_found`. An unknown id, another
    /// tenant's id and a trashed lead's (unless `include_deleted`) are all `not_found`.
    /// Read-only: needs `leads:read`, and counts as a read for rate limiting.
    #[oai(
        path = "/leads/batch/read",
        method = "post",
        operation_id = "leads_batch_read",
        tag = "ApiTags::Leads"
    )]
    async fn leads(
        &self,
        #[oai(scope = "Scope::LeadsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<LeadBatchRead>,
    ) -> ApiResult<Success<LeadBatchReadResponse>, BodyRead> {
        let body = body.0;
        let ids = body.ids.0;
        let keys = Keys {
            ids: ids.clone(),
            natural: Vec::new(),
            include_deleted: body.include_deleted == Some(true),
        };
        let (by_id, _) = split(batch_read::leads::<Lead>(&state, &auth.0, keys).await?);
        let mut meta = meta(&request_id);
        let data = pair(ids, by_id, &mut meta, |id, found| LeadBatchReadResult {
            status: status(&found),
            id,
            data: found,
        });
        Ok(Success(LeadBatchReadResponse { data, meta }))
    }
}
