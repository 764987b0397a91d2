//! A webhook endpoint as a tenant describes it: where events go, which event types (none
//! named: all of them, including types added later) and whether it is enabled. Whether
//! its URL may be reached is the delivery guard's to say (`webhooks::guard`), since that
//! asks DNS; the application layer checks both when an endpoint is saved.

use uuid::Uuid;

use super::Patch;

pub const URL_MAX: usize = 2048;
pub const DESCRIPTION_MAX: usize = 1000;

/// An endpoint as a client described it, before any check.
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub url: String,
    pub description: Option<String>,
    /// Event type names, repeats allowed; empty means all.
    pub event_types: Vec<String>,
    /// Default `true`.
    pub enabled: Option<bool>,
}

/// Changes to an endpoint, as a JSON Merge Patch. `url` and `enabled` cannot be cleared
/// (a `null` keeps them); `event_types: null` means all, as `[]` does.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Patch<Option<String>>,
    pub event_types: Patch<Vec<String>>,
    pub enabled: Option<bool>,
}

impl EndpointPatch {
    /// The endpoint `current` (as stored) with the patch laid over it, to be checked
    /// again as a whole, like a new endpoint: its URL's destination included.
    pub fn apply_to(self, current: EndpointInput) -> EndpointInput {
        let mut input = current;
        if let Some(url) = self.url {
            input.url = url;
        }
        self.description.apply(&mut input.description);
        self.event_types.apply(&mut input.event_types);
        if let Some(enabled) = self.enabled {
            input.enabled = Some(enabled);
        }
        input
    }
}

/// The `data` of a `webhook.test` event.
#[derive(Debug, Clone)]
pub struct TestEvent {
    pub endpoint_id: Uuid,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> EndpointInput {
        EndpointInput {
            url: "https://example.com/hook".into(),
            description: Some("CRM sync".into()),
            event_types: vec!["contact.created".into()],
            enabled: Some(false),
        }
    }

    #[test]
    fn a_patch_keeps_absent_fields_and_clears_null_ones() {
        let patched = EndpointPatch {
            description: Patch::Clear,
            event_types: Patch::Clear,
            enabled: Some(true),
            ..EndpointPatch::default()
        }
        .apply_to(stored());
        assert_eq!(patched.url, "https://example.com/hook");
        assert_eq!(patched.description, None);
        assert!(patched.event_types.is_empty(), "null means every type");
        assert_eq!(patched.enabled, Some(true));
        let untouched = EndpointPatch::default().apply_to(stored());
        assert_eq!(untouched.description.as_deref(), Some("CRM sync"));
        assert_eq!(untouched.event_types, ["contact.created"]);
        assert_eq!(untouched.enabled, Some(false));
    }
}
