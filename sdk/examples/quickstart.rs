//! A first program against a running Momentum server:
//!
//! ```sh
//! cargo run -p momentum-server &                      # prints a demo key
//! MOMENTUM_URL=http://127.0.0.1:8080 MOMENTUM_API_KEY=mk_... \
//!     cargo run -p momentum-sdk --example quickstart
//! ```
//!
//! It creates a contact safely (the client retries with one idempotency key per call; run
//! it twice and the second run finds the first contact rather than a duplicate error),
//! changes it with a merge patch, and reads every contact as one stream across pages.

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
    // Lost answers, 429, 502, 503 and 504 are retried, a create with one
    // Idempotency-Key for every attempt: never made twice.
    let client = Client::builder(&url)
        .api_key(key)
        .retry(RetryPolicy::default())
        .build()?;

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
            client
                .contacts_create()
                .body(
                    ContactCreate::builder()
                        .first_name("Ada")
                        .last_name("Lovelace")
                        .email(email),
                )
                .send()
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
            title: Some(Some("Analyst".into())),
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
