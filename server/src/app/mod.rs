//! The application layer: what Momentum does, below the HTTP edge and above the SQL.
//! One module per aggregate holds its rules and its transactions — a write checks its
//! input against the tenant's state (custom field definitions, links, placement), makes
//! the change in one tenant transaction, and records its events in that transaction
//! (the outbox) — taking domain values and the principal, returning what it wrote.
//! Nothing here knows poem: `api/` extracts a request into domain values, calls one
//! function here, and renders the result.
//!
//! An event's `data` is the resource exactly as the API returns it, so a write that
//! emits is generic over `V`, the wire type its caller wants back ([`View`]): the function
//! builds `V` from the row it wrote, records it, and returns it. Modelled on omicron's
//! `nexus/src/app` under `external_api`.

pub mod activities;
pub mod api_keys;
pub mod associations;
pub mod audit;
pub mod batch;
pub mod batch_read;
pub mod companies;
pub mod contacts;
pub mod custom_field_definitions;
pub mod custom_fields;
pub mod devices;
pub mod events;
pub mod exports;
pub mod idempotency;
pub mod imports;
pub mod jobs;
pub mod leads;
pub mod me;
pub mod merges;
pub mod page;
pub mod pipelines;
pub mod sandboxes;
pub mod search;
pub mod system;
pub mod users;
pub mod version;
pub mod webhooks;

use uuid::Uuid;

use crate::auth::Principal;
use crate::db::record::{self, Table};
use crate::db::TenantTx;
use crate::error::AppError;
use crate::events::Data;
use crate::state::AppState;

/// A free-text query parameter: control characters make the request malformed. Here, not
/// in `api`, because a list query is also replayed away from any request (an export).
pub fn filter_text(name: &str, value: Option<String>) -> Result<Option<String>, AppError> {
    crate::domain::fields::filter_text(name, value).map_err(AppError::bad_parameter)
}

/// What a write returns and records in its events: the caller's rendering of the row
/// `R` it wrote (in practice the API's wire type for that resource).
pub trait View<R>: From<R> + Data + Send {}

impl<R, T: From<R> + Data + Send> View<R> for T {}

/// The record `id` of a table that keeps a trash (contacts, companies, leads,
/// activities); one in the trash only when `include_deleted`.
pub async fn read<T: Table>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    include_deleted: bool,
) -> Result<T, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if include_deleted {
        tx.include_deleted().await?;
    }
    let row = record::get(&mut tx, id).await?;
    tx.end_read();
    Ok(row)
}
