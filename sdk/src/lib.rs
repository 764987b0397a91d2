//! Typed Rust client for the Momentum CRM API.
//!
//! ## Quickstart (from the crate README)
#![doc = include_str!("../README.md")]
//!
//! Everything under the crate root except [`Client::with_api_key`] is generated from
//! `openapi/openapi.json`: the client by progenitor (builder style, one method per
//! `operationId`), the merge-patch bodies of [`patch`] by `cargo xtask sdk`, so it always
//! matches the server it was generated with. See the crate README for an example.
//!
//! Errors: a failed call returns [`Error::ErrorResponse`] holding the decoded
//! [`types::ErrorEnvelope`] for every documented status; `error.code` is a plain string so
//! codes added by a newer server still decode.
//!
//! Versions: answers carrying one resource have an `ETag`; [`conditional`] reads it and
//! tells a `304` (from `.if_none_match(..)`) and a `412` (from `.if_match(..)`) apart.

// progenitor output, formatted by prettyplease: rustfmt would make it drift.
#[rustfmt::skip]
mod generated;
pub mod conditional;
mod pages;
pub mod pagination;
pub mod patch;
pub mod retry;
pub mod webhooks;

pub use generated::*;

use std::time::Duration;

/// Failure to build a client (an API key that cannot be a header, or a TLS setup error).
#[derive(Debug)]
pub struct BuildError(String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

impl Client {
    /// A client for the server at `base_url` (e.g. `https://api.example.com`; `https` is
    /// served through rustls with the Mozilla root certificates) that sends `api_key` as
    /// `Authorization: Bearer <api_key>` on every request.
    pub fn with_api_key(base_url: &str, api_key: &str) -> Result<Self, BuildError> {
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {api_key}"))
            .map_err(|_| {
                BuildError("the API key contains characters not allowed in a header".into())
            })?;
        auth.set_sensitive(true);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("momentum-sdk/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|err| BuildError(format!("cannot build the HTTP client: {err}")))?;
        Ok(Self::new_with_client(base_url.trim_end_matches('/'), http))
    }
}
