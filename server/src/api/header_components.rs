//! Response headers declared once. poem-openapi writes every response's headers out in
//! full, and every response carries the request id and the rate-limit state, so half of
//! the document was the same few header objects, thousands of times. [`share`] declares
//! each distinct definition once under `components/headers` and puts a `$ref` to it in
//! every response: resolving the references gives back poem-openapi's document (`xtask`
//! tests this on the committed file).

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

/// Where the shared definitions are, as a `$ref` names them.
const PREFIX: &str = "#/components/headers/";

/// The components of the definitions of a header that differ between responses, by the
/// status of a response that carries the definition: `(header, status, component)`.
/// Every other definition is named after its header ([`component_name`]). Two
/// definitions of one header that nothing here tells apart get numbered names, which a
/// test refuses: name the new definition here.
const VARIANTS: [(&str, &str, &str); 4] = [
    ("Location", "202", "LocationQueued"),
    ("ETag", "412", "ETagPreconditionFailed"),
    ("Retry-After", "429", "RetryAfterRateLimited"),
    ("Retry-After", "503", "RetryAfterUnavailable"),
];

/// The component of a header's definition that [`VARIANTS`] does not name: the header's
/// name in UpperCamelCase, `X-RateLimit-Remaining` → `XRateLimitRemaining`.
fn component_name(header: &str) -> String {
    header
        .split(|c: char| !c.is_ascii_alphanumeric())
        .flat_map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect()
}

/// The component of a definition of `header` carried by responses of `statuses`, before
/// any numbering.
fn variant_name(header: &str, statuses: &BTreeSet<String>) -> String {
    VARIANTS
        .iter()
        .find(|(name, status, _)| *name == header && statuses.contains(*status))
        .map_or_else(
            || component_name(header),
            |(_, _, component)| (*component).to_owned(),
        )
}

/// `(status, header name, definition)` of every response header of every operation of
/// `paths` (the values of a document's `paths`).
fn response_headers<'a>(
    paths: impl Iterator<Item = &'a mut Value>,
) -> impl Iterator<Item = (&'a String, &'a String, &'a mut Value)> {
    paths
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses"))
        .filter_map(Value::as_object_mut)
        .flat_map(|responses| responses.iter_mut())
        .filter_map(|(status, response)| {
            let headers = response.get_mut("headers")?.as_object_mut()?;
            Some(
                headers
                    .iter_mut()
                    .map(move |(name, value)| (status, name, value)),
            )
        })
        .flatten()
}

/// Declares every distinct response header definition of `paths` once, as a component
/// of `components/headers`, and puts a `$ref` to it where it was. Deterministic: the
/// components are named by [`variant_name`] (numbered in document order should two
/// definitions get one name) and, like every map of the document, listed in name order.
pub(super) fn share(paths: &mut indexmap::IndexMap<String, Value>, components: &mut Value) {
    /// One definition of one header, and the statuses of the responses that carry it.
    struct Definition {
        header: String,
        value: Value,
        statuses: BTreeSet<String>,
    }
    let mut definitions: Vec<Definition> = Vec::new();
    for (status, header, value) in response_headers(paths.values_mut()) {
        if value.get("$ref").is_some() {
            continue;
        }
        match definitions
            .iter_mut()
            .find(|d| d.header == *header && d.value == *value)
        {
            Some(definition) => {
                definition.statuses.insert(status.clone());
            }
            None => definitions.push(Definition {
                header: header.clone(),
                value: value.clone(),
                statuses: BTreeSet::from([status.clone()]),
            }),
        }
    }
    let Some(components) = components.as_object_mut() else {
        return;
    };
    if definitions.is_empty() {
        return;
    }
    let mut shared = Map::new();
    let mut names = Vec::with_capacity(definitions.len());
    for definition in &definitions {
        let base = variant_name(&definition.header, &definition.statuses);
        let mut name = base.clone();
        let mut number = 1;
        while shared.contains_key(&name) {
            number += 1;
            name = format!("{base}{number}");
        }
        shared.insert(name.clone(), definition.value.clone());
        names.push(name);
    }
    for (_, header, value) in response_headers(paths.values_mut()) {
        if let Some(index) = definitions
            .iter()
            .position(|d| d.header == *header && d.value == *value)
        {
            *value = json!({ "$ref": format!("{PREFIX}{}", names[index]) });
        }
    }
    components.insert("headers".into(), Value::Object(shared));
}

/// Undoes [`share`] on a whole document: each response header written out in full again,
/// `components/headers` gone. The tests that read what a response's headers say use it.
#[cfg(test)]
pub(super) fn inline(doc: &mut Value) {
    let shared = doc
        .get_mut("components")
        .and_then(Value::as_object_mut)
        .and_then(|components| components.remove("headers"))
        .unwrap_or_default();
    let paths = doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut());
    for (_, _, value) in response_headers(paths) {
        if let Some(name) = value["$ref"].as_str().and_then(|r| r.strip_prefix(PREFIX)) {
            *value = shared[name].clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_named_after_their_header() {
        assert_eq!(component_name("X-Request-Id"), "XRequestId");
        assert_eq!(
            component_name("X-RateLimit-Remaining"),
            "XRateLimitRemaining"
        );
        assert_eq!(component_name("RateLimit"), "RateLimit");
        assert_eq!(component_name("ETag"), "ETag");
        assert_eq!(component_name("cache-control"), "CacheControl");
    }

    fn header(description: &str) -> Value {
        json!({ "description": description, "required": true, "schema": { "type": "string" } })
    }

    #[test]
    fn each_distinct_definition_is_shared_once_and_inlining_gives_the_document_back() {
        let paths = json!({
            "/a": {
                "get": { "responses": {
                    "200": { "headers": { "X-Request-Id": header("id"), "ETag": header("version") } },
                    "412": { "headers": { "X-Request-Id": header("id"), "ETag": header("current") } },
                    "500": { "headers": { "X-Request-Id": header("id"), "X-Other": header("one") } },
                    "503": { "description": "no headers" },
                } },
            },
            "/b": {
                "post": { "responses": {
                    "201": { "headers": { "X-Request-Id": header("id"), "X-Other": header("two") } },
                } },
            },
        });
        let original = json!({ "paths": paths, "components": { "schemas": {} } });
        let mut paths: indexmap::IndexMap<String, Value> =
            serde_json::from_value(paths).expect("paths");
        let mut components = json!({ "schemas": {} });
        share(&mut paths, &mut components);

        let reference = |name: &str| json!({ "$ref": format!("{PREFIX}{name}") });
        let responses = |path: &str, method: &str| &paths[path][method]["responses"];
        assert_eq!(
            responses("/a", "get")["200"]["headers"]["ETag"],
            reference("ETag")
        );
        assert_eq!(
            responses("/a", "get")["412"]["headers"]["ETag"],
            reference("ETagPreconditionFailed")
        );
        assert_eq!(
            responses("/b", "post")["201"]["headers"]["X-Request-Id"],
            reference("XRequestId")
        );
        // Two definitions that `VARIANTS` does not tell apart: numbered, first seen first.
        assert_eq!(
            responses("/a", "get")["500"]["headers"]["X-Other"],
            reference("XOther")
        );
        assert_eq!(
            responses("/b", "post")["201"]["headers"]["X-Other"],
            reference("XOther2")
        );
        let names: Vec<&String> = components["headers"]
            .as_object()
            .expect("headers")
            .keys()
            .collect();
        assert_eq!(
            names,
            [
                "ETag",
                "ETagPreconditionFailed",
                "XOther",
                "XOther2",
                "XRequestId"
            ]
        );
        assert_eq!(components["headers"]["XRequestId"], header("id"));

        let mut doc = json!({ "paths": paths, "components": components });
        inline(&mut doc);
        assert_eq!(doc, original);
    }

    /// Every response header of the document is a `$ref` to a component named after the
    /// header or in [`VARIANTS`] (a numbered name means a new definition to name there),
    /// and every component is used.
    #[test]
    fn every_response_header_of_the_document_refers_to_a_component_named_for_it() {
        let mut doc: Value =
            serde_json::from_str(&super::super::spec_json()).expect("the document is JSON");
        let shared: BTreeSet<String> = doc["components"]["headers"]
            .as_object()
            .expect("components/headers")
            .keys()
            .cloned()
            .collect();
        let mut used = BTreeSet::new();
        let paths = doc["paths"].as_object_mut().expect("paths").values_mut();
        for (status, header, value) in response_headers(paths) {
            let name = value["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix(PREFIX))
                .unwrap_or_else(|| panic!("{header} of a {status}: not a $ref"));
            assert!(
                shared.contains(name),
                "{header} of a {status}: no component {name}"
            );
            assert!(
                name == component_name(header)
                    || VARIANTS.iter().any(|v| v.0 == header && v.2 == name),
                "{header} of a {status} refers to {name}: a definition of {header} that \
                 VARIANTS does not name yet"
            );
            used.insert(name.to_owned());
        }
        assert_eq!(used, shared, "every component is used");
    }
}
