//! Optimistic concurrency: every answer carrying one resource has its version in a strong
//! `ETag`; send it back with `.if_match(..)` to change or delete only that version (a
//! `412 precondition_failed` otherwise, changing nothing), or with `.if_none_match(..)`
//! and `.send_conditional()` to read only if it changed: a `304 Not Modified` is then
//! [`Conditional::NotModified`], a value rather than an error.
//!
//! ```no_run
//! # async fn example(client: &momentum_sdk::Client, id: uuid::Uuid) -> Result<(), Box<dyn std::error::Error>> {
//! use momentum_sdk::conditional::{current_etag, etag, Conditional};
//! use momentum_sdk::patch::ContactPatch;
//!
//! let read = client.contacts_get().id(id).send().await?;
//! let tag = etag(&read).expect("every contact answer has an ETag").to_owned();
//!
//! // Change it only if nobody else did since it was read.
//! let patch = ContactPatch { title: Some(Some("CTO".into())), ..Default::default() };
//! match client.contacts_update().id(id).if_match(tag.clone()).body(patch).send().await {
//!     Ok(updated) => println!("now {:?}", etag(&updated)),
//!     Err(err) if current_etag(&err).is_some() => println!("changed meanwhile: read it again"),
//!     Err(err) => return Err(err.into()),
//! }
//!
//! // Read it again only if it changed.
//! match client.contacts_get().id(id).if_none_match(tag).send_conditional().await? {
//!     Conditional::Modified(fresh) => println!("changed: {:?}", fresh.into_inner().data),
//!     Conditional::NotModified => println!("unchanged"),
//! }
//! # Ok(()) }
//! ```
//!
//! `send_conditional()` exists on every read that takes `If-None-Match` (generated into
//! `src/operations.rs` by `cargo xtask sdk`).

use reqwest::header::ETAG;
use reqwest::StatusCode;

use crate::{types, Error, ResponseValue};

/// The answer to a read sent with `If-None-Match`.
#[derive(Debug, Clone, PartialEq)]
pub enum Conditional<T> {
    /// The resource changed (or no tag was sent): here it is, with its new `ETag`.
    Modified(T),
    /// `304 Not Modified`: the version you hold is current.
    NotModified,
}

impl<T> Conditional<T> {
    /// The new value, if the resource changed.
    pub fn modified(self) -> Option<T> {
        match self {
            Self::Modified(value) => Some(value),
            Self::NotModified => None,
        }
    }
}

/// Turns the generated client's view of a `304` (it has no body, so the client reports
/// it as [`Error::UnexpectedResponse`]) into [`Conditional::NotModified`].
// The error is the generated client's own: the same size on every call it makes.
#[allow(clippy::result_large_err)]
pub fn conditional<T, E>(
    result: Result<ResponseValue<T>, Error<E>>,
) -> Result<Conditional<ResponseValue<T>>, Error<E>> {
    match result {
        Ok(value) => Ok(Conditional::Modified(value)),
        Err(Error::UnexpectedResponse(resp)) if resp.status() == StatusCode::NOT_MODIFIED => {
            Ok(Conditional::NotModified)
        }
        Err(err) => Err(err),
    }
}

/// Adds `send_conditional` to the builders of reads taking `If-None-Match`:
/// `Builder => Answer;`.
macro_rules! conditional_reads {
    ($($builder:ident => $answer:ident;)*) => {
        $(
            impl $crate::builder::$builder<'_> {
                /// Sends the read; a `304 Not Modified` (to `.if_none_match(..)`) is
                /// [`Conditional::NotModified`](crate::conditional::Conditional).
                pub async fn send_conditional(
                    self,
                ) -> Result<
                    $crate::conditional::Conditional<$crate::ResponseValue<$crate::types::$answer>>,
                    $crate::Error<$crate::types::ErrorEnvelope>,
                > {
                    $crate::conditional::conditional(self.send().await)
                }
            }
        )*
    };
}
pub(crate) use conditional_reads;

/// The `ETag` of an answer: the version of the resource it carries.
pub fn etag<T>(response: &ResponseValue<T>) -> Option<&str> {
    response.headers().get(ETAG)?.to_str().ok()
}

/// The resource's current `ETag`, when a write sent with `If-Match` was refused with
/// `412 precondition_failed` because the resource had changed.
pub fn current_etag(err: &Error<types::ErrorEnvelope>) -> Option<&str> {
    match err {
        Error::ErrorResponse(resp) if resp.status() == StatusCode::PRECONDITION_FAILED => {
            resp.headers().get(ETAG)?.to_str().ok()
        }
        _ => None,
    }
}
