//! Optimistic concurrency: every answer carrying one resource has a strong `ETag` that
//! changes with every change to it; `If-Match` makes a write conditional on it (412,
//! changing nothing, when stale), `If-None-Match` makes a read answer 304 while it is
//! current. Contacts through the SDK in full (`contacts`), every other resource briefly
//! over raw HTTP (`resources`); the helpers they share are here.

use momentum_sdk::conditional::etag;
use momentum_sdk::patch::ContactPatch;
use momentum_sdk::types::{self, EventType};
use momentum_sdk::Client;
use uuid::Uuid;

mod contacts;
mod resources;

/// A strong entity tag: quoted, no `W/`.
fn assert_strong(tag: &str) {
    assert!(
        tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'),
        "not a strong entity tag: {tag}"
    );
}

async fn contact_tag(c: &Client, id: Uuid) -> (types::Contact, String) {
    let read = c.contacts_get().id(id).send().await.expect("get");
    let tag = etag(&read).expect("an ETag on contacts_get").to_owned();
    (read.into_inner().data, tag)
}

async fn contact_updates(c: &Client) -> usize {
    c.events_list()
        .type_(EventType::ContactUpdated)
        .limit(200)
        .send()
        .await
        .expect("list events")
        .into_inner()
        .data
        .len()
}

fn retitle(title: &str) -> ContactPatch {
    ContactPatch {
        title: Some(Some(title.into())),
        ..Default::default()
    }
}
