//! The outbox as the API reads it: every change the tenant's writes recorded, in the
//! transaction that made it, oldest first. Recording is `crate::events::emit`, which each
//! write calls in its own transaction; this module only reads.

use uuid::Uuid;

use super::page::{listed, Listed, PageRequest};
use crate::auth::Principal;
use crate::db::events as repo;
pub use crate::db::events::{EventFilter, EventRow, EventSort};
use crate::db::TenantTx;
use crate::error::AppError;
use crate::state::AppState;

/// One page of the events matching `filter`.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    filter: &EventFilter,
    page: &PageRequest,
) -> Result<Listed<EventRow>, AppError> {
    let page = page.page(EventSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list(&mut tx, filter, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// The event `id`.
pub async fn get(state: &AppState, actor: &Principal, id: Uuid) -> Result<EventRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get(&mut tx, id).await?;
    tx.end_read();
    Ok(row)
}
