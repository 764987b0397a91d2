//! Pipelines and their stages. A pipeline keeps 1 to 50 stages in a dense order, at least
//! one of them `open`; a stage cannot change kind while leads are in it. Deleting a stage
//! or a pipeline that holds leads — trashed ones too, so that a restored lead always
//! finds its stage — needs a stage to move them to, and moves them there first, each move
//! recorded as a lead update would record it. Every change to a pipeline or its stages
//! records `pipeline.updated` with the pipeline as it then is.
//!
//! A tenant with pipelines has exactly one default pipeline (where a lead created without
//! a place lands): its first pipeline becomes it, `default: true` on a create or an update
//! moves it (recording `pipeline.updated` for the pipeline that lost it), it cannot be
//! cleared, and deleting it makes the oldest remaining pipeline the default (the database
//! does that: migration 20261209400006; recorded as `pipeline.updated` too).
//!
//! The statements run in the lock order `db::pipelines` describes: the pipeline, then its
//! leads, then its stages.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::leads;
use super::page::{listed, Listed, PageRequest};
use super::version::by_updated_at;
use super::version::IfMatch;
use super::View;
use crate::auth::Principal;
use crate::db::leads::{self as leads_repo, LeadRow, LeadsIn};
use crate::db::pipelines as repo;
pub use crate::db::pipelines::{PipelineRow, PipelineSort, StageRow};
use crate::db::TenantTx;
use crate::domain::pipeline::{no_open_stage, NewPipeline, Stage, StageKind, STAGES_MAX};
pub use crate::domain::pipeline::{PipelinePatch, StageInput, StagePatch};
use crate::domain::FieldError;
use crate::error::AppError;
use crate::events::{self, EventType};
use crate::state::AppState;

by_updated_at!(PipelineRow, StageRow);

/// A pipeline with its own stages, in position order: what the API shows of a pipeline,
/// and what its events carry.
#[derive(Debug, Clone)]
pub struct PipelineWithStages {
    pub pipeline: PipelineRow,
    pub stages: Vec<StageRow>,
}

/// Creates a pipeline named `name` with `stages`, in order; the tenant's default when
/// `default` or when it is the tenant's first.
pub async fn create<P: View<PipelineWithStages>>(
    state: &AppState,
    actor: &Principal,
    name: String,
    stages: Vec<StageInput>,
    default: bool,
) -> Result<P, AppError> {
    let new = NewPipeline::parse(Some(name), stages).map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::insert(&mut tx, &new).await?;
    let previous = if default {
        repo::make_default(&mut tx, row.id).await?
    } else {
        None
    };
    let created = P::from(load(&mut tx, row.id).await?);
    events::emit(&mut tx, EventType::PipelineCreated, &created).await?;
    if let Some(previous) = previous {
        emit_default_moved::<P>(&mut tx, previous).await?;
    }
    tx.commit().await?;
    Ok(created)
}

/// The pipeline `id` with its stages.
pub async fn get(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<PipelineWithStages, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let found = load(&mut tx, id).await?;
    tx.end_read();
    Ok(found)
}

/// Renames the pipeline `id`, or makes it the tenant's default, if its version passes
/// `if_match`. A patch that changes nothing writes nothing, so it has nothing to report
/// either. The default cannot be unmade (`422` naming `default`): make another pipeline
/// the default instead.
pub async fn update<P: View<PipelineWithStages>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: PipelinePatch,
) -> Result<P, AppError> {
    let name = patch.name().map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    if_match.check(&current)?;
    let before = load(&mut tx, id).await?;
    let mut changed = false;
    let mut previous = None;
    match patch.default {
        Some(false) if current.is_default => {
            return Err(invalid(
                "default",
                "required",
                "a tenant always has a default pipeline: make another pipeline the default \
                 instead",
            ))
        }
        Some(true) if !current.is_default => {
            previous = repo::make_default(&mut tx, id).await?;
            changed = true;
        }
        _ => {}
    }
    if let Some(name) = name {
        repo::rename(&mut tx, id, &name).await?;
        changed = true;
    }
    let found = if changed {
        emit_updated(&mut tx, id, before).await?
    } else {
        P::from(before)
    };
    if let Some(previous) = previous {
        emit_default_moved::<P>(&mut tx, previous).await?;
    }
    tx.commit().await?;
    Ok(found)
}

/// Deletes the pipeline `id` and its stages if its version passes `if_match`. Its leads
/// block that unless `move_to` names a stage of another pipeline, where they go first.
/// `pipeline.deleted` carries the pipeline as it was; the moved leads' events render
/// them as `L`.
pub async fn delete<P: View<PipelineWithStages>, L: View<LeadRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    move_to: Option<Uuid>,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if_match
        .check_with(repo::get_for_update(&mut tx, id))
        .await?;
    // Locked as a change would lock it, without touching `updated_at`: the event shows
    // the pipeline as a read just before the delete would have.
    let pipeline = repo::get_for_update(&mut tx, id).await?;
    tx.include_deleted().await?;
    let from = LeadsIn::Pipeline(id);
    leads_repo::lock(&mut tx, from).await?;
    // Wait for leads being placed in these stages, so the count below sees them.
    repo::lock_stages(&mut tx, id).await?;
    let stages = repo::stages_of(&mut tx, &[id]).await?;
    let count = leads_repo::count(&mut tx, from).await?;
    let mut moved = Vec::new();
    if count.0 > 0 {
        let Some(target) = move_to else {
            return Err(holds_leads("pipeline", count));
        };
        let target = move_target(&mut tx, target).await?;
        if target.pipeline_id == id {
            return Err(invalid(
                "move_leads_to",
                "same_pipeline",
                "must be a stage of another pipeline: this one is being deleted",
            ));
        }
        moved = leads::move_all(&mut tx, from, &target).await?;
    }
    let was_default = pipeline.is_default;
    repo::delete(&mut tx, id).await?;
    leads::emit_moved::<L>(&mut tx, moved).await?;
    let before = P::from(PipelineWithStages { pipeline, stages });
    events::emit(&mut tx, EventType::PipelineDeleted, &before).await?;
    if was_default {
        // The database made the oldest remaining pipeline the default, if any remains.
        if let Some(promoted) = repo::default_id(&mut tx).await? {
            emit_default_moved::<P>(&mut tx, promoted).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// One page of pipelines with their stages, changed after `updated_after` if given.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    updated_after: Option<DateTime<Utc>>,
    page: &PageRequest,
) -> Result<Listed<PipelineWithStages>, AppError> {
    let page = page.page(PipelineSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list(&mut tx, updated_after, &page).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut stages: HashMap<Uuid, Vec<StageRow>> = HashMap::new();
    for stage in repo::stages_of(&mut tx, &ids).await? {
        stages.entry(stage.pipeline_id).or_default().push(stage);
    }
    tx.end_read();
    Ok(
        listed(&page, rows, has_more).map(|pipeline| PipelineWithStages {
            stages: stages.remove(&pipeline.id).unwrap_or_default(),
            pipeline,
        }),
    )
}

/// The stages of the pipeline `id` (all of them: at most 50), in position order; only
/// those changed after `updated_after` if given.
pub async fn stages(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    updated_after: Option<DateTime<Utc>>,
) -> Result<Vec<StageRow>, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    repo::get(&mut tx, id).await?;
    let mut stages = repo::stages_of(&mut tx, &[id]).await?;
    tx.end_read();
    if let Some(after) = updated_after {
        stages.retain(|s| s.updated_at > after);
    }
    Ok(stages)
}

/// Adds `input` to the pipeline `id` at `position` (default: last), moving the stages
/// from there down by one.
pub async fn create_stage<P: View<PipelineWithStages>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    input: StageInput,
    position: Option<i64>,
) -> Result<StageRow, AppError> {
    let stage = Stage::parse("", input).map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    repo::touch(&mut tx, id).await?;
    let before = load(&mut tx, id).await?;
    let (count, _) = repo::counts(&mut tx, id).await?;
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
    let row = repo::insert_stage(&mut tx, id, &stage, position).await?;
    emit_updated::<P>(&mut tx, id, before).await?;
    tx.commit().await?;
    Ok(row)
}

/// The stage `stage_id` of the pipeline `id`.
pub async fn get_stage(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    stage_id: Uuid,
) -> Result<StageRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get_stage(&mut tx, id, stage_id).await?;
    tx.end_read();
    Ok(row)
}

/// Lays `patch` over the stage `stage_id` of the pipeline `id` if its version passes
/// `if_match`. A kind change is refused while leads are in the stage (their status would
/// silently change) and when it would leave the pipeline without an open stage; a new
/// position shifts the stages in between.
pub async fn update_stage<P: View<PipelineWithStages>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    stage_id: Uuid,
    if_match: &IfMatch,
    patch: StagePatch,
) -> Result<StageRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    repo::touch(&mut tx, id).await?;
    let current = repo::stage_for_update(&mut tx, id, stage_id).await?;
    if_match.check(&current)?;
    let before = load(&mut tx, id).await?;
    let (stage, position) = patch
        .apply_to_input(current.to_input(), i64::from(current.position))
        .map_err(AppError::Validation)?;
    let (count, open) = repo::counts(&mut tx, id).await?;
    if stage.kind() != current.kind() {
        // Trashed leads count too: restored, they would be in a stage of the wrong kind.
        tx.include_deleted().await?;
        let (in_stage, trashed) = leads_repo::count(&mut tx, LeadsIn::Stage(current.id)).await?;
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
            return Err(last_open_stage("kind"));
        }
    }
    if !(0..count).contains(&position) {
        return Err(invalid(
            "position",
            "out_of_range",
            format!("must be between 0 and {}", count - 1),
        ));
    }
    let row = repo::update_stage(&mut tx, &current, &stage, position).await?;
    emit_updated::<P>(&mut tx, id, before).await?;
    tx.commit().await?;
    Ok(row)
}

/// Deletes the stage `stage_id` of the pipeline `id` if its version passes `if_match`,
/// closing the gap. Refused for the last open stage, and while leads are in it unless
/// `move_to` names another stage of the tenant (of any pipeline) for them; the moved
/// leads' events render them as `L`.
pub async fn delete_stage<P: View<PipelineWithStages>, L: View<LeadRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    stage_id: Uuid,
    move_to: Option<Uuid>,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if_match
        .check_with(repo::stage_under_lock(&mut tx, id, stage_id))
        .await?;
    repo::touch(&mut tx, id).await?;
    let before = load(&mut tx, id).await?;
    // As for a pipeline: trashed leads move along, or block.
    tx.include_deleted().await?;
    let from = LeadsIn::Stage(stage_id);
    leads_repo::lock(&mut tx, from).await?;
    let stage = repo::stage_for_update(&mut tx, id, stage_id).await?;
    let (_, open) = repo::counts(&mut tx, id).await?;
    if stage.kind() == StageKind::Open && open <= 1 {
        return Err(last_open_stage("stage_id"));
    }
    let count = leads_repo::count(&mut tx, from).await?;
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
        let target = move_target(&mut tx, target).await?;
        moved = leads::move_all(&mut tx, from, &target).await?;
    }
    repo::delete_stage(&mut tx, &stage).await?;
    leads::emit_moved::<L>(&mut tx, moved).await?;
    emit_updated::<P>(&mut tx, id, before).await?;
    tx.commit().await?;
    Ok(())
}

/// Puts the stages of the pipeline `id` in the order of `ids`, which must name each of
/// them once, if the pipeline's version passes `if_match`; returns them in that order.
pub async fn reorder<P: View<PipelineWithStages>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    ids: &[Uuid],
) -> Result<Vec<StageRow>, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if_match
        .check_with(repo::get_for_update(&mut tx, id))
        .await?;
    repo::touch(&mut tx, id).await?;
    let before = load(&mut tx, id).await?;
    let mut current = repo::stage_ids(&mut tx, id).await?;
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
    let stages = repo::reorder(&mut tx, id, ids).await?;
    emit_updated::<P>(&mut tx, id, before).await?;
    tx.commit().await?;
    Ok(stages)
}

async fn load(tx: &mut TenantTx, id: Uuid) -> Result<PipelineWithStages, AppError> {
    let pipeline = repo::get(tx, id).await?;
    let stages = repo::stages_of(tx, &[id]).await?;
    Ok(PipelineWithStages { pipeline, stages })
}

/// Records `pipeline.updated` for a pipeline whose `default` flag the database just moved
/// (to another pipeline, or to it when the default was deleted): the flag is the one field
/// that changed, so its previous state is the current one with the flag flipped.
async fn emit_default_moved<P: View<PipelineWithStages>>(
    tx: &mut TenantTx,
    id: Uuid,
) -> Result<(), AppError> {
    let after = load(tx, id).await?;
    let mut before = after.clone();
    before.pipeline.is_default = !after.pipeline.is_default;
    events::emit_update(
        tx,
        EventType::PipelineUpdated,
        &P::from(before),
        &P::from(after),
    )
    .await?;
    Ok(())
}

/// Records `pipeline.updated` with the pipeline as it is after a change to it or its
/// stages (called in the change's transaction) and what changed since `before` (as it
/// was loaded when the change began), and returns it.
async fn emit_updated<P: View<PipelineWithStages>>(
    tx: &mut TenantTx,
    id: Uuid,
    before: PipelineWithStages,
) -> Result<P, AppError> {
    let updated = P::from(load(tx, id).await?);
    events::emit_update(tx, EventType::PipelineUpdated, &P::from(before), &updated).await?;
    Ok(updated)
}

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

/// The `409` of a change that would leave the pipeline without an open stage.
fn last_open_stage(field: &str) -> AppError {
    let err = no_open_stage(field);
    AppError::Conflict {
        message: err.message.clone(),
        details: vec![err],
    }
}

/// The stage named by `move_leads_to`, locked for the leads about to land in it.
async fn move_target(tx: &mut TenantTx, stage_id: Uuid) -> Result<StageRow, AppError> {
    repo::stage_for_lead(tx, stage_id)
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
