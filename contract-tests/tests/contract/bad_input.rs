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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use momentum_contract_tests::receiver::Receiver;
use momentum_contract_tests::{TestApp, TEST_MAX_BODY_BYTES};
use serde_json::{json, Map, Value};
use uuid::Uuid;

const DOCUMENT: &str = include_str!("../../../openapi/openapi.json");

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
            let body = op["requestBody"]["content"].as_object().map(|content| {
                assert_eq!(content.len(), 1, "{id}: one body media type");
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
            (_, Some(pattern)) => pattern_values(pattern)[0].clone(),
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
// Fixtures: a valid id for every path parameter, a valid cursor for every list

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

/// The body a case starts from: valid, so only what the case changes is wrong.
fn base_body(doc: &Value, fixtures: &Fixtures, schema: &Value) -> Value {
    let title = schema["title"].as_str().unwrap_or_default();
    match fixtures.bodies.get(title) {
        Some(body) => body.clone(),
        None => sample(doc, schema),
    }
}

/// The value of path parameter `name` of `op`: the fixture of the collection it follows.
fn path_value<'a>(op: &Op, name: &str, fixtures: &'a Fixtures) -> &'a str {
    let segments: Vec<&str> = op.path.split('/').collect();
    let at = segments
        .iter()
        .position(|s| *s == format!("{{{name}}}"))
        .unwrap_or_else(|| panic!("{}: no {{{name}}} in {}", op.id, op.path));
    let collection = segments[at - 1];
    fixtures.ids.get(collection).unwrap_or_else(|| {
        panic!(
            "{}: the matrix has no `{collection}` fixture for {{{name}}}; add one to \
             bad_input::fixtures so this operation is exercised",
            op.id
        )
    })
}

/// Sends `body` (JSON) with the tenant's key; panics unless the answer is a success.
async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Value {
    let (client, url) = app.raw(path);
    let mut req = client
        .request(method.parse().unwrap(), url)
        .bearer_auth(&app.api_key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {path}: {status} {body}");
    body
}

async fn fixtures(app: &TestApp, ops: &[Op], receiver: &Receiver) -> Fixtures {
    let id = |v: &Value| {
        let id = v["data"]["id"].as_str();
        id.unwrap_or_else(|| panic!("no id in {v}")).to_owned()
    };
    let company = id(&call(app, "POST", "/v1/companies", Some(json!({"name": "Acme"}))).await);
    call(app, "POST", "/v1/companies", Some(json!({"name": "Beta"}))).await;
    let contact = id(&call(
        app,
        "POST",
        "/v1/contacts",
        Some(json!({"first_name": "Ada", "email": "ada@example.com", "company_id": company})),
    )
    .await);
    call(
        app,
        "POST",
        "/v1/contacts",
        Some(json!({"first_name": "Bob", "company_id": company})),
    )
    .await;
    let pipelines = call(app, "GET", "/v1/pipelines", None).await;
    let sales = &pipelines["data"][0];
    let pipeline = sales["id"].as_str().unwrap().to_owned();
    let stage_ids: Vec<Value> = sales["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    let stage = sales["stages"][0]["id"].as_str().unwrap().to_owned();
    call(
        app,
        "POST",
        "/v1/pipelines",
        Some(json!({"name": "Second", "stages": [{"name": "Open"}]})),
    )
    .await;
    let mut lead = String::new();
    for title in ["Deal one", "Deal two"] {
        let body = json!({"title": title, "pipeline_id": pipeline, "contact_id": contact,
                          "company_id": company});
        lead = id(&call(app, "POST", "/v1/leads", Some(body)).await);
    }
    let mut activity = String::new();
    for subject in ["First", "Second"] {
        let body = json!({"type": "note", "subject": subject, "contact_id": contact,
                          "company_id": company, "lead_id": lead});
        activity = id(&call(app, "POST", "/v1/activities", Some(body)).await);
    }
    let user = id(&call(
        app,
        "POST",
        "/v1/users",
        Some(json!({"email": "member@example.com", "name": "Member"})),
    )
    .await);
    let created = call(
        app,
        "POST",
        "/v1/api-keys",
        Some(json!({"name": "second", "scopes": ["contacts:read"]})),
    )
    .await;
    let api_key = created["data"]["api_key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A session token, through a whole QR login; then a pending session for the QR
    // operations themselves.
    let (client, url) = app.raw("/v1/auth/qr-sessions");
    let start_qr_login = || async {
        let started = client.post(&url).send().await.unwrap();
        started.json::<Value>().await.unwrap()
    };
    let qr = start_qr_login().await;
    let (qr_id, secret) = (id(&qr), qr["data"]["poll_secret"].as_str().unwrap());
    call(
        app,
        "POST",
        &format!("/v1/auth/qr-sessions/{qr_id}/approve"),
        None,
    )
    .await;
    let exchanged = client
        .post(format!("{url}/{qr_id}/exchange"))
        .header("x-poll-secret", secret)
        .send()
        .await
        .unwrap();
    assert_eq!(exchanged.status(), 200);
    let tokens = call(app, "GET", "/v1/session-tokens", None).await;
    let token = tokens["data"][0]["id"].as_str().unwrap().to_owned();
    let pending = start_qr_login().await;

    // Webhook endpoints with deliveries that have all been made, so the worker is idle
    // while the matrix runs and anything it then writes is the matrix's doing.
    let mut endpoint = String::new();
    for _ in 0..2 {
        let body = json!({"url": receiver.url});
        endpoint = id(&call(app, "POST", "/v1/webhook-endpoints", Some(body)).await);
    }
    for _ in 0..2 {
        let test = format!("/v1/webhook-endpoints/{endpoint}/test");
        call(app, "POST", &test, None).await;
    }
    let deliveries = format!("/v1/webhook-endpoints/{endpoint}/deliveries");
    let mut delivered = Value::Null;
    for _ in 0..200 {
        delivered = call(app, "GET", &deliveries, None).await;
        let all = delivered["data"].as_array().unwrap();
        if all.len() == 2 && all.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivery = delivered["data"][0]["id"].as_str().unwrap().to_owned();
    let events = call(app, "GET", "/v1/events?limit=1", None).await;
    let event = events["data"][0]["id"].as_str().unwrap().to_owned();
    let mut custom_field = String::new();
    for key in ["tier", "region"] {
        let body = json!({"record_type": "company", "key": key, "label": key, "type": "text"});
        custom_field = id(&call(app, "POST", "/v1/custom-fields", Some(body)).await);
    }
    let label_body = json!({"name": "Works at"});
    let label = id(&call(app, "POST", "/v1/association-labels", Some(label_body)).await);
    call(
        app,
        "POST",
        "/v1/association-labels",
        Some(json!({"name": "Other"})),
    )
    .await;
    let mut association = String::new();
    for label_id in [Value::Null, json!(label)] {
        let body = json!({"from_type": "contact", "from_id": contact, "to_type": "company",
                          "to_id": company, "label_id": label_id});
        association = id(&call(app, "POST", "/v1/associations", Some(body)).await);
    }
    let association_body = json!({"from_type": "contact", "from_id": contact,
                                  "to_type": "lead", "to_id": lead});

    let mut fixtures = Fixtures {
        ids: BTreeMap::from([
            ("contacts", contact),
            ("companies", company),
            ("pipelines", pipeline.clone()),
            ("stages", stage),
            ("leads", lead),
            ("activities", activity),
            ("users", user),
            ("api-keys", api_key),
            ("qr-sessions", id(&pending)),
            ("session-tokens", token),
            ("webhook-endpoints", endpoint),
            ("deliveries", delivery),
            ("events", event),
            ("custom-fields", custom_field),
            ("association-labels", label),
            ("associations", association),
        ]),
        headers: BTreeMap::from([(
            "x-poll-secret",
            pending["data"]["poll_secret"].as_str().unwrap().to_owned(),
        )]),
        cursors: BTreeMap::new(),
        bodies: BTreeMap::from([
            ("ContactCreate", json!({"first_name": "Base"})),
            ("ContactBatch", json!({"items": [{"first_name": "Base"}]})),
            (
                "LeadCreate",
                json!({"title": "Base", "pipeline_id": pipeline, "currency": "EUR"}),
            ),
            ("LeadPatch", json!({"currency": "EUR"})),
            ("ActivityCreate", json!({"type": "note", "subject": "Base"})),
            (
                "ApiKeyCreate",
                json!({"name": "Base", "scopes": ["contacts:read"]}),
            ),
            (
                "WebhookEndpointCreate",
                json!({"url": "https://example.com/hook"}),
            ),
            ("StageOrder", json!({ "stage_ids": stage_ids })),
            (
                "CustomFieldCreate",
                json!({"record_type": "lead", "key": "base", "label": "Base", "type": "text"}),
            ),
            ("AssociationCreate", association_body),
            // No such record: a merge refused with 422, so no case merges a fixture away.
            (
                "MergeRequest",
                json!({"duplicate_id": uuid::Uuid::now_v7()}),
            ),
        ]),
    };
    let doc: Value = serde_json::from_str(DOCUMENT).expect("the committed document");
    for op in ops.iter().filter(|op| op.takes_query("cursor")) {
        let path = valid_path(op, &fixtures);
        // Required query parameters (the search's `q`) with the value every case sends,
        // so the cursor is one those requests accept.
        let mut query = String::from("?limit=1");
        for p in op.params_in("query").filter(|p| p.required) {
            if let Some(value) = query_value(&doc, p, &fixtures, op) {
                let _ = write!(query, "&{}={value}", p.name);
            }
        }
        let page = call(app, "GET", &format!("{path}{query}"), None).await;
        if let Some(cursor) = page["meta"]["next_cursor"].as_str() {
            fixtures.cursors.insert(op.id.clone(), cursor.to_owned());
        }
    }
    fixtures
}

fn valid_path(op: &Op, fixtures: &Fixtures) -> String {
    let mut path = op.path.clone();
    for param in op.params_in("path") {
        path = path.replace(
            &format!("{{{}}}", param.name),
            path_value(op, &param.name, fixtures),
        );
    }
    path
}

// ---------------------------------------------------------------------------------------
// Cases

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

struct Builder<'a> {
    doc: &'a Value,
    ops: &'a [Op],
    fixtures: &'a Fixtures,
    cases: Vec<Case>,
}

impl Builder<'_> {
    fn case(&mut self, op: usize, kind: &'static str, what: impl Into<String>) -> &mut Case {
        let path = valid_path(&self.ops[op], self.fixtures);
        self.cases.push(Case {
            op,
            kind,
            what: what.into(),
            path,
            query: Vec::new(),
            omit: Vec::new(),
            headers: Vec::new(),
            body: Body::Valid,
            expect: PARSE,
            field: None,
        });
        self.cases.last_mut().expect("just pushed")
    }

    /// The operation's valid body with `field` set to `value`.
    fn body_with(&self, op: usize, field: &str, value: Value) -> Value {
        let mut body = self.base(op);
        body[field] = value;
        body
    }

    fn base(&self, op: usize) -> Value {
        let schema = self.ops[op].body.as_ref().expect("a body");
        base_body(self.doc, self.fixtures, schema)
    }

    fn field_case(
        &mut self,
        op: usize,
        kind: &'static str,
        field: &str,
        value: Value,
        expect: &'static [u16],
    ) {
        // JSON leaves DEL unescaped, which a terminal shows as nothing.
        let label = value.to_string().replace('\u{7f}', "\\u007f");
        let label: String = label.chars().take(40).collect();
        let body = self.body_with(op, field, value);
        let case = self.case(op, kind, format!("body.{field} = {label}"));
        case.body = Body::Json(body);
        case.expect = expect;
        // Parse failures (400) are poem-openapi's; only rule failures name the field.
        if expect == RULES {
            case.field = Some(field.to_owned());
        }
    }

    fn query_case(&mut self, op: usize, kind: &'static str, name: &str, raw: &str) {
        let case = self.case(op, kind, format!("?{name}={raw}"));
        case.query.push((name.to_owned(), raw.to_owned()));
        case.omit.push(name.to_owned());
        case.field = Some(name.to_owned());
    }

    fn path_case(&mut self, op: usize, kind: &'static str, name: &str, raw: &str) {
        let path = self.ops[op].path.replace(&format!("{{{name}}}"), raw);
        let mut with_others = path.clone();
        for param in self.ops[op].params_in("path") {
            with_others = with_others.replace(
                &format!("{{{}}}", param.name),
                path_value(&self.ops[op], &param.name, self.fixtures),
            );
        }
        let case = self.case(op, kind, format!("{{{name}}} = {raw}"));
        case.path = with_others;
        case.field = Some(name.to_owned());
    }

    fn raw_body(
        &mut self,
        op: usize,
        kind: &'static str,
        what: &str,
        content_type: Option<&'static str>,
        bytes: Vec<u8>,
        expect: &'static [u16],
    ) -> &mut Case {
        let case = self.case(op, kind, what);
        case.body = Body::Raw {
            content_type,
            bytes,
            chunked: false,
        };
        case.expect = expect;
        case
    }

    fn body_cases(&mut self, op: usize) {
        const JSON: Option<&str> = Some("application/json");
        for (what, text) in [
            ("truncated", &b"{\"a\": "[..]),
            ("trailing comma", b"{\"a\": 1,}"),
            ("trailing garbage", b"{} x"),
            ("empty", b""),
            ("array", b"[]"),
            ("null", b"null"),
            ("string", b"\"x\""),
            ("single quotes", b"{'a': 1}"),
        ] {
            self.raw_body(op, "malformed_json", what, JSON, text.to_vec(), PARSE);
        }
        let mut unknown = self.base(op);
        unknown["zzz_not_a_field"] = json!(1);
        let case = self.case(op, "malformed_json", "unknown field");
        case.body = Body::Json(unknown);

        for (what, bytes) in [
            ("raw 0xFF", b"{\"x\": \"a\xffb\"}".to_vec()),
            ("overlong encoding", b"{\"x\": \"\xc0\xaf\"}".to_vec()),
            ("lone surrogate", b"{\"x\": \"\\ud800\"}".to_vec()),
        ] {
            self.raw_body(
                op,
                "invalid_utf8",
                &format!("body {what}"),
                JSON,
                bytes,
                PARSE,
            );
        }

        let big = format!("{{\"x\": \"{}\"}}", "x".repeat(TEST_MAX_BODY_BYTES));
        for chunked in [false, true] {
            let what = if chunked { "chunked" } else { "Content-Length" };
            let bytes = big.clone().into_bytes();
            let case = self.raw_body(op, "oversized_body", what, JSON, bytes, TOO_LARGE);
            if let Body::Raw { chunked: c, .. } = &mut case.body {
                // Without Content-Length the limit must hold while reading.
                *c = chunked;
            }
        }

        let valid = self.base(op).to_string();
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/xml"),
            None,
        ] {
            let what = content_type.unwrap_or("no Content-Type");
            let bytes = valid.clone().into_bytes();
            self.raw_body(op, "wrong_content_type", what, content_type, bytes, MEDIA);
        }

        let schema = self.ops[op].body.clone().expect("a body");
        for (field, field_schema) in schema["properties"].as_object().expect("an object body") {
            let s = resolve(self.doc, field_schema);
            self.field_cases(op, field, &s);
        }
    }

    fn field_cases(&mut self, op: usize, field: &str, s: &Value) {
        let items = resolve(self.doc, &s["items"]);
        // Wrong JSON types, and strings that do not parse as the format they declare.
        let wrong: Vec<Value> = match s["type"].as_str() {
            Some("string") => vec![json!(12345), json!({"a": 1}), json!(["x"]), json!(true)],
            Some("integer") => vec![json!("12"), json!(1.5), json!(true)],
            Some("boolean") => vec![json!("true"), json!(1)],
            Some("array") => vec![json!("x"), json!({"a": 1})],
            Some("object") => vec![json!("x"), json!([1])],
            other => panic!(
                "{}: cannot send a wrong type for {other:?}",
                self.ops[op].id
            ),
        };
        for value in wrong {
            self.field_case(op, "wrong_type", field, value, PARSE);
        }
        match format(s) {
            "uuid" => {
                for bad in ["not-a-uuid", "", "0000", &format!("{}x", Uuid::now_v7())] {
                    self.field_case(op, "invalid_uuid", field, json!(bad), PARSE);
                }
            }
            "date" | "date-time" => {
                for bad in ["not-a-date", "2030-13-45", "2030-01-01T25:00:00Z"] {
                    self.field_case(op, "wrong_type", field, json!(bad), PARSE);
                }
            }
            _ => {}
        }
        if s["type"] == "array" && !items.is_null() && items["type"] != "object" {
            self.field_case(op, "wrong_type", field, json!([12345]), PARSE);
            if format(&items) == "uuid" {
                self.field_case(op, "invalid_uuid", field, json!(["not-a-uuid"]), PARSE);
            }
        }
        if s["enum"].is_array() {
            self.field_case(op, "unknown_enum", field, json!(NOT_A_VALUE), PARSE);
        }
        if items["enum"].is_array() {
            self.field_case(op, "unknown_enum", field, json!([NOT_A_VALUE]), PARSE);
        }
        if s["type"] == "integer" {
            if let Some(min) = s["minimum"].as_f64() {
                self.field_case(op, "out_of_range", field, json!(min as i64 - 1), RULES);
            }
            if let Some(max) = s["maximum"].as_f64() {
                self.field_case(op, "out_of_range", field, json!(max as i64 + 1), RULES);
            }
            self.field_case(op, "out_of_range", field, json!(1e20), PARSE);
            self.field_case(op, "out_of_range", field, json!(-1e20), PARSE);
        }
        if s["type"] == "array" {
            let one = sample(self.doc, &items);
            if let Some(max) = s["maxItems"].as_u64() {
                let value = Value::Array(vec![one.clone(); max as usize + 1]);
                self.field_case(op, "out_of_range", field, value, RULES);
            }
            if let Some(min) = s["minItems"].as_u64().filter(|m| *m > 0) {
                let value = Value::Array(vec![one; min as usize - 1]);
                self.field_case(op, "out_of_range", field, value, RULES);
            }
        }
        if let Some(max) = s["maxLength"].as_u64() {
            let value = json!("x".repeat(max as usize + 1));
            self.field_case(op, "too_long", field, value, RULES);
        }
        if let Some(max) = items["maxLength"].as_u64() {
            let value = json!(["x".repeat(max as usize + 1)]);
            self.field_case(op, "too_long", field, value, RULES);
        }
        for bad in ["a\u{0}b", "a\u{1b}b", "a\u{7f}b"] {
            let value = if is_text(s) {
                json!(bad)
            } else if is_text(&items) {
                json!([bad])
            } else if s["type"] == "object" && bad.contains('\0') {
                // A free-form object is the client's own data: any JSON string may be
                // in it, except NUL, which PostgreSQL cannot store.
                json!({ "key": bad })
            } else {
                continue;
            };
            self.field_case(op, "control_chars", field, value, RULES);
        }
    }

    fn query_cases(&mut self, op: usize) {
        let params: Vec<Param> = self.ops[op].params_in("query").cloned().collect();
        for param in &params {
            let name = param.name.as_str();
            let s = &param.schema;
            match (s["type"].as_str(), format(s)) {
                (_, "uuid") => {
                    for bad in ["not-a-uuid", "0000", "%FF"] {
                        self.query_case(op, "invalid_uuid", name, bad);
                    }
                }
                (_, "date" | "date-time") => {
                    for bad in ["not-a-date", "2030-13-45"] {
                        self.query_case(op, "wrong_type", name, bad);
                    }
                }
                (Some("integer"), _) => {
                    let mut bad = vec![
                        "-1".to_owned(),
                        "99999999999999999999999".to_owned(),
                        "1.5".to_owned(),
                        "abc".to_owned(),
                        "".to_owned(),
                    ];
                    if let Some(min) = s["minimum"].as_f64() {
                        bad.push((min as i64 - 1).to_string());
                    }
                    if let Some(max) = s["maximum"].as_f64() {
                        bad.push((max as i64 + 1).to_string());
                        bad.push("100000".to_owned());
                    }
                    bad.dedup();
                    for bad in bad {
                        self.query_case(op, "out_of_range", name, &bad);
                    }
                }
                (Some("boolean"), _) => {
                    for bad in ["maybe", "2", ""] {
                        self.query_case(op, "wrong_type", name, bad);
                    }
                }
                _ => {}
            }
            if s["enum"].is_array() || s["pattern"].as_str().is_some_and(|p| !is_charset(p)) {
                self.query_case(op, "unknown_enum", name, NOT_A_VALUE);
            }
            if let Some(max) = s["maxLength"].as_u64() {
                self.query_case(op, "too_long", name, &"x".repeat(max as usize + 1));
            }
            if is_string(s) {
                for bad in ["a%00b", "a%1Bb", "%7F"] {
                    self.query_case(op, "control_chars", name, bad);
                }
            }
            for bad in ["%FF", "a%C3%28", "%C0%AF"] {
                self.query_case(op, "invalid_utf8", name, bad);
            }
            if name == "cursor" {
                self.cursor_cases(op);
            }
            // Twice, each time valid: which one would count is ambiguous.
            if let Some(value) = query_value(self.doc, param, self.fixtures, &self.ops[op]) {
                let other = match (s["type"].as_str(), value.as_str()) {
                    (Some("integer"), "0") => "1".to_owned(),
                    (Some("integer"), v) => v
                        .parse::<i64>()
                        .map_or(v.to_owned(), |n| (n + 1).to_string()),
                    _ => value.clone(),
                };
                let case = self.case(op, "duplicate_query", format!("?{name}=..&{name}=.."));
                case.query.push((name.to_owned(), value));
                case.query.push((name.to_owned(), other));
                case.omit.push(name.to_owned());
                case.field = Some(name.to_owned());
            }
        }
    }

    fn cursor_cases(&mut self, op: usize) {
        let mut bad: Vec<(String, String)> = vec![
            ("random base64".into(), URL_SAFE_NO_PAD.encode(b"foobar")),
            ("base64 of []".into(), URL_SAFE_NO_PAD.encode(b"[]")),
            ("not base64".into(), "!!!".into()),
            ("padded base64".into(), "e30=".into()),
            ("long".into(), "x".repeat(5000)),
        ];
        let issued = self.fixtures.cursors.get(&self.ops[op].id);
        let token: Value = match issued {
            Some(cursor) => {
                bad.push(("truncated".into(), cursor[..cursor.len() / 2].to_owned()));
                let bytes = URL_SAFE_NO_PAD.decode(cursor).expect("an issued cursor");
                serde_json::from_slice(&bytes).expect("a JSON cursor")
            }
            // A list too short for a second page: a cursor shaped like the issued ones.
            None => json!({"v": 1, "sort": "created_at", "desc": false,
                           "value": "2030-01-01T00:00:00Z", "id": Uuid::now_v7()}),
        };
        let tampered = |field: &str, value: Value| {
            let mut t = token.clone();
            t[field] = value;
            URL_SAFE_NO_PAD.encode(t.to_string())
        };
        bad.extend([
            ("tampered v".into(), tampered("v", json!(99))),
            ("tampered sort".into(), tampered("sort", json!(NOT_A_VALUE))),
            (
                "tampered value".into(),
                tampered("value", json!("2030-13-45")),
            ),
            ("tampered value type".into(), tampered("value", json!(12))),
            ("tampered id".into(), tampered("id", json!("not-a-uuid"))),
            ("tampered NUL".into(), tampered("value", json!("a\u{0}b"))),
        ]);
        if let Some(map) = token.as_object() {
            let mut t = map.clone();
            t.remove("id");
            bad.push((
                "missing id".into(),
                URL_SAFE_NO_PAD.encode(Value::Object(t).to_string()),
            ));
        }
        for (what, cursor) in bad {
            let case = self.case(op, "invalid_cursor", what);
            case.query.push(("cursor".into(), encode(&cursor)));
            case.omit.push("cursor".into());
            case.field = Some("cursor".into());
        }
    }

    fn all(&mut self) {
        for op in 0..self.ops.len() {
            let params: Vec<Param> = self.ops[op].params_in("path").cloned().collect();
            for param in &params {
                let uuid = Uuid::now_v7().to_string();
                for (kind, bad) in [
                    ("invalid_uuid", "not-a-uuid".to_owned()),
                    ("invalid_uuid", "1".to_owned()),
                    ("invalid_uuid", format!("{uuid}0")),
                    ("invalid_uuid", uuid[..35].to_owned()),
                    ("control_chars", "a%00b".to_owned()),
                    ("control_chars", format!("{uuid}%00")),
                    ("invalid_utf8", "%FF".to_owned()),
                    ("invalid_utf8", format!("{}%FF", &uuid[..35])),
                ] {
                    self.path_case(op, kind, &param.name, &bad);
                }
            }
            self.query_cases(op);
            let headers: Vec<Param> = self.ops[op].params_in("header").cloned().collect();
            for header in &headers {
                if let Some(max) = header.schema["maxLength"].as_u64() {
                    let what = format!("{}: {} characters", header.name, max + 1);
                    let case = self.case(op, "too_long", what);
                    case.headers
                        .push((header.name.clone(), "x".repeat(max as usize + 1)));
                    case.field = Some(header.name.clone());
                }
            }
            if self.ops[op].body.is_some() {
                self.body_cases(op);
            } else {
                // No body is expected, but one is still read up to the limit.
                let big = format!("{{\"x\": \"{}\"}}", "x".repeat(TEST_MAX_BODY_BYTES));
                let json = Some("application/json");
                self.raw_body(
                    op,
                    "oversized_body",
                    "Content-Length",
                    json,
                    big.into(),
                    TOO_LARGE,
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running and judging

struct Outcome {
    status: u16,
    problems: Vec<String>,
}

fn expected_code(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        404 => "not_found",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        _ => "?",
    }
}

async fn send(app: &TestApp, ops: &[Op], fixtures: &Fixtures, doc: &Value, case: &Case) -> Outcome {
    let op = &ops[case.op];
    let mut query: Vec<(String, String)> = op
        .params_in("query")
        .filter(|p| p.required && !case.omit.contains(&p.name))
        .map(|p| {
            let value = query_value(doc, p, fixtures, op)
                .unwrap_or_else(|| panic!("{}: no value for required ?{}", op.id, p.name));
            (p.name.clone(), value)
        })
        .collect();
    query.extend(case.query.iter().cloned());
    let mut target = case.path.clone();
    for (i, (name, value)) in query.iter().enumerate() {
        let _ = write!(target, "{}{name}={value}", if i == 0 { '?' } else { '&' });
    }
    let (client, url) = app.raw(&target);
    let mut req = client.request(op.method.to_uppercase().parse().unwrap(), url);
    if op.authenticated {
        req = req.bearer_auth(&app.api_key);
    }
    for header in op.params_in("header").filter(|h| h.required) {
        let value = fixtures
            .headers
            .get(header.name.to_ascii_lowercase().as_str())
            .unwrap_or_else(|| {
                panic!(
                    "{}: no fixture for the required header {}",
                    op.id, header.name
                )
            });
        req = req.header(&header.name, value);
    }
    for (name, value) in &case.headers {
        req = req.header(name, value);
    }
    req = match &case.body {
        Body::Valid => match &op.body {
            Some(schema) => req.json(&base_body(doc, fixtures, schema)),
            None => req,
        },
        Body::Json(value) => req.json(value),
        Body::Raw {
            content_type,
            bytes,
            chunked,
        } => {
            if let Some(ct) = content_type {
                req = req.header("content-type", *ct);
            }
            if *chunked {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
                req.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            } else {
                req.body(bytes.clone())
            }
        }
    };
    let resp = match req.send().await {
        Ok(resp) => resp,
        Err(err) => {
            return Outcome {
                status: 0,
                problems: vec![format!("no answer: {err}")],
            }
        }
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value =
        serde_json::from_slice(&resp.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);

    let mut problems = Vec::new();
    if status >= 500 {
        problems.push("server error".to_owned());
    }
    if !case.expect.contains(&status) {
        problems.push(format!("expected {:?}", case.expect));
    }
    if !op.statuses.contains(&status) {
        problems.push("status not documented for the operation".to_owned());
    }
    if !content_type.starts_with("application/json") {
        problems.push(format!("content-type {content_type:?}"));
    }
    let error = &body["error"];
    let details = error["details"].as_array();
    let envelope = error["code"].is_string()
        && error["message"].is_string()
        && details.is_some_and(|d| {
            d.iter().all(|d| {
                d["field"].is_string() && d["code"].is_string() && d["message"].is_string()
            })
        })
        && body["meta"]["request_id"].is_string()
        && body.as_object().is_some_and(|o| o.len() == 2);
    if !envelope {
        problems.push(format!(
            "not the error envelope: {}",
            cut(&body.to_string())
        ));
    } else {
        if body["meta"]["request_id"] != request_id.as_str() {
            problems.push("meta.request_id is not X-Request-Id".to_owned());
        }
        if error["code"] != expected_code(status) {
            problems.push(format!("code {} for {status}", error["code"]));
        }
        if let Some(field) = &case.field {
            let named = details.into_iter().flatten().any(|d| {
                d["field"].as_str().is_some_and(|f| {
                    f == field
                        || f.starts_with(&format!("{field}["))
                        || f.starts_with(&format!("{field}."))
                })
            });
            if !named {
                problems.push(format!(
                    "`{field}` not named in details: {}",
                    cut(&error.to_string())
                ));
            }
        }
    }
    Outcome { status, problems }
}

fn cut(s: &str) -> String {
    let short: String = s.chars().take(160).collect();
    if short.len() < s.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// A digest of every row of the tenant, table by table (`last_used_at`, which reads
/// move, left out): a refused write must leave it as it was.
async fn snapshot(app: &TestApp) -> BTreeMap<String, String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns
          WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY 1",
    )
    .fetch_all(&app.admin)
    .await
    .unwrap();
    let union = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT '{t}' AS t, (to_jsonb(r) - 'last_used_at')::text AS row
                   FROM {t} r WHERE tenant_id = $1"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let sql =
        format!("SELECT t, md5(string_agg(row, '|' ORDER BY row)) FROM ({union}) s GROUP BY t");
    sqlx::query_as::<_, (String, String)>(&sql)
        .bind(app.tenant_id)
        .fetch_all(&app.admin)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The snapshot once the webhook worker is done with what a wrongly accepted write
/// emitted, so the next case is not blamed for it.
async fn settled(app: &TestApp, mut last: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = snapshot(app).await;
        if now == last {
            break;
        }
        last = now;
    }
    last
}

#[tokio::test]
async fn every_operation_refuses_bad_input_with_its_documented_error() {
    let doc: Value = serde_json::from_str(DOCUMENT).expect("the committed document");
    let ops = operations(&doc);
    assert!(ops.len() > 50, "the document lists the operations");
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let fixtures = fixtures(&app, &ops, &receiver).await;

    let mut builder = Builder {
        doc: &doc,
        ops: &ops,
        fixtures: &fixtures,
        cases: Vec::new(),
    };
    builder.all();
    let cases = builder.cases;

    // Every operation meets at least one bad input.
    let covered: BTreeSet<usize> = cases.iter().map(|c| c.op).collect();
    let missed: Vec<&str> = (0..ops.len())
        .filter(|i| !covered.contains(i))
        .map(|i| ops[i].id.as_str())
        .collect();
    assert!(missed.is_empty(), "operations without a case: {missed:?}");

    let mut before = snapshot(&app).await;
    let mut failures = String::new();
    let mut matrix: BTreeMap<&str, (BTreeSet<usize>, usize, usize)> = BTreeMap::new();
    for case in &cases {
        let op = &ops[case.op];
        let mut outcome = send(&app, &ops, &fixtures, &doc, case).await;
        if op.writes() {
            let after = snapshot(&app).await;
            if after != before {
                let changed: Vec<&String> = after
                    .keys()
                    .chain(before.keys())
                    .filter(|t| after.get(*t) != before.get(*t))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                outcome
                    .problems
                    .push(format!("tenant data changed: {changed:?}"));
                before = settled(&app, after).await;
            }
        }
        let entry = matrix.entry(case.kind).or_default();
        entry.0.insert(case.op);
        entry.1 += 1;
        if !outcome.problems.is_empty() {
            entry.2 += 1;
            let _ = writeln!(
                failures,
                "{:<32} {:<18} {:<44} {:>3}  {}",
                op.id,
                case.kind,
                cut(&case.what).chars().take(44).collect::<String>(),
                outcome.status,
                outcome.problems.join("; ")
            );
        }
    }

    let mut table = format!(
        "{:<18} {:>10} {:>6} {:>7}\n",
        "kind", "operations", "cases", "failed"
    );
    for (kind, (op_set, n, failed)) in &matrix {
        let _ = writeln!(table, "{kind:<18} {:>10} {n:>6} {failed:>7}", op_set.len());
    }
    let _ = writeln!(
        table,
        "{:<18} {:>10} {:>6}",
        "total",
        ops.len(),
        cases.len()
    );
    println!("{table}");
    assert!(
        failures.is_empty(),
        "bad input not refused as documented:\n{:<32} {:<18} {:<44} {:>3}  problems\n{failures}\n{table}",
        "operation",
        "kind",
        "input"
    , "got");
}

// ---------------------------------------------------------------------------------------
// Every method on every path

/// The methods every path meets: the document's, the two the server answers for any
/// resource (`HEAD`, `OPTIONS`), `TRACE`, and one HTTP does not define.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "FOO",
];

/// Those that never change anything, sent on every path before the others, so that a
/// `DELETE` of a fixture does not turn the reads that follow into 404s.
const SAFE_METHODS: [&str; 5] = ["GET", "HEAD", "OPTIONS", "TRACE", "FOO"];

/// Headers that differ between any two answers, whatever the method.
const PER_ANSWER_HEADERS: [&str; 5] = [
    "date",
    "x-request-id",
    "ratelimit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// What `HEAD` must repeat of a `GET`: the status and every header that does not
    /// change from one answer to the next.
    fn stable(&self) -> (u16, BTreeMap<String, String>) {
        let mut headers = self.headers.clone();
        headers.retain(|name, _| !PER_ANSWER_HEADERS.contains(&name.as_str()));
        (self.status, headers)
    }

    /// The set of methods `Allow` names.
    fn allow(&self) -> BTreeSet<String> {
        self.header("allow")
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect()
    }
}

/// Sends `method` to `path` (the path's required query parameters and headers added),
/// with the tenant's key or none.
async fn send_method(
    app: &TestApp,
    doc: &Value,
    fixtures: &Fixtures,
    ops: &[&Op],
    method: &str,
    path: &str,
    with_key: bool,
) -> Answer {
    let mut target = path.to_owned();
    let mut separator = '?';
    for op in ops {
        for p in op.params_in("query").filter(|p| p.required) {
            if let Some(value) = query_value(doc, p, fixtures, op) {
                let _ = write!(target, "{separator}{}={value}", p.name);
                separator = '&';
            }
        }
    }
    let (client, url) = app.raw(&target);
    let mut req = client.request(method.parse().unwrap(), url);
    if with_key {
        req = req.bearer_auth(&app.api_key);
    }
    for op in ops {
        for header in op.params_in("header").filter(|h| h.required) {
            if let Some(value) = fixtures
                .headers
                .get(header.name.to_ascii_lowercase().as_str())
            {
                req = req.header(&header.name, value);
            }
        }
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|err| panic!("{method} {target}: no answer: {err}"));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// How `head` differs from `get` beyond the body it must leave out, if it does.
fn head_mismatch(head: &Answer, get: &Answer) -> Option<String> {
    let (status, headers) = head.stable();
    let (get_status, get_headers) = get.stable();
    if status == get_status && headers == get_headers && head.body.is_empty() {
        return None;
    }
    let differ: Vec<String> = headers
        .keys()
        .chain(get_headers.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|h| headers.get(*h) != get_headers.get(*h))
        .map(|h| format!("{h}: {:?} vs {:?}", headers.get(h), get_headers.get(h)))
        .collect();
    Some(format!(
        "HEAD {status} vs GET {get_status}, HEAD body {} bytes; {}",
        head.body.len(),
        differ.join(", ")
    ))
}

#[tokio::test]
async fn every_method_on_every_path_gets_a_deliberate_answer_and_head_is_get_without_a_body() {
    let doc: Value = serde_json::from_str(DOCUMENT).expect("the committed document");
    let ops = operations(&doc);
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let fixtures = fixtures(&app, &ops, &receiver).await;

    // The document's paths, in its order, with their operations.
    let mut paths: Vec<(&str, Vec<&Op>)> = Vec::new();
    for op in &ops {
        match paths.iter_mut().find(|(path, _)| *path == op.path) {
            Some((_, on_path)) => on_path.push(op),
            None => paths.push((op.path.as_str(), vec![op])),
        }
    }

    let mut failures = String::new();
    let mut sent = 0;
    for pass in [true, false] {
        for (path, on_path) in &paths {
            let concrete = valid_path(on_path[0], &fixtures);
            let declared: BTreeSet<String> =
                on_path.iter().map(|op| op.method.to_uppercase()).collect();
            let mut allow = declared.clone();
            if declared.contains("GET") {
                allow.insert("HEAD".to_owned());
            }
            allow.insert("OPTIONS".to_owned());
            for method in METHODS
                .into_iter()
                .filter(|m| SAFE_METHODS.contains(m) == pass)
            {
                for with_key in [true, false] {
                    let key = if with_key { "key" } else { "no key" };
                    let mut fail = |problem: String| {
                        let _ = writeln!(failures, "{method:<7} {path:<62} {key:<6}  {problem}");
                    };
                    let answer =
                        send_method(&app, &doc, &fixtures, on_path, method, &concrete, with_key)
                            .await;
                    sent += 1;
                    if answer.status >= 500 {
                        fail(format!(
                            "{}: {}",
                            answer.status,
                            cut(&String::from_utf8_lossy(&answer.body))
                        ));
                        continue;
                    }
                    // Every answer was counted against a rate limit, and says so.
                    if answer.header("ratelimit-policy").is_none() {
                        fail(format!("{}: no RateLimit-Policy", answer.status));
                    }
                    let op = on_path
                        .iter()
                        .find(|op| op.method.eq_ignore_ascii_case(method));
                    match (method, op) {
                        (_, Some(op)) => {
                            if !op.statuses.contains(&answer.status) {
                                fail(format!("{}: not documented for {}", answer.status, op.id));
                            }
                        }
                        ("HEAD", None) if declared.contains("GET") => {
                            // A GET may change between two requests (a timestamp's
                            // digits): the pair is sent again before it counts as a
                            // mismatch.
                            let mut head = answer;
                            let mut mismatch = None;
                            for _ in 0..3 {
                                let get = send_method(
                                    &app, &doc, &fixtures, on_path, "GET", &concrete, with_key,
                                )
                                .await;
                                mismatch = head_mismatch(&head, &get);
                                if mismatch.is_none() {
                                    break;
                                }
                                head = send_method(
                                    &app, &doc, &fixtures, on_path, "HEAD", &concrete, with_key,
                                )
                                .await;
                            }
                            if let Some(problem) = mismatch {
                                fail(problem);
                            }
                        }
                        ("OPTIONS", None) => {
                            if answer.status != 204 || !answer.body.is_empty() {
                                fail(format!(
                                    "{} with {} bytes, not 204 without a body",
                                    answer.status,
                                    answer.body.len()
                                ));
                            }
                            if answer.allow() != allow {
                                fail(format!("Allow {:?}, not {allow:?}", answer.allow()));
                            }
                        }
                        (_, None) => {
                            let body: Value =
                                serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                            let expected_body =
                                method == "HEAD" || body["error"]["code"] == "method_not_allowed";
                            if answer.status != 405 || !expected_body {
                                fail(format!(
                                    "{}, not 405 method_not_allowed: {}",
                                    answer.status,
                                    cut(&body.to_string())
                                ));
                            }
                            if answer.allow() != allow {
                                fail(format!("Allow {:?}, not {allow:?}", answer.allow()));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(sent >= paths.len() * METHODS.len() * 2, "{sent} requests");
    assert!(
        failures.is_empty(),
        "methods not answered as documented:\n{failures}"
    );
}
