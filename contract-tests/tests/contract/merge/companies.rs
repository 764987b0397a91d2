//! A company merge: the duplicate's contacts, leads and domain move to the survivor, and
//! so do its trashed records and links.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, EventType, RecordType};

use crate::activities::activity;
use crate::associations::{associate, label};
use crate::events::events;
use crate::{company, create, create_company, create_lead, lead, person, sales, Refused, ANY_CODE};

use super::{ends, restore_activity, restore_lead};

#[tokio::test]
async fn a_company_merge_moves_its_contacts_leads_and_domain() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let survivor = create_company(c, "Acme").await;
    let duplicate = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("acme.example".parse().unwrap()),
            city: Some("Berlin".parse().unwrap()),
            ..company("ACME Inc")
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let ada = create(
        c,
        types::ContactCreate {
            company_id: Some(duplicate.id),
            ..person("Ada", "ada@example.com")
        },
    )
    .await;
    let pipeline = sales(c).await;
    let deal = create_lead(
        c,
        types::LeadCreate {
            company_id: Some(duplicate.id),
            ..lead("Deal", pipeline.id)
        },
    )
    .await;
    let parent = label(
        c,
        "Parent",
        Some((RecordType::Company, RecordType::Company)),
    )
    .await;
    let sub = create_company(c, "Acme Labs").await;
    associate(
        c,
        (RecordType::Company, duplicate.id),
        (RecordType::Company, sub.id),
        Some(parent.id),
    )
    .await;

    let merged = c
        .companies_merge()
        .id(survivor.id)
        .body(types::MergeRequest {
            duplicate_id: duplicate.id,
        })
        .send()
        .await
        .expect("merge")
        .into_inner()
        .data;
    assert_eq!(merged.name, "Acme", "the survivor's name stays");
    assert_eq!(
        merged.domain.as_deref(),
        Some("acme.example"),
        "the domain moved"
    );
    assert_eq!(merged.city.as_deref(), Some("Berlin"));
    c.companies_get()
        .id(duplicate.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    let ada = c
        .contacts_get()
        .id(ada.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(ada.company_id, Some(survivor.id));
    let deal = c
        .leads_get()
        .id(deal.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(deal.company_id, Some(survivor.id));
    let subs = c
        .companies_associations()
        .id(sub.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        subs[0].other_id, survivor.id,
        "the subsidiary has the survivor as parent"
    );
    let event = events(c, Some(EventType::CompanyMerged)).await;
    assert_eq!(event.len(), 1);
    assert_eq!(event[0].data["merged_id"], duplicate.id.to_string());
    assert_eq!(event[0].data["survivor"]["domain"], "acme.example");
}

#[tokio::test]
async fn a_company_merge_carries_the_duplicates_trashed_contacts_leads_activities_and_links() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let survivor = create_company(c, "Acme").await;
    let duplicate = create_company(c, "ACME Inc").await;
    let ada = create(
        c,
        types::ContactCreate {
            company_id: Some(duplicate.id),
            ..person("Ada", "ada@example.com")
        },
    )
    .await;
    let pipeline = sales(c).await;
    let deal = create_lead(
        c,
        types::LeadCreate {
            company_id: Some(duplicate.id),
            ..lead("Deal", pipeline.id)
        },
    )
    .await;
    let meeting = c
        .activities_create()
        .body(types::ActivityCreate {
            company_id: Some(duplicate.id),
            subject: Some("Meeting".parse().unwrap()),
            ..activity(types::ActivityKind::Meeting)
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let link = associate(
        c,
        (RecordType::Company, duplicate.id),
        (RecordType::Contact, ada.id),
        None,
    )
    .await;
    c.contacts_delete()
        .id(ada.id)
        .send()
        .await
        .expect("trash the contact");
    c.leads_delete()
        .id(deal.id)
        .send()
        .await
        .expect("trash the lead");
    c.activities_delete()
        .id(meeting.id)
        .send()
        .await
        .expect("trash the activity");

    c.companies_merge()
        .id(survivor.id)
        .body(types::MergeRequest {
            duplicate_id: duplicate.id,
        })
        .send()
        .await
        .expect("merge");

    let ada = c
        .contacts_restore()
        .id(ada.id)
        .send()
        .await
        .expect("restore the contact")
        .into_inner()
        .data;
    assert_eq!(
        ada.company_id,
        Some(survivor.id),
        "a trashed contact of the duplicate comes back at the survivor"
    );
    let deal = restore_lead(c, deal.id).await;
    assert_eq!(deal.company_id, Some(survivor.id));
    let meeting = restore_activity(c, meeting.id).await;
    assert_eq!(meeting.company_id, Some(survivor.id));
    assert_eq!(
        ends(c, link.id).await,
        (survivor.id, ada.id),
        "the trashed contact's association came along"
    );
}
