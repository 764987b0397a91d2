//! Company queries, scoped to the transaction's tenant by row-level security.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{keyed, Page, SortKey, SortValue, ValueKind, NO_OWNER, OWNER_EXPR};
use super::record::{self, Table};
use super::{escape_like, violations, TenantTx};
use super::{query_as, query_scalar};
use crate::domain::company::{Company, CompanyInput};
use crate::domain::FieldError;
use crate::error::{AppError, AppResult};

pub(super) const COLUMNS: &str = "id, name, domain, website, industry, employee_count, phone, \
                       address_line1, address_line2, city, region, postal_code, country, \
                       tags, custom_fields, owner_id, created_at, updated_at, deleted_at";
const DOMAIN_KEY: &str = "companies_tenant_domain_key";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CompanyRow {
    pub id: Uuid,
    pub name: String,
    pub domain: Option<String>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub employee_count: Option<i32>,
    pub phone: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub tags: Vec<String>,
    pub custom_fields: serde_json::Value,
    pub owner_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was moved to the trash; `None` while it is live.
    pub deleted_at: Option<DateTime<Utc>>,
}

keyed!(CompanyRow);

impl Table for CompanyRow {
    const TABLE: &'static str = "companies";
    const COLUMNS: &'static str = COLUMNS;
    const NOUN: &'static str = "company";
}

/// The 409 for a domain another company of the tenant already has.
fn domain_taken(holder: Option<Uuid>) -> AppError {
    let detail = match holder {
        Some(id) => format!("is already used by company {id}"),
        None => "is already used by another company".to_owned(),
    };
    AppError::Conflict {
        message: "a company with this domain already exists".into(),
        details: vec![FieldError::new("domain", "taken", detail)],
    }
}

/// Refuses a domain held by another company, naming it. The unique index still guards
/// the race between this check and the write (answered with a 409 that cannot name it).
async fn check_domain(
    tx: &mut TenantTx,
    domain: Option<&str>,
    except: Option<Uuid>,
) -> AppResult<()> {
    let Some(domain) = domain else {
        return Ok(());
    };
    let holder: Option<Uuid> = query_scalar(
        "SELECT id FROM companies WHERE domain = $1 AND deleted_at IS NULL \
             AND id IS DISTINCT FROM $2",
    )
    .bind(domain)
    .bind(except)
    .fetch_optional(tx.conn())
    .await?;
    match holder {
        Some(id) => Err(domain_taken(Some(id))),
        None => Ok(()),
    }
}

/// A domain taken between the check and the write, or an `owner_id` that is no user of
/// the tenant (the tenant-scoped foreign key).
fn write_error(err: sqlx::Error) -> AppError {
    if violations::broke(&err, DOMAIN_KEY) {
        domain_taken(None)
    } else {
        violations::references(err, &[("companies_owner_fkey", "owner_id", "user")])
    }
}

pub async fn insert(tx: &mut TenantTx, company: &Company) -> AppResult<CompanyRow> {
    check_domain(tx, company.domain(), None).await?;
    let tenant_id = tx.tenant_id();
    let sql = format!(
        "INSERT INTO companies (id, tenant_id, name, domain, website, industry, \
         employee_count, phone, address_line1, address_line2, city, region, postal_code, \
         country, tags, custom_fields, owner_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(company.name())
        .bind(company.domain())
        .bind(company.website())
        .bind(company.industry())
        .bind(company.employee_count())
        .bind(company.phone())
        .bind(company.address_line1())
        .bind(company.address_line2())
        .bind(company.city())
        .bind(company.region())
        .bind(company.postal_code())
        .bind(company.country())
        .bind(company.tags())
        .bind(company.custom_fields())
        .bind(company.owner_id())
        .fetch_one(tx.conn())
        .await
        .map_err(write_error)
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<CompanyRow> {
    record::get(tx, id).await
}

/// Locks the row so a concurrent patch cannot interleave between read and write.
pub async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> AppResult<CompanyRow> {
    record::lock(tx, id).await
}

/// Whether the company exists in the tenant (for the lists nested under it).
pub async fn exists(tx: &mut TenantTx, id: Uuid) -> AppResult<()> {
    let found: Option<i32> = query_scalar("SELECT 1 FROM companies WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    found.map(|_| ()).ok_or(AppError::NotFound("company"))
}

pub async fn update(tx: &mut TenantTx, id: Uuid, company: &Company) -> AppResult<CompanyRow> {
    check_domain(tx, company.domain(), Some(id)).await?;
    let sql = format!(
        "UPDATE companies SET name = $2, domain = $3, website = $4, industry = $5, \
         employee_count = $6, phone = $7, address_line1 = $8, address_line2 = $9, city = $10, \
         region = $11, postal_code = $12, country = $13, tags = $14, custom_fields = $15, \
         owner_id = $16, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .bind(company.name())
        .bind(company.domain())
        .bind(company.website())
        .bind(company.industry())
        .bind(company.employee_count())
        .bind(company.phone())
        .bind(company.address_line1())
        .bind(company.address_line2())
        .bind(company.city())
        .bind(company.region())
        .bind(company.postal_code())
        .bind(company.country())
        .bind(company.tags())
        .bind(company.custom_fields())
        .bind(company.owner_id())
        .fetch_optional(tx.conn())
        .await
        .map_err(write_error)?
        .ok_or(AppError::NotFound("company"))
}

/// Deletes the company for good (a merge's duplicate, already emptied of its links): the
/// trash is for deletions a person may want to undo, a merge is recorded instead.
pub async fn delete_for_good(tx: &mut TenantTx, id: Uuid) -> AppResult<CompanyRow> {
    let sql = format!("DELETE FROM companies WHERE id = $1 RETURNING {COLUMNS}");
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("company"))
}

/// Moves a live company (locked by the caller) to the trash and returns it as it is now,
/// with its `deleted_at`, for the `company.deleted` event. Its contacts, leads and
/// activities keep their link to it.
pub async fn trash(tx: &mut TenantTx, id: Uuid) -> AppResult<CompanyRow> {
    record::trash(tx, id).await
}

/// Brings a trashed company back (the caller ran [`TenantTx::include_deleted`] and holds
/// the row locked). Refused with a 409 naming the live company that took its domain
/// meanwhile.
pub async fn restore(tx: &mut TenantTx, current: &CompanyRow) -> AppResult<CompanyRow> {
    check_domain(tx, current.domain.as_deref(), Some(current.id)).await?;
    record::untrash(tx, current.id)
        .await
        .map_err(write_error)?
        .ok_or(AppError::NotFound("company"))
}

/// The company with `domain` (already normalised), for linking on lead conversion.
pub async fn find_by_domain(tx: &mut TenantTx, domain: &str) -> AppResult<Option<CompanyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM companies WHERE domain = $1 AND deleted_at IS NULL");
    Ok(query_as(&sql)
        .bind(domain)
        .fetch_optional(tx.conn())
        .await?)
}

/// Sort orders of the company list; each has an index `(tenant_id, key, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompanySort {
    CreatedAt,
    UpdatedAt,
    Name,
    OwnerId,
}

impl SortKey for CompanySort {
    type Row = CompanyRow;
    const ALL: &'static [Self] = &[Self::CreatedAt, Self::UpdatedAt, Self::Name, Self::OwnerId];

    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Name => "name",
            Self::OwnerId => "owner_id",
        }
    }

    fn expr(self) -> &'static str {
        match self {
            Self::OwnerId => OWNER_EXPR,
            _ => self.name(),
        }
    }

    fn kind(self) -> ValueKind {
        match self {
            Self::CreatedAt | Self::UpdatedAt => ValueKind::Time,
            Self::Name => ValueKind::Text,
            Self::OwnerId => ValueKind::Uuid,
        }
    }

    fn value_of(self, row: &CompanyRow) -> SortValue {
        match self {
            Self::CreatedAt => SortValue::Time(row.created_at),
            Self::UpdatedAt => SortValue::Time(row.updated_at),
            Self::Name => SortValue::Text(row.name.clone()),
            Self::OwnerId => SortValue::Uuid(row.owner_id.unwrap_or(NO_OWNER)),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CompanyFilter {
    pub q: Option<String>,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub owner_id: Option<Uuid>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Trashed companies too (`?include_deleted=true`).
    pub include_deleted: bool,
    pub custom_fields: Vec<crate::domain::custom_field::Filter>,
}

/// One page in keyset order, and whether another follows.
pub async fn list(
    tx: &mut TenantTx,
    filter: &CompanyFilter,
    page: &Page<CompanySort>,
) -> AppResult<(Vec<CompanyRow>, bool)> {
    if filter.include_deleted {
        tx.include_deleted().await?;
    }
    let conditions = |sql: &mut QueryBuilder<'_, Postgres>| {
        if !filter.include_deleted {
            // Hidden by row-level security anyway; said here so the domain lookup can use the
            // partial unique index.
            sql.push(" AND deleted_at IS NULL");
        }
        if let Some(q) = &filter.q {
            let pattern = format!("%{}%", escape_like(q));
            sql.push(" AND (name ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR domain ILIKE ")
                .push_bind(pattern)
                .push(")");
        }
        if let Some(domain) = &filter.domain {
            sql.push(" AND domain = ").push_bind(domain.clone());
        }
        if let Some(industry) = &filter.industry {
            sql.push(" AND lower(industry) = lower(")
                .push_bind(industry.clone())
                .push(")");
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
        "companies",
        COLUMNS,
        conditions,
        &filter.custom_fields,
        page,
    )
    .await
}

impl CompanyRow {
    /// The stored company as raw input, for a patch to be laid over and parsed again.
    pub fn to_input(&self) -> CompanyInput {
        CompanyInput {
            name: Some(self.name.clone()),
            domain: self.domain.clone(),
            website: self.website.clone(),
            industry: self.industry.clone(),
            employee_count: self.employee_count.map(i64::from),
            phone: self.phone.clone(),
            address_line1: self.address_line1.clone(),
            address_line2: self.address_line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            tags: self.tags.clone(),
            custom_fields: match &self.custom_fields {
                serde_json::Value::Object(map) => map.clone(),
                _ => serde_json::Map::new(),
            },
            owner_id: self.owner_id,
        }
    }

    /// The stored company as written, not checked again (see [`Company::from_stored`]):
    /// to compare with a change (batch upsert: an item that changes nothing writes
    /// nothing) and to merge.
    pub fn to_domain(&self) -> Company {
        Company::from_stored(self.to_input())
    }
}

/// The companies whose domain (already normalised) is one of `domains`, one per domain:
/// the live one, else (when the transaction sees the trash) the most recently created
/// trashed one. For a batch read.
pub async fn by_domains(tx: &mut TenantTx, domains: &[String]) -> AppResult<Vec<CompanyRow>> {
    let sql = format!(
        "SELECT DISTINCT ON (domain) {COLUMNS} FROM companies WHERE domain = ANY($1::text[]) \
         ORDER BY domain, deleted_at IS NOT NULL, id DESC"
    );
    Ok(query_as(&sql).bind(domains).fetch_all(tx.conn()).await?)
}

/// The companies whose domain (already normalised) is one of `domains`, locked `FOR
/// UPDATE` in domain order, so two batches touching the same companies lock them in the
/// same order and cannot deadlock on them.
pub async fn lock_by_domains(tx: &mut TenantTx, domains: &[String]) -> AppResult<Vec<CompanyRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM companies WHERE domain = ANY($1::text[]) \
         AND deleted_at IS NULL ORDER BY domain FOR UPDATE"
    );
    Ok(query_as(&sql).bind(domains).fetch_all(tx.conn()).await?)
}
