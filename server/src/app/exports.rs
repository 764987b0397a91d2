//! Exports: a tenant's contacts, companies or leads, filtered as their lists filter,
//! written to a file by the worker from one snapshot and kept for a while.
//!
//! The API checks the request as the list would (the filters' rules, the custom fields
//! against the tenant's definitions, the record type's read scope) and queues the export.
//! The worker ([`run`]) claims queued exports across tenants, reads each page by page in
//! one `REPEATABLE READ` transaction, so the file is the list as of one instant however
//! long the writing takes, streams the pages into the blob store, and marks the export
//! completed with `export.completed` in one transaction. A worker that dies mid-way
//! leaves a lease that runs out; another worker then starts the export again from a new
//! snapshot, into a new file (the key carries the claim), so nobody ever downloads half a
//! file. After `max_attempts` claims an export fails instead (`abandoned`).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use super::companies::CompanyQuery;
use super::contacts::ContactQuery;
use super::leads::LeadQuery;
use super::page::{listed, Listed, PageRequest};
use crate::auth::{Principal, Scope};
use crate::blob::{Blob, Blobs, Key};
use crate::db::companies::{CompanyFilter, CompanyRow, CompanySort};
use crate::db::contacts::{ContactFilter, ContactRow, ContactSort};
use crate::db::exports::{self as repo, Claim, Finished, Named, NewExport, StoredFile};
pub use crate::db::exports::{ExportRow, ExportSettings, ExportSort};
use crate::db::leads::{LeadFilter, LeadRow, LeadSort};
use crate::db::page::{Page, SortValue};
use crate::db::periodic::Job;
use crate::db::{audit, companies, contacts, leads, TenantTx};
use crate::domain::export::{CsvLayout, Encoder, FileFormat};
use crate::domain::record::RecordType;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::events::{self, EventType};
use crate::state::AppState;

/// The list filters of an export, by record type: what the list operation of that type
/// takes, kept as the client sent it and applied by the worker with the list's rules.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportQuery {
    Contact(ContactQuery),
    Company(CompanyQuery),
    Lead(LeadQuery),
}

impl ExportQuery {
    pub fn record_type(&self) -> RecordType {
        match self {
            Self::Contact(_) => RecordType::Contact,
            Self::Company(_) => RecordType::Company,
            Self::Lead(_) => RecordType::Lead,
        }
    }

    fn custom_field(&self) -> &[String] {
        match self {
            Self::Contact(q) => &q.custom_field,
            Self::Company(q) => &q.custom_field,
            Self::Lead(q) => &q.custom_field,
        }
    }

    /// The rows the filters name, with the filter that names each.
    fn named(&self) -> Vec<(&'static str, Named, Uuid)> {
        let (company, contact, owner, pipeline, stage) = match self {
            Self::Contact(q) => (q.company_id, None, q.owner_id, None, None),
            Self::Company(q) => (None, None, q.owner_id, None, None),
            Self::Lead(q) => (
                q.company_id,
                q.contact_id,
                q.owner_id,
                q.pipeline_id,
                q.stage_id,
            ),
        };
        [
            ("company_id", Named::Company, company),
            ("contact_id", Named::Contact, contact),
            ("owner_id", Named::User, owner),
            ("pipeline_id", Named::Pipeline, pipeline),
            ("stage_id", Named::Stage, stage),
        ]
        .into_iter()
        .filter_map(|(field, named, id)| id.map(|id| (field, named, id)))
        .collect()
    }

    fn to_json(&self) -> Value {
        let value = match self {
            Self::Contact(q) => serde_json::to_value(q),
            Self::Company(q) => serde_json::to_value(q),
            Self::Lead(q) => serde_json::to_value(q),
        };
        // Plain structs of strings, ids, dates and booleans: serialising cannot fail.
        value.unwrap_or_else(|_| json!({}))
    }

    /// The query an export stored.
    pub fn stored(row: &ExportRow) -> Result<Self, AppError> {
        let filters = row.filters.clone();
        let parsed = match row.record_type.as_str() {
            "contact" => serde_json::from_value(filters).map(Self::Contact),
            "company" => serde_json::from_value(filters).map(Self::Company),
            "lead" => serde_json::from_value(filters).map(Self::Lead),
            other => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "an export of {other:?} records"
                )))
            }
        };
        parsed.map_err(|e| AppError::Internal(anyhow::anyhow!("stored export filters: {e}")))
    }

    /// The filter, custom fields included (checked against the tenant's definitions as
    /// `tx` sees them).
    async fn filter(&self, tx: &mut TenantTx) -> Result<Filter, AppError> {
        let custom = super::custom_fields::filters(tx, self.record_type(), self.custom_field());
        Ok(match self {
            Self::Contact(q) => {
                let mut f = q.filter()?;
                f.custom_fields = custom.await?;
                Filter::Contact(f)
            }
            Self::Company(q) => {
                let mut f = q.filter()?;
                f.custom_fields = custom.await?;
                Filter::Company(f)
            }
            Self::Lead(q) => {
                let mut f = q.filter()?;
                f.custom_fields = custom.await?;
                Filter::Lead(f)
            }
        })
    }
}

enum Filter {
    Contact(ContactFilter),
    Company(CompanyFilter),
    Lead(LeadFilter),
}

/// Renders what the worker writes as the API returns it. The API layer provides it
/// (`api::exports::RENDER`), so this layer never depends on the wire types.
#[derive(Clone, Copy)]
pub struct Render {
    pub export: fn(ExportRow) -> Value,
    pub contact: fn(ContactRow) -> Value,
    pub company: fn(CompanyRow) -> Value,
    pub lead: fn(LeadRow) -> Value,
    /// A record type's fields in the API's order: the CSV columns.
    pub fields: fn(RecordType) -> &'static [&'static str],
}

/// A refusal of the filters, named under `filters` in the body (a 422): they are
/// fields of the request body here, not query parameters.
fn in_filters(err: AppError) -> AppError {
    let renamed = |details: Vec<FieldError>| {
        details
            .into_iter()
            .map(|mut d| {
                d.field = format!("filters.{}", d.field);
                d
            })
            .collect()
    };
    match err {
        AppError::BadRequest { details, .. } | AppError::Validation(details) => {
            AppError::Validation(renamed(details))
        }
        other => other,
    }
}

/// An error's details as one line, for an export's `error.message`.
fn described(err: &AppError) -> String {
    let details: Vec<String> = err
        .details()
        .iter()
        .map(|d| format!("{}: {}", d.field, d.message))
        .collect();
    if details.is_empty() {
        err.to_string()
    } else {
        format!("the filters no longer fit: {}", details.join("; "))
    }
}

fn missing_scope(scope: Scope) -> AppError {
    AppError::Forbidden {
        message: format!(
            "exporting these records needs `{}` as well as `exports:read`",
            scope.as_str()
        ),
        details: vec![FieldError::new(
            "scope",
            "missing_scope",
            format!("the credential lacks `{}`", scope.as_str()),
        )],
    }
}

/// Queues an export of the records `query` lists, in `format`.
pub async fn create(
    state: &AppState,
    actor: &Principal,
    query: ExportQuery,
    format: FileFormat,
) -> Result<ExportRow, AppError> {
    let record_type = query.record_type();
    let scope = Scope::read_of(record_type);
    if !actor.has(scope) {
        return Err(missing_scope(scope));
    }
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    query.filter(&mut tx).await.map_err(in_filters)?;
    // Unlike a list, an export is kept: a filter naming no row of the tenant is a
    // mistake to say now, not an empty file to find later (and an id of another tenant
    // is refused exactly alike). Rows in the trash count: a list filters on them too.
    tx.include_deleted().await?;
    let mut missing = Vec::new();
    for (field, named, id) in query.named() {
        if !repo::exists(&mut tx, named, id).await? {
            missing.push(FieldError::new(
                format!("filters.{field}"),
                "not_found",
                format!("this tenant has no {} with this id", named.noun()),
            ));
        }
    }
    if !missing.is_empty() {
        return Err(AppError::Validation(missing));
    }
    let max_pending = state.exports.max_pending;
    if repo::count_pending(&mut tx).await? >= i64::from(max_pending) {
        return Err(AppError::Conflict {
            message: format!(
                "this tenant already has {max_pending} exports queued or running; wait for \
                 one to finish"
            ),
            details: vec![FieldError::new(
                "tenant",
                "too_many_exports",
                format!("at most {max_pending} exports may be queued or running at once"),
            )],
        });
    }
    let filters = query.to_json();
    let id = Uuid::now_v7();
    let row = repo::insert(
        &mut tx,
        &NewExport {
            id,
            record_type: record_type.as_str(),
            format: format.as_str(),
            filters: &filters,
        },
    )
    .await?;
    // Taking every record out is worth a line in the audit log.
    audit::record(
        &mut tx,
        actor,
        "export.created",
        ("export", id),
        json!({"record_type": record_type.as_str(), "format": format.as_str(),
               "filters": filters}),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn get(state: &AppState, actor: &Principal, id: Uuid) -> Result<ExportRow, AppError> {
    super::read(state, actor, id, false).await
}

pub async fn list(
    state: &AppState,
    actor: &Principal,
    page: &PageRequest,
) -> Result<Listed<ExportRow>, AppError> {
    let page = page.page(ExportSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list(&mut tx, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// A completed export's file, to stream to the client.
pub struct Download {
    pub row: ExportRow,
    pub format: FileFormat,
    pub blob: Blob,
}

fn not_downloadable(code: &'static str, message: &str) -> AppError {
    AppError::Conflict {
        message: message.to_owned(),
        details: vec![FieldError::new("status", code, message)],
    }
}

/// The file of export `id`: `409` unless it is completed and not yet expired. Needs the
/// record type's read scope, as making the export did.
pub async fn download(state: &AppState, actor: &Principal, id: Uuid) -> Result<Download, AppError> {
    let row: ExportRow = get(state, actor, id).await?;
    if let Some(t) = RecordType::parse(&row.record_type) {
        let scope = Scope::read_of(t);
        if !actor.has(scope) {
            return Err(missing_scope(scope));
        }
    }
    let expired = || not_downloadable("export_expired", "the export's file has expired");
    match row.status.as_str() {
        "completed" => {}
        "failed" => {
            return Err(not_downloadable(
                "export_failed",
                "the export failed: it has no file",
            ))
        }
        "expired" => return Err(expired()),
        _ => {
            return Err(not_downloadable(
                "export_not_ready",
                "the export is not completed yet: poll it until its status is `completed`",
            ))
        }
    }
    if row.expires_at.is_none_or(|at| at <= chrono::Utc::now()) {
        return Err(expired());
    }
    let key = row
        .file_key
        .as_deref()
        .and_then(|k| Key::parse(k).ok())
        .ok_or_else(expired)?;
    let blob = state
        .blobs
        .reader(&key)
        .await
        .map_err(|e| AppError::Unavailable(e.context("the export's file cannot be read")))?
        .ok_or_else(expired)?;
    let format = FileFormat::parse(&row.format).unwrap_or_default();
    Ok(Download { row, format, blob })
}

/// What the worker needs.
#[derive(Clone)]
pub struct Jobs {
    /// The worker's role.
    pub pool: sqlx::PgPool,
    pub blobs: Blobs,
    pub settings: ExportSettings,
    pub render: Render,
    /// Where runs and purges are counted, when the process serves metrics.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Claims and runs exports until `stopped` turns true, `concurrency` of the settings at
/// once in this process. On stop, the runs in flight give their exports back to the queue.
pub async fn run(jobs: Jobs, stopped: watch::Receiver<bool>) {
    let jobs = Arc::new(jobs);
    let settings = jobs.settings.clone();
    let pool = jobs.pool.clone();
    super::jobs::claim_loop(
        "exports",
        settings.concurrency,
        settings.poll_interval,
        stopped,
        |limit| repo::claim(&pool, limit, settings.lease, settings.per_tenant),
        |claim, stopped| {
            let jobs = Arc::clone(&jobs);
            async move { run_one(&jobs, claim, stopped).await }
        },
    )
    .await;
}

/// How one run ended, for the log.
enum Ended {
    Completed(ExportRow),
    Failed(ExportRow),
    /// The claim was lost (another worker holds the export now) or given back.
    Gone,
}

async fn run_one(jobs: &Jobs, claim: Claim, mut stopped: watch::Receiver<bool>) {
    let span = tracing::info_span!("export", export.id = %claim.id, tenant.id = %claim.tenant_id,
                                   attempt = claim.attempts);
    run_claimed(jobs, claim, &mut stopped)
        .instrument(span)
        .await;
}

async fn run_claimed(jobs: &Jobs, claim: Claim, stopped: &mut watch::Receiver<bool>) {
    let started = Instant::now();
    let ended = if u32::try_from(claim.attempts).unwrap_or(u32::MAX) > jobs.settings.max_attempts {
        fail(
            jobs,
            &claim,
            "abandoned",
            "the export stopped its worker on every attempt",
        )
        .await
    } else {
        let work = tokio::time::timeout(jobs.settings.timeout, produce(jobs, &claim));
        let outcome = tokio::select! {
            outcome = work => Some(outcome),
            _ = stopped.wait_for(|s| *s) => None,
        };
        match outcome {
            Some(Ok(Ok(ended))) => Ok(ended),
            Some(Ok(Err(Failure::Export(code, message)))) => {
                fail(jobs, &claim, code, &message).await
            }
            Some(Ok(Err(Failure::Worker(err)))) => {
                // The worker's trouble (the database, the store), not the export's: the
                // lease runs out and the export is tried again.
                tracing::warn!(error = %err, "an export run stopped; it is retried once its lease runs out");
                Ok(Ended::Gone)
            }
            Some(Err(_)) => {
                fail(
                    jobs,
                    &claim,
                    "timed_out",
                    "the export took longer than its time limit",
                )
                .await
            }
            None => release(jobs, &claim).await.map(|()| Ended::Gone),
        }
    };
    if let Some(metrics) = &jobs.metrics {
        match &ended {
            Ok(Ended::Completed(row)) => {
                metrics.export_finished(true, u64::try_from(row.rows).unwrap_or(0));
            }
            Ok(Ended::Failed(_)) => metrics.export_finished(false, 0),
            _ => {}
        }
    }
    match ended {
        Ok(Ended::Completed(row)) => tracing::info!(
            rows = row.rows,
            bytes = row.size_bytes.unwrap_or(0),
            seconds = started.elapsed().as_secs_f64(),
            "export completed"
        ),
        Ok(Ended::Failed(row)) => tracing::warn!(
            code = row.error_code.as_deref().unwrap_or(""),
            "export failed"
        ),
        Ok(Ended::Gone) => {}
        Err(err) => tracing::warn!(error = %err, "could not record how an export ended"),
    }
}

/// Why a run did not complete.
enum Failure {
    /// The export itself cannot be made (its filters no longer fit): it fails at once.
    Export(&'static str, String),
    /// The worker could not go on (the database, the store): tried again later.
    Worker(AppError),
}

impl From<AppError> for Failure {
    fn from(err: AppError) -> Self {
        Self::Worker(err)
    }
}

async fn fail(
    jobs: &Jobs,
    claim: &Claim,
    code: &'static str,
    message: &str,
) -> Result<Ended, AppError> {
    let mut tx = TenantTx::begin(&jobs.pool, claim.tenant_id).await?;
    let Some(row) = repo::fail(&mut tx, claim, code, message).await? else {
        return Ok(Ended::Gone);
    };
    events::emit(
        &mut tx,
        EventType::ExportFailed,
        &(jobs.render.export)(row.clone()),
    )
    .await?;
    tx.commit().await?;
    Ok(Ended::Failed(row))
}

async fn release(jobs: &Jobs, claim: &Claim) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&jobs.pool, claim.tenant_id).await?;
    repo::release(&mut tx, claim).await?;
    tx.commit().await
}

/// The file's key: per tenant, export and claim, so a second attempt never writes over
/// a file someone may be downloading.
fn file_key(claim: &Claim, format: FileFormat) -> Result<Key, AppError> {
    Key::new([
        "exports".to_owned(),
        claim.tenant_id.to_string(),
        claim.id.to_string(),
        format!("{}.{}", claim.claim_id, format.extension()),
    ])
    .map_err(|e| AppError::Internal(e.into()))
}

/// Writes the export's file from one snapshot and completes it.
async fn produce(jobs: &Jobs, claim: &Claim) -> Result<Ended, Failure> {
    let settings = &jobs.settings;
    let row: ExportRow = {
        let mut tx = TenantTx::begin(&jobs.pool, claim.tenant_id).await?;
        let row = repo::get(&mut tx, claim.id).await?;
        tx.end_read();
        row
    };
    let query = ExportQuery::stored(&row)?;
    let format = FileFormat::parse(&row.format).unwrap_or_default();
    let record_type = query.record_type();

    let mut snapshot =
        TenantTx::begin_snapshot(&jobs.pool, claim.tenant_id, settings.timeout).await?;
    let snapshot_at = repo::now(&mut snapshot).await?;
    let filter = match query.filter(&mut snapshot).await {
        Ok(filter) => filter,
        Err(err @ (AppError::BadRequest { .. } | AppError::Validation(_))) => {
            return Err(Failure::Export(
                "validation_failed",
                described(&in_filters(err)),
            ))
        }
        Err(err) => return Err(err.into()),
    };
    let custom_keys = match format {
        FileFormat::Csv => crate::db::custom_fields::for_type(&mut snapshot, record_type.as_str())
            .await?
            .into_iter()
            .map(|d| d.key)
            .collect(),
        FileFormat::Ndjson => Vec::new(),
    };
    let encoder = Encoder::new(
        format,
        CsvLayout::new((jobs.render.fields)(record_type), custom_keys),
    );
    let key = file_key(claim, format)?;
    let mut writer = jobs.blobs.writer(&key);
    let store =
        |e: anyhow::Error| Failure::Worker(AppError::Unavailable(e.context("the file store")));
    let encode =
        |e: crate::domain::export::EncodeError| Failure::Worker(AppError::Internal(e.into()));

    let mut size = 0u64;
    let mut rows = 0u64;
    let mut after = None;
    let mut last_progress = Instant::now();
    let header = encoder.header().map_err(encode)?;
    let written: Result<(), Failure> = async {
        if !header.is_empty() {
            size += header.len() as u64;
            writer.put(Bytes::from(header)).await.map_err(store)?;
        }
        loop {
            let (records, next) = page(
                &mut snapshot,
                &filter,
                after.take(),
                settings.page_rows,
                &jobs.render,
            )
            .await?;
            rows += records.len() as u64;
            let bytes = encoder.encode(&records).map_err(encode)?;
            size += bytes.len() as u64;
            if !bytes.is_empty() {
                writer.put(Bytes::from(bytes)).await.map_err(store)?;
            }
            // The lease is renewed well before it runs out, from a transaction of its own
            // (the snapshot is read-only).
            if last_progress.elapsed() >= settings.lease / 3 {
                last_progress = Instant::now();
                let mut tx = TenantTx::begin(&jobs.pool, claim.tenant_id).await?;
                let ours = repo::progress(&mut tx, claim, rows, settings.lease).await?;
                tx.commit().await?;
                if !ours {
                    return Err(Failure::Worker(AppError::Conflict {
                        message: "the export's claim was lost".into(),
                        details: vec![],
                    }));
                }
            }
            match next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }
    .await;
    snapshot.end_read();
    if let Err(err) = written {
        if let Err(e) = writer.abort().await {
            tracing::warn!(error = %e, "could not abort an export's upload");
        }
        return Err(err);
    }
    writer.finish().await.map_err(store)?;

    let mut tx = TenantTx::begin(&jobs.pool, claim.tenant_id).await?;
    let finished = Finished {
        rows,
        size_bytes: size,
        file_key: &key.to_string(),
        snapshot_at,
        ttl: settings.ttl,
    };
    let Some(done) = repo::complete(&mut tx, claim, &finished).await? else {
        drop(tx);
        // Another worker owns the export now; this file will never be served.
        if let Err(e) = jobs.blobs.delete(&key).await {
            tracing::warn!(error = %e, "could not delete the file of a lost export run");
        }
        return Ok(Ended::Gone);
    };
    events::emit(
        &mut tx,
        EventType::ExportCompleted,
        &(jobs.render.export)(done.clone()),
    )
    .await?;
    tx.commit().await?;
    Ok(Ended::Completed(done))
}

/// One page of the snapshot in creation order, rendered, and where the next starts.
async fn page(
    tx: &mut TenantTx,
    filter: &Filter,
    after: Option<(SortValue, Uuid)>,
    limit: u32,
    render: &Render,
) -> Result<(Vec<Value>, Option<(SortValue, Uuid)>), AppError> {
    fn next<R>(
        rows: &[R],
        more: bool,
        at: impl Fn(&R) -> (SortValue, Uuid),
    ) -> Option<(SortValue, Uuid)> {
        rows.last().filter(|_| more).map(at)
    }
    Ok(match filter {
        Filter::Contact(f) => {
            let page = Page {
                key: ContactSort::CreatedAt,
                descending: false,
                after,
                limit,
            };
            let (rows, more) = contacts::list(tx, f, &page).await?;
            let n = next(&rows, more, |r| (SortValue::Time(r.created_at), r.id));
            (rows.into_iter().map(render.contact).collect(), n)
        }
        Filter::Company(f) => {
            let page = Page {
                key: CompanySort::CreatedAt,
                descending: false,
                after,
                limit,
            };
            let (rows, more) = companies::list(tx, f, &page).await?;
            let n = next(&rows, more, |r| (SortValue::Time(r.created_at), r.id));
            (rows.into_iter().map(render.company).collect(), n)
        }
        Filter::Lead(f) => {
            let page = Page {
                key: LeadSort::CreatedAt,
                descending: false,
                after,
                limit,
            };
            let (rows, more) = leads::list(tx, f, &page).await?;
            let n = next(&rows, more, |r| (SortValue::Time(r.created_at), r.id));
            (rows.into_iter().map(render.lead).collect(), n)
        }
    })
}

/// Deletes expired files, then marks their exports expired, every `purge_interval`
/// across every process that runs the worker, until `stopped` turns true.
pub async fn purge(jobs: Jobs, stopped: watch::Receiver<bool>) {
    let every = jobs.settings.purge_interval;
    let ran = |n| {
        if let Some(metrics) = &jobs.metrics {
            metrics.exports_expired(n);
        }
        tracing::info!(expired = n, "deleted expired export files");
    };
    super::jobs::periodically(
        jobs.pool.clone(),
        Job::ExportPurge,
        every,
        stopped,
        || purge_expired(&jobs),
        ran,
    )
    .await;
}

/// Expired exports' files: deleted, then the exports marked expired.
struct Expired;

impl super::jobs::Spent for Expired {
    const WHAT: &'static str = "an expired export's file";

    async fn list(pool: &sqlx::PgPool, limit: u32) -> Result<Vec<StoredFile>, sqlx::Error> {
        repo::expired_files(pool, limit).await
    }

    async fn forget(tx: &mut TenantTx, id: Uuid, key: &str) -> Result<bool, AppError> {
        repo::mark_expired(tx, id, key).await
    }
}

/// Deletes every expired file, then marks its export expired; how many.
pub async fn purge_expired(jobs: &Jobs) -> Result<u64, sqlx::Error> {
    super::jobs::delete_files::<Expired>(&jobs.pool, &jobs.blobs).await
}
