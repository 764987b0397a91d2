//! What an update changed: every `*.updated` event (and `lead.stage_changed`) names the
//! fields the change made differ and their values before it; other events carry neither.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{
    ActivityPatch, CompanyPatch, ContactPatch, CustomFieldPatch, LeadPatch, PipelinePatch,
};
use momentum_sdk::types::{self, CustomFieldType, EventType};
use serde_json::{json, Value};

use crate::activities::activity;
use crate::{create, create_company, create_lead, lead, person, sales, stage};

use super::{events, only};

/// The event's `changed_fields` and `previous`, as one JSON value to compare.
fn what_changed(event: &types::Event) -> (Vec<&str>, Value) {
    (
        event.changed_fields.iter().map(String::as_str).collect(),
        Value::Object(event.previous.clone()),
    )
}

/// The single event of `kind` in the tenant's log.
async fn the(c: &momentum_sdk::Client, kind: EventType) -> types::Event {
    let log = events(c, Some(kind)).await;
    assert_eq!(log.len(), 1, "{kind:?} events: {log:#?}");
    log.into_iter().next().unwrap()
}

#[tokio::test]
async fn each_resource_s_update_names_the_fields_it_changed_with_their_prior_values() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    let contact = create(c, person("Ann", "ann@acme.example")).await;
    c.contacts_update()
        .id(contact.id)
        .body(ContactPatch {
            title: Some(Some("CTO".into())),
            phone: Some(Some("+44 20 7946 0000".into())),
            ..Default::default()
        })
        .send()
        .await
        .expect("update the contact");
    let updated = the(c, EventType::ContactUpdated).await;
    assert_eq!(
        what_changed(&updated),
        (
            vec!["phone", "title"],
            json!({"phone": null, "title": null})
        )
    );
    assert_eq!(updated.data["title"], "CTO", "data holds the values after");

    let company = create_company(c, "Acme").await;
    c.companies_update()
        .id(company.id)
        .body(CompanyPatch {
            name: Some("Acme Ltd".into()),
            ..Default::default()
        })
        .send()
        .await
        .expect("update the company");
    assert_eq!(
        what_changed(&the(c, EventType::CompanyUpdated).await),
        (vec!["name"], json!({"name": "Acme"}))
    );

    let pipeline = sales(c).await;
    let deal = create_lead(c, lead("Acme renewal", pipeline.id)).await;
    c.leads_update()
        .id(deal.id)
        .body(LeadPatch {
            title: Some("Acme renewal 2027".into()),
            ..Default::default()
        })
        .send()
        .await
        .expect("update the lead");
    assert_eq!(
        what_changed(&the(c, EventType::LeadUpdated).await),
        (vec!["title"], json!({"title": "Acme renewal"}))
    );

    let task = c
        .activities_create()
        .body(types::ActivityCreate {
            subject: Some("Send the proposal".parse().unwrap()),
            ..activity(types::ActivityKind::Task)
        })
        .send()
        .await
        .expect("create an activity")
        .into_inner()
        .data;
    c.activities_update()
        .id(task.id)
        .body(ActivityPatch {
            subject: Some(Some("Send the signed proposal".into())),
            ..Default::default()
        })
        .send()
        .await
        .expect("update the activity");
    assert_eq!(
        what_changed(&the(c, EventType::ActivityUpdated).await),
        (vec!["subject"], json!({"subject": "Send the proposal"}))
    );

    c.pipelines_update()
        .id(pipeline.id)
        .body(PipelinePatch {
            name: Some("Sales EMEA".into()),
            default: None,
        })
        .send()
        .await
        .expect("rename the pipeline");
    assert_eq!(
        what_changed(&the(c, EventType::PipelineUpdated).await),
        (vec!["name"], json!({"name": pipeline.name}))
    );

    let field = c
        .custom_fields_create()
        .body(crate::custom_fields::definition(
            "contact",
            "tier",
            CustomFieldType::Text,
        ))
        .send()
        .await
        .expect("define a custom field")
        .into_inner()
        .data;
    c.custom_fields_update()
        .id(field.id)
        .body(CustomFieldPatch {
            label: Some("Customer tier".into()),
            ..Default::default()
        })
        .send()
        .await
        .expect("relabel the custom field");
    assert_eq!(
        what_changed(&the(c, EventType::CustomFieldUpdated).await),
        (vec!["label"], json!({"label": "tier"}))
    );

    // Every other event carries neither.
    for event in events(c, None).await {
        if !event.type_.ends_with(".updated") {
            assert!(
                event.changed_fields.is_empty() && event.previous.is_empty(),
                "{} carries changes",
                event.type_
            );
        }
    }
}

#[tokio::test]
async fn a_custom_field_value_is_named_by_its_key_and_a_patch_that_changes_nothing_names_nothing() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    for key in ["tier", "region"] {
        c.custom_fields_create()
            .body(crate::custom_fields::definition(
                "contact",
                key,
                CustomFieldType::Text,
            ))
            .send()
            .await
            .expect("define a custom field");
    }
    let contact = create(
        c,
        types::ContactCreate {
            custom_fields: json!({"tier": "gold", "region": "EU"})
                .as_object()
                .cloned()
                .unwrap(),
            ..person("Ann", "ann@acme.example")
        },
    )
    .await;
    let patch = |values: Value| ContactPatch {
        custom_fields: Some(Some(values.as_object().cloned().unwrap())),
        ..Default::default()
    };
    for values in [json!({"tier": "silver"}), json!({"tier": "silver"})] {
        c.contacts_update()
            .id(contact.id)
            .body(patch(values))
            .send()
            .await
            .expect("update a custom field value");
    }
    let updates = events(c, Some(EventType::ContactUpdated)).await;
    assert_eq!(
        updates.len(),
        2,
        "a write that changes nothing is still reported"
    );
    assert_eq!(
        what_changed(&updates[0]),
        (
            vec!["custom_fields.tier"],
            json!({"custom_fields.tier": "gold"})
        )
    );
    assert_eq!(what_changed(&updates[1]), (vec![], json!({})));
}

#[tokio::test]
async fn a_stage_move_names_the_stage_it_left_and_the_pipeline_when_that_changed_too() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let deal = create_lead(c, lead("Acme renewal", sales.id)).await;
    let qualified = stage(&sales, "Qualified");
    c.leads_update()
        .id(deal.id)
        .body(LeadPatch {
            stage_id: Some(qualified),
            ..Default::default()
        })
        .send()
        .await
        .expect("move the lead");
    let log = events(c, None).await;
    let moved = only(&log, "lead.stage_changed");
    assert!(moved.changed_fields.contains(&"stage_id".to_owned()));
    assert!(
        !moved.changed_fields.contains(&"pipeline_id".to_owned()),
        "the same pipeline: {:?}",
        moved.changed_fields
    );
    assert_eq!(moved.previous["stage_id"], json!(deal.stage_id));
    assert_eq!(moved.data["stage_id"], json!(qualified));
    let update = only(&log, "lead.updated");
    assert_eq!(what_changed(update), what_changed(moved));

    let renewals = c
        .pipelines_create()
        .body(types::PipelineCreate {
            name: "Renewals".parse().unwrap(),
            stages: vec![types::NewStage {
                name: "Due".parse().unwrap(),
                probability: None,
                kind: None,
            }],
            default: None,
        })
        .send()
        .await
        .expect("create a pipeline")
        .into_inner()
        .data;
    let due = stage(&renewals, "Due");
    c.leads_update()
        .id(deal.id)
        .body(LeadPatch {
            pipeline_id: Some(renewals.id),
            stage_id: Some(due),
            ..Default::default()
        })
        .send()
        .await
        .expect("move the lead to another pipeline");
    let log = events(c, Some(EventType::LeadStageChanged)).await;
    let across = log.last().unwrap();
    assert_eq!(across.previous["stage_id"], json!(qualified));
    assert_eq!(across.previous["pipeline_id"], json!(sales.id));
    assert_eq!(across.data["pipeline_id"], json!(renewals.id));
    assert_eq!(across.data["stage_id"], json!(due));
}

#[tokio::test]
async fn leads_moved_by_a_stage_deletion_name_the_stage_they_left() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let proposal = stage(&sales, "Proposal");
    let deal = create_lead(
        c,
        types::LeadCreate {
            stage_id: Some(proposal),
            ..lead("Acme renewal", sales.id)
        },
    )
    .await;
    c.stages_delete()
        .id(sales.id)
        .stage_id(proposal)
        .move_leads_to(stage(&sales, "Won"))
        .send()
        .await
        .expect("delete the stage, moving its lead");
    let moved = the(c, EventType::LeadStageChanged).await;
    assert_eq!(moved.data["id"], json!(deal.id));
    assert_eq!(moved.previous["stage_id"], json!(proposal));
    assert_eq!(moved.previous["status"], "open");
    assert_eq!(moved.data["status"], "won");
    // The pipeline lost a stage: its update names `stages`, with the stage in `previous`.
    let pipeline = the(c, EventType::PipelineUpdated).await;
    assert_eq!(pipeline.changed_fields, ["stages"]);
    let before = pipeline.previous["stages"].as_array().unwrap();
    assert!(before.iter().any(|s| s["id"] == json!(proposal)));
}
