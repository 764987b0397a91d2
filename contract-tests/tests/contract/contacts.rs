use std::collections::HashSet;

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::ContactPatch;
use momentum_sdk::types;
use uuid::Uuid;

use crate::{create, person, Refused, ANY_CODE};

#[tokio::test]
async fn a_contact_goes_through_create_read_update_list_and_delete() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    for (key, field_type) in [
        ("plan", types::CustomFieldType::Text),
        ("seats", types::CustomFieldType::Number),
    ] {
        c.custom_fields_create()
            .body(crate::custom_fields::definition("contact", key, field_type))
            .send()
            .await
            .expect("define a custom field");
    }

    let created = c
        .contacts_create()
        .body(types::ContactCreate {
            first_name: Some("Ada".parse().unwrap()),
            last_name: Some("Lovelace".parse().unwrap()),
            email: Some("Ada@Example.com".into()),
            phone: Some("+44 20 7946 0958".parse().unwrap()),
            title: Some("Analyst".parse().unwrap()),
            tags: vec!["vip".parse().unwrap(), " vip ".parse().unwrap()],
            custom_fields: serde_json::json!({"plan": "gold", "seats": 3})
                .as_object()
                .cloned()
                .unwrap(),
            ..Default::default()
        })
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(created.headers().contains_key("x-request-id"));
    let envelope = created.into_inner();
    let ada = envelope.data;
    assert_eq!(location, format!("/v1/contacts/{}", ada.id));
    assert!(!envelope.meta.request_id.is_empty());
    assert_eq!(ada.email.as_deref(), Some("Ada@Example.com"));
    assert_eq!(
        ada.phone.as_deref(),
        Some("+442079460958"),
        "phone normalised to E.164"
    );
    assert_eq!(
        ada.tags,
        vec!["vip".to_string()],
        "tags trimmed and deduplicated"
    );
    assert_eq!(ada.custom_fields["seats"], serde_json::json!(3));

    let got = c
        .contacts_get()
        .id(ada.id)
        .send()
        .await
        .expect("get")
        .into_inner()
        .data;
    assert_eq!(got, ada);

    let updated = c
        .contacts_update()
        .id(ada.id)
        .body(ContactPatch {
            title: Some(Some("Countess".into())),
            ..Default::default()
        })
        .send()
        .await
        .expect("update")
        .into_inner()
        .data;
    assert_eq!(updated.title.as_deref(), Some("Countess"));
    assert_eq!(
        updated.first_name.as_deref(),
        Some("Ada"),
        "absent fields are kept"
    );
    assert!(updated.updated_at > ada.updated_at);

    let listed = c.contacts_list().send().await.expect("list").into_inner();
    assert_eq!(listed.data.len(), 1);
    assert_eq!(listed.data[0].id, ada.id);
    assert!(!listed.meta.has_more);
    assert_eq!(listed.meta.next_cursor, None);
    assert_eq!(listed.meta.limit, 50);

    let deleted = c.contacts_delete().id(ada.id).send().await.expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    c.contacts_get()
        .id(ada.id)
        .send()
        .await
        .refused(404, "not_found");
    c.contacts_delete().id(ada.id).send().await.refused_as(
        "a second delete finds nothing",
        404,
        ANY_CODE,
    );
}

#[tokio::test]
async fn patch_with_null_clears_a_field_through_the_sdk() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let mut body = person("Grace", "grace@example.com");
    body.title = Some("Rear Admiral".parse().unwrap());
    body.tags = vec!["navy".parse().unwrap()];
    let grace = create(c, body).await;

    let cleared = c
        .contacts_update()
        .id(grace.id)
        .body(ContactPatch {
            title: Some(None),
            tags: Some(None),
            ..Default::default()
        })
        .send()
        .await
        .expect("patch")
        .into_inner()
        .data;
    assert_eq!(cleared.title, None);
    assert!(cleared.tags.is_empty());
    assert_eq!(cleared.email.as_deref(), Some("grace@example.com"));

    let stored = c
        .contacts_get()
        .id(grace.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(stored.title, None, "the clear was persisted");

    // Clearing the last identifying fields leaves a contact without name or email: refused.
    c.contacts_update()
        .id(grace.id)
        .body(ContactPatch {
            first_name: Some(None),
            email: Some(None),
            ..Default::default()
        })
        .send()
        .await
        .refused(422, "validation_failed");
}

#[tokio::test]
async fn paging_while_rows_are_inserted_serves_every_row_once() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let mut originals = HashSet::new();
    for i in 0..23 {
        let contact = create(c, person(&format!("P{i}"), &format!("p{i}@example.com"))).await;
        originals.insert(contact.id);
    }

    let mut seen: Vec<Uuid> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut inserted = 0;
    loop {
        let mut request = c.contacts_list().limit(5);
        if let Some(next) = cursor.take() {
            request = request.cursor(next);
        }
        let page = request.send().await.expect("page").into_inner();
        assert!(page.data.len() <= 5);
        seen.extend(page.data.iter().map(|c| c.id));
        // Rows arriving between pages must neither shift nor repeat what follows.
        for _ in 0..2 {
            c.contacts_create()
                .body(person("Late", &format!("late{inserted}@example.com")))
                .send()
                .await
                .unwrap();
            inserted += 1;
        }
        match page.meta.next_cursor {
            Some(next) => {
                assert!(page.meta.has_more);
                cursor = Some(next);
            }
            None => break,
        }
        assert!(seen.len() < 500, "paging does not terminate");
    }
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no contact is served twice");
    assert!(
        originals.is_subset(&unique),
        "no original contact is missed"
    );
}

#[tokio::test]
async fn lists_filter_and_sort() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    for (first, last, email) in [
        ("Ann", "Zimmer", "ann@alpha.example"),
        ("Bob", "Adams", "bob@beta.example"),
        ("Cy", "Marsh", "cy@alpha.example"),
    ] {
        let mut body = person(first, email);
        body.last_name = Some(last.parse().unwrap());
        c.contacts_create().body(body).send().await.unwrap();
    }
    let names = |list: types::ContactList| -> Vec<String> {
        list.data.into_iter().filter_map(|c| c.last_name).collect()
    };

    let by_name = c
        .contacts_list()
        .sort("last_name")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(by_name), ["Adams", "Marsh", "Zimmer"]);
    let by_name_desc = c
        .contacts_list()
        .sort("-last_name")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(by_name_desc), ["Zimmer", "Marsh", "Adams"]);

    let alpha = c
        .contacts_list()
        .q("ALPHA")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        names(alpha),
        ["Zimmer", "Marsh"],
        "q matches emails ignoring case"
    );
    let by_full_name = c
        .contacts_list()
        .q("bob ad")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(by_full_name), ["Adams"], "q matches the full name");
    let wildcard = c.contacts_list().q("%").send().await.unwrap().into_inner();
    assert!(wildcard.data.is_empty(), "LIKE wildcards in q are literal");

    let exact = c
        .contacts_list()
        .email("CY@alpha.example")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(exact), ["Marsh"]);

    // Paging a descending sort continues in the same order.
    let first = c
        .contacts_list()
        .sort("-last_name")
        .limit(2)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(first.clone()), ["Zimmer", "Marsh"]);
    let rest = c
        .contacts_list()
        .sort("-last_name")
        .limit(2)
        .cursor(first.meta.next_cursor.unwrap())
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(rest), ["Adams"]);
}

#[tokio::test]
async fn updated_after_returns_only_later_changes() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let a = create(c, person("A", "a@example.com")).await;
    let b = create(c, person("B", "b@example.com")).await;
    let since = b.updated_at;
    let changed = c
        .contacts_update()
        .id(a.id)
        .body(ContactPatch {
            title: Some(Some("Changed".into())),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let delta = c
        .contacts_list()
        .updated_after(since)
        .send()
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = delta.data.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![changed.id]);
}

#[tokio::test]
async fn a_duplicate_email_is_a_conflict_naming_the_existing_contact() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let first = create(c, person("A", "dup@example.com")).await;
    let err = c
        .contacts_create()
        .body(person("B", "DUP@example.COM"))
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(err.error.details[0].field, "email");
    assert!(
        err.error.details[0].message.contains(&first.id.to_string()),
        "the conflict names the existing contact: {:?}",
        err.error.details
    );

    // The same rule holds when an update takes another contact's email.
    let other = create(c, person("C", "c@example.com")).await;
    let err = c
        .contacts_update()
        .id(other.id)
        .body(ContactPatch {
            email: Some(Some("Dup@Example.com".into())),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);
    assert!(err.error.details[0].message.contains(&first.id.to_string()));
}
