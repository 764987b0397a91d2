//! The trash: deleting a contact, company, lead or activity hides it from reads and
//! lists, `include_deleted=true` shows it, `POST .../restore` brings it back with its
//! links (`restore`), and uniqueness ignores it (`uniqueness`). A trashed record is absent
//! to updates, new links, timelines and batches (`absent`); another tenant never sees or
//! restores it (`isolation`). The helpers they share are here.

use momentum_sdk::types;
use momentum_sdk::Client;
use uuid::Uuid;

mod absent;
mod isolation;
mod restore;
mod uniqueness;

/// Every event of the tenant of type `kind`, oldest first (one page is enough here).
async fn events_of(c: &Client, kind: types::EventType) -> Vec<types::Event> {
    c.events_list()
        .type_(kind)
        .limit(200)
        .send()
        .await
        .expect("list events")
        .into_inner()
        .data
}

/// The ids of the tenant's contacts, trashed ones too when `include_deleted`.
async fn contact_ids(c: &Client, include_deleted: bool) -> Vec<Uuid> {
    let mut request = c.contacts_list().limit(200);
    if include_deleted {
        request = request.include_deleted(true);
    }
    let page = request.send().await.expect("list contacts").into_inner();
    page.data.iter().map(|c| c.id).collect()
}
