//! JSON Merge Patch bodies. These replace the types progenitor would generate (which
//! cannot send `null`): each field is `Option<Option<T>>` — `None` leaves the field
//! alone (omitted from the JSON), `Some(None)` clears it (sent as `null`), `Some(Some(v))`
//! sets it. The fields mirror `ContactPatch` in openapi/openapi.json.

use serde::{Deserialize, Deserializer, Serialize};

/// Reads `null` as `Some(None)` (clear) rather than `None` (absent), so the type
/// round-trips.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Changes to a contact (`contacts_update`). Build with struct update syntax:
///
/// ```
/// use momentum_sdk::patch::ContactPatch;
/// let patch = ContactPatch {
///     title: Some(Some("CTO".into())), // set
///     phone: Some(None),               // clear
///     ..Default::default()             // keep everything else
/// };
/// assert_eq!(
///     serde_json::to_value(&patch).unwrap(),
///     serde_json::json!({"title": "CTO", "phone": null})
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactPatch {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub first_name: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub last_name: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub email: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub phone: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub title: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub notes: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub tags: Option<Option<Vec<String>>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub custom_fields: Option<Option<serde_json::Map<String, serde_json::Value>>>,
}
