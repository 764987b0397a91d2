//! The bad inputs of the matrix: for every operation, each kind of bad input that
//! applies to it, with the statuses it may get and the field it must name.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use momentum_contract_tests::{TEST_MAX_BODY_BYTES, TEST_MAX_IMPORT_BYTES};
use serde_json::{json, Value};
use uuid::Uuid;

use super::fixtures::{base_body, path_value, valid_path};
use super::{
    encode, format, is_charset, is_string, is_text, query_value, resolve, sample, Body, Case,
    Fixtures, Op, Param, CSV, MEDIA, NOT_A_VALUE, PARSE, RULES, TOO_LARGE, VALID_FILE,
};

/// Every bad input the matrix sends: for each operation, each kind that applies to it.
pub(super) fn all(doc: &Value, ops: &[Op], fixtures: &Fixtures) -> Vec<Case> {
    let mut builder = Builder {
        doc,
        ops,
        fixtures,
        cases: Vec::new(),
    };
    builder.all();
    builder.cases
}

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

    /// An upload: a file over the limit (declared, or counted as it comes), and a body
    /// that is not a file type (a form, JSON, none at all).
    fn file_cases(&mut self, op: usize) {
        let big = vec![b'a'; TEST_MAX_IMPORT_BYTES as usize + 1];
        for chunked in [false, true] {
            let what = if chunked { "chunked" } else { "Content-Length" };
            let case = self.raw_body(op, "oversized_body", what, CSV, big.clone(), TOO_LARGE);
            if let Body::Raw { chunked: c, .. } = &mut case.body {
                *c = chunked;
            }
        }
        for content_type in [
            Some("application/x-www-form-urlencoded"),
            Some("application/json"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let what = content_type.unwrap_or("no Content-Type");
            self.raw_body(
                op,
                "wrong_content_type",
                what,
                content_type,
                VALID_FILE.to_vec(),
                MEDIA,
            );
        }
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
            // `null` where the document does not allow it: a client told a field is never
            // null must be able to rely on the server refusing it (never reading it as
            // "absent", which in a patch would keep a value the client asked to remove).
            let nullable = |v: &Value| v["nullable"] == true;
            let declared_nullable = nullable(field_schema)
                || nullable(&s)
                || ["allOf", "anyOf", "oneOf"].iter().any(|k| {
                    field_schema[*k]
                        .as_array()
                        .is_some_and(|parts| parts.iter().any(nullable))
                });
            if !declared_nullable {
                self.field_case(op, "null_not_allowed", field, Value::Null, PARSE);
            }
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
            } else if s["type"] == "object"
                && s["additionalProperties"] != false
                && bad.contains('\0')
            {
                // A free-form object is the client's own data: any JSON string may be
                // in it, except NUL, which PostgreSQL cannot store. (A closed object,
                // an export's filters, takes no such key at all.)
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
            if self.ops[op].file {
                self.file_cases(op);
            } else if self.ops[op].body.is_some() {
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
