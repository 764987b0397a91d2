//! Custom field values: each type checks and normalises its values, patches merge,
//! required fields stay filled, and a unique value is held by one live record.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{ActivityPatch, ContactPatch, CustomFieldPatch};
use momentum_sdk::types::{self, CustomFieldType};
use serde_json::{json, Value};

use crate::{create, fields_of, lead, person, sales, Refused, ANY_CODE};

use super::{define, definition, map, opts, with_fields};

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
