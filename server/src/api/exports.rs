//! `/v1/exports`: a tenant's contacts, companies or leads, filtered as their lists
//! filter, written to an NDJSON or CSV file by the worker from one snapshot, and
//! downloaded until the file expires.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::IfNoneMatch;
use super::pagination;
use super::responses::{
    envelopes, ApiResult, Conditional, Create, Download, Fetch, List, Meta, Queued, Read, Success,
    Tagged,
};
use super::security::ApiKey;
use super::types::{Date, NotNull, PathId};
use super::ApiTags;
use crate::app::companies::CompanyQuery;
use crate::app::contacts::ContactQuery;
use crate::app::exports::{self, ExportQuery, ExportRow, Render};
use crate::app::leads::LeadQuery;
use crate::app::page::PageRequest;
use crate::app::version::{by_field, by_updated_at};
use crate::auth::Scope;
use crate::domain::export::{ExportStatus, FileFormat};
use crate::domain::pipeline::StageKind;
use crate::domain::record::RecordType;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;

/// The records an export can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ExportRecordType {
    Contact,
    Company,
    Lead,
}

impl ExportRecordType {
    fn parse(stored: &str) -> Self {
        match stored {
            "company" => Self::Company,
            "lead" => Self::Lead,
            _ => Self::Contact,
        }
    }
}

/// A lead's status, as the lead list filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ExportLeadStatus {
    Open,
    Won,
    Lost,
}

/// Declares the filters once, as the closed schema a new export takes and the open one
/// an export reports (a schema shared by a request and a response would be open, and
/// an unknown field in a request must be refused).
macro_rules! filters {
    ($($(#[doc = $doc:literal])* $(#[validator($($v:tt)*)])? $(#[serde($($s:tt)*)])?
       $field:ident: $ty:ty,)*) => {
        /// The list filters of the record type's list operation (`GET /v1/contacts`,
        /// `/v1/companies`, `/v1/leads`), with the same meaning and rules; a filter the
        /// record type's list does not take is a `422` with code `not_applicable`.
        #[derive(Debug, Clone, Default, Object)]
        #[oai(deny_unknown_fields)]
        pub struct NewExportFilters {
            $($(#[doc = $doc])* $(#[oai(validator($($v)*))])? pub $field: Option<$ty>,)*
        }

        /// The list filters the export applies, as they were asked for.
        #[derive(Debug, Clone, Default, Object, serde::Serialize)]
        pub struct ExportFilters {
            $($(#[doc = $doc])* #[oai(skip_serializing_if_is_none)]
            #[serde(skip_serializing_if = "Option::is_none")]
            $(#[serde($($s)*)])?
            pub $field: Option<$ty>,)*
        }

        impl NewExportFilters {
            /// The names of the filters that are set.
            fn set(&self) -> Vec<&'static str> {
                let mut set = Vec::new();
                $(if self.$field.is_some() { set.push(stringify!($field)); })*
                set
            }
        }
    };
}

filters! {
    /// Case-insensitive substring of the name (contacts: or the email; companies: or
    /// the domain; leads: of the title).
    #[validator(max_length = 200)]
    q: String,
    /// Contacts: exact email, ignoring case.
    #[validator(max_length = 254)]
    email: String,
    /// Companies: the domain, normalised like the field.
    #[validator(max_length = 2048)]
    domain: String,
    /// Companies: exact industry.
    #[validator(max_length = 100)]
    industry: String,
    /// Contacts: of this company; leads: linked to this company.
    company_id: Uuid,
    /// Leads: linked to this contact.
    contact_id: Uuid,
    /// Owned by this user.
    owner_id: Uuid,
    /// Leads: in this pipeline.
    pipeline_id: Uuid,
    /// Leads: in this stage.
    stage_id: Uuid,
    /// Leads: with this status.
    status: ExportLeadStatus,
    /// Leads: in this currency (ISO 4217).
    #[validator(max_length = 3)]
    currency: String,
    /// Leads: value at least this.
    #[validator(max_length = 24, pattern = r"^[0-9]+(\.[0-9]+)?$")]
    value_min: String,
    /// Leads: value at most this.
    #[validator(max_length = 24, pattern = r"^[0-9]+(\.[0-9]+)?$")]
    value_max: String,
    /// Leads: expected to close on or after this date.
    expected_close_from: Date,
    /// Leads: expected to close on or before this date.
    expected_close_to: Date,
    /// Changed strictly after this instant.
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    updated_after: DateTime<Utc>,
    /// Also export records in the trash (with `deleted_at` set).
    include_deleted: bool,
    /// Custom field filters, `key:op:value`, all of which must hold (as the lists'
    /// `custom_field` parameter).
    #[validator(max_items = 10)]
    custom_field: Vec<String>,
}

/// What a record type's list filters on: the filters an export of it may set.
fn applicable(t: ExportRecordType) -> &'static [&'static str] {
    const COMMON: [&str; 5] = [
        "q",
        "owner_id",
        "updated_after",
        "include_deleted",
        "custom_field",
    ];
    match t {
        ExportRecordType::Contact => &[
            "email",
            "company_id",
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            COMMON[4],
        ],
        ExportRecordType::Company => &[
            "domain", "industry", COMMON[0], COMMON[1], COMMON[2], COMMON[3], COMMON[4],
        ],
        ExportRecordType::Lead => &[
            "pipeline_id",
            "stage_id",
            "status",
            "contact_id",
            "company_id",
            "currency",
            "value_min",
            "value_max",
            "expected_close_from",
            "expected_close_to",
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            COMMON[4],
        ],
    }
}

impl NewExportFilters {
    fn into_query(self, t: ExportRecordType) -> Result<ExportQuery, AppError> {
        let allowed = applicable(t);
        let refused: Vec<FieldError> = self
            .set()
            .into_iter()
            .filter(|f| !allowed.contains(f))
            .map(|f| {
                FieldError::new(
                    format!("filters.{f}"),
                    "not_applicable",
                    format!("the list of this record type does not filter on `{f}`"),
                )
            })
            .collect();
        if !refused.is_empty() {
            return Err(AppError::Validation(refused));
        }
        let include_deleted = self.include_deleted == Some(true);
        let custom_field = self.custom_field.unwrap_or_default();
        Ok(match t {
            ExportRecordType::Contact => ExportQuery::Contact(ContactQuery {
                q: self.q,
                email: self.email,
                company_id: self.company_id,
                owner_id: self.owner_id,
                updated_after: self.updated_after,
                include_deleted,
                custom_field,
            }),
            ExportRecordType::Company => ExportQuery::Company(CompanyQuery {
                q: self.q,
                domain: self.domain,
                industry: self.industry,
                owner_id: self.owner_id,
                updated_after: self.updated_after,
                include_deleted,
                custom_field,
            }),
            ExportRecordType::Lead => ExportQuery::Lead(LeadQuery {
                q: self.q,
                pipeline_id: self.pipeline_id,
                stage_id: self.stage_id,
                status: self.status.map(|s| match s {
                    ExportLeadStatus::Open => StageKind::Open,
                    ExportLeadStatus::Won => StageKind::Won,
                    ExportLeadStatus::Lost => StageKind::Lost,
                }),
                owner_id: self.owner_id,
                contact_id: self.contact_id,
                company_id: self.company_id,
                currency: self.currency,
                value_min: self.value_min,
                value_max: self.value_max,
                expected_close_from: self.expected_close_from.map(|d| d.0),
                expected_close_to: self.expected_close_to.map(|d| d.0),
                updated_after: self.updated_after,
                include_deleted,
                custom_field,
            }),
        })
    }
}

impl From<&ExportQuery> for ExportFilters {
    fn from(query: &ExportQuery) -> Self {
        let flag = |on: bool| on.then_some(true);
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        match query {
            ExportQuery::Contact(q) => Self {
                q: q.q.clone(),
                email: q.email.clone(),
                company_id: q.company_id,
                owner_id: q.owner_id,
                updated_after: q.updated_after,
                include_deleted: flag(q.include_deleted),
                custom_field: list(&q.custom_field),
                ..Self::default()
            },
            ExportQuery::Company(q) => Self {
                q: q.q.clone(),
                domain: q.domain.clone(),
                industry: q.industry.clone(),
                owner_id: q.owner_id,
                updated_after: q.updated_after,
                include_deleted: flag(q.include_deleted),
                custom_field: list(&q.custom_field),
                ..Self::default()
            },
            ExportQuery::Lead(q) => Self {
                q: q.q.clone(),
                pipeline_id: q.pipeline_id,
                stage_id: q.stage_id,
                status: q.status.map(|s| match s {
                    StageKind::Open => ExportLeadStatus::Open,
                    StageKind::Won => ExportLeadStatus::Won,
                    StageKind::Lost => ExportLeadStatus::Lost,
                }),
                owner_id: q.owner_id,
                contact_id: q.contact_id,
                company_id: q.company_id,
                currency: q.currency.clone(),
                value_min: q.value_min.clone(),
                value_max: q.value_max.clone(),
                expected_close_from: q.expected_close_from.map(Date),
                expected_close_to: q.expected_close_to.map(Date),
                updated_after: q.updated_after,
                include_deleted: flag(q.include_deleted),
                custom_field: list(&q.custom_field),
                ..Self::default()
            },
        }
    }
}

/// A new export.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ExportCreate {
    pub record_type: ExportRecordType,
    /// Default: `ndjson`.
    pub format: NotNull<FileFormat>,
    /// Default: none (every record of the type, trash left out).
    pub filters: NotNull<NewExportFilters>,
}

/// An export: a file of the records its filters select, as of `snapshot_at`.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Export {
    pub id: Uuid,
    pub record_type: ExportRecordType,
    pub format: FileFormat,
    /// `queued`, then `running`, then `completed` or `failed`; a completed export turns
    /// `expired` once the worker has deleted its file (its download is refused from
    /// `expires_at` on).
    pub status: ExportStatus,
    pub filters: ExportFilters,
    /// Records written: so far while running, all of them once completed.
    pub rows: i64,
    /// The file's size in bytes, once completed.
    #[oai(nullable)]
    pub size_bytes: Option<i64>,
    /// Why the export failed: `validation_failed` (its filters no longer fit the custom
    /// fields), `timed_out` (longer than `MOMENTUM_EXPORTS_TIMEOUT_SECS`) or `abandoned`
    /// (its worker stopped on every attempt); more may be added.
    #[oai(nullable)]
    pub error_code: Option<String>,
    /// What went wrong, in words, when the export failed.
    #[oai(nullable)]
    pub error_message: Option<String>,
    /// Where to download the file, once completed and until it expires.
    #[oai(nullable)]
    pub download_url: Option<String>,
    /// The instant the file shows the records as of.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub snapshot_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub completed_at: Option<DateTime<Utc>>,
    /// When the file stops being served and is deleted.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
}

impl From<ExportRow> for Export {
    fn from(row: ExportRow) -> Self {
        let filters = ExportQuery::stored(&row)
            .map(|q| ExportFilters::from(&q))
            .unwrap_or_default();
        let status = ExportStatus::parse(&row.status).unwrap_or(ExportStatus::Failed);
        Self {
            id: row.id,
            record_type: ExportRecordType::parse(&row.record_type),
            format: FileFormat::parse(&row.format).unwrap_or_default(),
            status,
            filters,
            rows: row.rows,
            size_bytes: row.size_bytes,
            error_code: row.error_code,
            error_message: row.error_message,
            download_url: (status == ExportStatus::Completed)
                .then(|| format!("/v1/exports/{}/download", row.id)),
            snapshot_at: row.snapshot_at,
            started_at: row.started_at,
            completed_at: row.completed_at,
            expires_at: row.expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

envelopes!(
    Export,
    ExportEnvelope,
    ExportList,
    "One export in the envelope.",
    "A page of exports in the envelope."
);

by_updated_at!(Export);
by_field!(ExportEnvelope => data);

/// How the worker renders what it writes: exactly as the API returns it.
pub const RENDER: Render = Render {
    export: |row| json(&Export::from(row)),
    contact: |row| json(&super::contacts::Contact::from(row)),
    company: |row| json(&super::companies::Company::from(row)),
    lead: |row| json(&super::leads::Lead::from(row)),
    fields,
};

fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// A record type's fields in the document's order, for the CSV columns.
fn fields(t: RecordType) -> &'static [&'static str] {
    use std::sync::OnceLock;
    static CONTACT: OnceLock<Vec<&'static str>> = OnceLock::new();
    static COMPANY: OnceLock<Vec<&'static str>> = OnceLock::new();
    static LEAD: OnceLock<Vec<&'static str>> = OnceLock::new();
    fn of<T: poem_openapi::types::Type>() -> Vec<&'static str> {
        let mut registry = poem_openapi::registry::Registry::new();
        T::register(&mut registry);
        registry
            .schemas
            .get(T::name().as_ref())
            .map(|schema| schema.properties.iter().map(|(name, _)| *name).collect())
            .unwrap_or_default()
    }
    match t {
        RecordType::Company => COMPANY.get_or_init(of::<super::companies::Company>),
        RecordType::Lead => LEAD.get_or_init(of::<super::leads::Lead>),
        _ => CONTACT.get_or_init(of::<super::contacts::Contact>),
    }
}

pub struct ExportsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Exports")]
impl ExportsApi {
    /// Create an export
    ///
    /// Queues an export of the tenant's contacts, companies or leads that the filters
    /// select, as NDJSON (one record per line, exactly as the API returns it) or CSV
    /// (the record's fields, then one `custom_fields.<key>` column per custom field).
    /// Answers `202` with the export, `queued`; poll it (or take the `export.completed`
    /// webhook) until it is `completed`, then download it. The file holds the records as
    /// of one instant (`snapshot_at`), however long writing takes. Needs the record
    /// type's read scope as well (`403` without). A tenant holds at most
    /// `MOMENTUM_EXPORTS_MAX_PENDING` exports queued or running (10 by default; `409`
    /// with detail code `too_many_exports` beyond). Recorded in the audit log.
    #[oai(path = "/exports", method = "post", operation_id = "exports_create")]
    async fn create(
        &self,
        #[oai(scope = "Scope::ExportsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<ExportCreate>,
    ) -> ApiResult<Tagged<Queued<ExportEnvelope>>, Create> {
        let body = body.0;
        let query = body
            .filters
            .0
            .unwrap_or_default()
            .into_query(body.record_type)?;
        let format = body.format.0.unwrap_or_default();
        let row = exports::create(&state, &auth.0, query, format).await?;
        Ok(Tagged(Queued {
            location: format!("/v1/exports/{}", row.id),
            body: ExportEnvelope {
                data: row.into(),
                meta: Meta::of(&request_id),
            },
        }))
    }

    /// List exports
    ///
    /// This tenant's exports, keyset-paginated in creation order.
    #[oai(path = "/exports", method = "get", operation_id = "exports_list")]
    async fn list(
        &self,
        #[oai(scope = "Scope::ExportsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<ExportList>, List> {
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = exports::list(&state, &auth.0, &page).await?;
        Ok(Success(ExportList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.items.into_iter().map(Export::from).collect(),
        }))
    }

    /// Get an export
    ///
    /// Where the export stands: its status, the rows written so far, and once completed
    /// where to download it. Its `ETag` changes as it progresses, so a poll with
    /// `If-None-Match` answers `304` while nothing moved.
    #[oai(path = "/exports/:id", method = "get", operation_id = "exports_get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::ExportsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The export's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<ExportEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = exports::get(&state, &auth.0, id).await?;
        let found = ExportEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        };
        Ok(Conditional::new(found, &if_none_match))
    }

    /// Download an export's file
    ///
    /// The file, streamed: `application/x-ndjson` or `text/csv`, with its length and a
    /// file name. Only a `completed` export has one, until `expires_at`: otherwise `409`
    /// with detail code `export_not_ready`, `export_failed` or `export_expired`. Needs the
    /// record type's read scope as well.
    #[oai(
        path = "/exports/:id/download",
        method = "get",
        operation_id = "exports_download"
    )]
    async fn download(
        &self,
        #[oai(scope = "Scope::ExportsRead")] auth: ApiKey,
        state: Data<&AppState>,
        /// The export's id.
        id: Path<PathId>,
    ) -> ApiResult<Download, Fetch> {
        let id = id.0.parse("id")?;
        let download = exports::download(&state, &auth.0, id).await?;
        Ok(Download::new(download))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(record_type: &str, filters: serde_json::Value) -> ExportRow {
        let at = DateTime::parse_from_rfc3339("2026-03-03T12:17:02.528114Z")
            .unwrap()
            .with_timezone(&Utc);
        ExportRow {
            id: Uuid::nil(),
            record_type: record_type.into(),
            format: "csv".into(),
            filters,
            status: "completed".into(),
            rows: 3,
            size_bytes: Some(10),
            file_key: Some("exports/x".into()),
            error_code: None,
            error_message: None,
            attempts: 1,
            snapshot_at: Some(at),
            started_at: Some(at),
            completed_at: Some(at),
            expires_at: Some(at),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn every_filter_an_export_keeps_is_written_as_the_document_says() {
        let every = NewExportFilters {
            q: Some("ada".into()),
            owner_id: Some(Uuid::nil()),
            pipeline_id: Some(Uuid::nil()),
            stage_id: Some(Uuid::nil()),
            status: Some(ExportLeadStatus::Won),
            contact_id: Some(Uuid::nil()),
            company_id: Some(Uuid::nil()),
            currency: Some("EUR".into()),
            value_min: Some("1.5".into()),
            value_max: Some("20".into()),
            expected_close_from: Some(Date(chrono::NaiveDate::MIN)),
            expected_close_to: Some(Date(chrono::NaiveDate::MAX)),
            updated_after: Some(Utc::now()),
            include_deleted: Some(true),
            custom_field: Some(vec!["tier:eq:gold".into()]),
            ..NewExportFilters::default()
        };
        let query = every.into_query(ExportRecordType::Lead).unwrap();
        let ExportQuery::Lead(lead) = &query else {
            panic!("a lead query");
        };
        let stored = serde_json::to_value(lead).unwrap();
        let export = Export::from(row("lead", stored));
        assert_eq!(export.filters.status, Some(ExportLeadStatus::Won));
        assert_eq!(export.filters.include_deleted, Some(true));
        let bytes = serde_json::to_vec(&export).unwrap();
        crate::api::json::assert_same_as_schema(&export, &bytes);
    }

    #[test]
    fn a_filter_the_record_types_list_does_not_take_is_named() {
        let refused = NewExportFilters {
            email: Some("a@b.example".into()),
            stage_id: Some(Uuid::nil()),
            q: Some("fine".into()),
            ..NewExportFilters::default()
        }
        .into_query(ExportRecordType::Company)
        .unwrap_err();
        let fields: Vec<&str> = refused.details().iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["filters.email", "filters.stage_id"]);
        assert!(refused.details().iter().all(|d| d.code == "not_applicable"));
    }

    #[test]
    fn the_csv_columns_are_the_records_fields_in_the_documents_order() {
        let contact = fields(RecordType::Contact);
        assert_eq!(contact.first(), Some(&"id"));
        assert!(contact.contains(&"custom_fields") && contact.contains(&"deleted_at"));
        assert!(fields(RecordType::Lead).contains(&"stage_id"));
        assert!(fields(RecordType::Company).contains(&"domain"));
    }
}
