//! Optimistic concurrency: every answer carrying one resource has its version in a strong
//! `ETag`; send it back with `.if_match(..)` to change or delete only that version (a
//! `412 precondition_failed` otherwise, changing nothing), or with `.if_none_match(..)`
//! to read only if it changed.
//!
//! ```no_run
//! # async fn example(client: &momentum_sdk::Client, id: uuid::Uuid) -> Result<(), Box<dyn std::error::Error>> {
//! use momentum_sdk::conditional::{current_etag, etag, is_not_modified};
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
//! match client.contacts_get().id(id).if_none_match(tag).send().await {
//!     Ok(fresh) => println!("changed: {:?}", fresh.into_inner().data),
//!     Err(err) if is_not_modified(&err) => println!("unchanged"),
//!     Err(err) => return Err(err.into()),
//! }
//! # Ok(()) }
//! ```

use reqwest::header::ETAG;
use reqwest::StatusCode;

use crate::{types, Error, ResponseValue};

/// The `ETag` of an answer: the version of the resource it carries.
pub fn etag<T>(response: &ResponseValue<T>) -> Option<&str> {
    response.headers().get(ETAG)?.to_str().ok()
}

/// Whether a read sent with `If-None-Match` was answered `304 Not Modified`: the version
/// you hold is current. (A 304 has no body, so the generated client reports it as
/// [`Error::UnexpectedResponse`].)
pub fn is_not_modified<E>(err: &Error<E>) -> bool {
    matches!(err, Error::UnexpectedResponse(resp) if resp.status() == StatusCode::NOT_MODIFIED)
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
