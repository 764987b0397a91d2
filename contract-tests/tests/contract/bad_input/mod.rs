//! The bad-input matrix: every operation of the committed document, each bad input that
//! applies to it, sent as raw HTTP. Each case must get a 4xx the operation documents, in
//! the error envelope, with the code that goes with the status and, where the input is
//! one field or parameter, that field named in `details`; no case may get a 5xx, and no
//! refused write may change the tenant's data (rows or events).
//!
//! The operations, their parameters and their bodies are read from `openapi/openapi.json`,
//! so a new operation, parameter or body field is covered without touching this file; an
//! operation the matrix cannot exercise (a path parameter or required header it has no
//! value for, a schema it cannot build) fails the test rather than being skipped.
//!
//! Here: the document's operations and the values their schemas allow, and what the
//! parts share; `fixtures` makes a valid id for every path parameter, `cases` the bad
//! inputs, `matrix` sends them and judges the answers, `methods` sends every method to
//! every path.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};
use uuid::Uuid;

mod cases;
mod fixtures;
mod matrix;
mod methods;

const DOCUMENT: &str = include_str!("../../../../openapi/openapi.json");

/// A value no enum of the document has, and no pattern allows.
const NOT_A_VALUE: &str = "definitely_not_a_value";

// ---------------------------------------------------------------------------------------
// The document

#[derive(Debug)]
struct Op {
    id: String,
    method: String,
    path: String,
    params: Vec<Param>,
    /// The request body's schema, `$ref` resolved.
    body: Option<Value>,
    /// The request body is a file (`application/octet-stream`), not JSON.
    file: bool,
    authenticated: bool,
    statuses: BTreeSet<u16>,
}

#[derive(Debug, Clone)]
struct Param {
    name: String,
    location: String,
    schema: Value,
    required: bool,
}

impl Op {
    fn writes(&self) -> bool {
        self.method != "get"
    }

    fn params_in<'a>(&'a self, location: &'a str) -> impl Iterator<Item = &'a Param> + 'a {
        self.params.iter().filter(move |p| p.location == location)
    }

    fn takes_query(&self, name: &str) -> bool {
        self.params_in("query").any(|p| p.name == name)
    }
}

/// A schema with its `$ref` (or a lone `allOf: [$ref]`, how poem-openapi describes a
/// documented enum field) replaced by the schema it names; `nullable` is kept.
fn resolve(doc: &Value, schema: &Value) -> Value {
    let target = schema["$ref"].as_str().or_else(|| {
        schema["allOf"]
            .as_array()
            .and_then(|all| all.iter().find_map(|s| s["$ref"].as_str()))
    });
    let Some(reference) = target else {
        return schema.clone();
    };
    let name = reference.trim_start_matches("#/components/schemas/");
    let mut resolved = resolve(doc, &doc["components"]["schemas"][name]);
    if schema["nullable"] == json!(true) {
        resolved["nullable"] = json!(true);
    }
    assert!(
        resolved.is_object(),
        "the document has no schema {reference}"
    );
    resolved
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let id = op["operationId"]
                .as_str()
                .expect("an operationId")
                .to_owned();
            let params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| Param {
                    name: p["name"].as_str().expect("a name").to_owned(),
                    location: p["in"].as_str().expect("a location").to_owned(),
                    schema: resolve(doc, &p["schema"]),
                    required: p["required"] == json!(true),
                })
                .collect();
            let content = op["requestBody"]["content"].as_object();
            if let Some(content) = content {
                assert_eq!(content.len(), 1, "{id}: one body media type");
            }
            let media = content.and_then(|c| c.keys().next()).map(String::as_str);
            let file = media == Some("application/octet-stream");
            let body = content.filter(|_| !file).map(|content| {
                let (media, body) = content.iter().next().expect("a media type");
                assert!(media.starts_with("application/json"), "{id}: {media}");
                resolve(doc, &body["schema"])
            });
            let statuses = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .map(|s| s.parse().expect("numeric statuses"))
                .collect();
            ops.push(Op {
                id,
                method: method.clone(),
                path: path.clone(),
                params,
                body,
                file,
                authenticated: op["security"].as_array().is_some_and(|s| !s.is_empty()),
                statuses,
            });
        }
    }
    ops
}

// ---------------------------------------------------------------------------------------
// Valid values, from the schemas

fn is_string(schema: &Value) -> bool {
    schema["type"] == "string"
}

fn format(schema: &Value) -> &str {
    schema["format"].as_str().unwrap_or_default()
}

/// Strings a client types freely (not ids, times or enums): where control characters
/// are the input's fault rather than a wrong type.
fn is_text(schema: &Value) -> bool {
    is_string(schema)
        && schema["enum"].is_null()
        && schema["pattern"].is_null()
        && !matches!(format(schema), "uuid" | "date" | "date-time")
}

/// Whether a pattern only limits which characters free text may hold (`^[^\x00-\x1f]*$`):
/// any plain word passes it, so it has no "unknown value" to send; control characters,
/// the characters it refuses, are their own kind.
fn is_charset(pattern: &str) -> bool {
    pattern.starts_with("^[") && pattern.ends_with("]*$") && pattern.matches('[').count() == 1
}

/// The values a pattern such as `^-?(created_at|updated_at)$` allows, without the `-`.
fn pattern_values(pattern: &str) -> Vec<String> {
    pattern
        .trim_start_matches('^')
        .trim_end_matches('$')
        .trim_start_matches("-?")
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split('|')
        .map(str::to_owned)
        .collect()
}

/// A value of `schema` that passes parsing (not necessarily the business rules).
fn sample(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    if let Some(values) = schema["enum"].as_array() {
        return values[0].clone();
    }
    match schema["type"].as_str() {
        Some("object") => {
            let mut object = Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().expect("a field name");
                object.insert(name.to_owned(), sample(doc, &schema["properties"][name]));
            }
            Value::Object(object)
        }
        Some("array") => {
            let n = schema["minItems"].as_u64().unwrap_or(0);
            Value::Array((0..n).map(|_| sample(doc, &schema["items"])).collect())
        }
        Some("integer") => json!(schema["minimum"].as_f64().unwrap_or(0.0) as i64),
        Some("boolean") => json!(true),
        Some("string") => json!(match (format(&schema), schema["pattern"].as_str()) {
            ("uuid", _) => Uuid::now_v7().to_string(),
            ("date-time", _) => "2030-01-01T00:00:00Z".to_owned(),
            ("date", _) => "2030-01-01".to_owned(),
            ("email", _) => "someone@example.com".to_owned(),
            ("decimal", _) => "1.00".to_owned(),
            // A pattern listing words (`^-?(created_at|updated_at)$`) gives its first;
            // any other (non-blank text, a custom field's key) takes a plain word.
            (_, Some(pattern)) => Some(pattern_values(pattern)[0].clone())
                .filter(|word| word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or_else(|| "x".to_owned()),
            _ => "x".to_owned(),
        }),
        other => panic!("cannot build a value of type {other:?}: {schema}"),
    }
}

/// A valid query parameter value, already percent-encoded (the same for every kind).
fn query_value(doc: &Value, param: &Param, fixtures: &Fixtures, op: &Op) -> Option<String> {
    if param.name == "cursor" {
        // Only a cursor the server issued is valid; lists too short for one have none.
        return fixtures.cursors.get(&op.id).cloned();
    }
    Some(match sample(doc, &param.schema) {
        Value::String(s) => encode(&s),
        other => other.to_string(),
    })
}

/// Percent-encodes everything but the unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// What the parts share: the fixtures, a case, and a short form of what went wrong

/// A valid id for every path parameter, a valid cursor for every list (see `fixtures`).
struct Fixtures {
    /// The id to put in a path after `/<collection>/`.
    ids: BTreeMap<&'static str, String>,
    /// Required headers' values, by lower-case name.
    headers: BTreeMap<&'static str, String>,
    /// A cursor each list issued (lists of one page have none).
    cursors: BTreeMap<String, String>,
    /// Bodies that pass every rule, by schema title, where the schema's bare minimum
    /// does not: so a case's bad field is the only thing wrong with it.
    bodies: BTreeMap<&'static str, Value>,
}

/// One bad input to one operation, and what the answer must be (see `cases`).
#[derive(Clone)]
struct Case {
    op: usize,
    kind: &'static str,
    /// What was bad, for the failure table.
    what: String,
    path: String,
    /// Extra query pairs (already encoded), after the valid ones.
    query: Vec<(String, String)>,
    /// Valid query parameters left out (the case sends its own).
    omit: Vec<String>,
    headers: Vec<(String, String)>,
    body: Body,
    /// Acceptable statuses.
    expect: &'static [u16],
    /// A field or parameter `details` must name (or a path below it).
    field: Option<String>,
}

#[derive(Clone)]
enum Body {
    /// The operation's valid body (if it takes one), as JSON.
    Valid,
    Json(Value),
    Raw {
        content_type: Option<&'static str>,
        bytes: Vec<u8>,
        chunked: bool,
    },
}

const PARSE: &[u16] = &[400];
const RULES: &[u16] = &[422];
const TOO_LARGE: &[u16] = &[413];
const MEDIA: &[u16] = &[415];

/// A file an upload takes, with the type it is sent as.
const VALID_FILE: &[u8] = b"email\nbad-input@example.com\n";
const CSV: Option<&str> = Some("text/csv");

fn cut(s: &str) -> String {
    let short: String = s.chars().take(160).collect();
    if short.len() < s.len() {
        format!("{short}…")
    } else {
        short
    }
}
