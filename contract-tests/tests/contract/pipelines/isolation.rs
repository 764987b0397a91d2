//! Another tenant's pipelines and stages: never seen, never reached.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{PipelinePatch, StagePatch};
use momentum_sdk::types;

use crate::{details, Refused, ANY_CODE};

use super::{funnel, lead, lead_in, named, new_stage, stages_of};

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
            default: None,
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
