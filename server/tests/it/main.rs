//! Server integration tests below the HTTP layer: the database's tenant isolation as the
//! runtime role sees it, the start-up checks of `momentum serve`, and webhooks surviving a
//! killed server, and faults (the database going away). One binary.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

mod batch;
mod blobs;
mod broadcast;
mod config;
mod connections;
mod deadlines;
mod definer;
mod deploy;
mod domains;
mod exports;
mod faults;
mod identity;
mod imports;
mod observability;
mod periodic;
mod pgbouncer;
mod rls;
mod rollout;
mod sandboxes;
mod serve;
mod support;
mod tls;
mod traces;
mod trash;
mod versions;
mod webhooks;
