//! Credential lookups that run before the tenant is known, through SECURITY DEFINER
//! functions (the runtime role cannot read keys or tokens without a tenant).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::Kind;
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
}

pub async fn find_credential(
    pool: &PgPool,
    kind: Kind,
    public_id: &str,
) -> AppResult<Option<StoredCredential>> {
    Ok(sqlx::query_as(
        "SELECT credential_id, tenant_id, user_id, user_role, user_active, secret_hash, \
                scopes, expires_at, revoked_at \
           FROM auth_lookup_credential($1, $2)",
    )
    .bind(kind.as_str())
    .bind(public_id)
    .fetch_optional(pool)
    .await?)
}

/// Records when credentials were last used (one statement for the whole batch).
pub async fn touch(pool: &PgPool, batch: &[((Kind, Uuid), DateTime<Utc>)]) -> AppResult<()> {
    let kinds: Vec<&str> = batch.iter().map(|((kind, _), _)| kind.as_str()).collect();
    let ids: Vec<Uuid> = batch.iter().map(|((_, id), _)| *id).collect();
    let at: Vec<DateTime<Utc>> = batch.iter().map(|(_, at)| *at).collect();
    sqlx::query("SELECT auth_touch_credentials($1, $2, $3)")
        .bind(&kinds)
        .bind(&ids)
        .bind(&at)
        .execute(pool)
        .await?;
    Ok(())
}
