//! Credential lookups that run before the tenant is known.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::AppResult;

#[derive(Debug, sqlx::FromRow)]
pub struct StoredApiKey {
    pub key_id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Option<Uuid>,
    pub secret_hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Finds a key by its public id through the SECURITY DEFINER function (the runtime role
/// cannot read api_keys without a tenant).
pub async fn find_api_key(pool: &PgPool, public_id: &str) -> AppResult<Option<StoredApiKey>> {
    Ok(sqlx::query_as(
        "SELECT key_id, tenant_id, user_id, secret_hash, scopes, expires_at, revoked_at \
           FROM auth_lookup_api_key($1)",
    )
    .bind(public_id)
    .fetch_optional(pool)
    .await?)
}
