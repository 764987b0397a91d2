//! The HTTP API: one module per tag, combined into one poem-openapi service, which also
//! generates the OpenAPI document (`momentum openapi`, `/openapi.json`). Knows HTTP;
//! business rules live in `domain`, SQL in `db`.

pub mod activities;
pub mod api_keys;
pub mod associations;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod batch_read;
pub mod companies;
pub mod contacts;
pub mod custom_fields;
pub mod docs;
pub mod document_rules;
pub mod edge;
pub mod etag;
pub mod events;
mod examples;
pub mod exports;
mod header_components;
pub mod idempotency;
pub mod imports;
pub mod json;
pub mod leads;
pub mod me;
pub mod merging;
pub mod operations;
pub mod pagination;
pub mod pipelines;
pub mod responses;
pub mod sandboxes;
pub mod search;
pub mod security;
pub mod system;
pub mod types;
pub mod users;
pub mod webhooks;

use poem_openapi::{LicenseObject, OpenApiService, ServerObject, Tags};

/// Operation groups, in the order the document lists them.
#[derive(Tags)]
pub enum ApiTags {
    /// People: create, read, update, delete and list, with keyset pagination.
    Contacts,
    /// Organisations, and the contacts that work for them.
    Companies,
    /// Pipelines and their ordered stages (`open`, `won` or `lost`).
    Pipelines,
    /// Deals moving through a pipeline's stages, and their conversion into a contact and a
    /// company.
    Leads,
    /// Notes, calls, emails, meetings and tasks, and the timelines of contacts, companies
    /// and leads.
    Activities,
    /// Typed custom fields per record type: their definitions (read with
    /// `custom_fields:read`, changed with `admin`), which every write of `custom_fields`
    /// is checked against, and which lists filter on.
    CustomFields,
    /// Directed links between any two records (contacts, companies, leads, activities),
    /// with optional tenant-defined labels; merging duplicates keeps them.
    Associations,
    /// The members of the tenant: list and read (`users:read`); create, change role or
    /// name, deactivate and reactivate (`admin`).
    Users,
    /// API keys: created and rotated with their secret shown once, listed, narrowed,
    /// revoked (`admin`).
    ApiKeys,
    /// Disposable tenants made from this one's configuration, optionally with demo data,
    /// for contract-testing pipelines and trials; purged with all their data when they
    /// expire (`admin`).
    Sandboxes,
    /// QR-code device login and the session tokens it issues; `GET /v1/me`, who the
    /// calling credential is.
    Auth,
    /// Who did what to users, keys, tokens and QR sessions (`audit:read`).
    Audit,
    /// Ranked search across contacts, companies, leads and activities.
    Search,
    /// Contacts, companies or leads, filtered as their lists filter, written to an NDJSON
    /// or CSV file from one snapshot by the worker, then downloaded (`exports:read`, and
    /// the record type's read scope).
    Exports,
    /// Contacts, companies or leads uploaded as a CSV or NDJSON file and applied by the
    /// worker in chunks, with the batch upsert's rules, progress, per-row errors and a
    /// cancel (`imports:write`, and the record type's write scope).
    Imports,
    /// Signed webhooks (Standard Webhooks) for every change, sent from a transactional
    /// outbox with retries; their endpoints, deliveries and attempts (`webhooks:read`,
    /// `webhooks:write`), and the events themselves (`events:read`).
    Webhooks,
    /// Liveness and readiness probes (no authentication).
    System,
}

const DESCRIPTION: &str = "\
Momentum is a multi-tenant CRM API.

**Authentication**: send an API key as `Authorization: Bearer mk_...` (or a session token \
from a QR-code login, `Bearer mst_...`). Every `/v1` operation needs one, except the QR \
login's own calls; the data you see is your tenant's only. Each operation names the scope \
it needs in its security requirement; a credential without it gets `403 forbidden`.

**Envelope**: every response body is `{\"data\": ..., \"meta\": {\"request_id\": ...}}`, and \
every error `{\"error\": {\"code\", \"message\", \"details\"}, \"meta\": {...}}` with a stable \
`code`. Every response carries `X-Request-Id`.

**Lists** are keyset-paginated: pass `meta.next_cursor` back as `cursor` until it is null.

**Updates** are JSON Merge Patch: omitted fields are kept, `null` clears a field.

**Versions**: every answer carrying one resource has a strong `ETag` that changes with \
every change to it. Send it in `If-Match` on `PATCH`, `PUT` or `DELETE` to change only \
that version (else `412 precondition_failed`, nothing changed, the current `ETag` in the \
answer), or in `If-None-Match` on a `GET` to get `304 Not Modified` while it is current.

**Webhooks**: every change is recorded as an event (`GET /v1/events`) in the transaction \
that made it and sent to the tenant's webhook endpoints as a Standard Webhooks signed \
`POST` of `{\"type\", \"timestamp\", \"data\"}`, retried on failure. The `EventType` \
schema is the catalogue.

**Methods**: `HEAD` is answered wherever `GET` is, exactly as the `GET` (the same \
authentication, scope, rate limit, status and headers) without the body. `OPTIONS` is \
answered `204` with `Allow` on every path. Any other method a path does not take is \
`405 method_not_allowed` with `Allow`. All of them count against the rate limits.

**Rate limits**: every operation belongs to a class (`auth`, `read`, `write`, `admin`, \
`webhook_test`), named in its description, with a per-minute quota counted per credential \
(per client address without one). Every response says where you stand (`RateLimit-Policy`, \
`RateLimit`, `X-RateLimit-*`); a refusal is `429` with `Retry-After`. Instances may share \
one count through a store; while they cannot reach it, a request either passes uncounted \
(stating the quota, but without `RateLimit`, `X-RateLimit-Remaining` and \
`X-RateLimit-Reset`) or is refused with `503`, as the operator chose.";

/// Declares the API groups once, as the type of the service and the value it is built
/// from. Nested because poem-openapi implements `OpenApi` for tuples of at most 16.
macro_rules! apis {
    ($(($($inner:ident),* $(,)?),)? $($api:ident),* $(,)?) => {
        pub type Apis = ($(($($inner,)*),)? $($api,)*);

        fn apis() -> Apis {
            ($(($($inner,)*),)? $($api,)*)
        }
    };
}

use activities::ActivitiesApi;
use api_keys::ApiKeysApi;
use associations::AssociationsApi;
use audit::AuditApi;
use auth::AuthApi;
use batch::BatchApi;
use batch_read::BatchReadApi;
use companies::CompaniesApi;
use contacts::ContactsApi;
use custom_fields::CustomFieldsApi;
use events::EventsApi;
use exports::ExportsApi;
use imports::ImportsApi;
use leads::LeadsApi;
use me::MeApi;
use merging::MergingApi;
use pipelines::PipelinesApi;
use sandboxes::SandboxesApi;
use search::SearchApi;
use system::SystemApi;
use users::UsersApi;
use webhooks::WebhooksApi;

// The document lists the groups in this order.
apis!(
    (
        ContactsApi,
        CompaniesApi,
        BatchApi,
        BatchReadApi,
        PipelinesApi,
        LeadsApi,
        ActivitiesApi,
        CustomFieldsApi,
        AssociationsApi,
        MergingApi,
    ),
    UsersApi,
    ApiKeysApi,
    SandboxesApi,
    AuthApi,
    MeApi,
    AuditApi,
    WebhooksApi,
    EventsApi,
    SearchApi,
    ExportsApi,
    ImportsApi,
    SystemApi,
);

pub type Service = OpenApiService<Apis, ()>;

pub fn service() -> Service {
    OpenApiService::new(apis(), "Momentum API", env!("CARGO_PKG_VERSION"))
        .description(DESCRIPTION)
        .license(
            LicenseObject::new("Apache-2.0").url("https://www.apache.org/licenses/LICENSE-2.0"),
        )
        .server(ServerObject::new("/").description("This server"))
}

/// The handlers that read a free-text filter outside a list query (users, audit) apply
/// the rule the list queries do.
pub use crate::app::filter_text;

/// The document exactly as committed in `openapi/openapi.json` (with a final newline),
/// and as served at `/openapi.json`: poem-openapi's output, with each operation's
/// rate-limit class (from `api::operations`, the table that enforces it) added to its
/// description, and each distinct response header declared once under
/// `components/headers` (`api::header_components`).
pub fn spec_json() -> String {
    render(true)
}

/// [`spec_json`] with every response header written out in full where it is used, as
/// poem-openapi generates them: what resolving the committed document's header `$ref`s
/// must give back (an `xtask` test), so sharing them changes nothing else.
pub fn spec_json_inline_headers() -> String {
    render(false)
}

fn render(share_headers: bool) -> String {
    /// The document's top level in poem-openapi's order, and its paths in the order the
    /// code declares them (which is how Swagger UI lists them).
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Document {
        openapi: serde_json::Value,
        info: serde_json::Value,
        #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
        servers: serde_json::Value,
        #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
        tags: serde_json::Value,
        paths: indexmap::IndexMap<String, serde_json::Value>,
        #[serde(flatten)]
        rest: serde_json::Map<String, serde_json::Value>,
    }
    let Ok(mut doc) = serde_json::from_str::<Document>(&service().spec()) else {
        return String::new();
    };
    for op in operations::all() {
        let Some(entry) = doc
            .paths
            .get_mut(&op.path)
            .and_then(|path| path.get_mut(&op.method))
            .and_then(serde_json::Value::as_object_mut)
        else {
            continue;
        };
        let note = format!("Rate limit: the `{}` class.", op.class.as_str());
        let description = match entry.get("description").and_then(|d| d.as_str()) {
            Some(text) => format!("{text}\n\n{note}"),
            None => note,
        };
        entry.insert("description".into(), serde_json::Value::String(description));
        if op.method == "post" && op.authenticated {
            document_idempotency(entry);
        }
        if !op.any_of.is_empty() {
            // One requirement per scope: OpenAPI reads a list of requirements as "any of".
            let alternatives = op
                .any_of
                .iter()
                .map(|scope| serde_json::json!({ "ApiKey": [scope.as_str()] }))
                .collect();
            entry.insert("security".into(), serde_json::Value::Array(alternatives));
        }
    }
    for path in doc.paths.values_mut() {
        unwrap_lone_refs(path);
        let Some(path) = path.as_object_mut() else {
            continue;
        };
        for entry in path.values_mut() {
            document_parameter_patterns(entry);
            document_rules::state_parameter_rules(entry);
        }
    }
    for path in doc.paths.values_mut() {
        plain_json_media_type(path);
    }
    if let Some(components) = doc.rest.get_mut("components") {
        examples::add(&mut doc.paths, components);
    }
    if let Some(components) = doc.rest.get_mut("components") {
        plain_json_media_type(components);
        unwrap_lone_refs(components);
        document_rules::state_text_rules(components);
        close_request_bodies(&doc.paths, components);
        document_rules::state_null_as_absent(components);
        if share_headers {
            header_components::share(&mut doc.paths, components);
        }
    }
    for path in doc.paths.values_mut() {
        document_rules::standard_integer_formats(path);
    }
    if let Some(components) = doc.rest.get_mut("components") {
        document_rules::standard_integer_formats(components);
    }
    let mut spec = serde_json::to_string_pretty(&doc).unwrap_or_default();
    spec.push('\n');
    spec
}

/// The free-text filters, which [`filter_text`] checks: a control character in one
/// makes the request malformed (400), which the document states as a pattern.
const FILTER_TEXT_PARAMETERS: [&str; 6] =
    ["q", "email", "domain", "industry", "action", "currency"];

/// Any character but a control character (Unicode category Cc, what `char::is_control`
/// tests): the rule [`filter_text`] enforces.
pub const NO_CONTROL_CHARACTERS: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// Gives parameters the patterns the server enforces beyond their type: the free-text
/// filters refuse control characters ([`filter_text`]), `If-Match`/`If-None-Match`
/// take the grammar `api::etag` parses, and `custom_field` has its form and its count. A client (or a contract-testing tool generating
/// requests from the document) then knows which values are well formed and which a 400.
fn document_parameter_patterns(entry: &mut serde_json::Value) {
    let Some(parameters) = entry
        .get_mut("parameters")
        .and_then(serde_json::Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        let name = parameter["name"].as_str().unwrap_or_default();
        let pattern = match parameter["in"].as_str() {
            Some("query") if FILTER_TEXT_PARAMETERS.contains(&name) => NO_CONTROL_CHARACTERS,
            Some("query") if name == "custom_field" => {
                use crate::domain::custom_field::{FILTER_PATTERN, MAX_FILTERS};
                parameter["schema"]["items"]["pattern"] = FILTER_PATTERN.into();
                // Counted by the handler (a 422 naming the parameter, as every other
                // limit), stated here from the one constant for all four lists.
                parameter["schema"]["maxItems"] = MAX_FILTERS.into();
                let description = parameter["description"].as_str().unwrap_or_default();
                parameter["description"] = format!(
                    "{description} At most {MAX_FILTERS} filters: more is a `422` naming \
                     `custom_field`."
                )
                .into();
                continue;
            }
            Some("header") if matches!(name, etag::IF_MATCH | etag::IF_NONE_MATCH) => {
                etag::CONDITION_PATTERN
            }
            _ => continue,
        };
        parameter["schema"]["pattern"] = pattern.into();
    }
}

/// The media type the document names for JSON bodies.
pub const JSON_MEDIA_TYPE: &str = "application/json";

/// poem-openapi names JSON bodies `application/json; charset=utf-8`, a media type with a
/// parameter that some generators do not recognise as JSON. The document says
/// `application/json` (JSON is UTF-8 by definition, RFC 8259); the server still sends
/// the charset in its `Content-Type` header, which is the same media type.
fn plain_json_media_type(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(content) = map
                .get_mut("content")
                .and_then(serde_json::Value::as_object_mut)
            {
                let renamed = std::mem::take(content)
                    .into_iter()
                    .map(|(media, body)| {
                        let essence = media.split(';').next().unwrap_or_default().trim();
                        if essence == JSON_MEDIA_TYPE {
                            (JSON_MEDIA_TYPE.to_owned(), body)
                        } else {
                            (media, body)
                        }
                    })
                    .collect();
                *content = renamed;
            }
            map.values_mut().for_each(plain_json_media_type);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(plain_json_media_type),
        _ => {}
    }
}

/// poem-openapi writes a described reference (a property whose type is another schema,
/// with a doc comment) as `allOf: [{$ref}, {description}]`, which several generators
/// refuse (openapi-python-client: "Cannot take allOf a non-object") and which says no
/// more than the reference. Each becomes a plain `$ref`; as OpenAPI 3.0 ignores a
/// `$ref`'s siblings, its description moves to the object that holds the property, as a
/// line naming the field.
fn unwrap_lone_refs(value: &mut serde_json::Value) {
    /// The `$ref` an `allOf` wraps, if the wrapper says nothing else but a description.
    fn lone_ref(schema: &serde_json::Value) -> Option<serde_json::Value> {
        let object = schema.as_object()?;
        if object.keys().any(|k| k != "allOf" && k != "description") {
            return None;
        }
        let parts = object.get("allOf")?.as_array()?;
        let mut reference = None;
        for part in parts {
            let part = part.as_object()?;
            if part.contains_key("$ref") && part.len() == 1 && reference.is_none() {
                reference = Some(serde_json::Value::Object(part.clone()));
            } else if part.keys().any(|k| k != "description") {
                return None;
            }
        }
        reference
    }
    let description = |schema: &serde_json::Value| -> Option<String> {
        schema["description"]
            .as_str()
            .or_else(|| {
                schema["allOf"]
                    .as_array()?
                    .iter()
                    .find_map(|p| p["description"].as_str())
            })
            .map(str::to_owned)
    };
    match value {
        serde_json::Value::Object(map) => {
            let mut notes = Vec::new();
            if let Some(properties) = map
                .get_mut("properties")
                .and_then(serde_json::Value::as_object_mut)
            {
                for (name, property) in properties.iter_mut() {
                    if let Some(reference) = lone_ref(property) {
                        if let Some(text) = description(property) {
                            notes.push(format!("`{name}`: {text}"));
                        }
                        *property = reference;
                    }
                }
            }
            if !notes.is_empty() {
                let mut text = map
                    .get("description")
                    .and_then(|d| d.as_str())
                    .unwrap_or_default()
                    .to_owned();
                for note in notes {
                    if !text.is_empty() {
                        text.push_str("\n\n");
                    }
                    text.push_str(&note);
                }
                map.insert("description".into(), text.into());
            }
            for (_, child) in map.iter_mut() {
                match lone_ref(child) {
                    Some(reference) => *child = reference,
                    None => unwrap_lone_refs(child),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                match lone_ref(item) {
                    Some(reference) => *item = reference,
                    None => unwrap_lone_refs(item),
                }
            }
        }
        _ => {}
    }
}

/// Every request body object refuses unknown fields (`deny_unknown_fields` on each, a 400
/// naming the field), which poem-openapi does not put in the document: say so with
/// `additionalProperties: false` on each object schema a request body reaches. Objects
/// that also appear in responses are left open, so a client decoding them keeps
/// accepting fields added later; free-form maps (`custom_fields`) say what they take
/// already and are not touched.
fn close_request_bodies(
    paths: &indexmap::IndexMap<String, serde_json::Value>,
    components: &mut serde_json::Value,
) {
    use std::collections::BTreeSet;

    fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(|r| r.as_str())
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.push(name.to_owned());
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let schemas = &components["schemas"];
    let reachable = |roots: Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut todo = roots;
        while let Some(name) = todo.pop() {
            if seen.insert(name.clone()) {
                refs(&schemas[&name], &mut todo);
            }
        }
        seen
    };
    let (mut request_roots, mut response_roots) = (Vec::new(), Vec::new());
    for operation in paths
        .values()
        .filter_map(|p| p.as_object())
        .flat_map(|p| p.values())
    {
        refs(&operation["requestBody"], &mut request_roots);
        refs(&operation["responses"], &mut response_roots);
    }
    let in_responses = reachable(response_roots);
    for name in reachable(request_roots) {
        if in_responses.contains(&name) {
            continue;
        }
        let schema = &mut components["schemas"][&name];
        if schema["type"] == "object" && schema.get("additionalProperties").is_none() {
            schema["additionalProperties"] = false.into();
        }
    }
}

/// Adds what `api::idempotency` does for every authenticated POST to its operation: the
/// `Idempotency-Key` parameter, the `Idempotent-Replayed` header on success, and the two
/// refusals. The middleware serves every such operation, so the document says so in one
/// place rather than in each handler's signature.
fn document_idempotency(entry: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::json;
    let parameter = json!({
        "name": idempotency::KEY_HEADER,
        "in": "header",
        "required": false,
        "description": "Makes the request safe to retry: the first completed answer to this \
            key (1-255 printable ASCII characters, e.g. a UUID) is stored, encrypted, for 24 \
            hours and replayed to a retry from the same credential with the same key and the \
            same request, with `Idempotent-Replayed: true`; nothing is done twice. Keys are \
            per credential: another API key or session token sending the same key runs its \
            own request. The same key with another method, path or body is refused (422 \
            `idempotency_key_reused`); while the first request runs, a retry gets 409 \
            `idempotency_key_in_use`; an answer that can no longer be decrypted (the \
            server's secret key changed) gets 409 `idempotency_answer_unavailable`, and the \
            request is not run again. Validation failures, 401, 403, 429 and 5xx answers \
            are not stored.",
        // The pattern is the rule `idempotency` enforces: printable ASCII, space included.
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": idempotency::KEY_MAX,
            "pattern": "^[\\x20-\\x7e]*$",
        },
        "deprecated": false,
        "explode": true,
        "style": "simple",
    });
    match entry.get_mut("parameters").and_then(|p| p.as_array_mut()) {
        Some(parameters) => parameters.push(parameter),
        None => {
            entry.insert("parameters".into(), json!([parameter]));
        }
    }
    let Some(responses) = entry.get_mut("responses").and_then(|r| r.as_object_mut()) else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let extra = match status.as_str() {
            "409" => Some("Or `idempotency_key_in_use`: a request with this `Idempotency-Key` is still running. Or `idempotency_answer_unavailable`: the request with this `Idempotency-Key` already ran, but its stored answer can no longer be read; it was not run again."),
            "422" => Some("Or `idempotency_key_reused`: the `Idempotency-Key` was used for a different request."),
            s if s.starts_with('2') => {
                let headers = response
                    .entry("headers")
                    .or_insert_with(|| json!({}));
                if let Some(headers) = headers.as_object_mut() {
                    headers.insert(
                        idempotency::REPLAYED_HEADER.into(),
                        json!({
                            "description": "`true` when this is the stored answer to an earlier \
                                request with the same `Idempotency-Key`.",
                            "required": false,
                            "deprecated": false,
                            "schema": { "type": "string", "enum": ["true"] }
                        }),
                    );
                }
                None
            }
            _ => None,
        };
        if let Some(extra) = extra {
            let text = response
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or_default();
            let text = format!("{text} {extra}");
            response.insert("description".into(), serde_json::Value::String(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorCode;

    /// The document, its shared response headers resolved: what each response says.
    fn document() -> serde_json::Value {
        let mut doc = serde_json::from_str(&super::spec_json()).expect("the document is JSON");
        super::header_components::inline(&mut doc);
        doc
    }

    /// Every object of `value` with its JSON pointer.
    fn objects<'a>(
        value: &'a serde_json::Value,
        at: String,
        out: &mut Vec<(String, &'a serde_json::Map<String, serde_json::Value>)>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                out.push((at.clone(), map));
                for (key, child) in map {
                    objects(child, format!("{at}/{key}"), out);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    objects(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn no_reference_is_wrapped_in_all_of_or_has_siblings() {
        let doc = super::spec_json();
        let doc: serde_json::Value = serde_json::from_str(&doc).expect("the document is JSON");
        let mut all = Vec::new();
        objects(&doc, String::new(), &mut all);
        for (at, map) in all {
            if map.contains_key("$ref") {
                assert_eq!(
                    map.len(),
                    1,
                    "{at}: a `$ref` with siblings (ignored in 3.0)"
                );
            }
            if let Some(parts) = map.get("allOf").and_then(|p| p.as_array()) {
                let schemas = parts
                    .iter()
                    .filter(|p| {
                        p.as_object()
                            .is_some_and(|p| p.keys().any(|k| k != "description"))
                    })
                    .count();
                assert!(
                    schemas > 1 && schemas == parts.len(),
                    "{at}: an `allOf` around one schema (generators refuse it)"
                );
            }
        }
        // The description a wrapped reference carried is kept, on the object holding it.
        let label = &doc["components"]["schemas"]["AssociationLabelCreate"];
        assert_eq!(
            label["properties"]["from_type"]["$ref"],
            "#/components/schemas/RecordType"
        );
        assert!(
            label["description"]
                .as_str()
                .unwrap_or_default()
                .contains("`from_type`: Restricts"),
            "{label}"
        );
    }

    #[test]
    fn json_bodies_are_named_application_json_without_parameters() {
        let doc = super::spec_json();
        assert!(
            !doc.contains("charset"),
            "a media type with a charset is left"
        );
        let doc: serde_json::Value = serde_json::from_str(&doc).expect("the document is JSON");
        let mut all = Vec::new();
        objects(&doc, String::new(), &mut all);
        let json_bodies = all
            .iter()
            .filter_map(|(_, map)| map.get("content")?.as_object())
            .filter(|content| content.contains_key(super::JSON_MEDIA_TYPE))
            .count();
        assert!(json_bodies > 100, "only {json_bodies} JSON bodies");
    }

    #[test]
    fn the_document_lists_every_error_code_clients_can_receive() {
        let doc = document();
        let description = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]
            ["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for code in ErrorCode::ALL {
            assert!(
                description.contains(&format!("`{}`", code.as_str())),
                "error code {} is missing from ErrorBody.code's description",
                code.as_str()
            );
        }
    }

    #[test]
    fn every_authenticated_operation_names_its_scope_but_the_few_any_user_may_call() {
        // Approving a QR login and managing one's own session tokens need a credential
        // acting as a user, whatever its scopes; `GET /v1/me` any credential at all.
        // (The search lists one requirement per record type's read scope: any of them.)
        let any_scope = [
            "auth_qr_sessions_approve",
            "session_tokens_list",
            "session_tokens_revoke",
            "me_get",
        ];
        let doc = document();
        for (_, item) in doc["paths"].as_object().into_iter().flatten() {
            for (_, op) in item.as_object().into_iter().flatten() {
                let id = op["operationId"].as_str().unwrap_or_default();
                let Some(security) = op["security"].as_array() else {
                    continue;
                };
                let scopes = security[0]["ApiKey"].as_array().map_or(0, Vec::len);
                assert_eq!(
                    scopes == 0,
                    any_scope.contains(&id),
                    "{id}: scopes in the document"
                );
                let statuses = op["responses"].as_object().expect("responses");
                assert!(statuses.contains_key("403"), "{id}: documents 403");
            }
        }
    }

    #[test]
    fn every_operation_documents_its_rate_limit_class_headers_and_429() {
        let doc = document();
        for (_, item) in doc["paths"].as_object().into_iter().flatten() {
            for (_, op) in item.as_object().into_iter().flatten() {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(
                    op["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("Rate limit: the `")),
                    "{id}: class in the description"
                );
                let responses = op["responses"].as_object().expect("responses");
                assert!(
                    responses["429"]["headers"]["Retry-After"].is_object(),
                    "{id}: 429 with Retry-After"
                );
                for (status, resp) in responses {
                    for name in [
                        "RateLimit-Policy",
                        "RateLimit",
                        "X-RateLimit-Limit",
                        "X-RateLimit-Remaining",
                        "X-RateLimit-Reset",
                    ] {
                        assert!(resp["headers"][name].is_object(), "{id} {status}: {name}");
                    }
                }
            }
        }
    }

    /// The schemas that carry one versioned resource, and so an `ETag`.
    const VERSIONED_ENVELOPES: [&str; 16] = [
        "ContactEnvelope",
        "CompanyEnvelope",
        "PipelineEnvelope",
        "StageEnvelope",
        "LeadEnvelope",
        "ActivityEnvelope",
        "UserEnvelope",
        "WebhookEndpointEnvelope",
        "WebhookEndpointWithSecretEnvelope",
        "CustomFieldEnvelope",
        "AssociationLabelEnvelope",
        "AssociationEnvelope",
        "SandboxEnvelope",
        "ApiKeyEnvelope",
        "ExportEnvelope",
        "ImportEnvelope",
    ];

    fn has_header_param(op: &serde_json::Value, name: &str) -> bool {
        op["parameters"].as_array().into_iter().flatten().any(|p| {
            p["in"] == "header"
                && p["name"] == name
                && p["required"] == false
                && p["schema"]["type"] == "string"
        })
    }

    #[test]
    fn every_answer_carrying_one_versioned_resource_documents_its_etag_and_reads_answer_304() {
        let doc = document();
        let mut tagged = 0;
        for (_, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let id = op["operationId"].as_str().unwrap_or_default();
                let responses = op["responses"].as_object().expect("responses");
                let success = responses
                    .iter()
                    .find(|(status, _)| status.starts_with('2'))
                    .map(|(_, resp)| resp)
                    .expect("a success response");
                let schema = success["content"][super::JSON_MEDIA_TYPE]["schema"]["$ref"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches("#/components/schemas/");
                let versioned = VERSIONED_ENVELOPES.contains(&schema);
                assert_eq!(
                    success["headers"]["ETag"].is_object(),
                    versioned,
                    "{id}: ETag on its success response"
                );
                let conditional_read = versioned && method == "get";
                assert_eq!(
                    responses
                        .get("304")
                        .is_some_and(|r| r["headers"]["ETag"].is_object()
                            && r["headers"]["X-Request-Id"].is_object()
                            && r.get("content").is_none()),
                    conditional_read,
                    "{id}: 304 with ETag and no body"
                );
                assert_eq!(
                    has_header_param(op, "If-None-Match"),
                    conditional_read,
                    "{id}: If-None-Match"
                );
                tagged += usize::from(versioned);
            }
        }
        // Get, create and update of contacts, companies, pipelines, stages, leads,
        // activities, users and webhook endpoints, and three actions.
        assert!(tagged >= 24 + 3, "{tagged} tagged operations");
    }

    #[test]
    fn every_patch_put_and_delete_takes_if_match_and_only_they_document_412() {
        let doc = document();
        let mut conditional = 0;
        for (_, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let id = op["operationId"].as_str().unwrap_or_default();
                // A merge writes the record of its path, so it takes the same condition.
                let write =
                    matches!(method.as_str(), "patch" | "put" | "delete") || id.ends_with("_merge");
                assert_eq!(has_header_param(op, "If-Match"), write, "{id}: If-Match");
                let precondition = &op["responses"]["412"];
                assert_eq!(precondition.is_object(), write, "{id}: 412");
                if write {
                    assert!(
                        precondition["headers"]["ETag"].is_object(),
                        "{id}: 412 names the current ETag"
                    );
                    conditional += 1;
                }
            }
        }
        assert!(conditional >= 16, "{conditional} conditional writes");
    }

    #[test]
    fn every_operation_has_an_id_a_tag_a_summary_and_the_shared_error_schema() {
        let doc = document();
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(
                    !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                    "{method} {path}: operationId {id:?} is not snake_case"
                );
                assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
                assert!(
                    op["tags"].as_array().is_some_and(|t| t.len() == 1),
                    "{id}: one tag"
                );
                assert!(
                    op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                    "{id}: summary"
                );
                for (status, resp) in op["responses"].as_object().into_iter().flatten() {
                    if status.starts_with('4') || status.starts_with('5') {
                        let schema = &resp["content"][super::JSON_MEDIA_TYPE]["schema"];
                        assert_eq!(
                            schema["$ref"], "#/components/schemas/ErrorEnvelope",
                            "{id} {status}: not the shared error schema"
                        );
                    }
                    assert!(
                        resp["headers"]["X-Request-Id"].is_object(),
                        "{id} {status}: X-Request-Id"
                    );
                }
            }
        }
        assert!(ids.len() >= 7);
    }
}
