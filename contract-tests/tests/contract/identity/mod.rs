//! Identity and access: scopes and API keys (`keys`), users and their roles (`users`),
//! the scopes split off `admin`, `GET /v1/me`, key update and rotation (`access`),
//! QR-code device login and the session tokens it issues (`devices`), and the audit log
//! each of them writes to. The helpers they share are here.

use momentum_contract_tests::TestApp;
use momentum_sdk::types;
use uuid::Uuid;

mod access;
mod devices;
mod keys;
mod users;

/// Creates a key with `scopes` through the owner's client; returns (key, secret).
pub(crate) async fn key(
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
