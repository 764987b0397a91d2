//! Associations between records and their labels: the capability, each refusal, tenant
//! isolation and the events.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::AssociationLabelPatch;
use momentum_sdk::types::{self, Direction, EventType, RecordType};
use momentum_sdk::Client;
use uuid::Uuid;

use crate::activities::activity;
use crate::events::events;
use crate::{
    api_error, create, create_company, create_lead, fields_of, lead, person, sales, Refused,
    ANY_CODE,
};

pub async fn label(
    c: &Client,
    name: &str,
    types: Option<(RecordType, RecordType)>,
) -> types::AssociationLabel {
    c.association_labels_create()
        .body(types::AssociationLabelCreate {
            name: name.parse().unwrap(),
            description: None,
            from_type: types.map(|t| t.0),
            to_type: types.map(|t| t.1),
        })
        .send()
        .await
        .expect("create a label")
        .into_inner()
        .data
}

pub fn link(
    from: (RecordType, Uuid),
    to: (RecordType, Uuid),
    label_id: Option<Uuid>,
) -> types::AssociationCreate {
    types::AssociationCreate {
        from_type: from.0,
        from_id: from.1,
        to_type: to.0,
        to_id: to.1,
        label_id,
    }
}

pub async fn associate(
    c: &Client,
    from: (RecordType, Uuid),
    to: (RecordType, Uuid),
    label_id: Option<Uuid>,
) -> types::Association {
    c.associations_create()
        .body(link(from, to, label_id))
        .send()
        .await
        .expect("create an association")
        .into_inner()
        .data
}

/// A contact's associations as (direction, other type, other id), first page.
pub async fn of_contact(c: &Client, id: Uuid) -> Vec<(Direction, RecordType, Uuid)> {
    c.contacts_associations()
        .id(id)
        .send()
        .await
        .expect("list a contact's associations")
        .into_inner()
        .data
        .into_iter()
        .map(|a| (a.direction, a.other_type, a.other_id))
        .collect()
}

#[tokio::test]
async fn labels_are_created_read_changed_listed_and_deleted_with_unique_names() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    let created = c
        .association_labels_create()
        .body(types::AssociationLabelCreate {
            name: " Parent company ".parse().unwrap(),
            description: Some("Owns the other".parse().unwrap()),
            from_type: Some(RecordType::Company),
            to_type: Some(RecordType::Company),
        })
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let parent = created.into_inner().data;
    assert_eq!(location, format!("/v1/association-labels/{}", parent.id));
    assert_eq!(parent.name, "Parent company", "trimmed");
    assert_eq!(parent.from_type, Some(RecordType::Company));

    // Unique ignoring case, naming the holder.
    let err = c
        .association_labels_create()
        .body(types::AssociationLabelCreate {
            name: "PARENT COMPANY".parse().unwrap(),
            description: None,
            from_type: None,
            to_type: None,
        })
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(fields_of(&err), ["name"]);
    assert!(err.error.details[0]
        .message
        .contains(&parent.id.to_string()));

    // Both types or neither.
    let err = c
        .association_labels_create()
        .body(types::AssociationLabelCreate {
            name: "Half".parse().unwrap(),
            description: None,
            from_type: Some(RecordType::Contact),
            to_type: None,
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["to_type"]);

    let got = c
        .association_labels_get()
        .id(parent.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(got, parent);

    let changed = c
        .association_labels_update()
        .id(parent.id)
        .body(AssociationLabelPatch {
            description: Some(None),
            unrestricted: Some(true),
            ..Default::default()
        })
        .send()
        .await
        .expect("update")
        .into_inner()
        .data;
    assert_eq!(changed.description, None, "null clears");
    assert_eq!((changed.from_type, changed.to_type), (None, None));
    assert_eq!(changed.name, parent.name, "absent is kept");

    let other = label(c, "Decision maker", None).await;
    let err = c
        .association_labels_update()
        .id(other.id)
        .body(AssociationLabelPatch {
            name: Some("parent company".into()),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);
    assert!(err.error.details[0]
        .message
        .contains(&parent.id.to_string()));

    let listed = c
        .association_labels_list()
        .limit(1)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.data.len(), 1);
    assert!(listed.meta.has_more);
    let rest = c
        .association_labels_list()
        .cursor(listed.meta.next_cursor.unwrap())
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(rest.iter().map(|l| l.id).collect::<Vec<_>>(), [other.id]);

    let deleted = c
        .association_labels_delete()
        .id(other.id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    c.association_labels_get()
        .id(other.id)
        .send()
        .await
        .refused(404, ANY_CODE);
}

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
async fn bad_associations_are_refused_naming_the_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let acme = create_company(c, "Acme").await;
    let works_at = label(
        c,
        "Works at",
        Some((RecordType::Contact, RecordType::Company)),
    )
    .await;

    // A record with itself.
    let err = c
        .associations_create()
        .body(link(
            (RecordType::Contact, ada.id),
            (RecordType::Contact, ada.id),
            None,
        ))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["to_id"]);
    assert_eq!(err.error.details[0].code, "self_link");

    // Ends that do not exist, or exist under another type.
    let err = c
        .associations_create()
        .body(link(
            (RecordType::Lead, ada.id),
            (RecordType::Company, Uuid::now_v7()),
            None,
        ))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["from_id", "to_id"]);

    // A label that does not exist, or one for other types.
    let err = c
        .associations_create()
        .body(link(
            (RecordType::Contact, ada.id),
            (RecordType::Company, acme.id),
            Some(Uuid::now_v7()),
        ))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["label_id"]);
    let err = c
        .associations_create()
        .body(link(
            (RecordType::Company, acme.id),
            (RecordType::Contact, ada.id),
            Some(works_at.id),
        ))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["label_id"]);
    assert_eq!(err.error.details[0].code, "wrong_types");

    // The same link twice, naming the first; another label is another link.
    let first = associate(
        c,
        (RecordType::Contact, ada.id),
        (RecordType::Company, acme.id),
        Some(works_at.id),
    )
    .await;
    let err = c
        .associations_create()
        .body(link(
            (RecordType::Contact, ada.id),
            (RecordType::Company, acme.id),
            Some(works_at.id),
        ))
        .send()
        .await
        .refused(409, ANY_CODE);
    assert!(err.error.details[0].message.contains(&first.id.to_string()));
    let unlabelled = associate(
        c,
        (RecordType::Contact, ada.id),
        (RecordType::Company, acme.id),
        None,
    )
    .await;
    c.associations_create()
        .body(link(
            (RecordType::Contact, ada.id),
            (RecordType::Company, acme.id),
            None,
        ))
        .send()
        .await
        .refused_as("unlabelled links are unique too", 409, ANY_CODE);

    // A label in use is not deleted, nor restricted to types its links do not have.
    let err = c
        .association_labels_delete()
        .id(works_at.id)
        .send()
        .await
        .refused(409, ANY_CODE);
    assert!(err.error.message.contains('1'), "{}", err.error.message);
    c.association_labels_update()
        .id(works_at.id)
        .body(AssociationLabelPatch {
            from_type: Some(RecordType::Lead),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);

    // A filter without the partner it needs: each is well formed alone, so a 422 naming
    // the missing one.
    let err = c
        .associations_list()
        .record_id(ada.id)
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["record_type"]);
    // The associations of a record that does not exist: 404.
    c.contacts_associations()
        .id(Uuid::now_v7())
        .send()
        .await
        .refused(404, ANY_CODE);

    let all = c
        .associations_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        all.iter().map(|a| a.id).collect::<Vec<_>>(),
        [first.id, unlabelled.id]
    );
    assert_eq!(
        events(c, Some(EventType::AssociationCreated)).await.len(),
        2
    );
}

#[tokio::test]
async fn another_tenant_never_sees_links_to_or_labels_of_this_one() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let ada = create(a, person("Ada", "ada@example.com")).await;
    let acme = create_company(a, "Acme").await;
    let works_at = label(a, "Works at", None).await;
    let link_a = associate(
        a,
        (RecordType::Contact, ada.id),
        (RecordType::Company, acme.id),
        Some(works_at.id),
    )
    .await;

    let (_, b) = app.other_tenant().await;
    let bob = create(&b, person("Bob", "bob@example.com")).await;
    let globex = create_company(&b, "Globex").await;

    assert!(b
        .association_labels_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    assert!(b
        .associations_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    let filtered = b
        .associations_list()
        .label_id(works_at.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(filtered.is_empty());
    for status in [
        api_error(b.associations_get().id(link_a.id).send().await).0,
        api_error(b.associations_delete().id(link_a.id).send().await).0,
        api_error(b.association_labels_get().id(works_at.id).send().await).0,
        api_error(b.association_labels_delete().id(works_at.id).send().await).0,
        api_error(b.contacts_associations().id(ada.id).send().await).0,
    ] {
        assert_eq!(status, 404);
    }
    // B can use a label name A has, and cannot link to A's records or use A's label.
    label(&b, "Works at", None).await;
    let err = b
        .associations_create()
        .body(link(
            (RecordType::Contact, bob.id),
            (RecordType::Company, acme.id),
            None,
        ))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["to_id"]);
    let err = b
        .associations_create()
        .body(link(
            (RecordType::Contact, bob.id),
            (RecordType::Company, globex.id),
            Some(works_at.id),
        ))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["label_id"]);
    assert!(events(&b, Some(EventType::AssociationCreated))
        .await
        .is_empty());
    // A's link is untouched.
    assert_eq!(
        a.associations_get()
            .id(link_a.id)
            .send()
            .await
            .unwrap()
            .into_inner()
            .data,
        link_a
    );
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
