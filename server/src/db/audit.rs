//! The audit log: who did what to users, API keys, session tokens and QR sessions.
//! Written in the same transaction as the change it records; never holds a secret.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{creation_order, keyed, Page};
use super::TenantTx;
use super::{prepared_statements, query};
use crate::domain::credential::Kind;
use crate::error::AppResult;

const COLUMNS: &str = "id, action, actor_kind, actor_id, actor_user_id, target_type, \
                       target_id, data, created_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub action: String,
    pub actor_kind: Option<String>,
    pub actor_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub target_type: String,
    pub target_id: Uuid,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

keyed!(AuditRow);

/// Who did it, as the log records it: the credential and the user it acts as. Callers
/// pass their `auth::Principal`, which converts into it; the type is here because `db/`
/// must not import `auth/`, which sits above it.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub kind: Kind,
    pub credential_id: Uuid,
    pub user_id: Option<Uuid>,
}

/// Records `action` by `actor` on a target, in the caller's transaction.
pub async fn record(
    tx: &mut TenantTx,
    actor: impl Into<Actor>,
    action: &str,
    target: (&str, Uuid),
    data: Value,
) -> AppResult<()> {
    let actor = actor.into();
    query(
        "INSERT INTO audit_events (id, tenant_id, action, actor_kind, actor_id, actor_user_id, \
         target_type, target_id, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::now_v7())
    .bind(tx.tenant_id())
    .bind(action)
    .bind(actor.kind.as_str())
    .bind(actor.credential_id)
    .bind(actor.user_id)
    .bind(target.0)
    .bind(target.1)
    .bind(data)
    .execute(tx.conn())
    .await?;
    Ok(())
}

creation_order!(AuditSort, AuditRow);

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub target_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub after: Option<DateTime<Utc>>,
}

pub async fn list(
    tx: &mut TenantTx,
    filter: &AuditFilter,
    page: &Page<AuditSort>,
) -> AppResult<(Vec<AuditRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit_events WHERE true"));
    if let Some(action) = &filter.action {
        sql.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(id) = filter.target_id {
        sql.push(" AND target_id = ").push_bind(id);
    }
    if let Some(id) = filter.actor_user_id {
        sql.push(" AND actor_user_id = ").push_bind(id);
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
