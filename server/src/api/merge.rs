//! JSON Merge Patch (RFC 7396, applied at the top level) for every resource that has a
//! create body: the current resource, restricted to the fields its create body accepts,
//! with the patch laid over it (`null` removes a field, any other value replaces it), is
//! parsed as a create body again. So a patch is held to exactly the rules of a create,
//! and each resource needs no patch logic of its own.

use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, ToJSON, Type};
use serde_json::{Map, Value};

use crate::error::AppError;

/// The create body `C` that results from laying `patch` over `current`.
pub fn merge<C: ParseFromJSON, P: ToJSON>(current: &impl ToJSON, patch: &P) -> Result<C, AppError> {
    let mut doc = object(current.to_json());
    let accepted: Vec<String> = properties::<C>()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    doc.retain(|key, value| accepted.contains(key) && !value.is_null());
    // poem writes an absent `Option` field as `null`; only a field the patch declares
    // nullable can carry a `null` that means "clear".
    let clearable: Vec<String> = properties::<P>()
        .into_iter()
        .filter(|(_, nullable)| *nullable)
        .map(|(name, _)| name)
        .collect();
    for (key, value) in object(patch.to_json()) {
        if !value.is_null() {
            doc.insert(key, value);
        } else if clearable.contains(&key) {
            doc.remove(&key);
        }
    }
    C::parse_from_json(Some(Value::Object(doc)))
        .map_err(|err| AppError::bad_request(err.into_message()))
}

/// Whether the patch sets `field` to a value.
pub fn sets(patch: &impl ToJSON, field: &str) -> bool {
    object(patch.to_json())
        .get(field)
        .is_some_and(|value| !value.is_null())
}

fn object(value: Option<Value>) -> Map<String, Value> {
    match value {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The properties of an object type as its schema declares them: name, and whether it
/// is nullable.
fn properties<T: Type>() -> Vec<(String, bool)> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let Some(schema) = registry.schemas.get(&*T::name()) else {
        return Vec::new();
    };
    schema
        .properties
        .iter()
        .map(|(name, property)| {
            let nullable = match property {
                MetaSchemaRef::Inline(inline) => inline.nullable,
                MetaSchemaRef::Reference(_) => false,
            };
            (name.to_string(), nullable)
        })
        .collect()
}
