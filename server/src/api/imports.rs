//! `/v1/imports`: a file of contacts, companies or leads uploaded as it is (CSV or
//! NDJSON), applied by the worker in chunks with the batch upsert's rules, with its
//! progress, its failed rows and a cancel.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Binary;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{Enum, Object, OpenApi};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::IfNoneMatch;
use super::pagination;
use super::responses::{
    envelopes, Action, ApiResult, Conditional, Create, List, Meta, Queued, Read, Success, Tagged,
};
use super::security::ApiKey;
use super::types::{ColumnMapping, PathId};
use super::ApiTags;
use crate::app::imports::{self, ImportErrorRow, ImportRow, ImportSpec, MatchKey};
use crate::app::page::PageRequest;
use crate::app::version::{by_field, by_updated_at};
use crate::auth::Scope;
use crate::domain::company::CompanyPatch;
use crate::domain::contact::ContactPatch;
use crate::domain::export::FileFormat;
use crate::domain::import::CellKind;
use crate::domain::lead::LeadInput;
use crate::domain::record::RecordType;
use crate::domain::FieldError;
use crate::state::AppState;

/// The records an import can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ImportRecordType {
    Contact,
    Company,
    Lead,
}

impl ImportRecordType {
    fn of(t: RecordType) -> Self {
        match t {
            RecordType::Company => Self::Company,
            RecordType::Lead => Self::Lead,
            _ => Self::Contact,
        }
    }

    fn record_type(self) -> RecordType {
        match self {
            Self::Contact => RecordType::Contact,
            Self::Company => RecordType::Company,
            Self::Lead => RecordType::Lead,
        }
    }
}

/// How a row finds the record it updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ImportMatchKey {
    /// Contacts: the email, compared as the batch upsert compares it.
    Email,
    /// Companies: the domain, normalised as a create normalises it.
    Domain,
    /// The record's `id` (a column or key `id`): a row without one creates a record.
    Id,
}

impl From<ImportMatchKey> for MatchKey {
    fn from(key: ImportMatchKey) -> Self {
        match key {
            ImportMatchKey::Email => Self::Email,
            ImportMatchKey::Domain => Self::Domain,
            ImportMatchKey::Id => Self::Id,
        }
    }
}

impl From<MatchKey> for ImportMatchKey {
    fn from(key: MatchKey) -> Self {
        match key {
            MatchKey::Email => Self::Email,
            MatchKey::Domain => Self::Domain,
            MatchKey::Id => Self::Id,
        }
    }
}

/// Where an import is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is applying its rows.
    Running,
    /// Every row of the file was read: applied, or listed among the errors.
    Completed,
    /// Stopped before the end of the file (`error_code` says why); the rows before
    /// were applied.
    Failed,
    /// Cancelled; the rows applied before stay.
    Cancelled,
}

impl ImportStatus {
    fn parse(stored: &str) -> Self {
        match stored {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            _ => Self::Failed,
        }
    }
}

/// A column of the file and the field it writes.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ImportColumn {
    /// The column's name in the file's header.
    pub column: String,
    /// The field it writes (`custom_fields.<key>` for a custom field); none when the
    /// column is ignored.
    #[oai(nullable)]
    pub field: Option<String>,
}

/// How far an import has come through its file.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ImportProgress {
    /// Bytes of the file read and applied.
    pub bytes_read: i64,
    /// The file's size in bytes.
    pub size_bytes: i64,
    /// Rows read: `created + updated + unchanged + failed`.
    pub rows_read: i64,
    pub created: i64,
    pub updated: i64,
    /// Rows that matched a record they would not change: nothing was written.
    pub unchanged: i64,
    /// Rows refused; the first 10,000 are listed by `imports_errors_list`.
    pub failed: i64,
}

/// An import: a file of records being applied, and how far it has come.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Import {
    pub id: Uuid,
    pub record_type: ImportRecordType,
    pub format: FileFormat,
    pub match_key: ImportMatchKey,
    /// CSV: the file's columns and the field each writes, in the header's order.
    pub columns: Vec<ImportColumn>,
    /// `queued`, then `running`, then `completed`, `failed` or `cancelled`.
    pub status: ImportStatus,
    pub progress: ImportProgress,
    /// Whether more rows failed than are listed.
    pub errors_truncated: bool,
    /// Where the failed rows are listed.
    pub errors_url: String,
    /// Why the import failed: `abandoned` (its worker stopped on the same rows on every
    /// attempt), `file_missing`, `file_changed` or `row_too_long`; more may be added.
    #[oai(nullable)]
    pub error_code: Option<String>,
    /// What went wrong, in words, when the import failed.
    #[oai(nullable)]
    pub error_message: Option<String>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed, failed or was cancelled.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
}

impl From<ImportRow> for Import {
    fn from(row: ImportRow) -> Self {
        let columns = match &row.columns {
            Value::Array(columns) => columns
                .iter()
                .map(|c| ImportColumn {
                    column: c
                        .get("column")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    field: c.get("field").and_then(Value::as_str).map(str::to_owned),
                })
                .collect(),
            _ => Vec::new(),
        };
        let record_type = RecordType::parse(&row.record_type).unwrap_or(RecordType::Contact);
        Self {
            id: row.id,
            record_type: ImportRecordType::of(record_type),
            format: FileFormat::parse(&row.format).unwrap_or_default(),
            match_key: MatchKey::parse(&row.match_key)
                .unwrap_or(MatchKey::Id)
                .into(),
            columns,
            status: ImportStatus::parse(&row.status),
            progress: ImportProgress {
                bytes_read: row.next_byte,
                size_bytes: row.size_bytes,
                rows_read: row.rows_read,
                created: row.created,
                updated: row.updated,
                unchanged: row.unchanged,
                failed: row.failed,
            },
            errors_truncated: row.failed > i64::from(row.errors_stored),
            errors_url: format!("/v1/imports/{}/errors", row.id),
            error_code: row.error_code,
            error_message: row.error_message,
            started_at: row.started_at,
            completed_at: row.completed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

envelopes!(
    Import,
    ImportEnvelope,
    ImportList,
    "One import in the envelope.",
    "A page of imports in the envelope."
);

by_updated_at!(Import);
by_field!(ImportEnvelope => data);

/// A row of the file that was not applied.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ImportError {
    /// The line of the file the row starts on (the CSV header is line 1).
    pub line: i64,
    /// The CSV column at fault, when one is.
    #[oai(nullable)]
    pub column: Option<String>,
    /// The field at fault, as the API names it (`email`, `custom_fields.plan`), when
    /// one is.
    #[oai(nullable)]
    pub field: Option<String>,
    /// Why: a field rule's code (`invalid`, `required`, `too_long`, `not_found`, …),
    /// `conflict`, or a problem with the row itself (`wrong_field_count`,
    /// `invalid_utf8`, `invalid_json`, `not_an_object`, `unknown_field`,
    /// `malformed_row`).
    pub code: String,
    /// The problem in words; it never repeats a value from the file.
    pub message: String,
}

impl From<ImportErrorRow> for ImportError {
    fn from(row: ImportErrorRow) -> Self {
        Self {
            line: row.line,
            column: row.column_name,
            field: row.field,
            code: row.code,
            message: row.message,
        }
    }
}

/// A page of an import's failed rows, in file order.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ImportErrorList {
    pub data: Vec<ImportError>,
    pub meta: super::responses::ListMeta,
}

/// How the worker reads rows and renders what it reports: as the API does.
pub struct Wire;

impl imports::Wire for Wire {
    type Contact = super::contacts::Contact;
    type Company = super::companies::Company;
    type Lead = super::leads::Lead;

    fn import(row: ImportRow) -> Value {
        serde_json::to_value(Import::from(row)).unwrap_or(Value::Null)
    }

    fn writable(t: RecordType) -> &'static [(&'static str, CellKind)] {
        static CONTACT: OnceLock<Vec<(&'static str, CellKind)>> = OnceLock::new();
        static COMPANY: OnceLock<Vec<(&'static str, CellKind)>> = OnceLock::new();
        static LEAD: OnceLock<Vec<(&'static str, CellKind)>> = OnceLock::new();
        match t {
            RecordType::Company => COMPANY.get_or_init(writable::<super::companies::CompanyCreate>),
            RecordType::Lead => LEAD.get_or_init(writable::<super::leads::LeadCreate>),
            _ => CONTACT.get_or_init(writable::<super::contacts::ContactCreate>),
        }
    }

    fn read_only(t: RecordType) -> &'static [&'static str] {
        static CONTACT: OnceLock<Vec<&'static str>> = OnceLock::new();
        static COMPANY: OnceLock<Vec<&'static str>> = OnceLock::new();
        static LEAD: OnceLock<Vec<&'static str>> = OnceLock::new();
        let of = || {
            let writable = Self::writable(t);
            (super::exports::RENDER.fields)(t)
                .iter()
                .copied()
                .filter(|f| *f != "custom_fields" && !writable.iter().any(|(w, _)| w == f))
                .collect()
        };
        match t {
            RecordType::Company => COMPANY.get_or_init(of),
            RecordType::Lead => LEAD.get_or_init(of),
            _ => CONTACT.get_or_init(of),
        }
    }

    fn contact(row: Map<String, Value>) -> Result<ContactPatch, Vec<FieldError>> {
        body::<super::contacts::ContactCreate>(row, &[]).map(super::batch::contact_item)
    }

    fn company(row: Map<String, Value>) -> Result<CompanyPatch, Vec<FieldError>> {
        body::<super::companies::CompanyCreate>(row, &["name"]).map(super::batch::company_item)
    }

    fn lead(row: Map<String, Value>) -> Result<(LeadInput, Map<String, Value>), Vec<FieldError>> {
        let mut body = body::<super::leads::LeadCreate>(row, &["title"])?;
        let values = body
            .custom_fields
            .take()
            .unwrap_or_default()
            .into_iter()
            .collect();
        Ok((body.into(), values))
    }
}

/// The fields of the create body `T` and how their cells read (its `custom_fields`
/// apart: each custom field is a column of its own).
fn writable<T: Type>() -> Vec<(&'static str, CellKind)> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let Some(schema) = registry.schemas.get(T::name().as_ref()) else {
        return Vec::new();
    };
    schema
        .properties
        .iter()
        .filter(|(name, _)| *name != "custom_fields")
        .map(|(name, property)| (*name, kind_of(&registry, property)))
        .collect()
}

/// How a cell of a field of this schema reads.
fn kind_of(registry: &Registry, schema: &MetaSchemaRef) -> CellKind {
    let schema = match schema {
        MetaSchemaRef::Inline(schema) => schema.as_ref(),
        MetaSchemaRef::Reference(name) => match registry.schemas.get(name.as_str()) {
            Some(schema) => schema,
            None => return CellKind::Text,
        },
    };
    if let Some(inner) = schema.all_of.first().or(schema.any_of.first()) {
        return kind_of(registry, inner);
    }
    match schema.ty {
        "integer" => CellKind::Integer,
        "number" => CellKind::Number,
        "boolean" => CellKind::Boolean,
        "array" => CellKind::List,
        _ => CellKind::Text,
    }
}

/// A row as the create body `T`, or its field errors. The body's own parse names no
/// field, so each field is tried alone over the smallest valid body (`required`: its
/// fields besides the row's) to name the one at fault; the messages are ours, never
/// the parser's, which may quote the value.
fn body<T: ParseFromJSON>(
    row: Map<String, Value>,
    required: &[&str],
) -> Result<T, Vec<FieldError>> {
    if let Ok(body) = T::parse_from_json(Some(Value::Object(row.clone()))) {
        return Ok(body);
    }
    let mut errors = Vec::new();
    for field in required {
        if !row.contains_key(*field) {
            errors.push(FieldError::new(*field, "required", "is required"));
        }
    }
    let base: Map<String, Value> = required
        .iter()
        .map(|f| ((*f).to_owned(), Value::String("x".into())))
        .collect();
    for (key, value) in &row {
        let mut alone = base.clone();
        alone.insert(key.clone(), value.clone());
        if T::parse_from_json(Some(Value::Object(alone))).is_err() {
            errors.push(FieldError::new(
                key.clone(),
                "invalid",
                "is not a valid value for this field",
            ));
        }
    }
    if errors.is_empty() {
        errors.push(FieldError::new(
            "",
            "invalid",
            "the row is not a valid create body",
        ));
    }
    Err(errors)
}

/// The media types an upload may declare.
const ACCEPTED: [&str; 4] = [
    "text/csv",
    "application/x-ndjson",
    "application/octet-stream",
    "text/plain",
];

pub struct ImportsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Imports")]
impl ImportsApi {
    /// Create an import
    ///
    /// Uploads a file of contacts, companies or leads as the request body, as it is
    /// (`Content-Type`: `text/csv`, `application/x-ndjson`, `application/octet-stream`
    /// or `text/plain`; another is a `415`), and queues its import. Answers `202` with
    /// the import, `queued`; follow it at `Location` (or take the `import.completed`
    /// webhook). A file larger than `MOMENTUM_IMPORTS_MAX_BYTES` (100 MiB by default) is
    /// a `413`, before anything is stored.
    ///
    /// **Rows.** NDJSON: one JSON object per line, a create body of the record type
    /// (`contacts_create`, …), as an export writes it (its read-only fields, such as
    /// `created_at`, are ignored; an unknown field is the row's error). CSV (RFC 4180,
    /// UTF-8, a header row): each column writes the field its header names (a create
    /// body's field, or `custom_fields.<key>`), or the one `column=<header>:<field>`
    /// maps it to (`<header>:` ignores it); the read-only columns of an export are
    /// ignored, any other is a `422` naming it. An empty cell keeps the stored value;
    /// lists (`tags`, a multi-select) are a JSON array, as an export writes them, or
    /// values separated by `;`.
    ///
    /// **Matching.** `match_key` says how a row finds the record it updates: `email`
    /// (contacts, the default), `domain` (companies, the default) or `id` (leads: the
    /// only one). A row without the key, or whose key nothing has, creates a record;
    /// one that matches updates it as the batch upsert does (what the row sends
    /// replaces, what it leaves empty keeps), or is `unchanged` when that changes
    /// nothing. A row naming an `id` the tenant has no record with is the row's error.
    ///
    /// **Applying.** The worker applies the file in chunks (`MOMENTUM_IMPORTS_CHUNK_ROWS`
    /// rows), each one transaction with the rules, events and webhooks of the API's own
    /// writes; a refused row is the row's error, listed by `imports_errors_list`, and
    /// never stops the import. A worker that stops mid-file leaves the import to the
    /// next, which goes on after the last chunk applied. Needs the record type's write
    /// scope as well (`403` without). A tenant holds at most
    /// `MOMENTUM_IMPORTS_MAX_PENDING` imports queued or running (5 by default; `409`
    /// with detail code `too_many_imports` beyond). With an `Idempotency-Key`, a retry
    /// replays the first answer whatever file it sends. Recorded in the audit log.
    #[oai(path = "/imports", method = "post", operation_id = "imports_create")]
    #[allow(clippy::too_many_arguments)]
    async fn create(
        &self,
        #[oai(scope = "Scope::ImportsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The records the file holds.
        record_type: Query<ImportRecordType>,
        /// The file's format.
        format: Query<FileFormat>,
        /// How a row finds the record it updates; default `email` for contacts, `domain`
        /// for companies, `id` for leads.
        match_key: Query<Option<ImportMatchKey>>,
        /// CSV only: `<header>:<field>` maps a column to a field (`custom_fields.<key>`
        /// for a custom field), `<header>:` ignores it. The header may itself hold `:`;
        /// the last one separates.
        #[oai(validator(max_items = 200))]
        column: Query<Option<Vec<ColumnMapping>>>,
        req: &poem::Request,
        body: Binary<poem::Body>,
    ) -> ApiResult<Tagged<Queued<ImportEnvelope>>, Create> {
        let media = req
            .headers()
            .get(poem::http::header::CONTENT_TYPE)
            .and_then(|ct| ct.to_str().ok())
            .and_then(|ct| ct.split(';').next())
            .map(|ct| ct.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !ACCEPTED.contains(&media.as_str()) {
            return Err(crate::error::AppError::UnsupportedMediaType(
                "send the file as the body with `Content-Type: text/csv` (or \
                 `application/x-ndjson`, `application/octet-stream`, `text/plain`)"
                    .into(),
            )
            .into());
        }
        let columns = column
            .0
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.column, c.field))
            .collect();
        let spec = ImportSpec {
            record_type: record_type.0.record_type(),
            format: format.0,
            match_key: match_key.0.map(MatchKey::from),
            columns,
        };
        let stream = body.0.into_bytes_stream().map_err(std::io::Error::other);
        let row = imports::create::<Wire>(&state, &auth.0, spec, stream).await?;
        Ok(Tagged(Queued {
            location: format!("/v1/imports/{}", row.id),
            body: ImportEnvelope {
                data: row.into(),
                meta: Meta::of(&request_id),
            },
        }))
    }

    /// List imports
    ///
    /// This tenant's imports, keyset-paginated in creation order.
    #[oai(path = "/imports", method = "get", operation_id = "imports_list")]
    async fn list(
        &self,
        #[oai(scope = "Scope::ImportsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<ImportList>, List> {
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = imports::list(&state, &auth.0, &page).await?;
        Ok(Success(ImportList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.items.into_iter().map(Import::from).collect(),
        }))
    }

    /// Get an import
    ///
    /// Where the import stands: its status and its progress through the file. Its
    /// `ETag` changes as it progresses, so a poll with `If-None-Match` answers `304`
    /// while nothing moved.
    #[oai(path = "/imports/:id", method = "get", operation_id = "imports_get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::ImportsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The import's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<ImportEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = imports::get(&state, &auth.0, id).await?;
        let found = ImportEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        };
        Ok(Conditional::new(found, &if_none_match))
    }

    /// List an import's failed rows
    ///
    /// The rows the import could not apply, in file order: the line each starts on,
    /// the column and field at fault, and why. Never a value from the file. At most
    /// 10,000 are kept per import (`errors_truncated` says when more failed).
    #[oai(
        path = "/imports/:id/errors",
        method = "get",
        operation_id = "imports_errors_list"
    )]
    async fn errors(
        &self,
        #[oai(scope = "Scope::ImportsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The import's id.
        id: Path<PathId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<ImportErrorList>, Read> {
        let id = id.0.parse("id")?;
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = imports::errors(&state, &auth.0, id, &page).await?;
        Ok(Success(ImportErrorList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.items.into_iter().map(ImportError::from).collect(),
        }))
    }

    /// Cancel an import
    ///
    /// Stops a queued or running import: a running one stops after the chunk it is
    /// applying, which stays applied, as do the chunks before. `import.cancelled` is
    /// recorded. An import already over is a `409` with detail code `import_finished`.
    #[oai(
        path = "/imports/:id/cancel",
        method = "post",
        operation_id = "imports_cancel"
    )]
    async fn cancel(
        &self,
        #[oai(scope = "Scope::ImportsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The import's id.
        id: Path<PathId>,
    ) -> ApiResult<Tagged<Success<ImportEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let row = imports::cancel::<Wire>(&state, &auth.0, id).await?;
        Ok(Tagged(Success(ImportEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        })))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::app::imports::Wire as _;

    #[test]
    fn cells_read_as_the_create_bodys_fields_are_typed() {
        let company: BTreeMap<_, _> = Wire::writable(RecordType::Company)
            .iter()
            .copied()
            .collect();
        assert_eq!(company.get("employee_count"), Some(&CellKind::Integer));
        assert_eq!(company.get("tags"), Some(&CellKind::List));
        assert_eq!(company.get("name"), Some(&CellKind::Text));
        assert!(!company.contains_key("custom_fields"));
        let lead: BTreeMap<_, _> = Wire::writable(RecordType::Lead).iter().copied().collect();
        assert!(lead.contains_key("stage_id") && lead.contains_key("title"));
    }

    #[test]
    fn what_an_export_holds_besides_the_create_body_is_read_only() {
        let read_only = Wire::read_only(RecordType::Contact);
        for field in ["id", "created_at", "updated_at", "deleted_at"] {
            assert!(read_only.contains(&field), "{field}");
        }
        assert!(!read_only.contains(&"email"));
    }

    #[test]
    fn a_refused_row_names_its_fields_but_never_its_values() {
        let row = serde_json::json!({"name": "Acme", "employee_count": "many", "tags": "x@secret"});
        let Value::Object(row) = row else { panic!() };
        let errors = Wire::company(row).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["employee_count", "tags"]);
        assert!(errors.iter().all(|e| !e.message.contains("secret")));
        let Value::Object(row) = serde_json::json!({"value": "1"}) else {
            panic!()
        };
        let errors = Wire::lead(row).unwrap_err();
        assert_eq!(errors[0].field, "title");
        assert_eq!(errors[0].code, "required");
    }
}
