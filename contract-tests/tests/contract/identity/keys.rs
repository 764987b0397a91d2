//! Scopes and API keys: a read-only key refused every write, a key's secret shown once,
//! expiry, revocation reaching another instance, and another tenant's keys and audit
//! events out of sight.

use std::time::{Duration, Instant};

use momentum_contract_tests::{captured_logs, TestApp};
use momentum_sdk::types;
use momentum_sdk::Client;
use uuid::Uuid;

use crate::{Refused, ANY_CODE};

use super::key;

const READ_ONLY: [&str; 6] = [
    "contacts:read",
    "companies:read",
    "pipelines:read",
    "leads:read",
    "activities:read",
    "users:read",
];

#[tokio::test]
async fn a_read_only_key_is_refused_every_write_operation_with_403_naming_the_scope() {
    let app = TestApp::spawn().await;
    let (_, secret) = key(&app, &READ_ONLY, None).await;
    let reader = app.client_with_key(&secret);
    assert!(
        reader.contacts_list().send().await.is_ok(),
        "reads still work"
    );

    // Through the SDK, as an integrator meets it: the 403 decodes with the scope named.
    let err = reader
        .contacts_create()
        .body(crate::person("Ann", "ann@a.example"))
        .send()
        .await
        .refused(403, "forbidden");
    assert!(err.error.message.contains("contacts:write"));
    let pipeline = crate::sales(&reader).await;
    let err = reader
        .leads_create()
        .body(crate::lead("Deal", pipeline.id))
        .send()
        .await
        .refused(403, ANY_CODE);
    assert!(err.error.message.contains("leads:write"));
    reader
        .api_keys_list()
        .send()
        .await
        .refused_as("admin operations too", 403, ANY_CODE);
    assert!(
        reader
            .contacts_list()
            .send()
            .await
            .unwrap()
            .into_inner()
            .data
            .is_empty(),
        "nothing was written"
    );

    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../../openapi/openapi.json")).unwrap();
    let (http, _) = app.raw("/");
    let mut refused = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(scopes) = op["security"][0]["ApiKey"].as_array() else {
                continue;
            };
            let needed: Vec<&str> = scopes.iter().filter_map(|s| s.as_str()).collect();
            if needed.iter().all(|s| READ_ONLY.contains(s)) {
                continue;
            }
            let url = format!(
                "{}{}",
                app.base_url,
                path.split('/')
                    .map(|seg| if seg.starts_with('{') {
                        Uuid::now_v7().to_string()
                    } else {
                        seg.to_owned()
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            );
            let request = http
                .request(method.to_uppercase().parse().unwrap(), url)
                .bearer_auth(&secret);
            let request = if method == "get" || method == "delete" {
                request
            } else {
                request.json(&serde_json::json!({}))
            };
            let resp = request.send().await.unwrap();
            let id = op["operationId"].as_str().unwrap();
            assert_eq!(resp.status().as_u16(), 403, "{id}");
            let body: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["code"], "forbidden", "{id}");
            let missing = needed.iter().find(|s| !READ_ONLY.contains(s)).unwrap();
            assert!(
                body["error"]["message"].as_str().unwrap().contains(missing),
                "{id}: {body}"
            );
            refused += 1;
        }
    }
    assert!(
        refused >= 29,
        "every write and admin operation of this version was tried ({refused})"
    );
}

#[tokio::test]
async fn a_key_is_shown_once_listed_without_its_secret_and_refused_once_revoked() {
    let app = TestApp::spawn().await;
    let (created, secret) = key(&app, &["contacts:read"], None).await;
    assert!(secret.starts_with(&format!("{}_", created.prefix)));
    let secret_part = secret.rsplit('_').next().unwrap().to_owned();

    let reader = app.client_with_key(&secret);
    assert!(reader.contacts_list().send().await.is_ok());
    // `last_used_at` is written in batches (every 100 ms in tests).
    let mut last_used = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let seen = app
            .client
            .api_keys_get()
            .id(created.id)
            .send()
            .await
            .unwrap();
        last_used = seen.into_inner().data.last_used_at;
        if last_used.is_some() {
            break;
        }
    }
    assert!(last_used.is_some(), "last_used_at recorded within 5 s");

    let (http, url) = app.raw("/v1/api-keys");
    let listed = http
        .get(url)
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    let listed = listed.text().await.unwrap();
    assert!(listed.contains(&created.id.to_string()));
    assert!(
        !listed.contains(&secret_part),
        "the list never holds a secret"
    );

    let revoked = app
        .client
        .api_keys_revoke()
        .id(created.id)
        .send()
        .await
        .unwrap();
    assert!(revoked.into_inner().data.revoked_at.is_some());
    reader
        .contacts_list()
        .send()
        .await
        .refused(401, "unauthorized");

    let (http, url) = app.raw("/v1/audit-events");
    let audit = http
        .get(url)
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    let audit = audit.text().await.unwrap();
    assert!(audit.contains("api_key.created") && audit.contains("api_key.revoked"));
    assert!(
        !audit.contains(&secret_part),
        "the audit log never holds a secret"
    );
    assert!(
        !captured_logs().contains(&secret_part),
        "no log line holds a secret"
    );
}

#[tokio::test]
async fn an_expired_key_is_refused_and_keys_cannot_exceed_their_creator() {
    let app = TestApp::spawn().await;
    let soon = chrono::Utc::now() + chrono::Duration::seconds(4);
    let (_, secret) = key(
        &app,
        &[],
        Some(types::ApiKeyCreate {
            name: "short".parse().unwrap(),
            scopes: vec!["contacts:read".into(), "admin".into()],
            expires_at: Some(soon),
            service: Some(true),
            user_id: None,
        }),
    )
    .await;
    let short = app.client_with_key(&secret);
    assert!(short.contacts_list().send().await.is_ok());

    // A key cannot grant more than it holds.
    let err = short
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "escalate".parse().unwrap(),
            scopes: vec!["contacts:write".into()],
            expires_at: None,
            service: Some(true),
            user_id: None,
        })
        .send()
        .await
        .refused(403, ANY_CODE);
    assert!(err.error.message.contains("contacts:write"));
    let err = app
        .client
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "typo".parse().unwrap(),
            scopes: vec!["contacts:reed".into()],
            expires_at: None,
            service: None,
            user_id: None,
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(err.error.details[0].field, "scopes[0]");

    let left = (soon - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(300)).await;
    short
        .contacts_list()
        .send()
        .await
        .refused_as("expired", 401, ANY_CODE);
}

#[tokio::test]
async fn another_tenants_keys_and_audit_events_are_invisible() {
    let app = TestApp::spawn().await;
    let (created, _) = key(&app, &["contacts:read"], None).await;
    let (_, b) = app.other_tenant().await;
    b.api_keys_get()
        .id(created.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.api_keys_revoke()
        .id(created.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    let keys = b.api_keys_list().send().await.unwrap().into_inner().data;
    assert!(keys.iter().all(|k| k.id != created.id));
    let events = b
        .audit_events_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(events.iter().all(|e| e.target_id != created.id));
    let still = app
        .client
        .api_keys_get()
        .id(created.id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        still.into_inner().data.revoked_at,
        None,
        "B's revoke changed nothing"
    );
}

#[tokio::test]
async fn a_revocation_reaches_another_instance_within_its_cache_lifetime() {
    let mut app = TestApp::spawn().await;
    let ttl = Duration::from_secs(2);
    let other = app.another_instance(ttl).await;
    let (created, secret) = key(&app, &["contacts:read"], None).await;
    let elsewhere = Client::with_api_key(&other, &secret).unwrap();
    // The other instance has now cached the key as valid.
    assert!(elsewhere.contacts_list().send().await.is_ok());

    app.client
        .api_keys_revoke()
        .id(created.id)
        .send()
        .await
        .unwrap();
    let revoked_at = Instant::now();
    loop {
        match elsewhere.contacts_list().send().await {
            Ok(_) => assert!(
                revoked_at.elapsed() < ttl + Duration::from_secs(1),
                "still accepted after the cache lifetime"
            ),
            Err(err) => {
                assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
