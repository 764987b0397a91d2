//! Custom field definitions: the typed fields a tenant gives each record type. A key is
//! unique per record type (a taken one is a `409`), and a definition changes only in
//! ways the values already stored can follow: its type not while any record holds a
//! value, an option not while a record holds it, `unique` not while two live records
//! share a value. Deleting one removes its values from every record of the type in the
//! same transaction. The values themselves are held to the definitions by
//! `app::custom_fields`.

use uuid::Uuid;

use super::page::{listed, Listed, PageRequest};
use super::version::{by_updated_at, IfMatch};
use super::View;
use crate::auth::Principal;
use crate::db::custom_fields as repo;
pub use crate::db::custom_fields::{DefinitionRow, DefinitionSort};
use crate::db::{self, TenantTx};
use crate::domain::custom_field::DefinitionSpec;
pub use crate::domain::custom_field::{DefinitionInput, DefinitionPatch, FieldType};
use crate::domain::record::RecordType;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::events::{self, EventType};
use crate::state::AppState;

by_updated_at!(DefinitionRow);

/// Defines a custom field from `input`, checked against the definition rules.
pub async fn create<V: View<DefinitionRow>>(
    state: &AppState,
    actor: &Principal,
    input: DefinitionInput,
) -> Result<V, AppError> {
    let spec = DefinitionSpec::parse(input).map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let created = V::from(repo::insert(&mut tx, &spec).await?);
    events::emit(&mut tx, EventType::CustomFieldCreated, &created).await?;
    tx.commit().await?;
    Ok(created)
}

/// The definition `id`.
pub async fn get(state: &AppState, actor: &Principal, id: Uuid) -> Result<DefinitionRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get(&mut tx, id).await?;
    tx.end_read();
    Ok(row)
}

/// Lays `patch` over the definition `id` if its version passes `if_match`, unless the
/// values records hold stand in the way (a `409` naming the rule).
pub async fn update<V: View<DefinitionRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: DefinitionPatch,
) -> Result<V, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    if_match.check(&current)?;
    let old = current.to_spec();
    let spec = patch.apply_to(old.clone()).map_err(AppError::Validation)?;
    if spec.field_type() != old.field_type() && repo::has_values(&mut tx, id).await? {
        return Err(conflict(
            "type",
            "has_values",
            "the type cannot change while records hold values of this field".into(),
        ));
    }
    let removed: Vec<String> = old
        .options()
        .iter()
        .filter(|o| !spec.options().contains(o))
        .cloned()
        .collect();
    if !removed.is_empty() {
        if let Some(option) = repo::option_in_use(&mut tx, id, &removed).await? {
            return Err(conflict(
                "options",
                "option_in_use",
                format!("option `{option}` is still held by records"),
            ));
        }
    }
    if spec.unique() && !old.unique() {
        if let Some((value, record)) = repo::duplicate_value(&mut tx, id).await? {
            return Err(conflict(
                "unique",
                "not_unique",
                format!("record {record} and another share the value `{value}`"),
            ));
        }
    }
    let updated = V::from(repo::update(&mut tx, id, &spec).await?);
    let before = V::from(current);
    events::emit_update(&mut tx, EventType::CustomFieldUpdated, &before, &updated).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Deletes the definition `id` if its version passes `if_match`, and its values with it
/// (one `custom_field.deleted`, no event for the records that lost a value).
pub async fn delete<V: View<DefinitionRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    if_match.check(&current)?;
    let record_type = RecordType::parse(&current.record_type).unwrap_or(RecordType::Contact);
    let deleted =
        V::from(repo::delete(&mut tx, id, db::record_table(record_type), &current.key).await?);
    events::emit(&mut tx, EventType::CustomFieldDeleted, &deleted).await?;
    tx.commit().await?;
    Ok(())
}

/// One page of the definitions, of `record_type` only when given.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    record_type: Option<RecordType>,
    page: &PageRequest,
) -> Result<Listed<DefinitionRow>, AppError> {
    let page = page.page(DefinitionSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list(&mut tx, record_type.map(RecordType::as_str), &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

fn conflict(field: &str, code: &'static str, message: String) -> AppError {
    AppError::Conflict {
        message: message.clone(),
        details: vec![FieldError::new(field, code, message)],
    }
}
