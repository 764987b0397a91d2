//! Pipelines and their stages: CRUD (`crud`), stages and their dense positions
//! (`stages`), the rules that protect leads (`rules`), tenant isolation (`isolation`), and
//! stage changes racing each other and lead moves (`races`). The helpers they share are
//! here.

use momentum_sdk::types::{self, StageKind};
use momentum_sdk::Client;
use uuid::Uuid;

mod crud;
mod default;
mod isolation;
mod races;
mod rules;
mod stages;

/// A stage of a new pipeline, with the kind's default probability.
fn stage(name: &str, kind: StageKind) -> types::NewStage {
    types::NewStage {
        name: name.parse().unwrap(),
        probability: None,
        kind: Some(kind),
    }
}

/// A body for a new stage of an existing pipeline: open, default probability.
fn new_stage(name: &str, position: Option<i64>) -> types::StageCreate {
    types::StageCreate {
        name: name.parse().unwrap(),
        probability: None,
        kind: None,
        position,
    }
}

/// Creates a pipeline through the SDK and returns it; panics on any failure.
async fn create_pipeline(c: &Client, name: &str, stages: Vec<types::NewStage>) -> types::Pipeline {
    c.pipelines_create()
        .body(types::PipelineCreate {
            default: None,
            name: name.parse().unwrap(),
            stages,
        })
        .send()
        .await
        .expect("create a pipeline")
        .into_inner()
        .data
}

/// A pipeline with three open stages, then a won and a lost one.
async fn funnel(c: &Client, name: &str) -> types::Pipeline {
    create_pipeline(
        c,
        name,
        vec![
            stage("One", StageKind::Open),
            stage("Two", StageKind::Open),
            stage("Three", StageKind::Open),
            stage("Won", StageKind::Won),
            stage("Lost", StageKind::Lost),
        ],
    )
    .await
}

/// The pipeline's stages as `stages_list` returns them.
async fn stages_of(c: &Client, pipeline_id: Uuid) -> Vec<types::Stage> {
    c.stages_list()
        .id(pipeline_id)
        .send()
        .await
        .expect("list stages")
        .into_inner()
        .data
}

/// The stage named `name`; panics when there is none.
fn named<'a>(stages: &'a [types::Stage], name: &str) -> &'a types::Stage {
    stages
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stage {name} in {stages:?}"))
}

fn names(stages: &[types::Stage]) -> Vec<&str> {
    stages.iter().map(|s| s.name.as_str()).collect()
}

/// Asserts the stages, in the order given, hold positions 0, 1, 2, ... exactly.
fn assert_dense(stages: &[types::Stage]) {
    let positions: Vec<i64> = stages.iter().map(|s| s.position).collect();
    let expected: Vec<i64> = (0..stages.len() as i64).collect();
    assert_eq!(
        positions,
        expected,
        "positions not dense and ordered: {:?}",
        stages
            .iter()
            .map(|s| (s.name.as_str(), s.position))
            .collect::<Vec<_>>()
    );
}

/// A lead placed by `pipeline_id` alone: it lands in the pipeline's first stage.
async fn lead_in(c: &Client, pipeline_id: Uuid, title: &str) -> types::Lead {
    c.leads_create()
        .body_map(|b| b.title(title).pipeline_id(pipeline_id))
        .send()
        .await
        .expect("create a lead")
        .into_inner()
        .data
}

async fn lead(c: &Client, id: Uuid) -> types::Lead {
    c.leads_get()
        .id(id)
        .send()
        .await
        .expect("get a lead")
        .into_inner()
        .data
}

/// The lead's `stage_change` activities.
async fn stage_changes(c: &Client, lead_id: Uuid) -> Vec<types::Activity> {
    c.leads_activities()
        .id(lead_id)
        .send()
        .await
        .expect("list a lead's activities")
        .into_inner()
        .data
        .into_iter()
        .filter(|a| a.type_ == "stage_change")
        .collect()
}
