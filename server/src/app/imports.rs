//! Imports: a tenant's file of contacts, companies or leads, applied row by row with the
//! rules of the batch upsert, in chunks, by the worker.
//!
//! The API checks the request (the scopes, the column mapping against the tenant's
//! fields), streams the file into the blob store (never more than the size limit) and
//! queues the import. The worker ([`run`]) claims queued imports across tenants and reads
//! each file from where its last committed chunk ended. One chunk (up to `chunk_rows`
//! rows) is one tenant transaction: it locks the import (only while the claim is still
//! this worker's and the import still starts where the worker read from), applies every
//! row inside its own savepoint (a refused row is rolled back alone and kept as a row
//! error), records the rows' own events, keeps the errors and moves the offset and the
//! counts on. A worker that dies mid-chunk leaves nothing of the chunk; the next claim
//! reads the same bytes again. So no row is applied twice and none is skipped, however
//! often a worker dies. The import ends `completed` (with `import.completed`) when the
//! file is read, `cancelled` when a cancel came between two chunks, or `failed` when the
//! file itself cannot be read (a missing file, a row longer than a chunk may be, or a
//! worker lost on the same chunk `max_attempts` times).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde_json::{Map, Value};
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use super::batch::{self, Companies, Contacts, Outcome, Upsert};
use super::page::{listed, Listed, PageRequest};
use super::View;
use crate::auth::{Principal, Scope};
use crate::blob::{Blobs, Key};
use crate::db::companies::CompanyRow;
use crate::db::contacts::ContactRow;
use crate::db::imports::{self as repo, Advance, Claim, Counts, NewImportError, StoredFile};
pub use crate::db::imports::{
    ImportErrorRow, ImportErrorSort, ImportRow, ImportSettings, ImportSort,
};
use crate::db::leads::LeadRow;
use crate::db::periodic::Job;
use crate::db::{audit, TenantTx};
use crate::domain::company::CompanyPatch;
use crate::domain::contact::ContactPatch;
use crate::domain::custom_field::FieldType;
use crate::domain::export::FileFormat;
use crate::domain::import::{self as parse, CellKind, Row, RowError, Target};
use crate::domain::lead::LeadInput;
use crate::domain::record::RecordType;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::events::{self, EventType};
use crate::state::AppState;

/// What the worker needs of the API's wire types: the records as events carry them,
/// and a row of the file read as the create body of its record type. The API layer
/// implements it (`api::imports::Wire`), so this layer never depends on HTTP types.
pub trait Wire: Send + Sync + 'static {
    type Contact: View<ContactRow> + Sync;
    type Company: View<CompanyRow> + Sync;
    type Lead: View<LeadRow> + Sync;

    /// The import as the API returns it.
    fn import(row: ImportRow) -> Value;
    /// The fields a row may set: the create body's, with the type of their cells.
    fn writable(t: RecordType) -> &'static [(&'static str, CellKind)];
    /// The fields of the record as the API returns it that a row may carry but that
    /// are not written (`created_at`, …): an export imports back as it is.
    fn read_only(t: RecordType) -> &'static [&'static str];
    fn contact(row: Map<String, Value>) -> Result<ContactPatch, Vec<FieldError>>;
    fn company(row: Map<String, Value>) -> Result<CompanyPatch, Vec<FieldError>>;
    /// A lead's create body, and its custom field values.
    fn lead(row: Map<String, Value>) -> Result<(LeadInput, Map<String, Value>), Vec<FieldError>>;
}

/// What the worker needs.
#[derive(Clone)]
pub struct Jobs {
    /// The worker's role.
    pub pool: sqlx::PgPool,
    pub blobs: Blobs,
    pub settings: ImportSettings,
    /// Where imports are counted, when the process serves metrics.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Claims and runs imports until `stopped` turns true, `concurrency` of the settings at
/// once in this process. On stop, the runs in flight abandon the chunk in progress
/// (rolled back whole) and give their imports back; the next claim goes on from the
/// last chunk committed.
pub async fn run<W: Wire>(jobs: Jobs, stopped: watch::Receiver<bool>) {
    let jobs = Arc::new(jobs);
    let settings = jobs.settings.clone();
    let pool = jobs.pool.clone();
    super::jobs::claim_loop(
        "imports",
        settings.concurrency,
        settings.poll_interval,
        stopped,
        |limit| repo::claim(&pool, limit, settings.lease, settings.per_tenant),
        |claim, stopped| {
            let jobs = Arc::clone(&jobs);
            async move { run_one::<W>(&jobs, claim, stopped).await }
        },
    )
    .await;
}

/// How one run ended.
pub enum Ended {
    Completed(ImportRow),
    Failed(ImportRow),
    /// The claim was lost (a cancel, or another worker holds the import now), or the
    /// worker stopped and gave it back.
    Gone,
}

async fn run_one<W: Wire>(jobs: &Jobs, claim: Claim, stopped: watch::Receiver<bool>) {
    let span = tracing::info_span!("import", import.id = %claim.id, tenant.id = %claim.tenant_id,
                                   attempt = claim.attempts);
    let started = Instant::now();
    let ended = run_claimed::<W>(jobs, &claim, stopped)
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    if let Some(metrics) = &jobs.metrics {
        match &ended {
            Ok(Ended::Completed(_)) => metrics.import_finished(true),
            Ok(Ended::Failed(_)) => metrics.import_finished(false),
            _ => {}
        }
    }
    match ended {
        Ok(Ended::Completed(row)) => tracing::info!(
            rows = row.rows_read,
            created = row.created,
            updated = row.updated,
            failed = row.failed,
            seconds = started.elapsed().as_secs_f64(),
            "import completed"
        ),
        Ok(Ended::Failed(row)) => tracing::warn!(
            code = row.error_code.as_deref().unwrap_or(""),
            "import failed"
        ),
        Ok(Ended::Gone) => {}
        Err(err) => tracing::warn!(error = %err, "could not record how an import ended"),
    }
}

/// Runs a claimed import to its end, or until `stopped` (then it goes back to the
/// queue, its progress kept).
pub async fn run_claimed<W: Wire>(
    jobs: &Jobs,
    claim: &Claim,
    mut stopped: watch::Receiver<bool>,
) -> Result<Ended, AppError> {
    if u32::try_from(claim.attempts).unwrap_or(u32::MAX) > jobs.settings.max_attempts {
        return fail::<W>(
            jobs,
            claim,
            "abandoned",
            "the import stopped its worker on the same rows on every attempt",
        )
        .await;
    }
    let outcome = tokio::select! {
        outcome = process::<W>(jobs, claim, None) => Some(outcome),
        _ = stopped.wait_for(|s| *s) => None,
    };
    match outcome {
        Some(Ok(ended)) => Ok(ended),
        Some(Err(Failure::Import(code, message))) => fail::<W>(jobs, claim, code, &message).await,
        Some(Err(Failure::Worker(err))) => {
            // The worker's trouble (the database, the store), not the file's: the lease
            // runs out and the import goes on from its last chunk.
            tracing::warn!(error = %err, "an import run stopped; it goes on once its lease runs out");
            Ok(Ended::Gone)
        }
        None => {
            let mut tx = TenantTx::begin(&jobs.pool, claim.tenant_id).await?;
            repo::release(&mut tx, claim).await?;
            tx.commit().await?;
            Ok(Ended::Gone)
        }
    }
}

/// Why a run did not complete.
pub enum Failure {
    /// The file cannot be imported: the import fails at once.
    Import(&'static str, String),
    /// The worker could not go on (the database, the store): tried again later.
    Worker(AppError),
}

impl From<AppError> for Failure {
    fn from(err: AppError) -> Self {
        Self::Worker(err)
    }
}

async fn fail<W: Wire>(
    jobs: &Jobs,
    claim: &Claim,
    code: &'static str,
    message: &str,
) -> Result<Ended, AppError> {
    let mut tx = TenantTx::begin(&jobs.pool, claim.tenant_id).await?;
    let Some(row) = repo::fail(&mut tx, claim, code, message).await? else {
        return Ok(Ended::Gone);
    };
    events::emit(&mut tx, EventType::ImportFailed, &W::import(row.clone())).await?;
    tx.commit().await?;
    Ok(Ended::Failed(row))
}

/// What every chunk of one import needs to read its rows.
struct Layout {
    record_type: RecordType,
    csv: bool,
    by_id: bool,
    /// CSV: one target per header column.
    targets: Vec<Target>,
    /// NDJSON: the keys a line may hold, and whether each is written.
    keys: HashMap<String, bool>,
    owner: Option<Uuid>,
}

impl Layout {
    fn of<W: Wire>(row: &ImportRow, custom: &[(String, FieldType)]) -> Result<Self, Failure> {
        let record_type = RecordType::parse(&row.record_type)
            .ok_or_else(|| Failure::Worker(AppError::Internal(anyhow::anyhow!("record type"))))?;
        let kinds: HashMap<&str, CellKind> = W::writable(record_type).iter().copied().collect();
        let mut targets = Vec::new();
        if let Value::Array(columns) = &row.columns {
            for column in columns {
                let name = column.get("column").and_then(Value::as_str).unwrap_or("");
                let field = column.get("field").and_then(Value::as_str);
                let kind = match field {
                    Some("id") => CellKind::Uuid,
                    Some(f) => match f.strip_prefix("custom_fields.") {
                        Some(key) => custom
                            .iter()
                            .find(|(k, _)| k == key)
                            .map_or(CellKind::Text, |(_, t)| cell_kind(*t)),
                        None => kinds.get(f).copied().unwrap_or(CellKind::Text),
                    },
                    None => CellKind::Text,
                };
                targets.push(Target {
                    column: name.to_owned(),
                    field: field.map(str::to_owned),
                    kind,
                });
            }
        }
        let mut keys: HashMap<String, bool> =
            kinds.keys().map(|k| ((*k).to_owned(), true)).collect();
        for k in W::read_only(record_type) {
            keys.entry((*k).to_owned()).or_insert(false);
        }
        // An NDJSON line holds its custom fields as the API does, in one object.
        keys.insert("custom_fields".to_owned(), true);
        let by_id = row.match_key == "id";
        keys.insert("id".to_owned(), by_id);
        Ok(Self {
            record_type,
            csv: row.format == "csv",
            by_id,
            targets,
            keys,
            owner: row.requested_by,
        })
    }

    /// A row of the file as a create body (its `id` apart), or its line and why it is
    /// not one.
    fn object(&self, row: Row<RowCells>) -> Result<Parsed, (u64, Vec<RowError>)> {
        let line = row.line;
        let object = match row.value {
            Err(err) => Err(vec![err]),
            Ok(RowCells::Csv(cells)) => parse::csv_object(&self.targets, &cells),
            Ok(RowCells::Json(map)) => self.json_object(map),
        };
        let keyed = object.and_then(|mut map| {
            let id = match map.remove("id") {
                Some(Value::String(s)) if self.by_id => match Uuid::parse_str(s.trim()) {
                    Ok(id) => Some(id),
                    Err(_) => {
                        return Err(vec![field_error(self, "id", "invalid", "must be a UUID")])
                    }
                },
                Some(Value::Null) | None => None,
                Some(_) if self.by_id => {
                    return Err(vec![field_error(self, "id", "invalid", "must be a UUID")])
                }
                Some(_) => None,
            };
            Ok(Parsed {
                line,
                id,
                fields: map,
            })
        });
        keyed.map_err(|errors| (line, errors))
    }

    /// An NDJSON line without the fields that are not written; a key the record type
    /// does not have at all is the row's error.
    fn json_object(&self, map: Map<String, Value>) -> Result<Map<String, Value>, Vec<RowError>> {
        let mut out = Map::new();
        let mut errors = Vec::new();
        for (key, value) in map {
            match self.keys.get(&key) {
                Some(true) => {
                    out.insert(key, value);
                }
                Some(false) => {}
                None => errors.push(RowError {
                    column: None,
                    field: Some(key),
                    code: "unknown_field",
                    message: format!("the {} has no such field", self.record_type.as_str()),
                }),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// The CSV column a field came from, for an error.
    fn column_of(&self, field: &str) -> Option<String> {
        self.targets
            .iter()
            .find(|t| t.field.as_deref() == Some(field))
            .map(|t| t.column.clone())
    }
}

fn field_error(layout: &Layout, field: &str, code: &'static str, message: &str) -> RowError {
    RowError {
        column: layout.column_of(field),
        field: Some(field.to_owned()),
        code,
        message: message.to_owned(),
    }
}

/// How a custom field's cells are read.
fn cell_kind(t: FieldType) -> CellKind {
    match t {
        FieldType::Number => CellKind::Number,
        FieldType::Boolean => CellKind::Boolean,
        FieldType::MultiSelect => CellKind::List,
        _ => CellKind::Text,
    }
}

/// A row of the file read as a create body: where it starts, the record it names when
/// rows match by id, and its fields.
struct Parsed {
    line: u64,
    id: Option<Uuid>,
    fields: Map<String, Value>,
}

/// How a row's fields become a resource's batch item.
type ItemOf<U> = fn(Map<String, Value>) -> Result<<U as Upsert>::Item, Vec<FieldError>>;

/// A row on its way through the batch: where it starts, the id it names, its item.
struct Pass<I> {
    line: u64,
    id: Option<Uuid>,
    item: Result<I, AppError>,
}

/// One parsed row of either format.
enum RowCells {
    Csv(Vec<String>),
    Json(Map<String, Value>),
}

/// Reads the claimed import's file from where it stands and applies it chunk by chunk.
/// `chunks` stops it after that many chunks (tests: a worker that dies mid-file).
pub async fn process<W: Wire>(
    jobs: &Jobs,
    claim: &Claim,
    chunks: Option<usize>,
) -> Result<Ended, Failure> {
    let settings = &jobs.settings;
    let (row, custom) = {
        let mut tx = TenantTx::begin(&jobs.pool, claim.tenant_id).await?;
        let row = repo::get(&mut tx, claim.id).await?;
        let custom: Vec<(String, FieldType)> =
            crate::db::custom_fields::for_type(&mut tx, &row.record_type)
                .await?
                .into_iter()
                .map(|d| (d.key, d.field_type))
                .collect();
        tx.end_read();
        (row, custom)
    };
    let layout = Layout::of::<W>(&row, &custom)?;
    let size = u64::try_from(row.size_bytes).unwrap_or(0);
    let mut offset = u64::try_from(row.next_byte).unwrap_or(0);
    let mut line = u64::try_from(row.next_line).unwrap_or(1);
    let mut errors_stored = u32::try_from(row.errors_stored).unwrap_or(0);
    let missing = || {
        Failure::Import(
            "file_missing",
            "the uploaded file is no longer stored".into(),
        )
    };
    let key = row
        .file_key
        .as_deref()
        .and_then(|k| Key::parse(k).ok())
        .ok_or_else(missing)?;
    let store =
        |e: anyhow::Error| Failure::Worker(AppError::Unavailable(e.context("the file store")));

    let mut body = if offset < size {
        Some(
            jobs.blobs
                .reader_from(&key, offset)
                .await
                .map_err(store)?
                .ok_or_else(missing)?
                .body,
        )
    } else {
        None
    };
    let window_max = usize::try_from(settings.chunk_bytes).unwrap_or(usize::MAX);
    let max_rows = usize::try_from(settings.chunk_rows).unwrap_or(1).max(1);
    let mut buf: Vec<u8> = Vec::new();
    let mut eof = body.is_none();
    let mut done_chunks = 0;
    loop {
        while !eof && buf.len() < window_max {
            match body.as_mut() {
                Some(stream) => match stream.next().await {
                    Some(Ok(bytes)) => buf.extend_from_slice(&bytes),
                    Some(Err(e)) => return Err(store(e.into())),
                    None => eof = true,
                },
                None => eof = true,
            }
        }
        if eof && offset + buf.len() as u64 != size {
            return Err(Failure::Import(
                "file_changed",
                "the stored file is not the one uploaded".into(),
            ));
        }
        let (rows, consumed, lines) = if layout.csv {
            let split = parse::split_csv(&buf, line, eof, layout.targets.len(), max_rows);
            let rows = split
                .rows
                .into_iter()
                .map(|r| Row {
                    line: r.line,
                    value: r.value.map(RowCells::Csv),
                })
                .collect::<Vec<_>>();
            (rows, split.consumed, split.lines)
        } else {
            let split = parse::split_ndjson(&buf, line, eof, max_rows);
            let rows = split
                .rows
                .into_iter()
                .map(|r| Row {
                    line: r.line,
                    value: r.value.map(RowCells::Json),
                })
                .collect::<Vec<_>>();
            (rows, split.consumed, split.lines)
        };
        if consumed == 0 && !eof {
            return Err(Failure::Import(
                "row_too_long",
                format!(
                    "the row on line {line} is longer than {} bytes, or a quoted cell is \
                     never closed",
                    settings.chunk_bytes
                ),
            ));
        }
        let last = eof && consumed == buf.len();
        let step = Step {
            start: offset,
            end: offset + consumed as u64,
            next_line: line + lines,
            last,
            errors_stored,
        };
        let Some(row) = chunk::<W>(jobs, claim, &layout, rows, &step).await? else {
            return Ok(Ended::Gone);
        };
        errors_stored = u32::try_from(row.errors_stored).unwrap_or(u32::MAX);
        buf.drain(..consumed);
        offset = step.end;
        line = step.next_line;
        if last {
            forget_file(jobs, claim.tenant_id, &row).await;
            return Ok(Ended::Completed(row));
        }
        done_chunks += 1;
        if chunks.is_some_and(|n| done_chunks >= n) {
            return Ok(Ended::Gone);
        }
    }
}

/// Where a chunk lies in the file.
struct Step {
    start: u64,
    end: u64,
    next_line: u64,
    last: bool,
    errors_stored: u32,
}

/// Applies one chunk of rows in one transaction with the import's progress; `None`
/// when the import is no longer this claim's to move on.
async fn chunk<W: Wire>(
    jobs: &Jobs,
    claim: &Claim,
    layout: &Layout,
    rows: Vec<Row<RowCells>>,
    step: &Step,
) -> Result<Option<ImportRow>, AppError> {
    let settings = &jobs.settings;
    let mut tx = TenantTx::begin(&jobs.pool, claim.tenant_id).await?;
    if repo::lock_for_chunk(&mut tx, claim, step.start, settings.lease)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let mut counts = Counts::default();
    let mut errors: Vec<NewImportError> = Vec::new();
    let mut good: Vec<Parsed> = Vec::new();
    for row in rows {
        match layout.object(row) {
            Ok(parsed) => good.push(parsed),
            Err((line, row_errors)) => {
                counts.failed += 1;
                push_errors(&mut errors, line, row_errors);
            }
        }
    }
    let outcomes = match layout.record_type {
        RecordType::Contact => {
            apply::<Contacts, W::Contact>(&mut tx, layout, good, W::contact).await?
        }
        RecordType::Company => {
            apply::<Companies, W::Company>(&mut tx, layout, good, W::company).await?
        }
        RecordType::Lead => apply_leads::<W>(&mut tx, layout, good).await?,
        RecordType::Activity => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "activities are not imported"
            )))
        }
    };
    for (line, outcome) in outcomes {
        match outcome {
            Done::Created => counts.created += 1,
            Done::Updated => counts.updated += 1,
            Done::Unchanged => counts.unchanged += 1,
            Done::Failed(errs) => {
                counts.failed += 1;
                push_errors(&mut errors, line, errs);
            }
        }
    }
    let room = settings.max_errors.saturating_sub(step.errors_stored) as usize;
    errors.sort_by_key(|e| (e.line, e.n));
    errors.truncate(room);
    repo::insert_errors(&mut tx, claim.id, &errors).await?;
    let row = repo::advance(
        &mut tx,
        claim,
        &Advance {
            next_byte: step.end,
            next_line: step.next_line,
            counts,
            errors_stored: u32::try_from(errors.len()).unwrap_or(u32::MAX),
            done: step.last,
        },
    )
    .await?;
    if step.last {
        events::emit(&mut tx, EventType::ImportCompleted, &W::import(row.clone())).await?;
    }
    tx.commit().await?;
    if let Some(metrics) = &jobs.metrics {
        metrics.import_rows(&[
            ("created", counts.created),
            ("updated", counts.updated),
            ("unchanged", counts.unchanged),
            ("failed", counts.failed),
        ]);
    }
    Ok(Some(row))
}

fn push_errors(errors: &mut Vec<NewImportError>, line: u64, row_errors: Vec<RowError>) {
    for (n, e) in row_errors.into_iter().enumerate() {
        errors.push(NewImportError {
            line,
            n: u16::try_from(n).unwrap_or(u16::MAX),
            column: e.column,
            field: e.field,
            code: e.code.to_owned(),
            message: e.message,
        });
    }
}

/// What became of one row.
enum Done {
    Created,
    Updated,
    Unchanged,
    Failed(Vec<RowError>),
}

/// A refused row's errors, each naming its field and the CSV column it came from.
fn row_errors(layout: &Layout, err: &AppError) -> Vec<RowError> {
    let details = err.details();
    if details.is_empty() {
        return vec![RowError {
            column: None,
            field: None,
            code: err.code().as_str(),
            message: err.to_string(),
        }];
    }
    details
        .iter()
        .map(|d| RowError {
            column: layout.column_of(&d.field),
            field: Some(d.field.clone()).filter(|f| !f.is_empty()),
            code: d.code,
            message: d.message.clone(),
        })
        .collect()
}

/// Applies contacts or companies with the batch upsert's rules, by natural key or by
/// id. A key repeated within the chunk is applied in a later pass of the same
/// transaction, so repeats apply in file order.
async fn apply<U: Upsert, V: View<U::Row> + Sync>(
    tx: &mut TenantTx,
    layout: &Layout,
    rows: Vec<Parsed>,
    item: ItemOf<U>,
) -> Result<Vec<(u64, Done)>, AppError> {
    let mut done = Vec::with_capacity(rows.len());
    let mut pass: Vec<Pass<U::Item>> = rows
        .into_iter()
        .map(|row| Pass {
            line: row.line,
            id: row.id,
            item: item(row.fields).map_err(AppError::Validation),
        })
        .collect();
    while !pass.is_empty() {
        let kept: Vec<Pass<U::Item>> = pass
            .iter()
            .map(|p| Pass {
                line: p.line,
                id: p.id,
                item: clone_item::<U>(&p.item),
            })
            .collect();
        let outcomes: Vec<Outcome<V>> = if layout.by_id {
            let items = pass.into_iter().map(|p| (p.id, p.item)).collect();
            batch::run_by_id_in::<U, V>(tx, layout.owner, items).await?
        } else {
            let items = pass.into_iter().map(|p| p.item).collect();
            batch::run_in::<U, V>(tx, layout.owner, items).await?
        };
        let mut again = Vec::new();
        for (outcome, p) in outcomes.into_iter().zip(kept) {
            let result = match outcome {
                Outcome::Created(_) => Done::Created,
                Outcome::Updated(_) => Done::Updated,
                Outcome::Unchanged(_) => Done::Unchanged,
                Outcome::Failed(err) => Done::Failed(row_errors(layout, &err)),
                Outcome::Repeated { .. } => {
                    again.push(p);
                    continue;
                }
            };
            done.push((p.line, result));
        }
        pass = again;
    }
    done.sort_by_key(|(line, _)| *line);
    Ok(done)
}

fn clone_item<U: Upsert>(item: &Result<U::Item, AppError>) -> Result<U::Item, AppError> {
    match item {
        Ok(item) => Ok(item.clone()),
        Err(AppError::Validation(details)) => Err(AppError::Validation(details.clone())),
        Err(other) => Err(AppError::Internal(anyhow::anyhow!("{other}"))),
    }
}

/// Applies leads one by one, each in its own savepoint (as a batch item).
async fn apply_leads<W: Wire>(
    tx: &mut TenantTx,
    layout: &Layout,
    rows: Vec<Parsed>,
) -> Result<Vec<(u64, Done)>, AppError> {
    let mut done = Vec::with_capacity(rows.len());
    for Parsed { line, id, fields } in rows {
        let (input, values) = match W::lead(fields) {
            Ok(parsed) => parsed,
            Err(details) => {
                let err = AppError::Validation(details);
                done.push((line, Done::Failed(row_errors(layout, &err))));
                continue;
            }
        };
        tx.savepoint().await?;
        let applied = super::leads::import_in::<W::Lead>(tx, layout.owner, id, input, values).await;
        let result = match applied {
            Ok(outcome) => {
                tx.release_savepoint().await?;
                match outcome {
                    Outcome::Created(_) => Done::Created,
                    Outcome::Updated(_) => Done::Updated,
                    _ => Done::Unchanged,
                }
            }
            Err(err) if batch::is_item_error(&err) => {
                tx.rollback_to_savepoint().await?;
                Done::Failed(row_errors(layout, &err))
            }
            Err(err) => return Err(err),
        };
        done.push((line, result));
    }
    Ok(done)
}

/// Deletes a finished import's file and forgets it; the purge does it later when this
/// cannot (the file is kept until then, never forgotten first).
async fn forget_file(jobs: &Jobs, tenant_id: Uuid, row: &ImportRow) {
    let Some(name) = row.file_key.as_deref() else {
        return;
    };
    let Ok(key) = Key::parse(name) else {
        return;
    };
    if let Err(e) = jobs.blobs.delete(&key).await {
        tracing::warn!(error = %e, "could not delete an import's file; the purge will");
        return;
    }
    let forgotten = async {
        let mut tx = TenantTx::begin(&jobs.pool, tenant_id).await?;
        repo::forget_file(&mut tx, row.id, name).await?;
        tx.commit().await
    };
    if let Err(e) = forgotten.await {
        tracing::warn!(error = %e, "could not forget an import's deleted file");
    }
}

/// Deletes the files of finished imports every `purge_interval`, across every process
/// that runs the worker, until `stopped` turns true: what a worker could not delete
/// when the import ended (a cancel, a failure, a crash in between).
pub async fn purge(jobs: Jobs, stopped: watch::Receiver<bool>) {
    super::jobs::periodically(
        jobs.pool.clone(),
        Job::ImportPurge,
        jobs.settings.purge_interval,
        stopped,
        || purge_spent(&jobs),
        |n| tracing::info!(deleted = n, "deleted the files of finished imports"),
    )
    .await;
}

/// Finished imports' files: deleted, then forgotten.
struct Finished;

impl super::jobs::Spent for Finished {
    const WHAT: &'static str = "a finished import's file";

    async fn list(pool: &sqlx::PgPool, limit: u32) -> Result<Vec<StoredFile>, sqlx::Error> {
        repo::spent_files(pool, limit).await
    }

    async fn forget(tx: &mut TenantTx, id: Uuid, key: &str) -> Result<bool, AppError> {
        repo::forget_file(tx, id, key).await
    }
}

/// Deletes the file of every finished import, then forgets it; how many.
pub async fn purge_spent(jobs: &Jobs) -> Result<u64, sqlx::Error> {
    super::jobs::delete_files::<Finished>(&jobs.pool, &jobs.blobs).await
}

/// How rows find the records they update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKey {
    Email,
    Domain,
    Id,
}

impl MatchKey {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Domain => "domain",
            Self::Id => "id",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Email, Self::Domain, Self::Id]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// The record type's natural key, and the default.
    fn natural(t: RecordType) -> Self {
        match t {
            RecordType::Contact => Self::Email,
            RecordType::Company => Self::Domain,
            _ => Self::Id,
        }
    }
}

/// What an upload asks for.
#[derive(Debug, Clone)]
pub struct ImportSpec {
    pub record_type: RecordType,
    pub format: crate::domain::export::FileFormat,
    pub match_key: Option<MatchKey>,
    /// CSV: `(header, field)`; an empty field ignores the column.
    pub columns: Vec<(String, String)>,
}

/// The bytes of a CSV file read to find its header.
const HEAD_BYTES: usize = 64 * 1024;

fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, code, message)
}

fn missing_scope(scope: Scope) -> AppError {
    AppError::Forbidden {
        message: format!(
            "importing these records needs `{}` as well as `imports:write`",
            scope.as_str()
        ),
        details: vec![FieldError::new(
            "scope",
            "missing_scope",
            format!("the credential lacks `{}`", scope.as_str()),
        )],
    }
}

fn too_many(max_pending: u32) -> AppError {
    AppError::Conflict {
        message: format!(
            "this tenant already has {max_pending} imports queued or running; wait for one \
             to finish"
        ),
        details: vec![FieldError::new(
            "tenant",
            "too_many_imports",
            format!("at most {max_pending} imports may be queued or running at once"),
        )],
    }
}

/// The spec's own rules, before anything is read.
fn check_spec(spec: &ImportSpec) -> Result<MatchKey, AppError> {
    let t = spec.record_type;
    let key = spec.match_key.unwrap_or(MatchKey::natural(t));
    let mut errors = Vec::new();
    if key != MatchKey::Id && key != MatchKey::natural(t) {
        let allowed = match t {
            RecordType::Contact => "contacts are matched by `email` or `id`",
            RecordType::Company => "companies are matched by `domain` or `id`",
            _ => "leads are matched by `id`",
        };
        errors.push(invalid("match_key", "not_applicable", allowed));
    }
    if spec.format == FileFormat::Ndjson && !spec.columns.is_empty() {
        errors.push(invalid(
            "column",
            "not_applicable",
            "an NDJSON file names its fields itself; `column` maps CSV columns",
        ));
    }
    if errors.is_empty() {
        Ok(key)
    } else {
        Err(AppError::Validation(errors))
    }
}

/// The field each column of a CSV header writes: the one `column` maps it to, else
/// the one it names; the read-only fields of an export are ignored, anything else is
/// refused, naming the column.
fn resolve_columns<W: Wire>(
    t: RecordType,
    header: &[String],
    mapping: &[(String, String)],
    custom_keys: &[String],
    key: MatchKey,
) -> Result<Vec<(String, Option<String>)>, Vec<FieldError>> {
    let writable = W::writable(t);
    let read_only = W::read_only(t);
    let known = |field: &str| {
        (field == "id" && key == MatchKey::Id)
            || writable.iter().any(|(w, _)| *w == field)
            || field
                .strip_prefix("custom_fields.")
                .is_some_and(|k| custom_keys.iter().any(|c| c == k))
    };
    let mut errors = Vec::new();
    for (column, field) in mapping {
        if !header.contains(column) {
            errors.push(invalid(
                "column",
                "column_missing",
                format!("the file's header has no column `{column}`"),
            ));
        }
        if !field.is_empty() && !known(field) {
            let code = if field.starts_with("custom_fields.") {
                "unknown_custom_field"
            } else {
                "unknown_field"
            };
            errors.push(invalid(
                "column",
                code,
                format!("a {} has no writable field `{field}`", t.as_str()),
            ));
        }
    }
    let mut resolved = Vec::with_capacity(header.len());
    for column in header {
        let mapped = mapping.iter().rev().find(|(c, _)| c == column);
        let field = match mapped {
            Some((_, field)) if field.is_empty() => None,
            Some((_, field)) => Some(field.clone()),
            None if known(column) => Some(column.clone()),
            None if column == "id" || read_only.contains(&column.as_str()) => None,
            None => {
                let code = if column.starts_with("custom_fields.") {
                    "unknown_custom_field"
                } else {
                    "unknown_column"
                };
                errors.push(invalid(
                    "column",
                    code,
                    format!(
                        "the column `{column}` names no writable field of a {}: map it with \
                         `column={column}:<field>`, or ignore it with `column={column}:`",
                        t.as_str()
                    ),
                ));
                None
            }
        };
        resolved.push((column.clone(), field));
    }
    let mut seen = std::collections::HashSet::new();
    for (_, field) in &resolved {
        if let Some(field) = field {
            if !seen.insert(field.as_str()) {
                errors.push(invalid(
                    "column",
                    "duplicate_field",
                    format!("two columns write `{field}`"),
                ));
            }
        }
    }
    if key == MatchKey::Id && !seen.contains("id") {
        errors.push(invalid(
            "column",
            "required",
            "matching by `id` needs an `id` column",
        ));
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

/// Stores the uploaded file (never more than `max_bytes` of it) and queues its import.
/// The spec, the scopes and the tenant's queue are checked before a byte is read; a
/// CSV header that does not fit is refused once the file is in, and the file deleted.
pub async fn create<W: Wire>(
    state: &AppState,
    actor: &Principal,
    spec: ImportSpec,
    body: impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send,
) -> Result<ImportRow, AppError> {
    let key = check_spec(&spec)?;
    let t = spec.record_type;
    let scope = Scope::write_of(t);
    if !actor.has(scope) {
        return Err(missing_scope(scope));
    }
    let settings = &state.imports;
    let custom_keys: Vec<String> = {
        let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
        if repo::count_pending(&mut tx).await? >= i64::from(settings.max_pending) {
            return Err(too_many(settings.max_pending));
        }
        let keys = crate::db::custom_fields::for_type(&mut tx, t.as_str())
            .await?
            .into_iter()
            .map(|d| d.key)
            .collect();
        tx.end_read();
        keys
    };
    let Ok(_permit) = Arc::clone(&state.uploads).try_acquire_owned() else {
        return Err(AppError::Unavailable(anyhow::anyhow!(
            "every upload slot of this process is taken"
        )));
    };

    let id = Uuid::now_v7();
    let file_key = Key::new([
        "imports".to_owned(),
        actor.tenant_id.to_string(),
        format!("{id}.{}", spec.format.extension()),
    ])
    .map_err(|e| AppError::Internal(e.into()))?;
    let stored = store(state, &file_key, body).await?;
    let queued = async {
        let (columns, next_byte, next_line) = match spec.format {
            FileFormat::Ndjson => (Value::Array(Vec::new()), 0, 1),
            FileFormat::Csv => {
                let at_eof = stored.size <= HEAD_BYTES as u64;
                let header = parse::read_header(&stored.head, at_eof).map_err(|e| {
                    AppError::Validation(vec![invalid("body", e.code(), e.message())])
                })?;
                let columns =
                    resolve_columns::<W>(t, &header.columns, &spec.columns, &custom_keys, key)
                        .map_err(AppError::Validation)?;
                let columns = columns
                    .into_iter()
                    .map(|(column, field)| serde_json::json!({"column": column, "field": field}))
                    .collect();
                (Value::Array(columns), header.end_byte, 1 + header.lines)
            }
        };
        let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
        // Checked again now the file is in: another upload may have been queued since.
        if repo::count_pending(&mut tx).await? >= i64::from(settings.max_pending) {
            return Err(too_many(settings.max_pending));
        }
        let name = file_key.to_string();
        let row = repo::insert(
            &mut tx,
            &repo::NewImport {
                id,
                record_type: t.as_str(),
                format: spec.format.as_str(),
                match_key: key.as_str(),
                columns: &columns,
                requested_by: actor.user_id,
                file_key: &name,
                size_bytes: stored.size,
                sha256: &stored.sha256,
                next_byte,
                next_line,
            },
        )
        .await?;
        audit::record(
            &mut tx,
            actor,
            "import.created",
            ("import", id),
            serde_json::json!({"record_type": t.as_str(), "format": spec.format.as_str(),
                               "match_key": key.as_str(), "size_bytes": stored.size}),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }
    .await;
    if queued.is_err() {
        if let Err(e) = state.blobs.delete(&file_key).await {
            tracing::warn!(error = %e, "could not delete a refused import's file");
        }
    }
    queued
}

/// An uploaded file, stored.
struct Stored {
    size: u64,
    sha256: Vec<u8>,
    /// Its first bytes, where a CSV header is.
    head: Vec<u8>,
}

/// Streams `body` into the store at `key`, counting: past `max_bytes` the upload is
/// abandoned and nothing is left stored.
async fn store(
    state: &AppState,
    key: &Key,
    body: impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send,
) -> Result<Stored, AppError> {
    use sha2::Digest;
    let limit = state.imports.max_bytes;
    let mut writer = state.blobs.writer(key);
    let mut sha = sha2::Sha256::new();
    let mut head = Vec::new();
    let mut size = 0u64;
    let mut body = std::pin::pin!(body);
    let written: Result<(), AppError> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|_| {
                AppError::bad_request("the upload broke off before the end of the file")
            })?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(AppError::PayloadTooLarge { limit });
            }
            sha.update(&chunk);
            if head.len() < HEAD_BYTES {
                let take = (HEAD_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            writer
                .put(chunk)
                .await
                .map_err(|e| AppError::Unavailable(e.context("the file store")))?;
        }
        Ok(())
    }
    .await;
    if let Err(err) = written {
        if let Err(e) = writer.abort().await {
            tracing::warn!(error = %e, "could not abandon a refused upload");
        }
        return Err(err);
    }
    writer
        .finish()
        .await
        .map_err(|e| AppError::Unavailable(e.context("the file store")))?;
    Ok(Stored {
        size,
        sha256: sha.finalize().to_vec(),
        head,
    })
}

pub async fn get(state: &AppState, actor: &Principal, id: Uuid) -> Result<ImportRow, AppError> {
    super::read(state, actor, id, false).await
}

pub async fn list(
    state: &AppState,
    actor: &Principal,
    page: &PageRequest,
) -> Result<Listed<ImportRow>, AppError> {
    let page = page.page(ImportSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list(&mut tx, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// One page of the failed rows of the import `id`, in file order.
pub async fn errors(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    page: &PageRequest,
) -> Result<Listed<ImportErrorRow>, AppError> {
    let page = page.page(ImportErrorSort::Line)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    repo::get(&mut tx, id).await?;
    let (rows, has_more) = repo::errors(&mut tx, id, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// Cancels the import `id`: a running one stops after the chunk in progress (which
/// this waits for, as it holds the import), and `import.cancelled` is recorded.
pub async fn cancel<W: Wire>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<ImportRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    repo::get(&mut tx, id).await?;
    let Some(row) = repo::cancel(&mut tx, id).await? else {
        return Err(AppError::Conflict {
            message: "the import is already over".into(),
            details: vec![FieldError::new(
                "id",
                "import_finished",
                "only a queued or running import can be cancelled",
            )],
        });
    };
    events::emit(&mut tx, EventType::ImportCancelled, &W::import(row.clone())).await?;
    audit::record(
        &mut tx,
        actor,
        "import.cancelled",
        ("import", id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}
