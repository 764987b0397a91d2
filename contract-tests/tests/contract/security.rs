//! The security review's promises, each with its test: webhook signing secrets are kept
//! encrypted under the operator's key; credentials are kept only as hashes; no secret
//! reaches a log, an error or a list; responses name no software or version and a
//! failure shows no internals.

use std::time::Duration;

use momentum_contract_tests::receiver::{Received, Receiver};
use momentum_contract_tests::TestApp;
use momentum_sdk::types;
use momentum_sdk::Client;
use momentum_server::crypto::SecretKey;
use uuid::Uuid;

const WITHIN: Duration = Duration::from_secs(20);

async fn endpoint(client: &Client, url: &str) -> types::WebhookEndpointWithSecret {
    client
        .webhook_endpoints_create()
        .body(types::WebhookEndpointCreate {
            url: url.parse().unwrap(),
            description: None,
            event_types: vec![],
            enabled: None,
        })
        .send()
        .await
        .expect("create an endpoint")
        .into_inner()
        .data
}

async fn send_test(client: &Client, endpoint: Uuid) -> types::WebhookDelivery {
    client
        .webhook_endpoints_test()
        .id(endpoint.to_string())
        .send()
        .await
        .expect("queue a test delivery")
        .into_inner()
        .data
}

/// The stored `secret` and `previous_secret` of an endpoint, read as the owner.
async fn stored(app: &TestApp, endpoint: Uuid) -> (String, Option<String>) {
    sqlx::query_as("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1")
        .bind(endpoint)
        .fetch_one(&app.admin)
        .await
        .unwrap()
}

fn verifies(secret: &str, r: &Received) -> bool {
    momentum_sdk::webhooks::verify(secret, &r.headers, &r.body).is_ok()
}

/// A stored secret sealed by `key`, holding nothing of `secret`.
fn assert_sealed(value: &str, key: &SecretKey, secret: &str) {
    assert!(
        value.starts_with(&format!("enc:v1:{}:", key.id())),
        "not sealed with the key: {value}"
    );
    assert!(!value.contains("whsec_"), "{value}");
    assert!(!value.contains(&secret["whsec_".len()..]), "{value}");
}

#[tokio::test]
async fn webhook_secrets_are_stored_encrypted_and_still_sign_through_a_rotation() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    let hook = endpoint(c, &receiver.url).await;
    let (secret, previous) = stored(&app, hook.id).await;
    assert_sealed(&secret, &app.secret_key, &hook.secret);
    assert_eq!(previous, None);

    send_test(c, hook.id).await;
    let first = receiver.wait_for(1, WITHIN).await.remove(0);
    assert!(
        verifies(&hook.secret, &first),
        "signed with the secret shown at creation"
    );

    let rotated = c
        .webhook_endpoints_rotate_secret()
        .id(hook.id.to_string())
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let (secret, previous) = stored(&app, hook.id).await;
    assert_sealed(&secret, &app.secret_key, &rotated.secret);
    assert_sealed(&previous.unwrap(), &app.secret_key, &hook.secret);

    send_test(c, hook.id).await;
    let second = receiver.wait_for(2, WITHIN).await.remove(1);
    assert!(
        verifies(&hook.secret, &second),
        "the old secret signs during the overlap"
    );
    assert!(
        verifies(&rotated.secret, &second),
        "and so does the new one"
    );

    // No other column of the database holds either secret.
    let dump: String = sqlx::query_scalar(
        "SELECT string_agg(t::text, ' ') FROM (SELECT row_to_json(e) AS t FROM \
         webhook_endpoints e UNION ALL SELECT row_to_json(a) FROM audit_events a \
         UNION ALL SELECT row_to_json(v) FROM events v) AS all_rows",
    )
    .fetch_one(&app.admin)
    .await
    .unwrap();
    for s in [&hook.secret, &rotated.secret] {
        assert!(
            !dump.contains(&s["whsec_".len()..]),
            "a secret is stored readable"
        );
    }
}

#[tokio::test]
async fn a_plaintext_secret_from_before_encryption_is_encrypted_at_start_and_still_signs() {
    let mut app = TestApp::spawn().await;
    let c = &app.client.clone();
    let receiver = Receiver::start().await;
    let hook = endpoint(c, &receiver.url).await;
    // As a database from before this change holds it: in plaintext, mid-rotation.
    let (legacy, legacy_previous) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_cGxhaW50ZXh0IHByZXZpb3VzIHNlY3JldCEhISE=",
    );
    sqlx::query(
        "UPDATE webhook_endpoints SET secret = $2, previous_secret = $3, \
         previous_secret_expires_at = now() + interval '1 hour' WHERE id = $1",
    )
    .bind(hook.id)
    .bind(legacy)
    .bind(legacy_previous)
    .execute(&app.admin)
    .await
    .unwrap();

    // A server starting on that database encrypts it before it serves.
    app.another_instance(Duration::from_secs(5)).await;
    let (secret, previous) = stored(&app, hook.id).await;
    assert_sealed(&secret, &app.secret_key, legacy);
    assert_sealed(&previous.unwrap(), &app.secret_key, legacy_previous);

    send_test(c, hook.id).await;
    let r = receiver.wait_for(1, WITHIN).await.remove(0);
    assert!(
        verifies(legacy, &r),
        "nothing lost: the old secret still signs"
    );
    assert!(verifies(legacy_previous, &r));
}

#[tokio::test]
async fn another_key_cannot_decrypt_the_secrets_and_a_server_with_it_refuses_to_start() {
    let mut app = TestApp::spawn().await;
    let c = &app.client.clone();
    let receiver = Receiver::start().await;
    let hook = endpoint(c, &receiver.url).await;

    let other = SecretKey::generate();
    let refused = app
        .another_instance_with_key(other.clone())
        .await
        .expect_err("a server with another key must not start");
    let message = format!("{refused:#}");
    assert!(
        message.contains("MOMENTUM_SECRET_KEY is not the key"),
        "{message}"
    );
    assert!(message.contains(app.secret_key.id()), "{message}");

    // A secret sealed under some other key (a row restored from elsewhere) is never
    // replaced by garbage: the delivery is not sent, and the attempt says why.
    let (secret, _) = stored(&app, hook.id).await;
    let context = format!("webhook_endpoints.secret:{}:{}", app.tenant_id, hook.id);
    assert!(
        other.open(&secret, &context).is_err(),
        "another key opens it"
    );
    assert!(app.secret_key.open(&secret, &context).is_ok());
    sqlx::query("UPDATE webhook_endpoints SET secret = $2 WHERE id = $1")
        .bind(hook.id)
        .bind(other.seal(&hook.secret, &context))
        .execute(&app.admin)
        .await
        .unwrap();
    let delivery = send_test(c, hook.id).await;
    let deadline = tokio::time::Instant::now() + WITHIN;
    let attempt = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt recorded"
        );
        let attempts = c
            .webhook_attempts_list()
            .id(hook.id.to_string())
            .delivery_id(delivery.id.to_string())
            .send()
            .await
            .unwrap()
            .into_inner()
            .data;
        if let Some(first) = attempts.into_iter().next() {
            break first;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(attempt.status_code, None);
    let error = attempt.error.unwrap_or_default();
    assert!(error.contains("could not decrypt"), "{error}");
    assert!(!error.contains(other.id()) && !error.contains(app.secret_key.id()));
    assert!(
        receiver.received().is_empty(),
        "sent without a valid signature"
    );
}
