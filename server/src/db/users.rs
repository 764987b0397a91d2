//! User queries (read-only here: users are provisioned with the tenant for now).

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{keyed, Page, SortKey, SortValue, ValueKind};
use super::TenantTx;
use crate::error::{AppError, AppResult};

const COLUMNS: &str = "id, email, name, role, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

keyed!(UserRow);

pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<UserRow> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    sqlx::query_as(&sql)
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
    let rows = sql.build_query_as().fetch_all(tx.conn()).await?;
    Ok(page.finish(rows))
}
