//! Contract tests: the real server, a disposable PostgreSQL and the generated SDK. One
//! binary (one link) for all of them; each test gets its own database and server.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

mod contacts;
mod document;
mod errors;
mod isolation;
mod pipelines;

use momentum_sdk::types;

/// A contact body with just a first name and an email.
pub fn person(first: &str, email: &str) -> types::ContactCreate {
    types::ContactCreate {
        first_name: Some(first.parse().expect("a short name")),
        email: Some(email.to_owned()),
        ..Default::default()
    }
}

/// The decoded error envelope of a failed SDK call; panics on success or transport errors.
pub fn api_error<T: std::fmt::Debug>(
    result: Result<momentum_sdk::ResponseValue<T>, momentum_sdk::Error<types::ErrorEnvelope>>,
) -> (u16, types::ErrorEnvelope) {
    match result {
        Err(momentum_sdk::Error::ErrorResponse(resp)) => {
            (resp.status().as_u16(), resp.into_inner())
        }
        other => panic!("expected an error response, got {other:?}"),
    }
}

/// Creates a contact through the SDK and returns it; panics on any failure.
pub async fn create(client: &momentum_sdk::Client, body: types::ContactCreate) -> types::Contact {
    client
        .contacts_create()
        .body(body)
        .send()
        .await
        .expect("create a contact")
        .into_inner()
        .data
}
