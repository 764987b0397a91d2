//! Lists of leads filtered and sorted by value and expected close date.

use momentum_contract_tests::TestApp;
use momentum_sdk::types;

use crate::{create, create_company, create_lead, lead, person, sales, stage, RawAnswer, Refused};

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
    let err = RawAnswer::of(resp).await.refused(400, "bad_request");
    assert!(
        err.error.message.contains("value_min"),
        "{}",
        err.error.message
    );
}
