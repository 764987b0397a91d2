//! QR-code login sessions and the session tokens they issue. Sessions exist before any
//! tenant does, so they are reached only through SECURITY DEFINER functions; tokens are
//! tenant rows like any other once issued.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{creation_order, keyed, Page};
use super::record::{self, Table};
use super::TenantTx;
use super::{autocommit, prepared_statements, query, query_as, query_scalar};
use crate::domain::credential::NewApiKey;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QrSessionRow {
    /// `pending`, `approved`, `expired` or `consumed`.
    pub status: String,
    pub poll_secret_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub tenant_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
}

pub async fn create(
    pool: &PgPool,
    id: Uuid,
    poll_secret_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> AppResult<()> {
    query("SELECT qr_session_create($1, $2, $3)")
        .bind(id)
        .bind(poll_secret_hash)
        .bind(expires_at)
        .execute(autocommit(pool))
        .await?;
    Ok(())
}

pub async fn read(pool: &PgPool, id: Uuid) -> AppResult<QrSessionRow> {
    query_as(
        "SELECT status, poll_secret_hash, expires_at, tenant_id, user_id FROM qr_session_read($1)",
    )
    .bind(id)
    .fetch_optional(autocommit(pool))
    .await?
    .ok_or(AppError::NotFound("QR session"))
}

/// Binds a pending session to `user_id` of the transaction's tenant, with the `scopes` its
/// token will hold; returns the status the session then has.
pub async fn approve(
    tx: &mut TenantTx,
    id: Uuid,
    user_id: Uuid,
    scopes: &[String],
) -> AppResult<String> {
    let status: Option<String> = query_scalar("SELECT qr_session_approve($1, $2, $3)")
        .bind(id)
        .bind(user_id)
        .bind(scopes)
        .fetch_one(tx.conn())
        .await?;
    status.ok_or(AppError::NotFound("QR session"))
}

/// Who an exchanged session's token acts as, and the scopes it holds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Exchanged {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub scopes: Vec<String>,
}

/// Consumes an approved session and stores `token` for its user with the scopes of the
/// approval, exactly once. `None` when the session was not (or no longer) approved.
pub async fn exchange(
    pool: &PgPool,
    id: Uuid,
    token_id: Uuid,
    token: &NewApiKey,
    expires_at: DateTime<Utc>,
) -> AppResult<Option<Exchanged>> {
    Ok(
        query_as("SELECT tenant_id, user_id, scopes FROM qr_session_exchange($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(token_id)
            .bind(&token.public_id)
            .bind(&token.secret_hash[..])
            .bind(expires_at)
            .fetch_optional(autocommit(pool))
            .await?,
    )
}

const TOKEN_COLUMNS: &str = "id, user_id, public_id, scopes, qr_session_id, created_at, \
                             updated_at, expires_at, revoked_at, last_used_at";

/// A session token as listed: never its secret or the secret's hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionTokenRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub public_id: String,
    pub scopes: Vec<String>,
    pub qr_session_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

keyed!(SessionTokenRow);

impl Table for SessionTokenRow {
    const TABLE: &'static str = "session_tokens";
    const COLUMNS: &'static str = TOKEN_COLUMNS;
    const NOUN: &'static str = "session token";
}

pub async fn token(tx: &mut TenantTx, id: Uuid) -> AppResult<SessionTokenRow> {
    record::get(tx, id).await
}

/// Revokes a token; returns it and whether this call revoked it.
pub async fn revoke_token(tx: &mut TenantTx, id: Uuid) -> AppResult<(SessionTokenRow, bool)> {
    let sql = format!(
        "UPDATE session_tokens SET revoked_at = now(), updated_at = now() \
         WHERE id = $1 AND revoked_at IS NULL RETURNING {TOKEN_COLUMNS}"
    );
    let revoked: Option<SessionTokenRow> =
        query_as(&sql).bind(id).fetch_optional(tx.conn()).await?;
    match revoked {
        Some(row) => Ok((row, true)),
        None => Ok((token(tx, id).await?, false)),
    }
}

creation_order!(TokenSort, SessionTokenRow);

pub async fn list_tokens(
    tx: &mut TenantTx,
    user_id: Option<Uuid>,
    updated_after: Option<DateTime<Utc>>,
    page: &Page<TokenSort>,
) -> AppResult<(Vec<SessionTokenRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {TOKEN_COLUMNS} FROM session_tokens WHERE true"
    ));
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
