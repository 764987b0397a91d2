//! Credential lookups that run before the tenant is known, through a SECURITY DEFINER
//! function (the runtime role cannot read keys or tokens without a tenant), the record of
//! their use, written afterwards in each credential's tenant, and the notification that
//! credentials changed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::TenantTx;
use super::{autocommit, query, query_as, query_scalar};
use crate::domain::credential::Kind;
use crate::error::AppResult;

#[derive(Debug, sqlx::FromRow)]
pub struct StoredCredential {
    pub credential_id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Option<Uuid>,
    pub user_role: Option<String>,
    pub user_active: bool,
    pub secret_hash: Vec<u8>,
    /// As stored on the key or token; never `None` since 20261202000001, and `None`
    /// would grant nothing.
    pub scopes: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The secret a rotation replaced, honoured until `previous_secret_expires_at`
    /// (API keys only).
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

pub async fn find_credential(
    pool: &PgPool,
    kind: Kind,
    public_id: &str,
) -> AppResult<Option<StoredCredential>> {
    Ok(query_as(
        "SELECT credential_id, tenant_id, user_id, user_role, user_active, secret_hash, \
                scopes, expires_at, revoked_at, previous_secret_hash, \
                previous_secret_expires_at \
           FROM auth_lookup_credential_rotating($1, $2)",
    )
    .bind(kind.as_str())
    .bind(public_id)
    .fetch_optional(autocommit(pool))
    .await?)
}

/// One credential's use, to record.
#[derive(Debug, Clone, Copy)]
pub struct Used {
    pub kind: Kind,
    pub credential_id: Uuid,
    pub at: DateTime<Utc>,
}

/// Records when `tenant`'s credentials were last used: one statement in the tenant's own
/// transaction, so row-level security keeps it to that tenant's keys and tokens. A
/// credential's `last_used_at` moves only forward, and only by more than `precision`:
/// another instance that wrote it within that span already said as much (see
/// `Authenticator::flush_usage`). Returns how many credentials were written.
pub async fn touch(
    pool: &PgPool,
    tenant: Uuid,
    batch: &[Used],
    precision: Duration,
) -> AppResult<u64> {
    let kinds: Vec<&str> = batch.iter().map(|u| u.kind.as_str()).collect();
    let ids: Vec<Uuid> = batch.iter().map(|u| u.credential_id).collect();
    let at: Vec<DateTime<Utc>> = batch.iter().map(|u| u.at).collect();
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let written: i64 = query_scalar(
        "WITH used AS (SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[]) \
                        AS u (kind, id, used_at)), \
              keys AS (UPDATE api_keys k SET last_used_at = u.used_at FROM used u \
                        WHERE u.kind = 'api_key' AND k.id = u.id \
                          AND (k.last_used_at IS NULL \
                               OR k.last_used_at < u.used_at - make_interval(secs => $4)) \
                       RETURNING 1), \
              tokens AS (UPDATE session_tokens t SET last_used_at = u.used_at FROM used u \
                          WHERE u.kind = 'session_token' AND t.id = u.id \
                            AND (t.last_used_at IS NULL \
                                 OR t.last_used_at < u.used_at - make_interval(secs => $4)) \
                         RETURNING 1) \
         SELECT (SELECT count(*) FROM keys) + (SELECT count(*) FROM tokens)",
    )
    .bind(&kinds)
    .bind(&ids)
    .bind(&at)
    .bind(precision.as_secs_f64())
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(u64::try_from(written).unwrap_or(0))
}

/// The channel on which every instance hears that credentials changed (see
/// [`crate::auth::broadcast`]).
pub const CHANGES_CHANNEL: &str = "momentum_credentials";

/// Tells every instance, when `tx` commits (PostgreSQL delivers notifications only then,
/// and never for a transaction rolled back), that what a credential may do has changed.
pub async fn announce_change(tx: &mut TenantTx) -> AppResult<()> {
    query("SELECT pg_notify($1, '')")
        .bind(CHANGES_CHANNEL)
        .execute(tx.conn())
        .await?;
    Ok(())
}
