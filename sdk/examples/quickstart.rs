//! A first program against a running Momentum server:
//!
//! ```sh
//! cargo run -p momentum-server &                      # prints a demo key
//! MOMENTUM_URL=http://127.0.0.1:8080 MOMENTUM_API_KEY=mk_... \
//!     cargo run -p momentum-sdk --example quickstart
//! ```
//!
//! It creates a contact safely (a retry policy with an idempotency key: run it twice and
//! the second run finds the first contact rather than a duplicate error), changes it with
//! a merge patch, and reads every contact as one stream across pages.

use futures::TryStreamExt;
use momentum_sdk::pagination::Paginate;
use momentum_sdk::patch::ContactPatch;
use momentum_sdk::retry::RetryPolicy;
use momentum_sdk::types::ContactCreate;
use momentum_sdk::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MOMENTUM_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let key = std::env::var("MOMENTUM_API_KEY")
        .map_err(|_| "set MOMENTUM_API_KEY to a key (the server prints a demo key at start)")?;
    let client = Client::with_api_key(&url, &key)?;

    let email = "ada@quickstart.example";
    let existing = client
        .contacts_list()
        .email(email)
        .send()
        .await?
        .into_inner()
        .data;
    let contact = match existing.into_iter().next() {
        Some(contact) => contact,
        None => {
            let body = ContactCreate {
                first_name: Some("Ada".parse()?),
                last_name: Some("Lovelace".parse()?),
                email: Some(email.into()),
                ..Default::default()
            };
            // Lost answers, 429 and 503 are retried with one Idempotency-Key: never twice.
            RetryPolicy::default()
                .send(|key| {
                    client
                        .contacts_create()
                        .idempotency_key(key)
                        .body(body.clone())
                        .send()
                })
                .await?
                .into_inner()
                .data
        }
    };
    println!("contact {} <{}>", contact.id, email);

    let updated = client
        .contacts_update()
        .id(contact.id.to_string())
        .body(ContactPatch {
            title: Some(Some("Analyst".parse()?)),
            ..Default::default()
        })
        .send()
        .await?
        .into_inner()
        .data;
    println!("title is now {:?}", updated.title);

    let everyone: Vec<_> = client
        .contacts_list()
        .limit(100)
        .items()
        .try_collect()
        .await?;
    println!("the tenant has {} contacts", everyone.len());
    Ok(())
}
