//! A hundred mixed contacts in one batch: a result each, in order, and only what changed
//! written and recorded.

use std::collections::HashMap;

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, BatchStatus};
use uuid::Uuid;

use crate::{create, create_company, person};

use super::{all_contacts, all_events, contact_batch, problems};

/// What the 100-item batch expects of one item.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Created,
    /// Updates the contact with this id.
    Updated(Uuid),
    /// Leaves this contact exactly as it was.
    Unchanged(Box<types::Contact>),
    /// Refused with this error code and these `(field, code)` details.
    Error(&'static str, Vec<(String, String)>),
}

#[tokio::test]
async fn a_hundred_mixed_contacts_get_a_result_each_in_order_and_only_changes_are_written() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = create_company(c, "Acme").await;
    let (_, other) = app.other_tenant().await;
    let foreign = create_company(&other, "Foreign").await;

    // Twenty contacts the batch will change, twenty it will send again as they are.
    let mut to_update = Vec::new();
    let mut to_keep = Vec::new();
    for i in 0..20 {
        to_update.push(
            create(
                c,
                types::ContactCreate {
                    last_name: Some("Keep".parse().unwrap()),
                    title: Some("Old title".parse().unwrap()),
                    ..person("Old", &format!("upd{i}@batch.example"))
                },
            )
            .await,
        );
        to_keep.push(
            create(
                c,
                types::ContactCreate {
                    title: Some("Same".parse().unwrap()),
                    tags: vec!["vip".parse().unwrap()],
                    company_id: Some(acme.id),
                    ..person("Same", &format!("same{i}@batch.example"))
                },
            )
            .await,
        );
    }
    let events_before = all_events(c).await.len();

    let mut items = Vec::new();
    let mut expected = Vec::new();
    for i in 0..100usize {
        let n = i / 5;
        let (item, expect) = match i % 5 {
            // New, with an email (and a company of the tenant).
            0 => (
                types::ContactCreate {
                    company_id: Some(acme.id),
                    ..person("New", &format!("new{i}@batch.example"))
                },
                Expect::Created,
            ),
            // Existing, matched ignoring case; only the title is sent, so the names stay.
            1 => (
                types::ContactCreate {
                    email: Some(format!("UPD{n}@Batch.Example")),
                    title: Some(format!("Title {i}").parse().unwrap()),
                    ..Default::default()
                },
                Expect::Updated(to_update[n].id),
            ),
            // Existing with identical values: the whole contact again on even items, just
            // the email on odd ones (what is left out is kept, so nothing changes either).
            2 => {
                let kept = &to_keep[n];
                let item = if n % 2 == 0 {
                    types::ContactCreate {
                        title: Some("Same".parse().unwrap()),
                        tags: vec!["vip".parse().unwrap()],
                        company_id: Some(acme.id),
                        ..person("Same", kept.email.as_deref().unwrap())
                    }
                } else {
                    types::ContactCreate {
                        email: kept.email.clone(),
                        ..Default::default()
                    }
                };
                (item, Expect::Unchanged(Box::new(kept.clone())))
            }
            // Refused: one kind of mistake after another.
            3 => match n % 5 {
                0 => (
                    person("Bad", "not-an-email"),
                    Expect::Error(
                        "validation_failed",
                        vec![(format!("items[{i}].email"), "invalid_email".into())],
                    ),
                ),
                1 => (
                    types::ContactCreate {
                        first_name: Some("  ".parse().unwrap()),
                        last_name: Some("".parse().unwrap()),
                        ..Default::default()
                    },
                    Expect::Error(
                        "validation_failed",
                        ["first_name", "last_name", "email"]
                            .iter()
                            .map(|f| (format!("items[{i}].{f}"), "required".to_owned()))
                            .collect(),
                    ),
                ),
                2 => (
                    types::ContactCreate {
                        company_id: Some(Uuid::now_v7()),
                        ..person("Lost", &format!("lost{i}@batch.example"))
                    },
                    Expect::Error(
                        "validation_failed",
                        vec![(format!("items[{i}].company_id"), "not_found".into())],
                    ),
                ),
                3 => (
                    types::ContactCreate {
                        company_id: Some(foreign.id),
                        ..person("Spy", &format!("spy{i}@batch.example"))
                    },
                    Expect::Error(
                        "validation_failed",
                        vec![(format!("items[{i}].company_id"), "not_found".into())],
                    ),
                ),
                _ => (
                    types::ContactCreate {
                        phone: Some("12".parse().unwrap()),
                        // An existing contact: a refused update leaves it alone too.
                        ..person("Changed", &format!("upd{n}@batch.example"))
                    },
                    Expect::Error(
                        "validation_failed",
                        vec![(format!("items[{i}].phone"), "invalid_phone".into())],
                    ),
                ),
            },
            // New, without an email: simply created. The last one repeats item 0's email
            // instead, and is refused: a contact appears once per batch.
            _ if i == 99 => (
                person("Twin", "NEW0@batch.example"),
                Expect::Error(
                    "conflict",
                    vec![("items[99].email".into(), "duplicate_in_batch".into())],
                ),
            ),
            _ => (
                types::ContactCreate {
                    first_name: Some(format!("Nameless {i}").parse().unwrap()),
                    ..Default::default()
                },
                Expect::Created,
            ),
        };
        items.push(item);
        expected.push(expect);
    }

    let batch = contact_batch(c, items.clone()).await;
    assert_eq!(batch.data.len(), 100, "one result per item");
    let count = |f: fn(&Expect) -> bool| expected.iter().filter(|e| f(e)).count() as u32;
    assert_eq!(batch.meta.created, count(|e| *e == Expect::Created));
    assert_eq!(batch.meta.updated, 20);
    assert_eq!(batch.meta.unchanged, 20);
    assert_eq!(batch.meta.failed, 21);
    assert_eq!(batch.meta.created, 39);

    let mut changes = Vec::new();
    for (i, (result, expect)) in batch.data.iter().zip(&expected).enumerate() {
        assert_eq!(result.index as usize, i, "results are in input order");
        match expect {
            Expect::Created => {
                assert_eq!(result.status, BatchStatus::Created, "item {i}: {result:?}");
                let data = result.data.as_ref().unwrap();
                assert_eq!(data.email, items[i].email, "item {i}");
                assert_eq!(data.first_name.as_deref(), items[i].first_name.as_deref());
                assert_eq!(data.company_id, items[i].company_id);
                assert!(result.error.is_none());
                changes.push(("contact.created", data.clone()));
            }
            Expect::Updated(id) => {
                assert_eq!(result.status, BatchStatus::Updated, "item {i}: {result:?}");
                let data = result.data.as_ref().unwrap();
                let before = to_update.iter().find(|b| b.id == *id).unwrap();
                assert_eq!(data.id, *id, "item {i} updates the contact with its email");
                assert_eq!(data.title.as_deref(), Some(format!("Title {i}").as_str()));
                assert_eq!(data.first_name.as_deref(), Some("Old"), "left out: kept");
                assert_eq!(data.last_name.as_deref(), Some("Keep"), "left out: kept");
                assert_eq!(data.email, items[i].email, "the email is stored as sent");
                assert_eq!(data.created_at, before.created_at);
                assert!(data.updated_at > before.updated_at);
                changes.push(("contact.updated", data.clone()));
            }
            Expect::Unchanged(kept) => {
                assert_eq!(
                    result.status,
                    BatchStatus::Unchanged,
                    "item {i}: {result:?}"
                );
                assert_eq!(
                    result.data.as_ref(),
                    Some(kept.as_ref()),
                    "item {i}: as it was"
                );
            }
            Expect::Error(code, details) => {
                assert_eq!(result.status, BatchStatus::Error, "item {i}: {result:?}");
                assert!(result.data.is_none(), "item {i}");
                let error = result.error.as_ref().unwrap();
                assert_eq!(error.code, *code, "item {i}: {error:?}");
                assert_eq!(&problems(error), details, "item {i}");
            }
        }
    }

    // The database holds exactly what the results say.
    let stored: HashMap<Uuid, types::Contact> = all_contacts(c)
        .await
        .into_iter()
        .map(|contact| (contact.id, contact))
        .collect();
    assert_eq!(
        stored.len(),
        40 + 39,
        "the forty from before and the created ones"
    );
    for result in &batch.data {
        if let Some(data) = &result.data {
            assert_eq!(stored.get(&data.id), Some(data), "item {}", result.index);
        }
    }
    for (i, expect) in expected.iter().enumerate() {
        if let (Expect::Error(..), Some(email)) = (expect, &items[i].email) {
            let holders = c
                .contacts_list()
                .email(email)
                .send()
                .await
                .unwrap()
                .into_inner()
                .data;
            if i == 99 || i % 25 == 23 {
                // The duplicate names item 0's contact; the bad phone an existing one,
                // which kept its own values.
                assert_eq!(holders.len(), 1, "item {i}");
                assert_ne!(holders[0].first_name.as_deref(), Some("Changed"));
                assert_ne!(holders[0].first_name.as_deref(), Some("Twin"));
            } else {
                assert!(holders.is_empty(), "item {i} was not written");
            }
        }
    }

    // Events exactly for what changed, in item order, carrying what the batch returned.
    let events = all_events(c).await;
    let new: Vec<(&str, Uuid)> = events[events_before..]
        .iter()
        .map(|e| {
            let id = e.data["id"].as_str().unwrap().parse().unwrap();
            (e.type_.as_str(), id)
        })
        .collect();
    let expected_events: Vec<(&str, Uuid)> = changes
        .iter()
        .map(|(kind, data)| (*kind, data.id))
        .collect();
    assert_eq!(new, expected_events);
    for (event, (_, data)) in events[events_before..].iter().zip(&changes) {
        let carried: types::Contact =
            serde_json::from_value(serde_json::Value::Object(event.data.clone())).unwrap();
        assert_eq!(&carried, data, "the event carries the contact as returned");
    }

    // The same batch again: everything that was written is now unchanged, and the one
    // item that created a contact without an email (nothing to match) creates another.
    let again = contact_batch(c, items).await;
    for (result, expect) in again.data.iter().zip(&expected) {
        let want = match expect {
            Expect::Created if result.index % 5 == 4 => BatchStatus::Created,
            Expect::Error(..) => BatchStatus::Error,
            _ => BatchStatus::Unchanged,
        };
        assert_eq!(result.status, want, "again, item {}", result.index);
    }
}
