//! The audit log: who did what to users, API keys, session tokens and QR sessions. Each
//! entry is written by the change it records, in that change's transaction (see
//! `app::users`, `app::api_keys`, `app::devices`); here it is only read.

use super::page::{listed, Listed, Page};
use crate::auth::Principal;
use crate::db::audit as repo;
pub use crate::db::audit::{AuditFilter, AuditRow, AuditSort};
use crate::db::TenantTx;
use crate::error::AppError;
use crate::state::AppState;

/// One page of the tenant's audit events matching `filter`. The page is read by the
/// caller, before the filter, so that a bad cursor is the error reported first.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    filter: &AuditFilter,
    page: &Page<AuditSort>,
) -> Result<Listed<AuditRow>, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list(&mut tx, filter, page).await?;
    tx.end_read();
    Ok(listed(page, rows, has_more))
}
