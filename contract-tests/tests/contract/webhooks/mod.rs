//! Webhooks: signed deliveries of every change, retries and the worker (`delivery`), the
//! destinations refused as private (`destinations`), an endpoint's health, secrets and
//! redeliveries, and whose endpoints they are (`endpoints`). The helpers they share are
//! here; `security` uses some of them too.

use std::time::Duration;

use momentum_sdk::types::{self, EventType};
use momentum_sdk::Client;
use uuid::Uuid;

mod changes;
mod delivery;
mod destinations;
mod endpoints;

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
            filters: vec![],
        })
        .send()
        .await
        .expect("create an endpoint")
        .into_inner()
        .data
}

/// A value as the SDK serialises it: equal resources compare equal whatever the order
/// of keys or the spelling of absent fields.
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
