//! Private destinations: refused at creation unless allowed, without naming the address a
//! host resolves to, and refused again by the worker at delivery time.

use momentum_contract_tests::receiver::Receiver;
use momentum_contract_tests::{test_webhooks, TestApp};
use momentum_sdk::patch::WebhookEndpointPatch;
use momentum_sdk::types;
use momentum_server::startup::IdentitySettings;
use momentum_server::webhooks::WebhookSettings;

use crate::{eventually, Refused, ANY_CODE};

use super::{attempts, deliveries, endpoint, send_test, WITHIN};

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
                filters: vec![],
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
            filters: vec![],
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
