//! Another tenant never sees nor restores a tenant's trash.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, ActivityKind};

use super::{contact_ids, events_of};
use crate::activities::activity;
use crate::{create, create_company, create_lead, lead, person, sales, Refused, ANY_CODE};

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
