//! Stored answers of requests sent with an `Idempotency-Key`, per tenant and credential.
//! Bodies arrive here already sealed (`app::idempotency`); this module never sees them
//! in plaintext.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::periodic::{self, Job, Round};
use super::TenantTx;
use super::{autocommit, query, query_as, query_scalar};
use crate::error::AppResult;

/// How long a running request holds its key before a retry may take it over.
pub const RUNNING_LEASE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub fingerprint: Vec<u8>,
    pub status: String,
    pub running_expired: bool,
    pub expired: bool,
    pub response_status: Option<i32>,
    pub response_headers: Option<Value>,
    /// The answer's body, sealed (`crate::crypto`).
    pub sealed_body: Option<String>,
}

/// What the key says about a request.
#[derive(Debug)]
pub enum Claim {
    /// The key is this request's now: run it.
    Run,
    /// A request with this key already holds it.
    Existing(KeyRow),
}

/// Takes `credential`'s `key` for a request with `fingerprint`, unless an unexpired row
/// holds it. An expired row, or a running one whose server is presumed gone, is taken
/// over. Another credential's row with the same key is another key.
pub async fn claim(
    tx: &mut TenantTx,
    credential: Uuid,
    key: &str,
    fingerprint: &[u8],
    ttl: Duration,
    lease: Duration,
) -> AppResult<Claim> {
    let tenant = tx.tenant_id();
    let inserted = query(
        "INSERT INTO idempotency_keys (tenant_id, credential_id, key, fingerprint, status, \
         locked_until, expires_at) VALUES ($1, $2, $3, $4, 'running', \
         now() + make_interval(secs => $5), now() + make_interval(secs => $6)) \
         ON CONFLICT (tenant_id, credential_id, key) DO NOTHING",
    )
    .bind(tenant)
    .bind(credential)
    .bind(key)
    .bind(fingerprint)
    .bind(lease.as_secs_f64())
    .bind(ttl.as_secs_f64())
    .execute(tx.conn())
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Run);
    }
    let row: KeyRow = query_as(
        "SELECT fingerprint, status, coalesce(locked_until <= now(), false) AS running_expired, \
         response_status, response_headers, sealed_body, expires_at <= now() AS expired \
         FROM idempotency_keys WHERE tenant_id = $1 AND credential_id = $2 AND key = $3 \
         FOR UPDATE",
    )
    .bind(tenant)
    .bind(credential)
    .bind(key)
    .fetch_one(tx.conn())
    .await?;
    let abandoned =
        row.status == "running" && row.running_expired && row.fingerprint == fingerprint;
    if row.expired || abandoned {
        query(
            "UPDATE idempotency_keys SET fingerprint = $4, status = 'running', \
             locked_until = now() + make_interval(secs => $5), response_status = NULL, \
             response_headers = NULL, sealed_body = NULL, created_at = now(), \
             expires_at = now() + make_interval(secs => $6) \
             WHERE tenant_id = $1 AND credential_id = $2 AND key = $3",
        )
        .bind(tenant)
        .bind(credential)
        .bind(key)
        .bind(fingerprint)
        .bind(lease.as_secs_f64())
        .bind(ttl.as_secs_f64())
        .execute(tx.conn())
        .await?;
        return Ok(Claim::Run);
    }
    Ok(Claim::Existing(row))
}

/// Stores the answer to replay, its body sealed.
pub async fn complete(
    tx: &mut TenantTx,
    credential: Uuid,
    key: &str,
    status: u16,
    headers: &Value,
    sealed_body: &str,
) -> AppResult<()> {
    query(
        "UPDATE idempotency_keys SET status = 'completed', locked_until = NULL, \
         response_status = $4, response_headers = $5, sealed_body = $6 \
         WHERE tenant_id = $1 AND credential_id = $2 AND key = $3",
    )
    .bind(tx.tenant_id())
    .bind(credential)
    .bind(key)
    .bind(i32::from(status))
    .bind(headers)
    .bind(sealed_body)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Frees the key: the answer is not one to replay (a validation failure, a refusal that
/// may pass later, a server error), so a retry runs the request again.
pub async fn release(tx: &mut TenantTx, credential: Uuid, key: &str) -> AppResult<()> {
    query(
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND credential_id = $2 \
         AND key = $3 AND status = 'running'",
    )
    .bind(tx.tenant_id())
    .bind(credential)
    .bind(key)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Removes up to `limit` expired keys of any tenant.
pub async fn purge(pool: &PgPool, limit: i32) -> Result<i32, sqlx::Error> {
    query_scalar("SELECT idempotency_purge($1)")
        .bind(limit)
        .fetch_one(autocommit(pool))
        .await
}

/// How often expired keys are purged (across all processes: see [`purge_round`]).
pub const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// Keys one purge statement removes at most: no single statement runs long.
const PURGE_BATCH: i32 = 1000;

/// One process's turn at the purge of expired keys: every expired key, in batches, if
/// this process claims this interval's round; [`Round::Skipped`] if another process ran
/// it less than [`PURGE_INTERVAL`] ago ([`crate::db::periodic`]). `pool` must be the
/// worker's role.
pub async fn purge_round(pool: &PgPool) -> Result<Round, sqlx::Error> {
    periodic::run_once(pool, Job::IdempotencyPurge, PURGE_INTERVAL, || async {
        let mut total = 0u64;
        loop {
            let n = purge(pool, PURGE_BATCH).await?;
            total += u64::try_from(n).unwrap_or(0);
            if n < PURGE_BATCH {
                return Ok(total);
            }
        }
    })
    .await
}
