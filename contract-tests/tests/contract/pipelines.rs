//! Pipelines and their stages: CRUD, dense positions, the rules that protect leads, tenant
//! isolation, and stage changes racing each other and lead moves.

use std::collections::HashSet;

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{LeadPatch, PipelinePatch, StagePatch};
use momentum_sdk::types::{self, StageKind};
use momentum_sdk::Client;
use uuid::Uuid;

use crate::{details, fields, Refused, ANY_CODE};

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
        .body_map(|b| b.title(title).pipeline_id(Some(pipeline_id)))
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

#[tokio::test]
async fn a_new_tenant_has_one_sales_pipeline_with_six_stages_in_order() {
    let app = TestApp::spawn().await;
    let listed = app
        .client
        .pipelines_list()
        .send()
        .await
        .expect("list pipelines")
        .into_inner();
    assert_eq!(listed.data.len(), 1);
    assert!(!listed.meta.has_more);
    let sales = &listed.data[0];
    assert_eq!(sales.name, "Sales");
    let stages: Vec<(&str, &str, i64, i64)> = sales
        .stages
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str(), s.probability, s.position))
        .collect();
    assert_eq!(
        stages,
        [
            ("Lead in", "open", 10, 0),
            ("Qualified", "open", 25, 1),
            ("Proposal", "open", 50, 2),
            ("Negotiation", "open", 75, 3),
            ("Won", "won", 100, 4),
            ("Lost", "lost", 0, 5),
        ]
    );
    assert!(sales.stages.iter().all(|s| s.pipeline_id == sales.id));
    assert_eq!(stages_of(&app.client, sales.id).await, sales.stages);
}

#[tokio::test]
async fn a_pipeline_goes_through_create_read_rename_and_delete() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    let created = c
        .pipelines_create()
        .body(types::PipelineCreate {
            name: "Hiring".parse().unwrap(),
            stages: vec![
                stage("Applied", StageKind::Open),
                types::NewStage {
                    name: "Interview".parse().unwrap(),
                    probability: Some(40),
                    kind: None,
                },
                stage("Hired", StageKind::Won),
                stage("Rejected", StageKind::Lost),
            ],
        })
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let hiring = created.into_inner().data;
    assert_eq!(location, format!("/v1/pipelines/{}", hiring.id));
    assert_eq!(hiring.name, "Hiring");
    let stages: Vec<(&str, &str, i64, i64)> = hiring
        .stages
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str(), s.probability, s.position))
        .collect();
    assert_eq!(
        stages,
        [
            ("Applied", "open", 0, 0),
            ("Interview", "open", 40, 1),
            ("Hired", "won", 100, 2),
            ("Rejected", "lost", 0, 3),
        ],
        "given order, dense positions, kind `open` and probabilities defaulted by kind"
    );
    assert!(hiring.stages.iter().all(|s| s.pipeline_id == hiring.id));

    let got = c
        .pipelines_get()
        .id(hiring.id)
        .send()
        .await
        .expect("get")
        .into_inner()
        .data;
    assert_eq!(got, hiring);

    let renamed = c
        .pipelines_update()
        .id(hiring.id)
        .body(PipelinePatch {
            name: Some("Recruiting".into()),
        })
        .send()
        .await
        .expect("rename")
        .into_inner()
        .data;
    assert_eq!(renamed.name, "Recruiting");
    assert_eq!(renamed.stages, hiring.stages, "stages are kept");
    assert!(renamed.updated_at > hiring.updated_at);
    let stored = c.pipelines_get().id(hiring.id).send().await.unwrap();
    assert_eq!(stored.into_inner().data.name, "Recruiting");

    let deleted = c
        .pipelines_delete()
        .id(hiring.id)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    c.pipelines_get()
        .id(hiring.id)
        .send()
        .await
        .refused(404, "not_found");
    c.stages_list()
        .id(hiring.id)
        .send()
        .await
        .refused_as("its stages went with it", 404, ANY_CODE);
    c.pipelines_delete().id(hiring.id).send().await.refused_as(
        "a second delete finds nothing",
        404,
        ANY_CODE,
    );
    let left = c.pipelines_list().send().await.unwrap().into_inner().data;
    assert_eq!(
        left.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["Sales"]
    );
}

#[tokio::test]
async fn pipelines_page_with_a_cursor_in_creation_order() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let second = funnel(c, "Second").await;

    let first = c
        .pipelines_list()
        .limit(1)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.data.len(), 1);
    assert_eq!(first.data[0].name, "Sales");
    assert_eq!(first.data[0].stages.len(), 6, "each with its stages");
    assert!(first.meta.has_more);
    assert_eq!(first.meta.limit, 1);
    let cursor = first.meta.next_cursor.expect("a cursor to the next page");

    let rest = c
        .pipelines_list()
        .limit(1)
        .cursor(cursor)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.data, vec![second]);
    assert!(!rest.meta.has_more);
    assert_eq!(rest.meta.next_cursor, None);
}

#[tokio::test]
async fn updated_after_lists_only_pipelines_changed_later_including_stage_changes() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = c.pipelines_list().send().await.unwrap().into_inner().data[0].clone();
    let newer = funnel(c, "Newer").await;
    let since = newer.updated_at;

    let none = c
        .pipelines_list()
        .updated_after(since)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(none.data.is_empty(), "strictly after: {:?}", none.data);

    // A change to a stage counts as a change to its pipeline.
    c.stages_create()
        .id(sales.id)
        .body(new_stage("Demo", None))
        .send()
        .await
        .expect("add a stage");
    let delta = c
        .pipelines_list()
        .updated_after(since)
        .send()
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<Uuid> = delta.data.iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![sales.id]);
    assert!(delta.data[0].updated_at > sales.updated_at);
}

#[tokio::test]
async fn a_pipeline_without_an_open_stage_is_refused() {
    let app = TestApp::spawn().await;
    let err = app
        .client
        .pipelines_create()
        .body(types::PipelineCreate {
            name: "Closed".parse().unwrap(),
            stages: vec![stage("Won", StageKind::Won), stage("Lost", StageKind::Lost)],
        })
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(details(&err), [("stages", "open_stage_required")]);
    let listed = app.client.pipelines_list().send().await.unwrap();
    assert_eq!(listed.into_inner().data.len(), 1, "nothing was created");
}

#[tokio::test]
async fn a_pipeline_without_stages_is_refused_naming_stages() {
    let app = TestApp::spawn().await;
    let err = app
        .client
        .pipelines_create()
        .body(types::PipelineCreate {
            name: "Empty".parse().unwrap(),
            stages: vec![],
        })
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(details(&err), [("stages", "out_of_range")]);
    let listed = app.client.pipelines_list().send().await.unwrap();
    assert_eq!(listed.into_inner().data.len(), 1, "nothing was created");
}

#[tokio::test]
async fn a_probability_above_100_is_refused_naming_the_stage() {
    let app = TestApp::spawn().await;
    let err = app
        .client
        .pipelines_create()
        .body(types::PipelineCreate {
            name: "Optimistic".parse().unwrap(),
            stages: vec![types::NewStage {
                name: "Sure thing".parse().unwrap(),
                probability: Some(101),
                kind: None,
            }],
        })
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(fields(&err), ["stages[0].probability"]);
}

#[tokio::test]
async fn stages_are_listed_and_read_in_position_order() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;

    let listed = c.stages_list().id(p.id).send().await.unwrap().into_inner();
    assert_eq!(listed.data, p.stages);
    assert_eq!(names(&listed.data), ["One", "Two", "Three", "Won", "Lost"]);
    assert_dense(&listed.data);
    assert!(!listed.meta.has_more);
    assert_eq!(listed.meta.next_cursor, None);

    let two = named(&p.stages, "Two");
    let got = c
        .stages_get()
        .id(p.id)
        .stage_id(two.id)
        .send()
        .await
        .expect("get a stage")
        .into_inner()
        .data;
    assert_eq!(&got, two);

    // A stage is read through its own pipeline only.
    let sales = c.pipelines_list().send().await.unwrap().into_inner().data[0].clone();
    c.stages_get()
        .id(sales.id)
        .stage_id(two.id)
        .send()
        .await
        .refused(404, "not_found");
}

#[tokio::test]
async fn a_stage_added_at_a_position_shifts_the_later_stages_down() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;

    let created = c
        .stages_create()
        .id(p.id)
        .body(types::StageCreate {
            name: "Demo".parse().unwrap(),
            probability: Some(30),
            kind: Some(StageKind::Open),
            position: Some(1),
        })
        .send()
        .await
        .expect("add a stage");
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let demo = created.into_inner().data;
    assert_eq!(
        location,
        format!("/v1/pipelines/{}/stages/{}", p.id, demo.id)
    );
    assert_eq!(
        (demo.name.as_str(), demo.kind.as_str(), demo.probability),
        ("Demo", "open", 30)
    );
    assert_eq!((demo.pipeline_id, demo.position), (p.id, 1));

    let stages = stages_of(c, p.id).await;
    assert_eq!(
        names(&stages),
        ["One", "Demo", "Two", "Three", "Won", "Lost"]
    );
    assert_dense(&stages);

    // Without a position it goes last; a won stage defaults to 100.
    let last = c
        .stages_create()
        .id(p.id)
        .body(types::StageCreate {
            kind: Some(StageKind::Won),
            ..new_stage("Won big", None)
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!((last.position, last.probability), (6, 100));
    let first = c
        .stages_create()
        .id(p.id)
        .body(new_stage("Zero", Some(0)))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(first.position, 0);
    let stages = stages_of(c, p.id).await;
    assert_eq!(
        names(&stages),
        ["Zero", "One", "Demo", "Two", "Three", "Won", "Lost", "Won big"]
    );
    assert_dense(&stages);
    let got = c.pipelines_get().id(p.id).send().await.unwrap();
    assert_eq!(got.into_inner().data.stages, stages);
}

#[tokio::test]
async fn a_stage_position_out_of_range_is_refused() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;

    // Five stages: a new one may go at 0 to 5.
    let err = c
        .stages_create()
        .id(p.id)
        .body(new_stage("Far", Some(6)))
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(fields(&err), ["position"]);

    // An existing one may move to 0 to 4.
    let one = named(&p.stages, "One");
    for position in [5, -1] {
        let err = c
            .stages_update()
            .id(p.id)
            .stage_id(one.id)
            .body(StagePatch {
                position: Some(position),
                ..Default::default()
            })
            .send()
            .await
            .refused_as(position, 422, ANY_CODE);
        assert_eq!(fields(&err), ["position"], "{position}");
    }
    let stages = stages_of(c, p.id).await;
    assert_eq!(stages, p.stages, "nothing changed");
}

#[tokio::test]
async fn a_stage_can_be_renamed_and_given_a_probability_and_null_resets_it() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let two = named(&p.stages, "Two").clone();

    let updated = c
        .stages_update()
        .id(p.id)
        .stage_id(two.id)
        .body(StagePatch {
            name: Some("Demo".into()),
            probability: Some(Some(40)),
            ..Default::default()
        })
        .send()
        .await
        .expect("update a stage")
        .into_inner()
        .data;
    assert_eq!(
        (
            updated.name.as_str(),
            updated.probability,
            updated.kind.as_str()
        ),
        ("Demo", 40, "open")
    );
    assert_eq!(updated.position, two.position, "absent fields are kept");
    assert!(updated.updated_at > two.updated_at);
    let stored = c
        .stages_get()
        .id(p.id)
        .stage_id(two.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(stored, updated);

    let reset = c
        .stages_update()
        .id(p.id)
        .stage_id(two.id)
        .body(StagePatch {
            probability: Some(None),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(reset.probability, 0, "the default of an open stage");

    let err = c
        .stages_update()
        .id(p.id)
        .stage_id(two.id)
        .body(StagePatch {
            probability: Some(Some(101)),
            ..Default::default()
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields(&err), ["probability"]);
}

#[tokio::test]
async fn moving_a_stage_up_or_down_shifts_the_stages_in_between() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let three = named(&p.stages, "Three").id;
    let move_to = |position: i64| {
        c.stages_update().id(p.id).stage_id(three).body(StagePatch {
            position: Some(position),
            ..Default::default()
        })
    };

    let up = move_to(0).send().await.expect("move up").into_inner().data;
    assert_eq!(up.position, 0);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["Three", "One", "Two", "Won", "Lost"]);
    assert_dense(&stages);

    let down = move_to(3)
        .send()
        .await
        .expect("move down")
        .into_inner()
        .data;
    assert_eq!(down.position, 3);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["One", "Two", "Won", "Three", "Lost"]);
    assert_dense(&stages);

    let last = move_to(4)
        .send()
        .await
        .expect("move last")
        .into_inner()
        .data;
    assert_eq!(last.position, 4);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["One", "Two", "Won", "Lost", "Three"]);
    assert_dense(&stages);

    let same = move_to(4).send().await.expect("stay").into_inner().data;
    assert_eq!(same.position, 4);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["One", "Two", "Won", "Lost", "Three"]);
    assert_dense(&stages);
}

#[tokio::test]
async fn a_stage_patch_without_a_name_keeps_the_name() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let three = named(&p.stages, "Three").id;

    let moved = c
        .stages_update()
        .id(p.id)
        .stage_id(three)
        .body(StagePatch {
            position: Some(0),
            ..Default::default()
        })
        .send()
        .await
        .expect("a patch of the position alone")
        .into_inner()
        .data;
    assert_eq!((moved.name.as_str(), moved.position), ("Three", 0));
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["Three", "One", "Two", "Won", "Lost"]);
    assert_dense(&stages);
}

#[tokio::test]
async fn a_lead_patch_of_the_stage_alone_moves_the_lead() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let two = named(&p.stages, "Two").id;
    let deal = lead_in(c, p.id, "Deal").await;

    let moved = c
        .leads_update()
        .id(deal.id)
        .body(LeadPatch {
            stage_id: Some(two),
            ..Default::default()
        })
        .send()
        .await
        .expect("a patch of the stage alone")
        .into_inner()
        .data;
    assert_eq!(
        (moved.stage_id, moved.status.as_str(), moved.title.as_str()),
        (two, "open", "Deal")
    );
    assert_eq!(stage_changes(c, deal.id).await.len(), 1);
}

#[tokio::test]
async fn deleting_a_stage_closes_the_gap() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;

    let deleted = c
        .stages_delete()
        .id(p.id)
        .stage_id(named(&p.stages, "Two").id)
        .send()
        .await
        .expect("delete a stage");
    assert_eq!(deleted.status().as_u16(), 204);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["One", "Three", "Won", "Lost"]);
    assert_dense(&stages);

    c.stages_delete()
        .id(p.id)
        .stage_id(named(&p.stages, "One").id)
        .send()
        .await
        .expect("delete the first stage");
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["Three", "Won", "Lost"]);
    assert_dense(&stages);

    c.stages_get()
        .id(p.id)
        .stage_id(named(&p.stages, "One").id)
        .send()
        .await
        .refused(404, "not_found");
    c.stages_delete()
        .id(p.id)
        .stage_id(named(&p.stages, "One").id)
        .send()
        .await
        .refused_as("a second delete finds nothing", 404, ANY_CODE);
}

#[tokio::test]
async fn reordering_puts_the_stages_in_the_given_order() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let reversed: Vec<Uuid> = p.stages.iter().rev().map(|s| s.id).collect();

    let reordered = c
        .stages_reorder()
        .id(p.id)
        .body(types::StageOrder {
            stage_ids: reversed.clone(),
        })
        .send()
        .await
        .expect("reorder");
    assert_eq!(reordered.status().as_u16(), 200);
    let returned = reordered.into_inner().data;
    assert_eq!(
        returned.iter().map(|s| s.id).collect::<Vec<_>>(),
        reversed,
        "returned in the new order"
    );
    assert_dense(&returned);

    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["Lost", "Won", "Three", "Two", "One"]);
    assert_dense(&stages);
    assert_eq!(stages, returned);

    // New leads start in the (new) first stage, open or not: here it is lost, and a lead
    // without a lost reason cannot land there.
    let err = c
        .leads_create()
        .body_map(|b| b.title("Deal").pipeline_id(Some(p.id)))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields(&err), ["lost_reason"]);
}

#[tokio::test]
async fn a_reorder_must_list_every_stage_of_the_pipeline_exactly_once() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let other = funnel(c, "Other").await;
    let ids: Vec<Uuid> = p.stages.iter().map(|s| s.id).collect();

    let missing = ids[1..].to_vec();
    let mut foreign = ids.clone();
    foreign[0] = other.stages[0].id;
    let mut twice = ids.clone();
    twice[0] = ids[1];
    let mut extra = ids.clone();
    extra.push(other.stages[0].id);
    for (label, stage_ids) in [
        ("one missing", missing),
        ("a stage of another pipeline", foreign),
        ("one twice", twice),
        ("one too many", extra),
        ("none", vec![]),
    ] {
        let err = c
            .stages_reorder()
            .id(p.id)
            .body(types::StageOrder { stage_ids })
            .send()
            .await
            .refused_as(label, 422, "validation_failed");
        assert_eq!(fields(&err), ["stage_ids"], "{label}");
    }
    assert_eq!(stages_of(c, p.id).await, p.stages, "nothing moved");
    assert_eq!(stages_of(c, other.id).await, other.stages);
}

#[tokio::test]
async fn the_last_open_stage_can_neither_be_deleted_nor_change_kind() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = create_pipeline(
        c,
        "Tiny",
        vec![
            stage("Only", StageKind::Open),
            stage("Won", StageKind::Won),
            stage("Lost", StageKind::Lost),
        ],
    )
    .await;
    let only = named(&p.stages, "Only").id;

    let err = c
        .stages_delete()
        .id(p.id)
        .stage_id(only)
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(err.error.details[0].code, "open_stage_required");

    let err = c
        .stages_update()
        .id(p.id)
        .stage_id(only)
        .body(StagePatch {
            kind: Some(StageKind::Won),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(details(&err), [("kind", "open_stage_required")]);
    assert_eq!(stages_of(c, p.id).await, p.stages, "nothing changed");

    // With a second open stage, the first may go.
    c.stages_create()
        .id(p.id)
        .body(new_stage("Another", None))
        .send()
        .await
        .unwrap();
    let changed = c
        .stages_update()
        .id(p.id)
        .stage_id(only)
        .body(StagePatch {
            kind: Some(StageKind::Lost),
            ..Default::default()
        })
        .send()
        .await
        .expect("change the kind of an open stage that is not the last")
        .into_inner()
        .data;
    assert_eq!(changed.kind, "lost");
    c.stages_delete()
        .id(p.id)
        .stage_id(named(&stages_of(c, p.id).await, "Another").id)
        .send()
        .await
        .refused_as("Another is now the last open stage", 409, ANY_CODE);
}

#[tokio::test]
async fn a_stage_holding_a_lead_cannot_change_kind() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let one = named(&p.stages, "One").clone();
    let deal = lead_in(c, p.id, "Deal").await;
    assert_eq!((deal.stage_id, deal.status.as_str()), (one.id, "open"));

    let err = c
        .stages_update()
        .id(p.id)
        .stage_id(one.id)
        .body(StagePatch {
            kind: Some(StageKind::Won),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(details(&err), [("kind", "has_leads")]);
    assert_eq!(lead(c, deal.id).await.status, "open");

    // Other changes to the stage are fine.
    let renamed = c
        .stages_update()
        .id(p.id)
        .stage_id(one.id)
        .body(StagePatch {
            name: Some("First".into()),
            position: Some(2),
            ..Default::default()
        })
        .send()
        .await
        .expect("rename and move a stage holding a lead")
        .into_inner()
        .data;
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.kind.as_str(),
            renamed.position
        ),
        ("First", "open", 2)
    );
}

#[tokio::test]
async fn deleting_a_stage_with_leads_needs_a_stage_to_move_them_to() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let one = named(&p.stages, "One").id;
    let three = named(&p.stages, "Three").id;
    let deal = lead_in(c, p.id, "Deal").await;
    assert!(stage_changes(c, deal.id).await.is_empty());

    let err = c
        .stages_delete()
        .id(p.id)
        .stage_id(one)
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(details(&err), [("move_leads_to", "has_leads")]);
    assert_eq!(stages_of(c, p.id).await, p.stages, "nothing was deleted");

    let err = c
        .stages_delete()
        .id(p.id)
        .stage_id(one)
        .move_leads_to(Uuid::now_v7())
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(details(&err), [("move_leads_to", "not_found")]);

    let deleted = c
        .stages_delete()
        .id(p.id)
        .stage_id(one)
        .move_leads_to(three)
        .send()
        .await
        .expect("delete, moving the leads");
    assert_eq!(deleted.status().as_u16(), 204);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["Two", "Three", "Won", "Lost"]);
    assert_dense(&stages);

    let moved = lead(c, deal.id).await;
    assert_eq!(
        (moved.pipeline_id, moved.stage_id, moved.status.as_str()),
        (p.id, three, "open")
    );
    assert!(moved.stage_changed_at > deal.stage_changed_at);
    let changes = stage_changes(c, deal.id).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].system);
    assert_eq!(changes[0].lead_id, Some(deal.id));
    let subject = changes[0].subject.as_deref().unwrap_or_default();
    assert!(
        subject.contains("One") && subject.contains("Three"),
        "{subject}"
    );
}

#[tokio::test]
async fn leads_moved_by_a_stage_delete_take_the_new_stages_status() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let won = named(&p.stages, "Won").id;
    let deal = lead_in(c, p.id, "Deal").await;

    c.stages_delete()
        .id(p.id)
        .stage_id(named(&p.stages, "One").id)
        .move_leads_to(won)
        .send()
        .await
        .expect("delete, moving the leads to a won stage");
    let moved = lead(c, deal.id).await;
    assert_eq!((moved.stage_id, moved.status.as_str()), (won, "won"));
    assert!(moved.won_at.is_some());
}

#[tokio::test]
async fn leads_without_a_lost_reason_cannot_be_moved_to_a_lost_stage() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let one = named(&p.stages, "One").id;
    let lost = named(&p.stages, "Lost").id;
    let deal = lead_in(c, p.id, "Deal").await;

    let err = c
        .stages_delete()
        .id(p.id)
        .stage_id(one)
        .move_leads_to(lost)
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(fields(&err), ["move_leads_to"]);
    assert_eq!(stages_of(c, p.id).await, p.stages, "nothing was deleted");
    let kept = lead(c, deal.id).await;
    assert_eq!((kept.stage_id, kept.status.as_str()), (one, "open"));
    assert!(
        stage_changes(c, deal.id).await.is_empty(),
        "nothing recorded"
    );
}

#[tokio::test]
async fn deleting_a_pipeline_with_leads_needs_a_stage_of_another_pipeline() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let old = funnel(c, "Old").await;
    let new = funnel(c, "New").await;
    let target = named(&new.stages, "Two").id;
    let deal = lead_in(c, old.id, "Deal").await;

    let err = c
        .pipelines_delete()
        .id(old.id)
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(details(&err), [("move_leads_to", "has_leads")]);

    let err = c
        .pipelines_delete()
        .id(old.id)
        .move_leads_to(named(&old.stages, "Three").id)
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(fields(&err), ["move_leads_to"]);
    let kept = c
        .pipelines_get()
        .id(old.id)
        .send()
        .await
        .expect("still there");
    assert_eq!(kept.into_inner().data.stages, old.stages);
    assert_eq!(lead(c, deal.id).await.pipeline_id, old.id);

    let deleted = c
        .pipelines_delete()
        .id(old.id)
        .move_leads_to(target)
        .send()
        .await
        .expect("delete, moving the leads");
    assert_eq!(deleted.status().as_u16(), 204);
    c.pipelines_get()
        .id(old.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    let moved = lead(c, deal.id).await;
    assert_eq!(
        (moved.pipeline_id, moved.stage_id, moved.status.as_str()),
        (new.id, target, "open")
    );
    let changes = stage_changes(c, deal.id).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].system);
}

#[tokio::test]
async fn another_tenant_gets_404_for_every_pipeline_operation_and_never_sees_the_pipeline() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let secret = funnel(a, "Secret").await;
    let stage_id = secret.stages[0].id;
    let (_, b) = app.other_tenant().await;

    b.pipelines_get()
        .id(secret.id)
        .send()
        .await
        .refused(404, "not_found");
    b.pipelines_update()
        .id(secret.id)
        .body(PipelinePatch {
            name: Some("pwned".into()),
        })
        .send()
        .await
        .refused_as("update", 404, ANY_CODE);
    b.stages_list()
        .id(secret.id)
        .send()
        .await
        .refused_as("stages_list", 404, ANY_CODE);
    b.stages_get()
        .id(secret.id)
        .stage_id(stage_id)
        .send()
        .await
        .refused_as("stages_get", 404, ANY_CODE);
    b.stages_create()
        .id(secret.id)
        .body(new_stage("pwned", Some(0)))
        .send()
        .await
        .refused_as("stages_create", 404, ANY_CODE);
    b.stages_update()
        .id(secret.id)
        .stage_id(stage_id)
        .body(StagePatch {
            name: Some("pwned".into()),
            ..Default::default()
        })
        .send()
        .await
        .refused_as("stages_update", 404, ANY_CODE);
    b.stages_reorder()
        .id(secret.id)
        .body(types::StageOrder {
            stage_ids: secret.stages.iter().rev().map(|s| s.id).collect(),
        })
        .send()
        .await
        .refused_as("stages_reorder", 404, ANY_CODE);
    b.stages_delete()
        .id(secret.id)
        .stage_id(stage_id)
        .send()
        .await
        .refused_as("stages_delete", 404, ANY_CODE);
    b.pipelines_delete()
        .id(secret.id)
        .send()
        .await
        .refused_as("delete", 404, ANY_CODE);

    // B's own pipeline does not reach A's stage either.
    let own = b.pipelines_list().send().await.unwrap().into_inner().data;
    assert_eq!(
        own.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["Sales"],
        "B sees only its own default pipeline"
    );
    assert!(own.iter().all(|p| p.id != secret.id));
    b.stages_update()
        .id(own[0].id)
        .stage_id(stage_id)
        .body(StagePatch {
            name: Some("pwned".into()),
            ..Default::default()
        })
        .send()
        .await
        .refused_as("A's stage under B's pipeline", 404, ANY_CODE);

    let still = a
        .pipelines_get()
        .id(secret.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(still, secret, "A's pipeline is untouched");
}

#[tokio::test]
async fn move_leads_to_cannot_name_another_tenants_stage() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let p = funnel(a, "Funnel").await;
    let one = named(&p.stages, "One").id;
    let deal = lead_in(a, p.id, "Deal").await;
    let (_, b) = app.other_tenant().await;
    let theirs = b.pipelines_list().send().await.unwrap().into_inner().data[0].stages[0].id;

    let err = a
        .stages_delete()
        .id(p.id)
        .stage_id(one)
        .move_leads_to(theirs)
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(details(&err), [("move_leads_to", "not_found")]);
    let err = a
        .pipelines_delete()
        .id(p.id)
        .move_leads_to(theirs)
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(details(&err), [("move_leads_to", "not_found")]);

    let kept = lead(a, deal.id).await;
    assert_eq!((kept.pipeline_id, kept.stage_id), (p.id, one));
    assert_eq!(stages_of(a, p.id).await, p.stages);
}

/// A deterministic Fisher-Yates shuffle (xorshift64), so a failing run can be replayed.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).unwrap();
        items.swap(i, j);
    }
}

/// How one racing request ended: its status and the fields an error named.
#[derive(Debug)]
struct Outcome {
    op: &'static str,
    status: u16,
    fields: Vec<String>,
}

fn outcome<T: std::fmt::Debug>(
    op: &'static str,
    result: Result<momentum_sdk::ResponseValue<T>, momentum_sdk::Error<types::ErrorEnvelope>>,
) -> Outcome {
    match result {
        Ok(resp) => Outcome {
            op,
            status: resp.status().as_u16(),
            fields: vec![],
        },
        Err(momentum_sdk::Error::ErrorResponse(resp)) => Outcome {
            op,
            status: resp.status().as_u16(),
            fields: resp
                .into_inner()
                .error
                .details
                .into_iter()
                .map(|d| d.field)
                .collect(),
        },
        Err(other) => Outcome {
            op,
            status: other.status().map_or(0, |s| s.as_u16()),
            fields: vec![other.to_string()],
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_reorders_stage_changes_and_lead_moves_keep_positions_dense_and_leads_consistent() {
    let app = TestApp::spawn().await;
    let c = app.client.clone();
    let p = create_pipeline(
        &c,
        "Race",
        vec![
            stage("A", StageKind::Open),
            stage("B", StageKind::Open),
            stage("C", StageKind::Open),
            stage("D", StageKind::Open),
            stage("Won", StageKind::Won),
            stage("Lost", StageKind::Lost),
        ],
    )
    .await;
    let pid = p.id;
    let initial: Vec<Uuid> = p.stages.iter().map(|s| s.id).collect();
    let first_open = p.stages[0].id;
    let mut leads = Vec::new();
    for i in 0..4 {
        let l = lead_in(&c, pid, &format!("Lead {i}")).await;
        leads.push((l.id, l.title));
    }

    const REORDER_TASKS: u64 = 20;
    let mut tasks: Vec<tokio::task::JoinHandle<Vec<Outcome>>> = Vec::new();
    // Reorders: each task reads the stages and puts them in its own random order, until
    // two of its reorders went through. An attempt fails only when a stage was added or
    // deleted between its read and its write, and only ten such changes happen, so twelve
    // attempts are always enough.
    for task in 0..REORDER_TASKS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes: Vec<Outcome> = Vec::new();
            for attempt in 0..12 {
                let mut ids: Vec<Uuid> = stages_of(&c, pid).await.iter().map(|s| s.id).collect();
                shuffle(&mut ids, task * 100 + attempt);
                let result = c
                    .stages_reorder()
                    .id(pid)
                    .body(types::StageOrder { stage_ids: ids })
                    .send()
                    .await;
                outcomes.push(outcome("reorder", result));
                if outcomes.iter().filter(|o| o.status == 200).count() == 2 {
                    break;
                }
            }
            outcomes
        }));
    }
    // Stages come and go: each task adds one at some position, then deletes it, sending any
    // lead that wandered into it back to the first stage.
    for i in 0..5i64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let added = c
                .stages_create()
                .id(pid)
                .body(new_stage(&format!("Extra {i}"), Some(i)))
                .send()
                .await;
            let Ok(added) = added else {
                return vec![outcome("add stage", added)];
            };
            let extra = added.into_inner().data.id;
            let deleted = c
                .stages_delete()
                .id(pid)
                .stage_id(extra)
                .move_leads_to(first_open)
                .send()
                .await;
            vec![
                Outcome {
                    op: "add stage",
                    status: 201,
                    fields: vec![],
                },
                outcome("delete stage", deleted),
            ]
        }));
    }
    // Single stages move to another position.
    for i in 0..4usize {
        let c = c.clone();
        let stage_id = p.stages[i + 1].id;
        tasks.push(tokio::spawn(async move {
            let result = c
                .stages_update()
                .id(pid)
                .stage_id(stage_id)
                .body(StagePatch {
                    position: Some(i64::try_from(3 - i).unwrap()),
                    ..Default::default()
                })
                .send()
                .await;
            vec![outcome("move stage", result)]
        }));
    }
    // Leads hop between the open stages there are at the time, extra ones included.
    for (n, (lead_id, title)) in leads.iter().cloned().enumerate() {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for hop in 0..6usize {
                let open: Vec<Uuid> = stages_of(&c, pid)
                    .await
                    .into_iter()
                    .filter(|s| s.kind == "open")
                    .map(|s| s.id)
                    .collect();
                let target = open[(n * 7 + hop * 3) % open.len()];
                let result = c
                    .leads_update()
                    .id(lead_id)
                    .body(LeadPatch {
                        stage_id: Some(target),
                        title: Some(title.clone()),
                        ..Default::default()
                    })
                    .send()
                    .await;
                outcomes.push(outcome("move lead", result));
            }
            outcomes
        }));
    }

    let mut outcomes = Vec::new();
    for task in futures::future::join_all(tasks).await {
        outcomes.extend(task.expect("a racing task panicked"));
    }
    let unexpected: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| {
            let fields: Vec<&str> = o.fields.iter().map(String::as_str).collect();
            !matches!(
                (o.op, o.status, fields.as_slice()),
                ("reorder" | "move stage" | "move lead", 200, [])
                    | ("add stage", 201, [])
                    | ("delete stage", 204, [])
                    // A reorder that raced an added or deleted stage no longer names them all.
                    | ("reorder", 422, ["stage_ids"])
                    // A lead sent to an extra stage deleted in the meantime.
                    | ("move lead", 422, ["stage_id"])
            )
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected outcomes: {unexpected:#?}"
    );

    let reordered = outcomes
        .iter()
        .filter(|o| (o.op, o.status) == ("reorder", 200))
        .count();
    assert_eq!(reordered, 2 * REORDER_TASKS as usize, "{outcomes:#?}");

    let stages = stages_of(&c, pid).await;
    assert_dense(&stages);
    let ids: HashSet<Uuid> = stages.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), stages.len(), "no stage listed twice");
    assert_eq!(
        ids,
        initial.iter().copied().collect::<HashSet<_>>(),
        "every extra stage was deleted, no other"
    );
    let got = c.pipelines_get().id(pid).send().await.unwrap();
    assert_eq!(got.into_inner().data.stages, stages);
    for (lead_id, _) in &leads {
        let l = lead(&c, *lead_id).await;
        let stage = stages
            .iter()
            .find(|s| s.id == l.stage_id)
            .unwrap_or_else(|| panic!("lead {lead_id} in a stage not in the pipeline: {l:?}"));
        assert_eq!(l.pipeline_id, pid);
        assert_eq!(l.status, stage.kind, "status follows the stage's kind");
    }

    // And the pipeline still takes a reorder.
    let reversed: Vec<Uuid> = stages.iter().rev().map(|s| s.id).collect();
    let after = c
        .stages_reorder()
        .id(pid)
        .body(types::StageOrder {
            stage_ids: reversed.clone(),
        })
        .send()
        .await
        .expect("reorder after the race")
        .into_inner()
        .data;
    assert_eq!(after.iter().map(|s| s.id).collect::<Vec<_>>(), reversed);
    assert_dense(&after);
}

/// A stage `X{round}` added last to the pipeline, with one lead placed in it.
async fn stage_with_a_lead(c: &Client, pipeline_id: Uuid, round: usize) -> (Uuid, Uuid) {
    let x = c
        .stages_create()
        .id(pipeline_id)
        .body(new_stage(&format!("X{round}"), None))
        .send()
        .await
        .expect("add a stage")
        .into_inner()
        .data
        .id;
    let l = c
        .leads_create()
        .body_map(|b| b.title("Deal").stage_id(Some(x)))
        .send()
        .await
        .expect("create a lead in the stage")
        .into_inner()
        .data
        .id;
    (x, l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_lead_while_its_stage_is_deleted_is_never_a_500() {
    let app = TestApp::spawn().await;
    let c = app.client.clone();
    let p = funnel(&c, "Race").await;
    let one = named(&p.stages, "One").id;
    for round in 0..10 {
        let (x, lead_id) = stage_with_a_lead(&c, p.id, round).await;
        let delete = {
            let c = c.clone();
            tokio::spawn(async move {
                let result = c
                    .stages_delete()
                    .id(p.id)
                    .stage_id(x)
                    .move_leads_to(one)
                    .send()
                    .await;
                outcome("delete stage", result)
            })
        };
        // Edits that keep the lead where it is (`stage_id` repeats its stage).
        let edits: Vec<_> = (0..3)
            .map(|k| {
                let c = c.clone();
                tokio::spawn(async move {
                    let result = c
                        .leads_update()
                        .id(lead_id)
                        .body(LeadPatch {
                            title: Some(format!("Deal {k}")),
                            stage_id: Some(x),
                            ..Default::default()
                        })
                        .send()
                        .await;
                    outcome("edit lead", result)
                })
            })
            .collect();
        let mut outcomes = vec![delete.await.unwrap()];
        for edit in edits {
            outcomes.push(edit.await.unwrap());
        }
        let unexpected: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| {
                let fields: Vec<&str> = o.fields.iter().map(String::as_str).collect();
                !matches!(
                    (o.op, o.status, fields.as_slice()),
                    ("delete stage", 204, []) | ("edit lead", 200, [])
                        // The edit came after the delete: its stage is gone.
                        | ("edit lead", 422, ["stage_id"])
                )
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "round {round}: unexpected outcomes: {unexpected:#?}"
        );
        assert_eq!(
            lead(&c, lead_id).await.stage_id,
            one,
            "round {round}: the delete moved the lead"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_moved_while_its_stage_is_deleted_gets_only_the_stage_changes_it_made() {
    let app = TestApp::spawn().await;
    let c = app.client.clone();
    let p = funnel(&c, "Race").await;
    let one = named(&p.stages, "One").id;
    let two = named(&p.stages, "Two").id;
    for round in 0..10 {
        let (x, lead_id) = stage_with_a_lead(&c, p.id, round).await;
        let delete = {
            let c = c.clone();
            tokio::spawn(async move {
                c.stages_delete()
                    .id(p.id)
                    .stage_id(x)
                    .move_leads_to(one)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        };
        let moved = c
            .leads_update()
            .id(lead_id)
            .body(LeadPatch {
                title: Some("Deal".into()),
                stage_id: Some(two),
                ..Default::default()
            })
            .send()
            .await
            .expect("move the lead")
            .into_inner()
            .data;
        assert_eq!(delete.await.unwrap().expect("delete the stage"), 204);
        assert_eq!(moved.stage_id, two);
        // Either the delete moved it to One first (X → One, One → Two), or the move went
        // first and the delete found nothing to move (X → Two): it left X once.
        let subjects: Vec<String> = stage_changes(&c, lead_id)
            .await
            .into_iter()
            .filter_map(|a| a.subject)
            .collect();
        let from_x = format!("X{round} →");
        assert_eq!(
            subjects.iter().filter(|s| s.contains(&from_x)).count(),
            1,
            "round {round}: {subjects:?}"
        );
    }
}

#[tokio::test]
async fn a_stage_whose_position_shifts_counts_as_changed_for_updated_after() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let before = stages_of(c, p.id)
        .await
        .iter()
        .map(|s| s.updated_at)
        .max()
        .unwrap();
    c.stages_create()
        .id(p.id)
        .body(types::StageCreate {
            name: "Zero".parse().unwrap(),
            position: Some(0),
            kind: None,
            probability: None,
        })
        .send()
        .await
        .expect("insert a stage first");
    let changed = c
        .stages_list()
        .id(p.id)
        .updated_after(before)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        changed.len(),
        p.stages.len() + 1,
        "the new stage and every stage it pushed down"
    );
}
