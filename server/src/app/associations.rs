//! Associations: directed links between any two records of the four CRM types, each
//! with an optional tenant-defined label. Both ends must be visible records of the
//! tenant and not the same record; a label restricted to a pair of types joins only that
//! pair, in that direction, and it cannot be restricted, nor deleted, while links stand
//! in the way. Creating and deleting a link records its event in the same transaction;
//! labels emit none.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::page::{listed, Listed, PageRequest};
use super::version::{by_updated_at, IfMatch, Versioned};
use super::View;
use crate::auth::Principal;
use crate::db::associations as repo;
pub use crate::db::associations::{
    AssociationFilter, AssociationRow, AssociationSort, LabelRow, LabelSort, NewAssociation,
};
use crate::db::TenantTx;
use crate::domain::association::{self as domain, Label};
pub use crate::domain::association::{LabelInput, LabelPatch};
use crate::domain::record::RecordType;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::events::{self, EventType};
use crate::state::AppState;

by_updated_at!(LabelRow);

/// An association never changes: its version is its creation.
impl Versioned for AssociationRow {
    fn version(&self) -> DateTime<Utc> {
        self.created_at
    }
}

/// Creates a label from `input`, its name unique within the tenant ignoring case.
pub async fn create_label(
    state: &AppState,
    actor: &Principal,
    input: LabelInput,
) -> Result<LabelRow, AppError> {
    let label = Label::parse(input).map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::insert_label(&mut tx, &label).await?;
    tx.commit().await?;
    Ok(row)
}

/// The label `id`.
pub async fn get_label(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<LabelRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get_label(&mut tx, id, false).await?;
    tx.end_read();
    Ok(row)
}

/// Lays `patch` over the label `id` if its version passes `if_match`. A restriction
/// that associations carrying the label would not fit is a `409`.
pub async fn update_label(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: LabelPatch,
) -> Result<LabelRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_label(&mut tx, id, true).await?;
    if_match.check(&current)?;
    let label = patch
        .apply_to(stored(&current))
        .map_err(AppError::Validation)?;
    check_label_types(&mut tx, id, &label).await?;
    let row = repo::update_label(&mut tx, id, &label).await?;
    tx.commit().await?;
    Ok(row)
}

/// Deletes the label `id` if its version passes `if_match` and no association carries
/// it (else a `409` naming how many do), so no link loses its meaning silently.
pub async fn delete_label(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_label(&mut tx, id, true).await?;
    if_match.check(&current)?;
    let uses = repo::label_uses(&mut tx, id).await?;
    if uses > 0 {
        return Err(AppError::Conflict {
            message: format!("{uses} association(s) carry this label; delete them first"),
            details: vec![FieldError::new(
                "id",
                "in_use",
                format!("carried by {uses} association(s)"),
            )],
        });
    }
    repo::delete_label(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}

/// One page of the labels, those changed after `updated_after` only when given.
pub async fn list_labels(
    state: &AppState,
    actor: &Principal,
    updated_after: Option<DateTime<Utc>>,
    page: &PageRequest,
) -> Result<Listed<LabelRow>, AppError> {
    let page = page.page(LabelSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list_labels(&mut tx, updated_after, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// Links two records. Every problem with the ends and the label is reported at once
/// (`422`); the same link twice is a `409` naming the existing one.
pub async fn create<V: View<AssociationRow>>(
    state: &AppState,
    actor: &Principal,
    link: NewAssociation,
) -> Result<V, AppError> {
    domain::check_ends((link.from_type, link.from_id), (link.to_type, link.to_id))
        .map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let mut errors = Vec::new();
    for (field, record_type, id) in [
        ("from_id", link.from_type, link.from_id),
        ("to_id", link.to_type, link.to_id),
    ] {
        if !repo::record_visible(&mut tx, record_type, id).await? {
            errors.push(FieldError::new(
                field,
                "not_found",
                format!("no {record_type} with this id exists"),
            ));
        }
    }
    if let Some(label_id) = link.label_id {
        match repo::get_label(&mut tx, label_id, false).await {
            Ok(label) => {
                let types = label.from_type.as_deref().zip(label.to_type.as_deref());
                if !Label::fits(types, link.from_type, link.to_type) {
                    errors.push(FieldError::new(
                        "label_id",
                        "wrong_types",
                        format!(
                            "this label only joins a {} to a {}",
                            label.from_type.unwrap_or_default(),
                            label.to_type.unwrap_or_default()
                        ),
                    ));
                }
            }
            Err(AppError::NotFound(_)) => errors.push(FieldError::new(
                "label_id",
                "not_found",
                "no association label with this id exists",
            )),
            Err(other) => return Err(other),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let created = V::from(repo::insert(&mut tx, &link).await?);
    events::emit(&mut tx, EventType::AssociationCreated, &created).await?;
    tx.commit().await?;
    Ok(created)
}

/// The association `id`, found only while both of its records are.
pub async fn get(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<AssociationRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get(&mut tx, id, false).await?;
    tx.end_read();
    Ok(row)
}

/// Deletes the association `id` if its version passes `if_match`; the records stay.
pub async fn delete<V: View<AssociationRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get(&mut tx, id, true).await?;
    if_match.check(&current)?;
    let deleted = V::from(repo::delete(&mut tx, id).await?);
    events::emit(&mut tx, EventType::AssociationDeleted, &deleted).await?;
    tx.commit().await?;
    Ok(())
}

/// One page of the associations matching `filter`.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    filter: &AssociationFilter,
    page: &PageRequest,
) -> Result<Listed<AssociationRow>, AppError> {
    let page = page.page(AssociationSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list(&mut tx, filter, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// One page of the associations of the record `id` of type `record` (a `404` when it
/// is not there), of those whose other end has `other_type` and those with `label_id`
/// only when given.
pub async fn of_record(
    state: &AppState,
    actor: &Principal,
    record: RecordType,
    id: Uuid,
    other_type: Option<RecordType>,
    label_id: Option<Uuid>,
    page: &PageRequest,
) -> Result<Listed<AssociationRow>, AppError> {
    let page = page.page(AssociationSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if !repo::record_visible(&mut tx, record.as_str(), id).await? {
        return Err(AppError::NotFound(record.as_str()));
    }
    let filter = AssociationFilter {
        record: Some((record.as_str(), id)),
        other_type: other_type.map(RecordType::as_str),
        label_id,
        ..AssociationFilter::default()
    };
    let (rows, has_more) = repo::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// The label's types must fit every association that carries it.
async fn check_label_types(tx: &mut TenantTx, id: Uuid, label: &Label) -> Result<(), AppError> {
    let Some(types) = label.types() else {
        return Ok(());
    };
    let misfits = repo::label_misfits(tx, id, types).await?;
    if misfits > 0 {
        return Err(AppError::Conflict {
            message: format!(
                "{misfits} association(s) carrying this label join other types; delete them \
                 or keep the label unrestricted"
            ),
            details: vec![FieldError::new(
                "from_type",
                "in_use",
                format!("{misfits} association(s) of other types carry this label"),
            )],
        });
    }
    Ok(())
}

/// A stored label as the fields a patch is laid over.
fn stored(row: &LabelRow) -> LabelInput {
    LabelInput {
        name: Some(row.name.clone()),
        description: row.description.clone(),
        from_type: row.from_type.as_deref().and_then(domain::record_type),
        to_type: row.to_type.as_deref().and_then(domain::record_type),
    }
}
