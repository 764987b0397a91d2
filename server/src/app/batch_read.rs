//! Batch reads: up to 100 contacts (by id or email), companies (by id or domain) or leads
//! (by id) in one request and one read-only transaction, each key answered in the order
//! asked with the record or nothing.
//!
//! A key is looked up exactly as the single-record operations look it up: an id as
//! `*_get` does (row-level security hides other tenants' records, so their ids are simply
//! not found), an email as the uniqueness rule compares it (`lower(email)`, by
//! PostgreSQL), a domain normalised as a create normalises it (so `https://WWW.Acme.com`
//! finds `acme.com`). Trashed records are not found unless `include_deleted`; then an
//! email or domain finds the live record holding it, else the newest trashed one. A key
//! asked twice is answered twice. An email or domain that is no email or domain at all is
//! the request's `422`, naming it by its place (`emails[3]`): a client sending garbage
//! wants to hear so, not "not found".

use std::collections::HashMap;

use uuid::Uuid;

use super::View;
use crate::auth::Principal;
use crate::db::companies::{self as companies_repo, CompanyRow};
use crate::db::contacts::{self as contacts_repo, ContactRow};
use crate::db::leads::LeadRow;
use crate::db::record::{self, Table};
use crate::db::TenantTx;
use crate::domain::{fields, FieldError};
use crate::error::AppError;
use crate::state::AppState;

/// The most keys one batch read takes, ids and emails (or domains) together; as many as
/// a batch upsert takes items.
pub const MAX_KEYS: usize = super::batch::MAX_ITEMS;

/// What a batch read asks for: ids, and the natural keys of the type (emails of contacts,
/// domains of companies; none for leads).
#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub ids: Vec<Uuid>,
    pub natural: Vec<String>,
    /// Trashed records are found too.
    pub include_deleted: bool,
}

/// The answer, in the order asked: one entry per id, then one per natural key, each the
/// record or `None`.
#[derive(Debug)]
pub struct Answer<V> {
    pub by_id: Vec<Option<V>>,
    pub by_key: Vec<Option<V>>,
}

/// Contacts by id and by email (`keys.natural`).
pub async fn contacts<V: View<ContactRow>>(
    state: &AppState,
    actor: &Principal,
    keys: Keys,
) -> Result<Answer<V>, AppError> {
    check_count(&keys, "emails")?;
    let emails = checked(&keys.natural, "emails", fields::optional_email)?;
    let mut tx = begin(state, actor, keys.include_deleted).await?;
    let by_id = by_ids::<ContactRow>(&mut tx, &keys.ids, |row| row.id).await?;
    let mut by_key = Vec::new();
    if !emails.is_empty() {
        // As the unique index compares them: PostgreSQL's `lower`, not Rust's.
        let lowered = contacts_repo::email_keys(&mut tx, &emails).await?;
        let found: HashMap<String, ContactRow> = contacts_repo::by_email_keys(&mut tx, &lowered)
            .await?
            .into_iter()
            .map(|keyed| (keyed.key, keyed.row))
            .collect();
        by_key = in_order(&lowered, &found);
    }
    tx.end_read();
    Ok(answer(by_id, by_key))
}

/// Companies by id and by domain (`keys.natural`).
pub async fn companies<V: View<CompanyRow>>(
    state: &AppState,
    actor: &Principal,
    keys: Keys,
) -> Result<Answer<V>, AppError> {
    check_count(&keys, "domains")?;
    let domains = checked(&keys.natural, "domains", fields::optional_domain)?;
    let mut tx = begin(state, actor, keys.include_deleted).await?;
    let by_id = by_ids::<CompanyRow>(&mut tx, &keys.ids, |row| row.id).await?;
    let mut by_key = Vec::new();
    if !domains.is_empty() {
        let found: HashMap<String, CompanyRow> = companies_repo::by_domains(&mut tx, &domains)
            .await?
            .into_iter()
            .filter_map(|row| Some((row.domain.clone()?, row)))
            .collect();
        by_key = in_order(&domains, &found);
    }
    tx.end_read();
    Ok(answer(by_id, by_key))
}

/// Leads by id.
pub async fn leads<V: View<LeadRow>>(
    state: &AppState,
    actor: &Principal,
    keys: Keys,
) -> Result<Answer<V>, AppError> {
    check_count(&keys, "ids")?;
    let mut tx = begin(state, actor, keys.include_deleted).await?;
    let by_id = by_ids::<LeadRow>(&mut tx, &keys.ids, |row| row.id).await?;
    tx.end_read();
    Ok(answer(by_id, Vec::new()))
}

async fn begin(
    state: &AppState,
    actor: &Principal,
    include_deleted: bool,
) -> Result<TenantTx, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if include_deleted {
        tx.include_deleted().await?;
    }
    Ok(tx)
}

/// The rows of `ids`, in the order of `ids` (`None` where the tenant has none).
async fn by_ids<T: Table + Clone>(
    tx: &mut TenantTx,
    ids: &[Uuid],
    id_of: fn(&T) -> Uuid,
) -> Result<Vec<Option<T>>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: HashMap<Uuid, T> = record::get_many::<T>(tx, ids)
        .await?
        .into_iter()
        .map(|row| (id_of(&row), row))
        .collect();
    Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
}

fn in_order<K: std::hash::Hash + Eq, T: Clone>(
    keys: &[K],
    found: &HashMap<K, T>,
) -> Vec<Option<T>> {
    keys.iter().map(|key| found.get(key).cloned()).collect()
}

fn answer<T, V: From<T>>(by_id: Vec<Option<T>>, by_key: Vec<Option<T>>) -> Answer<V> {
    let view = |rows: Vec<Option<T>>| rows.into_iter().map(|row| row.map(V::from)).collect();
    Answer {
        by_id: view(by_id),
        by_key: view(by_key),
    }
}

/// 1 to [`MAX_KEYS`] keys in all, else a `422` naming `ids` and the natural key's list
/// (`other`), as a batch upsert names `items`.
fn check_count(keys: &Keys, other: &str) -> Result<(), AppError> {
    let count = keys.ids.len() + keys.natural.len();
    let lists: Vec<&str> = if other == "ids" {
        vec!["ids"]
    } else {
        vec!["ids", other]
    };
    let (code, message) = if count == 0 {
        (
            "required",
            format!("ask for 1 to {MAX_KEYS} records (got none)"),
        )
    } else if count > MAX_KEYS {
        (
            "too_many",
            format!("ask for at most {MAX_KEYS} records in all (got {count})"),
        )
    } else {
        return Ok(());
    };
    Err(AppError::Validation(
        lists
            .into_iter()
            .map(|field| FieldError::new(field, code, message.clone()))
            .collect(),
    ))
}

/// Each natural key through the field's rule (`list[i]` names a bad one); every bad one
/// is reported.
fn checked(
    values: &[String],
    list: &str,
    rule: fn(&str, Option<String>) -> Result<Option<String>, FieldError>,
) -> Result<Vec<String>, AppError> {
    let mut errors = Vec::new();
    let mut keys = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let field = format!("{list}[{index}]");
        match rule(&field, Some(value.clone())) {
            Ok(Some(key)) => keys.push(key),
            Ok(None) => errors.push(FieldError::new(&field, "required", "must not be blank")),
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        Ok(keys)
    } else {
        Err(AppError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ids: usize, natural: usize) -> Keys {
        Keys {
            ids: vec![Uuid::nil(); ids],
            natural: vec![String::new(); natural],
            include_deleted: false,
        }
    }

    #[test]
    fn a_batch_read_asks_for_one_to_a_hundred_records_in_all() {
        assert!(check_count(&keys(1, 0), "emails").is_ok());
        assert!(check_count(&keys(50, 50), "emails").is_ok());
        for (ids, natural) in [(0, 0), (51, 50), (0, 101)] {
            let err = check_count(&keys(ids, natural), "emails").unwrap_err();
            let fields: Vec<_> = err.details().iter().map(|d| d.field.as_str()).collect();
            assert_eq!(fields, ["ids", "emails"]);
        }
        let err = check_count(&keys(101, 0), "ids").unwrap_err();
        assert_eq!(err.details().len(), 1);
    }

    #[test]
    fn a_bad_key_is_named_by_its_place_and_a_good_one_normalised() {
        let sent = [
            "https://WWW.Acme.com/x".to_owned(),
            "not a domain".to_owned(),
        ];
        let err = checked(&sent, "domains", fields::optional_domain).unwrap_err();
        assert_eq!(err.details()[0].field, "domains[1]");
        let ok = checked(&sent[..1], "domains", fields::optional_domain).unwrap();
        assert_eq!(ok, ["acme.com"]);
    }
}
