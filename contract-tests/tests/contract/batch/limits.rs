//! What a batch may hold: one to a hundred items; a malformed item fails alone, a
//! malformed body fails the request.

use momentum_contract_tests::TestApp;
use momentum_sdk::types;

use crate::{company, person, Refused, ANY_CODE};

use super::{all_contacts, contact_batch, problems};

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
        .refused(422, "validation_failed");
    assert_eq!(problems(&err.error), [("items".into(), "too_many".into())]);
    let err = c
        .contacts_batch_upsert()
        .body(types::ContactBatch { items: vec![] })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(problems(&err.error), [("items".into(), "required".into())]);
    let items: Vec<_> = (0..101).map(|i| company(&format!("Co {i}"))).collect();
    let err = c
        .companies_batch_upsert()
        .body(types::CompanyBatch { items })
        .send()
        .await
        .refused(422, ANY_CODE);
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
