//! Optimistic concurrency: every answer carrying one resource has a strong `ETag` that
//! changes with every change to it; `If-Match` makes a write conditional on it (412,
//! changing nothing, when stale), `If-None-Match` makes a read answer 304 while it is
//! current. Contacts through the SDK in full, every other resource briefly over raw HTTP.

use std::time::Duration;

use momentum_contract_tests::receiver::Receiver;
use momentum_contract_tests::TestApp;
use momentum_sdk::conditional::{current_etag, etag, is_not_modified};
use momentum_sdk::patch::ContactPatch;
use momentum_sdk::types::{self, EventType};
use momentum_sdk::{Client, Error};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{api_error, create, create_company, person, sales, Refused, ANY_CODE};

/// A strong entity tag: quoted, no `W/`.
fn assert_strong(tag: &str) {
    assert!(
        tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'),
        "not a strong entity tag: {tag}"
    );
}

async fn contact_tag(c: &Client, id: Uuid) -> (types::Contact, String) {
    let read = c.contacts_get().id(id).send().await.expect("get");
    let tag = etag(&read).expect("an ETag on contacts_get").to_owned();
    (read.into_inner().data, tag)
}

async fn contact_updates(c: &Client) -> usize {
    c.events_list()
        .type_(EventType::ContactUpdated)
        .limit(200)
        .send()
        .await
        .expect("list events")
        .into_inner()
        .data
        .len()
}

fn retitle(title: &str) -> ContactPatch {
    ContactPatch {
        title: Some(Some(title.into())),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_contact_s_etag_comes_with_create_get_and_update_and_changes_with_each_update() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    let created = c
        .contacts_create()
        .body(person("Ada", "ada@example.com"))
        .send()
        .await
        .expect("create");
    let at_create = etag(&created)
        .expect("an ETag on contacts_create")
        .to_owned();
    assert_strong(&at_create);
    let ada = created.into_inner().data;

    let (_, at_get) = contact_tag(c, ada.id).await;
    assert_eq!(at_get, at_create, "unchanged: the same version");

    let updated = c
        .contacts_update()
        .id(ada.id)
        .body(retitle("Countess"))
        .send()
        .await
        .expect("update");
    let at_update = etag(&updated)
        .expect("an ETag on contacts_update")
        .to_owned();
    assert_strong(&at_update);
    assert_ne!(at_update, at_create, "an update is a new version");
    assert_eq!(contact_tag(c, ada.id).await.1, at_update);

    let again = c
        .contacts_update()
        .id(ada.id)
        .body(retitle("Analyst"))
        .send()
        .await
        .expect("update again");
    let third = etag(&again).unwrap().to_owned();
    assert!(
        third != at_update && third != at_create,
        "every update moves it"
    );
}

#[tokio::test]
async fn if_none_match_answers_304_without_a_body_while_the_tag_is_current() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let (_, old) = contact_tag(c, ada.id).await;
    c.contacts_update()
        .id(ada.id)
        .body(retitle("Countess"))
        .send()
        .await
        .unwrap();
    let (now, current) = contact_tag(c, ada.id).await;

    let weak = format!("W/{current}");
    let listed = format!("\"nope\", {old} ,{current}");
    for held in [current.as_str(), weak.as_str(), listed.as_str(), "*"] {
        match c.contacts_get().id(ada.id).if_none_match(held).send().await {
            Err(Error::UnexpectedResponse(resp)) if resp.status().as_u16() == 304 => {
                let headers = resp.headers();
                assert_eq!(headers["etag"].to_str().unwrap(), current, "{held}");
                assert!(headers.contains_key("x-request-id"), "{held}");
                assert!(headers.contains_key("ratelimit"), "{held}");
                let body = resp.bytes().await.unwrap();
                assert!(body.is_empty(), "{held}: a 304 has no body");
            }
            other => panic!("{held}: expected 304, got {other:?}"),
        }
    }
    let result = c
        .contacts_get()
        .id(ada.id)
        .if_none_match(&current)
        .send()
        .await;
    assert!(is_not_modified(&result.unwrap_err()));

    let fresh = c
        .contacts_get()
        .id(ada.id)
        .if_none_match(old.as_str())
        .send()
        .await
        .expect("an old tag gets the contact");
    assert_eq!(fresh.status().as_u16(), 200);
    assert_eq!(etag(&fresh), Some(current.as_str()));
    assert_eq!(fresh.into_inner().data, now);
}

#[tokio::test]
async fn a_stale_if_match_is_a_412_naming_the_current_tag_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let (_, stale) = contact_tag(c, ada.id).await;
    // Someone else changes it.
    c.contacts_update()
        .id(ada.id)
        .body(retitle("Countess"))
        .send()
        .await
        .unwrap();
    let (before, current) = contact_tag(c, ada.id).await;
    let updates = contact_updates(c).await;
    assert_eq!(updates, 1);

    let result = c
        .contacts_update()
        .id(ada.id)
        .if_match(stale.as_str())
        .body(retitle("Mathematician"))
        .send()
        .await;
    let err = result.unwrap_err();
    assert_eq!(
        current_etag(&err),
        Some(current.as_str()),
        "ETag header of the 412"
    );
    let (status, body) = api_error::<types::ContactEnvelope>(Err(err));
    assert_eq!(
        (status, body.error.code.as_str()),
        (412, "precondition_failed")
    );
    let detail = &body.error.details[0];
    assert_eq!(
        (detail.field.as_str(), detail.code.as_str()),
        ("If-Match", "stale")
    );
    assert!(detail.message.contains(&current), "{}", detail.message);

    let (after, tag) = contact_tag(c, ada.id).await;
    assert_eq!(after, before, "nothing was written");
    assert_eq!(tag, current);
    assert_eq!(
        contact_updates(c).await,
        updates,
        "no contact.updated event"
    );

    // A stale delete leaves it in place too.
    c.contacts_delete()
        .id(ada.id)
        .if_match(stale.as_str())
        .send()
        .await
        .refused(412, "precondition_failed");
    assert_eq!(contact_tag(c, ada.id).await.0, before, "still there");

    // The current tag, alone or in a list, passes; the answer has the next one.
    let updated = c
        .contacts_update()
        .id(ada.id)
        .if_match(format!("{stale}, {current}"))
        .body(retitle("Mathematician"))
        .send()
        .await
        .expect("the current tag passes");
    let next = etag(&updated).unwrap().to_owned();
    assert_ne!(next, current);
    assert_eq!(
        updated.into_inner().data.title.as_deref(),
        Some("Mathematician")
    );
    assert_eq!(contact_updates(c).await, updates + 1);

    // A weak tag never passes If-Match, even naming the current version.
    c.contacts_update()
        .id(ada.id)
        .if_match(format!("W/{next}"))
        .body(retitle("Poet"))
        .send()
        .await
        .refused(412, ANY_CODE);

    // `*` passes for any version.
    let starred = c
        .contacts_update()
        .id(ada.id)
        .if_match("*")
        .body(retitle("Poet"))
        .send()
        .await
        .expect("`*` passes");
    let last = etag(&starred).unwrap().to_owned();
    let deleted = c
        .contacts_delete()
        .id(ada.id)
        .if_match(last)
        .send()
        .await
        .expect("delete with the current tag");
    assert_eq!(deleted.status().as_u16(), 204);
    c.contacts_delete()
        .id(ada.id)
        .if_match("*")
        .send()
        .await
        .refused_as("`*` needs the contact to exist", 404, ANY_CODE);
}

#[tokio::test]
async fn malformed_conditions_are_400s_naming_the_header() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let (before, _) = contact_tag(c, ada.id).await;
    // The SDK's condition types hold the document's pattern, so it refuses these before
    // sending; the server must refuse them too, for clients that send them anyway.
    let url = format!("/v1/contacts/{}", ada.id);
    for bad in ["abc", "\"unterminated", "\"a\" \"b\"", "W/abc"] {
        assert!(c
            .contacts_get()
            .id(ada.id)
            .if_none_match(bad)
            .send()
            .await
            .is_err());
        let (client, to) = app.raw(&url);
        let resp = client
            .patch(to)
            .bearer_auth(&app.api_key)
            .header("If-Match", bad)
            .header("Content-Type", "application/json")
            .body(r#"{"title": "Countess"}"#)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 400, "{bad}");
        let body: types::ErrorEnvelope = resp.json().await.expect("the error envelope");
        assert_eq!(body.error.code, "bad_request", "{bad}");
        assert_eq!(body.error.details[0].field, "If-Match", "{bad}");
        let (client, to) = app.raw(&url);
        let resp = client
            .get(to)
            .bearer_auth(&app.api_key)
            .header("If-None-Match", bad)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 400, "{bad}");
        let body: types::ErrorEnvelope = resp.json().await.expect("the error envelope");
        assert_eq!(body.error.details[0].field, "If-None-Match", "{bad}");
    }
    assert_eq!(contact_tag(c, ada.id).await.0, before);
}

#[tokio::test]
async fn of_two_concurrent_updates_from_one_version_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    for round in 0..5 {
        let (_, tag) = contact_tag(c, ada.id).await;
        let first = c
            .contacts_update()
            .id(ada.id)
            .if_match(tag.as_str())
            .body(retitle(&format!("First {round}")))
            .send();
        let second = c
            .contacts_update()
            .id(ada.id)
            .if_match(tag.as_str())
            .body(retitle(&format!("Second {round}")))
            .send();
        let (first, second) = tokio::join!(first, second);
        let statuses = [&first, &second].map(|r| match r {
            Ok(resp) => resp.status().as_u16(),
            Err(err) => err.status().map_or(0, |s| s.as_u16()),
        });
        let mut sorted = statuses;
        sorted.sort_unstable();
        assert_eq!(sorted, [200, 412], "round {round}");
        let winner = if statuses[0] == 200 { first } else { second };
        let title = winner.unwrap().into_inner().data.title;
        assert_eq!(
            contact_tag(c, ada.id).await.0.title,
            title,
            "the winner's write"
        );
    }
}

#[tokio::test]
async fn a_contact_whose_company_goes_to_the_trash_keeps_its_link_and_its_tag() {
    // The link is cleared (and the version moves, see `server/tests/it/versions.rs`)
    // only when the company is purged from the trash, which the API cannot hurry.
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = create_company(c, "Acme").await;
    let ann = create(
        c,
        types::ContactCreate {
            company_id: Some(acme.id),
            ..person("Ann", "ann@acme.example")
        },
    )
    .await;
    let (_, linked) = contact_tag(c, ann.id).await;
    c.companies_delete().id(acme.id).send().await.unwrap();

    let result = c
        .contacts_get()
        .id(ann.id)
        .if_none_match(linked.as_str())
        .send()
        .await;
    assert!(is_not_modified(&result.unwrap_err()), "nothing changed");
    let updated = c
        .contacts_update()
        .id(ann.id)
        .if_match(linked)
        .body(retitle("Buyer"))
        .send()
        .await
        .expect("a write based on the linked contact is current");
    assert_eq!(updated.into_inner().data.company_id, Some(acme.id));
}

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
            .send()
            .await
        {
            Ok(fresh) => {
                assert_ne!(etag(&fresh), Some(before.as_str()));
                assert!(fresh.into_inner().data.last_success_at.is_some());
                break;
            }
            Err(err) if is_not_modified(&err) => {
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
