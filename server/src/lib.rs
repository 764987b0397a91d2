//! Momentum's server as a library: `main.rs` is a thin CLI over it, and tests start the
//! real application through [`startup::Application`].
//!
//! Code tour: `api/` (HTTP: handlers, wire types, envelope), `domain/` (validated types
//! and business rules), `db/` (SQL, the tenant-scoped transaction, embedded PostgreSQL),
//! `auth/` (credentials, scopes, roles), `crypto.rs` (secrets at rest), `ratelimit/`
//! (classes and limiters), `metrics.rs` (`/metrics`), `events.rs` (the event catalogue
//! and the outbox's `emit`), `webhooks/` (signing, the secrets at rest, the address guard
//! and the delivery worker), `startup.rs` (wiring),
//! `serving.rs` (the connection loop and its limits on slow clients), `deadline.rs` (the
//! request's deadline, which bounds its statements),
//! `config.rs` (flags and environment), `testing/` (services tests start for themselves;
//! compiled for tests and the `testing` feature only, never into the production binary).

pub mod api;
pub mod auth;
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
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webhooks;
