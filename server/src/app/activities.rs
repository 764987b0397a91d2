//! Activities: notes, calls, emails, meetings and tasks about contacts, companies and
//! leads, and the timelines of those records. A client's activity says something (a
//! subject or a body), belongs to the user the key acts for unless it names its owner,
//! and holds its custom fields to the tenant's definitions. `stage_change` activities,
//! which `db::leads` writes when a lead moves, are read-only: they go to the trash and
//! come back only with their lead.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::custom_fields;
use super::page::{listed, Listed, PageRequest};
use super::version::by_updated_at;
use super::version::IfMatch;
use super::View;
use crate::auth::Principal;
use crate::db::activities as repo;
pub use crate::db::activities::{ActivityFilter, ActivityRow, ActivitySort};
use crate::db::{companies, contacts, leads, TenantTx};
use crate::domain::activity::Activity;
pub use crate::domain::activity::{ActivityInput, ActivityPatch, ActivityType};
use crate::domain::record::RecordType;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::events::{self, EventType};
use crate::state::AppState;

by_updated_at!(ActivityRow);

/// Creates an activity from `input` with the custom field `values`. Without an
/// `owner_id` it belongs to the user the actor acts for.
pub async fn create<V: View<ActivityRow>>(
    state: &AppState,
    actor: &Principal,
    mut input: ActivityInput,
    values: Map<String, Value>,
) -> Result<V, AppError> {
    input.owner_id = input.owner_id.or(actor.user_id);
    let activity = Activity::parse(input).map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let values =
        custom_fields::for_create(&mut tx, RecordType::Activity, &Value::Object(values)).await?;
    let row = repo::insert(&mut tx, &activity, &values).await?;
    commit_with(tx, EventType::ActivityCreated, row).await
}

/// The activity `id`; one in the trash only when `include_deleted`.
pub async fn get(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    include_deleted: bool,
) -> Result<ActivityRow, AppError> {
    super::read(state, actor, id, include_deleted).await
}

/// Lays `patch` over the activity `id` if its version passes `if_match`; the result must
/// still satisfy the create rules. `custom_fields` are merged key by key.
pub async fn update<V: View<ActivityRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    mut patch: ActivityPatch,
) -> Result<V, AppError> {
    let values = std::mem::take(&mut patch.custom_fields);
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = writable(&mut tx, id).await?;
    if_match.check(&current)?;
    let values = custom_fields::for_patch(
        &mut tx,
        RecordType::Activity,
        id,
        &current.custom_fields,
        values,
    )
    .await?
    .map(Value::Object)
    .unwrap_or_else(|| current.custom_fields.clone());
    let activity = patch
        .apply_to_input(current.to_input())
        .map_err(AppError::Validation)?;
    let row = repo::update(&mut tx, id, &activity, &values).await?;
    commit_update(tx, current, row).await
}

/// Moves the activity `id` to the trash if its version passes `if_match`.
pub async fn delete<V: View<ActivityRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = writable(&mut tx, id).await?;
    if_match.check(&current)?;
    let trashed = repo::trash(&mut tx, id).await?;
    commit_with::<V>(tx, EventType::ActivityDeleted, trashed).await?;
    Ok(())
}

/// Completes the task `id` now. Completing a completed task changes nothing (the first
/// completion time is kept), so it reports nothing either; only tasks complete (`409`).
pub async fn complete<V: View<ActivityRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<V, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = writable(&mut tx, id).await?;
    if current.kind != ActivityType::Task.as_str() {
        return Err(AppError::Conflict {
            message: format!("only tasks can be completed; this is a {}", current.kind),
            details: vec![],
        });
    }
    let row = repo::complete(&mut tx, id).await?;
    if current.completed_at.is_none() {
        commit_update(tx, current, row).await
    } else {
        tx.commit().await?;
        Ok(V::from(row))
    }
}

/// Brings the activity `id` back from the trash as it was, with its links; one that is
/// not in the trash is returned unchanged (no event). A `stage_change` activity comes
/// back only with its lead (`409`).
pub async fn restore<V: View<ActivityRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<V, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    tx.include_deleted().await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    match current.deleted_at {
        None => {
            tx.commit().await?;
            Ok(V::from(current))
        }
        Some(_) if current.system => Err(AppError::Conflict {
            message: "a `stage_change` activity comes back with its lead: restore the lead".into(),
            details: vec![FieldError::new(
                "lead_id",
                "deleted",
                "restore this lead to restore its stage history",
            )],
        }),
        Some(_) => {
            custom_fields::check_restorable(
                &mut tx,
                RecordType::Activity,
                id,
                &current.custom_fields,
            )
            .await?;
            let row = repo::restore(&mut tx, id).await?;
            commit_with(tx, EventType::ActivityRestored, row).await
        }
    }
}

/// One page of the activities matching `filter` and the `custom_field` filters
/// (`key:op:value`).
pub async fn list(
    state: &AppState,
    actor: &Principal,
    mut filter: ActivityFilter,
    custom_field: &[String],
    page: &PageRequest,
) -> Result<Listed<ActivityRow>, AppError> {
    let page = page.page(ActivitySort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    filter.custom_fields =
        custom_fields::filters(&mut tx, RecordType::Activity, custom_field).await?;
    let (rows, has_more) = repo::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// The timeline of the contact, company or lead `filter` names: its activities, newest
/// first whatever `page.sort` says. A record that does not exist is a `404`.
pub async fn timeline(
    state: &AppState,
    actor: &Principal,
    filter: ActivityFilter,
    page: &PageRequest,
) -> Result<Listed<ActivityRow>, AppError> {
    let page = PageRequest {
        sort: Some("-created_at".into()),
        ..page.clone()
    }
    .page(ActivitySort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if let Some(id) = filter.contact_id {
        contacts::get(&mut tx, id).await?;
    }
    if let Some(id) = filter.company_id {
        companies::exists(&mut tx, id).await?;
    }
    if let Some(id) = filter.lead_id {
        leads::exists(&mut tx, id).await?;
    }
    let (rows, has_more) = repo::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// Records `event` about the activity in the write's transaction and commits it.
async fn commit_with<V: View<ActivityRow>>(
    mut tx: TenantTx,
    event: EventType,
    row: ActivityRow,
) -> Result<V, AppError> {
    let activity = V::from(row);
    events::emit(&mut tx, event, &activity).await?;
    tx.commit().await?;
    Ok(activity)
}

/// Records `activity.updated` with what changed from `before` to `row`, and commits.
async fn commit_update<V: View<ActivityRow>>(
    mut tx: TenantTx,
    before: ActivityRow,
    row: ActivityRow,
) -> Result<V, AppError> {
    let (before, activity) = (V::from(before), V::from(row));
    events::emit_update(&mut tx, EventType::ActivityUpdated, &before, &activity).await?;
    tx.commit().await?;
    Ok(activity)
}

/// Locks a client-written activity for a change; system ones are read-only.
async fn writable(tx: &mut TenantTx, id: Uuid) -> Result<ActivityRow, AppError> {
    let row = repo::get_for_update(tx, id).await?;
    if row.system {
        return Err(AppError::Conflict {
            message: "`stage_change` activities are written by the server and cannot be changed"
                .into(),
            details: vec![],
        });
    }
    Ok(row)
}
