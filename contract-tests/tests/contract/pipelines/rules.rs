//! The rules that protect leads: a pipeline keeps an open stage, a stage holding leads
//! keeps its kind, and a stage or pipeline with leads is deleted only by moving them
//! somewhere they may go.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{LeadPatch, StagePatch};
use momentum_sdk::types::StageKind;
use uuid::Uuid;

use crate::{details, fields, Refused, ANY_CODE};

use super::{
    assert_dense, create_pipeline, funnel, lead, lead_in, named, names, new_stage, stage,
    stage_changes, stages_of,
};

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
