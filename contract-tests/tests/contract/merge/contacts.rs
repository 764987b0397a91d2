//! A contact merge: the duplicate's leads, activities, associations and missing fields move
//! to the survivor, and so do its trashed ones.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, Direction, EventType, RecordType};

use crate::activities::activity;
use crate::associations::{associate, of_contact};
use crate::events::events;
use crate::{create, create_company, create_lead, lead, person, sales, Refused, ANY_CODE};

use super::{contact, ends, merge_contacts, restore_activity, restore_lead};

#[tokio::test]
async fn a_contact_merge_moves_leads_activities_associations_and_missing_fields() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    // `seats` is unique: the duplicate's value must be able to move to the survivor.
    for body in [
        crate::custom_fields::definition("contact", "plan", types::CustomFieldType::Text),
        types::CustomFieldCreate {
            unique: Some(true),
            ..crate::custom_fields::definition("contact", "seats", types::CustomFieldType::Number)
        },
    ] {
        c.custom_fields_create()
            .body(body)
            .send()
            .await
            .expect("define a custom field");
    }
    let survivor = create(
        c,
        types::ContactCreate {
            tags: vec!["vip".parse().unwrap()],
            custom_fields: serde_json::json!({"plan": "pro"})
                .as_object()
                .unwrap()
                .clone(),
            ..contact("Ada", None, None, None)
        },
    )
    .await;
    let acme = create_company(c, "Acme").await;
    let duplicate = create(
        c,
        types::ContactCreate {
            tags: vec!["new".parse().unwrap()],
            custom_fields: serde_json::json!({"plan": "free", "seats": 3})
                .as_object()
                .unwrap()
                .clone(),
            company_id: Some(acme.id),
            ..contact(
                "Adah",
                Some("Lovelace"),
                Some("ada@example.com"),
                Some("+44 20 7946 0958"),
            )
        },
    )
    .await;
    let pipeline = sales(c).await;
    let deal = create_lead(
        c,
        types::LeadCreate {
            contact_id: Some(duplicate.id),
            ..lead("Deal", pipeline.id)
        },
    )
    .await;
    let call = c
        .activities_create()
        .body(types::ActivityCreate {
            contact_id: Some(duplicate.id),
            subject: Some("Call".parse().unwrap()),
            ..activity(types::ActivityKind::Call)
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    // The survivor and the duplicate both work at Acme (the duplicate's link is a repeat),
    // know each other (a self-link once merged), and the duplicate is on another lead.
    let other_deal = create_lead(c, lead("Other deal", pipeline.id)).await;
    associate(
        c,
        (RecordType::Contact, survivor.id),
        (RecordType::Company, acme.id),
        None,
    )
    .await;
    let repeat = associate(
        c,
        (RecordType::Contact, duplicate.id),
        (RecordType::Company, acme.id),
        None,
    )
    .await;
    let selfish = associate(
        c,
        (RecordType::Contact, duplicate.id),
        (RecordType::Contact, survivor.id),
        None,
    )
    .await;
    let moved = associate(
        c,
        (RecordType::Lead, other_deal.id),
        (RecordType::Contact, duplicate.id),
        None,
    )
    .await;

    let answer = c
        .contacts_merge()
        .id(survivor.id)
        .body(types::MergeRequest {
            duplicate_id: duplicate.id,
        })
        .send()
        .await
        .expect("merge");
    assert_eq!(answer.status().as_u16(), 200);
    assert!(answer.headers().contains_key("etag"));
    let merged = answer.into_inner().data;
    assert_eq!(merged.id, survivor.id);
    assert_eq!(
        merged.first_name.as_deref(),
        Some("Ada"),
        "the survivor's own value stays"
    );
    assert_eq!(
        merged.last_name.as_deref(),
        Some("Lovelace"),
        "a missing field is filled"
    );
    assert_eq!(
        merged.email.as_deref(),
        Some("ada@example.com"),
        "the email moved"
    );
    assert_eq!(merged.phone.as_deref(), Some("+442079460958"));
    assert_eq!(merged.company_id, Some(acme.id));
    assert_eq!(merged.tags, ["vip", "new"]);
    assert_eq!(merged.custom_fields["plan"], "pro");
    assert_eq!(merged.custom_fields["seats"], 3);

    // The duplicate is gone; what pointed at it points at the survivor.
    c.contacts_get()
        .id(duplicate.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    let deal = c
        .leads_get()
        .id(deal.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(deal.contact_id, Some(survivor.id));
    let call = c
        .activities_get()
        .id(call.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(call.contact_id, Some(survivor.id));
    let timeline = c
        .contacts_activities()
        .id(survivor.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(timeline.len(), 1);
    let links = of_contact(c, survivor.id).await;
    assert_eq!(
        links,
        [
            (Direction::Outgoing, RecordType::Company, acme.id),
            (Direction::Incoming, RecordType::Lead, other_deal.id),
        ],
        "the repeat and the self-link are dropped, the rest moved"
    );
    let moved_now = c
        .associations_get()
        .id(moved.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        moved_now.to_id, survivor.id,
        "a moved association keeps its id"
    );
    // The email is free for the survivor only: a new contact cannot take it.
    c.contacts_create()
        .body(person("Eve", "ADA@example.com"))
        .send()
        .await
        .refused(409, ANY_CODE);

    // Events: contact.merged naming both, association.deleted for the two dropped, no
    // contact.deleted.
    let merged_events = events(c, Some(EventType::ContactMerged)).await;
    assert_eq!(merged_events.len(), 1);
    let data = &merged_events[0].data;
    assert_eq!(data["survivor"]["id"], survivor.id.to_string());
    assert_eq!(data["survivor"]["email"], "ada@example.com");
    assert_eq!(data["merged_id"], duplicate.id.to_string());
    assert_eq!(data["merged"]["first_name"], "Adah");
    let dropped: Vec<_> = events(c, Some(EventType::AssociationDeleted))
        .await
        .iter()
        .map(|e| e.data["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(dropped.len(), 2);
    assert!(dropped.contains(&repeat.id.to_string()));
    assert!(dropped.contains(&selfish.id.to_string()));
    assert!(events(c, Some(EventType::ContactDeleted)).await.is_empty());
}

/// Records in the trash belong to the merged record too: the merge must carry them to
/// the survivor, or a restore brings them back with their link cleared (the duplicate
/// was deleted for good, and the foreign key set the link to null).
#[tokio::test]
async fn a_contact_merge_carries_the_duplicates_trashed_leads_activities_and_links() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let survivor = create(c, contact("Ada", None, None, None)).await;
    let duplicate = create(c, contact("Adah", Some("Lovelace"), None, None)).await;
    let pipeline = sales(c).await;
    let deal = create_lead(
        c,
        types::LeadCreate {
            contact_id: Some(duplicate.id),
            ..lead("Deal", pipeline.id)
        },
    )
    .await;
    let call = c
        .activities_create()
        .body(types::ActivityCreate {
            contact_id: Some(duplicate.id),
            subject: Some("Call".parse().unwrap()),
            ..activity(types::ActivityKind::Call)
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let link = associate(
        c,
        (RecordType::Lead, deal.id),
        (RecordType::Contact, duplicate.id),
        None,
    )
    .await;
    c.leads_delete()
        .id(deal.id)
        .send()
        .await
        .expect("trash the lead");
    c.activities_delete()
        .id(call.id)
        .send()
        .await
        .expect("trash the activity");

    merge_contacts(c, survivor.id, duplicate.id).await;

    let deal = restore_lead(c, deal.id).await;
    assert_eq!(
        deal.contact_id,
        Some(survivor.id),
        "a trashed lead of the duplicate comes back on the survivor"
    );
    let call = restore_activity(c, call.id).await;
    assert_eq!(
        call.contact_id,
        Some(survivor.id),
        "a trashed activity of the duplicate comes back on the survivor"
    );
    assert_eq!(
        ends(c, link.id).await,
        (deal.id, survivor.id),
        "the trashed lead's association came along"
    );
    assert_eq!(
        of_contact(c, survivor.id).await,
        [(Direction::Incoming, RecordType::Lead, deal.id)]
    );
}
