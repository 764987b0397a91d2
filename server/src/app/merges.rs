//! Merging: folding a duplicate contact or company into the record that stays, and
//! finding the contacts that are likely duplicates. A merge is one transaction: both
//! records locked, the duplicate's links moved to the survivor (associations that would
//! repeat one it has, or link it to itself, dropped), the survivor's gaps filled from the
//! duplicate (`domain::merge`), the duplicate deleted for good and the merge recorded.
//! It emits `*.merged` only (no update or delete event for what it changed), plus
//! `association.deleted` for each association it dropped.

use uuid::Uuid;

use super::version::IfMatch;
use super::View;
use crate::auth::Principal;
use crate::db::associations::AssociationRow;
use crate::db::companies::{self, CompanyRow};
use crate::db::contacts::{self, ContactRow};
use crate::db::merges as repo;
pub use crate::db::merges::DuplicateRow;
use crate::db::TenantTx;
use crate::domain::{merge as fill, FieldError};
use crate::error::AppError;
use crate::events::{self, Data, EventType};
use crate::state::AppState;

/// Names whose trigram similarity reaches this are suggested.
pub const NAME_THRESHOLD: f32 = 0.5;
/// Tenant-wide, similar names are looked for from this many contacts, the most recently
/// changed first: each costs one trigram index probe (10-40 ms on 100,000 contacts with
/// common names). Emails and phones are compared across all contacts.
const NAME_WINDOW: i32 = 100;
/// The most suggestions a request gets when it does not say.
pub const DEFAULT_LIMIT: u32 = 50;

/// What a `contact.merged` or `company.merged` event says, in the caller's view `V` of
/// the record: the survivor after the merge, and the duplicate as it was just before.
#[derive(Debug, Clone)]
pub struct Merged<V> {
    pub survivor: V,
    /// The duplicate's id, which no longer exists.
    pub merged_id: Uuid,
    pub merged: V,
}

/// Merges the contact `duplicate_id` into the contact `id` (if its version passes
/// `if_match`) and returns the survivor. `E` is the `contact.merged` event's data, `A`
/// an association as `association.deleted` carries it.
pub async fn contacts<V, E, A>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    duplicate_id: Uuid,
) -> Result<V, AppError>
where
    V: View<ContactRow> + Clone,
    E: View<Merged<V>>,
    A: View<AssociationRow>,
{
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    lock_both(&mut tx, false, id, duplicate_id, "contact").await?;
    let survivor = contacts::get(&mut tx, id).await?;
    if_match.check(&survivor)?;
    let duplicate = contacts::get(&mut tx, duplicate_id).await?;
    repo::move_contact_links(&mut tx, id, duplicate_id).await?;
    let (dropped, _) = repo::move_associations(&mut tx, "contact", id, duplicate_id).await?;
    contacts::delete_for_good(&mut tx, duplicate_id).await?;
    let filled = fill::contact(survivor.to_domain(), duplicate.to_domain());
    let row = contacts::update(&mut tx, id, &filled).await?;
    let merged = V::from(duplicate);
    record(&mut tx, actor, "contact", id, duplicate_id, &merged).await?;
    dropped_events::<A>(&mut tx, dropped).await?;
    let survivor = V::from(row);
    let event = E::from(Merged {
        survivor: survivor.clone(),
        merged_id: duplicate_id,
        merged,
    });
    events::emit(&mut tx, EventType::ContactMerged, &event).await?;
    tx.commit().await?;
    Ok(survivor)
}

/// Merges the company `duplicate_id` into the company `id` (if its version passes
/// `if_match`) and returns the survivor; as [`contacts`], the address taken whole from
/// the duplicate only when the survivor has none.
pub async fn companies<V, E, A>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    duplicate_id: Uuid,
) -> Result<V, AppError>
where
    V: View<CompanyRow> + Clone,
    E: View<Merged<V>>,
    A: View<AssociationRow>,
{
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    lock_both(&mut tx, true, id, duplicate_id, "company").await?;
    let survivor = companies::get(&mut tx, id).await?;
    if_match.check(&survivor)?;
    let duplicate = companies::get(&mut tx, duplicate_id).await?;
    repo::move_company_links(&mut tx, id, duplicate_id).await?;
    let (dropped, _) = repo::move_associations(&mut tx, "company", id, duplicate_id).await?;
    companies::delete_for_good(&mut tx, duplicate_id).await?;
    let filled = fill::company(survivor.to_domain(), duplicate.to_domain());
    let row = companies::update(&mut tx, id, &filled).await?;
    let merged = V::from(duplicate);
    record(&mut tx, actor, "company", id, duplicate_id, &merged).await?;
    dropped_events::<A>(&mut tx, dropped).await?;
    let survivor = V::from(row);
    let event = E::from(Merged {
        survivor: survivor.clone(),
        merged_id: duplicate_id,
        merged,
    });
    events::emit(&mut tx, EventType::CompanyMerged, &event).await?;
    tx.commit().await?;
    Ok(survivor)
}

/// At most `limit` pairs of contacts that are likely the same person, best first; only
/// the pairs of `contact_id` when given.
pub async fn duplicates(
    state: &AppState,
    actor: &Principal,
    contact_id: Option<Uuid>,
    limit: u32,
) -> Result<Vec<DuplicateRow>, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let rows = repo::suggestions(
        &mut tx,
        contact_id,
        NAME_THRESHOLD,
        NAME_WINDOW,
        i64::from(limit),
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// The survivor and the duplicate, locked: 422 when they are the same record or the
/// duplicate is not in the tenant, 404 when the survivor is not.
async fn lock_both(
    tx: &mut TenantTx,
    companies: bool,
    survivor: Uuid,
    duplicate: Uuid,
    what: &'static str,
) -> Result<(), AppError> {
    if survivor == duplicate {
        return Err(AppError::Validation(vec![FieldError::new(
            "duplicate_id",
            "same_record",
            format!("a {what} cannot be merged into itself"),
        )]));
    }
    let found = repo::lock_pair(tx, companies, [survivor, duplicate]).await?;
    if !found.contains(&survivor) {
        return Err(AppError::NotFound(what));
    }
    if !found.contains(&duplicate) {
        return Err(AppError::Validation(vec![FieldError::new(
            "duplicate_id",
            "not_found",
            format!("no {what} with this id exists"),
        )]));
    }
    Ok(())
}

/// Emits `association.deleted` for the associations the merge dropped.
async fn dropped_events<A: View<AssociationRow>>(
    tx: &mut TenantTx,
    dropped: Vec<AssociationRow>,
) -> Result<(), AppError> {
    for row in dropped {
        events::emit(tx, EventType::AssociationDeleted, &A::from(row)).await?;
    }
    Ok(())
}

/// Records the merge, with the duplicate as the API returned it just before.
async fn record(
    tx: &mut TenantTx,
    who: &Principal,
    record_type: &'static str,
    survivor: Uuid,
    merged: Uuid,
    snapshot: &impl Data,
) -> Result<(), AppError> {
    repo::record(
        tx,
        record_type,
        survivor,
        merged,
        snapshot.data(),
        who.user_id,
        who.credential_id,
    )
    .await
}
