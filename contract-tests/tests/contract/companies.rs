use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{CompanyPatch, ContactPatch};
use momentum_sdk::types;

use crate::{company, create, create_company, fields_of, person, Refused, ANY_CODE};

#[tokio::test]
async fn a_company_goes_through_create_read_update_list_and_delete() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    let created = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("https://WWW.Acme.Example/about?x=1".parse().unwrap()),
            website: Some("https://Acme.Example/".parse().unwrap()),
            industry: Some("Software".parse().unwrap()),
            employee_count: Some(120),
            phone: Some("+1 415 555 2671".parse().unwrap()),
            city: Some("Berlin".parse().unwrap()),
            country: Some("de".parse().unwrap()),
            tags: vec!["key".parse().unwrap()],
            ..company("Acme")
        })
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let acme = created.into_inner().data;
    assert_eq!(location, format!("/v1/companies/{}", acme.id));
    assert_eq!(
        acme.domain.as_deref(),
        Some("acme.example"),
        "domain normalised, without its www."
    );
    assert_eq!(acme.website.as_deref(), Some("https://acme.example/"));
    assert_eq!(acme.phone.as_deref(), Some("+14155552671"));
    assert_eq!(acme.country.as_deref(), Some("DE"));
    assert_eq!(acme.employee_count, Some(120));

    let got = c
        .companies_get()
        .id(acme.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.data, acme);

    let updated = c
        .companies_update()
        .id(acme.id)
        .body(CompanyPatch {
            website: Some(None),
            employee_count: Some(Some(121)),
            ..Default::default()
        })
        .send()
        .await
        .expect("update")
        .into_inner()
        .data;
    assert_eq!(updated.website, None, "null clears");
    assert_eq!(updated.employee_count, Some(121));
    assert_eq!(updated.domain, acme.domain, "absent fields are kept");
    assert!(updated.updated_at > acme.updated_at);

    create_company(c, "Globex").await;
    let by_domain = c
        .companies_list()
        .domain("HTTPS://www.acme.example/contact")
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(by_domain.len(), 1, "the filter normalises like the field");
    let by_industry = c
        .companies_list()
        .industry("software")
        .send()
        .await
        .unwrap();
    assert_eq!(by_industry.into_inner().data[0].id, acme.id);
    let by_q = c
        .companies_list()
        .q("glob")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_q.data.len(), 1);
    assert_eq!(by_q.data[0].name, "Globex");

    let first = c
        .companies_list()
        .sort("-name")
        .limit(1)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.data[0].name, "Globex");
    let next = c
        .companies_list()
        .sort("-name")
        .limit(1)
        .cursor(first.meta.next_cursor.unwrap())
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.data[0].name, "Acme");
    assert!(!next.meta.has_more);

    let deleted = c.companies_delete().id(acme.id).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    c.companies_get()
        .id(acme.id)
        .send()
        .await
        .refused(404, ANY_CODE);
}

#[tokio::test]
async fn a_domain_in_use_is_a_409_naming_the_company_that_has_it() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("acme.example".parse().unwrap()),
            ..company("Acme")
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let err = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("https://ACME.example/".parse().unwrap()),
            ..company("Acme again")
        })
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(err.error.details[0].field, "domain");
    assert!(err.error.details[0].message.contains(&acme.id.to_string()));

    let other = create_company(c, "Other").await;
    let err = c
        .companies_update()
        .id(other.id)
        .body(CompanyPatch {
            domain: Some(Some("acme.example".into())),
            ..Default::default()
        })
        .send()
        .await
        .refused_as(format_args!("{err:?}"), 409, ANY_CODE);
    assert!(err.error.details[0].message.contains(&acme.id.to_string()));
}

#[tokio::test]
async fn every_bad_company_field_is_reported_at_once() {
    let app = TestApp::spawn().await;
    // The body, the code (if checked) and the fields named, in order.
    for (body, code, named) in [(
        types::CompanyCreate {
            domain: Some("localhost".parse().unwrap()),
            website: Some("acme".parse().unwrap()),
            employee_count: Some(-1),
            country: Some("XX".parse().unwrap()),
            ..company("Acme")
        },
        Some("validation_failed"),
        &["domain", "website", "employee_count", "country"][..],
    )] {
        let err = app
            .client
            .companies_create()
            .body(body)
            .send()
            .await
            .refused_as(format_args!("{named:?}"), 422, code);
        assert_eq!(fields_of(&err), named);
    }
    // A blank name: the SDK refuses to build it (the document says it may not be blank),
    // so it goes as raw JSON, as another client would send it.
    let (http, url) = app.raw("/v1/companies");
    let answer = http
        .post(url)
        .bearer_auth(&app.api_key)
        .json(&serde_json::json!({"name": "   "}))
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status(), 422);
    let body: serde_json::Value = answer.json().await.expect("JSON");
    assert_eq!(body["error"]["details"][0]["field"], "name", "{body}");
}

#[tokio::test]
async fn contacts_belong_to_a_company_and_keep_living_and_linked_when_it_is_deleted() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = create_company(c, "Acme").await;
    let ann = create(
        c,
        types::ContactCreate {
            company_id: Some(acme.id),
            ..person("Ann", "ann@acme.example")
        },
    )
    .await;
    assert_eq!(ann.company_id, Some(acme.id));
    let bob = create(c, person("Bob", "bob@elsewhere.example")).await;

    let listed = c
        .companies_contacts()
        .id(acme.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(listed.iter().map(|x| x.id).collect::<Vec<_>>(), [ann.id]);
    let filtered = c.contacts_list().company_id(acme.id).send().await.unwrap();
    assert_eq!(filtered.into_inner().data.len(), 1);

    let moved = c
        .contacts_update()
        .id(bob.id)
        .body(ContactPatch {
            company_id: Some(Some(acme.id)),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(moved.company_id, Some(acme.id));

    let err = c
        .contacts_create()
        .body(types::ContactCreate {
            company_id: Some(uuid::Uuid::now_v7()),
            ..person("Cy", "cy@acme.example")
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["company_id"]);

    c.companies_delete().id(acme.id).send().await.unwrap();
    let ann = c
        .contacts_get()
        .id(ann.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ann.data.company_id,
        Some(acme.id),
        "the contact is kept, and so is its link to the company in the trash"
    );
    c.companies_contacts().id(acme.id).send().await.refused_as(
        "the company's nested list is gone with it",
        404,
        ANY_CODE,
    );
}

#[tokio::test]
async fn another_tenants_company_is_invisible_and_cannot_be_linked() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let acme = create_company(a, "Acme").await;
    let (_, b) = app.other_tenant().await;

    b.companies_get()
        .id(acme.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.companies_update()
        .id(acme.id)
        .body(CompanyPatch {
            name: Some("pwned".parse().unwrap()),
            ..Default::default()
        })
        .send()
        .await
        .refused(404, ANY_CODE);
    b.companies_delete()
        .id(acme.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.companies_contacts()
        .id(acme.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.companies_activities()
        .id(acme.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    assert!(b
        .companies_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());

    // A's company id in B's body behaves like an id that does not exist.
    let err = b
        .contacts_create()
        .body(types::ContactCreate {
            company_id: Some(acme.id),
            ..person("Eve", "eve@b.example")
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["company_id"]);
    let listed = b.contacts_list().company_id(acme.id).send().await.unwrap();
    assert!(listed.into_inner().data.is_empty());
}

/// Issue 24: `https://WWW.Acme.com` and `acme.com` are one company, for uniqueness, for
/// the batch upsert's matching and for the list filter.
#[tokio::test]
async fn a_leading_www_names_the_same_company() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("https://WWW.Acme.com".parse().unwrap()),
            ..company("Acme")
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(acme.domain.as_deref(), Some("acme.com"));
    let err = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("acme.com".parse().unwrap()),
            ..company("Acme again")
        })
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(err.error.details[0].field, "domain");
    assert!(
        err.error.details[0].message.contains(&acme.id.to_string()),
        "the 409 names the company: {err:?}"
    );

    let item: types::CompanyCreate =
        serde_json::from_value(serde_json::json!({"name": "Acme Inc", "domain": "www.acme.com"}))
            .unwrap();
    let batch = c
        .companies_batch_upsert()
        .body(types::CompanyBatch { items: vec![item] })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.data[0].status, types::BatchStatus::Updated);
    assert_eq!(batch.data[0].data.as_ref().map(|co| co.id), Some(acme.id));

    let listed = c
        .companies_list()
        .domain("http://www.ACME.com/x")
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(listed.len(), 1);
    // `www.` followed by a single label is a name, not a prefix.
    let io = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("www.io".parse().unwrap()),
            ..company("Www")
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(io.domain.as_deref(), Some("www.io"));
}
