//! Contact queries. Every function takes a [`TenantTx`]; row-level security scopes them
//! to its tenant, and the `tenant_id` written on insert is the transaction's own.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{keyed, Page, SortKey, SortValue, ValueKind, NO_OWNER, OWNER_EXPR};
use super::record::{self, Table};
use super::{escape_like, violations, TenantTx};
use super::{query_as, query_scalar};
use crate::domain::contact::{Contact, ContactInput};
use crate::domain::FieldError;
use crate::error::{AppError, AppResult};

pub(super) const COLUMNS: &str = "id, first_name, last_name, email, phone, title, notes, tags, \
                       custom_fields, company_id, owner_id, created_at, updated_at, deleted_at";
const EMAIL_KEY: &str = "contacts_tenant_email_key";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactRow {
    pub id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub custom_fields: serde_json::Value,
    pub company_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was moved to the trash; `None` while it is live.
    pub deleted_at: Option<DateTime<Utc>>,
}

keyed!(ContactRow);

impl Table for ContactRow {
    const TABLE: &'static str = "contacts";
    const COLUMNS: &'static str = COLUMNS;
    const NOUN: &'static str = "contact";
}

impl ContactRow {
    /// The stored contact as raw input, for a patch to be laid over and parsed again.
    pub fn to_input(&self) -> ContactInput {
        ContactInput {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            title: self.title.clone(),
            notes: self.notes.clone(),
            tags: self.tags.clone(),
            custom_fields: match &self.custom_fields {
                serde_json::Value::Object(map) => map.clone(),
                _ => serde_json::Map::new(),
            },
            company_id: self.company_id,
            owner_id: self.owner_id,
        }
    }

    /// The stored contact as written, not checked again (see [`Contact::from_stored`]).
    pub fn to_domain(&self) -> Contact {
        Contact::from_stored(self.to_input())
    }
}

pub async fn insert(tx: &mut TenantTx, contact: &Contact) -> AppResult<ContactRow> {
    let tenant_id = tx.tenant_id();
    let sql = format!(
        "INSERT INTO contacts (id, tenant_id, first_name, last_name, email, phone, title, \
         notes, tags, custom_fields, company_id, owner_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(contact.first_name())
        .bind(contact.last_name())
        .bind(contact.email())
        .bind(contact.phone())
        .bind(contact.title())
        .bind(contact.notes())
        .bind(contact.tags())
        .bind(contact.custom_fields())
        .bind(contact.company_id())
        .bind(contact.owner_id())
        .fetch_one(tx.conn())
        .await
        .map_err(write_error)
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<ContactRow> {
    record::get(tx, id).await
}

/// Locks the row so a concurrent patch cannot interleave between read and write.
pub async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> AppResult<ContactRow> {
    record::lock(tx, id).await
}

pub async fn update(tx: &mut TenantTx, id: Uuid, contact: &Contact) -> AppResult<ContactRow> {
    let sql = format!(
        "UPDATE contacts SET first_name = $2, last_name = $3, email = $4, phone = $5, \
         title = $6, notes = $7, tags = $8, custom_fields = $9, company_id = $10, \
         owner_id = $11, updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .bind(contact.first_name())
        .bind(contact.last_name())
        .bind(contact.email())
        .bind(contact.phone())
        .bind(contact.title())
        .bind(contact.notes())
        .bind(contact.tags())
        .bind(contact.custom_fields())
        .bind(contact.company_id())
        .bind(contact.owner_id())
        .fetch_optional(tx.conn())
        .await
        .map_err(write_error)?
        .ok_or(AppError::NotFound("contact"))
}

/// Deletes the contact for good (a merge's duplicate, already emptied of its links): the
/// trash is for deletions a person may want to undo, a merge is recorded instead.
pub async fn delete_for_good(tx: &mut TenantTx, id: Uuid) -> AppResult<ContactRow> {
    let sql = format!("DELETE FROM contacts WHERE id = $1 RETURNING {COLUMNS}");
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("contact"))
}

/// Moves a live contact (locked by the caller) to the trash and returns it as it is now,
/// with its `deleted_at`, for the `contact.deleted` event. Its links stay as they are.
pub async fn trash(tx: &mut TenantTx, id: Uuid) -> AppResult<ContactRow> {
    record::trash(tx, id).await
}

/// Brings a trashed contact back (the caller ran [`TenantTx::include_deleted`] and holds
/// the row locked). Refused with a 409 naming the live contact that took its email
/// meanwhile.
pub async fn restore(tx: &mut TenantTx, current: &ContactRow) -> AppResult<ContactRow> {
    if let Some(email) = &current.email {
        let holder: Option<Uuid> = query_scalar(
            "SELECT id FROM contacts WHERE email_key = lower($1) AND deleted_at IS NULL \
             AND id <> $2",
        )
        .bind(email)
        .bind(current.id)
        .fetch_optional(tx.conn())
        .await?;
        if holder.is_some() {
            return Err(email_taken(holder));
        }
    }
    record::untrash(tx, current.id)
        .await
        .map_err(write_error)?
        .ok_or(AppError::NotFound("contact"))
}

/// Links a contact to a company (lead conversion).
pub async fn set_company(tx: &mut TenantTx, id: Uuid, company_id: Uuid) -> AppResult<ContactRow> {
    let sql = format!(
        "UPDATE contacts SET company_id = $2, updated_at = now() WHERE id = $1 \
         RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .bind(company_id)
        .fetch_optional(tx.conn())
        .await
        .map_err(write_error)?
        .ok_or(AppError::NotFound("contact"))
}

/// The contact already using `email` (case-insensitively), for the 409 that names it.
pub async fn find_id_by_email(tx: &mut TenantTx, email: &str) -> AppResult<Option<Uuid>> {
    Ok(
        query_scalar("SELECT id FROM contacts WHERE email_key = lower($1) AND deleted_at IS NULL")
            .bind(email)
            .fetch_optional(tx.conn())
            .await?,
    )
}

/// The 409 for an email another contact of the tenant already uses; `holder` names it
/// when known. The only conflict a contact write can raise.
pub fn email_taken(holder: Option<Uuid>) -> AppError {
    let detail = match holder {
        Some(id) => format!("is already used by contact {id}"),
        None => "is already used by another contact".to_owned(),
    };
    AppError::Conflict {
        message: "a contact with this email already exists".into(),
        details: vec![FieldError::new("email", "taken", detail)],
    }
}

/// A duplicate email surfaces as a unique violation (one round trip on the happy path).
/// It aborts the transaction, so the caller names the holder from a fresh one. An unknown
/// `company_id` or `owner_id` breaks a tenant-scoped foreign key.
fn write_error(err: sqlx::Error) -> AppError {
    if violations::broke(&err, EMAIL_KEY) {
        email_taken(None)
    } else {
        violations::references(
            err,
            &[
                ("contacts_company_fkey", "company_id", "company"),
                ("contacts_owner_fkey", "owner_id", "user"),
            ],
        )
    }
}

/// Sort orders a contact list can take; each has an index `(tenant_id, key, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactSort {
    CreatedAt,
    UpdatedAt,
    LastName,
    OwnerId,
}

impl SortKey for ContactSort {
    type Row = ContactRow;
    const ALL: &'static [Self] = &[
        Self::CreatedAt,
        Self::UpdatedAt,
        Self::LastName,
        Self::OwnerId,
    ];

    fn value_of(self, row: &ContactRow) -> SortValue {
        match self {
            Self::CreatedAt => SortValue::Time(row.created_at),
            Self::UpdatedAt => SortValue::Time(row.updated_at),
            Self::LastName => SortValue::Text(row.last_name.clone().unwrap_or_default()),
            Self::OwnerId => SortValue::Uuid(row.owner_id.unwrap_or(NO_OWNER)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::LastName => "last_name",
            Self::OwnerId => "owner_id",
        }
    }

    fn expr(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            // NULLs sort as '' so the keyset stays comparable (matches the index).
            Self::LastName => "coalesce(last_name, '')",
            Self::OwnerId => OWNER_EXPR,
        }
    }

    fn kind(self) -> ValueKind {
        match self {
            Self::CreatedAt | Self::UpdatedAt => ValueKind::Time,
            Self::LastName => ValueKind::Text,
            Self::OwnerId => ValueKind::Uuid,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub q: Option<String>,
    pub email: Option<String>,
    pub company_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Trashed contacts too (`?include_deleted=true`).
    pub include_deleted: bool,
    pub custom_fields: Vec<crate::domain::custom_field::Filter>,
}

/// One page in keyset order, and whether another follows.
pub async fn list(
    tx: &mut TenantTx,
    filter: &ContactFilter,
    page: &Page<ContactSort>,
) -> AppResult<(Vec<ContactRow>, bool)> {
    if filter.include_deleted {
        tx.include_deleted().await?;
    }
    let conditions = |sql: &mut QueryBuilder<'_, Postgres>| {
        if !filter.include_deleted {
            // Hidden by row-level security anyway; said here so the email lookup can use the
            // partial unique index.
            sql.push(" AND deleted_at IS NULL");
        }
        if let Some(q) = &filter.q {
            let pattern = format!("%{}%", escape_like(q));
            sql.push(" AND (coalesce(first_name, '') || ' ' || coalesce(last_name, '') ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR email ILIKE ")
                .push_bind(pattern)
                .push(")");
        }
        if let Some(email) = &filter.email {
            // The stored key, not `lower(email)`: see migration 20261129600001.
            sql.push(" AND email_key = lower(")
                .push_bind(email.clone())
                .push(")");
        }
        if let Some(company_id) = filter.company_id {
            sql.push(" AND company_id = ").push_bind(company_id);
        }
        if let Some(owner_id) = filter.owner_id {
            // The sort's expression, so the owner index answers it; `IS NOT NULL` keeps
            // the unowned out should `owner_id` be the UUID they read as.
            sql.push(format_args!(
                " AND owner_id IS NOT NULL AND {OWNER_EXPR} = "
            ))
            .push_bind(owner_id);
        }
        if let Some(after) = filter.updated_after {
            sql.push(" AND updated_at > ").push_bind(after);
        }
    };
    super::custom_fields::list_page(
        tx,
        "contacts",
        COLUMNS,
        conditions,
        &filter.custom_fields,
        page,
    )
    .await
}

/// The emails as the unique index compares them (`lower(email)`, by PostgreSQL), in
/// order: the keys a batch upsert matches and deduplicates on.
pub async fn email_keys(tx: &mut TenantTx, emails: &[String]) -> AppResult<Vec<String>> {
    Ok(query_scalar(
        "SELECT lower(e) FROM unnest($1::text[]) WITH ORDINALITY AS t(e, n) ORDER BY n",
    )
    .bind(emails)
    .fetch_all(tx.conn())
    .await?)
}

/// The contacts whose email key is one of `keys` (see [`email_keys`]), one per key: the
/// live one, else (when the transaction sees the trash) the most recently created
/// trashed one. For a batch read.
pub async fn by_email_keys(tx: &mut TenantTx, keys: &[String]) -> AppResult<Vec<KeyedContact>> {
    let sql = format!(
        "SELECT DISTINCT ON (email_key) email_key AS key, {COLUMNS} FROM contacts \
         WHERE email_key = ANY($1::text[]) \
         ORDER BY email_key, deleted_at IS NOT NULL, id DESC"
    );
    Ok(query_as(&sql).bind(keys).fetch_all(tx.conn()).await?)
}

/// A contact with the key its email has in the unique index.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyedContact {
    pub key: String,
    #[sqlx(flatten)]
    pub row: ContactRow,
}

/// The contacts whose email key (`lower(email)`, stored) is one of `keys` (see [`email_keys`]), locked `FOR
/// UPDATE` in key order, so two batches touching the same contacts lock them in the same
/// order and cannot deadlock on them.
pub async fn lock_by_email_keys(
    tx: &mut TenantTx,
    keys: &[String],
) -> AppResult<Vec<KeyedContact>> {
    let sql = format!(
        "SELECT email_key AS key, {COLUMNS} FROM contacts \
         WHERE email_key = ANY($1::text[]) AND deleted_at IS NULL \
         ORDER BY email_key FOR UPDATE"
    );
    Ok(query_as(&sql).bind(keys).fetch_all(tx.conn()).await?)
}
