//! Rules the server enforces on request input that poem-openapi's output does not state,
//! added to the document by `api::render`: required text may not be blank, a custom
//! field's key has its form, a cursor is opaque, and integers use the formats OpenAPI
//! defines (`int32`, `int64`) instead of poem-openapi's `uint32`/`uint64`. A client, or
//! a tool generating requests from the document (schemathesis), then knows which values
//! the server refuses.

use serde_json::Value;

/// Rust's `char::is_whitespace` (Unicode `White_Space`), what `str::trim` removes, as the
/// inside of a character class. Spelled with `\xHH` and `\uHHHH` escapes only, which
/// ECMA-262 (progenitor's `regress`, JavaScript), Python's `re` (schemathesis) and the
/// `regex` crate read alike.
macro_rules! whitespace {
    () => {
        r"\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// Control characters (Unicode category Cc, `char::is_control`), as the inside of a
/// character class.
macro_rules! control {
    () => {
        r"\x00-\x1f\x7f-\x9f"
    };
}

/// What `domain::fields::optional_text` (single line) accepts as a value and not as
/// "no value": after trimming whitespace, at least one character, and no control
/// character. The whitespace around the text may hold controls (`\n`, `\t`): trimmed.
pub const NON_BLANK_PATTERN: &str = concat!(
    "^[",
    whitespace!(),
    "]*[^",
    control!(),
    whitespace!(),
    "](?:[^",
    control!(),
    "]*[^",
    control!(),
    whitespace!(),
    "])?[",
    whitespace!(),
    "]*$"
);

/// The request-body text fields the server refuses when blank (`422 required`): every
/// field a create body requires, and every field of an update that cannot be cleared
/// (not `nullable`), each checked by `optional_text` and then required. The test
/// `every_required_request_text_states_it_is_not_blank` fails when a request body gains
/// such a field that this list misses.
pub const NON_BLANK_TEXT: [(&str, &str); 14] = [
    ("ApiKeyCreate", "name"),
    ("AssociationLabelCreate", "name"),
    ("AssociationLabelPatch", "name"),
    ("CompanyCreate", "name"),
    ("CompanyPatch", "name"),
    ("CustomFieldCreate", "label"),
    ("CustomFieldPatch", "label"),
    ("LeadCreate", "title"),
    ("LeadPatch", "title"),
    ("NewStage", "name"),
    ("PipelineCreate", "name"),
    ("PipelinePatch", "name"),
    ("StageCreate", "name"),
    ("StagePatch", "name"),
];

/// Request-body fields that are not free text but have a form of their own, checked
/// before anything else: an empty one is refused (`422`), which is all a length can say
/// (a URL's grammar is the URL parser's; `webhooks::guard::parse_url`).
pub const NON_EMPTY: [(&str, &str); 2] = [
    ("WebhookEndpointCreate", "url"),
    ("WebhookEndpointPatch", "url"),
];

/// Adds the rules above to `components/schemas`.
pub fn state_text_rules(components: &mut Value) {
    let schemas = &mut components["schemas"];
    for (schema, property) in NON_BLANK_TEXT {
        if let Some(field) = schemas[schema]["properties"][property].as_object_mut() {
            field.insert("minLength".into(), 1.into());
            field.insert("pattern".into(), NON_BLANK_PATTERN.into());
        }
    }
    for (schema, property) in NON_EMPTY {
        if let Some(field) = schemas[schema]["properties"][property].as_object_mut() {
            field.insert("minLength".into(), 1.into());
        }
    }
    if let Some(key) = schemas["CustomFieldCreate"]["properties"]["key"].as_object_mut() {
        key.insert(
            "pattern".into(),
            crate::domain::custom_field::KEY_PATTERN.into(),
        );
    }
}

/// The `cursor` of every list operation: what the server accepts is only what it issued
/// (`app::page::decode`), which no schema can describe, so the description says it.
pub const CURSOR_DESCRIPTION: &str = "Opaque: only the `meta.next_cursor` of a previous \
    answer to this operation, with the same sort, is accepted; any other value (one made \
    up or changed) is refused with `400 bad_request` naming `cursor`. Omit it for the \
    first page.";

/// Describes every `cursor` query parameter of an operation as opaque.
pub fn describe_cursor(operation: &mut Value) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        if parameter["in"] == "query" && parameter["name"] == "cursor" {
            parameter["description"] = CURSOR_DESCRIPTION.into();
        }
    }
}

/// The extension that marks an integer the server reads or writes as unsigned: the
/// document says `int32`/`int64` with `minimum: 0` (formats every generator knows), and
/// `cargo xtask sdk` turns the marked ones back into `uint32`/`uint64` for progenitor, so
/// the Rust SDK keeps its `u32`/`u64` fields.
pub const UNSIGNED_EXTENSION: &str = "x-unsigned";

/// Replaces poem-openapi's `uint32`/`uint64` (not OpenAPI formats) with `int32`/`int64`,
/// `minimum: 0` unless a minimum is stated, and [`UNSIGNED_EXTENSION`]. Every such
/// integer the server takes in a request has a maximum well inside the signed range, so
/// the document states what the server accepts; in answers the values are counts and
/// seconds, far below it.
pub fn standard_integer_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let signed = match map.get("format").and_then(Value::as_str) {
                Some("uint32") => Some("int32"),
                Some("uint64") => Some("int64"),
                _ => None,
            };
            if let Some(signed) = signed {
                map.insert("format".into(), signed.into());
                map.entry("minimum").or_insert_with(|| 0.into());
                map.insert(UNSIGNED_EXTENSION.into(), true.into());
            }
            map.values_mut().for_each(standard_integer_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(standard_integer_formats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{association, company, custom_field, lead, pipeline};

    fn document() -> Value {
        serde_json::from_str(&super::super::spec_json()).expect("the document is JSON")
    }

    fn matches(pattern: &'static str, value: &str) -> bool {
        use poem_openapi::validation::{Pattern, Validator};
        Pattern::new(pattern).check(&value)
    }

    /// Whether the domain refuses `value` for the field, through the parser the
    /// operation uses.
    fn refused(schema: &str, value: &str) -> bool {
        let text = Some(value.to_owned());
        match schema {
            "CompanyCreate" | "CompanyPatch" => company::Company::parse(company::CompanyInput {
                name: text,
                ..Default::default()
            })
            .is_err(),
            "LeadCreate" | "LeadPatch" => lead::Lead::parse(lead::LeadInput {
                title: text,
                ..Default::default()
            })
            .is_err_and(|errors| errors.iter().any(|e| e.field == "title")),
            "PipelineCreate" | "PipelinePatch" => pipeline::parse_name(text).is_err(),
            "NewStage" | "StageCreate" | "StagePatch" => pipeline::Stage::parse(
                "",
                pipeline::StageInput {
                    name: text,
                    ..Default::default()
                },
            )
            .is_err(),
            "CustomFieldCreate" | "CustomFieldPatch" => custom_field::label(value).is_err(),
            "AssociationLabelCreate" | "AssociationLabelPatch" => {
                association::Label::parse(association::LabelInput {
                    name: text,
                    ..Default::default()
                })
                .is_err_and(|errors| errors.iter().any(|e| e.field == "name"))
            }
            // `app::api_keys::create` (needs a database): the same two steps.
            "ApiKeyCreate" => !matches!(
                crate::domain::fields::optional_text("name", text, 200, false),
                Ok(Some(_))
            ),
            other => panic!("no parser named for {other}"),
        }
    }

    #[test]
    fn blank_required_text_is_refused_by_the_server_and_by_the_document() {
        let doc = document();
        for (schema, property) in NON_BLANK_TEXT {
            let field = &doc["components"]["schemas"][schema]["properties"][property];
            assert_eq!(field["pattern"], NON_BLANK_PATTERN, "{schema}.{property}");
            assert_eq!(field["minLength"], 1, "{schema}.{property}");
            let pattern = NON_BLANK_PATTERN;
            for blank in ["", "   ", "\t\n", "\u{3000}"] {
                assert!(
                    refused(schema, blank),
                    "{schema}.{property}: {blank:?} accepted"
                );
                assert!(
                    !matches(pattern, blank),
                    "{schema}.{property}: the document allows {blank:?}"
                );
            }
            for fine in ["Acme", " Acme ", "Acme\n", "a b", "\u{feff}"] {
                assert!(
                    !refused(schema, fine),
                    "{schema}.{property}: {fine:?} refused"
                );
                assert!(
                    matches(pattern, fine),
                    "{schema}.{property}: the document refuses {fine:?}"
                );
            }
            for control in ["a\u{0}b", "a\nb", "a\u{9f}"] {
                assert!(refused(schema, control), "{schema}.{property}: {control:?}");
                assert!(
                    !matches(pattern, control),
                    "{schema}.{property}: {control:?}"
                );
            }
        }
    }

    /// The pattern and `optional_text` agree on every character class boundary: each
    /// character alone, and inside text.
    #[test]
    fn the_non_blank_pattern_is_what_optional_text_accepts() {
        let pattern = NON_BLANK_PATTERN;
        let ranges = [0..0x300u32, 0x1600..0x1700, 0x2000..0x2100, 0x3000..0x3001];
        for c in ranges.into_iter().flatten().filter_map(char::from_u32) {
            for value in [c.to_string(), format!("a{c}b"), format!("{c}a")] {
                let accepted = matches!(
                    crate::domain::fields::optional_text("f", Some(value.clone()), 10, false),
                    Ok(Some(_))
                );
                assert_eq!(matches(&pattern, &value), accepted, "{value:?}");
            }
        }
    }

    /// Every string a request body requires (or an update cannot clear) without a
    /// format, enum or pattern of its own is stated non-blank: a new one must be listed
    /// in [`NON_BLANK_TEXT`] (or [`NON_EMPTY`]) and its parser named in `refused`.
    #[test]
    fn every_required_request_text_states_it_is_not_blank() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let mut request = Vec::new();
        for (_, item) in doc["paths"].as_object().into_iter().flatten() {
            for (_, op) in item.as_object().into_iter().flatten() {
                if let Some(reference) =
                    op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
                {
                    request.push(reference.trim_start_matches("#/components/schemas/"));
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        while let Some(name) = request.pop() {
            if !seen.insert(name.to_owned()) {
                continue;
            }
            let schema = &schemas[name];
            let text = serde_json::to_string(schema).unwrap_or_default();
            for part in text.split("#/components/schemas/").skip(1) {
                request.push(
                    schemas
                        .get_key_value(part.split('"').next().unwrap_or_default())
                        .map_or("", |(k, _)| k.as_str()),
                );
            }
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            for (property, field) in schema["properties"].as_object().into_iter().flatten() {
                if field["type"] != "string"
                    || field.get("format").is_some()
                    || field.get("enum").is_some()
                {
                    continue;
                }
                let must = required.contains(&property.as_str().into())
                    || (name.ends_with("Patch") && field["nullable"] != true);
                // A user's name is optional: blank leaves the user without one.
                let blank_allowed = (name, property.as_str()) == ("UserPatch", "name");
                if blank_allowed {
                    assert_eq!(crate::domain::user::name("  ".into()).as_deref(), Ok(""));
                    continue;
                }
                if must {
                    let pattern = field["pattern"].as_str().map(|p| &*p.to_owned().leak());
                    assert!(
                        field["minLength"].as_u64() >= Some(1)
                            || pattern.is_some_and(|p| !matches(p, "")),
                        "{name}.{property}: required text the document lets be empty"
                    );
                }
            }
        }
        assert!(seen.len() > 20, "only {} request schemas", seen.len());
    }

    #[test]
    fn the_custom_field_key_pattern_is_what_the_server_checks() {
        let doc = document();
        let key = &doc["components"]["schemas"]["CustomFieldCreate"]["properties"]["key"];
        assert_eq!(key["pattern"], custom_field::KEY_PATTERN);
        let pattern = custom_field::KEY_PATTERN;
        for key in [
            "plan",
            "a",
            "a_1",
            "",
            "1a",
            "A",
            "a-b",
            " a",
            &"a".repeat(63),
            &"a".repeat(64),
        ] {
            assert_eq!(
                matches(pattern, key),
                custom_field::key(key).is_ok(),
                "{key:?}"
            );
        }
    }

    #[test]
    fn every_cursor_is_described_as_opaque() {
        let doc = document();
        let mut cursors = 0;
        for (_, item) in doc["paths"].as_object().into_iter().flatten() {
            for (_, op) in item.as_object().into_iter().flatten() {
                for parameter in op["parameters"].as_array().into_iter().flatten() {
                    if parameter["name"] == "cursor" {
                        assert_eq!(parameter["description"], CURSOR_DESCRIPTION);
                        cursors += 1;
                    }
                }
            }
        }
        assert!(cursors > 20, "{cursors} cursors");
    }

    #[test]
    fn integers_use_openapi_formats_and_keep_their_range() {
        let text = super::super::spec_json();
        assert!(!text.contains("\"uint32\"") && !text.contains("\"uint64\""));
        let doc: Value = serde_json::from_str(&text).expect("JSON");
        let limit = &doc["components"]["schemas"]["ListMeta"]["properties"]["limit"];
        assert_eq!(limit["format"], "int32");
        assert_eq!(limit["minimum"], 0);
        assert_eq!(limit[UNSIGNED_EXTENSION], true);
        let wait = doc["paths"]["/v1/auth/qr-sessions/{id}"]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "wait"))
            .expect("wait");
        assert_eq!(wait["schema"]["format"], "int64");
        assert_eq!(wait["schema"]["maximum"], 30.0);
    }
}
