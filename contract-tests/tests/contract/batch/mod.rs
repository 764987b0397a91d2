//! Batch upserts: `contacts_batch_upsert` and `companies_batch_upsert`. One result per
//! item in input order; what changed is written and recorded as events, what did not is
//! left alone; a refused item is rolled back alone; the batch commits as one transaction.
//!
//! Contacts (`contacts`), companies (`companies`), what a batch may hold (`limits`), and
//! isolation between tenants and between concurrent batches (`isolation`); the helpers
//! they share are here.

use momentum_sdk::types;
use momentum_sdk::Client;

mod companies;
mod contacts;
mod isolation;
mod limits;
mod read;

/// Every contact of the tenant, over every page.
async fn all_contacts(c: &Client) -> Vec<types::Contact> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = c.contacts_list().limit(200);
        if let Some(cursor) = cursor.take() {
            request = request.cursor(cursor);
        }
        let page = request.send().await.expect("list contacts").into_inner();
        all.extend(page.data);
        match page.meta.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// Every event of the tenant, oldest first, over every page.
async fn all_events(c: &Client) -> Vec<types::Event> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = c.events_list().limit(200);
        if let Some(cursor) = cursor.take() {
            request = request.cursor(cursor);
        }
        let page = request.send().await.expect("list events").into_inner();
        all.extend(page.data);
        match page.meta.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

async fn contact_batch(
    c: &Client,
    items: Vec<types::ContactCreate>,
) -> types::ContactBatchResponse {
    c.contacts_batch_upsert()
        .body(types::ContactBatch { items })
        .send()
        .await
        .expect("a contact batch")
        .into_inner()
}

/// `(field, code)` of each detail of an item's error.
fn problems(error: &types::ErrorBody) -> Vec<(String, String)> {
    error
        .details
        .iter()
        .map(|d| (d.field.clone(), d.code.clone()))
        .collect()
}
