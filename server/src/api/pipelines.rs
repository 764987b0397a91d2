//! `/v1/pipelines` and their stages.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch};
use super::events::{self, EventType};
use super::leads::emit_moved;
use super::merge::merge;
use super::pagination;
use super::responses::{
    envelopes, ApiResult, Conditional, Create, CreateIn, Created, GuardedDelete, List, ListMeta,
    Meta, NoContent, Read, Success, Tagged, Update,
};
use super::security::ApiKey;
use super::types::{Bounded, Int, PathId, Text};
use super::ApiTags;
use crate::auth::Scope;
use crate::db::pipelines::{self as repo, PipelineRow, PipelineSort, StageRow};
use crate::db::TenantTx;
use crate::domain::pipeline::{self as domain, NAME_MAX, STAGES_MAX};
use crate::error::AppError;
use crate::state::AppState;

type Probability = Int<0, 100>;
type Position = Int<0, { STAGES_MAX as i64 - 1 }>;

/// What reaching a stage means for a lead: still `open`, `won` or `lost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum StageKind {
    Open,
    Won,
    Lost,
}

impl From<StageKind> for domain::StageKind {
    fn from(kind: StageKind) -> Self {
        match kind {
            StageKind::Open => Self::Open,
            StageKind::Won => Self::Won,
            StageKind::Lost => Self::Lost,
        }
    }
}

/// A step of a pipeline.
#[derive(Debug, Clone, Object)]
pub struct Stage {
    pub id: Uuid,
    pub pipeline_id: Uuid,
    pub name: String,
    /// 0 for the first stage; positions are dense (0, 1, 2, ...).
    pub position: i64,
    /// Win probability in percent, 0-100.
    pub probability: i64,
    /// `open`, `won` or `lost`; the status of the leads in this stage. New kinds may be
    /// added, so accept values not in this list.
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StageRow> for Stage {
    fn from(row: StageRow) -> Self {
        Self {
            id: row.id,
            pipeline_id: row.pipeline_id,
            name: row.name,
            position: row.position.into(),
            probability: row.probability.into(),
            kind: row.kind,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A sales process: an ordered list of stages.
#[derive(Debug, Clone, Object)]
pub struct Pipeline {
    pub id: Uuid,
    pub name: String,
    /// In position order.
    pub stages: Vec<Stage>,
    /// Changes with the pipeline and with any change to its stages.
    pub updated_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A pipeline with its stages (which must be its own, in position order).
fn pipeline(row: PipelineRow, stages: Vec<StageRow>) -> Pipeline {
    Pipeline {
        id: row.id,
        name: row.name,
        stages: stages.into_iter().map(Stage::from).collect(),
        updated_at: row.updated_at,
        created_at: row.created_at,
    }
}

/// A stage of a new pipeline; its position is its place in the list.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct NewStage {
    pub name: Text<NAME_MAX>,
    /// Win probability in percent (default: 100 for `won`, else 0).
    pub probability: Option<Probability>,
    /// Default `open`.
    pub kind: Option<StageKind>,
}

/// A new pipeline with its stages, in order.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct PipelineCreate {
    pub name: Text<NAME_MAX>,
    /// 1 to 50 stages, at least one of kind `open`.
    pub stages: Bounded<NewStage, 1, STAGES_MAX>,
}

/// Changes to a pipeline: its name. Stages change through their own operations.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct PipelinePatch {
    pub name: Option<Text<NAME_MAX>>,
}

/// A new stage of an existing pipeline.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct StageCreate {
    pub name: Text<NAME_MAX>,
    /// Win probability in percent (default: 100 for `won`, else 0).
    pub probability: Option<Probability>,
    /// Default `open`.
    pub kind: Option<StageKind>,
    /// Where to insert it (0 = first); later stages move down by one. Default: last.
    pub position: Option<Position>,
}

/// Changes to a stage, as a JSON Merge Patch: a field left out is kept. Moving it to
/// another `position` shifts the stages in between. `kind` cannot change while leads are
/// in the stage (409), nor leave the pipeline without an `open` stage (409).
/// `probability: null` resets it to the kind's default.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct StagePatch {
    pub name: Option<Text<NAME_MAX>>,
    #[oai(nullable)]
    pub probability: MaybeUndefined<Probability>,
    pub kind: Option<StageKind>,
    pub position: Option<Position>,
}

/// The new order of a pipeline's stages.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct StageOrder {
    /// Every stage id of the pipeline, each once, first stage first.
    pub stage_ids: Bounded<Uuid, 0, STAGES_MAX>,
}

envelopes!(
    Pipeline,
    PipelineEnvelope,
    PipelineList,
    "One pipeline in the envelope.",
    "A page of pipelines in the envelope."
);
envelopes!(
    Stage,
    StageEnvelope,
    StageList,
    "One stage in the envelope.",
    "A pipeline's stages in the envelope: all of them, in one page."
);

impl NewStage {
    fn input(self) -> domain::StageInput {
        domain::StageInput {
            name: Some(self.name.0),
            probability: self.probability.map(|p| p.0),
            kind: self.kind.map(Into::into),
        }
    }
}

impl StageCreate {
    fn parse(self) -> Result<(domain::Stage, Option<i64>), AppError> {
        let position = self.position.map(|p| p.0);
        let stage = NewStage {
            name: self.name,
            probability: self.probability,
            kind: self.kind,
        };
        let stage = domain::Stage::parse("", stage.input()).map_err(AppError::Validation)?;
        Ok((stage, position))
    }
}

async fn load(tx: &mut TenantTx, id: Uuid) -> Result<Pipeline, AppError> {
    let row = repo::get(tx, id).await?;
    let stages = repo::stages_of(tx, &[id]).await?;
    Ok(pipeline(row, stages))
}

/// Records `pipeline.updated` with the pipeline as `pipelines_get` shows it after a change
/// to it or its stages (called in the change's transaction).
async fn emit_updated(tx: &mut TenantTx, id: Uuid) -> Result<Pipeline, AppError> {
    let updated = load(tx, id).await?;
    events::emit(tx, EventType::PipelineUpdated, &updated).await?;
    Ok(updated)
}

fn one(data: Pipeline, request_id: &RequestId) -> PipelineEnvelope {
    PipelineEnvelope {
        data,
        meta: Meta::of(request_id),
    }
}

fn stage_list(stages: Vec<StageRow>, request_id: &RequestId) -> StageList {
    StageList {
        meta: ListMeta {
            request_id: request_id.0.clone(),
            next_cursor: None,
            has_more: false,
            limit: STAGES_MAX as u32,
        },
        data: stages.into_iter().map(Stage::from).collect(),
    }
}

pub struct PipelinesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Pipelines")]
impl PipelinesApi {
    /// Create a pipeline
    ///
    /// With its stages, in order; at least one must be `open`.
    #[oai(
        path = "/pipelines",
        method = "post",
        operation_id = "pipelines_create"
    )]
    async fn create(
        &self,
        #[oai(scope = "Scope::PipelinesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<PipelineCreate>,
    ) -> ApiResult<Tagged<Created<PipelineEnvelope>>, Create> {
        let body = body.0;
        let stages = body.stages.0.into_iter().map(NewStage::input).collect();
        let new =
            domain::NewPipeline::parse(Some(body.name.0), stages).map_err(AppError::Validation)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let row = repo::insert(&mut tx, &new).await?;
        let created = load(&mut tx, row.id).await?;
        events::emit(&mut tx, EventType::PipelineCreated, &created).await?;
        tx.commit().await?;
        Ok(Tagged(Created {
            location: format!("/v1/pipelines/{}", created.id),
            body: one(created, &request_id),
        }))
    }

    /// Get a pipeline
    ///
    /// With its stages in position order.
    #[oai(
        path = "/pipelines/:id",
        method = "get",
        operation_id = "pipelines_get"
    )]
    async fn get(
        &self,
        #[oai(scope = "Scope::PipelinesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The pipeline's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<PipelineEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let found = load(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Conditional::new(one(found, &request_id), &if_none_match))
    }

    /// Rename a pipeline
    #[oai(
        path = "/pipelines/:id",
        method = "patch",
        operation_id = "pipelines_update"
    )]
    async fn update(
        &self,
        #[oai(scope = "Scope::PipelinesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The pipeline's id.
        id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<PipelinePatch>,
    ) -> ApiResult<Tagged<Success<PipelineEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        if_match
            .check_with(repo::get_for_update(&mut tx, id))
            .await?;
        // A patch without a name writes nothing, so it has nothing to report either.
        let found = match body.0.name {
            Some(name) => {
                let name = domain::parse_name(Some(name.0)).map_err(AppError::Validation)?;
                repo::rename(&mut tx, id, &name).await?;
                emit_updated(&mut tx, id).await?
            }
            None => load(&mut tx, id).await?,
        };
        tx.commit().await?;
        Ok(Tagged(Success(one(found, &request_id))))
    }

    /// Delete a pipeline
    ///
    /// Deletes the pipeline and its stages. While it holds leads this is a `409`, unless
    /// `move_leads_to` names a stage of another pipeline: the leads move there first (each
    /// move is recorded on the lead), in the same transaction.
    #[oai(
        path = "/pipelines/:id",
        method = "delete",
        operation_id = "pipelines_delete"
    )]
    async fn delete(
        &self,
        #[oai(scope = "Scope::PipelinesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        /// The pipeline's id.
        id: Path<PathId>,
        /// A stage of another pipeline to move this pipeline's leads to.
        move_leads_to: Query<Option<Uuid>>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, GuardedDelete> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        if_match
            .check_with(repo::get_for_update(&mut tx, id))
            .await?;
        let deleted = repo::delete(&mut tx, id, move_leads_to.0).await?;
        emit_moved(&mut tx, deleted.moved).await?;
        let before = pipeline(deleted.pipeline, deleted.stages);
        events::emit(&mut tx, EventType::PipelineDeleted, &before).await?;
        tx.commit().await?;
        Ok(NoContent)
    }

    /// List pipelines
    ///
    /// Each with its stages. Keyset-paginated like every list.
    #[oai(path = "/pipelines", method = "get", operation_id = "pipelines_list")]
    async fn list(
        &self,
        #[oai(scope = "Scope::PipelinesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Sort order: `created_at` (default) or `updated_at`; a leading `-` sorts
        /// descending.
        #[oai(validator(pattern = "^-?(created_at|updated_at)$"))]
        sort: Query<Option<String>>,
        /// Only pipelines changed (themselves or their stages) strictly after this instant.
        updated_after: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Success<PipelineList>, List> {
        let page = pagination::page(
            limit.0,
            cursor.0.as_deref(),
            sort.0.as_deref(),
            PipelineSort::CreatedAt,
        )?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let (rows, has_more) = repo::list(&mut tx, updated_after.0, &page).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut stages: HashMap<Uuid, Vec<StageRow>> = HashMap::new();
        for stage in repo::stages_of(&mut tx, &ids).await? {
            stages.entry(stage.pipeline_id).or_default().push(stage);
        }
        tx.commit().await?;
        let meta = pagination::meta(&page, &rows, has_more, &request_id);
        Ok(Success(PipelineList {
            meta,
            data: rows
                .into_iter()
                .map(|row| {
                    let own = stages.remove(&row.id).unwrap_or_default();
                    pipeline(row, own)
                })
                .collect(),
        }))
    }

    /// List a pipeline's stages
    ///
    /// All of them (at most 50), in position order.
    #[oai(
        path = "/pipelines/:id/stages",
        method = "get",
        operation_id = "stages_list"
    )]
    async fn stages(
        &self,
        #[oai(scope = "Scope::PipelinesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The pipeline's id.
        id: Path<PathId>,
        /// Only stages changed strictly after this instant (RFC 3339).
        updated_after: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Success<StageList>, Read> {
        let id = id.0.parse("id")?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        repo::get(&mut tx, id).await?;
        let mut stages = repo::stages_of(&mut tx, &[id]).await?;
        tx.commit().await?;
        if let Some(after) = updated_after.0 {
            stages.retain(|s| s.updated_at > after);
        }
        Ok(Success(stage_list(stages, &request_id)))
    }

    /// Add a stage
    ///
    /// At `position` (default: last); the stages from there on move down by one.
    #[oai(
        path = "/pipelines/:id/stages",
        method = "post",
        operation_id = "stages_create"
    )]
    async fn create_stage(
        &self,
        #[oai(scope = "Scope::PipelinesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The pipeline's id.
        id: Path<PathId>,
        body: Json<StageCreate>,
    ) -> ApiResult<Tagged<Created<StageEnvelope>>, CreateIn> {
        let id = id.0.parse("id")?;
        let (stage, position) = body.0.parse()?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let row = repo::create_stage(&mut tx, id, &stage, position).await?;
        emit_updated(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Tagged(Created {
            location: format!("/v1/pipelines/{id}/stages/{}", row.id),
            body: StageEnvelope {
                data: row.into(),
                meta: Meta::of(&request_id),
            },
        }))
    }

    /// Get a stage
    #[oai(
        path = "/pipelines/:id/stages/:stage_id",
        method = "get",
        operation_id = "stages_get"
    )]
    async fn get_stage(
        &self,
        #[oai(scope = "Scope::PipelinesRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The pipeline's id.
        id: Path<PathId>,
        /// The stage's id.
        stage_id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<StageEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let stage_id = stage_id.0.parse("stage_id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let row = repo::get_stage(&mut tx, id, stage_id).await?;
        tx.commit().await?;
        let found = StageEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        };
        Ok(Conditional::new(found, &if_none_match))
    }

    /// Update a stage
    ///
    /// JSON Merge Patch of name, probability, kind and position.
    #[oai(
        path = "/pipelines/:id/stages/:stage_id",
        method = "patch",
        operation_id = "stages_update"
    )]
    async fn update_stage(
        &self,
        #[oai(scope = "Scope::PipelinesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The pipeline's id.
        id: Path<PathId>,
        /// The stage's id.
        stage_id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<StagePatch>,
    ) -> ApiResult<Tagged<Success<StageEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let stage_id = stage_id.0.parse("stage_id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let current = repo::lock_stage(&mut tx, id, stage_id).await?;
        if_match.check(&current)?;
        let merged = merge::<StageCreate, _>(&Stage::from(current.clone()), &body.0)?;
        let (stage, position) = merged.parse()?;
        let position = position.unwrap_or(i64::from(current.position));
        let row = repo::update_stage(&mut tx, &current, &stage, position).await?;
        emit_updated(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Tagged(Success(StageEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        })))
    }

    /// Delete a stage
    ///
    /// The stages after it move up by one. The last `open` stage of a pipeline cannot be
    /// deleted (409). While the stage holds leads this is a `409`, unless `move_leads_to`
    /// names another stage of the tenant (of any pipeline): the leads move there first,
    /// each move recorded on the lead.
    #[oai(
        path = "/pipelines/:id/stages/:stage_id",
        method = "delete",
        operation_id = "stages_delete"
    )]
    async fn delete_stage(
        &self,
        #[oai(scope = "Scope::PipelinesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        /// The pipeline's id.
        id: Path<PathId>,
        /// The stage's id.
        stage_id: Path<PathId>,
        /// Another stage to move this stage's leads to.
        move_leads_to: Query<Option<Uuid>>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, GuardedDelete> {
        let id = id.0.parse("id")?;
        let stage_id = stage_id.0.parse("stage_id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        if_match
            .check_with(repo::stage_under_lock(&mut tx, id, stage_id))
            .await?;
        let moved = repo::delete_stage(&mut tx, id, stage_id, move_leads_to.0).await?;
        emit_moved(&mut tx, moved).await?;
        emit_updated(&mut tx, id).await?;
        tx.commit().await?;
        Ok(NoContent)
    }

    /// Reorder a pipeline's stages
    ///
    /// One atomic call: `stage_ids` lists every stage of the pipeline once, in the new
    /// order. Returns the stages in that order.
    #[oai(
        path = "/pipelines/:id/stages/order",
        method = "put",
        operation_id = "stages_reorder"
    )]
    async fn reorder(
        &self,
        #[oai(scope = "Scope::PipelinesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The pipeline's id.
        id: Path<PathId>,
        /// Reorder only this version of the pipeline: its `ETag` (or a list of them), or
        /// `*` for any; otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<StageOrder>,
    ) -> ApiResult<Success<StageList>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        if_match
            .check_with(repo::get_for_update(&mut tx, id))
            .await?;
        let stages = repo::reorder(&mut tx, id, &body.0.stage_ids.0).await?;
        emit_updated(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Success(stage_list(stages, &request_id)))
    }
}
