use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{ActivityPatch, LeadPatch};
use momentum_sdk::types;

use crate::{
    create, create_company, create_lead, fields_of, lead, person, sales, stage, Refused, ANY_CODE,
};

/// An activity body of `kind` with nothing else set.
pub fn activity(kind: types::ActivityKind) -> types::ActivityCreate {
    types::ActivityCreate {
        type_: kind,
        subject: None,
        body: None,
        due_at: None,
        completed_at: None,
        owner_id: None,
        contact_id: None,
        company_id: None,
        lead_id: None,
        custom_fields: Default::default(),
    }
}

async fn log(client: &momentum_sdk::Client, body: types::ActivityCreate) -> types::Activity {
    client
        .activities_create()
        .body(body)
        .send()
        .await
        .expect("create an activity")
        .into_inner()
        .data
}

#[tokio::test]
async fn an_activity_goes_through_create_read_update_list_and_delete() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ann = create(c, person("Ann", "ann@acme.example")).await;
    let acme = create_company(c, "Acme").await;

    let created = c
        .activities_create()
        .body(types::ActivityCreate {
            subject: Some("Intro call".parse().unwrap()),
            body: Some("Talked budget.\nFollow up in May.".parse().unwrap()),
            contact_id: Some(ann.id),
            company_id: Some(acme.id),
            ..activity(types::ActivityKind::Call)
        })
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let call = created.into_inner().data;
    assert_eq!((call.type_.as_str(), call.system), ("call", false));
    let owner = c.users_list().send().await.unwrap().into_inner().data[0].id;
    assert_eq!(call.owner_id, Some(owner));

    let got = c
        .activities_get()
        .id(call.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.data, call);

    let updated = c
        .activities_update()
        .id(call.id)
        .body(ActivityPatch {
            r#type: Some(types::ActivityKind::Meeting),
            body: Some(None),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(updated.type_, "meeting");
    assert_eq!(updated.body, None);
    assert_eq!(updated.subject, call.subject);

    log(
        c,
        types::ActivityCreate {
            subject: Some("Unrelated".parse().unwrap()),
            ..activity(types::ActivityKind::Note)
        },
    )
    .await;
    let meetings = c.activities_list().type_("meeting").send().await.unwrap();
    assert_eq!(meetings.into_inner().data.len(), 1);
    let of_ann = c.activities_list().contact_id(ann.id).send().await.unwrap();
    assert_eq!(of_ann.into_inner().data[0].id, call.id);

    assert_eq!(
        c.activities_delete()
            .id(call.id)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    c.activities_get()
        .id(call.id)
        .send()
        .await
        .refused(404, ANY_CODE);
}

#[tokio::test]
async fn timelines_list_a_records_activities_newest_first_in_pages() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ann = create(c, person("Ann", "ann@acme.example")).await;
    let acme = create_company(c, "Acme").await;
    let mut logged = Vec::new();
    for subject in ["first", "second", "third"] {
        let a = log(
            c,
            types::ActivityCreate {
                subject: Some(subject.parse().unwrap()),
                contact_id: Some(ann.id),
                company_id: Some(acme.id),
                ..activity(types::ActivityKind::Note)
            },
        )
        .await;
        logged.push(a.id);
    }
    let page = c
        .contacts_activities()
        .id(ann.id)
        .limit(2)
        .send()
        .await
        .unwrap()
        .into_inner();
    let rest = c
        .contacts_activities()
        .id(ann.id)
        .limit(2)
        .cursor(page.meta.next_cursor.clone().unwrap())
        .send()
        .await
        .unwrap()
        .into_inner();
    let order: Vec<_> = page.data.iter().chain(&rest.data).map(|a| a.id).collect();
    logged.reverse();
    assert_eq!(order, logged, "newest first, no gap or repeat across pages");
    let company = c.companies_activities().id(acme.id).send().await.unwrap();
    assert_eq!(company.into_inner().data.len(), 3);

    c.contacts_activities()
        .id(uuid::Uuid::now_v7())
        .send()
        .await
        .refused_as(
            "the timeline of a record that does not exist",
            404,
            ANY_CODE,
        );
}

#[tokio::test]
async fn completing_a_task_sets_completed_at_once_and_only_tasks_complete() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let task = log(
        c,
        types::ActivityCreate {
            subject: Some("Send the proposal".parse().unwrap()),
            due_at: Some("2027-01-05T09:00:00Z".parse().unwrap()),
            ..activity(types::ActivityKind::Task)
        },
    )
    .await;
    let open = c.activities_list().completed(false).send().await.unwrap();
    assert_eq!(open.into_inner().data.len(), 1);

    let done = c
        .activities_complete()
        .id(task.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    let completed_at = done.data.completed_at.expect("completed");
    let again = c
        .activities_complete()
        .id(task.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.data.completed_at,
        Some(completed_at),
        "the first time is kept"
    );
    let finished = c.activities_list().completed(true).send().await.unwrap();
    assert_eq!(finished.into_inner().data[0].id, task.id);

    let note = log(
        c,
        types::ActivityCreate {
            subject: Some("A note".parse().unwrap()),
            ..activity(types::ActivityKind::Note)
        },
    )
    .await;
    c.activities_complete()
        .id(note.id)
        .send()
        .await
        .refused(409, "conflict");
}

#[tokio::test]
async fn stage_changes_are_read_only_and_bad_activities_are_refused() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let pipeline = sales(c).await;
    let deal = create_lead(c, lead("Deal", pipeline.id)).await;
    c.leads_update()
        .id(deal.id)
        .body(LeadPatch {
            stage_id: Some(stage(&pipeline, "Qualified")),
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    let system = c
        .leads_activities()
        .id(deal.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let system = &system[0];
    assert!(system.system);

    c.activities_update()
        .id(system.id)
        .body(ActivityPatch {
            subject: Some(Some("rewritten".into())),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);
    c.activities_delete()
        .id(system.id)
        .send()
        .await
        .refused(409, ANY_CODE);

    // A note with neither subject nor body; a lead that does not exist.
    for (body, named) in [
        (
            activity(types::ActivityKind::Note),
            &["subject", "body"][..],
        ),
        (
            types::ActivityCreate {
                subject: Some("x".parse().unwrap()),
                lead_id: Some(uuid::Uuid::now_v7()),
                ..activity(types::ActivityKind::Note)
            },
            &["lead_id"][..],
        ),
    ] {
        let err = c.activities_create().body(body).send().await.refused_as(
            format_args!("{named:?}"),
            422,
            ANY_CODE,
        );
        assert_eq!(fields_of(&err), named);
    }

    // A client cannot write a system type, even by hand.
    let (http, url) = app.raw("/v1/activities");
    let resp = http
        .post(url)
        .bearer_auth(&app.api_key)
        .json(&serde_json::json!({"type": "stage_change", "subject": "fake"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn another_tenants_activities_and_timelines_are_invisible() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let ann = create(a, person("Ann", "ann@a.example")).await;
    let note = log(
        a,
        types::ActivityCreate {
            subject: Some("private".parse().unwrap()),
            contact_id: Some(ann.id),
            ..activity(types::ActivityKind::Note)
        },
    )
    .await;
    let (_, b) = app.other_tenant().await;
    b.activities_get()
        .id(note.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.activities_update()
        .id(note.id)
        .body(ActivityPatch::default())
        .send()
        .await
        .refused(404, ANY_CODE);
    b.activities_delete()
        .id(note.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.activities_complete()
        .id(note.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.contacts_activities()
        .id(ann.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    let listed = b.activities_list().contact_id(ann.id).send().await.unwrap();
    assert!(listed.into_inner().data.is_empty());
    let err = b
        .activities_create()
        .body(types::ActivityCreate {
            subject: Some("x".parse().unwrap()),
            contact_id: Some(ann.id),
            ..activity(types::ActivityKind::Note)
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["contact_id"]);
}
