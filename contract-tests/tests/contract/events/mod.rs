//! The event log: every change to a CRM resource is recorded in the transaction that made
//! it, with the resource exactly as the API returned it, visible to the tenant's admins
//! only. Contacts, companies and activities (`records`), leads (`leads`), pipelines and
//! the leads their changes move (`pipelines`), and the log itself (`log`); the helpers
//! they share are here.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, EventType};
use momentum_sdk::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

mod changes;
mod leads;
mod log;
mod pipelines;
mod records;

/// The tenant's events (only those of `kind`, if given), oldest first, over every page.
pub(crate) async fn events(c: &Client, kind: Option<EventType>) -> Vec<types::Event> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = c.events_list();
        if let Some(kind) = kind {
            request = request.type_(kind);
        }
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

/// The types of `events`, in the order they were recorded: across transactions by time,
/// and within one transaction in the order the change emitted them.
fn changes(events: &[types::Event]) -> Vec<&str> {
    events.iter().map(|e| e.type_.as_str()).collect()
}

/// The only event of type `kind` among `events`.
fn only<'a>(events: &'a [types::Event], kind: &str) -> &'a types::Event {
    let mut found = events.iter().filter(|e| e.type_ == kind);
    let event = found
        .next()
        .unwrap_or_else(|| panic!("no {kind} event in {events:#?}"));
    assert!(found.next().is_none(), "more than one {kind} event");
    event
}

/// Asserts that `event.data`, read as the SDK reads the API's `T`, equals `expected` as
/// JSON (both through the SDK's types, so timestamps compare by value, not by format).
fn assert_data<T: DeserializeOwned + Serialize>(event: &types::Event, expected: &T) {
    let data: T = serde_json::from_value(Value::Object(event.data.clone()))
        .unwrap_or_else(|e| panic!("{} data does not decode: {e}", event.type_));
    assert_eq!(
        serde_json::to_value(&data).unwrap(),
        serde_json::to_value(expected).unwrap(),
        "the data of {}",
        event.type_
    );
}

/// The `data` of a raw `GET path`, exactly as the server wrote it.
async fn raw_get(app: &TestApp, path: &str) -> Value {
    let (http, url) = app.raw(path);
    let response = http
        .get(url)
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "GET {path}");
    let mut body: Value = response.json().await.unwrap();
    body["data"].take()
}

/// Asserts that a `*.deleted` event carries the resource exactly as `last_read` (the
/// last read before a pipeline's deletion, the read from the trash after a record's),
/// byte for byte as JSON.
fn assert_deleted(event: &types::Event, last_read: &Value) {
    assert_eq!(
        &Value::Object(event.data.clone()),
        last_read,
        "the data of {}",
        event.type_
    );
}

async fn pipeline_now(c: &Client, id: Uuid) -> types::Pipeline {
    c.pipelines_get()
        .id(id)
        .send()
        .await
        .expect("get the pipeline")
        .into_inner()
        .data
}
