//! Companies: the organisations a tenant works with, and their contacts. A company needs
//! a name; its domain, if any, is normalised and unique within the tenant (a taken one is
//! a `409` naming the company that holds it); its custom fields are held to the tenant's
//! definitions, and every change records its event in the transaction that makes it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::contacts::{self, ContactFilter, ContactRow};
use super::custom_fields;
use super::page::{listed, Listed, Page, PageRequest};
use super::version::by_updated_at;
use super::version::IfMatch;
use super::View;
use crate::auth::Principal;
use crate::db::companies as repo;
pub use crate::db::companies::{CompanyFilter, CompanyRow, CompanySort};
use crate::db::TenantTx;
use crate::domain::company::Company;
pub use crate::domain::company::{CompanyInput, CompanyPatch};
use crate::domain::record::RecordType;
use crate::error::AppError;
use crate::events::{self, EventType};
use crate::state::AppState;

by_updated_at!(CompanyRow);

/// Creates a company from `input`, checked against the company rules and the tenant's
/// custom field definitions. Without an `owner_id` it belongs to the user the actor acts
/// for (none for a service key).
pub async fn create<V: View<CompanyRow>>(
    state: &AppState,
    actor: &Principal,
    mut input: CompanyInput,
) -> Result<V, AppError> {
    input.owner_id = input.owner_id.or(actor.user_id);
    let company = Company::parse(input).map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let checked =
        custom_fields::for_create(&mut tx, RecordType::Company, company.custom_fields()).await?;
    let company = company.with_custom_fields(checked);
    let row = repo::insert(&mut tx, &company).await?;
    commit_with(tx, EventType::CompanyCreated, row).await
}

/// The company `id`; one in the trash only when `include_deleted`.
pub async fn get(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    include_deleted: bool,
) -> Result<CompanyRow, AppError> {
    super::read(state, actor, id, include_deleted).await
}

/// Lays `patch` over the company `id` if its version passes `if_match`; the result must
/// still satisfy the create rules, which are checked before `custom_fields` are merged
/// key by key against the tenant's definitions.
pub async fn update<V: View<CompanyRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: CompanyPatch,
) -> Result<V, AppError> {
    let values = patch.custom_fields.clone();
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    if_match.check(&current)?;
    let company = patch
        .apply_to_input(current.to_input())
        .map_err(AppError::Validation)?;
    let merged = custom_fields::for_patch(
        &mut tx,
        RecordType::Company,
        id,
        &current.custom_fields,
        values,
    )
    .await?;
    let company = match merged {
        Some(values) => company.with_custom_fields(Value::Object(values)),
        None => company,
    };
    let row = repo::update(&mut tx, id, &company).await?;
    let (before, company) = (V::from(current), V::from(row));
    events::emit_update(&mut tx, EventType::CompanyUpdated, &before, &company).await?;
    tx.commit().await?;
    Ok(company)
}

/// Moves the company `id` to the trash if its version passes `if_match`. Its contacts,
/// leads and activities keep their link to it.
pub async fn delete<V: View<CompanyRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if_match
        .check_with(repo::get_for_update(&mut tx, id))
        .await?;
    let row = repo::trash(&mut tx, id).await?;
    commit_with::<V>(tx, EventType::CompanyDeleted, row).await?;
    Ok(())
}

/// Brings the company `id` back from the trash as it was; one that is not in the trash
/// is returned unchanged (no event). A `409` names the live company that took its domain
/// or one of its unique custom field values meanwhile.
pub async fn restore<V: View<CompanyRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<V, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    tx.include_deleted().await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    if current.deleted_at.is_none() {
        tx.commit().await?;
        return Ok(V::from(current));
    }
    custom_fields::check_restorable(&mut tx, RecordType::Company, id, &current.custom_fields)
        .await?;
    let row = repo::restore(&mut tx, &current).await?;
    commit_with(tx, EventType::CompanyRestored, row).await
}

/// The `page` of the companies matching `filter` and the `custom_field` filters
/// (`key:op:value`). The page comes parsed: a bad cursor is refused before the filters.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    mut filter: CompanyFilter,
    custom_field: &[String],
    page: &Page<CompanySort>,
) -> Result<Listed<CompanyRow>, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    filter.custom_fields =
        custom_fields::filters(&mut tx, RecordType::Company, custom_field).await?;
    let (rows, has_more) = repo::list(&mut tx, &filter, page).await?;
    tx.end_read();
    Ok(listed(page, rows, has_more))
}

/// One page of the contacts of the company `id` (a `404` when the tenant has no such
/// company, before the page is looked at), changed after `updated_after` if given.
pub async fn contacts(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    updated_after: Option<DateTime<Utc>>,
    page: &PageRequest,
) -> Result<Listed<ContactRow>, AppError> {
    let filter = ContactFilter {
        company_id: Some(id),
        updated_after,
        ..Default::default()
    };
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    repo::exists(&mut tx, id).await?;
    let list = contacts::list_in(&mut tx, &filter, page).await?;
    tx.end_read();
    Ok(list)
}

/// Records `event` about the company in the write's transaction and commits it.
async fn commit_with<V: View<CompanyRow>>(
    mut tx: TenantTx,
    event: EventType,
    row: CompanyRow,
) -> Result<V, AppError> {
    let company = V::from(row);
    events::emit(&mut tx, event, &company).await?;
    tx.commit().await?;
    Ok(company)
}
