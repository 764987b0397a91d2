//! The event log: every change to a CRM resource is recorded in the transaction that made
//! it, with the resource exactly as the API returned it, visible to the tenant's admins
//! only.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{
    ActivityPatch, CompanyPatch, ContactPatch, LeadPatch, PipelinePatch, StagePatch,
};
use momentum_sdk::types::{self, EventType, StageKind};
use momentum_sdk::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::activities::activity;
use crate::{create, create_company, create_lead, lead, person, sales, stage, Refused, ANY_CODE};

/// The tenant's events (only those of `kind`, if given), oldest first, over every page.
pub(crate) async fn events(c: &Client, kind: Option<EventType>) -> Vec<types::Event> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = c.events_list();
        if let Some(kind) = kind {
            request = request.type_(kind);
        }
        if let Some(cursor) = cursor.take() {
            request = request.cursor(cursor);
        }
        let page = request.send().await.expect("list events").into_inner();
        all.extend(page.data);
        match page.meta.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// The types of `events`, in the order they were recorded: across transactions by time,
/// and within one transaction in the order the change emitted them.
fn changes(events: &[types::Event]) -> Vec<&str> {
    events.iter().map(|e| e.type_.as_str()).collect()
}

/// The only event of type `kind` among `events`.
fn only<'a>(events: &'a [types::Event], kind: &str) -> &'a types::Event {
    let mut found = events.iter().filter(|e| e.type_ == kind);
    let event = found
        .next()
        .unwrap_or_else(|| panic!("no {kind} event in {events:#?}"));
    assert!(found.next().is_none(), "more than one {kind} event");
    event
}

/// Asserts that `event.data`, read as the SDK reads the API's `T`, equals `expected` as
/// JSON (both through the SDK's types, so timestamps compare by value, not by format).
fn assert_data<T: DeserializeOwned + Serialize>(event: &types::Event, expected: &T) {
    let data: T = serde_json::from_value(Value::Object(event.data.clone()))
        .unwrap_or_else(|e| panic!("{} data does not decode: {e}", event.type_));
    assert_eq!(
        serde_json::to_value(&data).unwrap(),
        serde_json::to_value(expected).unwrap(),
        "the data of {}",
        event.type_
    );
}

/// The `data` of a raw `GET path`, exactly as the server wrote it.
async fn raw_get(app: &TestApp, path: &str) -> Value {
    let (http, url) = app.raw(path);
    let response = http
        .get(url)
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "GET {path}");
    let mut body: Value = response.json().await.unwrap();
    body["data"].take()
}

/// Asserts that a `*.deleted` event carries the resource exactly as `last_read` (the
/// last read before a pipeline's deletion, the read from the trash after a record's),
/// byte for byte as JSON.
fn assert_deleted(event: &types::Event, last_read: &Value) {
    assert_eq!(
        &Value::Object(event.data.clone()),
        last_read,
        "the data of {}",
        event.type_
    );
}

async fn pipeline_now(c: &Client, id: Uuid) -> types::Pipeline {
    c.pipelines_get()
        .id(id)
        .send()
        .await
        .expect("get the pipeline")
        .into_inner()
        .data
}

#[tokio::test]
async fn a_contact_s_changes_are_events_carrying_the_contact_as_returned() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let created = create(c, person("Ann", "ann@acme.example")).await;
    let updated = c
        .contacts_update()
        .id(created.id)
        .body(ContactPatch {
            title: Some(Some("CTO".into())),
            ..Default::default()
        })
        .send()
        .await
        .expect("update")
        .into_inner()
        .data;
    c.contacts_delete()
        .id(created.id)
        .send()
        .await
        .expect("delete");
    // Deleting moves it to the trash: the event carries it as it is there.
    let last = raw_get(
        &app,
        &format!("/v1/contacts/{}?include_deleted=true", created.id),
    )
    .await;
    assert!(last["deleted_at"].is_string());

    let log = events(c, None).await;
    assert_eq!(
        changes(&log),
        ["contact.created", "contact.updated", "contact.deleted"]
    );
    assert_data(&log[0], &created);
    assert_data(&log[1], &updated);
    assert_deleted(&log[2], &last);
    let filtered = events(c, Some(EventType::ContactUpdated)).await;
    assert_eq!(
        filtered.iter().map(|e| e.id).collect::<Vec<_>>(),
        [log[1].id],
        "the type filter"
    );
    let one = c
        .events_get()
        .id(log[1].id)
        .send()
        .await
        .expect("get an event")
        .into_inner()
        .data;
    assert_eq!(one, log[1]);
}

#[tokio::test]
async fn a_company_s_changes_are_events_carrying_the_company_as_returned() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let created = create_company(c, "Acme").await;
    let updated = c
        .companies_update()
        .id(created.id)
        .body(CompanyPatch {
            industry: Some(Some("Software".into())),
            ..Default::default()
        })
        .send()
        .await
        .expect("update")
        .into_inner()
        .data;
    c.companies_delete()
        .id(created.id)
        .send()
        .await
        .expect("delete");
    // Deleting moves it to the trash: the event carries it as it is there.
    let last = raw_get(
        &app,
        &format!("/v1/companies/{}?include_deleted=true", created.id),
    )
    .await;
    assert!(last["deleted_at"].is_string());

    let log = events(c, None).await;
    assert_eq!(
        changes(&log),
        ["company.created", "company.updated", "company.deleted"]
    );
    assert_data(&log[0], &created);
    assert_data(&log[1], &updated);
    assert_deleted(&log[2], &last);
}

#[tokio::test]
async fn deleting_a_company_reports_no_change_for_the_contacts_that_lose_it() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = create_company(c, "Acme").await;
    let ann = create(
        c,
        types::ContactCreate {
            company_id: Some(acme.id),
            ..person("Ann", "ann@acme.example")
        },
    )
    .await;
    c.companies_delete().id(acme.id).send().await.unwrap();

    // Trashing the company keeps the link; purging it clears it, and neither is a change
    // reported for the contact.
    let kept = c.contacts_get().id(ann.id).send().await.unwrap();
    assert_eq!(kept.into_inner().data.company_id, Some(acme.id));
    assert_eq!(
        changes(&events(c, None).await),
        ["company.created", "contact.created", "company.deleted"]
    );
}

#[tokio::test]
async fn a_lead_s_changes_are_events_and_a_move_is_also_a_stage_change() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let created = create_lead(c, lead("Acme renewal", sales.id)).await;
    let update = |patch: LeadPatch| async move {
        c.leads_update()
            .id(created.id)
            .body(patch)
            .send()
            .await
            .expect("update")
            .into_inner()
            .data
    };
    let renamed = update(LeadPatch {
        title: Some("Acme renewal 2027".into()),
        ..Default::default()
    })
    .await;
    let moved = update(LeadPatch {
        stage_id: Some(stage(&sales, "Qualified")),
        ..Default::default()
    })
    .await;
    c.leads_delete()
        .id(created.id)
        .send()
        .await
        .expect("delete");
    // Deleting moves it to the trash: the event carries it as it is there.
    let last = raw_get(
        &app,
        &format!("/v1/leads/{}?include_deleted=true", created.id),
    )
    .await;
    assert!(last["deleted_at"].is_string());

    let log = events(c, None).await;
    assert_eq!(
        changes(&log),
        [
            "lead.created",
            "lead.updated",
            "lead.updated",
            "lead.stage_changed",
            "lead.deleted"
        ]
    );
    assert_data(&log[0], &created);
    assert_data(&log[1], &renamed);
    assert_data(&log[2], &moved);
    assert_data(&log[3], &moved);
    assert_deleted(&log[4], &last);
}

#[tokio::test]
async fn a_lead_entering_a_won_or_lost_stage_is_won_or_lost_once() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let deal = create_lead(c, lead("Acme renewal", sales.id)).await;
    let won = c
        .leads_update()
        .id(deal.id)
        .body(LeadPatch {
            stage_id: Some(stage(&sales, "Won")),
            ..Default::default()
        })
        .send()
        .await
        .expect("win")
        .into_inner()
        .data;
    assert_eq!(won.status, "won");

    let log = events(c, None).await;
    assert_eq!(
        changes(&log),
        [
            "lead.created",
            "lead.updated",
            "lead.stage_changed",
            "lead.won"
        ]
    );
    for event in &log[1..] {
        assert_data(event, &won);
    }

    // Changing a won lead without moving it is an update, and no second win.
    let noted = c
        .leads_update()
        .id(deal.id)
        .body(LeadPatch {
            title: Some("Acme renewal (signed)".into()),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let log = events(c, None).await;
    assert_eq!(changes(&log).last(), Some(&"lead.updated"));
    assert_data(log.last().unwrap(), &noted);

    // Created straight into a lost stage: created, and lost.
    let lost = create_lead(
        c,
        types::LeadCreate {
            stage_id: Some(stage(&sales, "Lost")),
            lost_reason: Some("Went with a competitor".parse().unwrap()),
            ..lead("Globex", sales.id)
        },
    )
    .await;
    let log = events(c, None).await;
    assert_eq!(
        changes(&log)[log.len() - 2..],
        ["lead.created", "lead.lost"]
    );
    for event in &log[log.len() - 2..] {
        assert_data(event, &lost);
    }
}

#[tokio::test]
async fn converting_a_lead_reports_the_conversion_and_what_it_created() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let prospect = create_lead(
        c,
        types::LeadCreate {
            prospect_first_name: Some("Grace".parse().unwrap()),
            prospect_email: Some("grace@navy.example".into()),
            prospect_company_name: Some("Navy".parse().unwrap()),
            prospect_company_domain: Some("navy.example".parse().unwrap()),
            ..lead("Compiler deal", sales.id)
        },
    )
    .await;
    let converted = c
        .leads_convert()
        .id(prospect.id)
        .send()
        .await
        .expect("convert")
        .into_inner()
        .data;

    let log = events(c, None).await;
    assert_eq!(
        changes(&log),
        [
            "lead.created",
            "company.created",
            "contact.created",
            "lead.converted"
        ]
    );
    let company = converted.company.expect("a company was created");
    assert_data(only(&log, "company.created"), &company);
    assert_data(only(&log, "contact.created"), &converted.contact);
    assert_data(only(&log, "lead.converted"), &converted.lead);

    // Linking existing records creates nothing: only the conversion is reported.
    let again = create_lead(
        c,
        types::LeadCreate {
            contact_id: Some(converted.contact.id),
            company_id: Some(company.id),
            ..lead("Follow-up", sales.id)
        },
    )
    .await;
    let linked = c
        .leads_convert()
        .id(again.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let log = events(c, None).await;
    assert_eq!(changes(&log).last(), Some(&"lead.converted"));
    assert_data(log.last().unwrap(), &linked.lead);

    // An existing contact without a company gains the new one: that is an update to it.
    let bob = create(c, person("Bob", "bob@initech.example")).await;
    let third = create_lead(
        c,
        types::LeadCreate {
            contact_id: Some(bob.id),
            prospect_company_name: Some("Initech".parse().unwrap()),
            ..lead("Printers", sales.id)
        },
    )
    .await;
    let joined = c
        .leads_convert()
        .id(third.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(joined.contact.company_id.is_some());
    let log = events(c, None).await;
    let conversion = &log[log.len() - 3..];
    assert_eq!(
        changes(conversion),
        ["company.created", "contact.updated", "lead.converted"]
    );
    assert_data(
        only(conversion, "company.created"),
        &joined.company.expect("a company was created"),
    );
    assert_data(only(conversion, "contact.updated"), &joined.contact);
    assert_data(only(conversion, "lead.converted"), &joined.lead);
}

#[tokio::test]
async fn a_pipeline_s_changes_and_its_stages_changes_carry_the_whole_pipeline() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let created = c
        .pipelines_create()
        .body(types::PipelineCreate {
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
    let deletion = &log[log.len() - 3..];
    assert_eq!(
        changes(deletion),
        ["lead.updated", "lead.stage_changed", "pipeline.deleted"]
    );
    assert_data(only(deletion, "lead.updated"), &reopened);
    assert_data(only(deletion, "lead.stage_changed"), &reopened);
    assert_deleted(only(deletion, "pipeline.deleted"), &last);
}

#[tokio::test]
async fn an_activity_s_changes_are_events_and_a_completion_is_an_update() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let created = c
        .activities_create()
        .body(types::ActivityCreate {
            subject: Some("Send the proposal".parse().unwrap()),
            ..activity(types::ActivityKind::Task)
        })
        .send()
        .await
        .expect("create")
        .into_inner()
        .data;
    let updated = c
        .activities_update()
        .id(created.id)
        .body(ActivityPatch {
            subject: Some(Some("Send the signed proposal".into())),
            ..Default::default()
        })
        .send()
        .await
        .expect("update")
        .into_inner()
        .data;
    let complete = || async {
        c.activities_complete()
            .id(created.id)
            .send()
            .await
            .expect("complete")
            .into_inner()
            .data
    };
    let completed = complete().await;
    // Completing it again changes nothing, so it reports nothing.
    complete().await;
    c.activities_delete()
        .id(created.id)
        .send()
        .await
        .expect("delete");
    // Deleting moves it to the trash: the event carries it as it is there.
    let last = raw_get(
        &app,
        &format!("/v1/activities/{}?include_deleted=true", created.id),
    )
    .await;
    assert!(last["deleted_at"].is_string());

    let log = events(c, None).await;
    assert_eq!(
        changes(&log),
        [
            "activity.created",
            "activity.updated",
            "activity.updated",
            "activity.deleted"
        ]
    );
    assert_data(&log[0], &created);
    assert_data(&log[1], &updated);
    assert_data(&log[2], &completed);
    assert_deleted(&log[3], &last);
}

#[tokio::test]
async fn a_change_rolled_back_leaves_no_event() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ann = create(c, person("Ann", "ann@acme.example")).await;
    c.contacts_create()
        .body(person("Annie", "ANN@acme.example"))
        .send()
        .await
        .refused(409, ANY_CODE);
    let bob = create(c, person("Bob", "bob@acme.example")).await;
    c.contacts_update()
        .id(bob.id)
        .body(ContactPatch {
            email: Some(Some("ann@acme.example".into())),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);

    let created = events(c, Some(EventType::ContactCreated)).await;
    assert_eq!(
        created
            .iter()
            .map(|e| e.data["id"].clone())
            .collect::<Vec<_>>(),
        [
            Value::String(ann.id.to_string()),
            Value::String(bob.id.to_string())
        ]
    );
    assert_eq!(events(c, None).await.len(), 2, "no update either");
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_events() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    create(a, person("Ann", "ann@acme.example")).await;
    let (_, b) = app.other_tenant().await;
    assert!(events(&b, None).await.is_empty());
    let a_event = events(a, None).await.remove(0);
    b.events_get()
        .id(a_event.id)
        .send()
        .await
        .refused(404, ANY_CODE);

    create(&b, person("Bea", "bea@b.example")).await;
    let b_events = events(&b, None).await;
    assert_eq!(b_events.len(), 1);
    assert_eq!(b_events[0].data["first_name"], "Bea");
    assert_eq!(events(a, None).await, [a_event]);
}

#[tokio::test]
async fn the_event_log_needs_the_admin_scope() {
    let app = TestApp::spawn().await;
    create(&app.client, person("Ann", "ann@acme.example")).await;
    let event = events(&app.client, None).await.remove(0);
    let key = app
        .client
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "no admin".parse().unwrap(),
            scopes: vec!["contacts:read".into(), "contacts:write".into()],
            expires_at: None,
            service: None,
            user_id: None,
        })
        .send()
        .await
        .expect("create a key")
        .into_inner()
        .data;
    let limited = app.client_with_key(&key.secret);
    limited.events_list().send().await.refused(403, ANY_CODE);
    limited
        .events_get()
        .id(event.id)
        .send()
        .await
        .refused(403, ANY_CODE);
}
