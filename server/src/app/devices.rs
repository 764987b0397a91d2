//! QR-code device login and the session tokens it issues.
//!
//! A new device starts a session (no credentials), shows its QR code and long-polls its
//! status with the session's poll secret. A signed-in user scans the code and approves
//! the session with an API key acting as them. The device then exchanges the approval,
//! once, for a short-lived session token that acts as that user with the scopes the
//! approving key held, bounded by the user's role: never more than the approver could do.
//! A session token cannot approve a login itself, or access would outlive the key that
//! approved the first one. Approving, exchanging and revoking are recorded in the audit
//! log; a revocation commits through `Authenticator::commit_change`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::time::Instant;
use uuid::Uuid;

use super::page::{listed, Listed, PageRequest};
use crate::auth::{Principal, Role, Scope};
use crate::db::qr as repo;
pub use crate::db::qr::{QrSessionRow, SessionTokenRow, TokenSort};
use crate::db::{audit, users, TenantTx};
use crate::domain::credential::{hash_secret, Kind, NewApiKey};
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;

/// The longest a status poll may wait for a change.
pub const MAX_WAIT_SECS: u64 = 30;
/// Sessions approved on another server are noticed within this time.
const RECHECK: Duration = Duration::from_secs(1);

/// What the session's QR code encodes: the app that scans it approves the session by id.
pub fn qr_content(id: Uuid) -> String {
    format!("momentum://qr-login?session={id}")
}

/// A session just started: what the device shows and keeps.
#[derive(Debug, Clone)]
pub struct Started {
    pub id: Uuid,
    /// The device's proof that it started the session; exists only here, stored hashed.
    pub poll_secret: String,
    pub expires_at: DateTime<Utc>,
}

/// A session token just issued, with its secret: the only time the secret exists
/// outside the client.
#[derive(Debug, Clone)]
pub struct Issued {
    /// `mst_<public id>_<secret>`.
    pub token: String,
    pub token_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub scopes: Vec<String>,
}

/// Starts a pending session that expires after the configured time.
pub async fn start(state: &AppState) -> Result<Started, AppError> {
    let id = Uuid::new_v4();
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let poll_secret = hex::encode(bytes);
    let ttl = chrono::Duration::from_std(state.identity.qr_session_ttl)
        .map_err(|err| AppError::Internal(err.into()))?;
    let expires_at = Utc::now() + ttl;
    repo::create(&state.pool, id, &hash_secret(&poll_secret), expires_at).await?;
    Ok(Started {
        id,
        poll_secret,
        expires_at,
    })
}

/// Refuses unless the session `id` is pending: only then is its code worth showing.
pub async fn pending(state: &AppState, id: Uuid) -> Result<(), AppError> {
    let row = repo::read(&state.pool, id).await?;
    if row.status == "pending" {
        Ok(())
    } else {
        Err(state_conflict(
            &row.status,
            "its code can no longer be used",
        ))
    }
}

/// The session `id`, to the holder of its poll secret: at once when it is no longer
/// pending, else as soon as it changes or `wait_secs` (at most [`MAX_WAIT_SECS`]) have
/// passed.
pub async fn poll(
    state: &AppState,
    id: Uuid,
    poll_secret: &str,
    wait_secs: u64,
) -> Result<QrSessionRow, AppError> {
    let deadline = Instant::now() + Duration::from_secs(wait_secs.min(MAX_WAIT_SECS));
    loop {
        // Registered before the read, so an approval between the two still wakes us.
        let changed = state.qr_events.notified();
        let row = read_with_secret(state, id, poll_secret).await?;
        let now = Instant::now();
        if row.status != "pending" || now >= deadline {
            return Ok(row);
        }
        let _ = tokio::time::timeout(RECHECK.min(deadline - now), changed).await;
    }
}

/// Binds the pending session `id` to the caller's user and tenant, with the scopes the
/// caller holds now. Only an API key acting as a user approves.
pub async fn approve(
    state: &AppState,
    caller: &Principal,
    id: Uuid,
) -> Result<QrSessionRow, AppError> {
    let Some(user_id) = caller.user_id else {
        return Err(AppError::Forbidden {
            message: "a service key acts as no user and cannot approve a login".into(),
            details: vec![],
        });
    };
    // A token approving logins would mint itself successors: access would outlive the
    // revocation of the key that approved the first login.
    if caller.kind == Kind::SessionToken {
        return Err(AppError::Forbidden {
            message: "a session token cannot approve a login: use an API key".into(),
            details: vec![],
        });
    }
    // What the caller holds now, not what it stores: the token must never outgrow it.
    let scopes: Vec<String> = caller.scopes.iter().map(|s| s.as_str().into()).collect();
    let mut tx = TenantTx::begin(&state.pool, caller.tenant_id).await?;
    let status = repo::approve(&mut tx, id, user_id, &scopes).await?;
    if status != "approved" {
        return Err(state_conflict(
            &status,
            "only a pending session can be approved",
        ));
    }
    audit::record(
        &mut tx,
        caller,
        "qr_session.approved",
        ("qr_session", id),
        json!({ "scopes": scopes }),
    )
    .await?;
    tx.commit().await?;
    state.qr_events.notify_waiters();
    repo::read(&state.pool, id).await
}

/// Exchanges the approved session `id`, to the holder of its poll secret and exactly
/// once, for a session token acting as the approving user.
pub async fn exchange(state: &AppState, id: Uuid, poll_secret: &str) -> Result<Issued, AppError> {
    let row = read_with_secret(state, id, poll_secret).await?;
    if row.status != "approved" {
        return Err(state_conflict(
            &row.status,
            "only an approved session can be exchanged",
        ));
    }
    let token = NewApiKey::generate_kind(Kind::SessionToken);
    let token_id = Uuid::now_v7();
    let ttl = chrono::Duration::from_std(state.identity.session_token_ttl)
        .map_err(|err| AppError::Internal(err.into()))?;
    let expires_at = Utc::now() + ttl;
    // Consumes the session only if it is still approved: of two racing exchanges,
    // one gets the token.
    let Some(issued) = repo::exchange(&state.pool, id, token_id, &token, expires_at).await? else {
        let now = repo::read(&state.pool, id).await?;
        return Err(state_conflict(
            &now.status,
            "only an approved session can be exchanged",
        ));
    };
    state.qr_events.notify_waiters();
    Ok(Issued {
        token: token.plaintext,
        token_id,
        expires_at,
        user_id: issued.user_id,
        tenant_id: issued.tenant_id,
        scopes: issued.scopes,
    })
}

/// One page of session tokens: the caller's own, or with `admin` every user's (only
/// `user_id`'s when given).
pub async fn list_tokens(
    state: &AppState,
    actor: &Principal,
    user_id: Option<Uuid>,
    updated_after: Option<DateTime<Utc>>,
    page: &PageRequest,
) -> Result<Listed<SessionTokenRow>, AppError> {
    let user = if actor.has(Scope::Admin) {
        user_id
    } else {
        Some(actor.user_id.ok_or_else(|| AppError::Forbidden {
            message: "a service key without `admin` has no session tokens to list".into(),
            details: vec![],
        })?)
    };
    let page = page.page(TokenSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list_tokens(&mut tx, user, updated_after, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// Revokes the session token `id`, by its user or an admin who does not rank below the
/// user; to anyone else it does not exist. Revoking a revoked token changes nothing and
/// records nothing.
pub async fn revoke_token(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<SessionTokenRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::token(&mut tx, id).await?;
    if !may_manage(actor, current.user_id) {
        return Err(AppError::NotFound("session token"));
    }
    let user = users::get(&mut tx, current.user_id).await?;
    actor.may_act_on(Some((user.id, Role::of_stored(&user.role))), "id")?;
    let (row, changed) = repo::revoke_token(&mut tx, id).await?;
    if changed {
        audit::record(
            &mut tx,
            actor,
            "session_token.revoked",
            ("session_token", id),
            json!({}),
        )
        .await?;
    }
    state.auth.commit_change(tx).await?;
    Ok(row)
}

/// Only the token's own user, or an admin, may see or revoke it.
fn may_manage(caller: &Principal, token_user: Uuid) -> bool {
    caller.has(Scope::Admin) || caller.user_id == Some(token_user)
}

/// One message for a wrong or missing poll secret.
fn bad_secret() -> AppError {
    AppError::Unauthorized("invalid poll secret for this QR session")
}

/// Reads the session and checks the poll secret in constant time.
async fn read_with_secret(
    state: &AppState,
    id: Uuid,
    secret: &str,
) -> Result<QrSessionRow, AppError> {
    let row = repo::read(&state.pool, id).await?;
    let matches: bool = hash_secret(secret).ct_eq(&row.poll_secret_hash[..]).into();
    if matches {
        Ok(row)
    } else {
        Err(bad_secret())
    }
}

fn state_conflict(status: &str, what: &str) -> AppError {
    AppError::Conflict {
        message: format!("the QR session is {status}: {what}"),
        details: vec![FieldError::new(
            "status",
            "invalid_state",
            status.to_owned(),
        )],
    }
}
