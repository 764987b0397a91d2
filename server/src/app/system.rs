//! Whether this server can take traffic: it is not shutting down, and its database
//! answers and carries every migration this binary needs. `/readyz` asks; liveness needs
//! nothing from here, since it must not touch the database.

use std::sync::atomic::Ordering;

pub use crate::db::Readiness;
use crate::error::AppError;
use crate::state::AppState;

/// The database's state when the server is ready; `Unavailable` from the moment the
/// server is asked to shut down, or while the database does not answer or lacks a
/// migration.
pub async fn readiness(state: &AppState) -> Result<Readiness, AppError> {
    // Not logged: a balancer polls it throughout the drain, whose start is logged once.
    if state.draining.load(Ordering::SeqCst) {
        return Err(AppError::Unavailable(anyhow::anyhow!("shutting down")));
    }
    crate::db::check_ready(&state.pool).await.map_err(|err| {
        tracing::warn!(error = %err, "not ready");
        AppError::Unavailable(err)
    })
}
