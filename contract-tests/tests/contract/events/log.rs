//! The log itself: nothing for a change rolled back, a tenant's own events only, and the
//! admin scope to read them.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::ContactPatch;
use momentum_sdk::types::{self, EventType};
use serde_json::Value;

use crate::{create, person, Refused, ANY_CODE};

use super::events;

#[tokio::test]
async fn a_change_rolled_back_leaves_no_event() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ann = create(c, person("Ann", "ann@acme.example")).await;
    c.contacts_create()
        .body(person("Annie", "ANN@acme.example"))
        .send()
        .await
        .refused(409, ANY_CODE);
    let bob = create(c, person("Bob", "bob@acme.example")).await;
    c.contacts_update()
        .id(bob.id)
        .body(ContactPatch {
            email: Some(Some("ann@acme.example".into())),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);

    let created = events(c, Some(EventType::ContactCreated)).await;
    assert_eq!(
        created
            .iter()
            .map(|e| e.data["id"].clone())
            .collect::<Vec<_>>(),
        [
            Value::String(ann.id.to_string()),
            Value::String(bob.id.to_string())
        ]
    );
    assert_eq!(events(c, None).await.len(), 2, "no update either");
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_events() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    create(a, person("Ann", "ann@acme.example")).await;
    let (_, b) = app.other_tenant().await;
    assert!(events(&b, None).await.is_empty());
    let a_event = events(a, None).await.remove(0);
    b.events_get()
        .id(a_event.id)
        .send()
        .await
        .refused(404, ANY_CODE);

    create(&b, person("Bea", "bea@b.example")).await;
    let b_events = events(&b, None).await;
    assert_eq!(b_events.len(), 1);
    assert_eq!(b_events[0].data["first_name"], "Bea");
    assert_eq!(events(a, None).await, [a_event]);
}

#[tokio::test]
async fn the_event_log_needs_the_admin_scope() {
    let app = TestApp::spawn().await;
    create(&app.client, person("Ann", "ann@acme.example")).await;
    let event = events(&app.client, None).await.remove(0);
    let key = app
        .client
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "no admin".parse().unwrap(),
            scopes: vec!["contacts:read".into(), "contacts:write".into()],
            expires_at: None,
            service: None,
            user_id: None,
        })
        .send()
        .await
        .expect("create a key")
        .into_inner()
        .data;
    let limited = app.client_with_key(&key.secret);
    limited.events_list().send().await.refused(403, ANY_CODE);
    limited
        .events_get()
        .id(event.id)
        .send()
        .await
        .refused(403, ANY_CODE);
}
