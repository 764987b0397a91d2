//! The events of contacts, companies and activities, each carrying the record as the API
//! returned it.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{ActivityPatch, CompanyPatch, ContactPatch};
use momentum_sdk::types::{self, EventType};

use crate::activities::activity;
use crate::{create, create_company, person};

use super::{assert_data, assert_deleted, changes, events, raw_get};

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
