//! Typed custom fields: definitions (`/v1/custom-fields`, in `definitions`), values checked
//! on every write of the four record types (`values`), filters on their lists (`filters`),
//! and tenant isolation (`isolation`). The helpers they share are here.

use momentum_sdk::types::{self, CustomFieldType, EventType};
use momentum_sdk::Client;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::person;

mod definitions;
mod filters;
mod isolation;
mod values;

/// A definition body with no options, not required, not unique.
pub fn definition(
    record_type: &str,
    key: &str,
    field_type: CustomFieldType,
) -> types::CustomFieldCreate {
    types::CustomFieldCreate {
        key: key.parse().unwrap(),
        label: key.parse().unwrap(),
        options: vec![],
        record_type: serde_json::from_value(json!(record_type)).unwrap(),
        required: None,
        type_: field_type,
        unique: None,
    }
}

fn opts(options: &[&str]) -> Vec<String> {
    options.iter().map(|o| (*o).to_owned()).collect()
}

async fn define(c: &Client, body: types::CustomFieldCreate) -> types::CustomField {
    c.custom_fields_create()
        .body(body)
        .send()
        .await
        .expect("define a custom field")
        .into_inner()
        .data
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn with_fields(first: &str, values: Value) -> types::ContactCreate {
    types::ContactCreate {
        custom_fields: map(values),
        ..person(first, &format!("{}@a.example", first.to_lowercase()))
    }
}

/// The ids of the contacts a `custom_field` filter list returns (one page of 200).
async fn matching(c: &Client, filters: &[&str]) -> Vec<Uuid> {
    c.contacts_list()
        .limit(200)
        .custom_field(
            filters
                .iter()
                .map(|f| f.parse().expect("a well-formed filter"))
                .collect::<Vec<_>>(),
        )
        .send()
        .await
        .expect("list with a custom field filter")
        .into_inner()
        .data
        .into_iter()
        .map(|c| c.id)
        .collect()
}

async fn events_of(c: &Client, kind: EventType) -> Vec<types::Event> {
    c.events_list()
        .type_(kind)
        .limit(200)
        .send()
        .await
        .expect("list events")
        .into_inner()
        .data
}
