//! Typed Rust client for the Momentum CRM API.
//!
//! ## Quickstart (from the crate README)
#![doc = include_str!("../README.md")]
//!
//! Everything under the crate root except [`Client::builder`], [`Client::with_api_key`]
//! and the helper modules is generated from `openapi/openapi.json`: the client by
//! progenitor (builder style, one method per `operationId`), the merge-patch bodies of
//! [`patch`] by `cargo xtask sdk`, so it always matches the server it was generated with.
//!
//! Errors: a failed call returns [`Error::ErrorResponse`] holding the decoded
//! [`types::ErrorEnvelope`] for every documented status; [`types::ErrorEnvelope::code`]
//! is an [`ErrorCode`], with [`ErrorCode::Unknown`] for codes added by a newer server.
//!
//! Versions: answers carrying one resource have an `ETag`; [`conditional`] reads it, and
//! `send_conditional()` returns a `304` as [`conditional::Conditional::NotModified`].

// progenitor output, formatted by prettyplease: rustfmt would make it drift.
#[rustfmt::skip]
mod generated;
pub mod conditional;
mod error_code;
pub mod exports;
pub mod imports;
mod operations;
mod pages;
pub mod pagination;
pub mod patch;
pub mod retry;
pub mod webhooks;

pub use error_code::ErrorCode;
pub use generated::*;

use std::time::Duration;

use progenitor_client::{ClientHooks, OperationInfo};
use retry::RetryPolicy;

/// The README's Rust examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct RootReadme;

/// What a [`Client`] does around each request: today, its retry policy.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    retry: Option<RetryPolicy>,
}

/// Failure to build a client (an API key that cannot be a header, or a TLS setup error).
#[derive(Debug)]
pub struct BuildError(String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// Configures a [`Client`]: `Client::builder(url).api_key(key).retry(policy).build()`.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    api_key: Option<String>,
    options: ClientOptions,
    timeout: Duration,
}

impl ClientBuilder {
    /// Sends `key` as `Authorization: Bearer <key>` on every request.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Retries every call as `policy` says (see [`retry`]); without it, each call is
    /// sent once.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = Some(policy);
        self
    }

    /// The longest one attempt may take, answer included (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn build(self) -> Result<Client, BuildError> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = &self.api_key {
            let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| {
                    BuildError("the API key contains characters not allowed in a header".into())
                })?;
            auth.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, auth);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("momentum-sdk/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(self.timeout)
            .build()
            .map_err(|err| BuildError(format!("cannot build the HTTP client: {err}")))?;
        Ok(Client::new_with_client(
            self.base_url.trim_end_matches('/'),
            http,
            self.options,
        ))
    }
}

impl Client {
    /// A client for the server at `base_url` (e.g. `https://api.example.com`; `https` is
    /// served through rustls with the Mozilla root certificates).
    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_owned(),
            api_key: None,
            options: ClientOptions::default(),
            timeout: Duration::from_secs(60),
        }
    }

    /// `Client::builder(base_url).api_key(api_key).build()`: no retries.
    pub fn with_api_key(base_url: &str, api_key: &str) -> Result<Self, BuildError> {
        Self::builder(base_url).api_key(api_key).build()
    }
}

impl ClientHooks<ClientOptions> for &Client {
    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        match &self.inner.retry {
            Some(policy) => {
                policy
                    .execute(&self.client, request, info.operation_id)
                    .await
            }
            None => self.client.execute(request).await,
        }
    }
}
