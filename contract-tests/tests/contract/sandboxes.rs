//! Sandboxes through the SDK: a fresh tenant shaped like the caller's in one call, with or
//! without the demo data, its key confined to it, listed, read and deleted by the parent,
//! capped, refused to non-admins, to sandboxes and to out-of-range lifetimes, and purged
//! by the worker once expired.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use momentum_contract_tests::{captured_logs, TestApp};
use momentum_sdk::types::{self, CustomFieldType, EventType, RecordType, SandboxSeed};
use momentum_sdk::Client;
use uuid::Uuid;

use crate::{assert_detail, Refused};

/// Makes a sandbox of the app's tenant: its data and the client holding its owner's key.
async fn sandbox(app: &TestApp, body: types::SandboxCreate) -> (types::SandboxWithSecret, Client) {
    let created = app
        .client
        .sandboxes_create()
        .body(body)
        .send()
        .await
        .expect("create a sandbox");
    assert_eq!(created.status().as_u16(), 201);
    let data = created.into_inner().data;
    let client = app.client_with_key(&data.secret);
    (data, client)
}

/// The SDK's "default body" for a sandbox: everything defaulted.
fn plain() -> types::SandboxCreate {
    types::SandboxCreate::default()
}

#[tokio::test]
async fn a_sandbox_copies_the_configuration_with_endpoints_disabled_and_no_records() {
    let app = TestApp::spawn().await;
    let parent = &app.client;
    parent
        .custom_fields_create()
        .body(crate::custom_fields::definition(
            "contact",
            "tier",
            CustomFieldType::Number,
        ))
        .send()
        .await
        .unwrap();
    parent
        .association_labels_create()
        .body(types::AssociationLabelCreate {
            name: "Decision maker".parse().unwrap(),
            description: None,
            from_type: Some(RecordType::Contact),
            to_type: Some(RecordType::Lead),
        })
        .send()
        .await
        .unwrap();
    let endpoint = parent
        .webhook_endpoints_create()
        .body(types::WebhookEndpointCreate {
            url: "http://127.0.0.1:9/hooks".parse().unwrap(),
            description: Some("production receiver".parse().unwrap()),
            event_types: vec![EventType::ContactCreated],
            enabled: None,
            filters: vec![],
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(endpoint.enabled);
    let secret_contact = crate::create(parent, crate::person("Parent", "p@a.example")).await;

    let created = parent
        .sandboxes_create()
        .body(types::SandboxCreate {
            name: Some("ci run 42".into()),
            ..plain()
        })
        .send()
        .await
        .unwrap();
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let made = created.into_inner().data;
    assert_eq!(location, format!("/v1/sandboxes/{}", made.sandbox.id));
    assert_eq!(made.sandbox.name, "ci run 42");
    assert_eq!(made.sandbox.seed, SandboxSeed::None);
    assert_eq!(made.owner_email, "owner@a.example");
    assert!(made.secret.starts_with("mk_"));
    let expected = chrono::Utc::now() + chrono::Duration::hours(24);
    assert!((made.sandbox.expires_at - expected).num_minutes().abs() <= 1);
    let sandbox = app.client_with_key(&made.secret);
    let secret_part = made.secret.rsplit('_').next().unwrap();
    assert!(
        !captured_logs().contains(secret_part),
        "the owner's key never reaches a log line"
    );

    // Pipelines and stages: the same shape, new ids.
    let shape = |pipelines: Vec<types::Pipeline>| {
        pipelines
            .into_iter()
            .map(|p| {
                let stages: Vec<(String, i64, i64, String)> = p
                    .stages
                    .into_iter()
                    .map(|s| (s.name, s.position, s.probability, s.kind))
                    .collect();
                (p.name, stages)
            })
            .collect::<Vec<_>>()
    };
    let theirs = parent
        .pipelines_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let ours = sandbox
        .pipelines_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_ne!(theirs[0].id, ours[0].id);
    assert_eq!(shape(theirs), shape(ours));

    let fields = sandbox
        .custom_fields_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        fields.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        ["tier"]
    );
    let labels = sandbox
        .association_labels_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0].name, "Decision maker");

    let endpoints = sandbox
        .webhook_endpoints_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(endpoints.len(), 1);
    let copy = &endpoints[0];
    assert_ne!(copy.id, endpoint.id);
    assert_eq!(copy.url, endpoint.url);
    assert_eq!(copy.event_types, endpoint.event_types);
    assert!(
        !copy.enabled,
        "a sandbox must not send to production receivers"
    );

    // No records: the parent's contact is not there, by list or by id.
    assert!(sandbox
        .contacts_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    sandbox
        .contacts_get()
        .id(secret_contact.id)
        .send()
        .await
        .refused(404, "not_found");
    // And what the sandbox makes stays there.
    let mine = crate::create(&sandbox, crate::person("Sandboxed", "s@a.example")).await;
    parent
        .contacts_get()
        .id(mine.id)
        .send()
        .await
        .refused(404, "not_found");

    // The owner is a user of the sandbox with the caller's email; the key is its only key.
    let users = sandbox.users_list().send().await.unwrap().into_inner().data;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].id, made.sandbox.owner_user_id);
    assert_eq!(users[0].email, "owner@a.example");
    let parents_users = parent.users_list().send().await.unwrap().into_inner().data;
    assert!(parents_users
        .iter()
        .all(|u| u.id != made.sandbox.owner_user_id));
}

#[tokio::test]
async fn the_demo_seed_fills_a_sandbox_with_linked_records_across_the_stages() {
    let app = TestApp::spawn().await;
    let (made, sandbox) = sandbox(
        &app,
        types::SandboxCreate {
            seed: Some(SandboxSeed::Demo),
            ..plain()
        },
    )
    .await;
    assert_eq!(made.sandbox.seed, SandboxSeed::Demo);
    let companies = sandbox
        .companies_list()
        .limit(200)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let contacts = sandbox
        .contacts_list()
        .limit(200)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let leads = sandbox
        .leads_list()
        .limit(200)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let activities = sandbox
        .activities_list()
        .limit(200)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let associations = sandbox
        .associations_list()
        .limit(200)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        (
            companies.len(),
            contacts.len(),
            leads.len(),
            activities.len(),
            associations.len()
        ),
        (10, 30, 15, 20, 10)
    );
    let stages: BTreeSet<Uuid> = leads.iter().map(|l| l.stage_id).collect();
    let pipeline = crate::sales(&sandbox).await;
    assert_eq!(
        stages.len(),
        pipeline.stages.len(),
        "the leads are spread over every stage of the first pipeline"
    );
    assert!(leads
        .iter()
        .all(|l| l.owner_id == Some(made.sandbox.owner_user_id)));
    assert!(contacts.iter().all(|c| c.company_id.is_some()));
    // The records are the sandbox's alone.
    assert!(app
        .client
        .contacts_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
}

#[tokio::test]
async fn the_parent_lists_gets_and_deletes_its_sandboxes_and_a_deleted_ones_key_stops_working() {
    let app = TestApp::spawn().await;
    let (first, first_client) = sandbox(&app, plain()).await;
    let (second, _) = sandbox(&app, plain()).await;
    let listed = app
        .client
        .sandboxes_list()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.data.iter().map(|s| s.id).collect::<Vec<_>>(),
        [first.sandbox.id, second.sandbox.id]
    );
    let got = app
        .client
        .sandboxes_get()
        .id(first.sandbox.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(got.expires_at, first.sandbox.expires_at);
    first_client
        .contacts_list()
        .send()
        .await
        .expect("the key works");

    // A delete under a stale `If-Match` changes nothing; under the current `ETag` it runs.
    let etag = app
        .client
        .sandboxes_get()
        .id(first.sandbox.id)
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    app.client
        .sandboxes_delete()
        .id(first.sandbox.id)
        .if_match("\"64b2a41c0e3d8\"")
        .send()
        .await
        .refused(412, "precondition_failed");
    first_client
        .contacts_list()
        .send()
        .await
        .expect("the key still works");
    let deleted = app
        .client
        .sandboxes_delete()
        .id(first.sandbox.id)
        .if_match(etag)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    first_client
        .contacts_list()
        .send()
        .await
        .refused(401, "unauthorized");
    app.client
        .sandboxes_get()
        .id(first.sandbox.id)
        .send()
        .await
        .refused(404, "not_found");
    app.client
        .sandboxes_delete()
        .id(first.sandbox.id)
        .send()
        .await
        .refused(404, "not_found");
    let left = app
        .client
        .sandboxes_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        left.iter().map(|s| s.id).collect::<Vec<_>>(),
        [second.sandbox.id]
    );

    // Another tenant can neither see nor delete them.
    let (other_id, other) = app.other_tenant().await;
    other
        .sandboxes_get()
        .id(second.sandbox.id)
        .send()
        .await
        .refused(404, "not_found");
    other
        .sandboxes_delete()
        .id(second.sandbox.id)
        .send()
        .await
        .refused(404, "not_found");
    assert!(other
        .sandboxes_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    // A tenant id that is no sandbox is not deletable as one, not even the caller's own.
    other
        .sandboxes_delete()
        .id(other_id)
        .send()
        .await
        .refused(404, "not_found");
    other
        .contacts_list()
        .send()
        .await
        .expect("the tenant is still there");
    app.client
        .sandboxes_get()
        .id(second.sandbox.id)
        .send()
        .await
        .expect("still there");
}

#[tokio::test]
async fn a_tenant_holds_at_most_ten_live_sandboxes() {
    let app = TestApp::spawn().await;
    let mut made = Vec::new();
    for _ in 0..10 {
        made.push(sandbox(&app, plain()).await.0);
    }
    let err = app
        .client
        .sandboxes_create()
        .body(plain())
        .send()
        .await
        .refused(409, "conflict");
    assert_detail(&err, "tenant", "sandbox_limit");
    app.client
        .sandboxes_delete()
        .id(made[0].sandbox.id)
        .send()
        .await
        .unwrap();
    sandbox(&app, plain()).await;
}

#[tokio::test]
async fn a_sandbox_cannot_make_sandboxes() {
    let app = TestApp::spawn().await;
    let (_, inner) = sandbox(&app, plain()).await;
    let err = inner
        .sandboxes_create()
        .body(plain())
        .send()
        .await
        .refused(422, "validation_failed");
    assert_detail(&err, "tenant", "sandbox_in_sandbox");
    assert!(inner
        .sandboxes_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
}

#[tokio::test]
async fn only_admin_credentials_manage_sandboxes() {
    let app = TestApp::spawn().await;
    let (made, _) = sandbox(&app, plain()).await;
    let secret = app
        .client
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "reader".parse().unwrap(),
            scopes: vec!["contacts:read".into(), "users:read".into()],
            expires_at: None,
            service: None,
            user_id: None,
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .secret;
    let reader = app.client_with_key(&secret);
    reader
        .sandboxes_create()
        .body(plain())
        .send()
        .await
        .refused(403, "forbidden");
    reader
        .sandboxes_list()
        .send()
        .await
        .refused(403, "forbidden");
    reader
        .sandboxes_get()
        .id(made.sandbox.id)
        .send()
        .await
        .refused(403, "forbidden");
    reader
        .sandboxes_delete()
        .id(made.sandbox.id)
        .send()
        .await
        .refused(403, "forbidden");
    assert_eq!(
        app.client
            .sandboxes_list()
            .send()
            .await
            .unwrap()
            .into_inner()
            .data
            .len(),
        1
    );
}

#[tokio::test]
async fn expires_in_is_a_minute_to_thirty_days() {
    let app = TestApp::spawn().await;
    for bad in [-1, 0, 59, 2_592_001] {
        let err = app
            .client
            .sandboxes_create()
            .body(types::SandboxCreate {
                expires_in: Some(bad),
                ..plain()
            })
            .send()
            .await
            .refused_as(bad, 422, "validation_failed");
        assert_detail(&err, "expires_in", "out_of_range");
    }
    assert!(app
        .client
        .sandboxes_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    for (good, hours) in [(60, 0), (2_592_000, 720)] {
        let (made, _) = sandbox(
            &app,
            types::SandboxCreate {
                expires_in: Some(good),
                ..plain()
            },
        )
        .await;
        let left = made.sandbox.expires_at - chrono::Utc::now();
        assert!((left.num_hours() - hours).abs() <= 1, "{good}: {left}");
    }
}

#[tokio::test]
async fn the_worker_purges_an_expired_sandbox_with_its_data_and_its_key() {
    let app = TestApp::spawn().await;
    let (expiring, expiring_client) = sandbox(
        &app,
        types::SandboxCreate {
            seed: Some(SandboxSeed::Demo),
            ..plain()
        },
    )
    .await;
    let (kept, kept_client) = sandbox(&app, plain()).await;
    expiring_client
        .contacts_list()
        .send()
        .await
        .expect("the key works");
    // A minute is the shortest lifetime: move this one's end into the past, as a minute
    // passing would.
    sqlx::query("UPDATE sandboxes SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(expiring.sandbox.id)
        .execute(&app.admin)
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let gone = app
            .client
            .sandboxes_get()
            .id(expiring.sandbox.id)
            .send()
            .await
            .is_err();
        if gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never purged the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    expiring_client
        .contacts_list()
        .send()
        .await
        .refused(401, "unauthorized");
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM tenants WHERE id = $1) \
              + (SELECT count(*) FROM contacts WHERE tenant_id = $1) \
              + (SELECT count(*) FROM users WHERE tenant_id = $1) \
              + (SELECT count(*) FROM api_keys WHERE tenant_id = $1)",
    )
    .bind(expiring.sandbox.id)
    .fetch_one(&app.admin)
    .await
    .unwrap();
    assert_eq!(rows, 0, "every row of the sandbox is gone");
    let (http, url) = app.raw("/metrics");
    let metrics = http.get(url).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("\nmomentum_sandboxes_purged_total 1\n"),
        "{metrics}"
    );
    kept_client
        .contacts_list()
        .send()
        .await
        .expect("the live one stays");
    app.client
        .sandboxes_get()
        .id(kept.sandbox.id)
        .send()
        .await
        .expect("still listed");
}
