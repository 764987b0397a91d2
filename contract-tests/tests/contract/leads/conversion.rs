//! Converting a lead (its contact and company made once) and deleting one (its stage
//! history trashed with it, logged activities kept).

use momentum_contract_tests::TestApp;
use momentum_sdk::types;

use crate::{create_lead, fields_of, lead, sales, stage, Refused, ANY_CODE};

use super::{move_to, to_stage};

#[tokio::test]
async fn converting_a_lead_creates_its_contact_and_company_once() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let pipeline = sales(c).await;
    let prospect = create_lead(
        c,
        types::LeadCreate {
            prospect_first_name: Some("Grace".parse().unwrap()),
            prospect_last_name: Some("Hopper".parse().unwrap()),
            prospect_email: Some("grace@navy.example".into()),
            prospect_company_name: Some("Navy".parse().unwrap()),
            prospect_company_domain: Some("navy.example".parse().unwrap()),
            ..lead("Compiler deal", pipeline.id)
        },
    )
    .await;

    let converted = c
        .leads_convert()
        .id(prospect.id)
        .send()
        .await
        .expect("convert")
        .into_inner()
        .data;
    let company = converted.company.expect("a company was created");
    assert_eq!(company.name, "Navy");
    assert_eq!(company.domain.as_deref(), Some("navy.example"));
    assert_eq!(
        converted.contact.email.as_deref(),
        Some("grace@navy.example")
    );
    assert_eq!(converted.contact.company_id, Some(company.id));
    assert_eq!(converted.lead.contact_id, Some(converted.contact.id));
    assert_eq!(converted.lead.company_id, Some(company.id));
    assert!(converted.lead.converted_at.is_some());

    c.leads_convert()
        .id(prospect.id)
        .send()
        .await
        .refused(409, "conflict");

    // A second lead about the same people links them instead of duplicating them.
    let again = create_lead(
        c,
        types::LeadCreate {
            prospect_email: Some("GRACE@navy.example".into()),
            prospect_company_domain: Some("https://navy.example/".parse().unwrap()),
            ..lead("Follow-up", pipeline.id)
        },
    )
    .await;
    let linked = c
        .leads_convert()
        .id(again.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(linked.contact.id, converted.contact.id);
    assert_eq!(linked.company.map(|x| x.id), Some(company.id));
    let contacts = c.contacts_list().send().await.unwrap().into_inner().data;
    assert_eq!(contacts.len(), 1);

    let nobody = create_lead(c, lead("Nobody", pipeline.id)).await;
    let err = c
        .leads_convert()
        .id(nobody.id)
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["contact_id"]);
    let unchanged = c
        .leads_get()
        .id(nobody.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged.data.converted_at, None, "nothing is half-written");
    assert_eq!(
        c.companies_list()
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
async fn deleting_a_lead_trashes_its_stage_history_but_keeps_logged_activities() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let pipeline = sales(c).await;
    let deal = create_lead(c, lead("Deal", pipeline.id)).await;
    move_to(c, deal.id, to_stage(stage(&pipeline, "Qualified"))).await;
    let call = c
        .activities_create()
        .body(types::ActivityCreate {
            lead_id: Some(deal.id),
            subject: Some("Discovery call".parse().unwrap()),
            ..crate::activities::activity(types::ActivityKind::Call)
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;

    assert_eq!(
        c.leads_delete()
            .id(deal.id)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    c.leads_get()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    let kept = c
        .activities_get()
        .id(call.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.data.lead_id, Some(deal.id), "kept, and still linked");
    let all = c.activities_list().send().await.unwrap().into_inner().data;
    assert_eq!(all.len(), 1, "the stage_change activity went with the lead");
    assert_eq!(all[0].id, call.id);
}
