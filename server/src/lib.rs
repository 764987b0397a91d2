//! Momentum's server as a library: `main.rs` is a thin CLI over it, and tests start the
//! real application through [`startup::Application`].
//!
//! Code tour, top to bottom (imports run only down; `layers.rs` holds them to it):
//! `startup/` (wiring: routes, the bound application, the embedded database, the
//! commands), `state.rs` (what every handler reaches), `api/` (HTTP only: handlers,
//! wire types, the envelope), `app/` (the application layer: rules, transactions and
//! events, one module per aggregate), `events.rs` (the event catalogue and the outbox's
//! `emit`), `webhooks/` (signing, the address guard, the delivery worker), `ratelimit/`
//! (classes and limiters), `auth/` (credentials, scopes, roles), `db/` (SQL only, the
//! tenant-scoped transaction, embedded PostgreSQL), `domain/` (validated types and typed
//! patches) and `error.rs`; beside them `crypto.rs` (secrets at rest), `blob.rs` (the
//! file store: a data-directory folder, S3 or memory), `metrics.rs`,
//! `telemetry.rs` (OpenTelemetry traces, off unless `OTEL_*` asks), `serving.rs` (the
//! connection loop and its limits on slow clients), `deadline.rs` (the
//! request's deadline, which bounds its statements), `config.rs` (flags and environment)
//! and `testing/` (services tests start for themselves; compiled for tests and the
//! `testing` feature only, never into the production binary).

pub mod api;
pub mod app;
pub mod auth;
pub mod blob;
pub mod config;
pub mod crypto;
pub mod db;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod events;
#[cfg(test)]
mod layers;
pub mod metrics;
pub mod ratelimit;
pub mod serving;
#[cfg(test)]
mod source_files;
pub mod startup;
pub mod state;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webhooks;
