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
pub mod audit;
pub mod contacts;
pub mod custom_fields;
pub mod devices;
pub mod idempotency;
pub mod leads;
pub mod page;
pub mod pipelines;
pub mod system;
pub mod users;
pub mod version;

use crate::events::Data;

/// What a write returns and records in its events: the caller's rendering of the row
/// `R` it wrote (in practice the API's wire type for that resource).
pub trait View<R>: From<R> + Data + Send {}

impl<R, T: From<R> + Data + Send> View<R> for T {}
