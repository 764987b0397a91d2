//! JSON Merge Patch (RFC 7396, applied at the top level) for every resource that has a
//! create body: the current resource, restricted to the fields its create body accepts,
//! with the patch laid over it (`null` removes a field, any other value replaces it), is
//! parsed as a create body again. So a patch is held to exactly the rules of a create,
//! and each resource needs no patch logic of its own.

use poem_openapi::registry::Registry;
use poem_openapi::types::{ParseFromJSON, ToJSON, Type};
use serde_json::{Map, Value};

use crate::error::AppError;

/// The create body `C` that results from laying `patch` over `current`.
pub fn merge<C: ParseFromJSON>(current: &impl ToJSON, patch: &impl ToJSON) -> Result<C, AppError> {
    let mut doc = object(current.to_json());
    let accepted = properties::<C>();
    doc.retain(|key, value| accepted.iter().any(|a| a == key) && !value.is_null());
    for (key, value) in object(patch.to_json()) {
        if value.is_null() {
            doc.remove(&key);
        } else {
            doc.insert(key, value);
        }
    }
    C::parse_from_json(Some(Value::Object(doc)))
        .map_err(|err| AppError::bad_request(err.into_message()))
}

/// Whether the patch sets `field` (to a value or to `null`).
pub fn touches(patch: &impl ToJSON, field: &str) -> bool {
    object(patch.to_json()).contains_key(field)
}

fn object(value: Option<Value>) -> Map<String, Value> {
    match value {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The property names of an object type, as its schema declares them.
fn properties<C: Type>() -> Vec<String> {
    let mut registry = Registry::new();
    C::register(&mut registry);
    registry
        .schemas
        .get(&*C::name())
        .map(|schema| {
            schema
                .properties
                .iter()
                .map(|(name, _)| name.to_string())
                .collect()
        })
        .unwrap_or_default()
}
