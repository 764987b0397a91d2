//! Search across records. Matching and ranking run in `search_records`, a SECURITY
//! DEFINER function (migration `20261129400001_search_indexes.sql` says why row-level
//! security cannot use the search indexes): it applies the tenant of this transaction
//! itself and returns only each hit's type, id, score and display text. The records are
//! then read here by id as usual, under row-level security.

use uuid::Uuid;

use super::activities::{ActivityRow, COLUMNS as ACTIVITY_COLUMNS};
use super::companies::{CompanyRow, COLUMNS as COMPANY_COLUMNS};
use super::contacts::{ContactRow, COLUMNS as CONTACT_COLUMNS};
use super::leads::{LeadRow, COLUMNS as LEAD_COLUMNS};
use super::query_as;
use super::TenantTx;
use crate::domain::search::Needle;
use crate::error::AppResult;

/// One match, as ranked by the database.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HitRow {
    /// `contact`, `company`, `lead` or `activity`.
    pub kind: String,
    pub id: Uuid,
    pub score: f64,
    pub title: String,
    pub subtitle: Option<String>,
}

/// Where the previous page ended: its last hit's (score, type, id).
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    pub score: f64,
    pub kind: String,
    pub id: Uuid,
}

/// The statement the API sends (the benchmark's pgbench script copies it).
pub const SEARCH_SQL: &str = "SELECT kind, id, score, title, subtitle \
                              FROM search_records($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Up to `limit + 1` hits of `types` (type names), best first, strictly after `after`;
/// the extra hit only says whether another page follows.
pub async fn search(
    tx: &mut TenantTx,
    needle: &Needle,
    types: &[&str],
    after: Option<&After>,
    limit: u32,
) -> AppResult<(Vec<HitRow>, bool)> {
    let fetch = i32::try_from(limit).unwrap_or(i32::MAX - 1) + 1;
    let mut rows: Vec<HitRow> = query_as(SEARCH_SQL)
        .bind(&needle.text)
        .bind(&needle.like)
        .bind(&needle.word_start)
        .bind(needle.fuzzy)
        .bind(&needle.words)
        .bind(types)
        .bind(after.map(|a| a.score))
        .bind(after.map(|a| a.kind.clone()))
        .bind(after.map(|a| a.id))
        .bind(fetch)
        .fetch_all(tx.conn())
        .await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok((rows, has_more))
}

pub async fn contacts(tx: &mut TenantTx, ids: &[Uuid]) -> AppResult<Vec<ContactRow>> {
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = ANY($1)");
    Ok(query_as(&sql).bind(ids).fetch_all(tx.conn()).await?)
}

pub async fn companies(tx: &mut TenantTx, ids: &[Uuid]) -> AppResult<Vec<CompanyRow>> {
    let sql = format!("SELECT {COMPANY_COLUMNS} FROM companies WHERE id = ANY($1)");
    Ok(query_as(&sql).bind(ids).fetch_all(tx.conn()).await?)
}

pub async fn leads(tx: &mut TenantTx, ids: &[Uuid]) -> AppResult<Vec<LeadRow>> {
    let sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE id = ANY($1)");
    Ok(query_as(&sql).bind(ids).fetch_all(tx.conn()).await?)
}

pub async fn activities(tx: &mut TenantTx, ids: &[Uuid]) -> AppResult<Vec<ActivityRow>> {
    let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM activities WHERE id = ANY($1)");
    Ok(query_as(&sql).bind(ids).fetch_all(tx.conn()).await?)
}
