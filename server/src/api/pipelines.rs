//! `/v1/pipelines` and their stages.

use crate::api::types::NotNull;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch};
use super::leads::Lead;
use super::pagination;
use super::responses::{
    envelopes, ApiResult, Conditional, Create, CreateIn, Created, GuardedDelete, List, ListMeta,
    Meta, NoContent, Read, Success, Tagged, Update,
};
use super::security::ApiKey;
use super::types::{patch, Bounded, Int, PathId, Text};
use super::ApiTags;
use crate::app::page::PageRequest;
use crate::app::pipelines::{self, PipelineWithStages, StageRow};
use crate::app::version::{by_field, by_updated_at};
use crate::auth::Scope;
use crate::domain::pipeline::{self as domain, NAME_MAX, STAGES_MAX};
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
#[derive(Debug, Clone, Object, serde::Serialize)]
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
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
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
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Pipeline {
    pub id: Uuid,
    pub name: String,
    /// The tenant's default pipeline, where a lead created without `pipeline_id` and
    /// `stage_id` lands (in its first open stage). Exactly one pipeline of a tenant is
    /// the default: its first, until another is made the default.
    #[oai(rename = "default")]
    #[serde(rename = "default")]
    pub is_default: bool,
    /// In position order.
    pub stages: Vec<Stage>,
    /// Changes with the pipeline and with any change to its stages.
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
}

impl From<PipelineWithStages> for Pipeline {
    fn from(PipelineWithStages { pipeline, stages }: PipelineWithStages) -> Self {
        Self {
            id: pipeline.id,
            name: pipeline.name,
            is_default: pipeline.is_default,
            stages: stages.into_iter().map(Stage::from).collect(),
            updated_at: pipeline.updated_at,
            created_at: pipeline.created_at,
        }
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
    pub kind: NotNull<StageKind>,
}

/// A new pipeline with its stages, in order.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct PipelineCreate {
    pub name: Text<NAME_MAX>,
    /// 1 to 50 stages, at least one of kind `open`.
    pub stages: Bounded<NewStage, 1, STAGES_MAX>,
    /// Make it the tenant's default pipeline (the one that was loses the flag). A
    /// tenant's first pipeline is its default whatever this says.
    #[oai(rename = "default")]
    pub is_default: Option<bool>,
}

/// Changes to a pipeline: its name, and whether it is the default. Stages change through
/// their own operations.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct PipelinePatch {
    pub name: NotNull<Text<NAME_MAX>>,
    /// `true` makes it the tenant's default pipeline, in the same transaction taking the
    /// flag from the one that had it. `false` on the default is a `422` (a tenant always
    /// has one: make another the default instead); on another pipeline it changes nothing.
    #[oai(rename = "default")]
    pub is_default: NotNull<bool>,
}

/// A new stage of an existing pipeline.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct StageCreate {
    pub name: Text<NAME_MAX>,
    /// Win probability in percent (default: 100 for `won`, else 0).
    pub probability: Option<Probability>,
    /// Default `open`.
    pub kind: NotNull<StageKind>,
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
    pub name: NotNull<Text<NAME_MAX>>,
    #[oai(nullable)]
    pub probability: MaybeUndefined<Probability>,
    pub kind: NotNull<StageKind>,
    pub position: NotNull<Position>,
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

impl From<NewStage> for domain::StageInput {
    fn from(stage: NewStage) -> Self {
        Self {
            name: Some(stage.name.0),
            probability: stage.probability.map(|p| p.0),
            kind: stage.kind.0.map(Into::into),
        }
    }
}

impl From<PipelinePatch> for domain::PipelinePatch {
    fn from(body: PipelinePatch) -> Self {
        Self {
            name: body.name.0.map(|n| n.0),
            default: body.is_default.0,
        }
    }
}

impl From<StagePatch> for domain::StagePatch {
    fn from(body: StagePatch) -> Self {
        Self {
            name: body.name.0.map(|n| n.0),
            probability: patch(body.probability, |p| Some(p.0)),
            kind: body.kind.0.map(Into::into),
            position: body.position.0.map(|p| p.0),
        }
    }
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

by_updated_at!(Pipeline, Stage);
by_field!(PipelineEnvelope => data, StageEnvelope => data);

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
        let stages = body.stages.0.into_iter().map(Into::into).collect();
        let default = body.is_default == Some(true);
        let created: Pipeline =
            pipelines::create(&state, &auth.0, body.name.0, stages, default).await?;
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
        let found = pipelines::get(&state, &auth.0, id).await?.into();
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
        let found = pipelines::update(&state, &auth.0, id, &if_match, body.0.into()).await?;
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
        let move_to = move_leads_to.0;
        pipelines::delete::<Pipeline, Lead>(&state, &auth.0, id, move_to, &if_match).await?;
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
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: sort.0,
        };
        let list = pipelines::list(&state, &auth.0, updated_after.0, &page).await?;
        Ok(Success(PipelineList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.map(Pipeline::from).items,
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
        let stages = pipelines::stages(&state, &auth.0, id, updated_after.0).await?;
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
        let StageCreate {
            name,
            probability,
            kind,
            position,
        } = body.0;
        let stage = NewStage {
            name,
            probability,
            kind,
        };
        let position = position.map(|p| p.0);
        let stage = stage.into();
        let row = pipelines::create_stage::<Pipeline>(&state, &auth.0, id, stage, position).await?;
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
        let row = pipelines::get_stage(&state, &auth.0, id, stage_id).await?;
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
        let patch = body.0.into();
        let row =
            pipelines::update_stage::<Pipeline>(&state, &auth.0, id, stage_id, &if_match, patch)
                .await?;
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
        let move_to = move_leads_to.0;
        pipelines::delete_stage::<Pipeline, Lead>(
            &state, &auth.0, id, stage_id, move_to, &if_match,
        )
        .await?;
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
        let ids = &body.0.stage_ids.0;
        let stages = pipelines::reorder::<Pipeline>(&state, &auth.0, id, &if_match, ids).await?;
        Ok(Success(stage_list(stages, &request_id)))
    }
}
