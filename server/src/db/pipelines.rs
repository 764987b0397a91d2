//! Pipelines and their stages. Every change to a pipeline's stages first locks the
//! pipeline row (and touches its `updated_at`), so stage changes of one pipeline run one
//! at a time: positions stay dense and ordered, and the last open stage cannot vanish
//! between a check and a write. Leads lock the stage they land in (`FOR SHARE`), so a
//! stage cannot change kind or disappear under a lead being moved into it. Locks are
//! taken in one order — pipeline, leads, stages — the order a lead edit (lead row, then
//! stage) also follows, so the two cannot deadlock. A stage whose position shifts counts
//! as changed (`updated_at`).

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::leads::{self, LeadsIn, MovedLead};
use super::page::{keyed, Page, SortKey, SortValue, ValueKind};
pub use super::stages::StageRow;
use super::TenantTx;
use super::{prepared_statements, query, query_as, query_scalar};
use crate::domain::pipeline::{no_open_stage, NewPipeline, Stage, StageKind, STAGES_MAX};
use crate::domain::FieldError;
use crate::error::{AppError, AppResult};

const PIPELINE_COLUMNS: &str = "id, name, created_at, updated_at";
const STAGE_COLUMNS: &str =
    "id, pipeline_id, name, position, probability, kind, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PipelineRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

keyed!(PipelineRow);

fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> AppError {
    AppError::Validation(vec![FieldError::new(field, code, message)])
}

fn conflict(field: &str, code: &'static str, message: impl Into<String>) -> AppError {
    let message = message.into();
    AppError::Conflict {
        message: message.clone(),
        details: vec![FieldError::new(field, code, message)],
    }
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
        .bind(&pipeline.name)
        .fetch_one(tx.conn())
        .await?;
    let ids: Vec<Uuid> = pipeline.stages.iter().map(|_| Uuid::now_v7()).collect();
    let names: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
    let probabilities: Vec<i32> = pipeline.stages.iter().map(|s| s.probability).collect();
    let kinds: Vec<&str> = pipeline.stages.iter().map(|s| s.kind.as_str()).collect();
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
    let sql = format!("SELECT {PIPELINE_COLUMNS} FROM pipelines WHERE id = $1");
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("pipeline"))
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
async fn lock(tx: &mut TenantTx, id: Uuid) -> AppResult<PipelineRow> {
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

async fn stage_for_update(
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
async fn counts(tx: &mut TenantTx, pipeline_id: Uuid) -> AppResult<(i64, i64)> {
    Ok(query_as(
        "SELECT count(*), count(*) FILTER (WHERE kind = 'open') FROM stages WHERE pipeline_id = $1",
    )
    .bind(pipeline_id)
    .fetch_one(tx.conn())
    .await?)
}

/// The stage named by `move_leads_to`, locked for the leads about to land in it.
async fn move_target(tx: &mut TenantTx, stage_id: Uuid) -> AppResult<StageRow> {
    stage_for_lead(tx, stage_id)
        .await?
        .ok_or_else(|| invalid("move_leads_to", "not_found", "no stage with this id exists"))
}

fn holds_leads(what: &str, (count, trashed): (i64, i64)) -> AppError {
    conflict(
        "move_leads_to",
        "has_leads",
        format!(
            "the {what} still holds {count} lead(s){}; pass `move_leads_to` with a stage to \
             move them to",
            in_trash(trashed)
        ),
    )
}

/// How many of the leads counted are trashed, for a 409's message: they block like live
/// ones (restoring one must find its stage) but do not show in lists.
fn in_trash(trashed: i64) -> String {
    if trashed > 0 {
        format!(" ({trashed} of them in the trash)")
    } else {
        String::new()
    }
}

/// A deleted pipeline as it was, and the leads moved out of it.
#[derive(Debug)]
pub struct DeletedPipeline {
    pub pipeline: PipelineRow,
    pub stages: Vec<StageRow>,
    pub moved: Vec<MovedLead>,
}

/// Deletes a pipeline with its stages. Its leads block that unless `move_to` names a
/// stage of another pipeline, where they go first (each move recorded on the lead).
pub async fn delete(
    tx: &mut TenantTx,
    id: Uuid,
    move_to: Option<Uuid>,
) -> AppResult<DeletedPipeline> {
    // The lock `lock` takes (an UPDATE's), without touching `updated_at`: the pipeline is
    // returned as a read just before the delete would have shown it.
    let sql = format!("SELECT {PIPELINE_COLUMNS} FROM pipelines WHERE id = $1 FOR NO KEY UPDATE");
    let pipeline: PipelineRow = query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("pipeline"))?;
    // Trashed leads are moved (or block the delete) like live ones, so that a restored
    // lead always finds its stage.
    tx.include_deleted().await?;
    leads::lock(tx, LeadsIn::Pipeline(id)).await?;
    // Wait for leads being placed in these stages (they hold them `FOR SHARE`), so the
    // count below sees them.
    query("SELECT id FROM stages WHERE pipeline_id = $1 FOR UPDATE")
        .bind(id)
        .execute(tx.conn())
        .await?;
    let stages = stages_of(tx, &[id]).await?;
    let from = LeadsIn::Pipeline(id);
    let count = leads::count(tx, from).await?;
    let mut moved = Vec::new();
    if count.0 > 0 {
        let Some(target) = move_to else {
            return Err(holds_leads("pipeline", count));
        };
        let target = move_target(tx, target).await?;
        if target.pipeline_id == id {
            return Err(invalid(
                "move_leads_to",
                "same_pipeline",
                "must be a stage of another pipeline: this one is being deleted",
            ));
        }
        moved = leads::move_all(tx, from, &target).await?;
    }
    query("DELETE FROM pipelines WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(DeletedPipeline {
        pipeline,
        stages,
        moved,
    })
}

/// Adds a stage at `position` (default: last), shifting later stages down by one.
pub async fn create_stage(
    tx: &mut TenantTx,
    pipeline_id: Uuid,
    stage: &Stage,
    position: Option<i64>,
) -> AppResult<StageRow> {
    lock(tx, pipeline_id).await?;
    let (count, _) = counts(tx, pipeline_id).await?;
    if count >= STAGES_MAX as i64 {
        return Err(conflict(
            "pipeline_id",
            "too_many",
            format!("a pipeline has at most {STAGES_MAX} stages"),
        ));
    }
    let position = position.unwrap_or(count);
    if !(0..=count).contains(&position) {
        return Err(invalid(
            "position",
            "out_of_range",
            format!("must be between 0 and {count} (the number of stages)"),
        ));
    }
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
        .bind(&stage.name)
        .bind(position as i32)
        .bind(stage.probability)
        .bind(stage.kind.as_str())
        .fetch_one(tx.conn())
        .await?)
}

/// The current stage, so a patch can be merged onto it under the pipeline's lock.
pub async fn lock_stage(
    tx: &mut TenantTx,
    pipeline_id: Uuid,
    stage_id: Uuid,
) -> AppResult<StageRow> {
    lock(tx, pipeline_id).await?;
    stage_for_update(tx, pipeline_id, stage_id).await
}

/// Writes a stage's new name, probability, kind and position; call after [`lock_stage`].
/// A kind change is refused while leads are in the stage (their status would silently
/// change) and when it would leave the pipeline without an open stage.
pub async fn update_stage(
    tx: &mut TenantTx,
    current: &StageRow,
    stage: &Stage,
    position: i64,
) -> AppResult<StageRow> {
    let pipeline_id = current.pipeline_id;
    let (count, open) = counts(tx, pipeline_id).await?;
    if stage.kind != current.kind() {
        // Trashed leads count too: restored, they would be in a stage of the wrong kind.
        tx.include_deleted().await?;
        let (in_stage, trashed) = leads::count(tx, LeadsIn::Stage(current.id)).await?;
        if in_stage > 0 {
            return Err(conflict(
                "kind",
                "has_leads",
                format!(
                    "the stage holds {in_stage} lead(s){}, whose status would change; move \
                     them first",
                    in_trash(trashed)
                ),
            ));
        }
        if current.kind() == StageKind::Open && open <= 1 {
            let err = no_open_stage("kind");
            return Err(AppError::Conflict {
                message: err.message.clone(),
                details: vec![err],
            });
        }
    }
    if !(0..count).contains(&position) {
        return Err(invalid(
            "position",
            "out_of_range",
            format!("must be between 0 and {}", count - 1),
        ));
    }
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
        .bind(pipeline_id)
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
        .bind(&stage.name)
        .bind(stage.probability)
        .bind(stage.kind.as_str())
        .bind(new as i32)
        .fetch_one(tx.conn())
        .await?)
}

/// Deletes a stage and closes the gap. Refused for the last open stage, and while leads
/// are in it unless `move_to` names another stage of the tenant for them. Returns the
/// leads moved.
pub async fn delete_stage(
    tx: &mut TenantTx,
    pipeline_id: Uuid,
    stage_id: Uuid,
    move_to: Option<Uuid>,
) -> AppResult<Vec<MovedLead>> {
    lock(tx, pipeline_id).await?;
    // As for a pipeline: trashed leads move along, or block.
    tx.include_deleted().await?;
    leads::lock(tx, LeadsIn::Stage(stage_id)).await?;
    let stage = stage_for_update(tx, pipeline_id, stage_id).await?;
    let (_, open) = counts(tx, pipeline_id).await?;
    if stage.kind() == StageKind::Open && open <= 1 {
        let err = no_open_stage("stage_id");
        return Err(AppError::Conflict {
            message: err.message.clone(),
            details: vec![err],
        });
    }
    let from = LeadsIn::Stage(stage_id);
    let count = leads::count(tx, from).await?;
    let mut moved = Vec::new();
    if count.0 > 0 {
        let Some(target) = move_to else {
            return Err(holds_leads("stage", count));
        };
        if target == stage_id {
            return Err(invalid(
                "move_leads_to",
                "same_stage",
                "must be another stage: this one is being deleted",
            ));
        }
        let target = move_target(tx, target).await?;
        moved = leads::move_all(tx, from, &target).await?;
    }
    query("DELETE FROM stages WHERE id = $1")
        .bind(stage_id)
        .execute(tx.conn())
        .await?;
    query(
        "UPDATE stages SET position = position - 1, updated_at = now() \
         WHERE pipeline_id = $1 AND position > $2",
    )
    .bind(pipeline_id)
    .bind(stage.position)
    .execute(tx.conn())
    .await?;
    Ok(moved)
}

/// Puts the pipeline's stages in the order of `ids`, which must name each of them once.
pub async fn reorder(
    tx: &mut TenantTx,
    pipeline_id: Uuid,
    ids: &[Uuid],
) -> AppResult<Vec<StageRow>> {
    lock(tx, pipeline_id).await?;
    let mut current: Vec<Uuid> = query_scalar("SELECT id FROM stages WHERE pipeline_id = $1")
        .bind(pipeline_id)
        .fetch_all(tx.conn())
        .await?;
    let mut wanted = ids.to_vec();
    current.sort_unstable();
    wanted.sort_unstable();
    if current != wanted {
        return Err(invalid(
            "stage_ids",
            "not_a_permutation",
            format!(
                "must list each of the pipeline's {} stages exactly once",
                current.len()
            ),
        ));
    }
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
