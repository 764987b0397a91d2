//! The default pipeline (issue 24): exactly one per tenant while it has pipelines, where a
//! lead created without `pipeline_id` and `stage_id` lands.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::PipelinePatch;
use momentum_sdk::types::{self, StageKind};
use momentum_sdk::Client;
use uuid::Uuid;

use super::{create_pipeline, stage};
use crate::{assert_detail, create_lead, lead, sales, Refused};

/// The ids of the tenant's default pipelines (exactly one, where the tests expect it).
async fn defaults(c: &Client) -> Vec<Uuid> {
    let all = c.pipelines_list().send().await.unwrap().into_inner().data;
    all.iter().filter(|p| p.default).map(|p| p.id).collect()
}

/// A lead body with no place at all.
fn placeless(title: &str) -> types::LeadCreate {
    types::LeadCreate {
        pipeline_id: None,
        ..lead(title, Uuid::nil())
    }
}

#[tokio::test]
async fn a_lead_without_a_place_lands_in_the_first_open_stage_of_the_default_pipeline() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    assert!(sales.default, "the tenant's first pipeline is its default");
    let placed = create_lead(c, placeless("Walk-in")).await;
    assert_eq!(placed.pipeline_id, sales.id);
    assert_eq!(placed.stage_id, sales.stages[0].id);
    assert_eq!(placed.status, "open");

    // A default whose first stage is won: the lead starts in its first open one.
    let closing = create_pipeline(
        c,
        "Closing",
        vec![
            stage("Signed", StageKind::Won),
            stage("Chasing", StageKind::Open),
        ],
    )
    .await;
    assert!(!closing.default, "a second pipeline is not the default");
    c.pipelines_update()
        .id(closing.id)
        .body(PipelinePatch {
            default: Some(true),
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    let placed = create_lead(c, placeless("Renewal")).await;
    assert_eq!(placed.stage_id, closing.stages[1].id);
}

#[tokio::test]
async fn the_default_flag_moves_and_never_leaves_a_tenant_without_one() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let other = create_pipeline(c, "Partners", vec![stage("New", StageKind::Open)]).await;
    assert_eq!(defaults(c).await, [sales.id]);

    let moved = c
        .pipelines_update()
        .id(other.id)
        .body(PipelinePatch {
            default: Some(true),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(moved.default);
    assert_eq!(defaults(c).await, [other.id], "moved, not copied");

    // The default cannot be unmade; `false` on another pipeline changes nothing.
    let err = c
        .pipelines_update()
        .id(other.id)
        .body(PipelinePatch {
            default: Some(false),
            ..Default::default()
        })
        .send()
        .await
        .refused(422, "validation_failed");
    assert_detail(&err, "default", "required");
    c.pipelines_update()
        .id(sales.id)
        .body(PipelinePatch {
            default: Some(false),
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    assert_eq!(defaults(c).await, [other.id]);

    // A pipeline created as the default takes the flag.
    let created = c
        .pipelines_create()
        .body(types::PipelineCreate {
            default: Some(true),
            name: "Enterprise".parse().unwrap(),
            stages: vec![stage("Qualified", StageKind::Open)],
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(defaults(c).await, [created.id]);

    // Deleting the default makes the oldest remaining pipeline the default.
    c.pipelines_delete().id(created.id).send().await.unwrap();
    assert_eq!(defaults(c).await, [sales.id]);
}

#[tokio::test]
async fn a_tenant_without_pipelines_refuses_a_placeless_lead_naming_pipeline_id() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    c.pipelines_delete().id(sales.id).send().await.unwrap();
    let err = c
        .leads_create()
        .body(placeless("Nowhere"))
        .send()
        .await
        .refused(422, "validation_failed");
    assert_detail(&err, "pipeline_id", "required");

    let first = create_pipeline(c, "Fresh", vec![stage("In", StageKind::Open)]).await;
    assert!(first.default, "the first pipeline again");
    let placed = create_lead(c, placeless("Somewhere")).await;
    assert_eq!(placed.pipeline_id, first.id);
}
