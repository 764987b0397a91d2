//! The security review's promises, each with its test: webhook signing secrets are kept
//! encrypted under the operator's key; credentials are kept only as hashes; no secret
//! reaches a log, an error or a list; responses name no software or version and a
//! failure shows no internals.

use std::time::Duration;

use momentum_contract_tests::receiver::{Received, Receiver};
use momentum_contract_tests::TestApp;
use momentum_server::crypto::SecretKey;
use uuid::Uuid;

use crate::eventually;
use crate::webhooks::{attempts, endpoint, rotate_secret, send_test};

const WITHIN: Duration = Duration::from_secs(20);

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
    let hook = endpoint(c, &receiver.url, vec![]).await;
    let (secret, previous) = stored(&app, hook.id).await;
    assert_sealed(&secret, &app.secret_key, &hook.secret);
    assert_eq!(previous, None);

    send_test(c, hook.id).await;
    let first = receiver.wait_for(1, WITHIN).await.remove(0);
    assert!(
        verifies(&hook.secret, &first),
        "signed with the secret shown at creation"
    );

    let rotated = rotate_secret(c, hook.id).await;
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
    let hook = endpoint(c, &receiver.url, vec![]).await;
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
    let hook = endpoint(c, &receiver.url, vec![]).await;

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
    let attempt = eventually(WITHIN, "an attempt recorded", || async {
        attempts(c, hook.id, delivery.id).await.into_iter().next()
    })
    .await;
    assert_eq!(attempt.status_code, None);
    let error = attempt.error.unwrap_or_default();
    assert!(error.contains("could not decrypt"), "{error}");
    assert!(!error.contains(other.id()) && !error.contains(app.secret_key.id()));
    assert!(
        receiver.received().is_empty(),
        "sent without a valid signature"
    );
}

/// The secret part of a credential (`mk_<id>_<secret>`, `mst_...`, `whsec_<secret>`).
fn secret_part(credential: &str) -> &str {
    credential
        .rsplit_once('_')
        .map_or(credential, |(_, secret)| secret)
}

#[tokio::test]
async fn credentials_are_stored_hashed_and_no_secret_reaches_a_log_an_error_or_a_list() {
    let app = TestApp::spawn().await;
    let (http, base) = (reqwest::Client::new(), app.base_url.clone());
    let get = |key: String, path: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let resp = http
                .get(format!("{base}{path}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let post = |key: Option<String>, path: String, body: serde_json::Value| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let mut req = http.post(format!("{base}{path}")).json(&body);
            if let Some(key) = key {
                req = req.bearer_auth(key);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, body)
        }
    };
    let owner = app.api_key.clone();
    let mut seen = Vec::new();

    // An API key made through the API.
    let (_, minted) = post(
        Some(owner.clone()),
        "/v1/api-keys".into(),
        serde_json::json!({"name": "reader", "scopes": ["contacts:read"]}),
    )
    .await;
    let key = minted["data"]["secret"].as_str().unwrap().to_owned();
    let key_id = minted["data"]["api_key"]["id"].as_str().unwrap().to_owned();

    // A QR login: its poll secret and the session token it is exchanged for.
    let (_, qr) = post(None, "/v1/auth/qr-sessions".into(), serde_json::json!({})).await;
    let qr_id = qr["data"]["id"].as_str().unwrap().to_owned();
    let poll_secret = qr["data"]["poll_secret"].as_str().unwrap().to_owned();
    post(
        Some(owner.clone()),
        format!("/v1/auth/qr-sessions/{qr_id}/approve"),
        serde_json::json!(null),
    )
    .await;
    let exchanged = http
        .post(format!("{base}/v1/auth/qr-sessions/{qr_id}/exchange"))
        .header("X-Poll-Secret", &poll_secret)
        .send()
        .await
        .unwrap();
    let exchanged: serde_json::Value = exchanged.json().await.unwrap();
    let token = exchanged["data"]["token"].as_str().unwrap().to_owned();
    // A wrong poll secret, once.
    let wrong_poll = http
        .get(format!("{base}/v1/auth/qr-sessions/{qr_id}"))
        .header("X-Poll-Secret", format!("{}0", &poll_secret[1..]))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_poll.status(), 401);
    seen.push(wrong_poll.text().await.unwrap());

    // A webhook endpoint, a rotation, and deliveries signed with both secrets.
    let receiver = Receiver::start().await;
    let hook = endpoint(&app.client, &receiver.url, vec![]).await;
    let rotated = rotate_secret(&app.client, hook.id).await;
    let delivery = send_test(&app.client, hook.id).await;
    receiver.wait_for(1, WITHIN).await;

    // Bad credentials: a right public id with a wrong secret, and junk; then good ones.
    let (public, _) = key.rsplit_once('_').unwrap();
    let wrong_secret = format!("{public}_{}", "0123456789abcdef".repeat(4));
    let junk = "mk_thisisnotakey000_but-it-is-a-secret-all-the-same".to_owned();
    for bad in [&wrong_secret, &junk] {
        let (status, text) = get(bad.clone(), "/v1/contacts".into()).await;
        assert_eq!(status, 401, "{text}");
        seen.push(text);
    }
    for good in [&key, &token] {
        assert_eq!(get(good.clone(), "/v1/contacts".into()).await.0, 200);
        let (status, text) = get(good.clone(), format!("/v1/contacts/{}", Uuid::nil())).await;
        assert_eq!(status, 404);
        seen.push(text);
    }
    // Everything that lists or shows credentials, endpoints, deliveries and what happened.
    let endpoint_path = format!("/v1/webhook-endpoints/{}", hook.id);
    let delivery_path = format!("{endpoint_path}/deliveries/{}", delivery.id);
    for path in [
        "/v1/api-keys".to_owned(),
        format!("/v1/api-keys/{key_id}"),
        "/v1/session-tokens".to_owned(),
        "/v1/webhook-endpoints".to_owned(),
        endpoint_path.clone(),
        format!("{endpoint_path}/deliveries"),
        delivery_path.clone(),
        format!("{delivery_path}/attempts"),
        "/v1/audit-events".to_owned(),
        "/v1/events".to_owned(),
    ] {
        let (status, text) = get(owner.clone(), path.clone()).await;
        assert_eq!(status, 200, "{path}: {text}");
        seen.push(text);
    }

    let secrets = [
        owner.as_str(),
        &key,
        &token,
        &poll_secret,
        &hook.secret,
        &rotated.secret,
        &wrong_secret,
        &junk,
    ];
    let responses = seen.join("\n");
    let logs = momentum_contract_tests::captured_logs();
    assert!(logs.contains("request finished"), "the logs are captured");
    // Every table, as the owner sees it (row-level security bypassed).
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&app.admin)
    .await
    .unwrap();
    let mut stored = String::new();
    for table in &tables {
        let rows: Option<String> = sqlx::query_scalar(&format!(
            "SELECT string_agg(row_to_json(t)::text, '\n') FROM {table} t"
        ))
        .fetch_one(&app.admin)
        .await
        .unwrap();
        stored.push_str(&rows.unwrap_or_default());
    }
    assert!(
        stored.contains(&hook.id.to_string()),
        "the dump holds the data"
    );
    for secret in secrets {
        for s in [secret, secret_part(secret)] {
            assert!(!logs.contains(s), "a secret is in the logs");
            assert!(
                !responses.contains(s),
                "a secret is in a response: {responses}"
            );
            assert!(!stored.contains(s), "a secret is stored readable");
        }
    }
}

#[tokio::test]
async fn responses_name_no_software_and_a_failure_shows_no_internals() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let base = &app.base_url;
    let mut responses = Vec::new();
    for (path, key) in [
        ("/healthz", None),
        ("/readyz", None),
        ("/openapi.json", None),
        ("/docs/", None),
        ("/v1/contacts", Some(app.api_key.as_str())),
        ("/v1/contacts", None),
        ("/v1/no-such-route", Some(app.api_key.as_str())),
    ] {
        let mut req = http.get(format!("{base}{path}"));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        responses.push((path, req.send().await.unwrap()));
    }
    // A database failure the handler does not expect: the table is gone.
    sqlx::query("ALTER TABLE contacts RENAME TO contacts_moved_away")
        .execute(&app.admin)
        .await
        .unwrap();
    let failed = http
        .get(format!("{base}/v1/contacts"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    responses.push(("/v1/contacts (failing)", failed));
    for (path, resp) in responses {
        for header in ["server", "x-powered-by", "x-aspnet-version", "via"] {
            assert!(
                resp.headers().get(header).is_none(),
                "{path} names its software in `{header}`: {:?}",
                resp.headers().get(header)
            );
        }
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        for internal in [
            "poem",
            "hyper",
            "tokio",
            "sqlx",
            "panicked",
            "backtrace",
            ".rs:",
            "src/",
            "relation",
            "contacts_moved_away",
            "SELECT",
        ] {
            // The document and Swagger UI's page may say `SELECT`-free things only; a
            // failure must say nothing of the code or the database.
            if path == "/openapi.json" || path == "/docs/" {
                continue;
            }
            assert!(
                !text.contains(internal),
                "{path} ({status}) shows `{internal}`: {text}"
            );
        }
        if path == "/v1/contacts (failing)" {
            assert_eq!(status, 500);
            let body: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["error"]["code"], "internal");
            assert_eq!(body["error"]["details"], serde_json::json!([]));
        }
        if path == "/openapi.json" {
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            // The API's version, which clients need; nothing names the server's software.
            assert!(doc["info"]["version"].is_string());
            for software in ["poem", "rustc", "tokio", "hyper"] {
                assert!(
                    !text.to_lowercase().contains(software),
                    "{software} in the document"
                );
            }
        }
    }
}

/// Every value of every column of the idempotency storage (each table named
/// `idempotency…`), read as the owner: `bytea` as its bytes, anything else as its text.
async fn idempotency_storage(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name LIKE 'idempotency%'",
    )
    .fetch_all(&app.admin)
    .await
    .unwrap();
    assert!(!columns.is_empty(), "no idempotency storage found");
    let mut values = Vec::new();
    for (table, column, data_type) in columns {
        let value = if data_type == "bytea" {
            format!("\"{column}\"")
        } else {
            format!("convert_to(\"{column}\"::text, 'UTF8')")
        };
        let rows: Vec<Option<Vec<u8>>> =
            sqlx::query_scalar(&format!("SELECT {value} FROM \"{table}\""))
                .fetch_all(&app.admin)
                .await
                .unwrap();
        values.extend(
            rows.into_iter()
                .flatten()
                .map(|v| (format!("{table}.{column}"), v)),
        );
    }
    values
}

#[tokio::test]
async fn the_idempotency_storage_holds_no_secret_of_the_answers_it_keeps() {
    let app = TestApp::spawn().await;
    let owner = app.api_key.clone();
    let http = reqwest::Client::new();
    let base = app.base_url.clone();
    let post = |path: &str, key: &str, body: serde_json::Value| {
        let (app, owner, path, key) = (&app, owner.clone(), path.to_owned(), key.to_owned());
        async move { crate::idempotency::post_with_key(app, &owner, &path, &key, &body).await }
    };

    // An API key, minted with an `Idempotency-Key`; the retry gets its secret back.
    let body = serde_json::json!({"name": "ci", "scopes": ["contacts:read"]});
    let (status, _, minted) = post("/v1/api-keys", "mint-1", body.clone()).await;
    assert_eq!(status, 201, "{minted}");
    let (status, replayed, again) = post("/v1/api-keys", "mint-1", body).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(
        again, minted,
        "a retry of a lost answer still gets its secret"
    );
    let key = minted["data"]["secret"].as_str().unwrap().to_owned();

    // A webhook endpoint and a rotation of its secret, each with a key.
    let (status, _, hook) = post(
        "/v1/webhook-endpoints",
        "hook-1",
        serde_json::json!({"url": "https://93.184.216.34/hook", "event_types": []}),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let hook_id = hook["data"]["id"].as_str().unwrap().to_owned();
    let (status, _, rotated) = post(
        &format!("/v1/webhook-endpoints/{hook_id}/rotate-secret"),
        "rotate-1",
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");

    // A QR login, every step sent with a key: its session token must not be kept either.
    let started: serde_json::Value = http
        .post(format!("{base}/v1/auth/qr-sessions"))
        .header("Idempotency-Key", "qr-start")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let qr_id = started["data"]["id"].as_str().unwrap().to_owned();
    let poll_secret = started["data"]["poll_secret"].as_str().unwrap().to_owned();
    let (status, _, approved) = post(
        &format!("/v1/auth/qr-sessions/{qr_id}/approve"),
        "qr-approve",
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    let exchanged: serde_json::Value = http
        .post(format!("{base}/v1/auth/qr-sessions/{qr_id}/exchange"))
        .header("X-Poll-Secret", &poll_secret)
        .header("Idempotency-Key", "qr-exchange")
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = exchanged["data"]["token"].as_str().unwrap().to_owned();

    let stored = idempotency_storage(&app).await;
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&app.admin)
        .await
        .unwrap();
    assert!(keys >= 4, "the answers are stored ({keys} rows)");
    let secrets = [
        key.as_str(),
        hook["data"]["secret"].as_str().unwrap(),
        rotated["data"]["secret"].as_str().unwrap(),
        token.as_str(),
        poll_secret.as_str(),
    ];
    let mut needles: Vec<&str> = vec!["mk_", "mst_", "whsec_"];
    needles.extend(secrets.iter().map(|s| secret_part(s)));
    for (column, value) in &stored {
        for needle in &needles {
            assert!(
                !value.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{column} holds `{}…` in plaintext",
                &needle[..needle.len().min(6)]
            );
        }
    }
}
