//! Pipeline and stage queries. Every change to a pipeline's stages first locks the
//! pipeline row ([`touch`], which also moves its `updated_at`), so stage changes of one
//! pipeline run one at a time: positions stay dense and ordered, and the last open stage
//! cannot vanish between a check and a write. Leads lock the stage they land in (`FOR
//! SHARE`), so a stage cannot change kind or disappear under a lead being moved into it.
//! Locks are taken in one order — pipeline, leads, stages — the order a lead edit (lead
//! row, then stage) also follows, so the two cannot deadlock; `app::pipelines` runs these
//! statements in that order and holds the rules between them. A stage whose position
//! shifts counts as changed (`updated_at`).

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{keyed, Page, SortKey, SortValue, ValueKind};
use super::record::{self, Table};
pub use super::stages::StageRow;
use super::TenantTx;
use super::{prepared_statements, query, query_as, query_scalar};
use crate::domain::pipeline::{NewPipeline, Stage};
use crate::error::{AppError, AppResult};

const PIPELINE_COLUMNS: &str = "id, name, is_default, created_at, updated_at";
const STAGE_COLUMNS: &str =
    "id, pipeline_id, name, position, probability, kind, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PipelineRow {
    pub id: Uuid,
    pub name: String,
    /// The tenant's default pipeline: exactly one while the tenant has pipelines (see
    /// migration 20261209400006).
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

keyed!(PipelineRow);

const DEFAULT_KEY: &str = "pipelines_tenant_default_key";

/// Two requests made different pipelines the default at once: the unique index let one
/// through.
fn default_taken(err: sqlx::Error) -> AppError {
    if super::violations::broke(&err, DEFAULT_KEY) {
        let message = "another request changed the default pipeline at the same time; retry";
        AppError::Conflict {
            message: message.into(),
            details: vec![crate::domain::FieldError::new(
                "default",
                "concurrent",
                message,
            )],
        }
    } else {
        err.into()
    }
}

/// Makes the pipeline `id` the tenant's default: clears the flag on the current default
/// first, then sets it (the unique index is checked row by row). Returns the pipeline
/// that was the default, if another was.
pub async fn make_default(tx: &mut TenantTx, id: Uuid) -> AppResult<Option<Uuid>> {
    let previous: Option<Uuid> = query_scalar(
        "UPDATE pipelines SET is_default = false, updated_at = now() \
          WHERE is_default AND id <> $1 RETURNING id",
    )
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    query("UPDATE pipelines SET is_default = true, updated_at = now() WHERE id = $1 AND NOT is_default")
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(default_taken)?;
    Ok(previous)
}

/// The tenant's default pipeline, if it has pipelines.
pub async fn default_id(tx: &mut TenantTx) -> AppResult<Option<Uuid>> {
    Ok(query_scalar("SELECT id FROM pipelines WHERE is_default")
        .fetch_optional(tx.conn())
        .await?)
}

/// The first open stage of the tenant's default pipeline (where a lead created without a
/// place starts), locked like [`stage_for_lead`]. `None` when the tenant has no pipeline.
pub async fn default_stage(tx: &mut TenantTx) -> AppResult<Option<StageRow>> {
    let sql = format!(
        "SELECT {STAGE_COLUMNS} FROM stages \
          WHERE pipeline_id = (SELECT id FROM pipelines WHERE is_default) AND kind = 'open' \
          ORDER BY position LIMIT 1 FOR SHARE"
    );
    Ok(query_as(&sql).fetch_optional(tx.conn()).await?)
}

impl Table for PipelineRow {
    const TABLE: &'static str = "pipelines";
    const COLUMNS: &'static str = PIPELINE_COLUMNS;
    const NOUN: &'static str = "pipeline";
}

pub async fn insert(tx: &mut TenantTx, pipeline: &NewPipeline) -> AppResult<PipelineRow> {
    let id = Uuid::now_v7();
    let sql = format!(
        "INSERT INTO pipelines (id, tenant_id, name) VALUES ($1, $2, $3) \
         RETURNING {PIPELINE_COLUMNS}"
    );
    let row: PipelineRow = query_as(&sql)
        .bind(id)
        .bind(tx.tenant_id())
        .bind(pipeline.name())
        .fetch_one(tx.conn())
        .await
        .map_err(default_taken)?;
    let ids: Vec<Uuid> = pipeline.stages().iter().map(|_| Uuid::now_v7()).collect();
    let names: Vec<&str> = pipeline.stages().iter().map(Stage::name).collect();
    let probabilities: Vec<i32> = pipeline.stages().iter().map(Stage::probability).collect();
    let kinds: Vec<&str> = pipeline
        .stages()
        .iter()
        .map(|s| s.kind().as_str())
        .collect();
    query(
        "INSERT INTO stages (id, tenant_id, pipeline_id, name, position, probability, kind) \
         SELECT s.id, $1, $2, s.name, s.ord - 1, s.probability, s.kind \
           FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[]) \
                WITH ORDINALITY AS s (id, name, probability, kind, ord)",
    )
    .bind(tx.tenant_id())
    .bind(id)
    .bind(&ids)
    .bind(&names)
    .bind(&probabilities)
    .bind(&kinds)
    .execute(tx.conn())
    .await?;
    Ok(row)
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<PipelineRow> {
    record::get(tx, id).await
}

/// The pipeline, locked as a change to it or its stages would lock it (and without
/// marking it changed), so its version and its stages' cannot move until commit: for a
/// conditional write (`If-Match`) to check before it writes.
pub async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> AppResult<PipelineRow> {
    let sql = format!("SELECT {PIPELINE_COLUMNS} FROM pipelines WHERE id = $1 FOR NO KEY UPDATE");
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("pipeline"))
}

/// A stage as it is while its pipeline is locked ([`get_for_update`]): no change to it
/// can happen until commit. Takes the pipeline's lock and nothing else, so it keeps the
/// lock order (pipeline, leads, stages).
pub async fn stage_under_lock(
    tx: &mut TenantTx,
    pipeline_id: Uuid,
    stage_id: Uuid,
) -> AppResult<StageRow> {
    get_for_update(tx, pipeline_id).await?;
    get_stage(tx, pipeline_id, stage_id).await
}

/// Locks the pipeline for a change to it or its stages, and marks it changed.
pub async fn touch(tx: &mut TenantTx, id: Uuid) -> AppResult<PipelineRow> {
    let sql = format!(
        "UPDATE pipelines SET updated_at = now() WHERE id = $1 RETURNING {PIPELINE_COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("pipeline"))
}

pub async fn rename(tx: &mut TenantTx, id: Uuid, name: &str) -> AppResult<PipelineRow> {
    let sql = format!(
        "UPDATE pipelines SET name = $2, updated_at = now() WHERE id = $1 \
         RETURNING {PIPELINE_COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .bind(name)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("pipeline"))
}

/// The stages of the given pipelines, in pipeline then position order.
pub async fn stages_of(tx: &mut TenantTx, pipeline_ids: &[Uuid]) -> AppResult<Vec<StageRow>> {
    let sql = format!(
        "SELECT {STAGE_COLUMNS} FROM stages WHERE pipeline_id = ANY($1) \
         ORDER BY pipeline_id, position"
    );
    Ok(query_as(&sql)
        .bind(pipeline_ids)
        .fetch_all(tx.conn())
        .await?)
}

/// A stage of the tenant, locked against kind changes and deletion until commit (`FOR
/// SHARE`), for a lead about to land in it. `None` when the tenant has no such stage.
pub async fn stage_for_lead(tx: &mut TenantTx, stage_id: Uuid) -> AppResult<Option<StageRow>> {
    let sql = format!("SELECT {STAGE_COLUMNS} FROM stages WHERE id = $1 FOR SHARE");
    Ok(query_as(&sql)
        .bind(stage_id)
        .fetch_optional(tx.conn())
        .await?)
}

/// The first stage of a pipeline (where new leads start), locked like
/// [`stage_for_lead`]. `None` when the tenant has no such pipeline.
pub async fn first_stage(tx: &mut TenantTx, pipeline_id: Uuid) -> AppResult<Option<StageRow>> {
    let sql = format!(
        "SELECT {STAGE_COLUMNS} FROM stages WHERE pipeline_id = $1 \
         ORDER BY position LIMIT 1 FOR SHARE"
    );
    Ok(query_as(&sql)
        .bind(pipeline_id)
        .fetch_optional(tx.conn())
        .await?)
}

/// A stage of the pipeline, locked for a change to it.
pub async fn stage_for_update(
    tx: &mut TenantTx,
    pipeline_id: Uuid,
    stage_id: Uuid,
) -> AppResult<StageRow> {
    let sql =
        format!("SELECT {STAGE_COLUMNS} FROM stages WHERE id = $1 AND pipeline_id = $2 FOR UPDATE");
    query_as(&sql)
        .bind(stage_id)
        .bind(pipeline_id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("stage"))
}

pub async fn get_stage(
    tx: &mut TenantTx,
    pipeline_id: Uuid,
    stage_id: Uuid,
) -> AppResult<StageRow> {
    let sql = format!("SELECT {STAGE_COLUMNS} FROM stages WHERE id = $1 AND pipeline_id = $2");
    query_as(&sql)
        .bind(stage_id)
        .bind(pipeline_id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("stage"))
}

/// (stage count, open stage count) of a pipeline.
pub async fn counts(tx: &mut TenantTx, pipeline_id: Uuid) -> AppResult<(i64, i64)> {
    Ok(query_as(
        "SELECT count(*), count(*) FILTER (WHERE kind = 'open') FROM stages WHERE pipeline_id = $1",
    )
    .bind(pipeline_id)
    .fetch_one(tx.conn())
    .await?)
}

/// Locks every stage of the pipeline, waiting for the leads being placed in them (they
/// hold them `FOR SHARE`).
pub async fn lock_stages(tx: &mut TenantTx, pipeline_id: Uuid) -> AppResult<()> {
    query("SELECT id FROM stages WHERE pipeline_id = $1 FOR UPDATE")
        .bind(pipeline_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Deletes a pipeline with its stages (which must hold no lead).
pub async fn delete(tx: &mut TenantTx, id: Uuid) -> AppResult<()> {
    query("DELETE FROM pipelines WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Adds a stage at `position` (at most the number of stages), shifting the stages from
/// there down by one; call with the pipeline locked ([`touch`]).
pub async fn insert_stage(
    tx: &mut TenantTx,
    pipeline_id: Uuid,
    stage: &Stage,
    position: i64,
) -> AppResult<StageRow> {
    query(
        "UPDATE stages SET position = position + 1, updated_at = now() \
         WHERE pipeline_id = $1 AND position >= $2",
    )
    .bind(pipeline_id)
    .bind(position as i32)
    .execute(tx.conn())
    .await?;
    let sql = format!(
        "INSERT INTO stages (id, tenant_id, pipeline_id, name, position, probability, kind) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {STAGE_COLUMNS}"
    );
    Ok(query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(tx.tenant_id())
        .bind(pipeline_id)
        .bind(stage.name())
        .bind(position as i32)
        .bind(stage.probability())
        .bind(stage.kind().as_str())
        .fetch_one(tx.conn())
        .await?)
}

/// Writes a stage's new name, probability, kind and `position` (a position the pipeline
/// has), shifting the stages in between; call with the pipeline locked ([`touch`]) and
/// the stage too ([`stage_for_update`]).
pub async fn update_stage(
    tx: &mut TenantTx,
    current: &StageRow,
    stage: &Stage,
    position: i64,
) -> AppResult<StageRow> {
    let (old, new) = (i64::from(current.position), position);
    if new != old {
        // Close the gap at the old place and open one at the new place.
        let (shift, low, high) = if new < old {
            (1, new, old - 1)
        } else {
            (-1, old + 1, new)
        };
        query(
            "UPDATE stages SET position = position + $2, updated_at = now() \
             WHERE pipeline_id = $1 AND position BETWEEN $3 AND $4",
        )
        .bind(current.pipeline_id)
        .bind(shift)
        .bind(low as i32)
        .bind(high as i32)
        .execute(tx.conn())
        .await?;
    }
    let sql = format!(
        "UPDATE stages SET name = $2, probability = $3, kind = $4, position = $5, \
         updated_at = now() WHERE id = $1 RETURNING {STAGE_COLUMNS}"
    );
    Ok(query_as(&sql)
        .bind(current.id)
        .bind(stage.name())
        .bind(stage.probability())
        .bind(stage.kind().as_str())
        .bind(new as i32)
        .fetch_one(tx.conn())
        .await?)
}

/// Deletes a stage (which must hold no lead) and closes the gap; call with the pipeline
/// locked ([`touch`]) and the stage too ([`stage_for_update`]).
pub async fn delete_stage(tx: &mut TenantTx, stage: &StageRow) -> AppResult<()> {
    query("DELETE FROM stages WHERE id = $1")
        .bind(stage.id)
        .execute(tx.conn())
        .await?;
    query(
        "UPDATE stages SET position = position - 1, updated_at = now() \
         WHERE pipeline_id = $1 AND position > $2",
    )
    .bind(stage.pipeline_id)
    .bind(stage.position)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The ids of the pipeline's stages, in no order.
pub async fn stage_ids(tx: &mut TenantTx, pipeline_id: Uuid) -> AppResult<Vec<Uuid>> {
    Ok(query_scalar("SELECT id FROM stages WHERE pipeline_id = $1")
        .bind(pipeline_id)
        .fetch_all(tx.conn())
        .await?)
}

/// Puts the pipeline's stages in the order of `ids`, which names each of them once, and
/// returns them in that order; call with the pipeline locked ([`touch`]).
pub async fn reorder(
    tx: &mut TenantTx,
    pipeline_id: Uuid,
    ids: &[Uuid],
) -> AppResult<Vec<StageRow>> {
    query(
        "UPDATE stages s SET position = o.ord - 1, updated_at = now() \
           FROM unnest($2::uuid[]) WITH ORDINALITY AS o (id, ord) \
          WHERE s.id = o.id AND s.pipeline_id = $1 AND s.position <> o.ord - 1",
    )
    .bind(pipeline_id)
    .bind(ids)
    .execute(tx.conn())
    .await?;
    stages_of(tx, &[pipeline_id]).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineSort {
    CreatedAt,
    UpdatedAt,
}

impl SortKey for PipelineSort {
    type Row = PipelineRow;
    const ALL: &'static [Self] = &[Self::CreatedAt, Self::UpdatedAt];

    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
        }
    }

    fn expr(self) -> &'static str {
        self.name()
    }

    fn kind(self) -> ValueKind {
        ValueKind::Time
    }

    fn value_of(self, row: &PipelineRow) -> SortValue {
        match self {
            Self::CreatedAt => SortValue::Time(row.created_at),
            Self::UpdatedAt => SortValue::Time(row.updated_at),
        }
    }
}

pub async fn list(
    tx: &mut TenantTx,
    updated_after: Option<DateTime<Utc>>,
    page: &Page<PipelineSort>,
) -> AppResult<(Vec<PipelineRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {PIPELINE_COLUMNS} FROM pipelines WHERE true"
    ));
    if let Some(after) = updated_after {
        sql.push(" AND updated_at > ").push_bind(after);
    }
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}
