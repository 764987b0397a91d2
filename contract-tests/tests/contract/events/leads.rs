//! The events of leads: changes, moves between stages, won and lost once, and a
//! conversion with what it created.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::LeadPatch;
use momentum_sdk::types;

use crate::{create, create_lead, lead, person, sales, stage};

use super::{assert_data, assert_deleted, changes, events, only, raw_get};

#[tokio::test]
async fn a_lead_s_changes_are_events_and_a_move_is_also_a_stage_change() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let created = create_lead(c, lead("Acme renewal", sales.id)).await;
    let update = |patch: LeadPatch| async move {
        c.leads_update()
            .id(created.id)
            .body(patch)
            .send()
            .await
            .expect("update")
            .into_inner()
            .data
    };
    let renamed = update(LeadPatch {
        title: Some("Acme renewal 2027".into()),
        ..Default::default()
    })
    .await;
    let moved = update(LeadPatch {
        stage_id: Some(stage(&sales, "Qualified")),
        ..Default::default()
    })
    .await;
    c.leads_delete()
        .id(created.id)
        .send()
        .await
        .expect("delete");
    // Deleting moves it to the trash: the event carries it as it is there.
    let last = raw_get(
        &app,
        &format!("/v1/leads/{}?include_deleted=true", created.id),
    )
    .await;
    assert!(last["deleted_at"].is_string());

    let log = events(c, None).await;
    assert_eq!(
        changes(&log),
        [
            "lead.created",
            "lead.updated",
            "lead.updated",
            "lead.stage_changed",
            "lead.deleted"
        ]
    );
    assert_data(&log[0], &created);
    assert_data(&log[1], &renamed);
    assert_data(&log[2], &moved);
    assert_data(&log[3], &moved);
    assert_deleted(&log[4], &last);
}

#[tokio::test]
async fn a_lead_entering_a_won_or_lost_stage_is_won_or_lost_once() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let deal = create_lead(c, lead("Acme renewal", sales.id)).await;
    let won = c
        .leads_update()
        .id(deal.id)
        .body(LeadPatch {
            stage_id: Some(stage(&sales, "Won")),
            ..Default::default()
        })
        .send()
        .await
        .expect("win")
        .into_inner()
        .data;
    assert_eq!(won.status, "won");

    let log = events(c, None).await;
    assert_eq!(
        changes(&log),
        [
            "lead.created",
            "lead.updated",
            "lead.stage_changed",
            "lead.won"
        ]
    );
    for event in &log[1..] {
        assert_data(event, &won);
    }

    // Changing a won lead without moving it is an update, and no second win.
    let noted = c
        .leads_update()
        .id(deal.id)
        .body(LeadPatch {
            title: Some("Acme renewal (signed)".into()),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let log = events(c, None).await;
    assert_eq!(changes(&log).last(), Some(&"lead.updated"));
    assert_data(log.last().unwrap(), &noted);

    // Created straight into a lost stage: created, and lost.
    let lost = create_lead(
        c,
        types::LeadCreate {
            stage_id: Some(stage(&sales, "Lost")),
            lost_reason: Some("Went with a competitor".parse().unwrap()),
            ..lead("Globex", sales.id)
        },
    )
    .await;
    let log = events(c, None).await;
    assert_eq!(
        changes(&log)[log.len() - 2..],
        ["lead.created", "lead.lost"]
    );
    for event in &log[log.len() - 2..] {
        assert_data(event, &lost);
    }
}

#[tokio::test]
async fn converting_a_lead_reports_the_conversion_and_what_it_created() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let sales = sales(c).await;
    let prospect = create_lead(
        c,
        types::LeadCreate {
            prospect_first_name: Some("Grace".parse().unwrap()),
            prospect_email: Some("grace@navy.example".into()),
            prospect_company_name: Some("Navy".parse().unwrap()),
            prospect_company_domain: Some("navy.example".parse().unwrap()),
            ..lead("Compiler deal", sales.id)
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

    let log = events(c, None).await;
    assert_eq!(
        changes(&log),
        [
            "lead.created",
            "company.created",
            "contact.created",
            "lead.converted"
        ]
    );
    let company = converted.company.expect("a company was created");
    assert_data(only(&log, "company.created"), &company);
    assert_data(only(&log, "contact.created"), &converted.contact);
    assert_data(only(&log, "lead.converted"), &converted.lead);

    // Linking existing records creates nothing: only the conversion is reported.
    let again = create_lead(
        c,
        types::LeadCreate {
            contact_id: Some(converted.contact.id),
            company_id: Some(company.id),
            ..lead("Follow-up", sales.id)
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
    let log = events(c, None).await;
    assert_eq!(changes(&log).last(), Some(&"lead.converted"));
    assert_data(log.last().unwrap(), &linked.lead);

    // An existing contact without a company gains the new one: that is an update to it.
    let bob = create(c, person("Bob", "bob@initech.example")).await;
    let third = create_lead(
        c,
        types::LeadCreate {
            contact_id: Some(bob.id),
            prospect_company_name: Some("Initech".parse().unwrap()),
            ..lead("Printers", sales.id)
        },
    )
    .await;
    let joined = c
        .leads_convert()
        .id(third.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(joined.contact.company_id.is_some());
    let log = events(c, None).await;
    let conversion = &log[log.len() - 3..];
    assert_eq!(
        changes(conversion),
        ["company.created", "contact.updated", "lead.converted"]
    );
    assert_data(
        only(conversion, "company.created"),
        &joined.company.expect("a company was created"),
    );
    assert_data(only(conversion, "contact.updated"), &joined.contact);
    // The contact gained the company it had none of: that is what it says changed.
    let linked = only(conversion, "contact.updated");
    assert_eq!(linked.changed_fields, ["company_id"]);
    assert_eq!(linked.previous["company_id"], serde_json::Value::Null);
    assert_data(only(conversion, "lead.converted"), &joined.lead);
}
