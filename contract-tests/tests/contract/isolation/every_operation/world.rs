//! Tenant data for the sweep: one record of every kind, made through raw HTTP with a
//! tenant's key, and the client that makes them.

use std::collections::HashMap;

use serde_json::{json, Value};
use uuid::Uuid;

/// One tenant's records, by kind.
pub(super) type World = HashMap<&'static str, Uuid>;

pub(super) struct Http {
    pub(super) client: reqwest::Client,
    pub(super) base: String,
}

impl Http {
    pub(super) async fn call(
        &self,
        key: Option<&str>,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .query(query);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Uploads `file` as a CSV import of contacts.
    async fn upload(&self, key: &str, file: &'static str) -> Value {
        let resp = self
            .client
            .post(format!("{}/v1/imports", self.base))
            .query(&[("record_type", "contact"), ("format", "csv")])
            .bearer_auth(key)
            .header("content-type", "text/csv")
            .body(file)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 202, "upload: {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn json(&self, key: Option<&str>, method: &str, path: &str, body: Value) -> Value {
        let body = (method != "get").then_some(body);
        let (status, text) = self.call(key, method, path, &[], body.as_ref()).await;
        assert!(status < 300, "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }
}

fn id(v: &Value) -> Uuid {
    v["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no data.id in {v}"))
        .parse()
        .unwrap()
}

/// Makes one record of every kind for the tenant holding `key`.
pub(super) async fn world(http: &Http, key: &str, tag: &str, hook_url: &str) -> (World, Vec<Uuid>) {
    let k = Some(key);
    let mut w = World::new();
    let company = http
        .json(
            k,
            "post",
            "/v1/companies",
            json!({"name": format!("{tag} Co")}),
        )
        .await;
    w.insert("company", id(&company));
    for i in 0..2 {
        let contact = http
            .json(
                k,
                "post",
                "/v1/contacts",
                json!({"first_name": tag, "email": format!("c{i}@{tag}.example"),
                       "company_id": w["company"]}),
            )
            .await;
        w.insert("contact", id(&contact));
    }
    let pipeline = http
        .json(
            k,
            "post",
            "/v1/pipelines",
            json!({"name": format!("{tag} pipe"), "stages": [{"name": "One"}, {"name": "Two"}]}),
        )
        .await;
    w.insert("pipeline", id(&pipeline));
    let stages: Vec<Uuid> = pipeline["data"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().parse().unwrap())
        .collect();
    w.insert("stage", stages[1]);
    let me = http.json(k, "get", "/v1/users", json!(null)).await;
    let owner: Uuid = me["data"][0]["id"].as_str().unwrap().parse().unwrap();
    let user = http
        .json(
            k,
            "post",
            "/v1/users",
            json!({"email": format!("member@{tag}.example")}),
        )
        .await;
    w.insert("user", id(&user));
    for i in 0..2 {
        let lead = http
            .json(
                k,
                "post",
                "/v1/leads",
                json!({"title": format!("{tag} lead {i}"), "pipeline_id": w["pipeline"],
                       "stage_id": w["stage"], "contact_id": w["contact"],
                       "company_id": w["company"], "owner_id": owner}),
            )
            .await;
        w.insert("lead", id(&lead));
    }
    for i in 0..2 {
        let activity = http
            .json(
                k,
                "post",
                "/v1/activities",
                json!({"type": "call", "subject": format!("{tag} call {i}"),
                       "contact_id": w["contact"], "company_id": w["company"],
                       "lead_id": w["lead"], "owner_id": w["user"]}),
            )
            .await;
        w.insert("activity", id(&activity));
    }
    let field = http
        .json(
            k,
            "post",
            "/v1/custom-fields",
            json!({"record_type": "contact", "key": "tier", "label": "Tier", "type": "text"}),
        )
        .await;
    w.insert("custom_field", id(&field));
    let label = http
        .json(
            k,
            "post",
            "/v1/association-labels",
            json!({"name": format!("{tag} label")}),
        )
        .await;
    w.insert("label", id(&label));
    for (to_type, to) in [("company", w["company"]), ("lead", w["lead"])] {
        let association = http
            .json(
                k,
                "post",
                "/v1/associations",
                json!({"from_type": "contact", "from_id": w["contact"], "to_type": to_type,
                       "to_id": to, "label_id": w["label"]}),
            )
            .await;
        w.insert("association", id(&association));
    }
    let api_key = http
        .json(
            k,
            "post",
            "/v1/api-keys",
            json!({"name": tag, "scopes": ["contacts:read"], "user_id": w["user"]}),
        )
        .await;
    w.insert(
        "api_key",
        api_key["data"]["api_key"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    );
    // A QR login approved and exchanged by this tenant's owner.
    let qr = http
        .json(None, "post", "/v1/auth/qr-sessions", json!({}))
        .await;
    let qr_id = id(&qr);
    let poll = qr["data"]["poll_secret"].as_str().unwrap().to_owned();
    http.json(
        k,
        "post",
        &format!("/v1/auth/qr-sessions/{qr_id}/approve"),
        json!(null),
    )
    .await;
    let (status, text) = http
        .client
        .post(format!(
            "{}/v1/auth/qr-sessions/{qr_id}/exchange",
            http.base
        ))
        .header("X-Poll-Secret", poll)
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 200);
    let token: Value = text.json().await.unwrap();
    w.insert("qr_session", qr_id);
    w.insert(
        "session_token",
        token["data"]["token_id"].as_str().unwrap().parse().unwrap(),
    );
    let endpoint = http
        .json(k, "post", "/v1/webhook-endpoints", json!({"url": hook_url}))
        .await;
    w.insert("endpoint", id(&endpoint));
    let delivery = http
        .json(
            k,
            "post",
            &format!("/v1/webhook-endpoints/{}/test", w["endpoint"]),
            json!(null),
        )
        .await;
    w.insert("delivery", id(&delivery));
    let events = http.json(k, "get", "/v1/events", json!(null)).await;
    w.insert(
        "event",
        events["data"][0]["id"].as_str().unwrap().parse().unwrap(),
    );
    let sandbox = http
        .json(k, "post", "/v1/sandboxes", json!({"name": tag}))
        .await;
    w.insert(
        "sandbox",
        sandbox["data"]["sandbox"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    );
    let export = http
        .json(k, "post", "/v1/exports", json!({"record_type": "contact"}))
        .await;
    w.insert("export", id(&export));
    // One row the worker refuses, so the import has an error to list.
    let import = http.upload(key, "email\nnot-an-email\n").await;
    w.insert("import", id(&import));
    w.insert("owner", owner);
    (w, stages)
}
