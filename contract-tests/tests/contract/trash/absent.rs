//! A trashed record is absent to updates, deletes, timelines, new links and batches, as
//! an unknown id is; links made while it was live stay.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{ContactPatch, LeadPatch};
use momentum_sdk::types::{self, ActivityKind};

use crate::activities::activity;
use crate::{
    assert_detail, create, create_company, create_lead, details, lead, person, sales, Refused,
    Sent, ANY_CODE,
};

/// Asserts a write naming a trashed record in `field` is refused as if the id were unknown.
#[track_caller]
fn refused_as_unknown<T: std::fmt::Debug>(result: Sent<T>, field: &str) {
    let err = result.refused_as(field, 422, "validation_failed");
    assert_eq!(details(&err), [(field, "not_found")], "{err:?}");
}
#[tokio::test]
async fn a_trashed_record_is_absent_to_updates_links_timelines_and_batches() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let acme = create_company(c, "Acme").await;
    let deal = create_lead(c, lead("Deal", sales.id)).await;
    let mut prospect = lead("Prospect", sales.id);
    prospect.contact_id = Some(ada.id);
    let prospect = create_lead(c, prospect).await;
    c.contacts_delete().id(ada.id).send().await.unwrap();
    c.companies_delete().id(acme.id).send().await.unwrap();
    c.leads_delete().id(deal.id).send().await.unwrap();

    // Updates, deletes and timelines answer 404, as for an unknown id.
    let patch = ContactPatch {
        title: Some(Some("CTO".into())),
        ..Default::default()
    };
    c.contacts_update()
        .id(ada.id)
        .body(patch)
        .send()
        .await
        .refused(404, ANY_CODE);
    c.contacts_activities()
        .id(ada.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    c.companies_contacts()
        .id(acme.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    c.leads_convert()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);

    // New links to them are refused like links to unknown ids (422 on the field).
    let mut body = person("Grace", "grace@example.com");
    body.company_id = Some(acme.id);
    refused_as_unknown(c.contacts_create().body(body).send().await, "company_id");
    let grace = create(c, person("Grace", "grace@example.com")).await;
    let patch = ContactPatch {
        company_id: Some(Some(acme.id)),
        ..Default::default()
    };
    refused_as_unknown(
        c.contacts_update().id(grace.id).body(patch).send().await,
        "company_id",
    );
    let mut body = lead("Linked", sales.id);
    body.contact_id = Some(ada.id);
    refused_as_unknown(c.leads_create().body(body).send().await, "contact_id");
    for (field, mut body) in [
        ("contact_id", activity(ActivityKind::Call)),
        ("company_id", activity(ActivityKind::Call)),
        ("lead_id", activity(ActivityKind::Call)),
    ] {
        body.subject = Some("Call".parse().unwrap());
        match field {
            "contact_id" => body.contact_id = Some(ada.id),
            "company_id" => body.company_id = Some(acme.id),
            _ => body.lead_id = Some(deal.id),
        }
        refused_as_unknown(c.activities_create().body(body).send().await, field);
    }
    let mut item = person("Batch", "batch@example.com");
    item.company_id = Some(acme.id);
    let batch = c
        .contacts_batch_upsert()
        .body(types::ContactBatch { items: vec![item] })
        .send()
        .await
        .expect("a batch")
        .into_inner();
    let error = batch.data[0].error.as_ref().expect("the item is refused");
    assert_eq!(error.details[0].field, "items[0].company_id", "{error:?}");

    // A link made while the record was live stays, and an update that leaves it alone
    // passes; converting a lead whose contact is in the trash is refused on the link.
    let renamed = c
        .leads_update()
        .id(prospect.id)
        .body(LeadPatch {
            title: Some("Renamed".parse().unwrap()),
            ..Default::default()
        })
        .send()
        .await
        .expect("an update that keeps the link")
        .into_inner()
        .data;
    assert_eq!(renamed.contact_id, Some(ada.id));
    let err = c
        .leads_convert()
        .id(prospect.id)
        .send()
        .await
        .refused(422, "validation_failed");
    assert_detail(&err, "contact_id", "deleted");
}
