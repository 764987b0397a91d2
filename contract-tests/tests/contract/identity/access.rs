//! What a third party can be given (issue 24): the scopes split off `admin`, `GET
//! /v1/me`, narrowing and rotating a key, and reactivating a user.

use std::time::Duration;

use momentum_contract_tests::TestApp;
use momentum_sdk::types;
use momentum_sdk::Client;

use crate::{Refused, ANY_CODE};

use super::key;

/// A client holding only `scopes`, made by the owner.
async fn holding(app: &TestApp, scopes: &[&str]) -> Client {
    let (_, secret) = key(app, scopes, None).await;
    app.client_with_key(&secret)
}

/// A disabled endpoint's creation, by `client`.
fn hook(client: &Client) -> momentum_sdk::builder::WebhookEndpointsCreate<'_> {
    client
        .webhook_endpoints_create()
        .body(types::WebhookEndpointCreate {
            url: "http://127.0.0.1:9/hook".parse().unwrap(),
            description: None,
            event_types: vec![],
            enabled: Some(false),
            filters: vec![],
        })
}

/// The scope a 403 names.
fn names(err: &types::ErrorEnvelope, scope: &str) -> bool {
    err.error.message.contains(&format!("`{scope}`"))
}

#[tokio::test]
async fn custom_fields_read_reads_definitions_but_neither_records_nor_changes() {
    let app = TestApp::spawn().await;
    app.client
        .custom_fields_create()
        .body(crate::custom_fields::definition(
            "contact",
            "tier",
            types::CustomFieldType::Text,
        ))
        .send()
        .await
        .expect("define a custom field");
    let reader = holding(&app, &["custom_fields:read"]).await;
    let listed = reader
        .custom_fields_list()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.data.len(), 1);
    reader
        .custom_fields_get()
        .id(listed.data[0].id)
        .send()
        .await
        .expect("read one definition");
    let err = reader
        .contacts_list()
        .send()
        .await
        .refused(403, "forbidden");
    assert!(names(&err, "contacts:read"), "{err:?}");
    let err = reader
        .custom_fields_create()
        .body(crate::custom_fields::definition(
            "contact",
            "plan",
            types::CustomFieldType::Text,
        ))
        .send()
        .await
        .refused(403, "forbidden");
    assert!(
        names(&err, "admin"),
        "changing definitions stays `admin`: {err:?}"
    );
}

#[tokio::test]
async fn events_webhooks_and_audit_each_have_their_own_scope_and_admin_holds_them_all() {
    let app = TestApp::spawn().await;
    crate::create(&app.client, crate::person("Ann", "ann@a.example")).await;

    let events = holding(&app, &["events:read"]).await;
    let page = events.events_list().send().await.unwrap().into_inner();
    assert!(!page.data.is_empty(), "the contact's event");
    events
        .events_get()
        .id(page.data[0].id)
        .send()
        .await
        .expect("one event");
    let err = events
        .webhook_endpoints_list()
        .send()
        .await
        .refused(403, ANY_CODE);
    assert!(names(&err, "webhooks:read"), "{err:?}");

    let webhooks_writer = holding(&app, &["webhooks:write"]).await;
    let made = hook(&webhooks_writer)
        .send()
        .await
        .expect("create with webhooks:write");
    assert_eq!(made.status().as_u16(), 201);
    let endpoint = made.into_inner().data.id;
    let err = webhooks_writer
        .webhook_endpoints_list()
        .send()
        .await
        .refused(403, ANY_CODE);
    assert!(
        names(&err, "webhooks:read"),
        "writing is not reading: {err:?}"
    );
    let webhooks_reader = holding(&app, &["webhooks:read"]).await;
    webhooks_reader
        .webhook_endpoints_list()
        .send()
        .await
        .expect("list endpoints");
    webhooks_reader
        .webhook_deliveries_list()
        .id(endpoint)
        .send()
        .await
        .expect("list deliveries");
    let err = hook(&webhooks_reader).send().await.refused(403, ANY_CODE);
    assert!(names(&err, "webhooks:write"), "{err:?}");
    let err = webhooks_reader
        .events_list()
        .send()
        .await
        .refused(403, ANY_CODE);
    assert!(names(&err, "events:read"), "{err:?}");

    let auditor = holding(&app, &["audit:read"]).await;
    let log = auditor
        .audit_events_list()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(log.data.iter().any(|e| e.action == "api_key.created"));
    let err = auditor.api_keys_list().send().await.refused(403, ANY_CODE);
    assert!(names(&err, "admin"), "keys stay `admin`: {err:?}");

    // A key made with `admin` alone, as before these scopes existed, keeps everything.
    let admin = holding(&app, &["admin"]).await;
    admin.events_list().send().await.expect("events");
    admin
        .webhook_endpoints_list()
        .send()
        .await
        .expect("endpoints");
    admin.audit_events_list().send().await.expect("audit");
    admin
        .custom_fields_list()
        .send()
        .await
        .expect("definitions");
    hook(&admin).send().await.expect("create an endpoint");
    // And may grant them, as scopes it holds.
    admin
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "auditor".parse().unwrap(),
            scopes: vec!["audit:read".into(), "events:read".into()],
            expires_at: None,
            service: None,
            user_id: None,
        })
        .send()
        .await
        .expect("admin grants what it holds");
}

#[tokio::test]
async fn a_member_reads_definitions_but_not_events_and_search_needs_a_record_read_scope() {
    let app = TestApp::spawn().await;
    let reader = holding(&app, &["events:read"]).await;
    let err = reader
        .search()
        .q("ada")
        .send()
        .await
        .refused(403, "forbidden");
    assert!(names(&err, "contacts:read"), "{err:?}");
    let contacts = holding(&app, &["contacts:read"]).await;
    contacts
        .search()
        .q("ada")
        .send()
        .await
        .expect("one read scope is enough");

    let user = app
        .client
        .users_create()
        .body(types::UserCreate {
            email: "member@a.example".into(),
            name: None,
            role: Some(types::UserRole::Member),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let (_, member) = key(
        &app,
        &[],
        Some(types::ApiKeyCreate {
            name: "member".parse().unwrap(),
            scopes: vec!["*".into()],
            expires_at: None,
            service: None,
            user_id: Some(user.id),
        }),
    )
    .await;
    let member = app.client_with_key(&member);
    member
        .custom_fields_list()
        .send()
        .await
        .expect("a member reads definitions");
    let err = member.events_list().send().await.refused(403, ANY_CODE);
    assert!(names(&err, "events:read"), "{err:?}");
}

#[tokio::test]
async fn me_names_the_tenant_user_and_credential_and_its_standing_moves_with_requests() {
    let app = TestApp::spawn_with_limits("write=60/min").await;
    let (made, secret) = key(&app, &["contacts:read", "contacts:write"], None).await;
    let client = app.client_with_key(&secret);
    let me = client.me_get().send().await.unwrap().into_inner().data;
    assert_eq!(me.credential.kind, "api_key");
    assert_eq!(me.credential.id, made.id);
    assert_eq!(me.credential.name.as_deref(), Some("test key"));
    assert_eq!(me.credential.scopes, ["contacts:read", "contacts:write"]);
    assert_eq!(me.credential.expires_at, None);
    let owner = me.user.clone().expect("the key acts as the owner");
    assert_eq!(owner.role, "owner");
    assert!(!me.tenant.name.is_empty());
    let classes: Vec<&str> = me.rate_limits.iter().map(|r| r.class.as_str()).collect();
    assert_eq!(classes, ["auth", "read", "write", "admin", "webhook_test"]);
    let write = |me: &types::Me| {
        me.rate_limits
            .iter()
            .find(|r| r.class == "write")
            .cloned()
            .expect("the write class")
    };
    let before = write(&me);
    assert_eq!(
        (before.limit, before.remaining),
        (60, Some(60)),
        "nothing written yet"
    );

    crate::create(&client, crate::person("Ann", "ann@a.example")).await;
    crate::create(&client, crate::person("Bob", "bob@a.example")).await;
    let me = client.me_get().send().await.unwrap().into_inner().data;
    let after = write(&me);
    assert_eq!(
        after.remaining,
        Some(58),
        "two writes, and asking spent none"
    );
    assert!(after.reset.is_some_and(|r| r > 0));

    // A session token: its kind, its own id, and the scopes its approver held.
    let token = app.sign_in(&client).await;
    let me = app
        .client_with_key(&token.token)
        .me_get()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(me.credential.kind, "session_token");
    assert_eq!(me.credential.id, token.token_id);
    assert_eq!(me.credential.name, None);
    assert_eq!(
        me.credential.expires_at.map(|at| at.timestamp_micros()),
        Some(token.expires_at.timestamp_micros())
    );
    assert_eq!(me.credential.scopes, ["contacts:read", "contacts:write"]);
    Client::builder(&app.base_url)
        .build()
        .unwrap()
        .me_get()
        .send()
        .await
        .refused(401, "unauthorized");
}

#[tokio::test]
async fn a_key_is_narrowed_at_once_and_never_widened_or_given_a_longer_life() {
    let app = TestApp::spawn().await;
    let expiry = chrono::Utc::now() + chrono::Duration::days(30);
    let (made, secret) = key(
        &app,
        &[],
        Some(types::ApiKeyCreate {
            name: "integration".parse().unwrap(),
            scopes: vec!["contacts:read".into(), "contacts:write".into()],
            expires_at: Some(expiry),
            service: None,
            user_id: None,
        }),
    )
    .await;
    let client = app.client_with_key(&secret);
    crate::create(&client, crate::person("Ann", "ann@a.example")).await;

    let err = app
        .client
        .api_keys_update()
        .id(made.id)
        .body(types::ApiKeyUpdate {
            scopes: vec!["contacts:read".into(), "leads:read".into()],
            ..Default::default()
        })
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(err.error.details[0].field, "scopes[1]");
    assert_eq!(err.error.details[0].code, "widens");
    let err = app
        .client
        .api_keys_update()
        .id(made.id)
        .body(types::ApiKeyUpdate {
            expires_at: Some(expiry + chrono::Duration::days(1)),
            ..Default::default()
        })
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(err.error.details[0].field, "expires_at");

    let earlier = expiry - chrono::Duration::days(10);
    let updated = app
        .client
        .api_keys_update()
        .id(made.id)
        .body(types::ApiKeyUpdate {
            name: Some("read-only integration".into()),
            scopes: vec!["contacts:read".into()],
            expires_at: Some(earlier),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(updated.name, "read-only integration");
    assert_eq!(updated.scopes, ["contacts:read"]);
    assert_eq!(
        updated.expires_at.map(|at| at.timestamp()),
        Some(earlier.timestamp())
    );
    let err = client
        .contacts_create()
        .body(crate::person("Bob", "bob@a.example"))
        .send()
        .await
        .refused(403, "forbidden");
    assert!(names(&err, "contacts:write"), "narrowed at once: {err:?}");
    client.contacts_list().send().await.expect("still reads");

    let audit = app
        .client
        .audit_events_list()
        .send()
        .await
        .unwrap()
        .into_inner();
    let entry = audit
        .data
        .iter()
        .find(|e| e.action == "api_key.updated")
        .expect("audited");
    assert_eq!(entry.data["previous"]["name"], "integration");
}

#[tokio::test]
async fn a_rotated_keys_old_secret_works_for_the_overlap_and_is_refused_after() {
    let app = TestApp::spawn().await;
    let (made, old) = key(&app, &["contacts:read"], None).await;
    let old_client = app.client_with_key(&old);
    old_client.contacts_list().send().await.expect("before");

    let rotated = app
        .client
        .api_keys_rotate()
        .id(made.id)
        .body(types::ApiKeyRotate {
            overlap_seconds: Some(1),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_ne!(rotated.secret, old);
    assert_eq!(rotated.api_key.id, made.id);
    assert_eq!(rotated.api_key.prefix, made.prefix, "the same key");
    assert!(rotated.api_key.previous_secret_expires_at.is_some());
    let new_client = app.client_with_key(&rotated.secret);
    new_client
        .contacts_list()
        .send()
        .await
        .expect("the new secret");
    old_client
        .contacts_list()
        .send()
        .await
        .expect("the old secret inside the overlap");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    old_client
        .contacts_list()
        .send()
        .await
        .refused(401, "unauthorized");
    new_client
        .contacts_list()
        .send()
        .await
        .expect("the new secret still");

    let err = app
        .client
        .api_keys_rotate()
        .id(made.id)
        .body(types::ApiKeyRotate {
            overlap_seconds: Some(8 * 24 * 3600),
        })
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(err.error.details[0].field, "overlap_seconds");
    let audit = app
        .client
        .audit_events_list()
        .send()
        .await
        .unwrap()
        .into_inner();
    let entry = audit
        .data
        .iter()
        .find(|e| e.action == "api_key.rotated")
        .expect("audited");
    let recorded = serde_json::to_string(&entry.data).unwrap();
    assert!(
        !recorded.contains(&rotated.secret[3..]),
        "no secret in the log"
    );

    // A revoked key is neither rotated nor changed.
    app.client
        .api_keys_revoke()
        .id(made.id)
        .send()
        .await
        .unwrap();
    app.client
        .api_keys_rotate()
        .id(made.id)
        .body(types::ApiKeyRotate::default())
        .send()
        .await
        .refused(409, "conflict");
}

#[tokio::test]
async fn a_reactivated_user_gets_their_keys_back_and_it_is_audited() {
    let app = TestApp::spawn().await;
    let user = app
        .client
        .users_create()
        .body(types::UserCreate {
            email: "ann@a.example".into(),
            name: None,
            role: Some(types::UserRole::Member),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let (_, secret) = key(
        &app,
        &[],
        Some(types::ApiKeyCreate {
            name: "ann".parse().unwrap(),
            scopes: vec!["contacts:read".into()],
            expires_at: None,
            service: None,
            user_id: Some(user.id),
        }),
    )
    .await;
    let ann = app.client_with_key(&secret);
    app.client
        .users_deactivate()
        .id(user.id)
        .send()
        .await
        .unwrap();
    ann.contacts_list()
        .send()
        .await
        .refused(401, "unauthorized");

    let back = app
        .client
        .users_reactivate()
        .id(user.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(back.active);
    ann.contacts_list()
        .send()
        .await
        .expect("the key works again");
    let again = app
        .client
        .users_reactivate()
        .id(user.id)
        .send()
        .await
        .unwrap();
    assert!(
        again.into_inner().data.active,
        "reactivating an active user is a no-op"
    );

    let audit = app
        .client
        .audit_events_list()
        .send()
        .await
        .unwrap()
        .into_inner();
    let reactivations = audit
        .data
        .iter()
        .filter(|e| e.action == "user.reactivated")
        .count();
    assert_eq!(reactivations, 1, "recorded once");
    // Reactivating is administration.
    ann.users_reactivate()
        .id(user.id)
        .send()
        .await
        .refused(403, "forbidden");
}
