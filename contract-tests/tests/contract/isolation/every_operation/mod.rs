//! Every operation of the document, from another tenant: each of tenant A's ids, sent by
//! tenant B, must behave exactly like an id that does not exist.

use std::collections::BTreeSet;
use std::time::Duration;

use momentum_contract_tests::receiver::Receiver;
use momentum_contract_tests::TestApp;
use momentum_server::db::tenants;
use serde_json::{json, Value};
use uuid::Uuid;

use world::{world, Http, World};

mod world;

/// Operations whose id is a capability rather than tenant data: the QR login's own
/// unauthenticated calls, made by a device before any tenant is known. No tenant's
/// credential takes part, so there is no other tenant to keep out (the poll secret
/// guards them; `identity/devices.rs` tests that).
const NOT_TENANT_SCOPED: [&str; 4] = [
    "auth_qr_sessions_svg",
    "auth_qr_sessions_png",
    "auth_qr_sessions_get",
    "auth_qr_sessions_exchange",
];

/// The kind of record an id slot names: a path parameter, a query parameter or a body
/// field of `op` at `path`.
fn kind_of(op: &str, path: &str, slot: &str) -> &'static str {
    let field = slot.rsplit(['.', '{']).next().unwrap_or(slot);
    let field = field.trim_end_matches('}').trim_end_matches("[]");
    match field {
        "stage_id" | "stage_ids" => "stage",
        "delivery_id" => "delivery",
        "company_id" => "company",
        "contact_id" => "contact",
        "pipeline_id" => "pipeline",
        "lead_id" => "lead",
        "label_id" => "label",
        "duplicate_id" if op == "companies_merge" => "company",
        "duplicate_id" => "contact",
        // `body_for` links B's contact to B's company.
        "from_id" | "record_id" => "contact",
        "to_id" => "company",
        "owner_id" | "user_id" | "actor_user_id" => "user",
        // A batch read's ids are of the type it reads.
        "ids" if op == "contacts_batch_read" => "contact",
        "ids" if op == "companies_batch_read" => "company",
        "ids" if op == "leads_batch_read" => "lead",
        // An audit event's target: A's API key was created, so it is one.
        "target_id" => "api_key",
        "move_leads_to" if op == "stages_delete" => "stage",
        "move_leads_to" => "pipeline",
        "id" => match path.trim_start_matches("/v1/").split('/').next() {
            Some("contacts") => "contact",
            Some("companies") => "company",
            Some("pipelines") => "pipeline",
            Some("leads") => "lead",
            Some("activities") => "activity",
            Some("users") => "user",
            Some("api-keys") => "api_key",
            Some("auth") => "qr_session",
            Some("session-tokens") => "session_token",
            Some("webhook-endpoints") => "endpoint",
            Some("events") => "event",
            Some("custom-fields") => "custom_field",
            Some("association-labels") => "label",
            Some("associations") => "association",
            Some("sandboxes") => "sandbox",
            Some("exports") => "export",
            Some("imports") => "import",
            other => panic!("{op}: no kind for `{{id}}` under {other:?}: add it"),
        },
        other => panic!("{op}: no kind for the id slot `{other}`: add it"),
    }
}

/// A body tenant B may send to `op` on its own records; `None`: the operation takes
/// none. Every operation with a request body must have one here.
fn body_for(op: &str, b: &World, b_stages: &[Uuid], hook_url: &str) -> Option<Value> {
    Some(match op {
        "contacts_create" => json!({"first_name": "New"}),
        "contacts_update" => json!({"first_name": "Changed"}),
        "contacts_batch_upsert" => json!({"items": [{"email": "batch@b.example"}]}),
        "companies_create" => json!({"name": "New Co"}),
        "companies_update" => json!({"name": "Changed Co"}),
        "companies_batch_upsert" => {
            json!({"items": [{"name": "Batch", "domain": "batch.example"}]})
        }
        "pipelines_create" => json!({"name": "New", "stages": [{"name": "Only"}]}),
        "pipelines_update" => json!({"name": "Changed"}),
        "stages_create" => json!({"name": "New"}),
        "stages_update" => json!({"name": "Changed"}),
        "stages_reorder" => json!({"stage_ids": b_stages}),
        "leads_create" => json!({"title": "New", "pipeline_id": b["pipeline"]}),
        "leads_update" => json!({"title": "Changed"}),
        "activities_create" => json!({"type": "note", "subject": "New"}),
        "activities_update" => json!({"subject": "Changed"}),
        "users_create" => json!({"email": "new@b.example"}),
        "users_update" => json!({"name": "Changed"}),
        "api_keys_create" => json!({"name": "New", "scopes": ["contacts:read"]}),
        "api_keys_update" => json!({"name": "Changed"}),
        "api_keys_rotate" => json!({"overlap_seconds": 60}),
        "webhook_endpoints_create" => json!({"url": hook_url}),
        "webhook_endpoints_update" => json!({"description": "Changed"}),
        "webhook_endpoints_recover" => json!({"since": "2020-01-01T00:00:00Z"}),
        "custom_fields_create" => {
            json!({"record_type": "lead", "key": "new_field", "label": "New", "type": "text"})
        }
        "custom_fields_update" => json!({"label": "Changed"}),
        "association_labels_create" => json!({"name": "New label"}),
        "association_labels_update" => json!({"description": "Changed"}),
        "associations_create" => json!({"from_type": "contact", "from_id": b["contact"],
                                        "to_type": "company", "to_id": b["company"]}),
        "contacts_batch_read" => json!({"ids": [b["contact"]]}),
        "companies_batch_read" => json!({"ids": [b["company"]]}),
        "leads_batch_read" => json!({"ids": [b["lead"]]}),
        "contacts_merge" => json!({"duplicate_id": b["contact"]}),
        "companies_merge" => json!({"duplicate_id": b["company"]}),
        "sandboxes_create" => json!({"name": "B's sandbox"}),
        "exports_create" => json!({"record_type": "lead", "filters": {
            "company_id": b["company"], "contact_id": b["contact"], "owner_id": b["user"],
            "pipeline_id": b["pipeline"], "stage_id": b["stage"]}}),
        _ => return None,
    })
}

/// Sets the field at `slot` (`.a`, `.items[].a`, `.ids[]`) of `body` to `value`.
fn set(body: &mut Value, slot: &str, value: Uuid) {
    let mut at = body;
    let parts: Vec<&str> = slot.trim_start_matches('.').split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        match part.strip_suffix("[]") {
            Some(name) if last => {
                at[name][0] = json!(value);
                return;
            }
            Some(name) => at = &mut at[name][0],
            None if last => at[*part] = json!(value),
            None => at = &mut at[*part],
        }
    }
}

fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        schema = &doc["components"]["schemas"][r.rsplit('/').next().unwrap()];
    }
    schema
}

/// The uuid fields of a request body, as `.a`, `.items[].a`, `.ids[]`.
fn uuid_fields(doc: &Value, schema: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if schema["format"] == "uuid" {
        out.push(at.to_owned());
    }
    if let Some(items) = schema.get("items") {
        uuid_fields(doc, items, &format!("{at}[]"), out);
    }
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            uuid_fields(doc, prop, &format!("{at}.{name}"), out);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for sub in schema[key].as_array().into_iter().flatten() {
            uuid_fields(doc, sub, at, out);
        }
    }
}

/// An answer as the client sees it, with the id it sent and the request id blanked:
/// what must be the same for another tenant's id and for one that does not exist.
fn normalised(status: u16, text: &str, sent: Uuid) -> (u16, Value) {
    let text = text.replace(&sent.to_string(), "<ID>");
    let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if let Some(meta) = v.get_mut("meta") {
        meta["request_id"] = Value::Null;
    }
    (status, v)
}

#[tokio::test]
async fn another_tenants_ids_behave_like_ids_that_do_not_exist_in_every_operation() {
    let app = TestApp::spawn().await;
    let http = Http {
        client: reqwest::Client::new(),
        base: app.base_url.clone(),
    };
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../openapi/openapi.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let hook_a = Receiver::start().await;
    let hook_b = Receiver::start().await;
    let b_tenant = tenants::provision(&app.admin, "Tenant B", "owner@b.example")
        .await
        .unwrap();
    let (a_key, b_key) = (app.api_key.as_str(), b_tenant.api_key.as_str());
    let (b, b_stages) = world(&http, b_key, "b", &hook_b.url).await;
    let (a, _) = world(&http, a_key, "a", &hook_a.url).await;
    let mut a_ids: BTreeSet<String> = a.values().map(Uuid::to_string).collect();
    a_ids.insert(app.tenant_id.to_string());
    let leaks = |text: &str, sent: Uuid| -> Vec<String> {
        let text = text.replace(&sent.to_string(), "");
        a_ids
            .iter()
            .filter(|id| text.contains(id.as_str()))
            .cloned()
            .collect()
    };

    let mut expected = BTreeSet::new();
    let mut covered = BTreeSet::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            let op_id = op["operationId"].as_str().unwrap();
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let path_params: Vec<String> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            let uuid_queries: Vec<String> = params
                .iter()
                .filter(|p| p["in"] == "query")
                .filter(|p| {
                    let s = resolve(&doc, &p["schema"]);
                    s["format"] == "uuid" || s.to_string().contains("\"uuid\"")
                })
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            let mut body_fields = Vec::new();
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for media in content.values() {
                    uuid_fields(&doc, &media["schema"], "", &mut body_fields);
                }
            }
            let slots: Vec<(&str, String)> = path_params
                .iter()
                .map(|p| ("path", p.clone()))
                .chain(uuid_queries.iter().map(|q| ("query", q.clone())))
                .chain(body_fields.iter().map(|f| ("body", f.clone())))
                .collect();
            if slots.is_empty() {
                continue;
            }
            expected.insert(op_id.to_owned());
            if NOT_TENANT_SCOPED.contains(&op_id) {
                continue;
            }
            let template = body_for(op_id, &b, &b_stages, &hook_b.url);
            assert!(
                op.get("requestBody").is_none() || template.is_some(),
                "{op_id} takes a body: add one to `body_for`"
            );
            for (place, slot) in &slots {
                let kind = kind_of(op_id, path, slot);
                let mut answers = Vec::new();
                for (name, value) in [("another tenant's", a[kind]), ("no", Uuid::now_v7())] {
                    // Everything else is B's own, so only this one id is foreign.
                    let mut url = path.clone();
                    for p in &path_params {
                        let own = b[kind_of(op_id, path, p)];
                        let v = if *place == "path" && p == slot {
                            value
                        } else {
                            own
                        };
                        url = url.replace(&format!("{{{p}}}"), &v.to_string());
                    }
                    let query: Vec<(String, String)> = if *place == "query" {
                        vec![(slot.clone(), value.to_string())]
                    } else {
                        vec![]
                    };
                    let mut body = template.clone();
                    if *place == "body" {
                        set(body.as_mut().unwrap(), slot, value);
                    }
                    let (status, text) = http
                        .call(Some(b_key), method, &url, &query, body.as_ref())
                        .await;
                    let leaked = leaks(&text, value);
                    assert!(
                        leaked.is_empty(),
                        "{op_id} with {name} {slot}: A's ids {leaked:?} in {text}"
                    );
                    if *place == "query" && status == 200 {
                        let v: Value = serde_json::from_str(&text).unwrap();
                        assert_eq!(
                            v["data"],
                            json!([]),
                            "{op_id}?{slot}=<{name} id> lists something"
                        );
                    } else if op_id.ends_with("_batch_read") && status == 200 {
                        // A batch read answers per key: the key finds nothing.
                        let v: Value = serde_json::from_str(&text).unwrap();
                        assert_eq!(v["data"][0]["status"], "not_found", "{op_id}: {text}");
                    } else if op_id.ends_with("_batch_upsert") && status == 200 {
                        // A batch answers per item: the item is refused.
                        let v: Value = serde_json::from_str(&text).unwrap();
                        assert_eq!(v["data"][0]["status"], "error", "{op_id}: {text}");
                    } else {
                        assert!(
                            (400..500).contains(&status),
                            "{op_id} with {name} {slot} ({place}): {status} {text}"
                        );
                    }
                    answers.push(normalised(status, &text, value));
                }
                assert_eq!(
                    answers[0], answers[1],
                    "{op_id}: another tenant's {slot} ({place}) is told apart from a \
                     nonexistent one"
                );
            }
            covered.insert(op_id.to_owned());
        }
    }
    let exempt: BTreeSet<String> = NOT_TENANT_SCOPED.iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = expected
        .difference(&covered)
        .filter(|o| !exempt.contains(*o))
        .collect();
    assert!(
        missing.is_empty(),
        "operations with ids not exercised: {missing:?}"
    );
    // The document has these; a test that found none would prove nothing.
    assert!(covered.len() >= 50, "{covered:?}");

    // A's cursors, replayed by B, show B's rows only (or are refused).
    for (path, methods) in doc["paths"].as_object().unwrap() {
        let Some(op) = methods.get("get") else {
            continue;
        };
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if !params.iter().any(|p| p["name"] == "cursor") {
            continue;
        }
        let op_id = op["operationId"].as_str().unwrap();
        let fill = |w: &World| {
            let mut url = path.clone();
            for p in params.iter().filter(|p| p["in"] == "path") {
                let name = p["name"].as_str().unwrap();
                url = url.replace(
                    &format!("{{{name}}}"),
                    &w[kind_of(op_id, path, name)].to_string(),
                );
            }
            url
        };
        // Required query parameters: the search's `q`, a letter A's records start
        // words with, so A's first page has a cursor.
        let required: Vec<(String, String)> = params
            .iter()
            .filter(|p| p["in"] == "query" && p["required"] == true)
            .map(|p| match p["name"].as_str().unwrap() {
                "q" => ("q".to_owned(), "a".to_owned()),
                other => panic!("{op_id}: no value for the required ?{other}: add one"),
            })
            .collect();
        let mut limit = vec![("limit".to_owned(), "1".to_owned())];
        limit.extend(required.iter().cloned());
        let (status, text) = http.call(Some(a_key), "get", &fill(&a), &limit, None).await;
        assert_eq!(status, 200, "{op_id}: {text}");
        let page: Value = serde_json::from_str(&text).unwrap();
        let Some(cursor) = page["meta"]["next_cursor"].as_str() else {
            continue;
        };
        let mut query = vec![("cursor".to_owned(), cursor.to_owned())];
        query.extend(required);
        let (status, text) = http.call(Some(b_key), "get", &fill(&b), &query, None).await;
        assert!(status == 200 || status == 400, "{op_id}: {status} {text}");
        let leaked = leaks(&text, Uuid::nil());
        assert!(
            leaked.is_empty(),
            "{op_id}: A's cursor shows A's {leaked:?}"
        );
    }

    // B's endpoint hears of B's changes only. A's own endpoint hears A's, so once it
    // has, anything for B would have been sent too.
    hook_a.wait_for(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for r in hook_b.received() {
        let text = String::from_utf8_lossy(&r.body).into_owned();
        let leaked = leaks(&text, Uuid::nil());
        assert!(
            leaked.is_empty(),
            "B's endpoint was sent A's {leaked:?}: {text}"
        );
    }
    assert!(!hook_b.received().is_empty(), "B's own events reach it");
}
