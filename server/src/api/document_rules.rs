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

/// Request-body lists whose items are required text in the same sense: a blank tag or
/// option is refused (`422 required`, `domain::fields::tags`, `custom_field::options`).
pub const NON_BLANK_ITEMS: [(&str, &str); 6] = [
    ("CompanyCreate", "tags"),
    ("CompanyPatch", "tags"),
    ("ContactCreate", "tags"),
    ("ContactPatch", "tags"),
    ("CustomFieldCreate", "options"),
    ("CustomFieldPatch", "options"),
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
    let Some(schemas) = components.get_mut("schemas") else {
        return;
    };
    for (schema, property) in NON_BLANK_TEXT {
        if let Some(field) = at(schemas, &[schema, "properties", property]) {
            field.insert("minLength".into(), 1.into());
            field.insert("pattern".into(), NON_BLANK_PATTERN.into());
        }
    }
    for (schema, property) in NON_EMPTY {
        if let Some(field) = at(schemas, &[schema, "properties", property]) {
            field.insert("minLength".into(), 1.into());
        }
    }
    for (schema, property) in NON_BLANK_ITEMS {
        if let Some(items) = at(schemas, &[schema, "properties", property, "items"]) {
            items.insert("minLength".into(), 1.into());
            items.insert("pattern".into(), NON_BLANK_PATTERN.into());
        }
    }
    // Free-form custom fields in a create or an update body (an update replaces them
    // whole): their count is checked by `domain::fields::custom_fields`. Its other rules
    // (key length, size as JSON) have no OpenAPI 3.0 keyword.
    for (name, schema) in schemas.as_object_mut().into_iter().flatten() {
        if !(name.ends_with("Create") || name.ends_with("Patch")) {
            continue;
        }
        if let Some(map) = at(schema, &["properties", "custom_fields"]) {
            map.insert(
                "maxProperties".into(),
                crate::domain::fields::CUSTOM_FIELDS_MAX_KEYS.into(),
            );
        }
    }
    if let Some(key) = at(schemas, &["CustomFieldCreate", "properties", "key"]) {
        key.insert(
            "pattern".into(),
            crate::domain::custom_field::KEY_PATTERN.into(),
        );
    }
}

/// The extension on the fields [`state_null_as_absent`] makes `nullable`.
pub const NULL_IS_ABSENT_EXTENSION: &str = "x-null-is-absent";

/// A create body's optional fields are `Option<T>`, which poem-openapi reads `null` into
/// as absent: the document says they are `nullable` (sending `null` is omitting the
/// field). Only in the bodies [`super::close_request_bodies`] closed (request-only), and
/// not in updates, where `null` means "clear" and only the fields that can be cleared
/// say `nullable`. Not on a `$ref` (OpenAPI 3.0 ignores its siblings), so the few
/// optional enum fields stay as they are. Each carries [`NULL_IS_ABSENT_EXTENSION`]:
/// `cargo xtask sdk` drops their `nullable` for progenitor, which would otherwise turn a
/// list or a map into `Option<Vec>`/`Option<Map>` although `null` and an omitted field
/// mean the same here (the SDK omits an empty one).
pub fn state_null_as_absent(components: &mut Value) {
    let Some(schemas) = components.get_mut("schemas").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, schema) in schemas.iter_mut() {
        if schema["additionalProperties"] != false || name.ends_with("Patch") {
            continue;
        }
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        let Some(properties) = at(schema, &["properties"]) else {
            continue;
        };
        for (property, field) in properties.iter_mut() {
            if required.contains(&property.as_str().into()) || field.get("$ref").is_some() {
                continue;
            }
            if let Some(field) = field.as_object_mut() {
                field.insert("nullable".into(), true.into());
                field.insert(NULL_IS_ABSENT_EXTENSION.into(), true.into());
            }
        }
    }
}

/// The object at `path` inside `value`, if there is one (indexing a `Value` mutably would
/// insert `null` where there is none).
fn at<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut serde_json::Map<String, Value>> {
    path.iter()
        .try_fold(value, |value, key| value.get_mut(*key))?
        .as_object_mut()
}

/// The `cursor` of every list operation: what the server accepts is only what it issued
/// (`app::page::decode`), which no schema can describe, so the description says it.
pub const CURSOR_DESCRIPTION: &str = "Opaque: only the `meta.next_cursor` of a previous \
    answer to this operation, with the same sort, is accepted; any other value (one made \
    up or changed) is refused with `400 bad_request` naming `cursor`. Omit it for the \
    first page.";

/// Describes every `cursor` query parameter of an operation as opaque, and gives the
/// condition headers (`If-Match`, `If-None-Match`) the length their pattern implies: an
/// empty value is malformed (`400`), and a generator that honours lengths but not
/// patterns (schemathesis's coverage phase for headers) then stops sending one as valid.
pub fn state_parameter_rules(operation: &mut Value) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        let name = parameter["name"].as_str().unwrap_or_default();
        match parameter["in"].as_str() {
            Some("query") if name == "cursor" => {
                parameter["description"] = CURSOR_DESCRIPTION.into();
            }
            Some("header")
                if matches!(name, super::etag::IF_MATCH | super::etag::IF_NONE_MATCH) =>
            {
                if let Some(schema) = at(parameter, &["schema"]) {
                    schema.insert("minLength".into(), 1.into());
                }
            }
            _ => {}
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
                assert_eq!(matches(pattern, &value), accepted, "{value:?}");
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
    fn blank_tags_and_options_are_refused_by_the_server_and_by_the_document() {
        use crate::domain::fields;
        let doc = document();
        for (schema, property) in NON_BLANK_ITEMS {
            let items = &doc["components"]["schemas"][schema]["properties"][property]["items"];
            assert_eq!(items["pattern"], NON_BLANK_PATTERN, "{schema}.{property}");
            assert_eq!(items["minLength"], 1, "{schema}.{property}");
            let refused = |value: &str| match property {
                "tags" => fields::tags("tags", vec![value.into()]).is_err(),
                _ => custom_field::options(custom_field::FieldType::Select, vec![value.into()])
                    .is_err(),
            };
            for blank in ["", "  "] {
                assert!(refused(blank), "{schema}.{property}: {blank:?}");
                assert!(!matches(NON_BLANK_PATTERN, blank), "{schema}.{property}");
            }
            assert!(!refused(" vip "), "{schema}.{property}");
        }
    }

    #[test]
    fn request_custom_fields_state_their_count() {
        use crate::domain::fields::{custom_fields, CUSTOM_FIELDS_MAX_KEYS};
        let doc = document();
        let mut stated = 0;
        for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
            let map = &schema["properties"]["custom_fields"];
            if map.is_null() {
                continue;
            }
            let request = name.ends_with("Create") || name.ends_with("Patch");
            assert_eq!(
                map["maxProperties"].as_u64().is_some(),
                request,
                "{name}.custom_fields"
            );
            if request {
                assert_eq!(map["maxProperties"], CUSTOM_FIELDS_MAX_KEYS);
                stated += 1;
            }
        }
        assert!(stated >= 8, "{stated}");
        let many = |n: usize| (0..n).map(|i| (format!("k{i}"), Value::Null)).collect();
        assert!(custom_fields("custom_fields", many(CUSTOM_FIELDS_MAX_KEYS)).is_ok());
        assert!(custom_fields("custom_fields", many(CUSTOM_FIELDS_MAX_KEYS + 1)).is_err());
    }

    /// What the document marks `nullable` in a create body, the server reads as absent:
    /// a body of the required fields and `null` in every other one it marks is accepted
    /// by the body's parser.
    #[test]
    fn a_create_body_takes_null_wherever_the_document_says_nullable() {
        use crate::api::{
            activities, api_keys, associations, companies, contacts, custom_fields, leads,
            pipelines, users, webhooks,
        };
        use poem_openapi::types::ParseFromJSON;
        use serde_json::json;
        fn parses<T: ParseFromJSON>(body: Value) -> Result<(), String> {
            T::parse_from_json(Some(body))
                .map(|_| ())
                .map_err(|e| e.into_message())
        }
        let id = "00000000-0000-0000-0000-000000000001";
        type Parser = fn(Value) -> Result<(), String>;
        let bodies: [(&str, Value, Parser); 11] = [
            (
                "ActivityCreate",
                json!({"type": "note"}),
                parses::<activities::ActivityCreate>,
            ),
            (
                "ApiKeyCreate",
                json!({"name": "k", "scopes": ["*"]}),
                parses::<api_keys::ApiKeyCreate>,
            ),
            (
                "AssociationLabelCreate",
                json!({"name": "n"}),
                parses::<associations::AssociationLabelCreate>,
            ),
            (
                "CompanyCreate",
                json!({"name": "n"}),
                parses::<companies::CompanyCreate>,
            ),
            (
                "ContactCreate",
                json!({}),
                parses::<contacts::ContactCreate>,
            ),
            (
                "CustomFieldCreate",
                json!({"record_type": "contact", "key": "k", "label": "l", "type": "text"}),
                parses::<custom_fields::CustomFieldCreate>,
            ),
            (
                "LeadCreate",
                json!({"title": "t"}),
                parses::<leads::LeadCreate>,
            ),
            (
                "StageCreate",
                json!({"name": "n"}),
                parses::<pipelines::StageCreate>,
            ),
            (
                "UserCreate",
                json!({"email": "a@example.com"}),
                parses::<users::UserCreate>,
            ),
            (
                "WebhookEndpointCreate",
                json!({"url": "https://example.com"}),
                parses::<webhooks::WebhookEndpointCreate>,
            ),
            (
                "AssociationCreate",
                json!({"from_type": "contact", "from_id": id, "to_type": "lead", "to_id": id}),
                parses::<associations::AssociationCreate>,
            ),
        ];
        let doc = document();
        let mut nulls = 0;
        for (schema, mut body, parse) in bodies {
            let properties = doc["components"]["schemas"][schema]["properties"]
                .as_object()
                .expect("properties");
            for (property, field) in properties {
                if field["nullable"] == true {
                    body[property] = Value::Null;
                    nulls += 1;
                }
            }
            assert_eq!(parse(body.clone()), Ok(()), "{schema}: {body}");
        }
        assert!(nulls > 40, "{nulls} nullable create fields");
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
    fn condition_headers_state_they_are_not_empty() {
        let doc = document();
        let mut headers = 0;
        for (_, item) in doc["paths"].as_object().into_iter().flatten() {
            for (_, op) in item.as_object().into_iter().flatten() {
                for parameter in op["parameters"].as_array().into_iter().flatten() {
                    if matches!(
                        parameter["name"].as_str(),
                        Some("If-Match" | "If-None-Match")
                    ) {
                        assert_eq!(parameter["schema"]["minLength"], 1, "{parameter}");
                        assert_eq!(
                            parameter["schema"]["pattern"],
                            super::super::etag::CONDITION_PATTERN
                        );
                        headers += 1;
                    }
                }
            }
        }
        assert!(headers > 25, "{headers}");
        assert!(!matches(super::super::etag::CONDITION_PATTERN, ""));
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
