//! Deliveries: every change arrives signed with the resource as the API returns it, a
//! receiver that is down gets retries on the schedule, a rolled-back change sends nothing,
//! and two workers never send an event twice.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use momentum_contract_tests::receiver::{free_port, Receiver, Reply};
use momentum_contract_tests::{test_webhooks, TestApp};
use momentum_sdk::patch::ContactPatch;
use momentum_sdk::types::{self, EventType};
use momentum_sdk::webhooks::Event;
use momentum_server::startup::IdentitySettings;
use momentum_server::webhooks::WebhookSettings;
use uuid::Uuid;

use crate::{create, eventually, person, Refused, ANY_CODE};

use super::{as_json, attempts, deliveries, endpoint, send_test, verified, WITHIN};

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
        by_type.insert(event.event_type().to_owned(), event);
    }
    assert_eq!(
        by_type.len(),
        3,
        "one request per event: {:?}",
        by_type.keys()
    );
    // Each decodes as its variant of the catalogue, with the contact typed.
    let data = |t: &str| match &by_type[t].event {
        Event::ContactCreated(c) | Event::ContactUpdated(c) | Event::ContactDeleted(c) => {
            as_json(c)
        }
        other => panic!("{t}: {other:?}"),
    };
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
        assert_eq!(listed.type_, event.event_type());
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
    let Event::ContactCreated(data) = &event.event else {
        panic!("{event:?}");
    };
    assert_eq!(as_json(data), as_json(&contact));

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
            default: None,
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
            default: None,
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
        assert_eq!(delivered.event_type(), logged.type_);
        assert!(
            !matches!(delivered.event, Event::Unknown { .. }),
            "{} is in the SDK's catalogue",
            logged.type_
        );
        // The body's `data` is the value the event log (and so the API) holds.
        let logged = Event::from_parts(logged.type_.clone(), logged.data.clone().into()).unwrap();
        assert_eq!(delivered.event, logged);
    }
}

#[tokio::test]
async fn an_endpoint_deleted_while_its_delivery_is_in_flight_leaves_the_worker_nothing_it_cannot_record(
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let c = &app.client;
    // A receiver that holds its answer until the endpoint is gone.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hook = endpoint(c, &url, vec![EventType::ContactCreated]).await;
    create(c, person("Held", "held@example.com")).await;
    let (mut socket, _) = tokio::time::timeout(WITHIN, listener.accept())
        .await
        .expect("the delivery arrives")
        .unwrap();
    let mut request = vec![0u8; 64 * 1024];
    let _ = socket.read(&mut request).await.unwrap();
    let delivery = deliveries(c, hook.id, None).await;
    let [delivery] = delivery.as_slice() else {
        panic!("one delivery: {delivery:?}");
    };
    c.webhook_endpoints_delete()
        .id(hook.id.to_string())
        .send()
        .await
        .expect("deleted while its delivery is in flight");
    socket
        .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    drop(socket);
    // The worker is done with it once nothing is in flight.
    let in_flight = || async {
        let text = reqwest::get(format!("{}/metrics", app.base_url))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .any(|l| l == "momentum_webhook_deliveries_in_flight 0")
            .then_some(())
    };
    crate::eventually(WITHIN, "the delivery to finish", in_flight).await;
    let logs = momentum_contract_tests::captured_logs();
    let id = delivery.id.to_string();
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("could not record a webhook attempt") && l.contains(&id)),
        "the worker failed to record the attempt of a deleted endpoint's delivery"
    );
}
