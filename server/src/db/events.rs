//! The outbox: every change the API makes, recorded in the transaction that made it, and
//! fanned out there to the deliveries of the endpoints that take it (`emit_event` in SQL).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{creation_order, keyed, Page};
use super::TenantTx;
use super::{prepared_statements, query_as, query_scalar};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: Uuid,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
    /// The fields the change touched (`*.updated`, `lead.stage_changed`); `None` otherwise.
    pub changed_fields: Option<Vec<String>>,
    /// Their values before the change, when `changed_fields` is set.
    pub previous: Option<Value>,
}

keyed!(EventRow);
creation_order!(EventSort, EventRow);

/// What an update changed: the names of the fields it touched and their prior values.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub changed_fields: Vec<String>,
    /// An object keyed by exactly `changed_fields`.
    pub previous: Value,
}

/// Records an event in the caller's transaction and queues its deliveries (to endpoints
/// whose changed-field filter, if they have one for this type, names one of
/// `changes`' fields): if the transaction rolls back, the event never existed.
pub async fn emit(
    tx: &mut TenantTx,
    event_type: &str,
    data: Value,
    changes: Option<Changes>,
) -> AppResult<Uuid> {
    let (changed_fields, previous) = match changes {
        Some(c) => (Some(c.changed_fields), Some(c.previous)),
        None => (None, None),
    };
    let id = query_scalar("SELECT emit_event($1, $2, $3, $4)")
        .bind(event_type)
        .bind(data)
        .bind(changed_fields)
        .bind(previous)
        .fetch_one(tx.conn())
        .await?;
    Ok(id)
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub after: Option<DateTime<Utc>>,
}

pub async fn list(
    tx: &mut TenantTx,
    filter: &EventFilter,
    page: &Page<EventSort>,
) -> AppResult<(Vec<EventRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT id, type, data, created_at, changed_fields, previous FROM events WHERE true",
    );
    if let Some(event_type) = &filter.event_type {
        sql.push(" AND type = ").push_bind(event_type.clone());
    }
    if let Some(after) = filter.after {
        sql.push(" AND created_at > ").push_bind(after);
    }
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<EventRow> {
    query_as(
        "SELECT id, type, data, created_at, changed_fields, previous FROM events WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or(AppError::NotFound("event"))
}
