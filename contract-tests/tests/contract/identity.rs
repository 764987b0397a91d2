//! Identity and access: scopes, API keys, users, QR-code device login, session tokens
//! and the audit log.

use std::time::{Duration, Instant};

use futures::StreamExt;
use momentum_contract_tests::{captured_logs, TestApp, TEST_QR_SESSION_TTL_SECS};
use momentum_sdk::patch::UserPatch;
use momentum_sdk::types;
use momentum_sdk::Client;
use uuid::Uuid;

use crate::{api_error, Refused, ANY_CODE};

/// Creates a key with `scopes` through the owner's client; returns (key, secret).
async fn key(
    app: &TestApp,
    scopes: &[&str],
    body: Option<types::ApiKeyCreate>,
) -> (types::ApiKey, String) {
    let body = body.unwrap_or(types::ApiKeyCreate {
        name: "test key".parse().unwrap(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        expires_at: None,
        service: None,
        user_id: None,
    });
    let created = app
        .client
        .api_keys_create()
        .body(body)
        .send()
        .await
        .expect("create a key")
        .into_inner()
        .data;
    (created.api_key, created.secret)
}

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
        serde_json::from_str(include_str!("../../../openapi/openapi.json")).unwrap();
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
async fn admins_manage_users_and_the_last_owner_stays() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let owner = c.users_list().send().await.unwrap().into_inner().data[0].clone();

    let created = c
        .users_create()
        .body(types::UserCreate {
            email: "mia@a.example".into(),
            name: Some("Mia".parse().unwrap()),
            role: Some(types::UserRole::Admin),
        })
        .send()
        .await
        .expect("create a user");
    assert_eq!(created.status().as_u16(), 201);
    let mia = created.into_inner().data;
    assert_eq!((mia.role.as_str(), mia.active), ("admin", true));
    c.users_create()
        .body(types::UserCreate {
            email: "MIA@a.example".into(),
            name: None,
            role: None,
        })
        .send()
        .await
        .refused_as("emails are unique per tenant", 409, ANY_CODE);

    // Mia's own key acts with an admin's powers, but an admin cannot make owners.
    let (_, mia_secret) = key(
        &app,
        &[],
        Some(types::ApiKeyCreate {
            name: "mia".parse().unwrap(),
            scopes: vec!["*".into()],
            expires_at: None,
            service: None,
            user_id: Some(mia.id),
        }),
    )
    .await;
    let as_mia = app.client_with_key(&mia_secret);
    as_mia
        .users_update()
        .id(mia.id)
        .body(UserPatch {
            name: None,
            role: Some(types::UserRole::Owner),
        })
        .send()
        .await
        .refused(403, ANY_CODE);

    let (status, err) = api_error(
        c.users_update()
            .id(owner.id)
            .body(UserPatch {
                name: None,
                role: Some(types::UserRole::Member),
            })
            .send()
            .await,
    );
    let rule = |err: &types::ErrorEnvelope| {
        let detail = &err.error.details[0];
        (detail.field.clone(), detail.code.clone())
    };
    assert_eq!(
        (status, err.error.code.as_str()),
        (409, "conflict"),
        "last owner demoted"
    );
    assert_eq!(rule(&err), ("role".into(), "last_owner".into()));
    let err = c.users_deactivate().id(owner.id).send().await.refused_as(
        "last owner deactivated",
        409,
        "conflict",
    );
    assert_eq!(rule(&err), ("role".into(), "last_owner".into()));

    let renamed = c
        .users_update()
        .id(mia.id)
        .body(UserPatch {
            name: Some("Mia R.".into()),
            role: Some(types::UserRole::Member),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        (renamed.name.as_str(), renamed.role.as_str()),
        ("Mia R.", "member")
    );
    as_mia.api_keys_list().send().await.refused_as(
        "a member's key loses admin with the role",
        403,
        ANY_CODE,
    );

    let gone = c
        .users_deactivate()
        .id(mia.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(!gone.active && gone.deactivated_at.is_some());
    as_mia.contacts_list().send().await.refused_as(
        "a deactivated user's keys stop working",
        401,
        ANY_CODE,
    );

    let actions: Vec<String> = c
        .audit_events_list()
        .target_id(mia.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["user.created", "user.updated", "user.deactivated"]
    );

    let (_, b) = app.other_tenant().await;
    b.users_deactivate()
        .id(mia.id)
        .send()
        .await
        .refused(404, ANY_CODE);
}

#[tokio::test]
async fn an_owner_can_go_while_another_stays_and_a_service_key_touches_no_owner() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let first = c.users_list().send().await.unwrap().into_inner().data[0].clone();
    let bob = c
        .users_create()
        .body(types::UserCreate {
            email: "bob@a.example".into(),
            name: None,
            role: Some(types::UserRole::Owner),
        })
        .send()
        .await
        .expect("an owner makes an owner")
        .into_inner()
        .data;
    let as_key = |user_id, service| types::ApiKeyCreate {
        name: "k".parse().unwrap(),
        scopes: vec!["*".into()],
        expires_at: None,
        service,
        user_id,
    };
    let (_, bob_secret) = key(&app, &[], Some(as_key(Some(bob.id), None))).await;
    let (service, service_secret) = key(&app, &[], Some(as_key(None, Some(true)))).await;
    assert_eq!(service.user_id, None);
    let as_bob = app.client_with_key(&bob_secret);
    let as_service = app.client_with_key(&service_secret);

    // A service key holds every scope but is no owner: owners are not its to unmake.
    as_service
        .users_deactivate()
        .id(bob.id)
        .send()
        .await
        .refused(403, "forbidden");

    // Two active owners: either may go, the first one included.
    let gone = as_bob.users_deactivate().id(first.id).send().await;
    assert!(!gone.unwrap().into_inner().data.active);
    // Bob is now the last active owner, whoever asks.
    as_bob
        .users_deactivate()
        .id(bob.id)
        .send()
        .await
        .refused(409, "conflict");
    as_bob
        .users_update()
        .id(bob.id)
        .body(UserPatch {
            name: None,
            role: Some(types::UserRole::Admin),
        })
        .send()
        .await
        .refused(409, ANY_CODE);
    // The service key outlives the owner who made it.
    let listed = as_service.users_list().send().await;
    assert_eq!(listed.unwrap().status().as_u16(), 200);
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

async fn bytes(resp: momentum_sdk::ResponseValue<momentum_sdk::ByteStream>) -> Vec<u8> {
    let mut stream = resp.into_inner_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("read the body"));
    }
    out
}

async fn poll(
    device: &Client,
    id: Uuid,
    secret: &str,
    wait: u64,
) -> Result<types::QrSession, (u16, String)> {
    match device
        .auth_qr_sessions_get()
        .id(id)
        .x_poll_secret(secret)
        .wait(wait)
        .send()
        .await
    {
        Ok(resp) => Ok(resp.into_inner().data),
        Err(momentum_sdk::Error::ErrorResponse(resp)) => {
            Err((resp.status().as_u16(), resp.into_inner().error.code))
        }
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_device_logs_in_with_a_qr_code_once() {
    let app = TestApp::spawn().await;
    // The device has no credential at all.
    let device = Client::new(&app.base_url);
    let started = device
        .auth_qr_sessions_create()
        .send()
        .await
        .expect("start a QR login");
    assert_eq!(started.status().as_u16(), 201);
    let session = started.into_inner().data;
    assert_eq!(session.status, "pending");
    assert_eq!(
        session.qr_content,
        format!("momentum://qr-login?session={}", session.id)
    );

    let svg = device
        .auth_qr_sessions_svg()
        .id(session.id)
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = String::from_utf8(bytes(svg).await).unwrap();
    assert!(svg.contains("<svg"), "an SVG image");
    let png = device
        .auth_qr_sessions_png()
        .id(session.id)
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = bytes(png).await;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG image");

    assert_eq!(
        poll(&device, session.id, "wrong", 0).await.unwrap_err().0,
        401
    );
    device
        .auth_qr_sessions_exchange()
        .id(session.id)
        .x_poll_secret(session.poll_secret.clone())
        .send()
        .await
        .refused_as("not approved yet", 409, ANY_CODE);

    // The device long-polls while the user approves from their phone.
    let waiting = {
        let device = device.clone();
        let secret = session.poll_secret.clone();
        let id = session.id;
        tokio::spawn(async move {
            let asked = Instant::now();
            (poll(&device, id, &secret, 20).await, asked.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let owner = app
        .client
        .users_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data[0]
        .id;
    let approved = app
        .client
        .auth_qr_sessions_approve()
        .id(session.id)
        .send()
        .await
        .expect("approve")
        .into_inner()
        .data;
    assert_eq!(
        (approved.status.as_str(), approved.user_id),
        ("approved", Some(owner))
    );
    let (polled, waited) = waiting.await.unwrap();
    assert_eq!(polled.unwrap().status, "approved");
    assert!(
        waited < Duration::from_secs(5),
        "the long poll answered on approval ({waited:?})"
    );

    let issued = device
        .auth_qr_sessions_exchange()
        .id(session.id)
        .x_poll_secret(session.poll_secret.clone())
        .send()
        .await
        .expect("exchange")
        .into_inner()
        .data;
    assert!(issued.token.starts_with("mst_"));
    assert_eq!(issued.user_id, owner);
    let signed_in = app.client_with_key(&issued.token);
    assert!(
        signed_in.contacts_list().send().await.is_ok(),
        "the token acts as the user"
    );
    assert!(
        signed_in.api_keys_list().send().await.is_ok(),
        "with the owner's role"
    );

    device
        .auth_qr_sessions_exchange()
        .id(session.id)
        .x_poll_secret(session.poll_secret.clone())
        .send()
        .await
        .refused_as("exactly once", 409, ANY_CODE);
    assert_eq!(
        poll(&device, session.id, &session.poll_secret, 0)
            .await
            .unwrap()
            .status,
        "consumed"
    );

    let tokens = signed_in
        .session_tokens_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
        [issued.token_id]
    );
    let secret_part = issued.token.rsplit('_').next().unwrap().to_owned();
    let actions: Vec<String> = app
        .client
        .audit_events_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .into_iter()
        .map(|e| e.action)
        .collect();
    for action in [
        "qr_session.approved",
        "qr_session.exchanged",
        "session_token.created",
    ] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action} in {actions:?}"
        );
    }

    signed_in
        .session_tokens_revoke()
        .id(issued.token_id)
        .send()
        .await
        .unwrap();
    signed_in
        .contacts_list()
        .send()
        .await
        .refused_as("a revoked token is refused", 401, ANY_CODE);
    let logs = captured_logs();
    assert!(
        logs.contains(&format!("/v1/auth/qr-sessions/{}/exchange", session.id)),
        "the capture sees this test's requests"
    );
    assert!(!logs.contains(&secret_part), "no log line holds the token");
    assert!(
        !logs.contains(&session.poll_secret),
        "no log line holds the poll secret"
    );
}

#[tokio::test]
async fn an_expired_qr_session_can_be_neither_approved_nor_exchanged() {
    let app = TestApp::spawn().await;
    let device = Client::new(&app.base_url);
    let session = app.start_qr_login().await;
    tokio::time::sleep(Duration::from_secs(TEST_QR_SESSION_TTL_SECS) + Duration::from_millis(300))
        .await;
    assert_eq!(
        poll(&device, session.id, &session.poll_secret, 0)
            .await
            .unwrap()
            .status,
        "expired"
    );
    app.client
        .auth_qr_sessions_approve()
        .id(session.id)
        .send()
        .await
        .refused(409, ANY_CODE);
    device
        .auth_qr_sessions_exchange()
        .id(session.id)
        .x_poll_secret(session.poll_secret.clone())
        .send()
        .await
        .refused(409, ANY_CODE);
    match device.auth_qr_sessions_svg().id(session.id).send().await {
        Err(momentum_sdk::Error::ErrorResponse(resp)) => {
            assert_eq!(resp.status().as_u16(), 409, "an expired code is not shown")
        }
        _ => panic!("an expired session's code was served"),
    }
    device
        .auth_qr_sessions_get()
        .id(Uuid::new_v4())
        .x_poll_secret("x")
        .send()
        .await
        .refused(404, ANY_CODE);
}

#[tokio::test]
async fn a_service_key_cannot_approve_a_login_and_others_tokens_stay_hidden() {
    let app = TestApp::spawn().await;
    let (_, service) = key(
        &app,
        &[],
        Some(types::ApiKeyCreate {
            name: "service".parse().unwrap(),
            scopes: vec!["contacts:read".into()],
            expires_at: None,
            service: Some(true),
            user_id: None,
        }),
    )
    .await;
    let device = Client::new(&app.base_url);
    let session = app.start_qr_login().await;
    app.client_with_key(&service)
        .auth_qr_sessions_approve()
        .id(session.id)
        .send()
        .await
        .refused(403, ANY_CODE);
    let (_, b) = app.other_tenant().await;
    b.auth_qr_sessions_approve()
        .id(session.id)
        .send()
        .await
        .unwrap();
    let issued = device
        .auth_qr_sessions_exchange()
        .id(session.id)
        .x_poll_secret(session.poll_secret)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_ne!(issued.tenant_id, app.tenant_id, "B's user signed in to B");
    app.client
        .session_tokens_revoke()
        .id(issued.token_id)
        .send()
        .await
        .refused_as("another tenant's token does not exist here", 404, ANY_CODE);
    let listed = app
        .client
        .session_tokens_list()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(listed.data.is_empty());
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

/// The tenant's audit events with `action` on `target`, oldest first.
async fn audit_data(app: &TestApp, action: &str, target: Uuid) -> Vec<types::AuditEvent> {
    app.client
        .audit_events_list()
        .action(action)
        .target_id(target)
        .send()
        .await
        .expect("read the audit log")
        .into_inner()
        .data
}

#[tokio::test]
async fn a_session_token_is_never_stronger_than_the_key_that_approved_it() {
    let app = TestApp::spawn().await;
    // The owner's own key, restricted to reading contacts.
    let (_, reader_secret) = key(&app, &["contacts:read"], None).await;
    let reader = app.client_with_key(&reader_secret);
    let device = Client::new(&app.base_url);
    let session = app.start_qr_login().await;
    reader
        .auth_qr_sessions_approve()
        .id(session.id)
        .send()
        .await
        .expect("any credential acting as a user approves");
    let issued = device
        .auth_qr_sessions_exchange()
        .id(session.id)
        .x_poll_secret(session.poll_secret.clone())
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let token = app.client_with_key(&issued.token);
    assert!(token.contacts_list().send().await.is_ok(), "what it had");

    token
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "escalate".parse().unwrap(),
            scopes: vec!["*".into()],
            expires_at: None,
            service: None,
            user_id: None,
        })
        .send()
        .await
        .refused_as("no key beyond the approving key's scopes", 403, "forbidden");
    token.users_list().send().await.refused_as(
        "users:read was not the approving key's",
        403,
        ANY_CODE,
    );
    token
        .contacts_create()
        .body(crate::person("Ann", "ann@a.example"))
        .send()
        .await
        .refused_as("contacts:write was not the approving key's", 403, ANY_CODE);

    // The scopes are shown wherever the token is, and recorded with the approval.
    assert_eq!(issued.scopes, ["contacts:read"]);
    let listed = token
        .session_tokens_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(listed[0].scopes, ["contacts:read"]);
    let approved = audit_data(&app, "qr_session.approved", session.id).await;
    assert_eq!(
        approved[0].data["scopes"],
        serde_json::json!(["contacts:read"])
    );
}

#[tokio::test]
async fn a_session_token_cannot_approve_another_login() {
    let app = TestApp::spawn().await;
    let issued = app.sign_in(&app.client).await;
    let token = app.client_with_key(&issued.token);
    let device = Client::new(&app.base_url);
    let session = app.start_qr_login().await;
    let err = token
        .auth_qr_sessions_approve()
        .id(session.id)
        .send()
        .await
        .refused(403, "forbidden");
    assert!(err.error.message.contains("session token"), "{err:?}");
    assert_eq!(
        poll(&device, session.id, &session.poll_secret, 0)
            .await
            .unwrap()
            .status,
        "pending",
        "the session was left as it was"
    );
}

/// Creates a user with `role` through the owner's client.
async fn user(app: &TestApp, email: &str, role: types::UserRole) -> types::User {
    app.client
        .users_create()
        .body(types::UserCreate {
            email: email.into(),
            name: None,
            role: Some(role),
        })
        .send()
        .await
        .expect("create a user")
        .into_inner()
        .data
}

/// A key body with every scope acting as `user_id` (or the caller, or no user).
fn every_scope(user_id: Option<Uuid>, service: Option<bool>) -> types::ApiKeyCreate {
    types::ApiKeyCreate {
        name: "k".parse().unwrap(),
        scopes: vec!["*".into()],
        expires_at: None,
        service,
        user_id,
    }
}

/// The field the first detail of a refusal names.
fn refused_field<T: std::fmt::Debug>(
    result: Result<momentum_sdk::ResponseValue<T>, momentum_sdk::Error<types::ErrorEnvelope>>,
) -> (u16, String, String) {
    let (status, err) = api_error(result);
    let field = err
        .error
        .details
        .first()
        .map(|d| d.field.clone())
        .unwrap_or_default();
    (status, err.error.code, field)
}

#[tokio::test]
async fn an_admin_cannot_act_on_an_owner() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let owner = c.users_list().send().await.unwrap().into_inner().data[0].clone();
    let owner_key = c
        .api_keys_list()
        .user_id(owner.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data[0]
        .id;
    let mia = user(&app, "mia@a.example", types::UserRole::Admin).await;
    let ned = user(&app, "ned@a.example", types::UserRole::Admin).await;
    let max = user(&app, "max@a.example", types::UserRole::Member).await;
    let (_, mia_secret) = key(&app, &[], Some(every_scope(Some(mia.id), None))).await;
    let as_mia = app.client_with_key(&mia_secret);
    let forbidden = |field: &str| (403, "forbidden".to_owned(), field.to_owned());

    // The reported escalation: a key acting as the owner, made by an admin.
    assert_eq!(
        refused_field(
            as_mia
                .api_keys_create()
                .body(every_scope(Some(owner.id), None))
                .send()
                .await
        ),
        forbidden("user_id")
    );
    // Not above her: herself, another admin, a member.
    for target in [mia.id, ned.id, max.id] {
        let made = as_mia
            .api_keys_create()
            .body(every_scope(Some(target), None))
            .send()
            .await;
        assert_eq!(made.unwrap().status().as_u16(), 201);
    }
    let made_for_max = c
        .api_keys_list()
        .user_id(max.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data[0]
        .id;
    let event = &audit_data(&app, "api_key.created", made_for_max).await[0];
    assert_eq!(event.actor_user_id, Some(mia.id), "the caller");
    assert_eq!(
        event.data["acts_as_user_id"],
        serde_json::json!(max.id),
        "and the user the key acts as"
    );

    // Every other operation on the owner.
    assert_eq!(
        refused_field(as_mia.api_keys_revoke().id(owner_key).send().await),
        forbidden("id")
    );
    assert_eq!(
        refused_field(
            as_mia
                .users_update()
                .id(owner.id)
                .body(UserPatch {
                    name: Some("Not the owner".into()),
                    role: None,
                })
                .send()
                .await
        ),
        forbidden("id")
    );
    assert_eq!(
        refused_field(as_mia.users_deactivate().id(owner.id).send().await),
        forbidden("id")
    );
    let owners_token = app.sign_in(c).await;
    assert_eq!(
        refused_field(
            as_mia
                .session_tokens_revoke()
                .id(owners_token.token_id)
                .send()
                .await
        ),
        forbidden("id")
    );
    // Nothing changed.
    let still = c
        .users_get()
        .id(owner.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!((still.data.name, still.data.active), (owner.name, true));
    assert!(app
        .client_with_key(&owners_token.token)
        .contacts_list()
        .send()
        .await
        .is_ok());

    // Equals and those below are hers to manage.
    let renamed = as_mia
        .users_update()
        .id(ned.id)
        .body(UserPatch {
            name: Some("Ned".into()),
            role: None,
        })
        .send()
        .await;
    assert_eq!(renamed.unwrap().status().as_u16(), 200);
    assert!(as_mia.users_deactivate().id(max.id).send().await.is_ok());

    // A service key ranks as an admin: owners are never its to act on.
    let (_, service_secret) = key(&app, &[], Some(every_scope(None, Some(true)))).await;
    let as_service = app.client_with_key(&service_secret);
    assert_eq!(
        refused_field(
            as_service
                .api_keys_create()
                .body(every_scope(Some(owner.id), None))
                .send()
                .await
        ),
        forbidden("user_id")
    );
    assert_eq!(
        refused_field(as_service.api_keys_revoke().id(owner_key).send().await),
        forbidden("id")
    );
    let for_ned = as_service
        .api_keys_create()
        .body(every_scope(Some(ned.id), None))
        .send()
        .await;
    assert_eq!(for_ned.unwrap().status().as_u16(), 201);

    // The owner acts on anyone, other owners included.
    let bob = user(&app, "bob@a.example", types::UserRole::Owner).await;
    let for_bob = c
        .api_keys_create()
        .body(every_scope(Some(bob.id), None))
        .send()
        .await;
    assert_eq!(for_bob.unwrap().status().as_u16(), 201);
}
