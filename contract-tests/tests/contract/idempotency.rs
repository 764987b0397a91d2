use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, EventType};
use serde_json::{json, Value};

use crate::{person, Refused};

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
    c.contacts_create()
        .idempotency_key("create-ada-1")
        .body(person("Bob", "bob@example.com"))
        .send()
        .await
        .refused(422, "idempotency_key_reused");
    assert_eq!(contacts_with_email(c, "bob@example.com").await, 0);
    // And so is the same key on another operation.
    c.companies_create()
        .idempotency_key("create-ada-1")
        .body(crate::company("Ada Ltd"))
        .send()
        .await
        .refused(422, "idempotency_key_reused");
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

/// A POST with a credential, an `Idempotency-Key` and a JSON body (`null`: none):
/// (status, replayed?, body).
pub(crate) async fn post_with_key(
    app: &TestApp,
    credential: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> (u16, bool, Value) {
    let (http, url) = app.raw(path);
    let mut req = http
        .post(url)
        .bearer_auth(credential)
        .header("Idempotency-Key", key);
    if !body.is_null() {
        req = req.json(body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let replayed = resp.headers().get("idempotent-replayed").is_some();
    (status, replayed, resp.json().await.unwrap())
}

#[tokio::test]
async fn another_credential_of_the_tenant_sending_the_same_key_and_body_runs_its_own_request() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    // A second admin of the same tenant, with a key of its own.
    let mia = c
        .users_create()
        .body(types::UserCreate {
            email: "mia@a.example".into(),
            name: None,
            role: Some(types::UserRole::Admin),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let mia_key = c
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "mia".parse().unwrap(),
            scopes: vec!["*".into()],
            expires_at: None,
            service: None,
            user_id: Some(mia.id),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .secret;
    let owner = app.api_key.clone();

    // Both mint an API key with the same `Idempotency-Key` and the same body.
    let mint = json!({"name": "ci", "scopes": ["contacts:read"]});
    let (status, replayed, ours) =
        post_with_key(&app, &owner, "/v1/api-keys", "mint-ci", &mint).await;
    assert_eq!((status, replayed), (201, false));
    let (status, replayed, theirs) =
        post_with_key(&app, &mia_key, "/v1/api-keys", "mint-ci", &mint).await;
    assert_eq!(
        (status, replayed),
        (201, false),
        "another credential's same key must run its own request: {theirs}"
    );
    let secret = |v: &Value| v["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(secret(&ours), secret(&theirs), "got the other admin's key");
    assert_ne!(
        ours["data"]["api_key"]["id"],
        theirs["data"]["api_key"]["id"]
    );
    // Each one's retry is still its own answer, secret included: that is what a retry
    // of a lost answer is for.
    for (credential, first) in [(&owner, &ours), (&mia_key, &theirs)] {
        let (status, replayed, again) =
            post_with_key(&app, credential, "/v1/api-keys", "mint-ci", &mint).await;
        assert_eq!((status, replayed), (201, true));
        assert_eq!(&again, first);
    }

    // The same for a webhook endpoint's secret, at creation and at rotation.
    let hook = json!({"url": "https://93.184.216.34/hook", "event_types": []});
    let (_, _, ours) = post_with_key(&app, &owner, "/v1/webhook-endpoints", "hook-1", &hook).await;
    let (status, replayed, theirs) =
        post_with_key(&app, &mia_key, "/v1/webhook-endpoints", "hook-1", &hook).await;
    assert_eq!((status, replayed), (201, false), "{theirs}");
    assert_ne!(secret(&ours), secret(&theirs));
    let rotate = format!(
        "/v1/webhook-endpoints/{}/rotate-secret",
        ours["data"]["id"].as_str().unwrap()
    );
    let (status, _, ours) = post_with_key(&app, &owner, &rotate, "rotate-1", &Value::Null).await;
    assert_eq!(status, 200, "{ours}");
    let (status, replayed, theirs) =
        post_with_key(&app, &mia_key, &rotate, "rotate-1", &Value::Null).await;
    assert_eq!((status, replayed), (200, false), "{theirs}");
    assert_ne!(secret(&ours), secret(&theirs));
}

#[tokio::test]
async fn an_answer_sealed_under_a_key_the_server_no_longer_has_is_a_clean_409_and_runs_nothing() {
    let mut app = TestApp::spawn().await;
    let body = json!({"email": "once@example.com"});
    let (status, _, first) =
        post_with_key(&app, &app.api_key.clone(), "/v1/contacts", "once", &body).await;
    assert_eq!(status, 201, "{first}");

    // The operator starts a server with another MOMENTUM_SECRET_KEY (nothing else is
    // sealed yet, so it starts) and the client's retry reaches it.
    let other_key = momentum_server::crypto::SecretKey::generate();
    let other = app
        .another_instance_with_key(other_key.clone())
        .await
        .expect("a server with another key starts while no webhook secret is sealed");
    let resp = reqwest::Client::new()
        .post(format!("{other}/v1/contacts"))
        .bearer_auth(&app.api_key)
        .header("Idempotency-Key", "once")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let text = resp.text().await.unwrap();
    let err: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        err["error"]["code"], "idempotency_answer_unavailable",
        "{text}"
    );
    for internal in [
        app.secret_key.id(),
        other_key.id(),
        "enc:",
        "decrypt",
        "sealed",
    ] {
        assert!(
            !text.contains(internal),
            "the answer shows `{internal}`: {text}"
        );
    }
    // It was not run again, and the server with the right key still replays it.
    assert_eq!(
        contacts_with_email(&app.client, "once@example.com").await,
        1
    );
    let (status, replayed, again) =
        post_with_key(&app, &app.api_key.clone(), "/v1/contacts", "once", &body).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(again, first);
}
