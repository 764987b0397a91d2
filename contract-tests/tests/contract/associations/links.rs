//! Links between records of any two types: listed from both ends, unlinked, hidden while
//! an end is in the trash, and recorded as events.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, Direction, EventType, RecordType};

use crate::activities::activity;
use crate::events::events;
use crate::{
    create, create_company, create_lead, fields_of, lead, person, sales, Refused, ANY_CODE,
};

use super::{associate, label, link, of_contact};

#[tokio::test]
async fn records_of_any_two_types_are_associated_listed_from_both_ends_and_unlinked() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let acme = create_company(c, "Acme").await;
    let subsidiary = create_company(c, "Acme Labs").await;
    let pipeline = sales(c).await;
    let deal = create_lead(c, lead("Deal", pipeline.id)).await;
    let call = c
        .activities_create()
        .body(types::ActivityCreate {
            subject: Some("Call".parse().unwrap()),
            ..activity(types::ActivityKind::Call)
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let works_at = label(
        c,
        "Works at",
        Some((RecordType::Contact, RecordType::Company)),
    )
    .await;
    let parent = label(
        c,
        "Parent",
        Some((RecordType::Company, RecordType::Company)),
    )
    .await;

    let created = c
        .associations_create()
        .body(link(
            (RecordType::Contact, ada.id),
            (RecordType::Company, acme.id),
            Some(works_at.id),
        ))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let employment = created.into_inner().data;
    assert_eq!(location, format!("/v1/associations/{}", employment.id));
    assert_eq!(employment.label_id, Some(works_at.id));
    let ownership = associate(
        c,
        (RecordType::Company, acme.id),
        (RecordType::Company, subsidiary.id),
        Some(parent.id),
    )
    .await;
    let on_deal = associate(
        c,
        (RecordType::Lead, deal.id),
        (RecordType::Contact, ada.id),
        None,
    )
    .await;
    let on_call = associate(
        c,
        (RecordType::Contact, ada.id),
        (RecordType::Activity, call.id),
        None,
    )
    .await;

    // From the contact: both directions, each naming the other end.
    assert_eq!(
        of_contact(c, ada.id).await,
        [
            (Direction::Outgoing, RecordType::Company, acme.id),
            (Direction::Incoming, RecordType::Lead, deal.id),
            (Direction::Outgoing, RecordType::Activity, call.id),
        ]
    );
    let companies_only = c
        .contacts_associations()
        .id(ada.id)
        .other_type(RecordType::Company)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(companies_only.len(), 1);
    assert_eq!(companies_only[0].id, employment.id);
    let of_sub = c
        .companies_associations()
        .id(subsidiary.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(of_sub.len(), 1);
    assert_eq!(
        (of_sub[0].direction, of_sub[0].other_id, of_sub[0].label_id),
        (Direction::Incoming, acme.id, Some(parent.id)),
        "the subsidiary sees its parent"
    );
    let of_lead = c
        .leads_associations()
        .id(deal.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(of_lead[0].direction, Direction::Outgoing);
    let of_call = c
        .activities_associations()
        .id(call.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(of_call[0].other_id, ada.id);

    // The tenant-wide list and its filters.
    let all = c
        .associations_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(all.len(), 4);
    let labelled = c
        .associations_list()
        .label_id(parent.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(labelled, std::slice::from_ref(&ownership));
    let unlabelled = c
        .associations_list()
        .unlabelled(true)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(unlabelled.len(), 2);
    let of_acme = c
        .associations_list()
        .record_type(RecordType::Company)
        .record_id(acme.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of_acme.data.len(), 2);
    let page = c
        .associations_list()
        .limit(3)
        .send()
        .await
        .unwrap()
        .into_inner();
    let next = c
        .associations_list()
        .cursor(page.meta.next_cursor.expect("a second page"))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(next, std::slice::from_ref(&on_call));
    let got = c
        .associations_get()
        .id(on_deal.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(got, on_deal);

    // Unlinking keeps both records.
    let deleted = c.associations_delete().id(on_deal.id).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    c.associations_get()
        .id(on_deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    c.leads_get()
        .id(deal.id)
        .send()
        .await
        .expect("the lead stays");

    // Events: one per association created, one for the deletion, with the association.
    let created_events = events(c, Some(EventType::AssociationCreated)).await;
    assert_eq!(created_events.len(), 4);
    assert_eq!(created_events[0].data["id"], employment.id.to_string());
    assert_eq!(created_events[0].data["from_type"], "contact");
    assert_eq!(created_events[0].data["label_id"], works_at.id.to_string());
    let deleted_events = events(c, Some(EventType::AssociationDeleted)).await;
    assert_eq!(deleted_events.len(), 1);
    assert_eq!(deleted_events[0].data["id"], on_deal.id.to_string());

    // Deleting a record takes its associations out of every list.
    c.activities_delete().id(call.id).send().await.unwrap();
    assert_eq!(
        of_contact(c, ada.id).await,
        [(Direction::Outgoing, RecordType::Company, acme.id)]
    );
    c.associations_get()
        .id(on_call.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    c.companies_delete().id(subsidiary.id).send().await.unwrap();
    let left = c
        .associations_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(left, [employment]);
}

#[tokio::test]
async fn a_trashed_end_hides_its_associations_until_it_is_restored() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let acme = create_company(c, "Acme").await;
    let link_id = associate(
        c,
        (RecordType::Contact, ada.id),
        (RecordType::Company, acme.id),
        None,
    )
    .await
    .id;
    let of_acme = || async {
        c.companies_associations()
            .id(acme.id)
            .send()
            .await
            .expect("list the company's associations")
            .into_inner()
            .data
            .into_iter()
            .map(|a| a.other_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(of_acme().await, vec![ada.id]);

    c.contacts_delete()
        .id(ada.id)
        .send()
        .await
        .expect("trash Ada");
    assert!(of_acme().await.is_empty(), "a trashed end hides the link");
    let listed = c
        .associations_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(listed.is_empty(), "{listed:?}");
    c.associations_get()
        .id(link_id)
        .send()
        .await
        .refused(404, ANY_CODE);
    // A new link to the trashed contact is refused like one to an unknown id.
    let err = c
        .associations_create()
        .body(link(
            (RecordType::Contact, ada.id),
            (RecordType::Company, acme.id),
            None,
        ))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["from_id"]);

    c.contacts_restore()
        .id(ada.id)
        .send()
        .await
        .expect("restore Ada");
    assert_eq!(of_acme().await, vec![ada.id], "restored with its links");
    let back = c.associations_get().id(link_id).send().await.unwrap();
    assert_eq!(back.into_inner().data.id, link_id);
}
