//! Imports: a tenant's file of records applied by the worker in chunks (migration
//! `20261213100001_imports.sql`).
//!
//! The API stores the file and queues the import in the tenant's transaction. A worker
//! claims it across tenants with `import_claim`, as exports are claimed. Each chunk is
//! then one tenant transaction: [`lock_for_chunk`] takes the import's row only while it
//! still carries the worker's `claim_id` and still starts where the worker read from
//! (`next_byte`), the rows are applied, [`insert_errors`] keeps the rows that failed and
//! [`advance`] moves the offset and the counts on. A worker that dies mid-chunk rolls
//! all of that back together; a worker whose lease ran out finds the row gone from
//! under it. So a chunk is applied once, whoever resumes the import.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{creation_order, keyed, Page, SortKey, SortValue, ValueKind};
use super::record::{self, Table};
use super::{autocommit, prepared_statements, query, query_as, query_scalar, TenantTx};
use crate::error::AppResult;

pub use super::jobs::{Claim, StoredFile};

const COLUMNS: &str = "id, record_type, format, match_key, columns, requested_by, status, \
                       file_key, size_bytes, next_byte, next_line, rows_read, created, \
                       updated, unchanged, failed, errors_stored, error_code, error_message, \
                       attempts, started_at, completed_at, created_at, updated_at";

/// An import as the tenant sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImportRow {
    pub id: Uuid,
    /// `contact`, `company` or `lead`.
    pub record_type: String,
    /// `csv` or `ndjson`.
    pub format: String,
    /// `email`, `domain`, `id` or `none`.
    pub match_key: String,
    /// CSV: `[{"column": …, "field": … | null}]`, one per header column.
    pub columns: Value,
    /// Owner of the records it creates.
    pub requested_by: Option<Uuid>,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// The uploaded file, until the import is over and the file deleted.
    pub file_key: Option<String>,
    pub size_bytes: i64,
    /// Where the next chunk starts in the file, and its line.
    pub next_byte: i64,
    pub next_line: i64,
    pub rows_read: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub failed: i64,
    pub errors_stored: i32,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// Claims since the last chunk committed.
    pub attempts: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

keyed!(ImportRow);

impl Table for ImportRow {
    const TABLE: &'static str = "imports";
    const COLUMNS: &'static str = COLUMNS;
    const NOUN: &'static str = "import";
}

creation_order!(ImportSort, ImportRow);

impl ImportRow {
    /// Whether nothing more will happen to it.
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

/// How large a file may be, how many imports a tenant may queue and run, and how the
/// worker paces them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSettings {
    /// The largest file accepted; a larger one is a `413` before anything is stored.
    pub max_bytes: u64,
    /// Imports a tenant may have queued or running; one more is a `409`.
    pub max_pending: u32,
    /// Imports of one tenant running at once, across every worker.
    pub per_tenant: u32,
    /// Imports one worker process runs at once.
    pub concurrency: u32,
    /// Uploads one API process takes at once (each buffers a part of the file).
    pub uploads_at_once: u32,
    /// How long an upload may take.
    pub upload_timeout: Duration,
    /// Rows applied per transaction.
    pub chunk_rows: u32,
    /// Bytes of the file read per chunk at most; a row longer than this fails the file.
    pub chunk_bytes: u32,
    /// How long one chunk may take.
    pub chunk_timeout: Duration,
    /// A claim lasts this long unless a chunk renews it.
    pub lease: Duration,
    /// Claims without progress before the import fails (`abandoned`).
    pub max_attempts: u32,
    /// Row errors kept per import; past it only the count goes on.
    pub max_errors: u32,
    /// How often an idle worker looks for queued imports.
    pub poll_interval: Duration,
    /// How often the files of finished imports are deleted.
    pub purge_interval: Duration,
}

impl Default for ImportSettings {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1024 * 1024,
            max_pending: 5,
            per_tenant: 1,
            concurrency: 2,
            uploads_at_once: 4,
            upload_timeout: Duration::from_secs(900),
            chunk_rows: 500,
            chunk_bytes: 4 * 1024 * 1024,
            chunk_timeout: Duration::from_secs(120),
            lease: Duration::from_secs(60),
            max_attempts: 3,
            max_errors: 10_000,
            poll_interval: Duration::from_secs(1),
            purge_interval: Duration::from_secs(300),
        }
    }
}

/// What the API queues once the file is stored.
pub struct NewImport<'a> {
    pub id: Uuid,
    pub record_type: &'a str,
    pub format: &'a str,
    pub match_key: &'a str,
    pub columns: &'a Value,
    pub requested_by: Option<Uuid>,
    pub file_key: &'a str,
    pub size_bytes: u64,
    pub sha256: &'a [u8],
    /// Where the rows start (past a CSV header) and on which line.
    pub next_byte: u64,
    pub next_line: u64,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub async fn insert(tx: &mut TenantTx, import: &NewImport<'_>) -> AppResult<ImportRow> {
    let row = query_as(&format!(
        "INSERT INTO imports (tenant_id, id, record_type, format, match_key, columns, \
                              requested_by, file_key, size_bytes, sha256, next_byte, next_line) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {COLUMNS}"
    ))
    .bind(tx.tenant_id())
    .bind(import.id)
    .bind(import.record_type)
    .bind(import.format)
    .bind(import.match_key)
    .bind(import.columns)
    .bind(import.requested_by)
    .bind(import.file_key)
    .bind(to_i64(import.size_bytes))
    .bind(import.sha256)
    .bind(to_i64(import.next_byte))
    .bind(to_i64(import.next_line))
    .fetch_one(tx.conn())
    .await?;
    Ok(row)
}

/// The pinned tenant's imports that are queued or running.
pub async fn count_pending(tx: &mut TenantTx) -> AppResult<i64> {
    Ok(
        query_scalar("SELECT count(*) FROM imports WHERE status IN ('queued', 'running')")
            .fetch_one(tx.conn())
            .await?,
    )
}

/// The pinned tenant's import `id`.
pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<ImportRow> {
    record::get(tx, id).await
}

/// One page of the pinned tenant's imports.
pub async fn list(tx: &mut TenantTx, page: &Page<ImportSort>) -> AppResult<(Vec<ImportRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM imports WHERE true"));
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}

/// One row of a file that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportErrorRow {
    /// The error's place in the file: see [`error_id`].
    pub id: Uuid,
    pub line: i64,
    pub column_name: Option<String>,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

keyed!(ImportErrorRow);

/// The key of the `n`th error of the row starting on `line`: both packed into one UUID
/// that sorts as `(line, n)`, so errors page in file order and a chunk applied again
/// after a crash writes the very same keys.
pub fn error_id(line: u64, n: u16) -> Uuid {
    Uuid::from_u64_pair(line, u64::from(n))
}

/// The only order of an import's errors: their place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportErrorSort {
    Line,
}

impl SortKey for ImportErrorSort {
    type Row = ImportErrorRow;
    const ALL: &'static [Self] = &[Self::Line];

    fn name(self) -> &'static str {
        "line"
    }

    fn expr(self) -> &'static str {
        "id"
    }

    fn kind(self) -> ValueKind {
        ValueKind::Uuid
    }

    fn value_of(self, row: &ImportErrorRow) -> SortValue {
        SortValue::Uuid(row.id)
    }
}

/// One page of the errors of the pinned tenant's import `import_id`.
pub async fn errors(
    tx: &mut TenantTx,
    import_id: Uuid,
    page: &Page<ImportErrorSort>,
) -> AppResult<(Vec<ImportErrorRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT id, line, column_name, field, code, message FROM import_errors \
          WHERE import_id = ",
    );
    sql.push_bind(import_id);
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}

/// A row error to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImportError {
    pub line: u64,
    /// Which of the row's errors this is.
    pub n: u16,
    pub column: Option<String>,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

/// Keeps the errors of one chunk, in one statement.
pub async fn insert_errors(
    tx: &mut TenantTx,
    import_id: Uuid,
    errors: &[NewImportError],
) -> AppResult<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = errors.iter().map(|e| error_id(e.line, e.n)).collect();
    let lines: Vec<i64> = errors.iter().map(|e| to_i64(e.line)).collect();
    let columns: Vec<Option<&str>> = errors.iter().map(|e| e.column.as_deref()).collect();
    let fields: Vec<Option<&str>> = errors.iter().map(|e| e.field.as_deref()).collect();
    let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    query(
        "INSERT INTO import_errors (tenant_id, import_id, id, line, column_name, field, code, \
                                    message) \
         SELECT $1, $2, e.id, e.line, left(e.column_name, 200), left(e.field, 200), \
                left(e.code, 100), left(e.message, 1000) \
           FROM unnest($3::uuid[], $4::bigint[], $5::text[], $6::text[], $7::text[], \
                       $8::text[]) AS e (id, line, column_name, field, code, message)",
    )
    .bind(tx.tenant_id())
    .bind(import_id)
    .bind(&ids)
    .bind(&lines)
    .bind(&columns)
    .bind(&fields)
    .bind(&codes)
    .bind(&messages)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Claims up to `limit` imports of any tenant, never more than `per_tenant` running at
/// once for one tenant. `pool` must be the worker's role.
pub async fn claim(
    pool: &PgPool,
    limit: u32,
    lease: Duration,
    per_tenant: u32,
) -> Result<Vec<Claim>, sqlx::Error> {
    query_as("SELECT * FROM import_claim($1, make_interval(secs => $2::double precision), $3)")
        .bind(i32::try_from(limit).unwrap_or(i32::MAX))
        .bind(lease.as_secs_f64())
        .bind(i32::try_from(per_tenant).unwrap_or(i32::MAX))
        .fetch_all(autocommit(pool))
        .await
}

/// Locks the claimed import for the chunk that starts at `next_byte`, and renews the
/// claim's lease. `None` when the chunk must not be applied: the claim is no longer this
/// worker's (its lease ran out and another worker took the import, or it was
/// cancelled), or the chunk was already applied.
pub async fn lock_for_chunk(
    tx: &mut TenantTx,
    claim: &Claim,
    next_byte: u64,
    lease: Duration,
) -> AppResult<Option<ImportRow>> {
    Ok(query_as(&format!(
        "UPDATE imports SET lease_until = now() + make_interval(secs => $4), updated_at = now() \
          WHERE id = $1 AND claim_id = $2 AND status = 'running' AND next_byte = $3 \
         RETURNING {COLUMNS}"
    ))
    .bind(claim.id)
    .bind(claim.claim_id)
    .bind(to_i64(next_byte))
    .bind(lease.as_secs_f64())
    .fetch_optional(tx.conn())
    .await?)
}

/// What one chunk came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
}

impl Counts {
    pub fn rows(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.failed
    }

    pub fn add(&mut self, other: Counts) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
    }
}

/// Where a chunk left the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advance {
    pub next_byte: u64,
    pub next_line: u64,
    pub counts: Counts,
    pub errors_stored: u32,
    /// The file is read to its end: the import is completed.
    pub done: bool,
}

/// Moves the import locked by [`lock_for_chunk`] past a chunk, and completes it when
/// the chunk was the last. A chunk committed means progress: the attempts start again.
pub async fn advance(tx: &mut TenantTx, claim: &Claim, step: &Advance) -> AppResult<ImportRow> {
    let c = step.counts;
    Ok(query_as(&format!(
        "UPDATE imports SET next_byte = $3, next_line = $4, \
                rows_read = rows_read + $5, created = created + $6, updated = updated + $7, \
                unchanged = unchanged + $8, failed = failed + $9, \
                errors_stored = errors_stored + $10, attempts = 0, \
                status = CASE WHEN $11 THEN 'completed' ELSE status END, \
                claim_id = CASE WHEN $11 THEN NULL ELSE claim_id END, \
                lease_until = CASE WHEN $11 THEN NULL ELSE lease_until END, \
                completed_at = CASE WHEN $11 THEN now() ELSE completed_at END, \
                updated_at = now() \
          WHERE id = $1 AND claim_id = $2 AND status = 'running' RETURNING {COLUMNS}"
    ))
    .bind(claim.id)
    .bind(claim.claim_id)
    .bind(to_i64(step.next_byte))
    .bind(to_i64(step.next_line))
    .bind(to_i64(c.rows()))
    .bind(to_i64(c.created))
    .bind(to_i64(c.updated))
    .bind(to_i64(c.unchanged))
    .bind(to_i64(c.failed))
    .bind(i32::try_from(step.errors_stored).unwrap_or(i32::MAX))
    .bind(step.done)
    .fetch_one(tx.conn())
    .await?)
}

/// Marks the claimed import failed, with why; `None` when the claim is no longer this
/// worker's.
pub async fn fail(
    tx: &mut TenantTx,
    claim: &Claim,
    code: &str,
    message: &str,
) -> AppResult<Option<ImportRow>> {
    Ok(query_as(&format!(
        "UPDATE imports SET status = 'failed', claim_id = NULL, lease_until = NULL, \
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

/// Gives the claimed import back to the queue without counting the attempt: the worker
/// is stopping, not the import failing. Its progress stays: the next claim goes on
/// from `next_byte`.
pub async fn release(tx: &mut TenantTx, claim: &Claim) -> AppResult<bool> {
    let released = query_scalar::<Uuid>(
        "UPDATE imports SET status = 'queued', claim_id = NULL, lease_until = NULL, \
                attempts = greatest(attempts - 1, 0), updated_at = now() \
          WHERE id = $1 AND claim_id = $2 AND status = 'running' RETURNING id",
    )
    .bind(claim.id)
    .bind(claim.claim_id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(released.is_some())
}

/// Cancels the pinned tenant's import `id` if it is queued or running; `None` when it
/// was already over. A chunk in progress holds the row, so this waits for it: the
/// chunk is kept, and the worker stops before the next.
pub async fn cancel(tx: &mut TenantTx, id: Uuid) -> AppResult<Option<ImportRow>> {
    Ok(query_as(&format!(
        "UPDATE imports SET status = 'cancelled', claim_id = NULL, lease_until = NULL, \
                completed_at = now(), updated_at = now() \
          WHERE id = $1 AND status IN ('queued', 'running') RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

/// Up to `limit` files of finished imports of any tenant, oldest first. `pool` must be
/// the worker's role.
pub async fn spent_files(pool: &PgPool, limit: u32) -> Result<Vec<StoredFile>, sqlx::Error> {
    query_as("SELECT * FROM import_spent_files($1)")
        .bind(i32::try_from(limit).unwrap_or(i32::MAX))
        .fetch_all(autocommit(pool))
        .await
}

/// Forgets the pinned tenant's finished import's file once it is deleted; false when
/// it no longer named that file.
pub async fn forget_file(tx: &mut TenantTx, id: Uuid, file_key: &str) -> AppResult<bool> {
    let forgotten = query_scalar::<Uuid>(
        "UPDATE imports SET file_key = NULL, updated_at = now() \
          WHERE id = $1 AND file_key = $2 \
            AND status IN ('completed', 'failed', 'cancelled') RETURNING id",
    )
    .bind(id)
    .bind(file_key)
    .fetch_optional(tx.conn())
    .await?;
    Ok(forgotten.is_some())
}
