use momentum_contract_tests::TestApp;
use momentum_sdk::patch::LeadPatch;
use momentum_sdk::types;

use crate::{
    create, create_company, create_lead, fields_of, lead, person, sales, stage, Refused, ANY_CODE,
};

async fn move_to(client: &momentum_sdk::Client, id: uuid::Uuid, patch: LeadPatch) -> types::Lead {
    client
        .leads_update()
        .id(id)
        .body(patch)
        .send()
        .await
        .expect("update the lead")
        .into_inner()
        .data
}

fn to_stage(stage_id: uuid::Uuid) -> LeadPatch {
    LeadPatch {
        stage_id: Some(stage_id),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_lead_moves_through_the_stages_and_its_status_follows() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let pipeline = sales(c).await;
    let owner = c.users_list().send().await.unwrap().into_inner().data[0].id;

    let created = c
        .leads_create()
        .body(types::LeadCreate {
            value: Some("1250.5".into()),
            currency: Some("eur".parse().unwrap()),
            expected_close_date: Some("2027-03-31".parse().unwrap()),
            source: Some("website".parse().unwrap()),
            ..lead("Acme renewal", pipeline.id)
        })
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let new = created.into_inner().data;
    assert_eq!(
        new.stage_id,
        stage(&pipeline, "Lead in"),
        "starts in the first stage"
    );
    assert_eq!(new.status, "open");
    assert_eq!(
        new.value.as_deref(),
        Some("1250.50"),
        "scaled to EUR's 2 decimals"
    );
    assert_eq!(new.currency.as_deref(), Some("EUR"));
    assert_eq!(
        new.owner_id,
        Some(owner),
        "owned by the key's user by default"
    );
    assert_eq!((new.won_at, new.lost_at), (None, None));

    let qualified = move_to(c, new.id, to_stage(stage(&pipeline, "Qualified"))).await;
    assert_eq!(qualified.status, "open");
    assert!(qualified.stage_changed_at > new.stage_changed_at);

    let renamed = move_to(
        c,
        new.id,
        LeadPatch {
            title: Some("Acme renewal 2027".parse().unwrap()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        renamed.stage_changed_at, qualified.stage_changed_at,
        "no stage change, no new stage_changed_at"
    );

    let won = move_to(c, new.id, to_stage(stage(&pipeline, "Won"))).await;
    assert_eq!(won.status, "won");
    assert!(won.won_at.is_some());

    let err = c
        .leads_update()
        .id(new.id)
        .body(to_stage(stage(&pipeline, "Lost")))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["lost_reason"]);
    let lost = move_to(
        c,
        new.id,
        LeadPatch {
            stage_id: Some(stage(&pipeline, "Lost")),
            lost_reason: Some(Some("Went with a competitor".into())),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(lost.status, "lost");
    assert!(lost.lost_at.is_some());
    assert_eq!(lost.won_at, None, "leaving a won stage clears won_at");

    let reopened = move_to(c, new.id, to_stage(stage(&pipeline, "Proposal"))).await;
    assert_eq!((reopened.status.as_str(), reopened.lost_at), ("open", None));

    let timeline = c
        .leads_activities()
        .id(new.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let moves: Vec<_> = timeline
        .iter()
        .map(|a| {
            (
                a.type_.as_str(),
                a.system,
                a.subject.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (
                "stage_change",
                true,
                "Stage changed: Lost → Proposal".to_owned()
            ),
            ("stage_change", true, "Stage changed: Won → Lost".to_owned()),
            (
                "stage_change",
                true,
                "Stage changed: Qualified → Won".to_owned()
            ),
            (
                "stage_change",
                true,
                "Stage changed: Lead in → Qualified".to_owned()
            ),
        ],
        "one system activity per stage change, newest first"
    );
}

#[tokio::test]
async fn each_lead_rule_is_refused_with_the_field_named() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let pipeline = sales(c).await;
    let other = c
        .pipelines_create()
        .body(types::PipelineCreate {
            name: "Partners".parse().unwrap(),
            stages: vec![types::NewStage {
                name: "Intro".parse().unwrap(),
                kind: None,
                probability: None,
            }],
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let (_, b) = app.other_tenant().await;
    let b_user = b.users_list().send().await.unwrap().into_inner().data[0].id;
    let b_contact = create(&b, person("Bea", "bea@b.example")).await;

    let cases: Vec<(types::LeadCreate, &str, &str)> = vec![
        (
            types::LeadCreate {
                stage_id: Some(other.stages[0].id),
                ..lead("x", pipeline.id)
            },
            "stage_id",
            "wrong_pipeline",
        ),
        (
            types::LeadCreate {
                stage_id: Some(uuid::Uuid::now_v7()),
                ..lead("x", pipeline.id)
            },
            "stage_id",
            "not_found",
        ),
        (lead("x", uuid::Uuid::now_v7()), "pipeline_id", "not_found"),
        (
            types::LeadCreate {
                pipeline_id: None,
                ..lead("x", pipeline.id)
            },
            "pipeline_id",
            "required",
        ),
        (
            types::LeadCreate {
                value: Some("10".into()),
                ..lead("x", pipeline.id)
            },
            "currency",
            "required",
        ),
        (
            types::LeadCreate {
                value: Some("10.001".into()),
                currency: Some("USD".parse().unwrap()),
                ..lead("x", pipeline.id)
            },
            "value",
            "too_precise",
        ),
        (
            types::LeadCreate {
                value: Some("-5".into()),
                currency: Some("USD".parse().unwrap()),
                ..lead("x", pipeline.id)
            },
            "value",
            "invalid_amount",
        ),
        (
            types::LeadCreate {
                currency: Some("XYZ".parse().unwrap()),
                ..lead("x", pipeline.id)
            },
            "currency",
            "invalid_currency",
        ),
        (
            types::LeadCreate {
                stage_id: Some(stage(&pipeline, "Lost")),
                ..lead("x", pipeline.id)
            },
            "lost_reason",
            "required",
        ),
        (
            types::LeadCreate {
                owner_id: Some(b_user),
                ..lead("x", pipeline.id)
            },
            "owner_id",
            "not_found",
        ),
        (
            types::LeadCreate {
                contact_id: Some(b_contact.id),
                ..lead("x", pipeline.id)
            },
            "contact_id",
            "not_found",
        ),
    ];
    for (body, field, code) in cases {
        let err = c.leads_create().body(body).send().await.refused_as(
            format_args!("{field} {code}"),
            422,
            ANY_CODE,
        );
        assert_eq!(err.error.details[0].field, field);
        assert_eq!(err.error.details[0].code, code, "{field}");
    }
    let listed = c.leads_list().send().await.unwrap().into_inner().data;
    assert!(listed.is_empty(), "nothing was written");
}

#[tokio::test]
async fn setting_only_the_pipeline_moves_a_lead_to_its_first_stage() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let pipeline = sales(c).await;
    let partners = c
        .pipelines_create()
        .body(types::PipelineCreate {
            name: "Partners".parse().unwrap(),
            stages: vec![
                types::NewStage {
                    name: "Intro".parse().unwrap(),
                    kind: None,
                    probability: None,
                },
                types::NewStage {
                    name: "Signed".parse().unwrap(),
                    kind: Some(types::StageKind::Won),
                    probability: None,
                },
            ],
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let deal = create_lead(c, lead("Deal", pipeline.id)).await;
    let moved = move_to(
        c,
        deal.id,
        LeadPatch {
            pipeline_id: Some(partners.id),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        (moved.pipeline_id, moved.stage_id),
        (partners.id, partners.stages[0].id)
    );

    // A stage of another pipeline than the lead's is refused.
    let err = c
        .leads_update()
        .id(deal.id)
        .body(to_stage(stage(&pipeline, "Qualified")))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["stage_id"]);
}

#[tokio::test]
async fn leads_are_filtered_and_sorted_by_value_and_close_date() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let pipeline = sales(c).await;
    let acme = create_company(c, "Acme").await;
    let ann = create(c, person("Ann", "ann@acme.example")).await;
    let mut ids = Vec::new();
    for (title, value, close) in [
        ("small", "100", "2027-01-10"),
        ("large", "9000.99", "2027-02-10"),
        ("medium", "500", "2027-03-10"),
    ] {
        let created = create_lead(
            c,
            types::LeadCreate {
                value: Some(value.into()),
                currency: Some("USD".parse().unwrap()),
                expected_close_date: Some(close.parse().unwrap()),
                company_id: Some(acme.id),
                ..lead(title, pipeline.id)
            },
        )
        .await;
        ids.push(created.id);
    }
    let won = create_lead(
        c,
        types::LeadCreate {
            stage_id: Some(stage(&pipeline, "Won")),
            contact_id: Some(ann.id),
            ..lead("no value", pipeline.id)
        },
    )
    .await;

    let titles = |data: Vec<types::Lead>| data.into_iter().map(|l| l.title).collect::<Vec<_>>();
    let by_value = c
        .leads_list()
        .sort("-value")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        titles(by_value.data),
        ["large", "medium", "small", "no value"]
    );

    // Paging in value order continues exactly after the previous page.
    let first = c
        .leads_list()
        .sort("value")
        .limit(2)
        .send()
        .await
        .unwrap()
        .into_inner();
    let rest = c
        .leads_list()
        .sort("value")
        .limit(2)
        .cursor(first.meta.next_cursor.clone().unwrap())
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(titles(first.data), ["no value", "small"]);
    assert_eq!(titles(rest.data), ["medium", "large"]);

    let by_close = c
        .leads_list()
        .sort("expected_close_date")
        .send()
        .await
        .unwrap();
    assert_eq!(
        titles(by_close.into_inner().data),
        ["small", "large", "medium", "no value"],
        "no close date sorts last"
    );

    let range = c
        .leads_list()
        .value_min("100.00")
        .value_max("600")
        .currency("usd")
        .sort("value")
        .send()
        .await
        .unwrap();
    assert_eq!(titles(range.into_inner().data), ["small", "medium"]);
    let closing = c
        .leads_list()
        .expected_close_from("2027-02-01".parse::<chrono::NaiveDate>().unwrap())
        .expected_close_to("2027-03-10".parse::<chrono::NaiveDate>().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(titles(closing.into_inner().data), ["large", "medium"]);
    let won_only = c
        .leads_list()
        .status(types::LeadStatus::Won)
        .send()
        .await
        .unwrap();
    assert_eq!(won_only.into_inner().data[0].id, won.id);
    let of_acme = c.leads_list().company_id(acme.id).send().await.unwrap();
    assert_eq!(of_acme.into_inner().data.len(), 3);
    let of_ann = c.leads_list().contact_id(ann.id).send().await.unwrap();
    assert_eq!(of_ann.into_inner().data[0].id, won.id);
    let in_stage = c
        .leads_list()
        .stage_id(stage(&pipeline, "Lead in"))
        .send()
        .await
        .unwrap();
    assert_eq!(in_stage.into_inner().data.len(), 3);
    let owner = c.users_list().send().await.unwrap().into_inner().data[0].id;
    let owned = c.leads_list().owner_id(owner).send().await.unwrap();
    assert_eq!(owned.into_inner().data.len(), 4);

    // A bound is compared, not stored: beyond the largest amount or finer than four
    // decimals, it still filters.
    let bounded = c
        .leads_list()
        .value_min("0.00001")
        .value_max("99999999999999999999")
        .send()
        .await
        .unwrap();
    assert_eq!(
        bounded.into_inner().data.len(),
        3,
        "every lead with a value"
    );

    // Not a decimal: the SDK refuses it (the document's pattern), and so does the server.
    assert!(c.leads_list().value_min("lots").send().await.is_err());
    let (client, url) = app.raw("/v1/leads?value_min=lots");
    let resp = client.get(url).bearer_auth(&app.api_key).send().await;
    let resp = resp.expect("send");
    assert_eq!(resp.status().as_u16(), 400);
    let err: types::ErrorEnvelope = resp.json().await.expect("the error envelope");
    assert_eq!(err.error.code, "bad_request");
    assert!(
        err.error.message.contains("value_min"),
        "{}",
        err.error.message
    );
}

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

#[tokio::test]
async fn another_tenants_lead_is_invisible() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let pipeline = sales(a).await;
    let deal = create_lead(a, lead("Secret deal", pipeline.id)).await;
    let (_, b) = app.other_tenant().await;

    b.leads_get()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.leads_update()
        .id(deal.id)
        .body(LeadPatch {
            title: Some("pwned".parse().unwrap()),
            ..Default::default()
        })
        .send()
        .await
        .refused(404, ANY_CODE);
    b.leads_delete()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.leads_convert()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.leads_activities()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    let listed = b
        .leads_list()
        .pipeline_id(pipeline.id)
        .send()
        .await
        .unwrap();
    assert!(listed.into_inner().data.is_empty());
    assert!(b
        .leads_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());

    // A's pipeline and stage in B's body are ids that do not exist.
    let err = b
        .leads_create()
        .body(lead("x", pipeline.id))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["pipeline_id"]);
    let b_sales = sales(&b).await;
    let err = b
        .leads_create()
        .body(types::LeadCreate {
            stage_id: Some(stage(&pipeline, "Qualified")),
            ..lead("x", b_sales.id)
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["stage_id"]);
}
