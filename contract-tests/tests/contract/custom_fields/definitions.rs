//! Custom field definitions: created, read, listed, changed and deleted with events; bad
//! ones refused naming the field; changes that would strand values refused.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::CustomFieldPatch;
use momentum_sdk::types::{self, CustomFieldType, EventType};
use serde_json::json;

use crate::{create, fields_of, Refused, ANY_CODE};

use super::{define, definition, events_of, opts, with_fields};

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

    // A key out of its pattern: the SDK refuses to build it (the document states the
    // pattern), so it goes as raw JSON, as another client would send it.
    let (http, url) = app.raw("/v1/custom-fields");
    let answer = http
        .post(url)
        .bearer_auth(&app.api_key)
        .json(&serde_json::json!({
            "record_type": "contact", "key": "Bad-Key", "label": "Bad", "type": "text"
        }))
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status(), 422);
    let body: serde_json::Value = answer.json().await.expect("JSON");
    assert_eq!(body["error"]["details"][0]["field"], "key", "{body}");

    for (body, field) in [
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
            .refused_as(field, 422, ANY_CODE);
        assert_eq!(fields_of(&err), [field], "{field}");
    }
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
