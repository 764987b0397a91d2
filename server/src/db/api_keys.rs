//! API keys of the tenant: created (as a hash), listed and revoked through the API.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{creation_order, keyed, Page};
use super::record::{self, Table};
use super::TenantTx;
use super::{prepared_statements, query_as};
use crate::domain::credential::NewApiKey;
use crate::error::AppResult;

const COLUMNS: &str = "id, public_id, name, scopes, user_id, created_at, updated_at, \
                       last_used_at, expires_at, revoked_at, previous_secret_expires_at";

/// A key as listed: never its secret or the secret's hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub public_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Until when the secret replaced by the last rotation still works.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

keyed!(ApiKeyRow);

pub struct NewKeyRow<'a> {
    pub key: &'a NewApiKey,
    pub name: &'a str,
    pub scopes: &'a [String],
    pub user_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(tx: &mut TenantTx, new: &NewKeyRow<'_>) -> AppResult<ApiKeyRow> {
    let sql = format!(
        "INSERT INTO api_keys (id, tenant_id, user_id, public_id, secret_hash, name, scopes, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    );
    Ok(query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(tx.tenant_id())
        .bind(new.user_id)
        .bind(&new.key.public_id)
        .bind(&new.key.secret_hash[..])
        .bind(new.name)
        .bind(new.scopes)
        .bind(new.expires_at)
        .fetch_one(tx.conn())
        .await?)
}

impl Table for ApiKeyRow {
    const TABLE: &'static str = "api_keys";
    const COLUMNS: &'static str = COLUMNS;
    const NOUN: &'static str = "API key";
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<ApiKeyRow> {
    record::get(tx, id).await
}

/// Locks the key `id` for a change.
pub async fn lock(tx: &mut TenantTx, id: Uuid) -> AppResult<ApiKeyRow> {
    record::lock(tx, id).await
}

/// Sets a key's name, scopes and expiry.
pub async fn update(
    tx: &mut TenantTx,
    id: Uuid,
    name: &str,
    scopes: &[String],
    expires_at: Option<DateTime<Utc>>,
) -> AppResult<ApiKeyRow> {
    let sql = format!(
        "UPDATE api_keys SET name = $2, scopes = $3, expires_at = $4, updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    Ok(query_as(&sql)
        .bind(id)
        .bind(name)
        .bind(scopes)
        .bind(expires_at)
        .fetch_one(tx.conn())
        .await?)
}

/// Gives a key the secret hashed as `secret_hash`, keeping the one it replaces working
/// until `overlap_until` (a second rotation inside an overlap ends the first one's).
pub async fn rotate(
    tx: &mut TenantTx,
    id: Uuid,
    secret_hash: &[u8],
    overlap_until: DateTime<Utc>,
) -> AppResult<ApiKeyRow> {
    let sql = format!(
        "UPDATE api_keys SET previous_secret_hash = secret_hash, secret_hash = $2, \
                previous_secret_expires_at = $3, updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    Ok(query_as(&sql)
        .bind(id)
        .bind(secret_hash)
        .bind(overlap_until)
        .fetch_one(tx.conn())
        .await?)
}

/// Revokes a key (revoking a revoked key keeps its first revocation time). Returns the
/// key and whether this call revoked it.
pub async fn revoke(tx: &mut TenantTx, id: Uuid) -> AppResult<(ApiKeyRow, bool)> {
    let sql = format!(
        "UPDATE api_keys SET revoked_at = now(), updated_at = now() WHERE id = $1 AND revoked_at IS NULL \
         RETURNING {COLUMNS}"
    );
    let revoked: Option<ApiKeyRow> = query_as(&sql).bind(id).fetch_optional(tx.conn()).await?;
    match revoked {
        Some(row) => Ok((row, true)),
        None => Ok((get(tx, id).await?, false)),
    }
}

creation_order!(ApiKeySort, ApiKeyRow);

pub async fn list(
    tx: &mut TenantTx,
    user_id: Option<Uuid>,
    updated_after: Option<DateTime<Utc>>,
    page: &Page<ApiKeySort>,
) -> AppResult<(Vec<ApiKeyRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM api_keys WHERE true"));
    if let Some(user_id) = user_id {
        sql.push(" AND user_id = ").push_bind(user_id);
    }
    if let Some(after) = updated_after {
        sql.push(" AND updated_at > ").push_bind(after);
    }
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}
