//! Merging duplicate contacts and companies, and the duplicate suggestions.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, Direction, DuplicateReason, EventType, RecordType};
use momentum_sdk::Client;
use uuid::Uuid;

use crate::activities::activity;
use crate::associations::{associate, label, of_contact};
use crate::events::events;
use crate::{
    company, create, create_company, create_lead, fields_of, lead, person, sales, Refused, ANY_CODE,
};

fn contact(
    first: &str,
    last: Option<&str>,
    email: Option<&str>,
    phone: Option<&str>,
) -> types::ContactCreate {
    types::ContactCreate {
        first_name: Some(first.parse().unwrap()),
        last_name: last.map(|l| l.parse().unwrap()),
        email: email.map(str::to_owned),
        phone: phone.map(|p| p.parse().unwrap()),
        ..Default::default()
    }
}

async fn merge_contacts(c: &Client, survivor: Uuid, duplicate: Uuid) -> types::Contact {
    c.contacts_merge()
        .id(survivor)
        .body(types::MergeRequest {
            duplicate_id: duplicate,
        })
        .send()
        .await
        .expect("merge")
        .into_inner()
        .data
}

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

/// Restores a trashed lead and returns it as it came back.
async fn restore_lead(c: &Client, id: Uuid) -> types::Lead {
    c.leads_restore()
        .id(id)
        .send()
        .await
        .expect("restore a lead")
        .into_inner()
        .data
}

/// Restores a trashed activity and returns it as it came back.
async fn restore_activity(c: &Client, id: Uuid) -> types::Activity {
    c.activities_restore()
        .id(id)
        .send()
        .await
        .expect("restore an activity")
        .into_inner()
        .data
}

/// An association's ends as (from id, to id), read with the records' trash as it is.
async fn ends(c: &Client, id: Uuid) -> (Uuid, Uuid) {
    let a = c
        .associations_get()
        .id(id)
        .send()
        .await
        .expect("get an association")
        .into_inner()
        .data;
    (a.from_id, a.to_id)
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

#[tokio::test]
async fn merges_are_refused_for_the_same_record_unknown_ids_other_tenants_and_stale_versions() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let adah = create(c, person("Adah", "adah@example.com")).await;
    let (_, b) = app.other_tenant().await;
    let bob = create(&b, person("Bob", "bob@example.com")).await;

    let merge = |survivor: Uuid, duplicate: Uuid| {
        c.contacts_merge().id(survivor).body(types::MergeRequest {
            duplicate_id: duplicate,
        })
    };
    let err = merge(ada.id, ada.id).send().await.refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["duplicate_id"]);
    assert_eq!(err.error.details[0].code, "same_record");
    for duplicate in [Uuid::now_v7(), bob.id] {
        let err = merge(ada.id, duplicate).send().await.refused(422, ANY_CODE);
        assert_eq!(fields_of(&err), ["duplicate_id"]);
        assert_eq!(err.error.details[0].code, "not_found");
    }
    for survivor in [Uuid::now_v7(), bob.id] {
        merge(survivor, adah.id).send().await.refused(404, ANY_CODE);
    }
    // Tenant B cannot merge A's contact into its own either.
    b.contacts_merge()
        .id(bob.id)
        .body(types::MergeRequest {
            duplicate_id: ada.id,
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    c.companies_merge()
        .id(create_company(c, "Acme").await.id)
        .body(types::MergeRequest {
            duplicate_id: ada.id,
        })
        .send()
        .await
        .refused_as("a contact is not a company", 422, ANY_CODE);

    // A stale If-Match changes nothing.
    merge(ada.id, adah.id)
        .if_match("\"0\"")
        .send()
        .await
        .refused(412, ANY_CODE);
    c.contacts_get()
        .id(adah.id)
        .send()
        .await
        .expect("nothing was merged");
    assert!(events(c, Some(EventType::ContactMerged)).await.is_empty());
    let current = c.contacts_get().id(ada.id).send().await.unwrap();
    let etag = current.headers()["etag"].to_str().unwrap().to_owned();
    merge(ada.id, adah.id)
        .if_match(etag)
        .send()
        .await
        .expect("the current version merges");
    b.contacts_get()
        .id(bob.id)
        .send()
        .await
        .expect("B's contact is untouched");
}

#[tokio::test]
async fn duplicates_are_suggested_by_email_phone_and_similar_name_within_the_tenant() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(
        c,
        contact("Ada", Some("Lovelace"), Some("ada@example.com"), None),
    )
    .await;
    let ada_tagged = create(
        c,
        contact("Ada", Some("Lovelace"), Some("ada+crm@example.com"), None),
    )
    .await;
    let jon = create(
        c,
        contact("Jon", Some("Smithson"), None, Some("+1 415 555 2671")),
    )
    .await;
    let john = create(c, contact("John", Some("Smithson"), None, None)).await;
    let desk = create(
        c,
        contact("Front", Some("Desk"), None, Some("+14155552671")),
    )
    .await;
    let loner = create(
        c,
        contact("Grace", Some("Hopper"), Some("grace@example.com"), None),
    )
    .await;

    let all = c.contacts_duplicates().send().await.unwrap().into_inner();
    let pair = |a: Uuid, b: Uuid| {
        all.data
            .iter()
            .find(|s| (s.contact_id, s.duplicate_id) == (a.min(b), a.max(b)))
            .unwrap_or_else(|| panic!("no pair {a} {b} in {:?}", all.data))
    };
    let by_email = pair(ada.id, ada_tagged.id);
    assert_eq!(
        by_email.reasons,
        [DuplicateReason::Email, DuplicateReason::Name]
    );
    assert_eq!(all.data[0].contact_id, by_email.contact_id, "best first");
    assert_eq!(pair(jon.id, desk.id).reasons, [DuplicateReason::Phone]);
    assert_eq!(pair(jon.id, john.id).reasons, [DuplicateReason::Name]);
    assert!(
        all.data
            .iter()
            .all(|s| s.contact_id != loner.id && s.duplicate_id != loner.id),
        "a contact like no other is not suggested"
    );
    assert!(all.data.windows(2).all(|w| w[0].score >= w[1].score));

    let mine = c
        .contacts_duplicates()
        .contact_id(john.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(mine.len(), 1);
    let one = c
        .contacts_duplicates()
        .limit(1)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!((one.data.len(), one.meta.limit), (1, 1));

    // Tenant B with the same people sees its own pairs only, never A's contacts.
    let (_, b) = app.other_tenant().await;
    let bob = create(
        &b,
        contact("Ada", Some("Lovelace"), Some("ada@example.com"), None),
    )
    .await;
    let theirs = b
        .contacts_duplicates()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(theirs.is_empty(), "{theirs:?}");
    let probe = b
        .contacts_duplicates()
        .contact_id(ada.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(probe.is_empty());
    let from_a = c
        .contacts_duplicates()
        .contact_id(ada.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(from_a
        .iter()
        .all(|s| s.contact_id != bob.id && s.duplicate_id != bob.id));

    // Merging a suggested pair makes the suggestion go away.
    merge_contacts(c, ada.id, ada_tagged.id).await;
    let after = c
        .contacts_duplicates()
        .contact_id(ada.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(after.is_empty(), "{after:?}");
}
