//! Changed-field filters: an endpoint may take an updated type only when the change
//! touched a field it names, and the webhook carries `changed_fields` and `previous`.

use momentum_contract_tests::receiver::Receiver;
use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{LeadPatch, WebhookEndpointPatch};
use momentum_sdk::types::{self, EventType};
use momentum_sdk::webhooks::Event;
use momentum_sdk::Client;
use serde_json::json;

use crate::{create_lead, details, lead, sales, stage, Refused};

use super::{deliveries, verified, WITHIN};

fn only_when(event_type: EventType, fields: &[&str]) -> types::NewWebhookEndpointFilter {
    types::NewWebhookEndpointFilter {
        event_type,
        changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    }
}

/// The filter as an endpoint answers with it.
fn shown(event_type: EventType, fields: &[&str]) -> types::WebhookEndpointFilter {
    types::WebhookEndpointFilter {
        event_type,
        changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    }
}

async fn filtered(
    c: &Client,
    url: &str,
    event_types: Vec<EventType>,
    filters: Vec<types::NewWebhookEndpointFilter>,
) -> Result<types::WebhookEndpointWithSecret, momentum_sdk::Error<types::ErrorEnvelope>> {
    c.webhook_endpoints_create()
        .body(types::WebhookEndpointCreate {
            url: url.parse().unwrap(),
            description: None,
            event_types,
            enabled: None,
            filters,
        })
        .send()
        .await
        .map(|r| r.into_inner().data)
}

#[tokio::test]
async fn an_endpoint_filtered_on_stage_id_receives_only_the_lead_updates_that_move_a_lead() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let receiver = Receiver::start().await;
    let hook = filtered(
        c,
        &receiver.url,
        vec![EventType::LeadUpdated],
        vec![only_when(EventType::LeadUpdated, &["stage_id"])],
    )
    .await
    .expect("create a filtered endpoint");
    assert_eq!(hook.filters, [shown(EventType::LeadUpdated, &["stage_id"])]);
    let sales = sales(c).await;
    let deal = create_lead(c, lead("Acme renewal", sales.id)).await;
    let update = |patch: LeadPatch| async move {
        c.leads_update()
            .id(deal.id)
            .body(patch)
            .send()
            .await
            .expect("update the lead");
    };
    update(LeadPatch {
        title: Some("Acme renewal 2027".into()),
        ..Default::default()
    })
    .await;
    let qualified = stage(&sales, "Qualified");
    update(LeadPatch {
        stage_id: Some(qualified),
        ..Default::default()
    })
    .await;

    // Deliveries are queued in the change's transaction: what is listed now is all
    // there will be.
    let queued = deliveries(c, hook.id, None).await;
    assert_eq!(queued.len(), 1, "{queued:#?}");
    let moves = c
        .events_list()
        .type_(EventType::LeadUpdated)
        .send()
        .await
        .expect("list events")
        .into_inner()
        .data;
    assert_eq!(moves.len(), 2);
    assert_eq!(queued[0].event_id, moves[1].id, "the move, not the rename");

    let received = receiver.wait_for(1, WITHIN).await.remove(0);
    let webhook = verified(&hook.secret, &received);
    let Event::LeadUpdated(sent) = &webhook.event else {
        panic!("{webhook:?}");
    };
    assert_eq!(sent.stage_id, qualified);
    assert!(webhook.changed("stage_id"));
    let changes = webhook
        .changes
        .as_ref()
        .expect("the webhook says what changed");
    assert_eq!(changes.previous["stage_id"], json!(deal.stage_id));
    let body = received.json();
    assert_eq!(body["changed_fields"], json!(moves[1].changed_fields));
    assert_eq!(body["previous"], json!(moves[1].previous));

    // Clearing the filter lets every lead.updated through again.
    c.webhook_endpoints_update()
        .id(hook.id.to_string())
        .body(WebhookEndpointPatch {
            filters: Some(None),
            ..Default::default()
        })
        .send()
        .await
        .expect("clear the filters");
    update(LeadPatch {
        title: Some("Acme renewal 2028".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(deliveries(c, hook.id, None).await.len(), 2);
}

#[tokio::test]
async fn a_filter_must_name_an_updated_type_the_endpoint_takes_once() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let url = "https://example.com/hook";

    let created = filtered(
        c,
        url,
        vec![],
        vec![only_when(EventType::LeadCreated, &["stage_id"])],
    )
    .await;
    assert_eq!(
        details(&created.refused(422, "validation_failed")),
        [("filters[0].event_type", "not_filterable")]
    );
    let elsewhere = filtered(
        c,
        url,
        vec![EventType::ContactUpdated],
        vec![only_when(EventType::LeadUpdated, &["stage_id"])],
    )
    .await;
    assert_eq!(
        details(&elsewhere.refused(422, "validation_failed")),
        [("filters[0].event_type", "not_subscribed")]
    );
    let twice = filtered(
        c,
        url,
        vec![],
        vec![
            only_when(EventType::LeadUpdated, &["stage_id"]),
            only_when(EventType::LeadUpdated, &["title"]),
        ],
    )
    .await;
    assert_eq!(
        details(&twice.refused(422, "validation_failed")),
        [("filters[1].event_type", "duplicate")]
    );
    let blank = filtered(
        c,
        url,
        vec![],
        vec![only_when(EventType::LeadStageChanged, &[" "])],
    )
    .await;
    assert_eq!(
        details(&blank.refused(422, "validation_failed")),
        [("filters[0].changed_fields[0]", "invalid")]
    );

    // A patch is checked as a whole: dropping the type a filter needs is refused.
    let hook = filtered(
        c,
        url,
        vec![EventType::LeadUpdated],
        vec![only_when(EventType::LeadUpdated, &["stage_id", "stage_id"])],
    )
    .await
    .expect("a valid filter");
    assert_eq!(
        hook.filters,
        [shown(EventType::LeadUpdated, &["stage_id"])],
        "repeats are dropped"
    );
    let narrowed = c
        .webhook_endpoints_update()
        .id(hook.id.to_string())
        .body(WebhookEndpointPatch {
            event_types: Some(Some(vec![EventType::ContactUpdated])),
            ..Default::default()
        })
        .send()
        .await;
    assert_eq!(
        details(&narrowed.refused(422, "validation_failed")),
        [("filters[0].event_type", "not_subscribed")]
    );
}
