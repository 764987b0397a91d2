//! An endpoint's life: disabled by a 410 or by failing too long, recovered, its secret
//! rotated with an overlap, a delivery sent again by hand, and all of it the tenant's own.

use std::time::Duration;

use momentum_contract_tests::receiver::Receiver;
use momentum_contract_tests::{test_webhooks, TestApp};
use momentum_sdk::patch::WebhookEndpointPatch;
use momentum_sdk::types::{self, EventType};
use momentum_sdk::webhooks::Event;
use momentum_server::webhooks::WebhookSettings;

use crate::{create, eventually, person, Refused, ANY_CODE};

use super::{attempts, deliveries, endpoint, rotate_secret, send_test, verified, WITHIN};

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
    let Event::WebhookEndpointDisabled(disabled) = event.event else {
        panic!("{event:?}");
    };
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
    assert_eq!(old.event, new.event);
    let Event::WebhookTest(test) = new.event else {
        panic!("{new:?}");
    };
    assert_eq!(test.endpoint_id, hook.id);
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
