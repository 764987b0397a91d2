//! Server integration tests below the HTTP layer: the database's tenant isolation as the
//! runtime role sees it, and the start-up checks of `momentum serve`. One binary.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

mod rls;
mod serve;
