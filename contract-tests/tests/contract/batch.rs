//! Batch upserts: `contacts_batch_upsert` and `companies_batch_upsert`. One result per
//! item in input order; what changed is written and recorded as events, what did not is
//! left alone; a refused item is rolled back alone; the batch commits as one transaction.

use std::collections::HashMap;

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, BatchStatus};
use momentum_sdk::Client;
use uuid::Uuid;

use crate::{api_error, company, create, create_company, person, Refused, ANY_CODE};

/// Every contact of the tenant, over every page.
async fn all_contacts(c: &Client) -> Vec<types::Contact> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = c.contacts_list().limit(200);
        if let Some(cursor) = cursor.take() {
            request = request.cursor(cursor);
        }
        let page = request.send().await.expect("list contacts").into_inner();
        all.extend(page.data);
        match page.meta.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// Every event of the tenant, oldest first, over every page.
async fn all_events(c: &Client) -> Vec<types::Event> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = c.events_list().limit(200);
        if let Some(cursor) = cursor.take() {
            request = request.cursor(cursor);
        }
        let page = request.send().await.expect("list events").into_inner();
        all.extend(page.data);
        match page.meta.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

async fn contact_batch(
    c: &Client,
    items: Vec<types::ContactCreate>,
) -> types::ContactBatchResponse {
    c.contacts_batch_upsert()
        .body(types::ContactBatch { items })
        .send()
        .await
        .expect("a contact batch")
        .into_inner()
}

async fn company_batch(
    c: &Client,
    items: Vec<types::CompanyCreate>,
) -> types::CompanyBatchResponse {
    c.companies_batch_upsert()
        .body(types::CompanyBatch { items })
        .send()
        .await
        .expect("a company batch")
        .into_inner()
}

/// `(field, code)` of each detail of an item's error.
fn problems(error: &types::ErrorBody) -> Vec<(String, String)> {
    error
        .details
        .iter()
        .map(|d| (d.field.clone(), d.code.clone()))
        .collect()
}

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
                assert_eq!(
                    data.first_name.as_deref(),
                    items[i].first_name.as_deref().map(|s| s.as_str())
                );
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

#[tokio::test]
async fn a_batch_holds_one_to_a_hundred_items_and_a_malformed_item_fails_alone() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    let items: Vec<_> = (0..101)
        .map(|i| person("Many", &format!("many{i}@batch.example")))
        .collect();
    let err = c
        .contacts_batch_upsert()
        .body(types::ContactBatch { items })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(err.error.code, "validation_failed");
    assert_eq!(problems(&err.error), [("items".into(), "too_many".into())]);
    let err = c
        .contacts_batch_upsert()
        .body(types::ContactBatch { items: vec![] })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(problems(&err.error), [("items".into(), "required".into())]);
    let items: Vec<_> = (0..101).map(|i| company(&format!("Co {i}"))).collect();
    let (status, err) = api_error(
        c.companies_batch_upsert()
            .body(types::CompanyBatch { items })
            .send()
            .await,
    );
    assert_eq!(status, 422);
    assert_eq!(problems(&err.error), [("items".into(), "too_many".into())]);
    assert!(all_contacts(c).await.is_empty(), "nothing was written");

    // Exactly 100 is fine.
    let items: Vec<_> = (0..100)
        .map(|i| person("Many", &format!("many{i}@batch.example")))
        .collect();
    assert_eq!(contact_batch(c, items).await.meta.created, 100);

    // Items the SDK cannot send: a wrong JSON type, an unknown field, not an object.
    let (http, url) = app.raw("/v1/contacts/batch");
    let resp = http
        .post(&url)
        .bearer_auth(&app.api_key)
        .json(&serde_json::json!({"items": [
            {"email": "fine@batch.example"},
            {"first_name": 5},
            {"email": "x@batch.example", "nickname": "X"},
            "just a string",
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let statuses: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["created", "error", "error", "error"]);
    for i in 1..4 {
        let error = &body["data"][i]["error"];
        assert_eq!(error["code"], "bad_request", "{body}");
        assert_eq!(error["details"][0]["field"], format!("items[{i}]"));
        assert!(body["data"][i].get("data").is_none(), "no data on an error");
    }
    assert!(
        body["data"][0].get("error").is_none(),
        "no error on a success"
    );

    // A body that is not `{"items": [...]}` is the request's error.
    for bad in [
        serde_json::json!({"items": {"email": "a@batch.example"}}),
        serde_json::json!([{"email": "a@batch.example"}]),
        serde_json::json!({"items": [], "extra": 1}),
    ] {
        let resp = http
            .post(&url)
            .bearer_auth(&app.api_key)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{bad}");
    }
}

#[tokio::test]
async fn companies_are_upserted_by_their_normalised_domain() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("acme.example".parse().unwrap()),
            city: Some("Berlin".parse().unwrap()),
            ..company("Acme")
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let same = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("same.example".parse().unwrap()),
            industry: Some("Retail".parse().unwrap()),
            ..company("Same")
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let events_before = all_events(c).await.len();

    let with = |name: &str, domain: &str| types::CompanyCreate {
        domain: Some(domain.parse().unwrap()),
        ..company(name)
    };
    let batch = company_batch(
        c,
        vec![
            // The same domain as a URL in other case: Acme, renamed; its city is kept.
            types::CompanyCreate {
                employee_count: Some(50),
                ..with("Acme Inc", "https://ACME.Example/about")
            },
            with("Globex", "globex.example"),
            // Identical to what is stored.
            types::CompanyCreate {
                industry: Some("Retail".parse().unwrap()),
                ..with("Same", "SAME.example")
            },
            with("Globex again", "http://Globex.Example/x"),
            with("  ", "blank.example"),
            with("Bad", "not a domain"),
            company("No domain"),
        ],
    )
    .await;
    let statuses: Vec<_> = batch.data.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            BatchStatus::Updated,
            BatchStatus::Created,
            BatchStatus::Unchanged,
            BatchStatus::Error,
            BatchStatus::Error,
            BatchStatus::Error,
            BatchStatus::Created,
        ]
    );
    let updated = batch.data[0].data.as_ref().unwrap();
    assert_eq!(updated.id, acme.id);
    assert_eq!(updated.name, "Acme Inc");
    assert_eq!(updated.employee_count, Some(50));
    assert_eq!(updated.city.as_deref(), Some("Berlin"), "left out: kept");
    assert_eq!(updated.domain.as_deref(), Some("acme.example"));
    assert_eq!(batch.data[2].data.as_ref(), Some(&same));
    let errors: Vec<_> = batch.data[3..6]
        .iter()
        .map(|r| {
            let error = r.error.as_ref().unwrap();
            (error.code.clone(), problems(error))
        })
        .collect();
    assert_eq!(
        errors,
        [
            (
                "conflict".to_owned(),
                vec![(
                    "items[3].domain".to_owned(),
                    "duplicate_in_batch".to_owned()
                )]
            ),
            (
                "validation_failed".to_owned(),
                vec![("items[4].name".to_owned(), "required".to_owned())]
            ),
            (
                "validation_failed".to_owned(),
                vec![("items[5].domain".to_owned(), "invalid_domain".to_owned())]
            ),
        ]
    );
    assert_eq!(
        c.companies_get()
            .id(acme.id)
            .send()
            .await
            .unwrap()
            .into_inner()
            .data,
        *updated
    );
    let listed = c.companies_list().send().await.unwrap().into_inner().data;
    assert_eq!(listed.len(), 4, "Acme, Same, Globex and No domain");

    let events = all_events(c).await;
    let new: Vec<(&str, &str)> = events[events_before..]
        .iter()
        .map(|e| (e.type_.as_str(), e.data["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        new,
        [
            ("company.updated", "Acme Inc"),
            ("company.created", "Globex"),
            ("company.created", "No domain"),
        ]
    );
}

#[tokio::test]
async fn a_batch_sees_and_touches_its_own_tenant_only() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let (_, other) = app.other_tenant().await;
    let theirs = create(&other, person("Theirs", "shared@batch.example")).await;
    let their_company = create_company(&other, "Theirs").await;

    let batch = contact_batch(
        c,
        vec![
            person("Ours", "shared@batch.example"),
            types::ContactCreate {
                company_id: Some(their_company.id),
                ..person("Linked", "linked@batch.example")
            },
        ],
    )
    .await;
    assert_eq!(
        batch.data[0].status,
        BatchStatus::Created,
        "not their contact"
    );
    assert_ne!(batch.data[0].data.as_ref().unwrap().id, theirs.id);
    assert_eq!(batch.data[1].status, BatchStatus::Error);
    assert_eq!(
        problems(batch.data[1].error.as_ref().unwrap()),
        [("items[1].company_id".into(), "not_found".into())]
    );
    let still = other
        .contacts_get()
        .id(theirs.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(still, theirs, "the other tenant's contact is untouched");
    assert_eq!(all_contacts(&other).await.len(), 1);
    assert_eq!(all_contacts(c).await.len(), 1);
}

#[tokio::test]
async fn concurrent_batches_neither_duplicate_nor_interleave() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let emails: Vec<String> = (0..50).map(|i| format!("race{i}@batch.example")).collect();

    // Two batches creating the same fifty contacts at once: one creates each, the other
    // finds it (waiting for the first to commit) and has nothing to change.
    let items: Vec<_> = emails.iter().map(|e| person("Racer", e)).collect();
    let (a, b) = tokio::join!(contact_batch(c, items.clone()), contact_batch(c, items));
    assert_eq!(
        a.meta.created + b.meta.created,
        50,
        "{:?} {:?}",
        a.meta,
        b.meta
    );
    assert_eq!(a.meta.unchanged + b.meta.unchanged, 50);
    assert_eq!(all_contacts(c).await.len(), 50, "no duplicates");
    let kinds: Vec<String> = all_events(c)
        .await
        .into_iter()
        .map(|e| e.type_)
        .filter(|kind| kind.starts_with("contact."))
        .collect();
    assert_eq!(
        kinds,
        vec!["contact.created"; 50],
        "one event each, nothing else"
    );

    // Two batches changing the same fifty contacts, in opposite orders: the locks are
    // taken in one order, so neither deadlocks, and one batch wholly follows the other.
    let titled = |title: &str, reversed: bool| {
        let mut items: Vec<_> = emails
            .iter()
            .map(|e| types::ContactCreate {
                title: Some(title.parse().unwrap()),
                ..person("Racer", e)
            })
            .collect();
        if reversed {
            items.reverse();
        }
        items
    };
    let (a, b) = tokio::join!(
        contact_batch(c, titled("A", false)),
        contact_batch(c, titled("B", true))
    );
    assert_eq!((a.meta.updated, a.meta.failed), (50, 0));
    assert_eq!((b.meta.updated, b.meta.failed), (50, 0));
    let titles: std::collections::HashSet<_> = all_contacts(c)
        .await
        .into_iter()
        .map(|contact| contact.title.unwrap())
        .collect();
    assert_eq!(titles.len(), 1, "one batch's values everywhere: {titles:?}");
}
