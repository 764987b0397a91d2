use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use momentum_contract_tests::receiver::{free_port, Receiver, Reply};
use momentum_contract_tests::{test_webhooks, TestApp};
use momentum_sdk::patch::{ContactPatch, WebhookEndpointPatch};
use momentum_sdk::types::{self, EventType};
use momentum_sdk::Client;
use momentum_server::startup::IdentitySettings;
use momentum_server::webhooks::WebhookSettings;
use uuid::Uuid;

use crate::{create, eventually, person, Refused, ANY_CODE};

const WITHIN: Duration = Duration::from_secs(20);

/// Creates an endpoint sending `event_types` (all, when empty) to `url`; returns it with
/// its secret.
pub(crate) async fn endpoint(
    client: &Client,
    url: &str,
    event_types: Vec<EventType>,
) -> types::WebhookEndpointWithSecret {
    client
        .webhook_endpoints_create()
        .body(types::WebhookEndpointCreate {
            url: url.parse().unwrap(),
            description: Some("tests".parse().unwrap()),
            event_types,
            enabled: None,
        })
        .send()
        .await
        .expect("create an endpoint")
        .into_inner()
        .data
}

/// The SDK type's view of a JSON value: equal resources compare equal whatever the
/// order of keys or the spelling of absent fields.
fn normalise<T: serde::de::DeserializeOwned + serde::Serialize>(
    value: serde_json::Value,
) -> serde_json::Value {
    serde_json::to_value(serde_json::from_value::<T>(value).expect("decodes as the SDK type"))
        .unwrap()
}

fn as_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

/// Verifies a received request with the independent `standardwebhooks` crate and with the
/// SDK's helper; returns the SDK's view of it.
fn verified(
    secret: &str,
    r: &momentum_contract_tests::receiver::Received,
) -> momentum_sdk::webhooks::WebhookEvent {
    standardwebhooks::Webhook::new(secret)
        .expect("a whsec_ secret")
        .verify(&r.body, &r.headers)
        .expect("the standardwebhooks crate verifies the signature");
    momentum_sdk::webhooks::verify(secret, &r.headers, &r.body).expect("the SDK verifies it")
}

/// Queues a test delivery to `endpoint`; returns it.
pub(crate) async fn send_test(client: &Client, endpoint: Uuid) -> types::WebhookDelivery {
    client
        .webhook_endpoints_test()
        .id(endpoint.to_string())
        .send()
        .await
        .expect("queue a test delivery")
        .into_inner()
        .data
}

/// Rotates `endpoint`'s signing secret; returns the endpoint with its new secret.
pub(crate) async fn rotate_secret(
    client: &Client,
    endpoint: Uuid,
) -> types::WebhookEndpointWithSecret {
    client
        .webhook_endpoints_rotate_secret()
        .id(endpoint.to_string())
        .send()
        .await
        .expect("rotate the secret")
        .into_inner()
        .data
}

/// The attempts at one delivery, oldest first.
pub(crate) async fn attempts(
    client: &Client,
    endpoint: Uuid,
    delivery: Uuid,
) -> Vec<types::WebhookAttempt> {
    client
        .webhook_attempts_list()
        .id(endpoint.to_string())
        .delivery_id(delivery.to_string())
        .send()
        .await
        .expect("list attempts")
        .into_inner()
        .data
}

async fn deliveries(
    client: &Client,
    endpoint: Uuid,
    status: Option<types::DeliveryStatus>,
) -> Vec<types::WebhookDelivery> {
    let mut req = client
        .webhook_deliveries_list()
        .id(endpoint.to_string())
        .limit(200);
    if let Some(status) = status {
        req = req.status(status);
    }
    req.send().await.expect("list deliveries").into_inner().data
}

#[tokio::test]
async fn each_contact_change_delivers_a_signed_event_carrying_the_resource_as_the_api_returns_it() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    let hook = endpoint(
        c,
        &receiver.url,
        vec![
            EventType::ContactCreated,
            EventType::ContactUpdated,
            EventType::ContactDeleted,
        ],
    )
    .await;
    assert!(hook.secret.starts_with("whsec_"));
    assert!(hook.enabled);

    let created = create(c, person("Ada", "ada@example.com")).await;
    let updated = c
        .contacts_update()
        .id(created.id.to_string())
        .body(ContactPatch {
            title: Some(Some("Countess".parse().unwrap())),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    c.contacts_delete()
        .id(created.id.to_string())
        .send()
        .await
        .unwrap();
    let trashed = c
        .contacts_get()
        .id(created.id.to_string())
        .include_deleted(true)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    // Not in the endpoint's event types: never sent to it.
    crate::create_company(c, "Analytical Engines").await;

    let received = receiver.wait_for(3, WITHIN).await;
    let mut by_type: HashMap<String, momentum_sdk::webhooks::WebhookEvent> = HashMap::new();
    for r in &received {
        assert_eq!(r.header("content-type"), "application/json");
        let event = verified(&hook.secret, r);
        by_type.insert(event.event_type.clone(), event);
    }
    assert_eq!(
        by_type.len(),
        3,
        "one request per event: {:?}",
        by_type.keys()
    );
    let data = |t: &str| normalise::<types::Contact>(by_type[t].data.clone());
    assert_eq!(data("contact.created"), as_json(&created));
    assert_eq!(data("contact.updated"), as_json(&updated));
    assert_eq!(
        data("contact.deleted"),
        as_json(&trashed),
        "the contact as it is in the trash"
    );
    assert!(trashed.deleted_at.is_some());

    // `webhook-id` is the event's id, as `GET /v1/events` lists it.
    let events = c.events_list().send().await.unwrap().into_inner().data;
    for event in by_type.values() {
        let listed = events
            .iter()
            .find(|e| e.id.to_string() == event.id)
            .expect("the delivered event is listed");
        assert_eq!(listed.type_, event.event_type);
    }
    // The receiver sees a request before the worker records it.
    let delivered = eventually(WITHIN, "three recorded deliveries", || async {
        let d = deliveries(c, hook.id, Some(types::DeliveryStatus::Delivered)).await;
        (d.len() == 3).then_some(d)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        3,
        "the company event went elsewhere"
    );
    assert_eq!(deliveries(c, hook.id, None).await.len(), 3);
    assert!(delivered
        .iter()
        .all(|d| d.attempt_count == 1 && d.last_status_code == Some(204)));
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_retries_on_the_schedule_and_then_the_event() {
    let schedule: Vec<Duration> = [300, 300, 300, 300, 300, 300, 300, 300, 300, 300]
        .into_iter()
        .map(Duration::from_millis)
        .collect();
    let app = TestApp::spawn_with_webhooks(WebhookSettings {
        retry_schedule: schedule,
        ..test_webhooks()
    })
    .await;
    let c = &app.client;
    let port = free_port();
    let hook = endpoint(c, &format!("http://127.0.0.1:{port}/hook"), vec![]).await;
    let contact = create(c, person("Grace", "grace@example.com")).await;

    // Nothing listens yet: the first attempts cannot connect.
    let delivery = eventually(WITHIN, "two failed attempts", || async {
        let d = deliveries(c, hook.id, None).await;
        d.into_iter().find(|d| d.attempt_count >= 2)
    })
    .await;
    assert_eq!(delivery.status, "pending");
    assert!(delivery.next_attempt_at.is_some());
    assert!(delivery
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("connect"));
    // The first failure starts the endpoint's failure clock; later ones leave the
    // endpoint as it is: the clock keeps its start, and the version (what If-Match
    // compares) holds still while deliveries fail.
    let get_hook = || async {
        c.webhook_endpoints_get()
            .id(hook.id.to_string())
            .send()
            .await
            .unwrap()
            .into_inner()
            .data
    };
    let failing = get_hook().await;
    assert!(failing.failing_since.is_some());
    eventually(WITHIN, "a third failed attempt", || async {
        let d = deliveries(c, hook.id, None).await;
        d.into_iter().find(|d| d.attempt_count >= 3)
    })
    .await;
    let still = get_hook().await;
    assert_eq!(
        (still.failing_since, still.updated_at),
        (failing.failing_since, failing.updated_at)
    );

    // Up, but failing once more with a 500, then accepting.
    let receiver = Receiver::start_on(port).await;
    receiver.script([500]);
    let received = receiver.wait_for(2, WITHIN).await;
    let ids: HashSet<String> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "every retry carries the same webhook-id");
    let event = verified(&hook.secret, &received[1]);
    assert_eq!(event.id, delivery.event_id.to_string());
    assert_eq!(normalise::<types::Contact>(event.data), as_json(&contact));

    let done = eventually(WITHIN, "the delivery to be delivered", || async {
        let d = c
            .webhook_deliveries_get()
            .id(hook.id.to_string())
            .delivery_id(delivery.id.to_string())
            .send()
            .await
            .unwrap()
            .into_inner()
            .data;
        (d.status == "delivered").then_some(d)
    })
    .await;
    let tries = attempts(c, hook.id, delivery.id).await;
    assert_eq!(tries.len() as i32, done.attempt_count);
    let codes: Vec<Option<i32>> = tries.iter().map(|a| a.status_code).collect();
    let n = codes.len();
    assert!(n >= 4, "{codes:?}");
    assert!(codes[..n - 2].iter().all(Option::is_none), "{codes:?}");
    assert_eq!(&codes[n - 2..], [Some(500), Some(204)]);
    assert!(tries[0]
        .error
        .as_deref()
        .unwrap_or_default()
        .contains("could not connect"));
    assert_eq!(tries[n - 2].response_body.as_deref(), Some("answered 500"));
    assert!(tries.iter().all(|a| a.trigger == "scheduled"));
    // The waits follow the schedule (300 ms, less at most 10% jitter).
    for pair in tries.windows(2) {
        let gap = pair[1].created_at - pair[0].created_at;
        assert!(gap >= chrono::Duration::milliseconds(270), "{gap}");
    }
}

#[tokio::test]
async fn retry_after_from_the_receiver_pushes_the_next_attempt_back() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    receiver.script([Reply {
        status: 503,
        retry_after: Some(2),
    }]);
    let hook = endpoint(c, &receiver.url, vec![]).await;
    send_test(c, hook.id).await;
    receiver.wait_for(2, WITHIN).await;
    let delivery = deliveries(c, hook.id, None).await.remove(0);
    // The receiver sees a request before the worker records its attempt.
    let tries = eventually(WITHIN, "two recorded attempts", || async {
        let tries = attempts(c, hook.id, delivery.id).await;
        (tries.len() >= 2).then_some(tries)
    })
    .await;
    assert_eq!(tries[0].status_code, Some(503));
    let gap = tries[1].created_at - tries[0].created_at;
    // The schedule says 100 ms; Retry-After says 2 s.
    assert!(gap >= chrono::Duration::milliseconds(1900), "{gap}");
}

#[tokio::test]
async fn a_rolled_back_change_emits_nothing() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    let hook = endpoint(c, &receiver.url, vec![]).await;
    create(c, person("Ada", "dup@example.com")).await;
    c.contacts_create()
        .body(person("Bob", "DUP@example.com"))
        .send()
        .await
        .refused(409, ANY_CODE);
    // The test event is queued after the refused create: once it has arrived, anything
    // the refused create had queued would have been claimed too.
    send_test(c, hook.id).await;
    let received = receiver
        .wait_until(WITHIN, "the test event", |r| {
            r.iter().any(|r| r.json()["type"] == "webhook.test")
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let types: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types.iter().filter(|t| *t == "contact.created").count(),
        1,
        "{types:?} (after {} requests)",
        received.len()
    );
    let created = c
        .events_list()
        .type_(EventType::ContactCreated)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(created.len(), 1);
}

#[tokio::test]
async fn two_workers_deliver_a_thousand_events_and_no_event_twice() {
    let mut app = TestApp::spawn_with_webhooks(WebhookSettings {
        concurrency: 16,
        ..test_webhooks()
    })
    .await;
    let second = app
        .another_instance_with(
            IdentitySettings::default(),
            WebhookSettings {
                concurrency: 16,
                ..test_webhooks()
            },
        )
        .await;
    let receiver = Receiver::start().await;
    let hook = endpoint(&app.client, &receiver.url, vec![EventType::ContactCreated]).await;
    let c = &app.client;
    let made: Vec<Uuid> = futures::stream::iter(0..1000)
        .map(|i| async move {
            create(c, person("Load", &format!("load{i}@example.com")))
                .await
                .id
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(made.len(), 1000);
    receiver.wait_for(1000, Duration::from_secs(120)).await;
    // Time for any duplicate to arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = receiver.received();
    let ids: HashSet<String> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1000, "every event arrived");
    assert_eq!(received.len(), 1000, "and none twice");
    let contacts: HashSet<String> = received
        .iter()
        .map(|r| r.json()["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(contacts, made.iter().map(Uuid::to_string).collect());
    // Both workers took part.
    let sent_by = |base: String| async move {
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with("momentum_webhook_attempts_total{outcome=\"delivered\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (first, other) = (sent_by(app.base_url.clone()).await, sent_by(second).await);
    assert_eq!(first + other, 1000, "{first} + {other}");
    assert!(first > 0 && other > 0, "{first} + {other}");
    assert!(deliveries(c, hook.id, Some(types::DeliveryStatus::Pending))
        .await
        .is_empty());
}

#[tokio::test]
async fn private_destinations_are_refused_at_creation_unless_allowed() {
    let app = TestApp::spawn_with_webhooks(WebhookSettings {
        allow_private: false,
        ..test_webhooks()
    })
    .await;
    let c = &app.client;
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "https://10.0.0.1/hook",
        "http://192.168.1.20/hook",
    ] {
        let result = c
            .webhook_endpoints_create()
            .body(types::WebhookEndpointCreate {
                url: url.parse().unwrap(),
                description: None,
                event_types: vec![],
                enabled: None,
            })
            .send()
            .await;
        let body = result.refused_as(url, 422, ANY_CODE);
        assert_eq!(body.error.details[0].field, "url", "{url}");
    }
    c.webhook_endpoints_create()
        .body(types::WebhookEndpointCreate {
            url: "ftp://example.com/hook".parse().unwrap(),
            description: None,
            event_types: vec![],
            enabled: None,
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    // A public address is fine (no request is made at creation).
    let ok = endpoint(c, "https://93.184.216.34/hook", vec![]).await;
    let body = c
        .webhook_endpoints_update()
        .id(ok.id.to_string())
        .body(WebhookEndpointPatch {
            url: Some("http://127.0.0.2/hook".parse().unwrap()),
            ..Default::default()
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(body.error.details[0].field, "url");
}

#[tokio::test]
async fn a_refused_url_does_not_name_the_address_its_host_resolves_to() {
    let app = TestApp::spawn_with_webhooks(WebhookSettings {
        allow_private: false,
        ..test_webhooks()
    })
    .await;
    // Hosts whose address the tenant did not write: numeric forms the URL parser turns
    // into 127.0.0.1 / 10.0.0.1, and this machine's own name, which resolves to one of
    // its (non-public) addresses here.
    let mut hosts = vec![
        "2130706433".to_owned(),
        "0x7f.1".to_owned(),
        "0x0a000001".to_owned(),
        "[::ffff:7f00:1]".to_owned(),
        "localhost".to_owned(),
    ];
    let mut addresses: Vec<String> = ["127.0.0.1", "10.0.0.1", "7f00:1", "::1"]
        .map(String::from)
        .to_vec();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let hostname = hostname.trim();
    if let Ok(resolved) = tokio::net::lookup_host((hostname, 80)).await {
        let resolved: Vec<_> = resolved.map(|a| a.ip()).collect();
        if !resolved.is_empty()
            && resolved
                .iter()
                .all(|ip| momentum_server::webhooks::guard::is_forbidden(*ip))
        {
            hosts.push(hostname.to_owned());
            addresses.extend(resolved.iter().map(ToString::to_string));
        }
    }
    let (http, url) = app.raw("/v1/webhook-endpoints");
    for host in &hosts {
        let resp = http
            .post(&url)
            .bearer_auth(&app.api_key)
            .json(&serde_json::json!({ "url": format!("http://{host}/hook") }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422, "{host}");
        let text = resp.text().await.unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            body["error"]["details"][0]["field"], "url",
            "{host}: {text}"
        );
        for address in &addresses {
            assert!(
                !text.contains(address.as_str()),
                "the answer for {host} names the address {address}: {text}"
            );
        }
        let message = body["error"]["details"][0]["message"].as_str().unwrap();
        assert!(message.contains("non-public"), "{host}: {message}");
    }
}

#[tokio::test]
async fn the_worker_refuses_private_addresses_at_delivery_time_too() {
    // The API server allows private addresses and sends nothing; the worker of the
    // second instance does not allow them.
    let mut app = TestApp::spawn_with_webhooks(WebhookSettings {
        worker: false,
        ..test_webhooks()
    })
    .await;
    app.another_instance_with(
        IdentitySettings::default(),
        WebhookSettings {
            allow_private: false,
            retry_schedule: vec![],
            ..test_webhooks()
        },
    )
    .await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    let port = receiver
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/hook")
        .to_owned();
    let literal = endpoint(c, &receiver.url, vec![]).await;
    let named = endpoint(c, &format!("http://localhost:{port}/hook"), vec![]).await;
    for hook in [&literal, &named] {
        send_test(c, hook.id).await;
        let failed = eventually(WITHIN, "the refused delivery", || async {
            deliveries(c, hook.id, Some(types::DeliveryStatus::Failed))
                .await
                .pop()
        })
        .await;
        let tries = attempts(c, hook.id, failed.id).await;
        assert_eq!(tries.len(), 1);
        assert_eq!(tries[0].status_code, None);
        let error = tries[0].error.clone().unwrap_or_default();
        assert!(error.contains("private"), "{error}");
        assert_eq!(tries[0].trigger, "manual");
    }
    assert!(
        receiver.received().is_empty(),
        "no request reached the receiver"
    );
}

#[tokio::test]
async fn a_410_disables_the_endpoint_visibly_and_recover_resends_after_it_is_enabled() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let gone = Receiver::start().await;
    gone.script([410]);
    let watcher = Receiver::start().await;
    let hook = endpoint(c, &gone.url, vec![EventType::ContactCreated]).await;
    let watch = endpoint(c, &watcher.url, vec![EventType::WebhookEndpointDisabled]).await;
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    create(c, person("Ada", "ada@example.com")).await;

    let notice = watcher.wait_for(1, WITHIN).await.remove(0);
    let event = verified(&watch.secret, &notice);
    assert_eq!(event.event_type, "webhook_endpoint.disabled");
    let disabled: types::WebhookEndpoint = event.data_as().unwrap();
    assert_eq!(disabled.id, hook.id);
    assert_eq!(disabled.disabled_reason.as_deref(), Some("gone"));
    let now = c
        .webhook_endpoints_get()
        .id(hook.id.to_string())
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(!now.enabled);
    assert_eq!(now.disabled_reason.as_deref(), Some("gone"));
    assert!(now.disabled_at.is_some());
    let failed = deliveries(c, hook.id, Some(types::DeliveryStatus::Failed)).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_status_code, Some(410));
    assert_eq!(
        attempts(c, hook.id, failed[0].id).await.len(),
        1,
        "410 is not retried"
    );

    // A disabled endpoint is sent nothing; retry and recover say why.
    create(c, person("Bob", "bob@example.com")).await;
    c.webhook_endpoints_recover()
        .id(hook.id.to_string())
        .body(types::WebhookRecover {
            since: started,
            until: None,
        })
        .send()
        .await
        .refused(409, ANY_CODE);
    c.webhook_endpoints_update()
        .id(hook.id.to_string())
        .body(WebhookEndpointPatch {
            enabled: Some(true),
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    let queued = c
        .webhook_endpoints_recover()
        .id(hook.id.to_string())
        .body(types::WebhookRecover {
            since: started,
            until: None,
        })
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status().as_u16(), 202);
    assert_eq!(queued.into_inner().data.queued, 1);
    let resent = gone.wait_for(2, WITHIN).await;
    assert_eq!(
        resent[1].header("webhook-id"),
        resent[0].header("webhook-id")
    );
    let delivered = eventually(WITHIN, "the recovered delivery", || async {
        deliveries(c, hook.id, Some(types::DeliveryStatus::Delivered))
            .await
            .pop()
    })
    .await;
    let tries = attempts(c, hook.id, delivered.id).await;
    assert_eq!(
        tries.iter().map(|a| a.trigger.as_str()).collect::<Vec<_>>(),
        ["scheduled", "manual"]
    );
    assert_eq!(
        gone.received().len(),
        2,
        "Bob's contact was created while disabled: not sent"
    );
}

#[tokio::test]
async fn an_endpoint_failing_without_a_success_for_too_long_is_disabled() {
    let app = TestApp::spawn_with_webhooks(WebhookSettings {
        disable_after: Duration::from_millis(800),
        retry_schedule: vec![Duration::from_millis(300); 20],
        ..test_webhooks()
    })
    .await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    receiver.script([500; 50]);
    let hook = endpoint(c, &receiver.url, vec![]).await;
    create(c, person("Ada", "ada@example.com")).await;
    let disabled = eventually(WITHIN, "the endpoint to be disabled", || async {
        let e = c
            .webhook_endpoints_get()
            .id(hook.id.to_string())
            .send()
            .await
            .unwrap()
            .into_inner()
            .data;
        (!e.enabled).then_some(e)
    })
    .await;
    assert_eq!(disabled.disabled_reason.as_deref(), Some("failing"));
    assert!(disabled.failing_since.is_some());
    assert!(disabled.last_success_at.is_none());
    let tries = receiver.received().len();
    assert!((3..20).contains(&tries), "{tries} attempts");
    let events = c
        .events_list()
        .type_(EventType::WebhookEndpointDisabled)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["disabled_reason"], "failing");
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_until_the_overlap_ends() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    let hook = endpoint(c, &receiver.url, vec![]).await;
    let rotated = rotate_secret(c, hook.id).await;
    assert_ne!(rotated.secret, hook.secret);
    assert!(
        rotated.previous_secret_expires_at.unwrap()
            > chrono::Utc::now() + chrono::Duration::hours(23)
    );
    let delivery = c
        .webhook_endpoints_test()
        .id(hook.id.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(delivery.status().as_u16(), 202);
    let r = receiver.wait_for(1, WITHIN).await.remove(0);
    assert_eq!(r.header("webhook-signature").split(' ').count(), 2);
    let old = verified(&hook.secret, &r);
    let new = verified(&rotated.secret, &r);
    assert_eq!(old.event_type, "webhook.test");
    assert_eq!(new.data["endpoint_id"], hook.id.to_string());
    // The list never shows a secret.
    let listed = c
        .webhook_endpoints_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains(&rotated.secret) && !text.contains(&hook.secret));
    let logs = momentum_contract_tests::captured_logs();
    assert!(!logs.contains(&rotated.secret[6..]) && !logs.contains(&hook.secret[6..]));
}

#[tokio::test]
async fn a_delivered_delivery_can_be_sent_again_by_hand_with_the_same_webhook_id() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    let hook = endpoint(c, &receiver.url, vec![]).await;
    let queued = send_test(c, hook.id).await;
    assert_eq!(queued.status, "pending");
    assert_eq!(queued.event_type, "webhook.test");
    receiver.wait_for(1, WITHIN).await;
    eventually(WITHIN, "delivered", || async {
        let d = deliveries(c, hook.id, Some(types::DeliveryStatus::Delivered)).await;
        (!d.is_empty()).then_some(())
    })
    .await;
    assert!(deliveries(c, hook.id, Some(types::DeliveryStatus::Pending))
        .await
        .is_empty());
    c.webhook_deliveries_retry()
        .id(hook.id.to_string())
        .delivery_id(queued.id.to_string())
        .send()
        .await
        .unwrap();
    let both = receiver.wait_for(2, WITHIN).await;
    assert_eq!(both[0].header("webhook-id"), both[1].header("webhook-id"));
    assert_eq!(both[0].body, both[1].body, "the same bytes, signed afresh");
}

#[tokio::test]
async fn endpoints_deliveries_and_events_are_the_tenants_own() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    let hook = endpoint(c, &receiver.url, vec![]).await;
    let delivery = send_test(c, hook.id).await;
    let (_, other) = app.other_tenant().await;
    other
        .webhook_endpoints_get()
        .id(hook.id.to_string())
        .send()
        .await
        .refused(404, ANY_CODE);
    other
        .webhook_deliveries_list()
        .id(hook.id.to_string())
        .send()
        .await
        .refused(404, ANY_CODE);
    other
        .webhook_deliveries_retry()
        .id(hook.id.to_string())
        .delivery_id(delivery.id.to_string())
        .send()
        .await
        .refused(404, ANY_CODE);
    other
        .events_get()
        .id(delivery.event_id.to_string())
        .send()
        .await
        .refused(404, ANY_CODE);
    assert!(other
        .webhook_endpoints_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    // Deleting the endpoint takes its deliveries along.
    c.webhook_endpoints_delete()
        .id(hook.id.to_string())
        .send()
        .await
        .unwrap();
    c.webhook_deliveries_list()
        .id(hook.id.to_string())
        .send()
        .await
        .refused(404, ANY_CODE);
}

#[tokio::test]
async fn every_resource_s_changes_arrive_signed_with_the_data_the_event_log_holds() {
    use momentum_sdk::patch::{ActivityPatch, CompanyPatch, LeadPatch, PipelinePatch};

    let app = TestApp::spawn().await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    let hook = endpoint(c, &receiver.url, vec![]).await;

    let company = crate::create_company(c, "Babbage & Co").await;
    c.companies_update()
        .id(company.id.to_string())
        .body(CompanyPatch {
            employee_count: Some(Some(12)),
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    let pipeline = c
        .pipelines_create()
        .body(types::PipelineCreate {
            name: "Partners".parse().unwrap(),
            stages: vec![types::NewStage {
                name: "Intro".parse().unwrap(),
                probability: None,
                kind: None,
            }],
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    c.pipelines_update()
        .id(pipeline.id.to_string())
        .body(PipelinePatch {
            name: Some("Partnerships".parse().unwrap()),
        })
        .send()
        .await
        .unwrap();
    let sales = crate::sales(c).await;
    let lead = crate::create_lead(c, crate::lead("Engine order", sales.id)).await;
    c.leads_update()
        .id(lead.id.to_string())
        .body(LeadPatch {
            stage_id: Some(crate::stage(&sales, "Won")),
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    let activity = c
        .activities_create()
        .body(types::ActivityCreate {
            subject: Some("Call Ada".parse().unwrap()),
            lead_id: Some(lead.id),
            ..crate::activities::activity(types::ActivityKind::Call)
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    c.activities_update()
        .id(activity.id.to_string())
        .body(ActivityPatch {
            body: Some(Some("Left a message".parse().unwrap())),
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    c.activities_delete()
        .id(activity.id.to_string())
        .send()
        .await
        .unwrap();
    c.leads_delete()
        .id(lead.id.to_string())
        .send()
        .await
        .unwrap();
    c.pipelines_delete()
        .id(pipeline.id.to_string())
        .send()
        .await
        .unwrap();
    c.companies_delete()
        .id(company.id.to_string())
        .send()
        .await
        .unwrap();

    let events = c
        .events_list()
        .limit(200)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let kinds: HashSet<&str> = events.iter().map(|e| e.type_.as_str()).collect();
    for kind in [
        "company.created",
        "company.updated",
        "company.deleted",
        "pipeline.created",
        "pipeline.updated",
        "pipeline.deleted",
        "lead.created",
        "lead.updated",
        "lead.stage_changed",
        "lead.won",
        "lead.deleted",
        "activity.created",
        "activity.updated",
        "activity.deleted",
    ] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    let received = receiver.wait_for(events.len(), WITHIN).await;
    assert_eq!(received.len(), events.len());
    for r in &received {
        let delivered = verified(&hook.secret, r);
        let logged = events
            .iter()
            .find(|e| e.id.to_string() == delivered.id)
            .expect("every delivery is a logged event");
        assert_eq!(delivered.event_type, logged.type_);
        // The body's `data` is the JSON value the event log (and so the API) holds.
        assert_eq!(delivered.data, serde_json::to_value(&logged.data).unwrap());
    }
}
