//! The events of pipelines and stages, each carrying the whole pipeline, and of the leads
//! a deleted stage or pipeline moves.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{PipelinePatch, StagePatch};
use momentum_sdk::types::{self, StageKind};
use uuid::Uuid;

use crate::{create_lead, lead, sales, stage};

use super::{assert_data, assert_deleted, changes, events, only, pipeline_now, raw_get};

#[tokio::test]
async fn a_pipeline_s_changes_and_its_stages_changes_carry_the_whole_pipeline() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let created = c
        .pipelines_create()
        .body(types::PipelineCreate {
            default: None,
            name: "Partners".parse().unwrap(),
            stages: vec![
                types::NewStage {
                    name: "Intro".parse().unwrap(),
                    probability: None,
                    kind: Some(StageKind::Open),
                },
                types::NewStage {
                    name: "Signed".parse().unwrap(),
                    probability: None,
                    kind: Some(StageKind::Won),
                },
            ],
        })
        .send()
        .await
        .expect("create")
        .into_inner()
        .data;
    let id = created.id;
    let renamed = c
        .pipelines_update()
        .id(id)
        .body(PipelinePatch {
            default: None,
            name: Some("Partnerships".into()),
        })
        .send()
        .await
        .expect("rename")
        .into_inner()
        .data;
    let mut after_stage_change = Vec::new();
    let demo = c
        .stages_create()
        .id(id)
        .body(types::StageCreate {
            name: "Demo".parse().unwrap(),
            probability: None,
            kind: None,
            position: Some(1),
        })
        .send()
        .await
        .expect("add a stage")
        .into_inner()
        .data;
    after_stage_change.push(pipeline_now(c, id).await);
    c.stages_update()
        .id(id)
        .stage_id(demo.id)
        .body(StagePatch {
            name: Some("Live demo".into()),
            ..Default::default()
        })
        .send()
        .await
        .expect("rename a stage");
    after_stage_change.push(pipeline_now(c, id).await);
    let mut order: Vec<Uuid> = after_stage_change[1].stages.iter().map(|s| s.id).collect();
    order.swap(0, 1);
    c.stages_reorder()
        .id(id)
        .body(types::StageOrder { stage_ids: order })
        .send()
        .await
        .expect("reorder");
    after_stage_change.push(pipeline_now(c, id).await);
    c.stages_delete()
        .id(id)
        .stage_id(demo.id)
        .send()
        .await
        .expect("delete a stage");
    after_stage_change.push(pipeline_now(c, id).await);
    let last = raw_get(&app, &format!("/v1/pipelines/{id}")).await;
    c.pipelines_delete().id(id).send().await.expect("delete");

    let log = events(c, None).await;
    let mut expected = vec!["pipeline.created"];
    expected.extend(["pipeline.updated"; 5]);
    expected.push("pipeline.deleted");
    assert_eq!(changes(&log), expected);
    assert_data(&log[0], &created);
    assert_data(&log[1], &renamed);
    for (event, pipeline) in log[2..6].iter().zip(&after_stage_change) {
        assert_data(event, pipeline);
    }
    assert_deleted(&log[6], &last);
}

#[tokio::test]
async fn leads_moved_out_of_a_deleted_stage_or_pipeline_report_their_move() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let deal = create_lead(
        c,
        types::LeadCreate {
            stage_id: Some(stage(&sales, "Proposal")),
            ..lead("Acme renewal", sales.id)
        },
    )
    .await;
    c.stages_delete()
        .id(sales.id)
        .stage_id(stage(&sales, "Proposal"))
        .move_leads_to(stage(&sales, "Won"))
        .send()
        .await
        .expect("delete the stage, moving its lead");
    let moved = c
        .leads_get()
        .id(deal.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(moved.stage_id, stage(&sales, "Won"));

    let log = events(c, None).await;
    assert_eq!(
        changes(&log),
        [
            "lead.created",
            "lead.updated",
            "lead.stage_changed",
            "lead.won",
            "pipeline.updated"
        ]
    );
    for kind in ["lead.updated", "lead.stage_changed", "lead.won"] {
        assert_data(only(&log, kind), &moved);
    }
    assert_data(
        only(&log, "pipeline.updated"),
        &pipeline_now(c, sales.id).await,
    );

    // Deleting the pipeline moves it on again, out of a won stage into an open one.
    let renewals = c
        .pipelines_create()
        .body(types::PipelineCreate {
            default: None,
            name: "Renewals".parse().unwrap(),
            stages: vec![types::NewStage {
                name: "Due".parse().unwrap(),
                probability: None,
                kind: None,
            }],
        })
        .send()
        .await
        .expect("create a pipeline")
        .into_inner()
        .data;
    let last = raw_get(&app, &format!("/v1/pipelines/{}", sales.id)).await;
    c.pipelines_delete()
        .id(sales.id)
        .move_leads_to(stage(&renewals, "Due"))
        .send()
        .await
        .expect("delete the pipeline, moving its lead");
    let reopened = c
        .leads_get()
        .id(deal.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(reopened.status, "open");

    let log = events(c, None).await;
    let deletion = &log[log.len() - 4..];
    // Sales was the default pipeline: Renewals, the only one left, took the flag.
    assert_eq!(
        changes(deletion),
        [
            "lead.updated",
            "lead.stage_changed",
            "pipeline.deleted",
            "pipeline.updated"
        ]
    );
    assert_data(
        only(deletion, "pipeline.updated"),
        &pipeline_now(c, renewals.id).await,
    );
    assert!(pipeline_now(c, renewals.id).await.default);
    assert_data(only(deletion, "lead.updated"), &reopened);
    assert_data(only(deletion, "lead.stage_changed"), &reopened);
    assert_deleted(only(deletion, "pipeline.deleted"), &last);
}
