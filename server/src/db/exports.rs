//! Exports: a tenant's records written to a file by the worker from one snapshot
//! (migration `20261212100001_exports.sql`).
//!
//! The API queues an export in the tenant's transaction. A worker claims it across
//! tenants with `export_claim` (the worker's role alone may), which hands out a
//! `claim_id`; every later change of the row (progress, completion, failure) happens in
//! the tenant's own transaction and only while the row still carries that `claim_id`,
//! so a worker whose lease ran out and whose export another worker took cannot write
//! over the other's result.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

pub use super::jobs::{Claim, StoredFile};
use super::page::{creation_order, keyed, Page};
use super::record::{self, Table};
use super::{autocommit, prepared_statements, query_as, query_scalar, TenantTx};
use crate::error::AppResult;

const COLUMNS: &str = "id, record_type, format, filters, status, rows, size_bytes, file_key, \
                       error_code, error_message, attempts, snapshot_at, started_at, \
                       completed_at, expires_at, created_at, updated_at";

/// An export as the tenant sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportRow {
    pub id: Uuid,
    /// `contact`, `company` or `lead`.
    pub record_type: String,
    /// `ndjson` or `csv`.
    pub format: String,
    /// The list filters it applies, as `app::*Query` serialised them.
    pub filters: Value,
    /// `queued`, `running`, `completed`, `failed` or `expired`.
    pub status: String,
    /// Rows written so far (all of them once completed).
    pub rows: i64,
    pub size_bytes: Option<i64>,
    /// Where the file is in the blob store, while it is kept.
    pub file_key: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// Claims so far: a worker that died mid-way costs one.
    pub attempts: i32,
    /// The instant the file shows the records as of.
    pub snapshot_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

keyed!(ExportRow);

impl Table for ExportRow {
    const TABLE: &'static str = "exports";
    const COLUMNS: &'static str = COLUMNS;
    const NOUN: &'static str = "export";
}

creation_order!(ExportSort, ExportRow);

/// How long files are kept, how many exports a tenant may run and queue, and how the
/// worker paces them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// How long a completed export's file can be downloaded.
    pub ttl: Duration,
    /// Exports of one tenant running at once, across every worker.
    pub per_tenant: u32,
    /// Exports a tenant may have queued or running; one more is a `409`.
    pub max_pending: u32,
    /// Exports one worker process writes at once.
    pub concurrency: u32,
    /// How long one run may take before it is stopped and counted as failed.
    pub timeout: Duration,
    /// A claim lasts this long unless renewed; the worker renews it as it writes, so a
    /// dead worker's export is claimed again this long after it stopped.
    pub lease: Duration,
    /// Claims an export may take before it is failed (`abandoned`): a file that kills
    /// its worker every time must not take every worker down in turn.
    pub max_attempts: u32,
    /// Rows read per statement of the snapshot.
    pub page_rows: u32,
    /// How often an idle worker looks for queued exports.
    pub poll_interval: Duration,
    /// How often expired files are deleted.
    pub purge_interval: Duration,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
            per_tenant: 1,
            max_pending: 10,
            concurrency: 2,
            timeout: Duration::from_secs(3600),
            lease: Duration::from_secs(60),
            max_attempts: 3,
            page_rows: 1000,
            poll_interval: Duration::from_secs(1),
            purge_interval: Duration::from_secs(300),
        }
    }
}

/// What the API queues.
pub struct NewExport<'a> {
    pub id: Uuid,
    pub record_type: &'a str,
    pub format: &'a str,
    pub filters: &'a Value,
}

pub async fn insert(tx: &mut TenantTx, export: &NewExport<'_>) -> AppResult<ExportRow> {
    let row = query_as(&format!(
        "INSERT INTO exports (tenant_id, id, record_type, format, filters) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(tx.tenant_id())
    .bind(export.id)
    .bind(export.record_type)
    .bind(export.format)
    .bind(export.filters)
    .fetch_one(tx.conn())
    .await?;
    Ok(row)
}

/// The instant a snapshot transaction sees the data as of: when it began.
pub async fn now(tx: &mut TenantTx) -> AppResult<DateTime<Utc>> {
    Ok(query_scalar("SELECT now()").fetch_one(tx.conn()).await?)
}

/// The tables an export's filters may name a row of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Contact,
    Company,
    User,
    Pipeline,
    Stage,
}

impl Named {
    /// What the row is called in an error.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Company => "company",
            Self::User => "user",
            Self::Pipeline => "pipeline",
            Self::Stage => "stage",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Self::Contact => "contacts",
            Self::Company => "companies",
            Self::User => "users",
            Self::Pipeline => "pipelines",
            Self::Stage => "stages",
        }
    }
}

/// Whether the pinned tenant has the row `id` of `named`, in the trash or not (the
/// transaction must show the trash: [`TenantTx::include_deleted`]).
pub async fn exists(tx: &mut TenantTx, named: Named, id: Uuid) -> AppResult<bool> {
    let table = named.table();
    Ok(query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)"
    ))
    .bind(id)
    .fetch_one(tx.conn())
    .await?)
}

/// The pinned tenant's exports that are queued or running.
pub async fn count_pending(tx: &mut TenantTx) -> AppResult<i64> {
    Ok(
        query_scalar("SELECT count(*) FROM exports WHERE status IN ('queued', 'running')")
            .fetch_one(tx.conn())
            .await?,
    )
}

/// The pinned tenant's export `id`.
pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<ExportRow> {
    record::get(tx, id).await
}

/// One page of the pinned tenant's exports.
pub async fn list(tx: &mut TenantTx, page: &Page<ExportSort>) -> AppResult<(Vec<ExportRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM exports WHERE true"));
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}

/// Claims up to `limit` exports of any tenant, never more than `per_tenant` running at
/// once for one tenant. `pool` must be the worker's role.
pub async fn claim(
    pool: &PgPool,
    limit: u32,
    lease: Duration,
    per_tenant: u32,
) -> Result<Vec<Claim>, sqlx::Error> {
    query_as("SELECT * FROM export_claim($1, make_interval(secs => $2::double precision), $3)")
        .bind(i32::try_from(limit).unwrap_or(i32::MAX))
        .bind(lease.as_secs_f64())
        .bind(i32::try_from(per_tenant).unwrap_or(i32::MAX))
        .fetch_all(autocommit(pool))
        .await
}

/// Records the rows written so far and renews the claim's lease; false when the claim
/// is no longer this worker's (its lease ran out and another worker took the export):
/// the run must stop.
pub async fn progress(
    tx: &mut TenantTx,
    claim: &Claim,
    rows: u64,
    lease: Duration,
) -> AppResult<bool> {
    let renewed = query_scalar::<Uuid>(
        "UPDATE exports SET rows = $3, lease_until = now() + make_interval(secs => $4), \
                updated_at = now() \
          WHERE id = $1 AND claim_id = $2 AND status = 'running' RETURNING id",
    )
    .bind(claim.id)
    .bind(claim.claim_id)
    .bind(i64::try_from(rows).unwrap_or(i64::MAX))
    .bind(lease.as_secs_f64())
    .fetch_optional(tx.conn())
    .await?;
    Ok(renewed.is_some())
}

/// What a finished run wrote.
pub struct Finished<'a> {
    pub rows: u64,
    pub size_bytes: u64,
    pub file_key: &'a str,
    pub snapshot_at: DateTime<Utc>,
    pub ttl: Duration,
}

/// Marks the claimed export completed with its file; `None` when the claim is no longer
/// this worker's (the caller then deletes the file it wrote: nobody will serve it).
pub async fn complete(
    tx: &mut TenantTx,
    claim: &Claim,
    finished: &Finished<'_>,
) -> AppResult<Option<ExportRow>> {
    Ok(query_as(&format!(
        "UPDATE exports SET status = 'completed', claim_id = NULL, lease_until = NULL, \
                rows = $3, size_bytes = $4, file_key = $5, snapshot_at = $6, \
                completed_at = now(), expires_at = now() + make_interval(secs => $7), \
                updated_at = now() \
          WHERE id = $1 AND claim_id = $2 AND status = 'running' RETURNING {COLUMNS}"
    ))
    .bind(claim.id)
    .bind(claim.claim_id)
    .bind(i64::try_from(finished.rows).unwrap_or(i64::MAX))
    .bind(i64::try_from(finished.size_bytes).unwrap_or(i64::MAX))
    .bind(finished.file_key)
    .bind(finished.snapshot_at)
    .bind(finished.ttl.as_secs_f64())
    .fetch_optional(tx.conn())
    .await?)
}

/// Marks the claimed export failed, with why; `None` when the claim is no longer this
/// worker's.
pub async fn fail(
    tx: &mut TenantTx,
    claim: &Claim,
    code: &str,
    message: &str,
) -> AppResult<Option<ExportRow>> {
    Ok(query_as(&format!(
        "UPDATE exports SET status = 'failed', claim_id = NULL, lease_until = NULL, \
                error_code = $3, error_message = left($4, 1000), completed_at = now(), \
                updated_at = now() \
          WHERE id = $1 AND claim_id = $2 AND status = 'running' RETURNING {COLUMNS}"
    ))
    .bind(claim.id)
    .bind(claim.claim_id)
    .bind(code)
    .bind(message)
    .fetch_optional(tx.conn())
    .await?)
}

/// Gives the claimed export back to the queue without counting the attempt: the worker
/// is stopping, not the export failing.
pub async fn release(tx: &mut TenantTx, claim: &Claim) -> AppResult<bool> {
    let released = query_scalar::<Uuid>(
        "UPDATE exports SET status = 'queued', claim_id = NULL, lease_until = NULL, \
                rows = 0, attempts = greatest(attempts - 1, 0), updated_at = now() \
          WHERE id = $1 AND claim_id = $2 AND status = 'running' RETURNING id",
    )
    .bind(claim.id)
    .bind(claim.claim_id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(released.is_some())
}

/// Up to `limit` expired files of any tenant, oldest first. `pool` must be the
/// worker's role.
pub async fn expired_files(pool: &PgPool, limit: u32) -> Result<Vec<StoredFile>, sqlx::Error> {
    query_as("SELECT * FROM export_expired_files($1)")
        .bind(i32::try_from(limit).unwrap_or(i32::MAX))
        .fetch_all(autocommit(pool))
        .await
}

/// Marks the pinned tenant's export expired once its file is deleted; false when it
/// was not (still) completed with that file.
pub async fn mark_expired(tx: &mut TenantTx, id: Uuid, file_key: &str) -> AppResult<bool> {
    let marked = query_scalar::<Uuid>(
        "UPDATE exports SET status = 'expired', file_key = NULL, updated_at = now() \
          WHERE id = $1 AND status = 'completed' AND file_key = $2 RETURNING id",
    )
    .bind(id)
    .bind(file_key)
    .fetch_optional(tx.conn())
    .await?;
    Ok(marked.is_some())
}
