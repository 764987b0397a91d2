//! Merging a duplicate contact or company into a survivor, and the duplicate suggestions.
//! The caller runs the steps in one transaction, in this order: lock both, re-point what
//! links to the duplicate, delete the duplicate, write the filled survivor, record the
//! merge.

use uuid::Uuid;

use super::associations::AssociationRow;
use super::TenantTx;
use super::{query, query_as, query_scalar};
use crate::error::AppResult;

/// Locks both records, in id order so two merges of the same pair (either way round)
/// cannot deadlock; returns the ids found. A SELECT under row-level security, so an id of
/// another tenant (or a trashed record) is not found.
pub async fn lock_pair(
    tx: &mut TenantTx,
    table_is_company: bool,
    ids: [Uuid; 2],
) -> AppResult<Vec<Uuid>> {
    let sql = if table_is_company {
        "SELECT id FROM companies WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    } else {
        "SELECT id FROM contacts WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    };
    Ok(query_scalar(sql)
        .bind(&ids[..])
        .fetch_all(tx.conn())
        .await?)
}

/// How many rows of each kind were moved to the survivor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Moved {
    pub contacts: u64,
    pub leads: u64,
    pub activities: u64,
    pub associations: u64,
}

/// Re-points the duplicate contact's leads and activities to the survivor, those in the
/// trash too. Their `updated_at` moves, so incremental sync (`updated_after`) sees them.
///
/// The trash is included for the rest of the transaction: the duplicate is deleted for
/// good next, and a trashed record left pointing at it would lose the link (`ON DELETE
/// SET NULL`) and come back from a restore linked to nothing. What follows in a merge
/// reaches rows by id (both records are live and locked), so seeing the trash changes
/// nothing else.
pub async fn move_contact_links(
    tx: &mut TenantTx,
    survivor: Uuid,
    duplicate: Uuid,
) -> AppResult<Moved> {
    tx.include_deleted().await?;
    let leads = query("UPDATE leads SET contact_id = $1, updated_at = now() WHERE contact_id = $2")
        .bind(survivor)
        .bind(duplicate)
        .execute(tx.conn())
        .await?
        .rows_affected();
    let activities =
        query("UPDATE activities SET contact_id = $1, updated_at = now() WHERE contact_id = $2")
            .bind(survivor)
            .bind(duplicate)
            .execute(tx.conn())
            .await?
            .rows_affected();
    Ok(Moved {
        leads,
        activities,
        ..Moved::default()
    })
}

/// Re-points the duplicate company's contacts, leads and activities to the survivor,
/// those in the trash too (see [`move_contact_links`]).
pub async fn move_company_links(
    tx: &mut TenantTx,
    survivor: Uuid,
    duplicate: Uuid,
) -> AppResult<Moved> {
    tx.include_deleted().await?;
    let mut moved = Moved::default();
    for (sql, count) in [
        (
            "UPDATE contacts SET company_id = $1, updated_at = now() WHERE company_id = $2",
            &mut moved.contacts,
        ),
        (
            "UPDATE leads SET company_id = $1, updated_at = now() WHERE company_id = $2",
            &mut moved.leads,
        ),
        (
            "UPDATE activities SET company_id = $1, updated_at = now() WHERE company_id = $2",
            &mut moved.activities,
        ),
    ] {
        *count = query(sql)
            .bind(survivor)
            .bind(duplicate)
            .execute(tx.conn())
            .await?
            .rows_affected();
    }
    Ok(moved)
}

/// Moves the duplicate's associations (either end) to the survivor, whatever the trash
/// holds (the table has no trash policy: an association is hidden through its records,
/// so one with a trashed end moves like any other). Those that would
/// become a link of the survivor with itself, or repeat a link the survivor already has
/// (same other end, direction and label), are deleted instead and returned, for their
/// `association.deleted` events. Returns (deleted, moved count).
pub async fn move_associations(
    tx: &mut TenantTx,
    record_type: &'static str,
    survivor: Uuid,
    duplicate: Uuid,
) -> AppResult<(Vec<AssociationRow>, u64)> {
    let dropped: Vec<AssociationRow> = query_as(
        "DELETE FROM associations a \
         WHERE (a.from_type = $1 AND a.from_id = $3 AND a.to_type = $1 AND a.to_id = $2) \
            OR (a.from_type = $1 AND a.from_id = $2 AND a.to_type = $1 AND a.to_id = $3) \
            OR (a.from_type = $1 AND a.from_id = $3 AND EXISTS ( \
                   SELECT 1 FROM associations b WHERE b.from_type = $1 AND b.from_id = $2 \
                   AND b.to_type = a.to_type AND b.to_id = a.to_id \
                   AND b.label_id IS NOT DISTINCT FROM a.label_id)) \
            OR (a.to_type = $1 AND a.to_id = $3 AND EXISTS ( \
                   SELECT 1 FROM associations b WHERE b.to_type = $1 AND b.to_id = $2 \
                   AND b.from_type = a.from_type AND b.from_id = a.from_id \
                   AND b.label_id IS NOT DISTINCT FROM a.label_id)) \
         RETURNING a.id, a.from_type, a.from_id, a.to_type, a.to_id, a.label_id, a.created_at",
    )
    .bind(record_type)
    .bind(survivor)
    .bind(duplicate)
    .fetch_all(tx.conn())
    .await?;
    let from = query("UPDATE associations SET from_id = $2 WHERE from_type = $1 AND from_id = $3")
        .bind(record_type)
        .bind(survivor)
        .bind(duplicate)
        .execute(tx.conn())
        .await?
        .rows_affected();
    let to = query("UPDATE associations SET to_id = $2 WHERE to_type = $1 AND to_id = $3")
        .bind(record_type)
        .bind(survivor)
        .bind(duplicate)
        .execute(tx.conn())
        .await?
        .rows_affected();
    Ok((dropped, from + to))
}

/// Records the merge, with the duplicate as the API returned it just before.
pub async fn record(
    tx: &mut TenantTx,
    record_type: &'static str,
    survivor: Uuid,
    merged: Uuid,
    snapshot: serde_json::Value,
    actor_user_id: Option<Uuid>,
    credential_id: Uuid,
) -> AppResult<()> {
    let tenant_id = tx.tenant_id();
    query(
        "INSERT INTO record_merges (id, tenant_id, record_type, survivor_id, merged_id, \
         snapshot, actor_user_id, credential_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(record_type)
    .bind(survivor)
    .bind(merged)
    .bind(snapshot)
    .bind(actor_user_id)
    .bind(credential_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// One suggested pair of likely duplicate contacts; `contact_id < duplicate_id`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DuplicateRow {
    pub contact_id: Uuid,
    pub duplicate_id: Uuid,
    pub same_email: bool,
    pub same_phone: bool,
    /// pg_trgm similarity of the two full names, 0 to 1.
    pub name_similarity: f32,
    pub score: f32,
}

/// A pair's score: an email match weighs most, then the phone, then the name's
/// similarity (so a pair matching on everything scores 1 + 0.8 + 1).
const SCORE: &str = "(CASE WHEN same_email THEN 1.0 ELSE 0 END \
                     + CASE WHEN same_phone THEN 0.8 ELSE 0 END + name_similarity)::real";

/// Suggestions, best first, for the whole tenant or (with `contact_id`) one contact. The
/// candidate pairs come from `contact_duplicate_candidates` (see its migration): the
/// same email key or phone digits, or a trigram-similar full name, looked for from the
/// `window` most recently changed contacts (each costs an index probe). A key shared by
/// more than `GROUP_MAX` contacts is not evidence (a switchboard number). The pairs are
/// scored here, joined back to `contacts` under row-level security.
pub async fn suggestions(
    tx: &mut TenantTx,
    contact_id: Option<Uuid>,
    threshold: f32,
    window: i32,
    limit: i64,
) -> AppResult<Vec<DuplicateRow>> {
    let sql = format!(
        "WITH pairs AS ( \
             SELECT DISTINCT x AS p, y AS q \
             FROM contact_duplicate_candidates($1, $2, $3, {GROUP_MAX}) \
         ), \
         scored AS ( \
             SELECT p AS contact_id, q AS duplicate_id, \
                 (a.email IS NOT NULL AND b.email IS NOT NULL \
                  AND {EMAIL_KEY_A} = {EMAIL_KEY_B}) AS same_email, \
                 (a.phone IS NOT NULL AND b.phone IS NOT NULL \
                  AND {PHONE_KEY_A} = {PHONE_KEY_B}) AS same_phone, \
                 CASE WHEN length(trim({FULL_NAME_A})) > 0 AND length(trim({FULL_NAME_B})) > 0 \
                      THEN similarity({FULL_NAME_A}, {FULL_NAME_B}) ELSE 0 END AS name_similarity \
             FROM pairs JOIN contacts a ON a.id = p JOIN contacts b ON b.id = q \
         ) \
         SELECT contact_id, duplicate_id, same_email, same_phone, name_similarity, \
             {SCORE} AS score \
         FROM scored \
         WHERE same_email OR same_phone OR name_similarity >= $2 \
         ORDER BY score DESC, contact_id, duplicate_id LIMIT $4"
    );
    Ok(query_as(&sql)
        .bind(contact_id)
        .bind(threshold)
        .bind(window)
        .bind(limit)
        .fetch_all(tx.conn())
        .await?)
}

/// Contacts sharing one key beyond this are not suggested as duplicates of each other.
const GROUP_MAX: i32 = 20;
const EMAIL_KEY_A: &str = "regexp_replace(lower(a.email), '\\+[^@]*@', '@')";
const EMAIL_KEY_B: &str = "regexp_replace(lower(b.email), '\\+[^@]*@', '@')";
const PHONE_KEY_A: &str = "regexp_replace(a.phone, '[^0-9]', '', 'g')";
const PHONE_KEY_B: &str = "regexp_replace(b.phone, '[^0-9]', '', 'g')";
const FULL_NAME_A: &str = "lower(coalesce(a.first_name, '') || ' ' || coalesce(a.last_name, ''))";
const FULL_NAME_B: &str = "lower(coalesce(b.first_name, '') || ' ' || coalesce(b.last_name, ''))";
