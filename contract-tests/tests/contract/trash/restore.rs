//! Deleting hides a record, `include_deleted=true` shows it, and a restore brings it
//! back with its links, its stage history and its events.

use momentum_contract_tests::TestApp;
use momentum_sdk::conditional;
use momentum_sdk::patch::LeadPatch;
use momentum_sdk::types::{self, ActivityKind};
use uuid::Uuid;

use super::{contact_ids, events_of};
use crate::activities::activity;
use crate::{create, create_company, create_lead, lead, person, sales, stage, Refused, ANY_CODE};

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
