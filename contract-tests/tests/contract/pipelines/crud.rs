//! Pipelines: the one a tenant starts with, create, read, rename and delete, pages,
//! `updated_after`, and the pipeline bodies refused.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::PipelinePatch;
use momentum_sdk::types::{self, ErrorEnvelope, StageKind};
use momentum_sdk::Client;
use uuid::Uuid;

use crate::{details, fields, Refused, ANY_CODE};

use super::{funnel, new_stage, stage, stages_of};

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
            default: None,
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
            default: None,
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

/// Sends a pipeline of `stages`; asserts it is refused as invalid and returns the error.
async fn refused_pipeline(c: &Client, name: &str, stages: Vec<types::NewStage>) -> ErrorEnvelope {
    c.pipelines_create()
        .body(types::PipelineCreate {
            default: None,
            name: name.parse().unwrap(),
            stages,
        })
        .send()
        .await
        .refused_as(name, 422, "validation_failed")
}

#[tokio::test]
async fn a_pipeline_without_an_open_stage_is_refused() {
    let app = TestApp::spawn().await;
    let closed = vec![stage("Won", StageKind::Won), stage("Lost", StageKind::Lost)];
    let err = refused_pipeline(&app.client, "Closed", closed).await;
    assert_eq!(details(&err), [("stages", "open_stage_required")]);
    let listed = app.client.pipelines_list().send().await.unwrap();
    assert_eq!(listed.into_inner().data.len(), 1, "nothing was created");
}

#[tokio::test]
async fn a_pipeline_without_stages_is_refused_naming_stages() {
    let app = TestApp::spawn().await;
    let err = refused_pipeline(&app.client, "Empty", vec![]).await;
    assert_eq!(details(&err), [("stages", "out_of_range")]);
    let listed = app.client.pipelines_list().send().await.unwrap();
    assert_eq!(listed.into_inner().data.len(), 1, "nothing was created");
}

#[tokio::test]
async fn a_probability_above_100_is_refused_naming_the_stage() {
    let app = TestApp::spawn().await;
    let sure = types::NewStage {
        name: "Sure thing".parse().unwrap(),
        probability: Some(101),
        kind: None,
    };
    let err = refused_pipeline(&app.client, "Optimistic", vec![sure]).await;
    assert_eq!(fields(&err), ["stages[0].probability"]);
}
