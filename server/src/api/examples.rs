//! Examples for the document: every JSON request body and every JSON response, success
//! or error, names one under `components/examples` (each defined once, referenced from
//! the media types), so a reader, Swagger UI or a generator's docs see a believable
//! value rather than `"string"`.
//!
//! Little is listed per operation. The schemas that hold plain values have one
//! hand-written example each (`resources`); every schema built only of others (the
//! envelopes, lists, batch results) is composed from them, a list's `next_cursor` being a
//! real cursor after its last item. Error examples are made by the server's own error
//! types and renderer (`ErrorEnvelope::new`), for the code each status carries
//! (`responses::status`), with what the operation makes them say: the resource a `404`
//! names, the scope a `403` needs, the rate-limit class of a `429`, a field of the body a
//! `422` refuses, the current `ETag` of the resource a `412` names.

mod resources;

use std::collections::BTreeMap;

use poem_openapi::types::ToJSON;
use serde_json::{json, Map, Value};

use super::operations::{self, Operation};
use super::responses::ErrorEnvelope;
use crate::domain::FieldError;
use crate::error::AppError;

const SCHEMAS: &str = "#/components/schemas/";
const EXAMPLES: &str = "#/components/examples/";

/// Adds `components/examples` and points every JSON body of `paths` at one of them. A
/// schema no example can be made for is left without one, which the tests report.
pub(super) fn add(paths: &mut indexmap::IndexMap<String, Value>, components: &mut Value) {
    let schemas = components["schemas"].clone();
    let reads: BTreeMap<String, String> = paths
        .iter()
        .filter_map(|(path, item)| {
            let name = schema_name(&item["get"]["responses"]["200"])?;
            Some((path.clone(), name.to_owned()))
        })
        .collect();
    let mut examples = BTreeMap::new();
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, entry) in item.iter_mut() {
            let op = operations::all()
                .iter()
                .find(|op| op.method == *method && op.path == *path);
            let body = schema_name(&entry["requestBody"]).map(str::to_owned);
            if let Some(name) = &body {
                if let Ok(value) = example(name, &schemas) {
                    let key = name.clone();
                    let summary = summary_of(name, &schemas);
                    examples.insert(key.clone(), example_object(&summary, value));
                    refer(&mut entry["requestBody"], &[key]);
                }
            }
            let Some(statuses) = entry.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            let success = statuses
                .iter()
                .filter(|(status, _)| status.starts_with('2'))
                .find_map(|(_, response)| schema_name(response))
                .map(str::to_owned);
            for (status, response) in statuses.iter_mut() {
                let Some(name) = schema_name(response).map(str::to_owned) else {
                    continue;
                };
                let keys = if status.starts_with('2') {
                    match example(&name, &schemas) {
                        Ok(value) => {
                            examples.insert(
                                name.clone(),
                                example_object(&summary_of(&name, &schemas), value),
                            );
                            vec![name]
                        }
                        Err(_) => continue,
                    }
                } else {
                    let context = Context {
                        path,
                        method,
                        op,
                        body: body.as_deref(),
                        success: success
                            .as_deref()
                            .and_then(|name| example(name, &schemas).ok()),
                        versioned: versioned(path, &reads)
                            .filter_map(|name| example(name, &schemas).ok())
                            .collect(),
                    };
                    errors(status, &context, &schemas)
                        .into_iter()
                        .map(|(key, summary, envelope)| {
                            let value = envelope.to_json().unwrap_or_default();
                            examples.insert(key.clone(), example_object(&summary, value));
                            key
                        })
                        .collect()
                };
                refer(response, &keys);
            }
        }
    }
    components["examples"] = Value::Object(examples.into_iter().collect());
}

/// The success schemas of the `GET` of `path` and of each path above it.
fn versioned<'a>(
    path: &'a str,
    reads: &'a BTreeMap<String, String>,
) -> impl Iterator<Item = &'a str> {
    std::iter::successors(Some(path), |path| Some(path.rsplit_once('/')?.0))
        .filter_map(|path| reads.get(path).map(String::as_str))
}

/// The `409` an operation answers when the state of the tenant's records refuses it, as
/// the layers below word it (quoted: `api` reaches them only through calls that run the
/// operation). Every write can also collide with a concurrent one.
fn conflict(method: &str, path: &str) -> (&'static str, &'static str, AppError) {
    let taken = |message: &str, field: &str, detail: String| AppError::Conflict {
        message: message.to_owned(),
        details: vec![FieldError::new(field, "taken", detail)],
    };
    let qr = |status: &str, what: &str| AppError::Conflict {
        message: format!("the QR session is {status}: {what}"),
        details: vec![FieldError::new(
            "status",
            "invalid_state",
            status.to_owned(),
        )],
    };
    let stage_change = || AppError::Conflict {
        message: "`stage_change` activities are written by the server and cannot be changed".into(),
        details: vec![],
    };
    let disabled = || AppError::Conflict {
        message: "the endpoint is disabled; enable it (PATCH `enabled: true`) first".into(),
        details: vec![FieldError::new(
            "enabled",
            "disabled",
            "the endpoint is disabled",
        )],
    };
    let last_owner = |action: &str| AppError::Conflict {
        message: format!("the tenant's last active owner cannot be {action}"),
        details: vec![FieldError::new(
            "role",
            "last_owner",
            "make another user an owner first",
        )],
    };
    let contact = taken(
        "a contact with this email already exists",
        "email",
        format!("is already used by contact {}", resources::CONTACT),
    );
    match (method, path) {
        (_, "/v1/contacts" | "/v1/contacts/{id}" | "/v1/contacts/{id}/restore")
        | ("post", "/v1/contacts/{id}/merge") => (
            "conflict_contact_email",
            "The email of another contact",
            contact,
        ),
        (_, "/v1/companies" | "/v1/companies/{id}" | "/v1/companies/{id}/restore")
        | ("post", "/v1/companies/{id}/merge") => (
            "conflict_company_domain",
            "The domain of another company",
            taken(
                "a company with this domain already exists",
                "domain",
                format!("is already used by company {}", resources::COMPANY),
            ),
        ),
        ("post", "/v1/users") => (
            "conflict_user_email",
            "The email of another user",
            taken(
                "a user with this email already exists",
                "email",
                "is already used by another user of the tenant".into(),
            ),
        ),
        ("patch", "/v1/users/{id}") => (
            "conflict_last_owner_demoted",
            "Demoting the last owner",
            last_owner("demoted"),
        ),
        ("post", "/v1/users/{id}/deactivate") => (
            "conflict_last_owner_deactivated",
            "Deactivating the last owner",
            last_owner("deactivated"),
        ),
        ("post" | "patch", "/v1/association-labels" | "/v1/association-labels/{id}") => (
            "conflict_label_name",
            "The name of another label",
            taken(
                "an association label with this name already exists",
                "name",
                format!("is already used by association label {}", resources::LABEL),
            ),
        ),
        ("delete", "/v1/association-labels/{id}") => (
            "conflict_label_in_use",
            "A label still carried by associations",
            AppError::Conflict {
                message: "2 association(s) carry this label; delete them first".into(),
                details: vec![FieldError::new(
                    "id",
                    "in_use",
                    "carried by 2 association(s)",
                )],
            },
        ),
        ("post", "/v1/associations") => (
            "conflict_association_taken",
            "The same two records with the same label",
            taken(
                "this association already exists",
                "to_id",
                format!(
                    "these records are already associated with this label by association {}",
                    resources::ASSOCIATION
                ),
            ),
        ),
        ("post", "/v1/custom-fields") => (
            "conflict_custom_field_key",
            "A key already defined for the record type",
            AppError::Conflict {
                message: "a custom field with this key already exists for this record type".into(),
                details: vec![FieldError::new(
                    "key",
                    "taken",
                    "is already defined for this record type",
                )],
            },
        ),
        ("post", "/v1/leads/{id}/convert") => (
            "conflict_lead_converted",
            "A lead converted before",
            AppError::Conflict {
                message: format!(
                    "the lead was already converted at {}",
                    chrono::DateTime::parse_from_rfc3339("2026-02-20T10:15:03.412907Z")
                        .map(|at| at.to_utc())
                        .unwrap_or_default()
                ),
                details: vec![],
            },
        ),
        ("post", "/v1/activities/{id}/complete") => (
            "conflict_not_a_task",
            "Completing an activity that is not a task",
            AppError::Conflict {
                message: "only tasks can be completed; this is a call".into(),
                details: vec![],
            },
        ),
        (_, "/v1/activities/{id}") => (
            "conflict_stage_change",
            "Changing a `stage_change` activity",
            stage_change(),
        ),
        ("get", "/v1/auth/qr-sessions/{id}/qr.svg" | "/v1/auth/qr-sessions/{id}/qr.png") => (
            "conflict_qr_not_pending",
            "The code of a session no longer pending",
            qr("approved", "its code can no longer be used"),
        ),
        ("post", "/v1/auth/qr-sessions/{id}/approve") => (
            "conflict_qr_not_pending_approve",
            "Approving a session no longer pending",
            qr("expired", "only a pending session can be approved"),
        ),
        ("post", "/v1/auth/qr-sessions/{id}/exchange") => (
            "conflict_qr_not_approved",
            "Exchanging a session not approved (yet)",
            qr("pending", "only an approved session can be exchanged"),
        ),
        (
            "post",
            "/v1/webhook-endpoints/{id}/test"
            | "/v1/webhook-endpoints/{id}/recover"
            | "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry",
        ) => (
            "conflict_endpoint_disabled",
            "Sending to a disabled endpoint",
            disabled(),
        ),
        ("post", "/v1/imports") => (
            "conflict_too_many_imports",
            "A tenant with as many imports queued or running as it may have",
            AppError::Conflict {
                message: "this tenant already has 5 imports queued or running; wait for one \
                          to finish"
                    .into(),
                details: vec![FieldError::new(
                    "tenant",
                    "too_many_imports",
                    "at most 5 imports may be queued or running at once",
                )],
            },
        ),
        ("post", "/v1/imports/{id}/cancel") => (
            "conflict_import_finished",
            "Cancelling an import that is already over",
            AppError::Conflict {
                message: "the import is already over".into(),
                details: vec![FieldError::new(
                    "id",
                    "import_finished",
                    "only a queued or running import can be cancelled",
                )],
            },
        ),
        _ => (
            "conflict_concurrent",
            "A concurrent change to the same record",
            AppError::Conflict {
                message: "the request collided with a concurrent change and was not applied; \
                          send it again"
                    .into(),
                details: vec![],
            },
        ),
    }
}

/// The `422` of an operation whose own rule (not a field's) refuses it, as the
/// application layer words it.
fn refused(method: &str, path: &str) -> Option<FieldError> {
    Some(match (method, path) {
        ("delete", "/v1/pipelines/{id}") => FieldError::new(
            "move_leads_to",
            "same_pipeline",
            "must be a stage of another pipeline: this one is being deleted",
        ),
        ("delete", "/v1/pipelines/{id}/stages/{stage_id}") => FieldError::new(
            "move_leads_to",
            "same_stage",
            "must be another stage: this one is being deleted",
        ),
        ("put", "/v1/pipelines/{id}/stages/order") => FieldError::new(
            "stage_ids",
            "not_a_permutation",
            "must list each of the pipeline's 3 stages exactly once",
        ),
        ("get", "/v1/associations") => {
            FieldError::new("record_id", "required", "is required with `record_type`")
        }
        ("post", "/v1/contacts/{id}/merge") => FieldError::new(
            "duplicate_id",
            "same_record",
            "a contact cannot be merged into itself",
        ),
        ("post", "/v1/companies/{id}/merge") => FieldError::new(
            "duplicate_id",
            "same_record",
            "a company cannot be merged into itself",
        ),
        ("post", "/v1/webhook-endpoints/{id}/recover") => {
            FieldError::new("until", "invalid", "must be after `since`")
        }
        _ => return None,
    })
}

/// The component schema a body's JSON media type names, if any.
fn schema_name(body: &Value) -> Option<&str> {
    body["content"][super::JSON_MEDIA_TYPE]["schema"]["$ref"]
        .as_str()?
        .strip_prefix(SCHEMAS)
}

/// Swagger UI shows a summary as plain text, in a menu: no Markdown.
fn example_object(summary: &str, value: Value) -> Value {
    json!({ "summary": summary.replace('`', ""), "value": value })
}

/// The first sentence of the schema's description ("A page of contacts in the
/// envelope"), else its name.
fn summary_of(name: &str, schemas: &Value) -> String {
    schemas[name]["description"]
        .as_str()
        .and_then(|text| text.split(". ").next())
        .and_then(|sentence| sentence.split(": ").next())
        .map(|sentence| sentence.trim_end_matches('.').replace('\n', " "))
        .unwrap_or_else(|| name.to_owned())
}

/// Names the examples `keys` on the JSON media type of `body`.
fn refer(body: &mut Value, keys: &[String]) {
    let Some(media) = body["content"]
        .get_mut(super::JSON_MEDIA_TYPE)
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let refs: Map<String, Value> = keys
        .iter()
        .map(|key| (key.clone(), json!({ "$ref": format!("{EXAMPLES}{key}") })))
        .collect();
    if !refs.is_empty() {
        media.insert("examples".into(), Value::Object(refs));
    }
}

/// The example of the component schema `name`: its hand-written one, else its first enum
/// value, else an object composed of an example of each property. `Err` names the first
/// property nothing could be made for.
fn example(name: &str, schemas: &Value) -> Result<Value, String> {
    if let Some(value) = resources::of(name) {
        return Ok(value);
    }
    let schema = &schemas[name];
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return Ok(first.clone());
    }
    let Some(properties) = schema["properties"].as_object() else {
        return Err(name.to_owned());
    };
    let mut object = Map::new();
    for (property, schema) in properties {
        let value = of_schema(schema, schemas).map_err(|_| format!("{name}.{property}"))?;
        object.insert(property.clone(), value);
    }
    let mut value = Value::Object(object);
    page(&mut value);
    Ok(value)
}

fn of_schema(schema: &Value, schemas: &Value) -> Result<Value, String> {
    if let Some(name) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix(SCHEMAS))
    {
        return example(name, schemas);
    }
    if schema["type"] == "array" {
        return Ok(Value::Array(vec![of_schema(&schema["items"], schemas)?]));
    }
    Err(String::new())
}

/// A list's `meta.next_cursor` as the server makes it: the keyset cursor after the
/// page's last item, in the default order (`created_at`, oldest first).
fn page(list: &mut Value) {
    let Some(last) = list["data"].as_array().and_then(|items| items.last()) else {
        return;
    };
    let (Some(created_at), Some(id)) = (
        last["created_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()),
        last["id"].as_str().and_then(|id| id.parse().ok()),
    ) else {
        return;
    };
    if list["meta"]["has_more"] == true {
        list["meta"]["next_cursor"] = super::pagination::encode(
            crate::app::contacts::ContactSort::CreatedAt,
            false,
            &crate::app::page::SortValue::Time(created_at.to_utc()),
            id,
        )
        .into();
    }
}

/// What an error example of one operation can say.
struct Context<'a> {
    path: &'a str,
    method: &'a str,
    op: Option<&'a Operation>,
    /// The request body's schema.
    body: Option<&'a str>,
    /// The example of the operation's success body.
    success: Option<Value>,
    /// The examples of what a `GET` of the path returns, then of each path above it:
    /// what an `If-Match` names when the operation's answer carries no version (a `204`,
    /// a list).
    versioned: Vec<Value>,
}

/// The error examples of one status of one operation: (component key, summary, body).
fn errors(
    status: &str,
    context: &Context,
    schemas: &Value,
) -> Vec<(String, String, ErrorEnvelope)> {
    let mut out = Vec::new();
    let mut add = |key: String, summary: &str, err: AppError| {
        let envelope = ErrorEnvelope::new(&err, resources::REQUEST);
        out.push((key, summary.to_owned(), envelope));
    };
    let post = context.method == "post" && context.op.is_some_and(|op| op.authenticated);
    let streams = context.op.is_some_and(|op| op.streams_body);
    match status {
        "400" => {
            if context
                .op
                .is_some_and(|op| op.query.iter().any(|q| q == "cursor"))
            {
                let err = super::pagination::decode(
                    "eyJ2IjoxfQ",
                    crate::app::contacts::ContactSort::CreatedAt,
                    false,
                )
                .err()
                .unwrap_or_else(|| AppError::bad_request("invalid cursor"));
                add(
                    "bad_request_cursor".into(),
                    "A cursor this API did not issue",
                    err,
                );
            }
            // The path's last parameter, else (an operation with neither a path
            // parameter nor a body) a query parameter naming a record: all are UUIDs.
            let parameter = context
                .path
                .rsplit('/')
                .find_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .or_else(|| {
                    let query = &context.op?.query;
                    let id = query.iter().find(|q| q.ends_with("_id"))?;
                    context.body.is_none().then_some(id.as_str())
                });
            if let Some(name) = parameter {
                use poem_openapi::types::ParseFromParameter;
                let reason = uuid::Uuid::parse_from_parameter("ada-lovelace")
                    .err()
                    .map(|err| err.into_message())
                    .unwrap_or_default();
                add(
                    format!("bad_request_{name}"),
                    &format!("{name} is not a UUID"),
                    AppError::bad_parameter(FieldError::new(name, "invalid", reason)),
                );
            }
            if streams {
                add(
                    "bad_request_upload_broken".into(),
                    "An upload that broke off before the end of its file",
                    AppError::bad_request("the upload broke off before the end of the file"),
                );
            }
            if let Some(body) = context.body {
                let err = match body.strip_suffix("Batch") {
                    // A batch parses item by item, naming the item.
                    Some(resource) => {
                        let reason = format!(
                            "failed to parse \"{resource}Create\": unknown field `nickname`."
                        );
                        AppError::BadRequest {
                            message: format!("the item is not a valid create body: {reason}"),
                            details: vec![FieldError::new("items[0]", "invalid", reason)],
                        }
                    }
                    None => AppError::bad_request(format!(
                        "the request body is not valid: failed to parse \"{body}\": unknown \
                         field `nickname`."
                    )),
                };
                add(
                    format!("bad_request_{body}"),
                    "A body with a field the schema does not have",
                    err,
                );
            }
        }
        "401" => {
            if context.op.is_some_and(|op| op.authenticated) {
                add(
                    "unauthorized".into(),
                    "An unknown, expired or revoked credential",
                    AppError::Unauthorized("invalid, expired or revoked credential"),
                );
            } else {
                add(
                    "unauthorized_poll_secret".into(),
                    "A wrong `X-Poll-Secret`",
                    AppError::Unauthorized("invalid poll secret for this QR session"),
                );
            }
        }
        "403" => match context.op.and_then(|op| op.scopes.first()) {
            Some(scope) => {
                let scope = scope.as_str();
                let err = AppError::Forbidden {
                    message: format!("this operation needs the `{scope}` scope"),
                    details: vec![FieldError::new(
                        "scope",
                        "missing_scope",
                        format!("the credential lacks `{scope}`"),
                    )],
                };
                add(
                    format!("forbidden_{}", scope.replace(':', "_")),
                    &format!("A credential without `{scope}`"),
                    err,
                );
            }
            None => add(
                "forbidden_session_token".into(),
                "A session token approving a login",
                AppError::Forbidden {
                    message: "a session token cannot approve a login: use an API key".into(),
                    details: vec![],
                },
            ),
        },
        "404" => {
            let resource = resource(context.path);
            add(
                format!("not_found_{}", resource.replace(' ', "_").to_lowercase()),
                &format!("No such {resource} in this tenant"),
                AppError::NotFound(resource),
            );
        }
        "409" => {
            let (key, summary, err) = conflict(context.method, context.path);
            add(key.into(), summary, err);
            if post {
                add(
                    "idempotency_key_in_use".into(),
                    "A retry while the first request with its key still runs",
                    AppError::IdempotencyKeyInUse,
                );
            }
        }
        "412" => {
            // A resource's version is when it last changed, or (an association, which
            // never changes) when it was made.
            let updated_at = context
                .success
                .iter()
                .chain(&context.versioned)
                .find_map(|body| {
                    let data = &body["data"];
                    data["updated_at"].as_str().or(data["created_at"].as_str())
                })
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            if let Some(updated_at) = updated_at {
                let current = Version(updated_at.to_utc());
                let stale = "\"64b2a41c0e3d8\"";
                if let Err(err) = super::etag::IfMatch::parse(Some(stale.to_owned()))
                    .and_then(|h| h.check(&current))
                {
                    let resource = resource(context.path);
                    add(
                        format!(
                            "precondition_failed_{}",
                            resource.replace(' ', "_").to_lowercase()
                        ),
                        &format!("`If-Match` names an older version of the {resource}"),
                        err,
                    );
                }
            }
        }
        "413" if streams => add(
            "payload_too_large_upload".into(),
            "A file over the server's limit (100 MiB by default)",
            AppError::PayloadTooLarge { limit: 104_857_600 },
        ),
        "413" => add(
            "payload_too_large".into(),
            "A body over the server's limit (1 MiB by default)",
            AppError::bad_request("placeholder"),
        ),
        "415" if streams => add(
            "unsupported_media_type_upload".into(),
            "A file sent as a media type an upload does not take",
            AppError::UnsupportedMediaType(
                "send the file as the body with `Content-Type: text/csv` (or \
                 `application/x-ndjson`, `application/octet-stream`, `text/plain`)"
                    .into(),
            ),
        ),
        "415" => add(
            "unsupported_media_type".into(),
            "A body sent as another media type",
            AppError::bad_request("placeholder"),
        ),
        "422" => {
            if let Some(err) = refused(context.method, context.path) {
                add(
                    format!("validation_failed_{}_{}", err.field, err.code),
                    "A value that breaks a rule of this operation",
                    AppError::Validation(vec![err]),
                );
            } else if let Some(body) = context.body {
                add(
                    format!("validation_failed_{body}"),
                    "A field that breaks its rule",
                    AppError::Validation(vec![invalid_field(body, schemas)]),
                );
            } else if context
                .op
                .is_some_and(|op| op.query.iter().any(|q| q == "custom_field"))
            {
                add(
                    "validation_failed_custom_field".into(),
                    "Too many `custom_field` filters",
                    AppError::Validation(vec![FieldError::new(
                        "custom_field",
                        "too_many",
                        format!(
                            "at most {} filters may be combined",
                            crate::domain::custom_field::MAX_FILTERS
                        ),
                    )]),
                );
            } else if !post {
                // Declared by the operation's error set, with no rule of its own known to
                // word it: the bare refusal.
                add(
                    "validation_failed".into(),
                    "A request that breaks a rule",
                    AppError::Validation(vec![]),
                );
            }
            if post {
                add(
                    "idempotency_key_reused".into(),
                    "An `Idempotency-Key` already used for another request",
                    AppError::IdempotencyKeyReused,
                );
            }
        }
        "429" => {
            let class = context.op.map_or("read", |op| op.class.as_str());
            add(
                format!("rate_limited_{class}"),
                &format!("The `{class}` quota used up"),
                AppError::RateLimited {
                    class,
                    retry_after: 17,
                },
            );
        }
        "500" => add(
            "internal".into(),
            "An unexpected failure (details are logged, never sent)",
            AppError::Internal(anyhow::anyhow!("logged only")),
        ),
        "503" => add(
            "service_unavailable".into(),
            "The database cannot be reached",
            AppError::Unavailable(anyhow::anyhow!("logged only")),
        ),
        _ => {}
    }
    // The edge renders these two from poem's own errors, not from an `AppError`.
    for (key, _, envelope) in &mut out {
        let (code, message) = match key.as_str() {
            "payload_too_large" => (
                crate::error::ErrorCode::PayloadTooLarge,
                "the request body exceeds the limit of 1048576 bytes",
            ),
            "unsupported_media_type" => (
                crate::error::ErrorCode::UnsupportedMediaType,
                "the request body must be sent as `Content-Type: application/json`",
            ),
            _ => continue,
        };
        *envelope = ErrorEnvelope::from_parts(code, message.to_owned(), vec![], resources::REQUEST);
    }
    out
}

/// A resource version, to let the server's own `If-Match` check word a `412`.
struct Version(chrono::DateTime<chrono::Utc>);

impl super::etag::Versioned for Version {
    fn version(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

/// The resource an operation's path is about, as its `404` names it: the segment before
/// the last path parameter.
fn resource(path: &str) -> &'static str {
    let segments: Vec<&str> = path.split('/').collect();
    let collection = segments
        .iter()
        .rposition(|s| s.starts_with('{'))
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| segments.get(i))
        .copied()
        .unwrap_or_default();
    match collection {
        "contacts" => "contact",
        "companies" => "company",
        "pipelines" => "pipeline",
        "stages" => "stage",
        "leads" => "lead",
        "activities" => "activity",
        "custom-fields" => "custom field",
        "association-labels" => "association label",
        "associations" => "association",
        "users" => "user",
        "api-keys" => "API key",
        "qr-sessions" => "QR session",
        "session-tokens" => "session token",
        "webhook-endpoints" => "webhook endpoint",
        "deliveries" => "delivery",
        "events" => "event",
        "sandboxes" => "sandbox",
        "exports" => "export",
        "imports" => "import",
        _ => "record",
    }
}

/// The error the server gives one field of a `body` that breaks a rule: an email that is
/// not one where the body has an email, else the first text of its example made longer
/// than the schema allows.
fn invalid_field(body: &str, schemas: &Value) -> FieldError {
    use crate::domain::fields::{optional_email, optional_text};
    let example = resources::of(body).unwrap_or_default();
    let mut schema = &schemas[body];
    let (prefix, example) = match example.get("items").and_then(|items| items.get(0)) {
        Some(item) => {
            let item_schema = schema["properties"]["items"]["items"]["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix(SCHEMAS))
                .unwrap_or_default();
            schema = &schemas[item_schema];
            ("items[0].", item.clone())
        }
        None => ("", example),
    };
    let Some(fields) = example.as_object() else {
        return FieldError::new(body, "invalid", "is not valid");
    };
    if let Some(field) = fields.keys().find(|k| k.ends_with("email")) {
        if let Err(err) = optional_email(&format!("{prefix}{field}"), Some("ada.lovelace@".into()))
        {
            return err;
        }
    }
    // A text field the example fills, else any the schema limits.
    let limited = |field: &String| {
        let max = schema["properties"][field]["maxLength"].as_u64()?;
        usize::try_from(max).ok()
    };
    let text = fields
        .iter()
        .find_map(|(field, value)| Some((field, value.as_str()?, limited(field)?)))
        .or_else(|| {
            let properties = schema["properties"].as_object()?;
            properties
                .keys()
                .find_map(|field| Some((field, "Analytical Engines", limited(field)?)))
        });
    if let Some((field, value, max)) = text {
        let long = format!("{value} ").repeat(max / (value.len() + 1) + 2);
        if let Err(err) = optional_text(&format!("{prefix}{field}"), Some(long), max, false) {
            return err;
        }
    }
    let field = fields.keys().next().map_or(body, String::as_str);
    FieldError::new(format!("{prefix}{field}"), "invalid", "is not valid")
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod validate;
