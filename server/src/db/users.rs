//! User queries. A tenant always keeps an active owner: demoting or deactivating the
//! last one is refused, under a lock on the owners so two concurrent requests cannot
//! each remove "the other" owner.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{keyed, Page, SortKey, SortValue, ValueKind};
use super::record::{self, Table};
use super::{prepared_statements, query_as, query_scalar};
use super::{violations, TenantTx};
use crate::domain::FieldError;
use crate::error::{AppError, AppResult};

const COLUMNS: &str = "id, email, name, role, deactivated_at, created_at, updated_at";
const EMAIL_KEY: &str = "users_tenant_email_key";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

keyed!(UserRow);

impl Table for UserRow {
    const TABLE: &'static str = "users";
    const COLUMNS: &'static str = COLUMNS;
    const NOUN: &'static str = "user";
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<UserRow> {
    record::get(tx, id).await
}

fn email_taken(err: sqlx::Error) -> AppError {
    if violations::broke(&err, EMAIL_KEY) {
        AppError::Conflict {
            message: "a user with this email already exists".into(),
            details: vec![FieldError::new(
                "email",
                "taken",
                "is already used by another user of the tenant",
            )],
        }
    } else {
        err.into()
    }
}

pub async fn insert(tx: &mut TenantTx, email: &str, name: &str, role: &str) -> AppResult<UserRow> {
    let sql = format!(
        "INSERT INTO users (id, tenant_id, email, name, role) VALUES ($1, $2, $3, $4, $5) \
         RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(tx.tenant_id())
        .bind(email)
        .bind(name)
        .bind(role)
        .fetch_one(tx.conn())
        .await
        .map_err(email_taken)
}

/// Locks the tenant's active owners and returns their ids: call before anything that
/// could remove an owner.
pub async fn lock_owners(tx: &mut TenantTx) -> AppResult<Vec<Uuid>> {
    Ok(query_scalar(
        "SELECT id FROM users WHERE role = 'owner' AND deactivated_at IS NULL \
         ORDER BY id FOR UPDATE",
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Locks the row so a concurrent change cannot interleave between read and write.
pub async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> AppResult<UserRow> {
    record::lock(tx, id).await
}

pub async fn update(tx: &mut TenantTx, id: Uuid, name: &str, role: &str) -> AppResult<UserRow> {
    let sql = format!(
        "UPDATE users SET name = $2, role = $3, updated_at = now() WHERE id = $1 \
         RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .bind(name)
        .bind(role)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("user"))
}

/// Reactivates a user: their credentials that are neither revoked nor expired work again.
pub async fn reactivate(tx: &mut TenantTx, id: Uuid) -> AppResult<UserRow> {
    let sql = format!(
        "UPDATE users SET deactivated_at = NULL, updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("user"))
}

/// Deactivates a user (kept for their records; their credentials stop working).
pub async fn deactivate(tx: &mut TenantTx, id: Uuid) -> AppResult<UserRow> {
    let sql = format!(
        "UPDATE users SET deactivated_at = coalesce(deactivated_at, now()), updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("user"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    CreatedAt,
    UpdatedAt,
}

impl SortKey for UserSort {
    type Row = UserRow;
    const ALL: &'static [Self] = &[Self::CreatedAt, Self::UpdatedAt];

    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
        }
    }

    fn expr(self) -> &'static str {
        self.name()
    }

    fn kind(self) -> ValueKind {
        ValueKind::Time
    }

    fn value_of(self, row: &UserRow) -> SortValue {
        SortValue::Time(match self {
            Self::CreatedAt => row.created_at,
            Self::UpdatedAt => row.updated_at,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Option<String>,
    pub email: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
}

pub async fn list(
    tx: &mut TenantTx,
    filter: &UserFilter,
    page: &Page<UserSort>,
) -> AppResult<(Vec<UserRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM users WHERE true"));
    if let Some(role) = &filter.role {
        sql.push(" AND role = ").push_bind(role.clone());
    }
    if let Some(email) = &filter.email {
        sql.push(" AND lower(email) = lower(")
            .push_bind(email.clone())
            .push(")");
    }
    if let Some(after) = filter.updated_after {
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
