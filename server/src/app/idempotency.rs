//! What an `Idempotency-Key` keeps: the first completed answer to a key, per credential,
//! sealed, for a retry of the same request to receive again. `api::idempotency` reads
//! the headers, runs the request and replays the answer as a response; this module
//! decides what a key's state means for a request and owns the storing.
//!
//! Keys belong to the credential that sent them, not to the tenant: some answers carry a
//! secret shown once, and another credential of the tenant sending the same key must not
//! receive it. For the same reason every stored body is sealed under the operator's key
//! (`crate::crypto`), bound to the tenant, the credential and the key: the database
//! holds no answer in plaintext, and a sealed body moved to another row does not open.
//! Every body is sealed, not only the ones known to hold a secret, so an operation added
//! later that returns one is covered without anyone remembering to list it. A body that
//! no longer opens (the operator changed `MOMENTUM_SECRET_KEY`) is refused with
//! `IdempotencyAnswerUnavailable`: the request ran once, so running it again could do it
//! twice.

use std::time::Duration;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::Principal;
use crate::crypto::{OpenError, SecretKey};
pub use crate::db::idempotency::RUNNING_LEASE;
use crate::db::idempotency::{self as repo, Claim, KeyRow};
use crate::db::TenantTx;
use crate::error::AppError;
use crate::state::AppState;

/// How long answers are kept (the default of `MOMENTUM_IDEMPOTENCY_TTL_SECS`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// What a request may do with its key.
#[derive(Debug)]
pub enum Claimed {
    /// The key is this request's now: run it, then [`store`] its answer or [`release`]
    /// the key.
    Run(Held),
    /// The same request completed before: its answer, to give again.
    Replay(Answer),
}

/// A key held by a running request.
#[derive(Debug)]
pub struct Held {
    tenant_id: Uuid,
    credential_id: Uuid,
    key: String,
}

/// A stored answer, opened: its status, the headers that are part of it, its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `None` when the stored status is not one HTTP has.
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Claims `key` of the caller's credential for a request with `fingerprint` (what
/// identifies the request: its method, target and body). The same key with another
/// request is `IdempotencyKeyReused`; with this one while it still runs,
/// `IdempotencyKeyInUse`.
pub async fn claim(
    state: &AppState,
    actor: &Principal,
    key: &str,
    fingerprint: &[u8],
    lease: std::time::Duration,
) -> Result<Claimed, AppError> {
    let (tenant_id, credential_id) = (actor.tenant_id, actor.credential_id);
    let mut tx = TenantTx::begin(&state.pool, tenant_id).await?;
    let claim = repo::claim(
        &mut tx,
        credential_id,
        key,
        fingerprint,
        state.idempotency_ttl,
        lease,
    )
    .await?;
    tx.commit().await?;
    let held = Held {
        tenant_id,
        credential_id,
        key: key.to_owned(),
    };
    let claimed = match claim {
        Claim::Run => Ok(Claimed::Run(held)),
        Claim::Existing(row) if row.fingerprint != fingerprint => {
            Err(AppError::IdempotencyKeyReused)
        }
        Claim::Existing(row) if row.status != "completed" => Err(AppError::IdempotencyKeyInUse),
        Claim::Existing(row) => {
            open(row, &state.secret_key, &held.sealed_to()).map(Claimed::Replay)
        }
    };
    match &claimed {
        Ok(Claimed::Replay(_)) => state.metrics.idempotency_replay(),
        Err(AppError::IdempotencyKeyReused | AppError::IdempotencyKeyInUse) => {
            state.metrics.idempotency_conflict();
        }
        _ => {}
    }
    claimed
}

/// Keeps the answer of the request that holds the key for its retries: its `status`,
/// the `headers` that are part of it, and its `body`, sealed.
pub async fn store(
    state: &AppState,
    held: &Held,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, held.tenant_id).await?;
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let sealed = state.secret_key.seal_bytes(body, &held.sealed_to());
    repo::complete(
        &mut tx,
        held.credential_id,
        &held.key,
        status,
        &Value::Object(headers),
        &sealed,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lets the key go without an answer, so a retry runs the request again.
pub async fn release(state: &AppState, held: &Held) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, held.tenant_id).await?;
    repo::release(&mut tx, held.credential_id, &held.key).await?;
    tx.commit().await?;
    Ok(())
}

impl Held {
    /// What its answer is sealed to (see [`context`]).
    fn sealed_to(&self) -> String {
        context(self.tenant_id, self.credential_id, &self.key)
    }
}

/// What a stored body is sealed to: its tenant, credential and key, so it opens only in
/// its own row. The key comes last: the ids are of fixed length, so the string is
/// unambiguous whatever the key holds.
fn context(tenant: Uuid, credential: Uuid, key: &str) -> String {
    format!("idempotency_keys.sealed_body:{tenant}:{credential}:{key}")
}

/// The stored answer, its body opened. A body that does not open is never given as it
/// is nor replaced by a new run of the request: the client is told.
fn open(row: KeyRow, key: &SecretKey, context: &str) -> Result<Answer, AppError> {
    let body = row
        .sealed_body
        .as_deref()
        .ok_or(OpenError::Damaged)
        .and_then(|sealed| key.open_bytes(sealed, context))
        .map_err(|err| {
            // The operator's log names the key ids; the client's answer names nothing.
            tracing::warn!(error = %err, "cannot open a stored idempotent answer");
            AppError::IdempotencyAnswerUnavailable
        })?;
    let status = row.response_status.and_then(|s| u16::try_from(s).ok());
    let headers = match row.response_headers {
        Some(Value::Object(headers)) => headers
            .into_iter()
            .filter_map(|(name, value)| Some((name, value.as_str()?.to_owned())))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sealed_body: Option<String>) -> KeyRow {
        KeyRow {
            fingerprint: vec![0; 32],
            status: "completed".into(),
            running_expired: false,
            expired: false,
            response_status: Some(201),
            response_headers: Some(serde_json::json!({"location": "/v1/api-keys/1"})),
            sealed_body,
        }
    }

    #[test]
    fn a_stored_answer_opens_only_in_its_own_row_and_with_its_own_key() {
        let key = SecretKey::generate();
        let (tenant, credential, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let ours = context(tenant, credential, "k");
        let body = br#"{"data":{"secret":"mk_x_y"}}"#;
        let sealed = key.seal_bytes(body, &ours);
        let answer = open(row(Some(sealed.clone())), &key, &ours).unwrap();
        assert_eq!(answer.status, Some(201));
        assert_eq!(
            answer.headers,
            [("location".to_owned(), "/v1/api-keys/1".to_owned())]
        );
        assert_eq!(answer.body, body);
        // Another credential's, another tenant's or another key's row; another
        // operator key; a row without a body: refused with the documented error.
        for (with, context) in [
            (&key, context(tenant, other, "k")),
            (&key, context(other, credential, "k")),
            (&key, context(tenant, credential, "k2")),
            (&SecretKey::generate(), ours.clone()),
        ] {
            let err = open(row(Some(sealed.clone())), with, &context).unwrap_err();
            assert!(
                matches!(err, AppError::IdempotencyAnswerUnavailable),
                "{err}"
            );
        }
        assert!(open(row(None), &key, &ours).is_err());
    }
}
