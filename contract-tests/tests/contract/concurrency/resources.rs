//! Every other resource's entity tags over raw HTTP: one trip through create, conditional
//! reads and writes for each, and the versions a pipeline's stages and an endpoint's
//! delivery health make.

use std::time::Duration;

use momentum_contract_tests::receiver::Receiver;
use momentum_contract_tests::TestApp;
use momentum_sdk::conditional::{etag, Conditional};
use momentum_sdk::types::{self, EventType};
use serde_json::{json, Value};

use crate::{create, person, sales};

/// Raw HTTP for the loop over every other resource.
struct Raw<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    etag: Option<String>,
    body: Value,
}

impl Raw<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        conditions: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.app.base_url))
            .bearer_auth(&self.app.api_key);
        for (name, value) in conditions {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let resp = request.send().await.unwrap();
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, etag, body }
    }
}

/// One resource's trip: create, conditional read, a stale patch and delete refused with
/// nothing changed, then the current tag passing.
struct Resource {
    name: &'static str,
    create: (String, Value),
    patch: Value,
    /// The field the patch changes, to see a refused patch left it alone.
    field: &'static str,
    deletable: bool,
}

async fn exercise(raw: &Raw<'_>, r: &Resource) {
    use reqwest::Method;
    let name = r.name;
    let (collection, body) = &r.create;
    let created = raw.send(Method::POST, collection, &[], Some(body)).await;
    assert_eq!(created.status, 201, "{name}: {}", created.body);
    let first = created.etag.expect("an ETag on create");
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("{collection}/{id}");

    let read = raw.send(Method::GET, &path, &[], None).await;
    assert_eq!(
        (read.status, read.etag.as_deref()),
        (200, Some(first.as_str())),
        "{name}"
    );
    let not_modified = raw
        .send(Method::GET, &path, &[("If-None-Match", &first)], None)
        .await;
    assert_eq!(not_modified.status, 304, "{name}");
    assert_eq!(not_modified.etag.as_deref(), Some(first.as_str()), "{name}");

    // A change made without a condition moves the tag.
    let patched = raw.send(Method::PATCH, &path, &[], Some(&r.patch)).await;
    assert_eq!(patched.status, 200, "{name}: {}", patched.body);
    let second = patched.etag.expect("an ETag on update");
    assert_ne!(second, first, "{name}");
    let modified = raw
        .send(Method::GET, &path, &[("If-None-Match", &first)], None)
        .await;
    assert_eq!(
        (modified.status, modified.etag.as_deref()),
        (200, Some(second.as_str())),
        "{name}"
    );

    // Stale: refused, nothing changed.
    let mut other = r.patch.clone();
    other[r.field] = json!("Stale write");
    let refused = raw
        .send(Method::PATCH, &path, &[("If-Match", &first)], Some(&other))
        .await;
    assert_eq!(refused.status, 412, "{name}: {}", refused.body);
    assert_eq!(
        refused.body["error"]["code"], "precondition_failed",
        "{name}"
    );
    assert_eq!(refused.etag.as_deref(), Some(second.as_str()), "{name}");
    let detail = &refused.body["error"]["details"][0];
    assert_eq!(detail["field"], "If-Match", "{name}");
    assert!(
        detail["message"].as_str().unwrap().contains(&second),
        "{name}"
    );
    let unchanged = raw.send(Method::GET, &path, &[], None).await;
    assert_eq!(unchanged.etag.as_deref(), Some(second.as_str()), "{name}");
    assert_eq!(
        unchanged.body["data"], patched.body["data"],
        "{name}: unchanged"
    );

    // Current: passes, with the next tag.
    let passed = raw
        .send(Method::PATCH, &path, &[("If-Match", &second)], Some(&other))
        .await;
    assert_eq!(passed.status, 200, "{name}: {}", passed.body);
    let third = passed.etag.expect("an ETag on update");
    assert_ne!(third, second, "{name}");
    assert_eq!(passed.body["data"][r.field], "Stale write", "{name}");

    if r.deletable {
        let refused = raw
            .send(Method::DELETE, &path, &[("If-Match", &second)], None)
            .await;
        assert_eq!(refused.status, 412, "{name}: {}", refused.body);
        assert_eq!(
            raw.send(Method::GET, &path, &[], None).await.status,
            200,
            "{name}: kept"
        );
        let deleted = raw
            .send(Method::DELETE, &path, &[("If-Match", &third)], None)
            .await;
        assert_eq!(deleted.status, 204, "{name}: {}", deleted.body);
        assert_eq!(
            raw.send(Method::GET, &path, &[], None).await.status,
            404,
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_resource_has_tags_and_honours_if_match_and_if_none_match() {
    let app = TestApp::spawn().await;
    let raw = Raw {
        app: &app,
        http: reqwest::Client::new(),
    };
    let sales = sales(&app.client).await;
    let pipeline = raw
        .send(
            reqwest::Method::POST,
            "/v1/pipelines",
            &[],
            Some(&json!({"name": "Partners", "stages": [{"name": "Intro"}, {"name": "Talks"}]})),
        )
        .await;
    let pipeline_id = pipeline.body["data"]["id"].as_str().unwrap().to_owned();
    let resources = [
        Resource {
            name: "company",
            create: ("/v1/companies".into(), json!({"name": "Acme"})),
            patch: json!({"industry": "Software"}),
            field: "industry",
            deletable: true,
        },
        Resource {
            name: "pipeline",
            create: (
                "/v1/pipelines".into(),
                json!({"name": "Hiring", "stages": [{"name": "Applied"}]}),
            ),
            patch: json!({"name": "Recruiting"}),
            field: "name",
            deletable: true,
        },
        Resource {
            name: "stage",
            create: (
                format!("/v1/pipelines/{pipeline_id}/stages"),
                json!({"name": "Signed"}),
            ),
            patch: json!({"name": "Contract"}),
            field: "name",
            deletable: true,
        },
        Resource {
            name: "lead",
            create: (
                "/v1/leads".into(),
                json!({"title": "Big deal", "pipeline_id": sales.id}),
            ),
            patch: json!({"title": "Bigger deal"}),
            field: "title",
            deletable: true,
        },
        Resource {
            name: "activity",
            create: (
                "/v1/activities".into(),
                json!({"type": "note", "subject": "Met at the fair"}),
            ),
            patch: json!({"subject": "Met at the trade fair"}),
            field: "subject",
            deletable: true,
        },
        Resource {
            name: "user",
            create: (
                "/v1/users".into(),
                json!({"email": "bea@a.example", "name": "Bea"}),
            ),
            patch: json!({"name": "Beatrice"}),
            field: "name",
            deletable: false,
        },
        Resource {
            // Disabled, so no delivery moves its tag during the test.
            name: "webhook endpoint",
            create: (
                "/v1/webhook-endpoints".into(),
                json!({"url": "http://127.0.0.1:9/hook", "enabled": false}),
            ),
            patch: json!({"description": "Audit trail"}),
            field: "description",
            deletable: true,
        },
    ];
    for resource in &resources {
        exercise(&raw, resource).await;
    }
}

#[tokio::test]
async fn a_stage_change_is_a_new_version_of_its_pipeline() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let raw = Raw {
        app: &app,
        http: reqwest::Client::new(),
    };
    let created = raw
        .send(
            Method::POST,
            "/v1/pipelines",
            &[],
            Some(&json!({"name": "Hiring", "stages": [{"name": "Applied"}, {"name": "Hired"}]})),
        )
        .await;
    let before = created.etag.unwrap();
    let data = &created.body["data"];
    let path = format!("/v1/pipelines/{}", data["id"].as_str().unwrap());
    let stage_ids: Vec<&str> = data["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let stage_path = format!("{path}/stages/{}", stage_ids[0]);

    let stage = raw.send(Method::GET, &stage_path, &[], None).await;
    let stage_tag = stage.etag.unwrap();
    let renamed = raw
        .send(
            Method::PATCH,
            &stage_path,
            &[("If-Match", &stage_tag)],
            Some(&json!({"name": "Applying"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_ne!(renamed.etag.unwrap(), stage_tag);

    // The pipeline shows its stages, so it changed with one of them.
    let refused = raw
        .send(
            Method::PATCH,
            &path,
            &[("If-Match", &before)],
            Some(&json!({"name": "Talent"})),
        )
        .await;
    assert_eq!(refused.status, 412, "{}", refused.body);
    let current = refused.etag.unwrap();
    assert_ne!(current, before);

    // Reordering is conditional on the pipeline's version.
    let order = json!({"stage_ids": [stage_ids[1], stage_ids[0]]});
    let stale = raw
        .send(
            Method::PUT,
            &format!("{path}/stages/order"),
            &[("If-Match", &before)],
            Some(&order),
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.body);
    let reordered = raw
        .send(
            Method::PUT,
            &format!("{path}/stages/order"),
            &[("If-Match", &current)],
            Some(&order),
        )
        .await;
    assert_eq!(reordered.status, 200, "{}", reordered.body);
    let now = raw.send(Method::GET, &path, &[], None).await;
    assert_ne!(now.etag.unwrap(), current, "the reorder is a new version");
    assert_eq!(now.body["data"]["stages"][0]["id"], stage_ids[1]);
}

#[tokio::test]
async fn a_webhook_endpoint_s_tag_moves_with_its_delivery_health() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    let created = c
        .webhook_endpoints_create()
        .body(types::WebhookEndpointCreate {
            url: receiver.url.parse().unwrap(),
            description: None,
            event_types: vec![EventType::ContactCreated],
            enabled: None,
            filters: vec![],
        })
        .send()
        .await
        .unwrap();
    let before = etag(&created).unwrap().to_owned();
    let id = created.into_inner().data.id;

    create(c, person("Ada", "ada@example.com")).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    // The success is recorded after the receiver answered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match c
            .webhook_endpoints_get()
            .id(id)
            .if_none_match(before.as_str())
            .send_conditional()
            .await
        {
            Ok(Conditional::Modified(fresh)) => {
                assert_ne!(etag(&fresh), Some(before.as_str()));
                assert!(fresh.into_inner().data.last_success_at.is_some());
                break;
            }
            Ok(Conditional::NotModified) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the tag never moved"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("{err:?}"),
        }
    }
}
