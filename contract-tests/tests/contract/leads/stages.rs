//! A lead's stage: its status follows the stage, setting the pipeline alone places it in
//! the first stage, and each rule a lead must keep is refused naming its field.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::LeadPatch;
use momentum_sdk::types;

use crate::{
    assert_detail, create, create_lead, fields_of, lead, person, sales, stage, Refused, ANY_CODE,
};

use super::{move_to, to_stage};

#[tokio::test]
async fn a_lead_moves_through_the_stages_and_its_status_follows() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let pipeline = sales(c).await;
    let owner = c.users_list().send().await.unwrap().into_inner().data[0].id;

    let created = c
        .leads_create()
        .body(types::LeadCreate {
            value: Some("1250.5".into()),
            currency: Some("eur".parse().unwrap()),
            expected_close_date: Some("2027-03-31".parse().unwrap()),
            source: Some("website".parse().unwrap()),
            ..lead("Acme renewal", pipeline.id)
        })
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let new = created.into_inner().data;
    assert_eq!(
        new.stage_id,
        stage(&pipeline, "Lead in"),
        "starts in the first stage"
    );
    assert_eq!(new.status, "open");
    assert_eq!(
        new.value.as_deref(),
        Some("1250.50"),
        "scaled to EUR's 2 decimals"
    );
    assert_eq!(new.currency.as_deref(), Some("EUR"));
    assert_eq!(
        new.owner_id,
        Some(owner),
        "owned by the key's user by default"
    );
    assert_eq!((new.won_at, new.lost_at), (None, None));

    let qualified = move_to(c, new.id, to_stage(stage(&pipeline, "Qualified"))).await;
    assert_eq!(qualified.status, "open");
    assert!(qualified.stage_changed_at > new.stage_changed_at);

    let renamed = move_to(
        c,
        new.id,
        LeadPatch {
            title: Some("Acme renewal 2027".parse().unwrap()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        renamed.stage_changed_at, qualified.stage_changed_at,
        "no stage change, no new stage_changed_at"
    );

    let won = move_to(c, new.id, to_stage(stage(&pipeline, "Won"))).await;
    assert_eq!(won.status, "won");
    assert!(won.won_at.is_some());

    let err = c
        .leads_update()
        .id(new.id)
        .body(to_stage(stage(&pipeline, "Lost")))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["lost_reason"]);
    let lost = move_to(
        c,
        new.id,
        LeadPatch {
            stage_id: Some(stage(&pipeline, "Lost")),
            lost_reason: Some(Some("Went with a competitor".into())),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(lost.status, "lost");
    assert!(lost.lost_at.is_some());
    assert_eq!(lost.won_at, None, "leaving a won stage clears won_at");

    let reopened = move_to(c, new.id, to_stage(stage(&pipeline, "Proposal"))).await;
    assert_eq!((reopened.status.as_str(), reopened.lost_at), ("open", None));

    let timeline = c
        .leads_activities()
        .id(new.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let moves: Vec<_> = timeline
        .iter()
        .map(|a| {
            (
                a.type_.as_str(),
                a.system,
                a.subject.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (
                "stage_change",
                true,
                "Stage changed: Lost → Proposal".to_owned()
            ),
            ("stage_change", true, "Stage changed: Won → Lost".to_owned()),
            (
                "stage_change",
                true,
                "Stage changed: Qualified → Won".to_owned()
            ),
            (
                "stage_change",
                true,
                "Stage changed: Lead in → Qualified".to_owned()
            ),
        ],
        "one system activity per stage change, newest first"
    );
}

#[tokio::test]
async fn each_lead_rule_is_refused_with_the_field_named() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let pipeline = sales(c).await;
    let other = c
        .pipelines_create()
        .body(types::PipelineCreate {
            default: None,
            name: "Partners".parse().unwrap(),
            stages: vec![types::NewStage {
                name: "Intro".parse().unwrap(),
                kind: None,
                probability: None,
            }],
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let (_, b) = app.other_tenant().await;
    let b_user = b.users_list().send().await.unwrap().into_inner().data[0].id;
    let b_contact = create(&b, person("Bea", "bea@b.example")).await;

    let cases: Vec<(types::LeadCreate, &str, &str)> = vec![
        (
            types::LeadCreate {
                stage_id: Some(other.stages[0].id),
                ..lead("x", pipeline.id)
            },
            "stage_id",
            "wrong_pipeline",
        ),
        (
            types::LeadCreate {
                stage_id: Some(uuid::Uuid::now_v7()),
                ..lead("x", pipeline.id)
            },
            "stage_id",
            "not_found",
        ),
        (lead("x", uuid::Uuid::now_v7()), "pipeline_id", "not_found"),
        (
            types::LeadCreate {
                value: Some("10".into()),
                ..lead("x", pipeline.id)
            },
            "currency",
            "required",
        ),
        (
            types::LeadCreate {
                value: Some("10.001".into()),
                currency: Some("USD".parse().unwrap()),
                ..lead("x", pipeline.id)
            },
            "value",
            "too_precise",
        ),
        (
            types::LeadCreate {
                value: Some("-5".into()),
                currency: Some("USD".parse().unwrap()),
                ..lead("x", pipeline.id)
            },
            "value",
            "invalid_amount",
        ),
        (
            types::LeadCreate {
                currency: Some("XYZ".parse().unwrap()),
                ..lead("x", pipeline.id)
            },
            "currency",
            "invalid_currency",
        ),
        (
            types::LeadCreate {
                stage_id: Some(stage(&pipeline, "Lost")),
                ..lead("x", pipeline.id)
            },
            "lost_reason",
            "required",
        ),
        (
            types::LeadCreate {
                owner_id: Some(b_user),
                ..lead("x", pipeline.id)
            },
            "owner_id",
            "not_found",
        ),
        (
            types::LeadCreate {
                contact_id: Some(b_contact.id),
                ..lead("x", pipeline.id)
            },
            "contact_id",
            "not_found",
        ),
    ];
    for (body, field, code) in cases {
        let err = c.leads_create().body(body).send().await.refused_as(
            format_args!("{field} {code}"),
            422,
            ANY_CODE,
        );
        assert_detail(&err, field, code);
    }
    let listed = c.leads_list().send().await.unwrap().into_inner().data;
    assert!(listed.is_empty(), "nothing was written");
}

#[tokio::test]
async fn setting_only_the_pipeline_moves_a_lead_to_its_first_stage() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let pipeline = sales(c).await;
    let partners = c
        .pipelines_create()
        .body(types::PipelineCreate {
            default: None,
            name: "Partners".parse().unwrap(),
            stages: vec![
                types::NewStage {
                    name: "Intro".parse().unwrap(),
                    kind: None,
                    probability: None,
                },
                types::NewStage {
                    name: "Signed".parse().unwrap(),
                    kind: Some(types::StageKind::Won),
                    probability: None,
                },
            ],
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let deal = create_lead(c, lead("Deal", pipeline.id)).await;
    let moved = move_to(
        c,
        deal.id,
        LeadPatch {
            pipeline_id: Some(partners.id),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        (moved.pipeline_id, moved.stage_id),
        (partners.id, partners.stages[0].id)
    );

    // A stage of another pipeline than the lead's is refused.
    let err = c
        .leads_update()
        .id(deal.id)
        .body(to_stage(stage(&pipeline, "Qualified")))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["stage_id"]);
}
