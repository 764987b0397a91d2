//! Checks a JSON value against an OpenAPI 3.0 schema of the document: the keywords the
//! document uses, with OpenAPI's own meaning (`nullable`, `$ref` to
//! `#/components/schemas/...`). A keyword it does not know is itself a failure, so a
//! rule added to the document later cannot go unchecked here. Objects without
//! `additionalProperties` take no undeclared property (Redocly's
//! `allowAdditionalProperties: false`), so a misspelt field fails.
//!
//! Written here rather than taken from a JSON Schema crate: the ones that do this pull in
//! a dependency under a licence `deny.toml` does not allow (MIT-0) or a second version of
//! a crate in the tree, for a test; the full validation runs in the lint (Redocly's
//! `no-invalid-media-type-examples`).

use serde_json::Value;

/// Keywords that say nothing about which values are valid.
const ANNOTATIONS: [&str; 7] = [
    "description",
    "title",
    "example",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Each way `value` breaks `schema` (resolved against `schemas`, the document's
/// `components/schemas`), as `path: reason`.
pub fn errors(schema: &Value, value: &Value, schemas: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, value, schemas, "", &mut out);
    out
}

fn check(schema: &Value, value: &Value, schemas: &Value, at: &str, out: &mut Vec<String>) {
    let Some(rules) = schema.as_object() else {
        out.push(format!("{at}: the schema is not an object"));
        return;
    };
    if let Some(reference) = rules.get("$ref").and_then(Value::as_str) {
        // OpenAPI 3.0: a `$ref`'s siblings are ignored.
        match reference.strip_prefix("#/components/schemas/") {
            Some(name) if schemas.get(name).is_some() => {
                check(&schemas[name], value, schemas, at, out)
            }
            _ => out.push(format!("{at}: unresolvable `$ref` {reference}")),
        }
        return;
    }
    // A schema with no `type` (`{}`, a free-form value) takes `null` as any other value.
    if value.is_null() && rules.contains_key("type") {
        if rules.get("nullable") != Some(&Value::Bool(true)) {
            out.push(format!("{at}: null, but the schema is not nullable"));
        }
        return;
    }
    for (keyword, rule) in rules {
        if ANNOTATIONS.contains(&keyword.as_str()) || keyword == "nullable" {
            continue;
        }
        if let Err(reason) = keyword_holds(keyword, rule, rules, value, schemas, at, out) {
            out.push(format!("{at}: {reason}"));
        }
    }
}

fn keyword_holds(
    keyword: &str,
    rule: &Value,
    rules: &serde_json::Map<String, Value>,
    value: &Value,
    schemas: &Value,
    at: &str,
    out: &mut Vec<String>,
) -> Result<(), String> {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let limit = || rule.as_u64().ok_or(format!("`{keyword}` is not a count"));
    match keyword {
        "type" => {
            let fits = match rule.as_str() {
                Some("object") => value.is_object(),
                Some("array") => value.is_array(),
                Some("string") => value.is_string(),
                Some("boolean") => value.is_boolean(),
                Some("number") => value.is_number(),
                Some("integer") => value.is_i64() || value.is_u64(),
                _ => return Err(format!("unknown type {rule}")),
            };
            if !fits {
                return Err(format!("{value} is not of type {rule}"));
            }
        }
        "enum" => {
            if !rule.as_array().is_some_and(|values| values.contains(value)) {
                return Err(format!("{value} is not one of {rule}"));
            }
        }
        "properties" => {
            let (Some(properties), Some(object)) = (rule.as_object(), value.as_object()) else {
                return Ok(());
            };
            for (name, field) in object {
                let path = format!("{at}/{name}");
                match properties.get(name) {
                    Some(schema) => check(schema, field, schemas, &path, out),
                    None => match rules.get("additionalProperties") {
                        Some(Value::Bool(true)) => {}
                        Some(extra @ Value::Object(_)) => check(extra, field, schemas, &path, out),
                        _ => out.push(format!("{path}: not a property of the schema")),
                    },
                }
            }
        }
        "additionalProperties" => {
            // Checked with `properties`; an object schema with only this keyword is a map.
            if !rules.contains_key("properties") {
                if let (Value::Object(_), Some(object)) = (rule, value.as_object()) {
                    for (name, field) in object {
                        check(rule, field, schemas, &format!("{at}/{name}"), out);
                    }
                } else if rule == &Value::Bool(false)
                    && value.as_object().is_some_and(|o| !o.is_empty())
                {
                    return Err("no property is allowed".into());
                }
            }
        }
        "required" => {
            for name in rule
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if value.as_object().is_some_and(|o| !o.contains_key(name)) {
                    out.push(format!("{at}/{name}: required, but missing"));
                }
            }
        }
        "items" => {
            for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                check(rule, item, schemas, &format!("{at}/{i}"), out);
            }
        }
        "maxLength" | "minLength" => {
            if let Some(text) = value.as_str() {
                let length = count(text.chars().count());
                let limit = limit()?;
                if (keyword == "maxLength" && length > limit)
                    || (keyword == "minLength" && length < limit)
                {
                    return Err(format!("{length} characters, against {keyword} {limit}"));
                }
            }
        }
        "maxItems" | "minItems" => {
            if let Some(items) = value.as_array() {
                let length = count(items.len());
                let limit = limit()?;
                if (keyword == "maxItems" && length > limit)
                    || (keyword == "minItems" && length < limit)
                {
                    return Err(format!("{length} items, against {keyword} {limit}"));
                }
            }
        }
        "maximum" | "minimum" => {
            if let (Some(number), Some(limit)) = (value.as_f64(), rule.as_f64()) {
                if (keyword == "maximum" && number > limit)
                    || (keyword == "minimum" && number < limit)
                {
                    return Err(format!("{number} is beyond {keyword} {limit}"));
                }
            }
        }
        "pattern" => {
            use poem_openapi::validation::{Pattern, Validator};
            let pattern = rule.as_str().ok_or("`pattern` is not a string")?;
            if let Some(text) = value.as_str() {
                // poem-openapi's validator, the one the server checks patterns with, takes
                // a `'static` pattern; a test leaks the few the document has.
                let leaked: &'static str = Box::leak(pattern.to_owned().into_boxed_str());
                if !Pattern::new(leaked).check(&text.to_owned()) {
                    return Err(format!("{value} does not match {pattern}"));
                }
            }
        }
        "maxProperties" | "minProperties" => {
            if let Some(object) = value.as_object() {
                let length = count(object.len());
                let limit = limit()?;
                if (keyword == "maxProperties" && length > limit)
                    || (keyword == "minProperties" && length < limit)
                {
                    return Err(format!("{length} properties, against {keyword} {limit}"));
                }
            }
        }
        "format" => format_holds(rule.as_str().unwrap_or_default(), value)?,
        // Specification extensions (`x-unsigned`, `x-null-is-absent`) tell generators how
        // to read a rule the schema already states; they never constrain a value.
        extension if extension.starts_with("x-") => {}
        other => return Err(format!("unsupported keyword `{other}`")),
    }
    Ok(())
}

/// The formats poem-openapi writes: strings that must parse, integers within their width.
fn format_holds(format: &str, value: &Value) -> Result<(), String> {
    let fits = match (format, value) {
        ("uuid", Value::String(s)) => s.parse::<uuid::Uuid>().is_ok(),
        ("date-time", Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        ("date", Value::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        ("email", Value::String(s)) => s.parse::<email_address::EmailAddress>().is_ok(),
        ("decimal", Value::String(s)) => s.parse::<rust_decimal::Decimal>().is_ok(),
        ("uri" | "url", Value::String(s)) => url::Url::parse(s).is_ok(),
        ("int32", v) => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        ("int64", v) => v.as_i64().is_some(),
        ("uint32", v) => v.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
        ("uint64", v) => v.as_u64().is_some(),
        ("double" | "float", v) => v.is_number(),
        ("binary", _) => true,
        (format, _) if !format.is_empty() && value.is_string() => {
            return Err(format!("unsupported format `{format}`"))
        }
        // The type keyword reports a value of the wrong type.
        _ => true,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("{value} is not a valid `{format}`"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::errors;

    #[test]
    fn a_property_count_is_a_rule_and_an_extension_is_not() {
        let schemas = json!({});
        let schema = json!({
            "type": "object",
            "maxProperties": 2,
            "additionalProperties": {"type": "string", "x-null-is-absent": true},
            "x-unsigned": true
        });
        assert_eq!(
            errors(&schema, &json!({"a": "1", "b": "2"}), &schemas),
            Vec::<String>::new()
        );
        let found = errors(&schema, &json!({"a": "1", "b": "2", "c": "3"}), &schemas);
        assert_eq!(
            found,
            vec![": 3 properties, against maxProperties 2".to_owned()]
        );
    }

    #[test]
    fn each_rule_refuses_what_it_should() {
        let schemas = json!({
            "Contact": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": { "type": "string", "format": "uuid" },
                    "email": { "type": "string", "nullable": true, "maxLength": 5 },
                    "tags": { "type": "array", "maxItems": 1, "items": { "type": "string" } },
                    "limit": { "type": "integer", "format": "uint32", "maximum": 200 },
                    "code": { "type": "string", "pattern": "^[a-z]+$" },
                    "kind": { "$ref": "#/components/schemas/Kind" },
                    "custom_fields": { "type": "object", "additionalProperties": {} }
                }
            },
            "Kind": { "type": "string", "enum": ["note", "call"] }
        });
        let schema = json!({ "$ref": "#/components/schemas/Contact" });
        let good = json!({
            "id": "019bd1e2-5248-753c-8560-0222635cb599",
            "email": null,
            "tags": ["vip"],
            "limit": 50,
            "code": "abc",
            "kind": "call",
            "custom_fields": { "plan": "gold" }
        });
        assert_eq!(errors(&schema, &good, &schemas), Vec::<String>::new());
        let bad = json!({
            "email": "ada@example.com",
            "tags": ["a", 1],
            "limit": -1,
            "code": "ABC",
            "kind": "lunch",
            "nickname": "Ada"
        });
        let found = errors(&schema, &bad, &schemas).join("\n");
        for expected in [
            "/id: required",
            "/email: 15 characters",
            "/tags: 2 items",
            "/tags/1: 1 is not of type",
            "/limit: -1 is not a valid `uint32`",
            "/code: \"ABC\" does not match",
            "/kind: \"lunch\" is not one of",
            "/nickname: not a property",
        ] {
            assert!(
                found.contains(expected),
                "missing {expected:?} in:\n{found}"
            );
        }
        let unknown = json!({ "type": "string", "contentEncoding": "base64" });
        assert!(errors(&unknown, &json!("x"), &schemas)[0].contains("unsupported keyword"));
    }
}
