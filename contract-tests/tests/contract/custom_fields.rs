//! Typed custom fields: definitions (`/v1/custom-fields`), values checked on every write
//! of the four record types, filters on their lists, and tenant isolation.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{ActivityPatch, ContactPatch, CustomFieldPatch};
use momentum_sdk::types::{self, CustomFieldType, EventType};
use momentum_sdk::Client;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::{create, fields_of, lead, person, sales, Refused, ANY_CODE};

/// A definition body with no options, not required, not unique.
pub fn definition(
    record_type: &str,
    key: &str,
    field_type: CustomFieldType,
) -> types::CustomFieldCreate {
    types::CustomFieldCreate {
        key: key.parse().unwrap(),
        label: key.parse().unwrap(),
        options: vec![],
        record_type: serde_json::from_value(json!(record_type)).unwrap(),
        required: None,
        type_: field_type,
        unique: None,
    }
}

fn opts(options: &[&str]) -> Vec<types::CustomFieldCreateOptionsItem> {
    options.iter().map(|o| o.parse().unwrap()).collect()
}

async fn define(c: &Client, body: types::CustomFieldCreate) -> types::CustomField {
    c.custom_fields_create()
        .body(body)
        .send()
        .await
        .expect("define a custom field")
        .into_inner()
        .data
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn with_fields(first: &str, values: Value) -> types::ContactCreate {
    types::ContactCreate {
        custom_fields: map(values),
        ..person(first, &format!("{}@a.example", first.to_lowercase()))
    }
}

/// The ids of the contacts a `custom_field` filter list returns (one page of 200).
async fn matching(c: &Client, filters: &[&str]) -> Vec<Uuid> {
    c.contacts_list()
        .limit(200)
        .custom_field(
            filters
                .iter()
                .map(|f| f.parse().expect("a well-formed filter"))
                .collect::<Vec<_>>(),
        )
        .send()
        .await
        .expect("list with a custom field filter")
        .into_inner()
        .data
        .into_iter()
        .map(|c| c.id)
        .collect()
}

async fn events_of(c: &Client, kind: EventType) -> Vec<types::Event> {
    c.events_list()
        .type_(kind)
        .limit(200)
        .send()
        .await
        .expect("list events")
        .into_inner()
        .data
}

#[tokio::test]
async fn definitions_are_created_read_listed_changed_and_deleted_with_events() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let created = c
        .custom_fields_create()
        .body(types::CustomFieldCreate {
            options: opts(&["gold", "silver"]),
            required: Some(false),
            ..definition("contact", "tier", CustomFieldType::Select)
        })
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(created.headers().contains_key("etag"));
    let tier = created.into_inner().data;
    assert_eq!(location, format!("/v1/custom-fields/{}", tier.id));
    assert_eq!((tier.key.as_str(), tier.options.len()), ("tier", 2));

    let got = c
        .custom_fields_get()
        .id(tier.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(got, tier);
    define(c, definition("lead", "score", CustomFieldType::Number)).await;
    let contact_fields = c
        .custom_fields_list()
        .record_type(types::RecordType::Contact)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(contact_fields, vec![tier.clone()]);
    let all = c
        .custom_fields_list()
        .limit(1)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.data.len(), 1);
    assert!(all.meta.next_cursor.is_some(), "keyset pages");

    let changed = c
        .custom_fields_update()
        .id(tier.id)
        .body(CustomFieldPatch {
            label: Some("Tier".into()),
            options: Some(vec!["gold".into(), "silver".into(), "bronze".into()]),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!((changed.label.as_str(), changed.options.len()), ("Tier", 3));
    assert!(changed.updated_at > tier.updated_at);

    let deleted = c.custom_fields_delete().id(tier.id).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    c.custom_fields_get()
        .id(tier.id)
        .send()
        .await
        .refused(404, ANY_CODE);

    for (kind, expected) in [
        (EventType::CustomFieldCreated, 2),
        (EventType::CustomFieldUpdated, 1),
        (EventType::CustomFieldDeleted, 1),
    ] {
        let events = events_of(c, kind).await;
        assert_eq!(events.len(), expected, "{kind:?}");
    }
    let deleted_event = &events_of(c, EventType::CustomFieldDeleted).await[0];
    assert_eq!(deleted_event.data["key"], json!("tier"));
}

#[tokio::test]
async fn bad_definitions_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    define(c, definition("contact", "plan", CustomFieldType::Text)).await;
    let err = c
        .custom_fields_create()
        .body(definition("contact", "plan", CustomFieldType::Number))
        .send()
        .await
        .refused(409, ANY_CODE);
    assert_eq!(fields_of(&err), ["key"]);
    // The same key on another record type is another field.
    define(c, definition("company", "plan", CustomFieldType::Number)).await;

    for (body, field) in [
        (
            definition("contact", "Bad-Key", CustomFieldType::Text),
            "key",
        ),
        (
            definition("contact", "choice", CustomFieldType::Select),
            "options",
        ),
        (
            types::CustomFieldCreate {
                options: opts(&["a"]),
                ..definition("contact", "words", CustomFieldType::Text)
            },
            "options",
        ),
        (
            types::CustomFieldCreate {
                options: opts(&["a"]),
                unique: Some(true),
                ..definition("contact", "many", CustomFieldType::MultiSelect)
            },
            "unique",
        ),
    ] {
        let err = c
            .custom_fields_create()
            .body(body)
            .send()
            .await
            .refused(422, ANY_CODE);
        assert_eq!(fields_of(&err), vec![field.to_string()]);
    }
}

#[tokio::test]
async fn every_type_checks_its_values_and_unknown_keys_are_refused() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    for (key, field_type) in [
        ("t", CustomFieldType::Text),
        ("n", CustomFieldType::Number),
        ("d", CustomFieldType::Decimal),
        ("b", CustomFieldType::Boolean),
        ("day", CustomFieldType::Date),
        ("at", CustomFieldType::Datetime),
        ("site", CustomFieldType::Url),
        ("mail", CustomFieldType::Email),
    ] {
        define(c, definition("contact", key, field_type)).await;
    }
    for (key, field_type) in [
        ("one", CustomFieldType::Select),
        ("many", CustomFieldType::MultiSelect),
    ] {
        define(
            c,
            types::CustomFieldCreate {
                options: opts(&["a", "b"]),
                ..definition("contact", key, field_type)
            },
        )
        .await;
    }
    let good = create(
        c,
        with_fields(
            "Good",
            json!({"t": " hello ", "n": 2.5, "d": "12.500", "b": true, "day": "2026-02-28",
                   "at": "2026-01-01T10:00:00+02:00", "site": "https://Acme.example",
                   "mail": "ann@example.com", "one": "a", "many": ["b", "a"]}),
        ),
    )
    .await;
    assert_eq!(
        serde_json::to_value(&good.custom_fields).unwrap(),
        json!({"t": "hello", "n": 2.5, "d": "12.5", "b": true, "day": "2026-02-28",
               "at": "2026-01-01T08:00:00Z", "site": "https://acme.example/",
               "mail": "ann@example.com", "one": "a", "many": ["b", "a"]}),
        "values normalised"
    );

    let bad = json!({"t": 1, "n": "2", "d": 1.5, "b": "yes", "day": "2026-02-30",
                     "at": "tomorrow", "site": "ftp://x.example", "mail": "nope",
                     "one": "c", "many": ["a", "a"], "nope": 1});
    let err = c
        .contacts_create()
        .body(with_fields("Bad", bad))
        .send()
        .await
        .refused(422, ANY_CODE);
    let mut named = fields_of(&err);
    named.sort();
    assert_eq!(
        named,
        [
            "custom_fields.at",
            "custom_fields.b",
            "custom_fields.d",
            "custom_fields.day",
            "custom_fields.mail",
            "custom_fields.many[1]",
            "custom_fields.n",
            "custom_fields.nope",
            "custom_fields.one",
            "custom_fields.site",
            "custom_fields.t",
        ]
    );
    let unknown = err
        .error
        .details
        .iter()
        .find(|d| d.field == "custom_fields.nope")
        .unwrap();
    assert_eq!(unknown.code, "unknown_field");

    // Leads and activities carry custom fields too, checked against their own definitions.
    let err = c
        .leads_create()
        .body(types::LeadCreate {
            custom_fields: map(json!({"t": "x"})),
            ..lead("Deal", sales(c).await.id)
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["custom_fields.t"]);
    define(
        c,
        definition("activity", "minutes", CustomFieldType::Number),
    )
    .await;
    let call = c
        .activities_create()
        .body(types::ActivityCreate {
            custom_fields: map(json!({"minutes": 12})),
            subject: Some("Call".parse().unwrap()),
            ..crate::activities::activity(types::ActivityKind::Call)
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(call.custom_fields["minutes"], json!(12));
    let patched = c
        .activities_update()
        .id(call.id)
        .body(ActivityPatch {
            subject: Some(Some("Longer call".parse().unwrap())),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        patched.custom_fields["minutes"],
        json!(12),
        "kept by a patch"
    );
}

#[tokio::test]
async fn patches_merge_custom_fields_and_required_fields_stay_filled() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    define(
        c,
        types::CustomFieldCreate {
            required: Some(true),
            ..definition("contact", "plan", CustomFieldType::Text)
        },
    )
    .await;
    define(c, definition("contact", "seats", CustomFieldType::Number)).await;
    let err = c
        .contacts_create()
        .body(person("No", "no@a.example"))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["custom_fields.plan"]);
    assert_eq!(err.error.details[0].code, "required");

    let ann = create(c, with_fields("Ann", json!({"plan": "pro", "seats": 3}))).await;
    let patch = |values: Option<Value>| ContactPatch {
        custom_fields: Some(values.map(map)),
        ..Default::default()
    };
    let merged = c
        .contacts_update()
        .id(ann.id)
        .body(patch(Some(json!({"seats": 5}))))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        serde_json::to_value(&merged.custom_fields).unwrap(),
        json!({"plan": "pro", "seats": 5}),
        "keys merged, the others kept"
    );
    let removed = c
        .contacts_update()
        .id(ann.id)
        .body(patch(Some(json!({"seats": null}))))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        serde_json::to_value(&removed.custom_fields).unwrap(),
        json!({"plan": "pro"})
    );
    for refused in [Some(json!({"plan": null})), None] {
        let err = c
            .contacts_update()
            .id(ann.id)
            .body(patch(refused))
            .send()
            .await
            .refused(422, ANY_CODE);
        assert_eq!(fields_of(&err), ["custom_fields.plan"]);
    }
}

#[tokio::test]
async fn unique_values_are_held_by_one_live_record_and_the_409_names_it() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let field = define(
        c,
        types::CustomFieldCreate {
            unique: Some(true),
            ..definition("contact", "vat", CustomFieldType::Text)
        },
    )
    .await;
    let ann = create(c, with_fields("Ann", json!({"vat": "DE123"}))).await;
    let err = c
        .contacts_create()
        .body(with_fields("Bob", json!({"vat": "DE123"})))
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(err.error.details[0].field, "custom_fields.vat");
    assert!(err.error.details[0].message.contains(&ann.id.to_string()));
    // Patching the holder with its own value is no conflict.
    c.contacts_update()
        .id(ann.id)
        .body(ContactPatch {
            custom_fields: Some(Some(map(json!({"vat": "DE123"})))),
            ..Default::default()
        })
        .send()
        .await
        .expect("own value");

    // Turning `unique` on while two records share a value is refused.
    let plain = define(c, definition("contact", "region", CustomFieldType::Text)).await;
    create(c, with_fields("Cy", json!({"region": "north"}))).await;
    create(c, with_fields("Di", json!({"region": "north"}))).await;
    let err = c
        .custom_fields_update()
        .id(plain.id)
        .body(CustomFieldPatch {
            unique: Some(true),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);
    assert_eq!(fields_of(&err), ["unique"]);
    assert_eq!(err.error.details[0].code, "not_unique");

    // Trashing the holder frees the value; restoring it over the new holder is a 409
    // naming that holder, and nothing is restored.
    c.contacts_delete().id(ann.id).send().await.unwrap();
    let ed = create(c, with_fields("Ed", json!({"vat": "DE123"}))).await;
    let err = c
        .contacts_restore()
        .id(ann.id)
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(err.error.details[0].field, "custom_fields.vat");
    assert!(err.error.details[0].message.contains(&ed.id.to_string()));
    c.contacts_get()
        .id(ann.id)
        .send()
        .await
        .expect_err("still in the trash");
    // Once Ed lets go of the value, Ann comes back with hers.
    c.contacts_update()
        .id(ed.id)
        .body(ContactPatch {
            custom_fields: Some(Some(map(json!({"vat": null})))),
            ..Default::default()
        })
        .send()
        .await
        .expect("clear Ed's value");
    let back = c
        .contacts_restore()
        .id(ann.id)
        .send()
        .await
        .expect("restored")
        .into_inner()
        .data;
    assert_eq!(back.custom_fields["vat"], json!("DE123"));
    let _ = field;
}

#[tokio::test]
async fn a_type_change_with_values_and_removing_an_option_in_use_are_refused() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let tier = define(
        c,
        types::CustomFieldCreate {
            options: opts(&["gold", "silver"]),
            ..definition("contact", "tier", CustomFieldType::Select)
        },
    )
    .await;
    let ann = create(c, with_fields("Ann", json!({"tier": "gold"}))).await;
    let err = c
        .custom_fields_update()
        .id(tier.id)
        .body(CustomFieldPatch {
            r#type: Some(CustomFieldType::Text),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);
    assert_eq!(err.error.details[0].code, "has_values");
    let err = c
        .custom_fields_update()
        .id(tier.id)
        .body(CustomFieldPatch {
            options: Some(vec!["silver".into()]),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);
    assert_eq!(err.error.details[0].code, "option_in_use");
    assert!(err.error.details[0].message.contains("gold"));
    // An option nobody holds may go.
    c.custom_fields_update()
        .id(tier.id)
        .body(CustomFieldPatch {
            options: Some(vec!["gold".into()]),
            ..Default::default()
        })
        .send()
        .await
        .expect("drop an unused option");

    // Deleting the definition removes its values from the records.
    c.custom_fields_delete().id(tier.id).send().await.unwrap();
    let after = c
        .contacts_get()
        .id(ann.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(after.custom_fields.is_empty());
    assert!(after.updated_at > ann.updated_at);
    // With no values left, a field of that key may come back with another type.
    let again = define(c, definition("contact", "tier", CustomFieldType::Number)).await;
    c.custom_fields_update()
        .id(again.id)
        .body(CustomFieldPatch {
            r#type: Some(CustomFieldType::Decimal),
            ..Default::default()
        })
        .send()
        .await
        .expect("type change without values");
}

#[tokio::test]
async fn lists_filter_on_custom_fields_with_equality_and_ranges_and_pages() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    define(
        c,
        types::CustomFieldCreate {
            options: opts(&["gold", "silver"]),
            ..definition("contact", "tier", CustomFieldType::Select)
        },
    )
    .await;
    define(
        c,
        types::CustomFieldCreate {
            options: opts(&["api", "crm"]),
            ..definition("contact", "products", CustomFieldType::MultiSelect)
        },
    )
    .await;
    define(c, definition("contact", "seats", CustomFieldType::Number)).await;
    define(c, definition("contact", "since", CustomFieldType::Date)).await;
    define(c, definition("contact", "mail", CustomFieldType::Email)).await;
    define(c, definition("contact", "active", CustomFieldType::Boolean)).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let tier = if i % 2 == 0 { "gold" } else { "silver" };
        let products = if i < 3 {
            json!(["api", "crm"])
        } else {
            json!(["crm"])
        };
        let contact = create(
            c,
            with_fields(
                &format!("P{i}"),
                json!({"tier": tier, "products": products, "seats": i * 10,
                       "since": format!("2026-01-0{}", i + 1), "mail": format!("P{i}@X.example"),
                       "active": i == 5}),
            ),
        )
        .await;
        ids.push(contact.id);
    }
    let pick = |is: &[usize]| is.iter().map(|&i| ids[i]).collect::<Vec<_>>();
    assert_eq!(matching(c, &["tier:eq:gold"]).await, pick(&[0, 2, 4]));
    assert_eq!(matching(c, &["products:eq:api"]).await, pick(&[0, 1, 2]));
    assert_eq!(
        matching(c, &["seats:gte:20", "seats:lt:50"]).await,
        pick(&[2, 3, 4])
    );
    assert_eq!(matching(c, &["seats:eq:30.0"]).await, pick(&[3]));
    assert_eq!(matching(c, &["since:gt:2026-01-04"]).await, pick(&[4, 5]));
    assert_eq!(matching(c, &["mail:eq:p1@x.example"]).await, pick(&[1]));
    assert_eq!(matching(c, &["active:eq:true"]).await, pick(&[5]));
    assert_eq!(
        matching(c, &["tier:eq:gold", "products:eq:api"]).await,
        pick(&[0, 2])
    );

    // The filter combines with keyset pagination.
    let first = c
        .contacts_list()
        .limit(2)
        .custom_field(vec!["tier:eq:gold".parse().unwrap()])
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.data.iter().map(|c| c.id).collect::<Vec<_>>(),
        pick(&[0, 2])
    );
    let second = c
        .contacts_list()
        .limit(2)
        .custom_field(vec!["tier:eq:gold".parse().unwrap()])
        .cursor(first.meta.next_cursor.unwrap())
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second.data.iter().map(|c| c.id).collect::<Vec<_>>(),
        pick(&[4])
    );
    assert!(second.meta.next_cursor.is_none());

    // Well formed, but not fit for this tenant's definitions: a 422 naming the parameter.
    for unfit in [
        "nope:eq:1",
        "tier:gt:gold",
        "tier:eq:bronze",
        "seats:eq:many",
    ] {
        let err = c
            .contacts_list()
            .custom_field(vec![unfit.parse().unwrap()])
            .send()
            .await
            .refused_as(unfit, 422, ANY_CODE);
        assert_eq!(fields_of(&err), ["custom_field"], "{unfit}");
    }
    // Malformed: the SDK will not build it, and the server answers a 400 naming it.
    for malformed in ["tier", "tier:like:gold", "Tier:eq:gold"] {
        assert!(
            malformed
                .parse::<types::ContactsListCustomFieldItem>()
                .is_err(),
            "{malformed}"
        );
        let (http, url) = app.raw("/v1/contacts");
        let answer = http
            .get(url)
            .bearer_auth(&app.api_key)
            .query(&[("custom_field", malformed)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{malformed}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["details"][0]["field"], "custom_field");
    }
}

#[tokio::test]
async fn another_tenant_never_sees_uses_or_matches_the_definitions_and_values() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let tier = define(
        a,
        types::CustomFieldCreate {
            unique: Some(true),
            ..definition("contact", "tier", CustomFieldType::Text)
        },
    )
    .await;
    create(a, with_fields("Ann", json!({"tier": "gold"}))).await;
    let (_, b) = app.other_tenant().await;

    assert!(b
        .custom_fields_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    b.custom_fields_get()
        .id(tier.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.custom_fields_update()
        .id(tier.id)
        .body(CustomFieldPatch {
            label: Some("pwned".into()),
            ..Default::default()
        })
        .send()
        .await
        .refused(404, ANY_CODE);
    b.custom_fields_delete()
        .id(tier.id)
        .send()
        .await
        .refused(404, ANY_CODE);

    // A's definition does not apply to B's records, nor A's filter key to B's lists.
    let err = b
        .contacts_create()
        .body(with_fields("Bea", json!({"tier": "gold"})))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(err.error.details[0].code, "unknown_field");
    b.contacts_list()
        .custom_field(vec!["tier:eq:gold".parse().unwrap()])
        .send()
        .await
        .refused_as("A's definition is no field of B's", 422, ANY_CODE);

    // B's own `tier` (unique too) neither conflicts with nor matches A's values.
    define(
        &b,
        types::CustomFieldCreate {
            unique: Some(true),
            ..definition("contact", "tier", CustomFieldType::Text)
        },
    )
    .await;
    let bea = create(&b, with_fields("Bea", json!({"tier": "gold"}))).await;
    assert_eq!(matching(&b, &["tier:eq:gold"]).await, vec![bea.id]);
    assert_eq!(matching(a, &["tier:eq:gold"]).await.len(), 1);
    assert!(!matching(a, &["tier:eq:gold"]).await.contains(&bea.id));
    let still = a
        .custom_fields_get()
        .id(tier.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(still, tier);
}

#[tokio::test]
async fn a_list_takes_at_most_ten_custom_field_filters() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    define(c, definition("contact", "seats", CustomFieldType::Number)).await;
    let held = create(c, with_fields("Held", json!({"seats": 5}))).await;
    // Ten filters that all hold find the contact.
    let ten: Vec<String> = (0..10).map(|n| format!("seats:gte:{n}")).collect();
    let refs: Vec<&str> = ten.iter().map(String::as_str).collect();
    assert_eq!(matching(c, &refs[..5]).await, [held.id]);
    assert!(matching(c, &refs).await.is_empty(), "seats >= 9 is false");
    let ten: Vec<String> = (0..10).map(|_| "seats:gte:1".to_owned()).collect();
    let refs: Vec<&str> = ten.iter().map(String::as_str).collect();
    assert_eq!(matching(c, &refs).await, [held.id]);
    // An eleventh is refused on every list that filters on custom fields, before any of
    // them is looked at.
    for list in ["contacts", "companies", "leads", "activities"] {
        let query: Vec<String> = (0..11)
            .map(|n| format!("custom_field=seats:gte:{n}"))
            .collect();
        let (http, url) = app.raw(&format!("/v1/{list}?{}", query.join("&")));
        let resp = http
            .get(url)
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422, "{list}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed", "{list}");
        assert_eq!(
            body["error"]["details"][0]["field"], "custom_field",
            "{list}"
        );
        assert_eq!(
            body["error"]["details"][0]["code"], "too_many",
            "{list}: {body}"
        );
    }
}
