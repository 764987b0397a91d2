//! Activity queries. `system` activities (stage changes) are written by `db::leads`.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{keyed, Page, SortKey, SortValue, ValueKind};
use super::query_as;
use super::record::{self, Table};
use super::{violations, TenantTx};
use crate::domain::activity::{Activity, ActivityInput, ActivityType};
use crate::error::{AppError, AppResult};

pub(super) const COLUMNS: &str =
    "id, type, system, subject, body, due_at, completed_at, owner_id, contact_id, company_id, \
     lead_id, custom_fields, created_at, updated_at, deleted_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActivityRow {
    pub id: Uuid,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub system: bool,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub owner_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub custom_fields: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was moved to the trash; `None` while it is live.
    pub deleted_at: Option<DateTime<Utc>>,
}

keyed!(ActivityRow);

impl Table for ActivityRow {
    const TABLE: &'static str = "activities";
    const COLUMNS: &'static str = COLUMNS;
    const NOUN: &'static str = "activity";
}

impl ActivityRow {
    /// The stored activity as raw input, for a patch to be laid over and parsed again.
    pub fn to_input(&self) -> ActivityInput {
        ActivityInput {
            // The column's CHECK admits exactly the types.
            kind: ActivityType::parse(&self.kind).unwrap_or(ActivityType::Note),
            subject: self.subject.clone(),
            body: self.body.clone(),
            due_at: self.due_at,
            completed_at: self.completed_at,
            owner_id: self.owner_id,
            contact_id: self.contact_id,
            company_id: self.company_id,
            lead_id: self.lead_id,
        }
    }
}

fn write_error(err: sqlx::Error) -> AppError {
    violations::references(
        err,
        &[
            ("activities_owner_fkey", "owner_id", "user"),
            ("activities_contact_fkey", "contact_id", "contact"),
            ("activities_company_fkey", "company_id", "company"),
            ("activities_lead_fkey", "lead_id", "lead"),
        ],
    )
}

/// Writes a new activity with its (already validated) custom field values.
pub async fn insert(
    tx: &mut TenantTx,
    activity: &Activity,
    custom_fields: &serde_json::Value,
) -> AppResult<ActivityRow> {
    let sql = format!(
        "INSERT INTO activities (id, tenant_id, type, subject, body, due_at, completed_at, \
         owner_id, contact_id, company_id, lead_id, custom_fields) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(tx.tenant_id())
        .bind(activity.kind().as_str())
        .bind(activity.subject())
        .bind(activity.body())
        .bind(activity.due_at())
        .bind(activity.completed_at())
        .bind(activity.owner_id())
        .bind(activity.contact_id())
        .bind(activity.company_id())
        .bind(activity.lead_id())
        .bind(custom_fields)
        .fetch_one(tx.conn())
        .await
        .map_err(write_error)
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<ActivityRow> {
    record::get(tx, id).await
}

pub async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> AppResult<ActivityRow> {
    record::lock(tx, id).await
}

pub async fn update(
    tx: &mut TenantTx,
    id: Uuid,
    activity: &Activity,
    custom_fields: &serde_json::Value,
) -> AppResult<ActivityRow> {
    let sql = format!(
        "UPDATE activities SET type = $2, subject = $3, body = $4, due_at = $5, \
         completed_at = $6, owner_id = $7, contact_id = $8, company_id = $9, lead_id = $10, \
         custom_fields = $11, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .bind(activity.kind().as_str())
        .bind(activity.subject())
        .bind(activity.body())
        .bind(activity.due_at())
        .bind(activity.completed_at())
        .bind(activity.owner_id())
        .bind(activity.contact_id())
        .bind(activity.company_id())
        .bind(activity.lead_id())
        .bind(custom_fields)
        .fetch_one(tx.conn())
        .await
        .map_err(write_error)
}

/// Marks a task done now, unless it already is (the first completion time is kept).
pub async fn complete(tx: &mut TenantTx, id: Uuid) -> AppResult<ActivityRow> {
    let sql = format!(
        "UPDATE activities SET completed_at = now(), updated_at = now() \
         WHERE id = $1 AND completed_at IS NULL RETURNING {COLUMNS}"
    );
    match query_as(&sql).bind(id).fetch_optional(tx.conn()).await? {
        Some(row) => Ok(row),
        None => get(tx, id).await,
    }
}

/// Moves a live activity (locked by the caller) to the trash and returns it as it is
/// now, with its `deleted_at` (for the `activity.deleted` event). Its links stay.
pub async fn trash(tx: &mut TenantTx, id: Uuid) -> AppResult<ActivityRow> {
    record::trash(tx, id).await
}

/// Brings a trashed activity back (the caller ran [`TenantTx::include_deleted`] and
/// holds the row locked), with the links it had.
pub async fn restore(tx: &mut TenantTx, id: Uuid) -> AppResult<ActivityRow> {
    record::untrash(tx, id)
        .await?
        .ok_or(AppError::NotFound("activity"))
}

/// Sort orders of the activity list; each matches an index `(tenant_id, expr, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivitySort {
    CreatedAt,
    UpdatedAt,
    DueAt,
}

/// Where activities without a due time sort (as in the index): after every real one.
fn no_due_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl SortKey for ActivitySort {
    type Row = ActivityRow;
    const ALL: &'static [Self] = &[Self::CreatedAt, Self::UpdatedAt, Self::DueAt];

    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::DueAt => "due_at",
        }
    }

    fn expr(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::DueAt => "coalesce(due_at, TIMESTAMPTZ '9999-12-31 00:00:00+00')",
        }
    }

    fn kind(self) -> ValueKind {
        ValueKind::Time
    }

    fn value_of(self, row: &ActivityRow) -> SortValue {
        SortValue::Time(match self {
            Self::CreatedAt => row.created_at,
            Self::UpdatedAt => row.updated_at,
            Self::DueAt => row.due_at.unwrap_or_else(no_due_at),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    pub kind: Option<ActivityType>,
    pub owner_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub completed: Option<bool>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_to: Option<DateTime<Utc>>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Trashed activities too (`?include_deleted=true`).
    pub include_deleted: bool,
    pub custom_fields: Vec<crate::domain::custom_field::Filter>,
}

pub async fn list(
    tx: &mut TenantTx,
    filter: &ActivityFilter,
    page: &Page<ActivitySort>,
) -> AppResult<(Vec<ActivityRow>, bool)> {
    if filter.include_deleted {
        tx.include_deleted().await?;
    }
    let conditions = |sql: &mut QueryBuilder<'_, Postgres>| {
        if let Some(kind) = filter.kind {
            sql.push(" AND type = ").push_bind(kind.as_str());
        }
        let ids = [
            ("owner_id", filter.owner_id),
            ("contact_id", filter.contact_id),
            ("company_id", filter.company_id),
            ("lead_id", filter.lead_id),
        ];
        for (column, id) in ids {
            if let Some(id) = id {
                sql.push(format_args!(" AND {column} = ")).push_bind(id);
            }
        }
        match filter.completed {
            Some(true) => sql.push(" AND completed_at IS NOT NULL"),
            Some(false) => sql.push(" AND completed_at IS NULL"),
            None => sql,
        };
        if let Some(from) = filter.due_from {
            sql.push(" AND due_at >= ").push_bind(from);
        }
        if let Some(to) = filter.due_to {
            sql.push(" AND due_at <= ").push_bind(to);
        }
        if let Some(after) = filter.updated_after {
            sql.push(" AND updated_at > ").push_bind(after);
        }
    };
    super::custom_fields::list_page(
        tx,
        "activities",
        COLUMNS,
        conditions,
        &filter.custom_fields,
        page,
    )
    .await
}
