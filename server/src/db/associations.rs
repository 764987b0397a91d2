//! Association labels and associations. Record types are their wire names (`contact`,
//! `company`, `lead`, `activity`), as the `associations` table stores them.
//!
//! An association is served only while both of its records are visible: every read goes
//! through [`BOTH_ENDS_VISIBLE`], an `EXISTS` on each end's table, which row-level
//! security filters. So a record another policy hides (the trash) takes its associations
//! out of sight with it, and brings them back when it reappears; a record deleted for good
//! takes them away for good (a trigger, see the migration).

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{creation_order, keyed, Page};
use super::record::{self, Table};
use super::{prepared_statements, query_as, query_scalar};
use super::{violations, TenantTx};
use crate::domain::association::Label;
use crate::domain::FieldError;
use crate::error::{AppError, AppResult};

const LABEL_COLUMNS: &str = "id, name, description, from_type, to_type, created_at, updated_at";
const LABEL_NAME_KEY: &str = "association_labels_tenant_name_key";

const COLUMNS: &str = "a.id, a.from_type, a.from_id, a.to_type, a.to_id, a.label_id, a.created_at";
const LINK_KEY: &str = "associations_tenant_link_key";

/// Whether the record `{type}_id` of the association `a` is visible, for both ends.
const BOTH_ENDS_VISIBLE: &str = "\
    (CASE a.from_type \
        WHEN 'contact' THEN EXISTS (SELECT 1 FROM contacts r WHERE r.id = a.from_id) \
        WHEN 'company' THEN EXISTS (SELECT 1 FROM companies r WHERE r.id = a.from_id) \
        WHEN 'lead' THEN EXISTS (SELECT 1 FROM leads r WHERE r.id = a.from_id) \
        WHEN 'activity' THEN EXISTS (SELECT 1 FROM activities r WHERE r.id = a.from_id) \
     END) \
    AND (CASE a.to_type \
        WHEN 'contact' THEN EXISTS (SELECT 1 FROM contacts r WHERE r.id = a.to_id) \
        WHEN 'company' THEN EXISTS (SELECT 1 FROM companies r WHERE r.id = a.to_id) \
        WHEN 'lead' THEN EXISTS (SELECT 1 FROM leads r WHERE r.id = a.to_id) \
        WHEN 'activity' THEN EXISTS (SELECT 1 FROM activities r WHERE r.id = a.to_id) \
     END)";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LabelRow {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub from_type: Option<String>,
    pub to_type: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssociationRow {
    pub id: Uuid,
    pub from_type: String,
    pub from_id: Uuid,
    pub to_type: String,
    pub to_id: Uuid,
    pub label_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

keyed!(LabelRow, AssociationRow);
creation_order!(LabelSort, LabelRow);
creation_order!(AssociationSort, AssociationRow);

impl Table for LabelRow {
    const TABLE: &'static str = "association_labels";
    const COLUMNS: &'static str = LABEL_COLUMNS;
    const NOUN: &'static str = "association label";
}

/// The 409 for a label name already in use (ignoring case), naming the label.
fn name_taken(holder: Option<Uuid>) -> AppError {
    let detail = match holder {
        Some(id) => format!("is already used by association label {id}"),
        None => "is already used by another association label".to_owned(),
    };
    AppError::Conflict {
        message: "an association label with this name already exists".into(),
        details: vec![FieldError::new("name", "taken", detail)],
    }
}

/// The label already named `name` (ignoring case), other than `except`. Checked before
/// writing so the 409 can name it without a second transaction.
pub async fn label_holding_name(
    tx: &mut TenantTx,
    name: &str,
    except: Option<Uuid>,
) -> AppResult<Option<Uuid>> {
    Ok(query_scalar(
        "SELECT id FROM association_labels WHERE lower(name) = lower($1) \
         AND id IS DISTINCT FROM $2",
    )
    .bind(name)
    .bind(except)
    .fetch_optional(tx.conn())
    .await?)
}

fn label_write_error(err: sqlx::Error) -> AppError {
    if violations::broke(&err, LABEL_NAME_KEY) {
        name_taken(None)
    } else {
        err.into()
    }
}

pub async fn insert_label(tx: &mut TenantTx, label: &Label) -> AppResult<LabelRow> {
    if let Some(holder) = label_holding_name(tx, label.name(), None).await? {
        return Err(name_taken(Some(holder)));
    }
    let tenant_id = tx.tenant_id();
    let sql = format!(
        "INSERT INTO association_labels (id, tenant_id, name, description, from_type, to_type) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {LABEL_COLUMNS}"
    );
    query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(label.name())
        .bind(label.description())
        .bind(label.types().map(|t| t.0))
        .bind(label.types().map(|t| t.1))
        .fetch_one(tx.conn())
        .await
        .map_err(label_write_error)
}

pub async fn get_label(tx: &mut TenantTx, id: Uuid, lock: bool) -> AppResult<LabelRow> {
    if lock {
        record::lock(tx, id).await
    } else {
        record::get(tx, id).await
    }
}

pub async fn update_label(tx: &mut TenantTx, id: Uuid, label: &Label) -> AppResult<LabelRow> {
    if let Some(holder) = label_holding_name(tx, label.name(), Some(id)).await? {
        return Err(name_taken(Some(holder)));
    }
    let sql = format!(
        "UPDATE association_labels SET name = $2, description = $3, from_type = $4, \
         to_type = $5, updated_at = now() WHERE id = $1 RETURNING {LABEL_COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .bind(label.name())
        .bind(label.description())
        .bind(label.types().map(|t| t.0))
        .bind(label.types().map(|t| t.1))
        .fetch_optional(tx.conn())
        .await
        .map_err(label_write_error)?
        .ok_or(AppError::NotFound("association label"))
}

/// How many associations carry the label (trashed ends included: restoring them must
/// find their label).
pub async fn label_uses(tx: &mut TenantTx, id: Uuid) -> AppResult<i64> {
    Ok(
        query_scalar("SELECT count(*) FROM associations WHERE label_id = $1")
            .bind(id)
            .fetch_one(tx.conn())
            .await?,
    )
}

/// How many associations carrying the label do not fit the ends `types` would restrict
/// it to.
pub async fn label_misfits(
    tx: &mut TenantTx,
    id: Uuid,
    types: (&'static str, &'static str),
) -> AppResult<i64> {
    Ok(query_scalar(
        "SELECT count(*) FROM associations WHERE label_id = $1 \
         AND (from_type <> $2 OR to_type <> $3)",
    )
    .bind(id)
    .bind(types.0)
    .bind(types.1)
    .fetch_one(tx.conn())
    .await?)
}

pub async fn delete_label(tx: &mut TenantTx, id: Uuid) -> AppResult<LabelRow> {
    let sql = format!("DELETE FROM association_labels WHERE id = $1 RETURNING {LABEL_COLUMNS}");
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("association label"))
}

pub async fn list_labels(
    tx: &mut TenantTx,
    updated_after: Option<DateTime<Utc>>,
    page: &Page<LabelSort>,
) -> AppResult<(Vec<LabelRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {LABEL_COLUMNS} FROM association_labels WHERE true"
    ));
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

/// Whether the record of `record_type` with `id` exists and is visible in the tenant.
/// A SELECT, not a foreign key: foreign-key checks bypass row-level security.
pub async fn record_visible(tx: &mut TenantTx, record_type: &str, id: Uuid) -> AppResult<bool> {
    let sql = match record_type {
        "contact" => "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = $1)",
        "company" => "SELECT EXISTS (SELECT 1 FROM companies WHERE id = $1)",
        "lead" => "SELECT EXISTS (SELECT 1 FROM leads WHERE id = $1)",
        "activity" => "SELECT EXISTS (SELECT 1 FROM activities WHERE id = $1)",
        _ => return Ok(false),
    };
    Ok(query_scalar(sql).bind(id).fetch_one(tx.conn()).await?)
}

/// A new association's ends and label, checked by the caller.
#[derive(Debug, Clone)]
pub struct NewAssociation {
    pub from_type: &'static str,
    pub from_id: Uuid,
    pub to_type: &'static str,
    pub to_id: Uuid,
    pub label_id: Option<Uuid>,
}

/// The association already linking these ends with this label, for the 409.
pub async fn find_link(tx: &mut TenantTx, link: &NewAssociation) -> AppResult<Option<Uuid>> {
    Ok(query_scalar(
        "SELECT id FROM associations WHERE from_type = $1 AND from_id = $2 \
         AND to_type = $3 AND to_id = $4 AND label_id IS NOT DISTINCT FROM $5",
    )
    .bind(link.from_type)
    .bind(link.from_id)
    .bind(link.to_type)
    .bind(link.to_id)
    .bind(link.label_id)
    .fetch_optional(tx.conn())
    .await?)
}

/// The 409 for a link that exists already, naming it.
pub fn link_taken(holder: Option<Uuid>) -> AppError {
    let detail = match holder {
        Some(id) => {
            format!("these records are already associated with this label by association {id}")
        }
        None => "these records are already associated with this label".to_owned(),
    };
    AppError::Conflict {
        message: "this association already exists".into(),
        details: vec![FieldError::new("to_id", "taken", detail)],
    }
}

pub async fn insert(tx: &mut TenantTx, link: &NewAssociation) -> AppResult<AssociationRow> {
    if let Some(holder) = find_link(tx, link).await? {
        return Err(link_taken(Some(holder)));
    }
    let tenant_id = tx.tenant_id();
    let sql = format!(
        "INSERT INTO associations AS a (id, tenant_id, from_type, from_id, to_type, to_id, label_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(link.from_type)
        .bind(link.from_id)
        .bind(link.to_type)
        .bind(link.to_id)
        .bind(link.label_id)
        .fetch_one(tx.conn())
        .await
        .map_err(|err| {
            if violations::broke(&err, LINK_KEY) {
                link_taken(None)
            } else {
                violations::references(
                    err,
                    &[("associations_label_fkey", "label_id", "association label")],
                )
            }
        })
}

pub async fn get(tx: &mut TenantTx, id: Uuid, lock: bool) -> AppResult<AssociationRow> {
    let lock = if lock { " FOR UPDATE OF a" } else { "" };
    let sql = format!(
        "SELECT {COLUMNS} FROM associations a WHERE a.id = $1 AND {BOTH_ENDS_VISIBLE}{lock}"
    );
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("association"))
}

pub async fn delete(tx: &mut TenantTx, id: Uuid) -> AppResult<AssociationRow> {
    let sql = format!("DELETE FROM associations a WHERE a.id = $1 RETURNING {COLUMNS}");
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("association"))
}

/// Filters of an association list.
#[derive(Debug, Clone, Default)]
pub struct AssociationFilter {
    /// Associations with this record at either end.
    pub record: Option<(&'static str, Uuid)>,
    /// Only those whose other end (or, without `record`, either end) has this type.
    pub other_type: Option<&'static str>,
    pub label_id: Option<Uuid>,
    /// Only unlabelled associations (`label_id` absent then).
    pub unlabelled: bool,
    pub created_after: Option<DateTime<Utc>>,
}

pub async fn list(
    tx: &mut TenantTx,
    filter: &AssociationFilter,
    page: &Page<AssociationSort>,
) -> AppResult<(Vec<AssociationRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {COLUMNS} FROM associations a WHERE {BOTH_ENDS_VISIBLE}"
    ));
    match (filter.record, filter.other_type) {
        (Some((record_type, id)), other) => {
            sql.push(" AND ((a.from_type = ")
                .push_bind(record_type)
                .push(" AND a.from_id = ")
                .push_bind(id);
            if let Some(other) = other {
                sql.push(" AND a.to_type = ").push_bind(other);
            }
            sql.push(") OR (a.to_type = ")
                .push_bind(record_type)
                .push(" AND a.to_id = ")
                .push_bind(id);
            if let Some(other) = other {
                sql.push(" AND a.from_type = ").push_bind(other);
            }
            sql.push("))");
        }
        (None, Some(other)) => {
            sql.push(" AND (a.from_type = ")
                .push_bind(other)
                .push(" OR a.to_type = ")
                .push_bind(other)
                .push(")");
        }
        (None, None) => {}
    }
    if let Some(label_id) = filter.label_id {
        sql.push(" AND a.label_id = ").push_bind(label_id);
    } else if filter.unlabelled {
        sql.push(" AND a.label_id IS NULL");
    }
    if let Some(after) = filter.created_after {
        sql.push(" AND a.created_at > ").push_bind(after);
    }
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}
