//! Merging duplicate contacts (`contacts`) and companies (`companies`), the merges refused
//! (`refusals`), and the duplicate suggestions (`duplicates`); the helpers they share are
//! here.

use momentum_sdk::types;
use momentum_sdk::Client;
use uuid::Uuid;

mod companies;
mod contacts;
mod duplicates;
mod refusals;

fn contact(
    first: &str,
    last: Option<&str>,
    email: Option<&str>,
    phone: Option<&str>,
) -> types::ContactCreate {
    types::ContactCreate {
        first_name: Some(first.parse().unwrap()),
        last_name: last.map(|l| l.parse().unwrap()),
        email: email.map(str::to_owned),
        phone: phone.map(|p| p.parse().unwrap()),
        ..Default::default()
    }
}

async fn merge_contacts(c: &Client, survivor: Uuid, duplicate: Uuid) -> types::Contact {
    c.contacts_merge()
        .id(survivor)
        .body(types::MergeRequest {
            duplicate_id: duplicate,
        })
        .send()
        .await
        .expect("merge")
        .into_inner()
        .data
}

/// Restores a trashed lead and returns it as it came back.
async fn restore_lead(c: &Client, id: Uuid) -> types::Lead {
    c.leads_restore()
        .id(id)
        .send()
        .await
        .expect("restore a lead")
        .into_inner()
        .data
}

/// Restores a trashed activity and returns it as it came back.
async fn restore_activity(c: &Client, id: Uuid) -> types::Activity {
    c.activities_restore()
        .id(id)
        .send()
        .await
        .expect("restore an activity")
        .into_inner()
        .data
}

/// An association's ends as (from id, to id), read with the records' trash as it is.
async fn ends(c: &Client, id: Uuid) -> (Uuid, Uuid) {
    let a = c
        .associations_get()
        .id(id)
        .send()
        .await
        .expect("get an association")
        .into_inner()
        .data;
    (a.from_id, a.to_id)
}
