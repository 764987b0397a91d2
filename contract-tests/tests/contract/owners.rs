//! Owners of contacts and companies (issue 24): the acting user unless the record names
//! another user of the tenant, filtered and sorted by, reassigned by the batch upserts.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{CompanyPatch, ContactPatch};
use momentum_sdk::types::{self, BatchStatus};
use momentum_sdk::Client;
use uuid::Uuid;

use crate::{assert_detail, company, person, Refused};

/// The tenant's owner (whom its first key acts for) and a second user, a member.
async fn users(c: &Client) -> (Uuid, Uuid) {
    let owner = c.users_list().send().await.unwrap().into_inner().data[0].id;
    let member = c
        .users_create()
        .body(types::UserCreate {
            email: "member@a.example".into(),
            name: None,
            role: Some(types::UserRole::Member),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .id;
    (owner, member)
}

#[tokio::test]
async fn a_record_belongs_to_the_acting_user_unless_it_names_another_user_of_the_tenant() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let (owner, member) = users(c).await;

    let mine = c
        .contacts_create()
        .body(person("Ann", "ann@a.example"))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(mine.owner_id, Some(owner), "default: the acting user");
    let theirs = c
        .companies_create()
        .body(types::CompanyCreate {
            owner_id: Some(member),
            ..company("Acme")
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(theirs.owner_id, Some(member));
    let default_company = c
        .companies_create()
        .body(company("Globex"))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(default_company.owner_id, Some(owner));

    // Neither an unknown id nor another tenant's user owns anything here.
    let (_, b) = app.other_tenant().await;
    let their_user = b.users_list().send().await.unwrap().into_inner().data[0].id;
    for stranger in [Uuid::now_v7(), their_user] {
        let err = c
            .contacts_create()
            .body(types::ContactCreate {
                owner_id: Some(stranger),
                ..person("Bob", "bob@a.example")
            })
            .send()
            .await
            .refused(422, "validation_failed");
        assert_detail(&err, "owner_id", "not_found");
        let err = c
            .companies_update()
            .id(theirs.id)
            .body(CompanyPatch {
                owner_id: Some(Some(stranger)),
                ..Default::default()
            })
            .send()
            .await
            .refused(422, "validation_failed");
        assert_detail(&err, "owner_id", "not_found");
    }

    // Reassigned, then left unowned: `null` clears, and stays cleared.
    let moved = c
        .contacts_update()
        .id(mine.id)
        .body(ContactPatch {
            owner_id: Some(Some(member)),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(moved.owner_id, Some(member));
    let cleared = c
        .contacts_update()
        .id(mine.id)
        .body(ContactPatch {
            owner_id: Some(None),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(cleared.owner_id, None);
}

#[tokio::test]
async fn lists_filter_and_page_by_owner_with_the_unowned_last() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let (owner, member) = users(c).await;
    let make = |name: &'static str, owner_id: Option<Uuid>| async move {
        let created = c
            .contacts_create()
            .body(types::ContactCreate {
                owner_id,
                ..person(name, &format!("{}@a.example", name.to_lowercase()))
            })
            .send()
            .await
            .unwrap()
            .into_inner()
            .data;
        if owner_id.is_none() {
            // Created by the owner's key, then left unowned.
            c.contacts_update()
                .id(created.id)
                .body(ContactPatch {
                    owner_id: Some(None),
                    ..Default::default()
                })
                .send()
                .await
                .unwrap();
        }
        created.id
    };
    let ann = make("Ann", Some(member)).await;
    let bob = make("Bob", Some(owner)).await;
    let cid = make("Cid", None).await;
    let dan = make("Dan", Some(member)).await;

    let of_member: Vec<Uuid> = c
        .contacts_list()
        .owner_id(member)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .iter()
        .map(|contact| contact.id)
        .collect();
    assert_eq!(of_member, [ann, dan]);

    // One per page, so every page continues from a cursor holding an owner (or none).
    let paged = |sort: &'static str| async move {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = c.contacts_list().sort(sort).limit(1);
            if let Some(cursor) = cursor.take() {
                request = request.cursor(cursor);
            }
            let page = request.send().await.unwrap().into_inner();
            seen.extend(page.data.iter().map(|contact| contact.owner_id));
            match page.meta.next_cursor {
                Some(next) => cursor = Some(next),
                None => return seen,
            }
        }
    };
    let mut owners = [Some(owner), Some(member), Some(member)];
    owners.sort();
    let ascending = paged("owner_id").await;
    assert_eq!(ascending[..3], owners[..], "grouped by owner");
    assert_eq!(ascending[3], None, "the unowned last");
    let descending = paged("-owner_id").await;
    assert_eq!(descending[0], None);
    assert_eq!(descending.len(), 4);
    let _ = (bob, cid);

    let company_of = c
        .companies_create()
        .body(types::CompanyCreate {
            owner_id: Some(member),
            ..company("Initech")
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    c.companies_create()
        .body(company("Hooli"))
        .send()
        .await
        .unwrap();
    let listed = c
        .companies_list()
        .owner_id(member)
        .sort("-owner_id")
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, company_of.id);
}

#[tokio::test]
async fn batch_upserts_create_with_the_acting_user_and_reassign_what_they_name() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let (owner, member) = users(c).await;
    c.contacts_create()
        .body(person("Ann", "ann@a.example"))
        .send()
        .await
        .unwrap();

    let item = |value: serde_json::Value| serde_json::from_value(value).unwrap();
    let answer = c
        .contacts_batch_upsert()
        .body(types::ContactBatch {
            items: vec![
                item(serde_json::json!({"email": "ANN@a.example", "owner_id": member})),
                item(serde_json::json!({"email": "new@a.example"})),
                item(serde_json::json!({"email": "bad@a.example", "owner_id": Uuid::now_v7()})),
            ],
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    let statuses: Vec<_> = answer.data.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            BatchStatus::Updated,
            BatchStatus::Created,
            BatchStatus::Error
        ]
    );
    let owner_of = |i: usize| answer.data[i].data.as_ref().unwrap().owner_id;
    assert_eq!(owner_of(0), Some(member), "reassigned");
    assert_eq!(
        owner_of(1),
        Some(owner),
        "a created one is the acting user's"
    );
    let error = answer.data[2].error.as_ref().unwrap();
    assert_eq!(error.details[0].field, "items[2].owner_id");

    // An item that leaves the owner out keeps it.
    let again = c
        .contacts_batch_upsert()
        .body(types::ContactBatch {
            items: vec![item(
                serde_json::json!({"email": "ann@a.example", "title": "CTO"}),
            )],
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.data[0].data.as_ref().unwrap().owner_id, Some(member));

    let companies = c
        .companies_batch_upsert()
        .body(types::CompanyBatch {
            items: vec![serde_json::from_value(
                serde_json::json!({"name": "Acme", "domain": "acme.example", "owner_id": member}),
            )
            .unwrap()],
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        companies.data[0].data.as_ref().unwrap().owner_id,
        Some(member)
    );
}
