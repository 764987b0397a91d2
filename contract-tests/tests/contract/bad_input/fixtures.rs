//! Fixtures for the bad-input matrix: a valid id for every path parameter, a valid
//! cursor for every list, and bodies that pass every rule.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use momentum_contract_tests::receiver::Receiver;
use momentum_contract_tests::TestApp;
use serde_json::{json, Value};

use super::{query_value, sample, Fixtures, Op, DOCUMENT};

/// The body a case starts from: valid, so only what the case changes is wrong.
pub(super) fn base_body(doc: &Value, fixtures: &Fixtures, schema: &Value) -> Value {
    let title = schema["title"].as_str().unwrap_or_default();
    match fixtures.bodies.get(title) {
        Some(body) => body.clone(),
        None => sample(doc, schema),
    }
}

/// The value of path parameter `name` of `op`: the fixture of the collection it follows.
pub(super) fn path_value<'a>(op: &Op, name: &str, fixtures: &'a Fixtures) -> &'a str {
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

pub(super) async fn fixtures(app: &TestApp, ops: &[Op], receiver: &Receiver) -> Fixtures {
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
    let mut sandbox = String::new();
    for name in ["first", "second"] {
        let made = call(app, "POST", "/v1/sandboxes", Some(json!({"name": name}))).await;
        sandbox = made["data"]["sandbox"]["id"].as_str().unwrap().to_owned();
    }
    // Two exports (so the list has a second page), written before any case runs, so the
    // download answers alike however fast the cases come.
    let mut export = String::new();
    for format in ["ndjson", "csv"] {
        let body = json!({"record_type": "contact", "format": format});
        export = id(&call(app, "POST", "/v1/exports", Some(body)).await);
        let path = format!("/v1/exports/{export}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while call(app, "GET", &path, None).await["data"]["status"] != "completed" {
            assert!(
                std::time::Instant::now() < deadline,
                "export {export} never completed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Two completed imports (so the list has a second page), the last with two failed
    // rows (so its errors do too).
    let mut import = String::new();
    for file in [
        "email\nimported@example.com\n",
        "email\nnot-an-email\nalso-not\n",
    ] {
        let (client, url) = app.raw("/v1/imports?record_type=contact&format=csv");
        let resp = client
            .post(url)
            .bearer_auth(&app.api_key)
            .header("content-type", "text/csv")
            .body(file)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202);
        import = id(&resp.json().await.unwrap());
        let path = format!("/v1/imports/{import}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while call(app, "GET", &path, None).await["data"]["status"] != "completed" {
            assert!(
                std::time::Instant::now() < deadline,
                "import {import} never completed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
            ("sandboxes", sandbox),
            ("exports", export),
            ("imports", import),
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

pub(super) fn valid_path(op: &Op, fixtures: &Fixtures) -> String {
    let mut path = op.path.clone();
    for param in op.params_in("path") {
        path = path.replace(
            &format!("{{{}}}", param.name),
            path_value(op, &param.name, fixtures),
        );
    }
    path
}
