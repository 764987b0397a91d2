use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, EventType};
use serde_json::{json, Value};

use crate::{api_error, person};

async fn contacts_with_email(c: &momentum_sdk::Client, email: &str) -> usize {
    c.contacts_list()
        .email(email)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .len()
}

#[tokio::test]
async fn a_create_sent_twice_with_one_key_creates_once_and_replays_the_same_answer() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let send = || {
        c.contacts_create()
            .idempotency_key("create-ada-1")
            .body(person("Ada", "ada@example.com"))
            .send()
    };
    let first = send().await.expect("the first create");
    let second = send().await.expect("the retry");
    assert_eq!(first.status().as_u16(), 201);
    assert_eq!(second.status().as_u16(), 201);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(first.headers()["location"], second.headers()["location"]);
    let (first, second) = (first.into_inner(), second.into_inner());
    assert_eq!(
        serde_json::to_value(&first).unwrap(),
        serde_json::to_value(&second).unwrap(),
        "the identical body, request id included"
    );
    assert_eq!(contacts_with_email(c, "ada@example.com").await, 1);
    // The replay ran nothing: one event, so one webhook.
    let events = c
        .events_list()
        .type_(EventType::ContactCreated)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(events.len(), 1);

    // The same key with another body is refused, with its own code.
    let (status, err) = api_error(
        c.contacts_create()
            .idempotency_key("create-ada-1")
            .body(person("Bob", "bob@example.com"))
            .send()
            .await,
    );
    assert_eq!(status, 422);
    assert_eq!(err.error.code, "idempotency_key_reused");
    assert_eq!(contacts_with_email(c, "bob@example.com").await, 0);
    // And so is the same key on another operation.
    let (status, err) = api_error(
        c.companies_create()
            .idempotency_key("create-ada-1")
            .body(crate::company("Ada Ltd"))
            .send()
            .await,
    );
    assert_eq!(
        (status, err.error.code.as_str()),
        (422, "idempotency_key_reused")
    );
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_record() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let attempts = (0..8).map(|_| {
        c.contacts_create()
            .idempotency_key("race-1")
            .body(person("Race", "race@example.com"))
            .send()
    });
    let results = futures::future::join_all(attempts).await;
    let mut created = 0;
    for result in results {
        match result {
            Ok(resp) => {
                assert_eq!(resp.status().as_u16(), 201);
                created += 1;
            }
            Err(momentum_sdk::Error::ErrorResponse(resp)) => {
                assert_eq!(resp.status().as_u16(), 409);
                assert_eq!(resp.into_inner().error.code, "idempotency_key_in_use");
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(created >= 1, "the first request answered 201");
    assert_eq!(contacts_with_email(c, "race@example.com").await, 1);
}

#[tokio::test]
async fn refusals_that_may_pass_later_are_not_stored_and_keys_belong_to_a_tenant() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let (client, url) = app.raw("/v1/contacts");
    let post = |key: &str, body: Value| {
        client
            .post(&url)
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    // A validation failure leaves the key free: the corrected request runs.
    let bad = post("fix-me", json!({ "email": "not an email" }))
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "validation_failed");
    let good = post("fix-me", json!({ "email": "fixed@example.com" }))
        .await
        .unwrap();
    assert_eq!(good.status(), 201);
    assert!(good.headers().get("idempotent-replayed").is_none());
    // A conflict is an answer of the data's state: it is replayed as it was.
    let taken = post("dup", json!({ "email": "FIXED@example.com" }))
        .await
        .unwrap();
    assert_eq!(taken.status(), 409);
    let again = post("dup", json!({ "email": "FIXED@example.com" }))
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    // A malformed key is a 400 naming the header.
    let long = "k".repeat(256);
    let resp = post(&long, json!({ "email": "long@example.com" }))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["field"], "Idempotency-Key");

    // Another tenant's identical key is its own.
    let (_, other) = app.other_tenant().await;
    let theirs = other
        .contacts_create()
        .idempotency_key("fix-me")
        .body(types::ContactCreate {
            email: Some("fixed@example.com".into()),
            ..Default::default()
        })
        .send()
        .await
        .expect("a create in the other tenant");
    assert!(!theirs.headers().contains_key("idempotent-replayed"));
    assert_eq!(contacts_with_email(c, "fixed@example.com").await, 1);
}
