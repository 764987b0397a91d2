//! Companies upserted by their normalised domain.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, BatchStatus};

use crate::company;

use super::{all_events, problems};

#[tokio::test]
async fn companies_are_upserted_by_their_normalised_domain() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("acme.example".parse().unwrap()),
            city: Some("Berlin".parse().unwrap()),
            ..company("Acme")
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let same = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("same.example".parse().unwrap()),
            industry: Some("Retail".parse().unwrap()),
            ..company("Same")
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let events_before = all_events(c).await.len();

    let with = |name: &str, domain: &str| types::CompanyCreate {
        domain: Some(domain.parse().unwrap()),
        ..company(name)
    };
    let mut items: Vec<serde_json::Value> = [
        // The same domain as a URL in other case: Acme, renamed; its city is kept.
        types::CompanyCreate {
            employee_count: Some(50),
            ..with("Acme Inc", "https://ACME.Example/about")
        },
        with("Globex", "globex.example"),
        // Identical to what is stored.
        types::CompanyCreate {
            industry: Some("Retail".parse().unwrap()),
            ..with("Same", "SAME.example")
        },
        with("Globex again", "http://Globex.Example/x"),
        with("Bad", "not a domain"),
        company("No domain"),
    ]
    .iter()
    .map(|item| serde_json::to_value(item).unwrap())
    .collect();
    // A blank name, which the SDK refuses to build (the document says it may not be
    // blank): the batch goes as raw JSON, as another client would send it.
    items.insert(
        4,
        serde_json::json!({"name": "  ", "domain": "blank.example"}),
    );
    let (http, url) = app.raw("/v1/companies/batch");
    let batch: types::CompanyBatchResponse = http
        .post(url)
        .bearer_auth(&app.api_key)
        .json(&serde_json::json!({ "items": items }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<_> = batch.data.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            BatchStatus::Updated,
            BatchStatus::Created,
            BatchStatus::Unchanged,
            BatchStatus::Error,
            BatchStatus::Error,
            BatchStatus::Error,
            BatchStatus::Created,
        ]
    );
    let updated = batch.data[0].data.as_ref().unwrap();
    assert_eq!(updated.id, acme.id);
    assert_eq!(updated.name, "Acme Inc");
    assert_eq!(updated.employee_count, Some(50));
    assert_eq!(updated.city.as_deref(), Some("Berlin"), "left out: kept");
    assert_eq!(updated.domain.as_deref(), Some("acme.example"));
    assert_eq!(batch.data[2].data.as_ref(), Some(&same));
    let errors: Vec<_> = batch.data[3..6]
        .iter()
        .map(|r| {
            let error = r.error.as_ref().unwrap();
            (error.code.clone(), problems(error))
        })
        .collect();
    assert_eq!(
        errors,
        [
            (
                "conflict".to_owned(),
                vec![(
                    "items[3].domain".to_owned(),
                    "duplicate_in_batch".to_owned()
                )]
            ),
            (
                "validation_failed".to_owned(),
                vec![("items[4].name".to_owned(), "required".to_owned())]
            ),
            (
                "validation_failed".to_owned(),
                vec![("items[5].domain".to_owned(), "invalid_domain".to_owned())]
            ),
        ]
    );
    assert_eq!(
        c.companies_get()
            .id(acme.id)
            .send()
            .await
            .unwrap()
            .into_inner()
            .data,
        *updated
    );
    let listed = c.companies_list().send().await.unwrap().into_inner().data;
    assert_eq!(listed.len(), 4, "Acme, Same, Globex and No domain");

    let events = all_events(c).await;
    let new: Vec<(&str, &str)> = events[events_before..]
        .iter()
        .map(|e| (e.type_.as_str(), e.data["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        new,
        [
            ("company.updated", "Acme Inc"),
            ("company.created", "Globex"),
            ("company.created", "No domain"),
        ]
    );
}
