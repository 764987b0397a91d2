//! QR-code device login and session tokens: a login approved and exchanged once, expiry,
//! and a token never stronger than the key that approved it.

use std::time::{Duration, Instant};

use futures::StreamExt;
use momentum_contract_tests::{captured_logs, TestApp, TEST_QR_SESSION_TTL_SECS};
use momentum_sdk::types;
use momentum_sdk::Client;
use uuid::Uuid;

use crate::{Refused, ANY_CODE};

use super::{audit_data, key};

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
    let device = Client::builder(&app.base_url).build().expect("a client");
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
    let device = Client::builder(&app.base_url).build().expect("a client");
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
    device
        .auth_qr_sessions_svg()
        .id(session.id)
        .send()
        .await
        .map(|svg| svg.status())
        .refused_as("an expired code is not shown", 409, ANY_CODE);
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
    let device = Client::builder(&app.base_url).build().expect("a client");
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
async fn a_session_token_is_never_stronger_than_the_key_that_approved_it() {
    let app = TestApp::spawn().await;
    // The owner's own key, restricted to reading contacts.
    let (_, reader_secret) = key(&app, &["contacts:read"], None).await;
    let reader = app.client_with_key(&reader_secret);
    let device = Client::builder(&app.base_url).build().expect("a client");
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
    let device = Client::builder(&app.base_url).build().expect("a client");
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
