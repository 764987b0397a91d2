//! The trash: deleting a contact, company, lead or activity hides it from reads and
//! lists, `include_deleted=true` shows it, `POST .../restore` brings it back with its
//! links, and uniqueness ignores it. Another tenant never sees or restores it.

use momentum_contract_tests::TestApp;
use momentum_sdk::conditional;
use momentum_sdk::patch::{ContactPatch, LeadPatch};
use momentum_sdk::types::{self, ActivityKind};
use momentum_sdk::Client;
use uuid::Uuid;

use crate::activities::activity;
use crate::{
    assert_detail, company, create, create_company, create_lead, details, lead, person, sales,
    stage, Refused, Sent, ANY_CODE,
};

/// Every event of the tenant of type `kind`, oldest first (one page is enough here).
async fn events_of(c: &Client, kind: types::EventType) -> Vec<types::Event> {
    c.events_list()
        .type_(kind)
        .limit(200)
        .send()
        .await
        .expect("list events")
        .into_inner()
        .data
}

/// The ids of the tenant's contacts, trashed ones too when `include_deleted`.
async fn contact_ids(c: &Client, include_deleted: bool) -> Vec<Uuid> {
    let mut request = c.contacts_list().limit(200);
    if include_deleted {
        request = request.include_deleted(true);
    }
    let page = request.send().await.expect("list contacts").into_inner();
    page.data.iter().map(|c| c.id).collect()
}

/// Asserts a write naming a trashed record in `field` is refused as if the id were unknown.
#[track_caller]
fn refused_as_unknown<T: std::fmt::Debug>(result: Sent<T>, field: &str) {
    let err = result.refused_as(field, 422, "validation_failed");
    assert_eq!(details(&err), [(field, "not_found")], "{err:?}");
}

#[tokio::test]
async fn a_deleted_contact_is_hidden_shown_on_request_and_restored_with_events() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    assert_eq!(ada.deleted_at, None);

    let deleted = c.contacts_delete().id(ada.id).send().await.expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);

    // Gone from reads and lists, and from a second delete.
    c.contacts_get()
        .id(ada.id)
        .send()
        .await
        .refused(404, "not_found");
    assert!(!contact_ids(c, false).await.contains(&ada.id));
    c.contacts_delete()
        .id(ada.id)
        .send()
        .await
        .refused(404, ANY_CODE);

    // Shown on request, with when it was deleted.
    let trashed = c
        .contacts_get()
        .id(ada.id)
        .include_deleted(true)
        .send()
        .await
        .expect("get from the trash")
        .into_inner()
        .data;
    let deleted_at = trashed.deleted_at.expect("deleted_at is set in the trash");
    assert!(trashed.updated_at >= ada.updated_at);
    assert!(contact_ids(c, true).await.contains(&ada.id));
    // `include_deleted=false` is the default.
    c.contacts_get()
        .id(ada.id)
        .include_deleted(false)
        .send()
        .await
        .refused(404, ANY_CODE);

    // The event carries the contact as it is in the trash.
    let gone = events_of(c, types::EventType::ContactDeleted).await;
    assert_eq!(gone.len(), 1);
    let data: types::Contact = serde_json::from_value(gone[0].data.clone().into()).unwrap();
    assert_eq!((data.id, data.deleted_at), (ada.id, Some(deleted_at)));

    // Restore: 200 with the contact and its ETag, and it is back everywhere.
    let restored = c
        .contacts_restore()
        .id(ada.id)
        .send()
        .await
        .expect("restore");
    assert_eq!(restored.status().as_u16(), 200);
    let etag = conditional::etag(&restored).expect("an ETag").to_owned();
    let restored = restored.into_inner().data;
    assert_eq!(restored.deleted_at, None);
    assert_eq!(restored.email.as_deref(), Some("ada@example.com"));
    let read = c
        .contacts_get()
        .id(ada.id)
        .send()
        .await
        .expect("get it back");
    assert_eq!(conditional::etag(&read), Some(etag.as_str()));
    assert!(contact_ids(c, false).await.contains(&ada.id));
    let back = events_of(c, types::EventType::ContactRestored).await;
    assert_eq!(back.len(), 1);
    let data: types::Contact = serde_json::from_value(back[0].data.clone().into()).unwrap();
    assert_eq!(data, restored);

    // Restoring a live contact changes nothing and records nothing.
    let again = c
        .contacts_restore()
        .id(ada.id)
        .send()
        .await
        .expect("restore a live contact")
        .into_inner()
        .data;
    assert_eq!(again, restored);
    assert_eq!(
        events_of(c, types::EventType::ContactRestored).await.len(),
        1
    );

    // Unknown ids are 404.
    c.contacts_restore()
        .id(Uuid::now_v7())
        .send()
        .await
        .refused(404, ANY_CODE);
}

#[tokio::test]
async fn uniqueness_ignores_the_trash_and_a_restore_into_a_conflict_names_the_holder() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    // Contacts: the email of a trashed contact is free...
    let first = create(c, person("First", "taken@example.com")).await;
    c.contacts_delete().id(first.id).send().await.unwrap();
    let second = create(c, person("Second", "Taken@Example.com")).await;
    // ... and the trashed one cannot come back while the live one holds it.
    let err = c
        .contacts_restore()
        .id(first.id)
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(err.error.details.len(), 1);
    assert_eq!(
        (
            err.error.details[0].field.as_str(),
            err.error.details[0].code.as_str()
        ),
        ("email", "taken")
    );
    assert!(
        err.error.details[0]
            .message
            .contains(&second.id.to_string()),
        "names the holder: {err:?}"
    );
    // Nothing changed: still in the trash, no event.
    let still = c
        .contacts_get()
        .id(first.id)
        .include_deleted(true)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(still.deleted_at.is_some());
    assert!(events_of(c, types::EventType::ContactRestored)
        .await
        .is_empty());
    // Once the holder is in the trash too, it comes back.
    c.contacts_delete().id(second.id).send().await.unwrap();
    c.contacts_restore()
        .id(first.id)
        .send()
        .await
        .expect("restore");

    // Companies: the same for the domain.
    let mut body = company("Acme");
    body.domain = Some("acme.example".parse().unwrap());
    let acme = c
        .companies_create()
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    c.companies_delete().id(acme.id).send().await.unwrap();
    body.name = "Acme Two".parse().unwrap();
    let acme2 = c
        .companies_create()
        .body(body)
        .send()
        .await
        .expect("domain is free")
        .into_inner()
        .data;
    let err = c
        .companies_restore()
        .id(acme.id)
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(
        (
            err.error.details[0].field.as_str(),
            err.error.details[0].code.as_str()
        ),
        ("domain", "taken")
    );
    assert!(
        err.error.details[0].message.contains(&acme2.id.to_string()),
        "{err:?}"
    );
    c.companies_delete().id(acme2.id).send().await.unwrap();
    let back = c
        .companies_restore()
        .id(acme.id)
        .send()
        .await
        .expect("restore")
        .into_inner()
        .data;
    assert_eq!(
        (back.deleted_at, back.domain.as_deref()),
        (None, Some("acme.example"))
    );
    assert_eq!(
        events_of(c, types::EventType::CompanyRestored).await.len(),
        1
    );
    let gone = events_of(c, types::EventType::CompanyDeleted).await;
    assert_eq!(gone.len(), 2);
    assert!(gone
        .iter()
        .all(|e| e.data.get("deleted_at").is_some_and(|v| v.is_string())));
}

#[tokio::test]
async fn a_restored_lead_comes_back_with_its_links_and_its_stage_history() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let acme = create_company(c, "Acme").await;
    let mut body = lead("Big deal", sales.id);
    body.contact_id = Some(ada.id);
    body.company_id = Some(acme.id);
    let deal = create_lead(c, body).await;
    c.leads_update()
        .id(deal.id)
        .body(LeadPatch {
            stage_id: Some(stage(&sales, "Qualified")),
            ..Default::default()
        })
        .send()
        .await
        .expect("move the lead");
    let mut note = activity(ActivityKind::Note);
    note.subject = Some("Called".parse().unwrap());
    note.lead_id = Some(deal.id);
    let note = c
        .activities_create()
        .body(note)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;

    // The contact and the company go to the trash: the lead keeps its links to them.
    c.contacts_delete().id(ada.id).send().await.unwrap();
    c.companies_delete().id(acme.id).send().await.unwrap();
    let kept = c
        .leads_get()
        .id(deal.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        (kept.contact_id, kept.company_id),
        (Some(ada.id), Some(acme.id))
    );

    // The lead goes too, with its stage history; the note stays, still pointing at it.
    c.leads_delete().id(deal.id).send().await.unwrap();
    c.leads_get()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    c.leads_activities().id(deal.id).send().await.refused_as(
        "the timeline of a trashed lead is gone with it",
        404,
        ANY_CODE,
    );
    let live = c
        .activities_list()
        .lead_id(deal.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(live.iter().map(|a| a.id).collect::<Vec<_>>(), vec![note.id]);
    let note_now = c
        .activities_get()
        .id(note.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(note_now.lead_id, Some(deal.id));
    let trashed = c
        .activities_list()
        .lead_id(deal.id)
        .include_deleted(true)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        trashed.len(),
        2,
        "the note and the trashed stage change: {trashed:?}"
    );
    let history = trashed.iter().find(|a| a.id != note.id).unwrap();
    assert!(history.deleted_at.is_some());
    // A stage change comes back only with its lead.
    c.activities_restore()
        .id(history.id)
        .send()
        .await
        .refused(409, "conflict");

    // Everything comes back as it was.
    c.contacts_restore().id(ada.id).send().await.unwrap();
    c.companies_restore().id(acme.id).send().await.unwrap();
    let back = c
        .leads_restore()
        .id(deal.id)
        .send()
        .await
        .expect("restore")
        .into_inner()
        .data;
    assert_eq!(back.deleted_at, None);
    assert_eq!(
        (back.contact_id, back.company_id),
        (Some(ada.id), Some(acme.id))
    );
    assert_eq!(back.stage_id, stage(&sales, "Qualified"));
    let timeline = c
        .leads_activities()
        .id(deal.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(timeline.len(), 2, "{timeline:?}");
    assert!(timeline.iter().all(|a| a.deleted_at.is_none()));
    let restored = events_of(c, types::EventType::LeadRestored).await;
    assert_eq!(restored.len(), 1);
    assert_eq!(
        restored[0].data.get("id").and_then(|v| v.as_str()),
        Some(deal.id.to_string().as_str())
    );
}

#[tokio::test]
async fn a_trashed_record_is_absent_to_updates_links_timelines_and_batches() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let acme = create_company(c, "Acme").await;
    let deal = create_lead(c, lead("Deal", sales.id)).await;
    let mut prospect = lead("Prospect", sales.id);
    prospect.contact_id = Some(ada.id);
    let prospect = create_lead(c, prospect).await;
    c.contacts_delete().id(ada.id).send().await.unwrap();
    c.companies_delete().id(acme.id).send().await.unwrap();
    c.leads_delete().id(deal.id).send().await.unwrap();

    // Updates, deletes and timelines answer 404, as for an unknown id.
    let patch = ContactPatch {
        title: Some(Some("CTO".into())),
        ..Default::default()
    };
    c.contacts_update()
        .id(ada.id)
        .body(patch)
        .send()
        .await
        .refused(404, ANY_CODE);
    c.contacts_activities()
        .id(ada.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    c.companies_contacts()
        .id(acme.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    c.leads_convert()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);

    // New links to them are refused like links to unknown ids (422 on the field).
    let mut body = person("Grace", "grace@example.com");
    body.company_id = Some(acme.id);
    refused_as_unknown(c.contacts_create().body(body).send().await, "company_id");
    let grace = create(c, person("Grace", "grace@example.com")).await;
    let patch = ContactPatch {
        company_id: Some(Some(acme.id)),
        ..Default::default()
    };
    refused_as_unknown(
        c.contacts_update().id(grace.id).body(patch).send().await,
        "company_id",
    );
    let mut body = lead("Linked", sales.id);
    body.contact_id = Some(ada.id);
    refused_as_unknown(c.leads_create().body(body).send().await, "contact_id");
    for (field, mut body) in [
        ("contact_id", activity(ActivityKind::Call)),
        ("company_id", activity(ActivityKind::Call)),
        ("lead_id", activity(ActivityKind::Call)),
    ] {
        body.subject = Some("Call".parse().unwrap());
        match field {
            "contact_id" => body.contact_id = Some(ada.id),
            "company_id" => body.company_id = Some(acme.id),
            _ => body.lead_id = Some(deal.id),
        }
        refused_as_unknown(c.activities_create().body(body).send().await, field);
    }
    let mut item = person("Batch", "batch@example.com");
    item.company_id = Some(acme.id);
    let batch = c
        .contacts_batch_upsert()
        .body(types::ContactBatch { items: vec![item] })
        .send()
        .await
        .expect("a batch")
        .into_inner();
    let error = batch.data[0].error.as_ref().expect("the item is refused");
    assert_eq!(error.details[0].field, "items[0].company_id", "{error:?}");

    // A link made while the record was live stays, and an update that leaves it alone
    // passes; converting a lead whose contact is in the trash is refused on the link.
    let renamed = c
        .leads_update()
        .id(prospect.id)
        .body(LeadPatch {
            title: Some("Renamed".parse().unwrap()),
            ..Default::default()
        })
        .send()
        .await
        .expect("an update that keeps the link")
        .into_inner()
        .data;
    assert_eq!(renamed.contact_id, Some(ada.id));
    let err = c
        .leads_convert()
        .id(prospect.id)
        .send()
        .await
        .refused(422, "validation_failed");
    assert_detail(&err, "contact_id", "deleted");
}

#[tokio::test]
async fn another_tenant_never_sees_nor_restores_the_trash() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let (_, b) = app.other_tenant().await;
    let ada = create(a, person("Ada", "ada@example.com")).await;
    let acme = create_company(a, "Acme").await;
    let mut note = activity(ActivityKind::Note);
    note.subject = Some("Note".parse().unwrap());
    let note = a
        .activities_create()
        .body(note)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let deal = create_lead(a, lead("Deal", sales(a).await.id)).await;
    a.contacts_delete().id(ada.id).send().await.unwrap();
    a.companies_delete().id(acme.id).send().await.unwrap();
    a.activities_delete().id(note.id).send().await.unwrap();
    a.leads_delete().id(deal.id).send().await.unwrap();
    let b_own = create(&b, person("Bea", "ada@example.com")).await;
    b.contacts_delete().id(b_own.id).send().await.unwrap();

    // B: 404 for each, with or without include_deleted, and restoring changes nothing.
    b.contacts_get()
        .id(ada.id)
        .include_deleted(true)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.companies_get()
        .id(acme.id)
        .include_deleted(true)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.activities_get()
        .id(note.id)
        .include_deleted(true)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.leads_get()
        .id(deal.id)
        .include_deleted(true)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.contacts_restore()
        .id(ada.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.companies_restore()
        .id(acme.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.activities_restore()
        .id(note.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.leads_restore()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    // B's trash holds B's contact only; A's lists never show B's.
    assert_eq!(contact_ids(&b, true).await, vec![b_own.id]);
    assert_eq!(contact_ids(a, true).await, vec![ada.id]);
    let b_leads = b
        .leads_list()
        .include_deleted(true)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(b_leads.is_empty());
    let b_companies = b
        .companies_list()
        .include_deleted(true)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(b_companies.is_empty());
    let b_activities = b
        .activities_list()
        .include_deleted(true)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(b_activities.is_empty());
    assert!(events_of(&b, types::EventType::ContactRestored)
        .await
        .is_empty());

    // A's records are still in A's trash, and A can restore them.
    let still = a
        .activities_get()
        .id(note.id)
        .include_deleted(true)
        .send()
        .await
        .unwrap();
    assert!(still.into_inner().data.deleted_at.is_some());
    let back = a
        .activities_restore()
        .id(note.id)
        .send()
        .await
        .expect("restore")
        .into_inner()
        .data;
    assert_eq!(back.deleted_at, None);
    assert_eq!(
        events_of(a, types::EventType::ActivityRestored).await.len(),
        1
    );
    assert_eq!(
        events_of(a, types::EventType::ActivityDeleted).await.len(),
        1
    );
    assert_eq!(events_of(a, types::EventType::LeadDeleted).await.len(), 1);
}

#[tokio::test]
async fn trashed_leads_move_with_their_stage_and_block_its_deletion_until_moved() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let mut body = lead("Parked", sales.id);
    body.stage_id = Some(stage(&sales, "Proposal"));
    let parked = create_lead(c, body).await;
    c.leads_delete().id(parked.id).send().await.unwrap();

    // The stage holds no live lead, but a trashed one that a restore must find in place.
    let err = c
        .stages_delete()
        .id(sales.id)
        .stage_id(stage(&sales, "Proposal"))
        .send()
        .await
        .refused(409, "conflict");
    assert!(
        err.error.details[0].message.contains("in the trash"),
        "{err:?}"
    );

    let moved = c
        .stages_delete()
        .id(sales.id)
        .stage_id(stage(&sales, "Proposal"))
        .move_leads_to(stage(&sales, "Qualified"))
        .send()
        .await
        .expect("delete the stage, moving its leads");
    assert_eq!(moved.status().as_u16(), 204);
    // A trashed lead moved along emits nothing.
    assert!(events_of(c, types::EventType::LeadStageChanged)
        .await
        .is_empty());

    let back = c
        .leads_restore()
        .id(parked.id)
        .send()
        .await
        .expect("restore")
        .into_inner()
        .data;
    assert_eq!(back.stage_id, stage(&sales, "Qualified"));
    let history = c
        .leads_activities()
        .id(parked.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(history.len(), 1, "the move is in its history: {history:?}");
}
