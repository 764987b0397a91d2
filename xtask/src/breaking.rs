//! Breaking changes between two OpenAPI 3.0 documents: the baseline of the last release
//! (`openapi/baseline.json`) and the committed document (`openapi/openapi.json`).
//!
//! No maintained checker installs from the registries this project uses (oasdiff is Go,
//! `@pb33f/openapi-changes` downloads a Go binary at install time, Optic is archived), so
//! this is a small one, focused on what breaks a client written against the baseline.
//! `$ref`s are followed (schemas, parameters, request bodies, responses, headers), an
//! `allOf` is merged into one schema (so poem-openapi's `allOf: [{$ref}, {description}]`
//! and a bare `$ref` compare equal), JSON media types match by their essence
//! (`application/json; charset=utf-8` is `application/json`), and path templates match
//! whatever their parameters are called.
//!
//! What a client sends (parameters, request bodies) may not narrow: an operation, a
//! parameter or a field removed; a parameter, a body or a field made required; a type
//! changed (`integer` to `number` widens); an enum value removed or an enum added; a
//! format added or changed; a numeric range (from the format and `minimum`/`maximum`)
//! that no longer holds every value it held; `maxLength`/`maxItems` lowered,
//! `minLength`/`minItems` raised, a `pattern` added or changed; `nullable` dropped.
//! What a client receives (the success responses) may not lose anything: a 2xx status, a
//! JSON media type, a header, a field removed; a field no longer required; a type changed;
//! a string format changed or dropped; an enum value removed; a numeric range widened; a
//! field made `nullable`. Additions are not breaks: a new operation, a new optional
//! parameter or field, a new enum value in a response.
//!
//! Each [`Break`] names where it is: `#/components/...` for what a `$ref` reaches, else the
//! operation (`POST /v1/contacts`) followed by the path inside it (`requestBody`,
//! `parameters/query/limit`, `responses/200/headers/ETag`), then the schema path
//! (`/properties/email`, `/items`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde_json::Value;

/// One breaking change: where it is, and what changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Break {
    pub location: String,
    pub what: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.what)
    }
}

/// Which way a schema carries data: a client sends requests, and reads responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Flow {
    Request,
    Response,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every breaking change from `baseline` to `current`, sorted by location.
pub fn breaks(baseline: &Value, current: &Value) -> Vec<Break> {
    let mut diff = Diff {
        base: baseline,
        cur: current,
        seen: HashSet::new(),
        found: BTreeSet::new(),
    };
    diff.paths();
    diff.found.into_iter().collect()
}

/// The breaks that `CHANGELOG.md` does not record. A break is recorded when a section
/// headed `## <major>.0.0` (or `## [<major>.0.0]`, anything may follow) with a major
/// version above the baseline's names the break's location verbatim and whole (see
/// [`names`]).
pub fn unrecorded<'a>(
    found: &'a [Break],
    baseline_version: &str,
    changelog: &str,
) -> Vec<&'a Break> {
    let base_major = version(baseline_version).map_or(0, |v| v.0);
    let mut recorded = String::new();
    let mut inside = false;
    for line in changelog.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            inside =
                version(heading.trim_start_matches('[')).is_some_and(|(major, minor, patch)| {
                    major > base_major && minor == 0 && patch == 0
                });
        } else if inside {
            recorded.push_str(line);
            recorded.push('\n');
        }
    }
    found
        .iter()
        .filter(|b| !names(&recorded, &b.location))
        .collect()
}

/// Whether `text` names `location` whole: not as the start of a longer one
/// (`#/components/schemas/Contact` is not named by `#/components/schemas/ContactCreate`
/// nor by `#/components/schemas/Contact/properties/email`).
fn names(text: &str, location: &str) -> bool {
    text.match_indices(location).any(|(at, _)| {
        text[at + location.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | '{' | '~')))
    })
}

/// `major.minor.patch` at the start of `text`.
fn version(text: &str) -> Option<(u64, u64, u64)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let mut parts = text[..end].split('.').map(str::parse::<u64>);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(b)), Some(Ok(c)), None) => Some((a, b, c)),
        _ => None,
    }
}

/// Follows `$ref`s inside `doc`; returns the value reached and the last reference.
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> (&'a Value, Option<String>) {
    let mut last = None;
    for _ in 0..32 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            break;
        };
        match reference
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
        {
            Some(target) => {
                last = Some(reference.to_owned());
                value = target;
            }
            None => break,
        }
    }
    (value, last)
}

/// The component a schema stands for: its `$ref`, or the one `$ref` of its `allOf`.
fn target(schema: &Value) -> Option<String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return Some(reference.to_owned());
    }
    let members = schema.get("allOf")?.as_array()?;
    let mut refs = members.iter().filter_map(|m| m.get("$ref")?.as_str());
    match (refs.next(), refs.next()) {
        (Some(one), None) => Some(one.to_owned()),
        _ => None,
    }
}

/// The schema with its `$ref`s followed and its `allOf` merged into one object:
/// properties and `required` united, other keywords taken from the first that sets them.
fn flatten(doc: &Value, schema: &Value) -> Value {
    let (schema, _) = resolve(doc, schema);
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = object.clone();
    let Some(Value::Array(members)) = out.remove("allOf") else {
        return Value::Object(out);
    };
    for member in &members {
        let Value::Object(member) = flatten(doc, member) else {
            continue;
        };
        for (key, value) in member {
            match (key.as_str(), out.get_mut(&key), value) {
                ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                    for (name, property) in theirs {
                        mine.entry(name).or_insert(property);
                    }
                }
                ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                    for name in theirs {
                        if !mine.contains(&name) {
                            mine.push(name);
                        }
                    }
                }
                (_, Some(_), _) => {}
                (_, None, value) => {
                    out.insert(key, value);
                }
            }
        }
    }
    Value::Object(out)
}

/// A path template with its parameter names erased: `/v1/contacts/{}`.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// The media types of a `content` map by essence (`application/json`), with their entry.
fn media(content: &Value) -> BTreeMap<String, &Value> {
    content
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, entry)| {
            let essence = name.split(';').next().unwrap_or_default();
            (essence.trim().to_ascii_lowercase(), entry)
        })
        .collect()
}

/// Whether `key` of the request schema `schema` at `location` states a rule the server
/// enforced before the document said so: the value was refused (`422`) all along, so
/// stating it refuses in the document only what no client could send successfully, and
/// breaks none. Narrow on purpose: only the exact patterns the server states from the
/// constants it validates with (`api::document_rules`), `minLength: 1` only beside the
/// non-blank or the condition-header pattern (each needs a character anyway) or on a
/// field the server lists as never accepted empty, and the custom fields' key count.
/// Any other pattern, length or count added is still a break.
fn stated_rule(key: &str, location: &str, schema: &Value) -> bool {
    use momentum_server::api::document_rules::{NON_BLANK_PATTERN, NON_EMPTY};
    use momentum_server::api::etag::CONDITION_PATTERN;
    use momentum_server::domain::custom_field::KEY_PATTERN;
    use momentum_server::domain::fields::CUSTOM_FIELDS_MAX_KEYS;
    let pattern = schema["pattern"].as_str();
    match key {
        "pattern" => pattern.is_some_and(|p| p == NON_BLANK_PATTERN || p == KEY_PATTERN),
        "minLength" => {
            schema["minLength"] == 1
                && (pattern == Some(NON_BLANK_PATTERN)
                    || pattern == Some(CONDITION_PATTERN)
                    || NON_EMPTY.iter().any(|(name, property)| {
                        location == format!("#/components/schemas/{name}/properties/{property}")
                    }))
        }
        "maxProperties" => {
            location.ends_with("/properties/custom_fields")
                && schema["maxProperties"] == CUSTOM_FIELDS_MAX_KEYS
        }
        _ => false,
    }
}

/// Whether `new` is `old` with alternatives added, both a plain list of words under one
/// prefix (`^-?(created_at|name)$` to `^-?(created_at|name|owner_id)$`, a list's new
/// sort order): every value `old` admits, `new` admits. Only that exact shape; any other
/// change of a pattern is still a break.
fn alternatives_added(old: &str, new: &str) -> bool {
    fn split(pattern: &str) -> Option<(&str, BTreeSet<&str>)> {
        let body = pattern.strip_suffix(")$")?;
        let (prefix, words) = body.split_once('(')?;
        let words: BTreeSet<&str> = words.split('|').collect();
        let plain =
            |w: &&str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        (words.iter().all(plain) && !prefix.contains(['(', ')', '|'])).then_some((prefix, words))
    }
    match (split(old), split(new)) {
        (Some((old_prefix, old_words)), Some((new_prefix, new_words))) => {
            old_prefix == new_prefix && old_words.is_subset(&new_words)
        }
        _ => false,
    }
}

/// The values a number schema admits, from its format and its bounds.
fn range(schema: &Value) -> (f64, f64) {
    let (mut low, mut high) = match schema["format"].as_str() {
        Some("int8") => (-128.0, 127.0),
        Some("uint8") => (0.0, 255.0),
        Some("int16") => (-32_768.0, 32_767.0),
        Some("uint16") => (0.0, 65_535.0),
        Some("int32") => (-2_147_483_648.0, 2_147_483_647.0),
        Some("uint32") => (0.0, 4_294_967_295.0),
        Some("int64") => (-9_223_372_036_854_775_808.0, 9_223_372_036_854_775_807.0),
        Some("uint64") => (0.0, 18_446_744_073_709_551_615.0),
        Some("float") => (f64::from(f32::MIN), f64::from(f32::MAX)),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    };
    let step = if schema["type"] == "integer" {
        1.0
    } else {
        0.0
    };
    if let Some(minimum) = schema["minimum"].as_f64() {
        let minimum = if schema["exclusiveMinimum"] == true {
            minimum + step
        } else {
            minimum
        };
        low = low.max(minimum);
    }
    if let Some(maximum) = schema["maximum"].as_f64() {
        let maximum = if schema["exclusiveMaximum"] == true {
            maximum - step
        } else {
            maximum
        };
        high = high.min(maximum);
    }
    (low, high)
}

fn shown(value: Option<&str>) -> &str {
    value.unwrap_or("none")
}

struct Diff<'a> {
    base: &'a Value,
    cur: &'a Value,
    /// Pairs of components already compared in one direction: once is enough, and
    /// recursive schemas end.
    seen: HashSet<(String, String, Flow)>,
    found: BTreeSet<Break>,
}

impl Diff<'_> {
    fn report(&mut self, location: &str, what: impl Into<String>) {
        self.found.insert(Break {
            location: location.to_owned(),
            what: what.into(),
        });
    }

    fn paths(&mut self) {
        let (base, cur) = (self.base, self.cur);
        let current: BTreeMap<String, &Value> = cur["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, item)| (shape(path), item))
            .collect();
        for (path, base_item) in base["paths"].as_object().into_iter().flatten() {
            let cur_item = current.get(&shape(path)).copied();
            for method in METHODS {
                let Some(base_op) = base_item.get(method) else {
                    continue;
                };
                let name = format!("{} {path}", method.to_ascii_uppercase());
                match cur_item.and_then(|item| item.get(method).map(|op| (item, op))) {
                    None => self.report(&name, "operation removed"),
                    Some((cur_item, cur_op)) => {
                        self.operation(&name, base_item, base_op, cur_item, cur_op);
                    }
                }
            }
        }
    }

    /// The parameters of an operation, its path item's included, by `in` and name.
    fn parameters<'d>(
        doc: &'d Value,
        item: &'d Value,
        op: &'d Value,
    ) -> BTreeMap<String, &'d Value> {
        let mut out = BTreeMap::new();
        for list in [&item["parameters"], &op["parameters"]] {
            for parameter in list.as_array().into_iter().flatten() {
                let (parameter, _) = resolve(doc, parameter);
                let place = parameter["in"].as_str().unwrap_or_default();
                let name = parameter["name"].as_str().unwrap_or_default();
                let name = if place == "header" {
                    name.to_ascii_lowercase()
                } else {
                    name.to_owned()
                };
                out.insert(format!("{place}/{name}"), parameter);
            }
        }
        out
    }

    fn operation(
        &mut self,
        name: &str,
        base_item: &Value,
        base_op: &Value,
        cur_item: &Value,
        cur_op: &Value,
    ) {
        let (base, cur) = (self.base, self.cur);
        let base_params = Self::parameters(base, base_item, base_op);
        let cur_params = Self::parameters(cur, cur_item, cur_op);
        for (key, base_param) in &base_params {
            let location = format!("{name} parameters/{key}");
            let Some(cur_param) = cur_params.get(key) else {
                self.report(&location, "parameter removed");
                continue;
            };
            if cur_param["required"] == true && base_param["required"] != true {
                self.report(&location, "parameter made required");
            }
            self.schema(
                &location,
                &base_param["schema"],
                &cur_param["schema"],
                Flow::Request,
            );
        }
        for (key, cur_param) in &cur_params {
            if !base_params.contains_key(key) && cur_param["required"] == true {
                self.report(
                    &format!("{name} parameters/{key}"),
                    "new required parameter",
                );
            }
        }

        let location = format!("{name} requestBody");
        let (base_body, _) = resolve(base, &base_op["requestBody"]);
        let (cur_body, _) = resolve(cur, &cur_op["requestBody"]);
        if cur_body["required"] == true && base_body["required"] != true {
            self.report(&location, "request body made required");
        }
        let cur_media = media(&cur_body["content"]);
        for (essence, base_entry) in media(&base_body["content"]) {
            match cur_media.get(&essence) {
                None => self.report(
                    &location,
                    format!("media type {essence} no longer accepted"),
                ),
                Some(cur_entry) => {
                    self.schema(
                        &location,
                        &base_entry["schema"],
                        &cur_entry["schema"],
                        Flow::Request,
                    );
                }
            }
        }

        for (status, base_response) in base_op["responses"].as_object().into_iter().flatten() {
            if !status.starts_with('2') {
                continue;
            }
            let location = format!("{name} responses/{status}");
            let Some(cur_response) = cur_op["responses"].get(status) else {
                self.report(&location, "success response removed");
                continue;
            };
            self.response(&location, base_response, cur_response);
        }
    }

    fn response(&mut self, location: &str, base_response: &Value, cur_response: &Value) {
        let (base, cur) = (self.base, self.cur);
        let (base_response, _) = resolve(base, base_response);
        let (cur_response, _) = resolve(cur, cur_response);
        let cur_media = media(&cur_response["content"]);
        for (essence, base_entry) in media(&base_response["content"]) {
            match cur_media.get(&essence) {
                None => self.report(location, format!("media type {essence} no longer returned")),
                Some(cur_entry) => {
                    self.schema(
                        location,
                        &base_entry["schema"],
                        &cur_entry["schema"],
                        Flow::Response,
                    );
                }
            }
        }
        let cur_headers: BTreeMap<String, &Value> = cur_response["headers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(header, value)| (header.to_ascii_lowercase(), value))
            .collect();
        for (header, base_header) in base_response["headers"].as_object().into_iter().flatten() {
            let here = format!("{location}/headers/{header}");
            let Some(cur_header) = cur_headers.get(&header.to_ascii_lowercase()) else {
                self.report(&here, "response header removed");
                continue;
            };
            let (base_header, _) = resolve(base, base_header);
            let (cur_header, reference) = resolve(cur, cur_header);
            let here = reference.map_or(here, |r| format!("{r}/schema"));
            self.schema(
                &here,
                &base_header["schema"],
                &cur_header["schema"],
                Flow::Response,
            );
        }
    }

    fn schema(&mut self, location: &str, base_schema: &Value, cur_schema: &Value, flow: Flow) {
        let (base, cur) = (self.base, self.cur);
        let base_target = target(base_schema);
        let cur_target = target(cur_schema);
        if let (Some(b), Some(c)) = (&base_target, &cur_target) {
            if !self.seen.insert((b.clone(), c.clone(), flow)) {
                return;
            }
        }
        let location = cur_target
            .or(base_target)
            .unwrap_or_else(|| location.to_owned());
        let location = location.as_str();
        let b = flatten(base, base_schema);
        let c = flatten(cur, cur_schema);
        if b.is_null() || c.is_null() {
            return;
        }

        let (base_type, cur_type) = (b["type"].as_str(), c["type"].as_str());
        if base_type != cur_type {
            let widened = match flow {
                Flow::Request => {
                    cur_type.is_none()
                        || (base_type == Some("integer") && cur_type == Some("number"))
                }
                Flow::Response => {
                    base_type.is_none()
                        || (base_type == Some("number") && cur_type == Some("integer"))
                }
            };
            if !widened {
                self.report(
                    location,
                    format!(
                        "type changed from {} to {}",
                        shown(base_type),
                        shown(cur_type)
                    ),
                );
                return;
            }
        }

        let (base_null, cur_null) = (b["nullable"] == true, c["nullable"] == true);
        match flow {
            Flow::Request if base_null && !cur_null => self.report(location, "no longer nullable"),
            Flow::Response if !base_null && cur_null => self.report(location, "may now be null"),
            _ => {}
        }

        match (b["enum"].as_array(), c["enum"].as_array()) {
            (Some(base_values), Some(cur_values)) => {
                for value in base_values.iter().filter(|v| !cur_values.contains(v)) {
                    self.report(location, format!("enum value {value} removed"));
                }
            }
            (None, Some(_)) if flow == Flow::Request => self.report(location, "enum added"),
            _ => {}
        }

        if matches!(cur_type, Some("integer" | "number")) {
            let (base_low, base_high) = range(&b);
            let (cur_low, cur_high) = range(&c);
            match flow {
                Flow::Request => {
                    if cur_low > base_low {
                        self.report(
                            location,
                            format!("lowest value raised from {base_low} to {cur_low}"),
                        );
                    }
                    if cur_high < base_high {
                        self.report(
                            location,
                            format!("highest value lowered from {base_high} to {cur_high}"),
                        );
                    }
                }
                Flow::Response => {
                    if cur_low < base_low {
                        self.report(
                            location,
                            format!("lowest value lowered from {base_low} to {cur_low}"),
                        );
                    }
                    if cur_high > base_high {
                        self.report(
                            location,
                            format!("highest value raised from {base_high} to {cur_high}"),
                        );
                    }
                }
            }
        } else {
            let (base_format, cur_format) = (b["format"].as_str(), c["format"].as_str());
            let broken = match flow {
                Flow::Request => cur_format.is_some(),
                Flow::Response => base_format.is_some(),
            };
            if base_format != cur_format && broken {
                self.report(
                    location,
                    format!(
                        "format changed from {} to {}",
                        shown(base_format),
                        shown(cur_format)
                    ),
                );
            }
        }

        if flow == Flow::Request {
            for (key, lowered) in [
                ("maxLength", true),
                ("maxItems", true),
                ("maxProperties", true),
                ("minLength", false),
                ("minItems", false),
                ("minProperties", false),
            ] {
                let (old, new) = (b[key].as_u64(), c[key].as_u64());
                let narrowed = match (old, new) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(old), Some(new)) => (new < old) == lowered && new != old,
                };
                if narrowed && !stated_rule(key, location, &c) {
                    self.report(
                        location,
                        format!(
                            "{key} changed from {} to {}",
                            old.map_or("none".into(), |v| v.to_string()),
                            new.unwrap_or_default()
                        ),
                    );
                }
            }
            if let Some(pattern) = c["pattern"].as_str() {
                let widened = b["pattern"]
                    .as_str()
                    .is_some_and(|old| alternatives_added(old, pattern));
                if b["pattern"].as_str() != Some(pattern)
                    && !widened
                    && !stated_rule("pattern", location, &c)
                {
                    self.report(location, format!("pattern {pattern} added"));
                }
            }
        }

        let empty = serde_json::Map::new();
        let base_props = b["properties"].as_object().unwrap_or(&empty);
        let cur_props = c["properties"].as_object().unwrap_or(&empty);
        let required = |schema: &Value| -> BTreeSet<String> {
            schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|name| name.as_str().map(str::to_owned))
                .collect()
        };
        let (base_required, cur_required) = (required(&b), required(&c));
        for (name, base_prop) in base_props {
            let here = format!("{location}/properties/{name}");
            match cur_props.get(name) {
                None => self.report(&here, "field removed"),
                Some(cur_prop) => self.schema(&here, base_prop, cur_prop, flow),
            }
        }
        match flow {
            Flow::Request => {
                for name in cur_required.difference(&base_required) {
                    self.report(
                        &format!("{location}/properties/{name}"),
                        "field made required",
                    );
                }
            }
            Flow::Response => {
                for name in base_required.difference(&cur_required) {
                    if cur_props.contains_key(name) {
                        self.report(
                            &format!("{location}/properties/{name}"),
                            "field no longer required",
                        );
                    }
                }
            }
        }

        if b.get("items").is_some() && c.get("items").is_some() {
            self.schema(&format!("{location}/items"), &b["items"], &c["items"], flow);
        }
        if b["additionalProperties"].is_object() && c["additionalProperties"].is_object() {
            self.schema(
                &format!("{location}/additionalProperties"),
                &b["additionalProperties"],
                &c["additionalProperties"],
                flow,
            );
        }
        for key in ["oneOf", "anyOf"] {
            if let (Some(old), Some(new)) = (b[key].as_array(), c[key].as_array()) {
                if flow == Flow::Request && new.len() < old.len() {
                    self.report(location, format!("{key} lost alternatives"));
                }
                for (i, (old, new)) in old.iter().zip(new).enumerate() {
                    self.schema(&format!("{location}/{key}/{i}"), old, new, flow);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A document with one `POST /v1/things` taking `request` and answering `201` with
    /// `response` (plus an `ETag` header shared under `components/headers`), and `GET
    /// /v1/things` with the given query parameters.
    fn doc(request: Value, response: Value, parameters: Value) -> Value {
        json!({
            "openapi": "3.0.0",
            "info": {"title": "t", "version": "0.1.0"},
            "paths": {
                "/v1/things": {
                    "get": {"parameters": parameters, "responses": {"200": {"description": "ok"}}},
                    "post": {
                        "requestBody": {"required": true, "content": {
                            "application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/ThingCreate"}}
                        }},
                        "responses": {"201": {
                            "description": "created",
                            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                            "content": {"application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/Thing"}}}
                        }}
                    }
                }
            },
            "components": {
                "headers": {"ETag": {"required": true, "schema": {"type": "string"}}},
                "schemas": {"ThingCreate": request, "Thing": response}
            }
        })
    }

    fn thing() -> Value {
        json!({
            "type": "object",
            "required": ["id", "name"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "name": {"type": "string"},
                "kind": {"type": "string", "enum": ["a", "b"]},
                "score": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 100}
            }
        })
    }

    fn create() -> Value {
        json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "note": {"type": "string", "nullable": true},
                "kind": {"type": "string", "enum": ["a", "b"]},
                "score": {"type": "integer", "format": "uint32", "maximum": 100},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10}
            }
        })
    }

    fn limit() -> Value {
        json!([{"in": "query", "name": "limit", "required": false,
                 "schema": {"type": "integer", "format": "uint32", "minimum": 1, "maximum": 200}}])
    }

    fn base() -> Value {
        doc(create(), thing(), limit())
    }

    /// The breaks from the baseline document to it after `change`, as `location: what`.
    fn after(change: impl FnOnce(&mut Value)) -> Vec<String> {
        let baseline = base();
        let mut current = baseline.clone();
        change(&mut current);
        breaks(&baseline, &current)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const CREATE: &str = "#/components/schemas/ThingCreate";
    const THING: &str = "#/components/schemas/Thing";

    #[test]
    fn the_same_document_has_no_break() {
        assert_eq!(after(|_| {}), Vec::<String>::new());
    }

    #[test]
    fn a_removed_operation_is_a_break_and_a_new_one_is_not() {
        let found = after(|d| {
            let paths = d["paths"].as_object_mut().unwrap();
            let item = paths.remove("/v1/things").unwrap();
            paths.insert("/v1/others".into(), item.clone());
            let get = item["get"].clone();
            paths.insert("/v1/things".into(), json!({"get": get}));
        });
        assert_eq!(found, ["POST /v1/things: operation removed"]);
    }

    #[test]
    fn a_renamed_path_parameter_is_the_same_operation() {
        let mut baseline = base();
        baseline["paths"]["/v1/things/{id}"] =
            json!({"delete": {"responses": {"204": {"description": "gone"}}}});
        let mut current = base();
        current["paths"]["/v1/things/{thing_id}"] = baseline["paths"]["/v1/things/{id}"].clone();
        assert_eq!(breaks(&baseline, &current), []);
    }

    #[test]
    fn a_removed_or_newly_required_parameter_is_a_break() {
        assert_eq!(
            after(|d| d["paths"]["/v1/things"]["get"]["parameters"] = json!([])),
            ["GET /v1/things parameters/query/limit: parameter removed"]
        );
        assert_eq!(
            after(|d| d["paths"]["/v1/things"]["get"]["parameters"][0]["required"] = json!(true)),
            ["GET /v1/things parameters/query/limit: parameter made required"]
        );
        assert_eq!(
            after(|d| {
                let list = d["paths"]["/v1/things"]["get"]["parameters"]
                    .as_array_mut()
                    .unwrap();
                list.push(json!({"in": "query", "name": "q", "required": true, "schema": {"type": "string"}}));
                list.push(json!({"in": "query", "name": "r", "schema": {"type": "string"}}));
            }),
            ["GET /v1/things parameters/query/q: new required parameter"]
        );
    }

    #[test]
    fn a_parameter_narrowed_is_a_break_and_widened_is_not() {
        let schema = "/paths/~1v1~1things/get/parameters/0/schema";
        assert_eq!(
            after(|d| d.pointer_mut(schema).unwrap()["type"] = json!("string")),
            ["GET /v1/things parameters/query/limit: type changed from integer to string"]
        );
        assert_eq!(
            after(|d| d.pointer_mut(schema).unwrap()["maximum"] = json!(100)),
            ["GET /v1/things parameters/query/limit: highest value lowered from 200 to 100"]
        );
        // uint32 with bounds 1..=200 is int64 with the same bounds: the same values.
        assert_eq!(
            after(|d| d.pointer_mut(schema).unwrap()["format"] = json!("int64")),
            Vec::<String>::new()
        );
        assert_eq!(
            after(|d| {
                let s = d.pointer_mut(schema).unwrap();
                s["maximum"] = json!(500);
                s["type"] = json!("number");
            }),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_request_field_removed_or_made_required_is_a_break() {
        assert_eq!(
            after(|d| {
                let s = &mut d["components"]["schemas"]["ThingCreate"];
                s["properties"].as_object_mut().unwrap().remove("note");
                s["required"] = json!(["name", "kind"]);
            }),
            [
                format!("{CREATE}/properties/kind: field made required"),
                format!("{CREATE}/properties/note: field removed"),
            ]
        );
        assert_eq!(
            after(|d| {
                let s = &mut d["components"]["schemas"]["ThingCreate"];
                s["properties"]["size"] = json!({"type": "integer"});
                s["required"] = json!(["name", "size"]);
            }),
            [format!("{CREATE}/properties/size: field made required")]
        );
    }

    #[test]
    fn a_new_optional_request_field_is_not_a_break() {
        assert_eq!(
            after(
                |d| d["components"]["schemas"]["ThingCreate"]["properties"]["size"] =
                    json!({"type": "integer"})
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_request_body_made_required_is_a_break() {
        let mut baseline = base();
        baseline["paths"]["/v1/things"]["post"]["requestBody"]["required"] = json!(false);
        assert_eq!(
            breaks(&baseline, &base())
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["POST /v1/things requestBody: request body made required"]
        );
    }

    #[test]
    fn each_narrowed_request_field_is_a_break() {
        let found = after(|d| {
            let p = &mut d["components"]["schemas"]["ThingCreate"]["properties"];
            p["name"]["maxLength"] = json!(100);
            p["name"]["minLength"] = json!(2);
            p["name"]["pattern"] = json!("^\\S");
            p["note"]["nullable"] = json!(false);
            p["note"]["format"] = json!("email");
            p["score"]["format"] = json!("int32");
            p["score"]["minimum"] = json!(1);
            p["score"]["maximum"] = json!(50);
            p["kind"]["enum"] = json!(["a"]);
            p["tags"]["maxItems"] = json!(5);
            p["tags"]["items"]["type"] = json!("integer");
        });
        assert_eq!(
            found,
            [
                format!("{CREATE}/properties/kind: enum value \"b\" removed"),
                format!("{CREATE}/properties/name: maxLength changed from 200 to 100"),
                format!("{CREATE}/properties/name: minLength changed from 1 to 2"),
                format!("{CREATE}/properties/name: pattern ^\\S added"),
                format!("{CREATE}/properties/note: format changed from none to email"),
                format!("{CREATE}/properties/note: no longer nullable"),
                format!("{CREATE}/properties/score: highest value lowered from 100 to 50"),
                format!("{CREATE}/properties/score: lowest value raised from 0 to 1"),
                format!("{CREATE}/properties/tags: maxItems changed from 10 to 5"),
                format!("{CREATE}/properties/tags/items: type changed from string to integer"),
            ]
        );
    }

    /// `api::document_rules` states rules the server enforced all along (a `422`): the
    /// exact patterns it states, and `minLength: 1` beside the non-blank one, are no
    /// break; any other added pattern or length still is.
    #[test]
    fn a_rule_the_server_always_enforced_is_not_a_break_and_only_that() {
        use momentum_server::api::document_rules::NON_BLANK_PATTERN;
        use momentum_server::domain::custom_field::KEY_PATTERN;
        let found = after(|d| {
            let p = &mut d["components"]["schemas"]["ThingCreate"]["properties"];
            p["note"]["minLength"] = json!(1);
            p["note"]["pattern"] = json!(NON_BLANK_PATTERN);
            p["kind"]["pattern"] = json!(KEY_PATTERN);
            p["tags"]["items"]["minLength"] = json!(1);
        });
        assert_eq!(
            found,
            [format!(
                "{CREATE}/properties/tags/items: minLength changed from none to 1"
            )]
        );
        let found = after(|d| {
            let p = &mut d["components"]["schemas"]["ThingCreate"]["properties"];
            p["note"]["minLength"] = json!(2);
            p["note"]["pattern"] = json!(NON_BLANK_PATTERN);
        });
        assert_eq!(
            found,
            [format!(
                "{CREATE}/properties/note: minLength changed from none to 2"
            )]
        );
    }

    /// A list's `sort` gaining an order admits every value it admitted; losing one, or
    /// any other change of the pattern, is a break.
    #[test]
    fn a_pattern_of_words_gaining_words_is_not_a_break_and_only_that() {
        assert!(alternatives_added("^-?(a|b_c)$", "^-?(a|b_c|d)$"));
        assert!(!alternatives_added("^-?(a|b_c)$", "^-?(a|d)$"), "b_c lost");
        assert!(
            !alternatives_added("^-?(a|b)$", "^(a|b|c)$"),
            "prefix changed"
        );
        assert!(
            !alternatives_added("^-?(a|b)$", "^-?(a|b|.*)$"),
            "not a word"
        );
        assert!(!alternatives_added("^[a-z]+$", "^[a-z0-9]+$"));
    }

    /// poem-openapi's `uint32`/`uint64` become `int32`/`int64` with `minimum: 0` (and
    /// `x-unsigned` for the Rust SDK): the same values in requests, fewer in answers.
    #[test]
    fn unsigned_formats_restated_as_signed_with_minimum_zero_are_not_breaks() {
        let found = after(|d| {
            let score = &mut d["components"]["schemas"]["ThingCreate"]["properties"]["score"];
            score["format"] = json!("int32");
            score["minimum"] = json!(0);
            score["x-unsigned"] = json!(true);
            let limit = &mut d["paths"]["/v1/things"]["get"]["parameters"][0]["schema"];
            limit["format"] = json!("int32");
            limit["x-unsigned"] = json!(true);
            d["components"]["schemas"]["Thing"]["properties"]["count"] =
                json!({"type": "integer", "format": "int64", "minimum": 0, "x-unsigned": true});
        });
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn widened_request_fields_are_not_breaks() {
        let found = after(|d| {
            let p = &mut d["components"]["schemas"]["ThingCreate"]["properties"];
            p["name"]["maxLength"] = json!(300);
            p["name"].as_object_mut().unwrap().remove("minLength");
            p["kind"]["enum"] = json!(["a", "b", "c"]);
            p["score"]["format"] = json!("int64");
            p["score"]["minimum"] = json!(0);
            p["tags"]["maxItems"] = json!(20);
        });
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn a_response_field_removed_or_no_longer_required_is_a_break() {
        let found = after(|d| {
            let s = &mut d["components"]["schemas"]["Thing"];
            s["properties"].as_object_mut().unwrap().remove("kind");
            s["required"] = json!(["id"]);
        });
        assert_eq!(
            found,
            [
                format!("{THING}/properties/kind: field removed"),
                format!("{THING}/properties/name: field no longer required"),
            ]
        );
    }

    #[test]
    fn a_response_narrowed_or_grown_is_not_a_break() {
        let found = after(|d| {
            let s = &mut d["components"]["schemas"]["Thing"];
            s["properties"]["kind"]["enum"] = json!(["a", "b", "c"]);
            s["properties"]["extra"] = json!({"type": "string"});
            s["properties"]["name"]["maxLength"] = json!(10);
            s["properties"]["score"]["maximum"] = json!(50);
            s["required"] = json!(["id", "name", "kind"]);
        });
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn a_response_changed_in_what_a_client_reads_is_a_break() {
        let found = after(|d| {
            let p = &mut d["components"]["schemas"]["Thing"]["properties"];
            p["kind"]["enum"] = json!(["a"]);
            p["id"].as_object_mut().unwrap().remove("format");
            p["name"]["nullable"] = json!(true);
            p["score"]["format"] = json!("int64");
            p["score"].as_object_mut().unwrap().remove("maximum");
        });
        assert_eq!(
            found,
            [
                format!("{THING}/properties/id: format changed from uuid to none"),
                format!("{THING}/properties/kind: enum value \"b\" removed"),
                format!("{THING}/properties/name: may now be null"),
                format!("{THING}/properties/score: highest value raised from 100 to 9223372036854776000"),
            ]
        );
    }

    #[test]
    fn a_removed_success_response_or_header_is_a_break() {
        assert_eq!(
            after(|d| {
                let post = &mut d["paths"]["/v1/things"]["post"];
                post["responses"]["200"] = post["responses"]["201"].take();
                post["responses"].as_object_mut().unwrap().remove("201");
            }),
            ["POST /v1/things responses/201: success response removed"]
        );
        assert_eq!(
            after(|d| d["paths"]["/v1/things"]["post"]["responses"]["201"]["headers"] = json!({})),
            ["POST /v1/things responses/201/headers/ETag: response header removed"]
        );
        assert_eq!(
            after(|d| d["components"]["headers"]["ETag"]["schema"]["type"] = json!("integer")),
            ["#/components/headers/ETag/schema: type changed from string to integer"]
        );
    }

    #[test]
    fn references_allof_wrappers_and_json_media_parameters_do_not_matter() {
        let found = after(|d| {
            // The header written out in place of its `$ref`, the response's schema as
            // poem-openapi's `allOf: [{$ref}, {description}]`, and plain `application/json`.
            let header = d["components"]["headers"]["ETag"].clone();
            let response = &mut d["paths"]["/v1/things"]["post"]["responses"]["201"];
            response["headers"]["etag"] = header;
            response["headers"].as_object_mut().unwrap().remove("ETag");
            response["content"] = json!({"application/json": {"schema": {
                "allOf": [{"$ref": "#/components/schemas/Thing"}, {"description": "The thing."}]
            }}});
            let body = &mut d["paths"]["/v1/things"]["post"]["requestBody"]["content"];
            body["application/json"] = body["application/json; charset=utf-8"].take();
            body.as_object_mut()
                .unwrap()
                .remove("application/json; charset=utf-8");
        });
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn a_recursive_schema_ends() {
        let tree = json!({"type": "object", "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}
        }});
        let baseline = doc(create(), tree.clone(), limit());
        let mut changed = tree;
        changed["properties"]
            .as_object_mut()
            .unwrap()
            .remove("name");
        let current = doc(create(), changed, limit());
        assert_eq!(
            breaks(&baseline, &current)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [format!("{THING}/properties/name: field removed")]
        );
    }

    #[test]
    fn a_break_is_recorded_only_under_a_new_major_version_that_names_it() {
        let found = [Break {
            location: format!("{THING}/properties/kind"),
            what: "field removed".into(),
        }];
        let named = format!("- Removed `{THING}/properties/kind`.\n");
        let changelog =
            |heading: &str| format!("# Changelog\n\n{heading}\n### Removed\n{named}\n## [0.1.0]\n");
        assert!(unrecorded(&found, "0.1.0", &changelog("## [1.0.0] - Unreleased")).is_empty());
        assert!(unrecorded(&found, "0.1.0", &changelog("## 1.0.0")).is_empty());
        assert_eq!(
            unrecorded(&found, "0.1.0", &changelog("## [0.2.0]")).len(),
            1
        );
        assert_eq!(
            unrecorded(&found, "1.0.0", &changelog("## [1.0.0]")).len(),
            1
        );
        assert_eq!(
            unrecorded(&found, "0.1.0", &changelog("## [1.1.0]")).len(),
            1
        );
        assert_eq!(
            unrecorded(&found, "0.1.0", &changelog("## [Unreleased]")).len(),
            1
        );
        let longer = format!("# Changelog\n\n## [1.0.0]\n- `{THING}Create/properties/kind` and `{THING}/properties/kind/items`.\n");
        assert_eq!(unrecorded(&found, "0.1.0", &longer).len(), 1);
        let sentence = format!("# Changelog\n\n## [1.0.0]\n- Removed {THING}/properties/kind.\n");
        assert!(unrecorded(&found, "0.1.0", &sentence).is_empty());
        let silent = "# Changelog\n\n## [1.0.0]\n### Removed\n- Something else.\n";
        assert_eq!(unrecorded(&found, "0.1.0", silent).len(), 1);
    }
}
