//! A webhook endpoint as a tenant describes it: where events go, which event types (none
//! named: all of them, including types added later) and whether it is enabled. Whether
//! its URL may be reached is the delivery guard's to say (`webhooks::guard`), since that
//! asks DNS; the application layer checks both when an endpoint is saved.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{FieldError, Patch};

pub const URL_MAX: usize = 2048;
pub const DESCRIPTION_MAX: usize = 1000;
/// Changed-field filters one endpoint may have.
pub const FILTERS_MAX: usize = 50;
/// Field names one changed-field filter may list.
pub const FILTER_FIELDS_MAX: usize = 50;
/// The longest field name a filter may list (`custom_fields.` and a key of up to 100).
pub const FIELD_NAME_MAX: usize = 200;

/// Events of `event_type` are sent only when they changed one of `changed_fields` (as
/// the event's `changed_fields` names them).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedFieldFilter {
    /// An event type's name (the API has already held it to the catalogue).
    pub event_type: String,
    pub changed_fields: Vec<String>,
}

/// Whether events of `event_type` carry `changed_fields` and `previous`, and so may be
/// filtered by changed field: the `*.updated` types and `lead.stage_changed`.
pub fn carries_changes(event_type: &str) -> bool {
    event_type.ends_with(".updated") || event_type == "lead.stage_changed"
}

/// The filters as stored: event type name to field names, each type once.
pub type FilterMap = BTreeMap<String, Vec<String>>;

/// Checks `filters` against the endpoint's `event_types` and keys them by type: a type
/// must carry changes, appear once, and be one the endpoint takes (any, when
/// `event_types` is empty); its field names are 1 to [`FILTER_FIELDS_MAX`] non-blank
/// names (repeats dropped). Errors name `filters[i]...`.
pub fn check_filters(
    filters: Vec<ChangedFieldFilter>,
    event_types: &[String],
) -> Result<FilterMap, Vec<FieldError>> {
    if filters.len() > FILTERS_MAX {
        return Err(vec![FieldError::new(
            "filters",
            "out_of_range",
            format!("an endpoint has at most {FILTERS_MAX} filters"),
        )]);
    }
    let mut errors = Vec::new();
    let mut map = FilterMap::new();
    for (i, filter) in filters.into_iter().enumerate() {
        let name = filter.event_type.as_str();
        let field = format!("filters[{i}].event_type");
        if !carries_changes(name) {
            errors.push(FieldError::new(
                field,
                "not_filterable",
                format!(
                    "`{name}` carries no `changed_fields`: only `*.updated` types and \
                     `lead.stage_changed` can be filtered by changed field"
                ),
            ));
            continue;
        }
        if !event_types.is_empty() && !event_types.iter().any(|t| t == name) {
            errors.push(FieldError::new(
                field,
                "not_subscribed",
                format!("`{name}` is not among the endpoint's `event_types`"),
            ));
            continue;
        }
        if map.contains_key(name) {
            errors.push(FieldError::new(
                field,
                "duplicate",
                format!("`{name}` has a filter already: list its fields once"),
            ));
            continue;
        }
        let mut fields: Vec<String> = Vec::new();
        let count = filter.changed_fields.len();
        if count == 0 || count > FILTER_FIELDS_MAX {
            errors.push(FieldError::new(
                format!("filters[{i}].changed_fields"),
                "out_of_range",
                format!("must list 1 to {FILTER_FIELDS_MAX} field names"),
            ));
            continue;
        }
        for (j, changed) in filter.changed_fields.into_iter().enumerate() {
            let changed = changed.trim().to_owned();
            let bad = changed.is_empty()
                || changed.chars().count() > FIELD_NAME_MAX
                || changed.chars().any(char::is_control);
            if bad {
                errors.push(FieldError::new(
                    format!("filters[{i}].changed_fields[{j}]"),
                    "invalid",
                    format!(
                        "must be a field name of 1 to {FIELD_NAME_MAX} characters, \
                         without control characters"
                    ),
                ));
            } else if !fields.contains(&changed) {
                fields.push(changed);
            }
        }
        map.insert(name.to_owned(), fields);
    }
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(errors)
    }
}

/// The stored filters as a list, by event type.
pub fn filter_list(map: &FilterMap) -> Vec<ChangedFieldFilter> {
    map.iter()
        .map(|(name, fields)| ChangedFieldFilter {
            event_type: name.clone(),
            changed_fields: fields.clone(),
        })
        .collect()
}

/// An endpoint as a client described it, before any check.
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub url: String,
    pub description: Option<String>,
    /// Event type names, repeats allowed; empty means all.
    pub event_types: Vec<String>,
    /// Default `true`.
    pub enabled: Option<bool>,
    /// Changed-field filters; none by default.
    pub filters: Vec<ChangedFieldFilter>,
}

/// Changes to an endpoint, as a JSON Merge Patch. `url` and `enabled` cannot be cleared
/// (a `null` keeps them); `event_types: null` means all, as `[]` does.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Patch<Option<String>>,
    pub event_types: Patch<Vec<String>>,
    pub enabled: Option<bool>,
    /// `null` clears them, as `[]` does.
    pub filters: Patch<Vec<ChangedFieldFilter>>,
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
        self.filters.apply(&mut input.filters);
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
            filters: vec![],
        }
    }

    fn filter(event_type: &str, fields: &[&str]) -> ChangedFieldFilter {
        ChangedFieldFilter {
            event_type: event_type.to_owned(),
            changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn filters_are_keyed_by_type_with_repeated_fields_dropped() {
        let map = check_filters(
            vec![filter(
                "lead.updated",
                &["stage_id", " stage_id", "custom_fields.tier"],
            )],
            &[],
        )
        .expect("valid");
        assert_eq!(map["lead.updated"], ["stage_id", "custom_fields.tier"]);
        assert_eq!(
            filter_list(&map),
            [filter("lead.updated", &["stage_id", "custom_fields.tier"])]
        );
    }

    #[test]
    fn a_filter_needs_a_type_that_carries_changes_and_that_the_endpoint_takes() {
        let fields = |errors: Vec<FieldError>| {
            errors
                .into_iter()
                .map(|e| (e.field, e.code))
                .collect::<Vec<_>>()
        };
        let refused = check_filters(
            vec![
                filter("lead.created", &["stage_id"]),
                filter("contact.updated", &["email"]),
                filter("lead.updated", &[]),
                filter("lead.stage_changed", &["stage_id", ""]),
            ],
            &["lead.updated".into(), "lead.stage_changed".into()],
        )
        .expect_err("refused");
        assert_eq!(
            fields(refused),
            [
                ("filters[0].event_type".to_owned(), "not_filterable"),
                ("filters[1].event_type".to_owned(), "not_subscribed"),
                ("filters[2].changed_fields".to_owned(), "out_of_range"),
                ("filters[3].changed_fields[1]".to_owned(), "invalid"),
            ]
        );
        let twice = check_filters(
            vec![
                filter("lead.updated", &["a"]),
                filter("lead.updated", &["b"]),
            ],
            &[],
        )
        .expect_err("refused");
        assert_eq!(
            fields(twice),
            [("filters[1].event_type".to_owned(), "duplicate")]
        );
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
