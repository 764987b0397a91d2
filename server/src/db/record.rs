//! The statements every record table repeats — read one row, lock it for a change, move
//! it to the trash, bring it back — written once over a [`Table`]. A table module
//! declares its table, its columns and the noun its 404 names, and calls these; what is
//! particular to a table (a unique email a restore must check first, the write error
//! that names it) stays in its module, around the call.

use sqlx::postgres::PgRow;
use sqlx::FromRow;
use uuid::Uuid;

use super::{query_as, TenantTx};
use crate::error::{AppError, AppResult};

/// A table of records with an `id` (and, for the trash, `deleted_at`), as one row type.
pub trait Table: for<'r> FromRow<'r, PgRow> + Send + Unpin {
    const TABLE: &'static str;
    /// The columns its row type reads, in a `SELECT` or a `RETURNING`.
    const COLUMNS: &'static str;
    /// What a missing row is called in the `404` (`contact`).
    const NOUN: &'static str;
}

/// The row `id` as row-level security lets the transaction see it (trashed rows only
/// after [`TenantTx::include_deleted`]).
pub async fn get<T: Table>(tx: &mut TenantTx, id: Uuid) -> AppResult<T> {
    let (columns, table) = (T::COLUMNS, T::TABLE);
    let sql = format!("SELECT {columns} FROM {table} WHERE id = $1");
    one(tx, &sql, id).await
}

/// The rows among `ids` that row-level security lets the transaction see, in no
/// particular order (a batch read puts them in the order asked).
pub async fn get_many<T: Table>(tx: &mut TenantTx, ids: &[Uuid]) -> AppResult<Vec<T>> {
    let (columns, table) = (T::COLUMNS, T::TABLE);
    let sql = format!("SELECT {columns} FROM {table} WHERE id = ANY($1)");
    Ok(query_as(&sql).bind(ids).fetch_all(tx.conn()).await?)
}

/// As [`get`], locking the row so a concurrent change cannot interleave between the read
/// and the write that follows it.
pub async fn lock<T: Table>(tx: &mut TenantTx, id: Uuid) -> AppResult<T> {
    let (columns, table) = (T::COLUMNS, T::TABLE);
    let sql = format!("SELECT {columns} FROM {table} WHERE id = $1 FOR UPDATE");
    one(tx, &sql, id).await
}

/// As [`lock`], for the rows among `ids` (in id order, so two writers locking
/// overlapping sets cannot deadlock); ids the tenant has no live row for are left out.
pub async fn lock_many<T: Table>(tx: &mut TenantTx, ids: &[Uuid]) -> AppResult<Vec<T>> {
    let (columns, table) = (T::COLUMNS, T::TABLE);
    let sql = format!("SELECT {columns} FROM {table} WHERE id = ANY($1) ORDER BY id FOR UPDATE");
    Ok(query_as(&sql).bind(ids).fetch_all(tx.conn()).await?)
}

/// Moves a live row to the trash and returns it as it is there.
pub async fn trash<T: Table>(tx: &mut TenantTx, id: Uuid) -> AppResult<T> {
    // The new row is trashed, so the SELECT policy must let it through (see `db`).
    tx.include_deleted().await?;
    let (columns, table) = (T::COLUMNS, T::TABLE);
    let sql = format!(
        "UPDATE {table} SET deleted_at = now(), updated_at = now() \
         WHERE id = $1 AND deleted_at IS NULL RETURNING {columns}"
    );
    one(tx, &sql, id).await
}

/// Brings a trashed row back (the caller ran [`TenantTx::include_deleted`] and holds the
/// row locked). The error is the statement's own, for the caller to name what a unique
/// index refused.
pub async fn untrash<T: Table>(tx: &mut TenantTx, id: Uuid) -> Result<Option<T>, sqlx::Error> {
    let (columns, table) = (T::COLUMNS, T::TABLE);
    let sql =
        format!("UPDATE {table} SET deleted_at = NULL, updated_at = now() WHERE id = $1 RETURNING {columns}");
    query_as(&sql).bind(id).fetch_optional(tx.conn()).await
}

async fn one<T: Table>(tx: &mut TenantTx, sql: &str, id: Uuid) -> AppResult<T> {
    query_as(sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound(T::NOUN))
}
