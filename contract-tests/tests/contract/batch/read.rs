//! Batch reads (issue 24): up to 100 records by id or natural key, one answer per key in
//! the order asked, `found` with the record or `not_found`.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, BatchReadStatus};
use uuid::Uuid;

use crate::{company, create, create_lead, details, lead, person, sales, Refused};

fn contacts_body(ids: Vec<Uuid>, emails: &[&str]) -> types::ContactBatchRead {
    types::ContactBatchRead {
        ids,
        emails: emails.iter().map(|e| (*e).to_owned()).collect(),
        include_deleted: None,
    }
}

#[tokio::test]
async fn contacts_are_read_by_id_and_email_in_the_order_asked() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ann = create(c, person("Ann", "ann@a.example")).await;
    let bob = create(c, person("Bob", "bob@a.example")).await;
    let gone = create(c, person("Gus", "gus@a.example")).await;
    c.contacts_delete().id(gone.id).send().await.unwrap();
    let (_, b) = app.other_tenant().await;
    let theirs = create(&b, person("Zed", "zed@b.example")).await;

    let unknown = Uuid::now_v7();
    let answer = c
        .contacts_batch_read()
        .body(contacts_body(
            vec![bob.id, unknown, theirs.id, ann.id, gone.id, bob.id],
            &["ANN@A.example", "zed@b.example", "nobody@a.example"],
        ))
        .send()
        .await
        .unwrap()
        .into_inner();
    let got: Vec<(BatchReadStatus, Option<Uuid>)> = answer
        .data
        .iter()
        .map(|r| (r.status, r.data.as_ref().map(|contact| contact.id)))
        .collect();
    use BatchReadStatus::{Found, NotFound};
    assert_eq!(
        got,
        [
            (Found, Some(bob.id)),
            (NotFound, None),
            (NotFound, None), // another tenant's
            (Found, Some(ann.id)),
            (NotFound, None), // in the trash
            (Found, Some(bob.id)),
            (Found, Some(ann.id)), // the email ignoring case
            (NotFound, None),      // another tenant's email
            (NotFound, None),
        ]
    );
    assert_eq!(
        answer.data[1].id,
        Some(unknown),
        "each result names its key"
    );
    assert_eq!(answer.data[6].email.as_deref(), Some("ANN@A.example"));
    assert_eq!((answer.meta.found, answer.meta.not_found), (4, 5));
    assert_eq!(
        answer.data[0].data.as_ref(),
        Some(&bob),
        "as contacts_get has it"
    );

    let with_trash = c
        .contacts_batch_read()
        .body(types::ContactBatchRead {
            include_deleted: Some(true),
            ..contacts_body(vec![gone.id], &["gus@a.example"])
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(with_trash
        .data
        .iter()
        .all(|r| r.status == Found && r.data.as_ref().unwrap().deleted_at.is_some()));
}

#[tokio::test]
async fn a_batch_read_asks_for_one_to_a_hundred_well_formed_keys() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let err = c
        .contacts_batch_read()
        .body(contacts_body(Vec::new(), &[]))
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(details(&err), [("ids", "required"), ("emails", "required")]);
    let emails: Vec<String> = (0..51).map(|n| format!("p{n}@a.example")).collect();
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    let ids: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
    let err = c
        .contacts_batch_read()
        .body(contacts_body(ids.clone(), &emails))
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(details(&err)[0], ("ids", "too_many"));
    let hundred = c
        .contacts_batch_read()
        .body(contacts_body(ids, &emails[..50]))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hundred.data.len(), 100);
    let err = c
        .contacts_batch_read()
        .body(contacts_body(
            Vec::new(),
            &["ann@a.example", "not an email"],
        ))
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(details(&err), [("emails[1]", "invalid_email")]);
    let err = c
        .leads_batch_read()
        .body(types::LeadBatchRead {
            ids: (0..101).map(|_| Uuid::now_v7()).collect(),
            include_deleted: None,
        })
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(details(&err), [("ids", "too_many")]);
}

#[tokio::test]
async fn companies_are_read_by_domain_as_a_create_normalises_it_and_leads_by_id() {
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
    let answer = c
        .companies_batch_read()
        .body(types::CompanyBatchRead {
            ids: vec![Uuid::now_v7(), acme.id],
            domains: vec![
                "https://WWW.Acme.example/about".into(),
                "globex.example".into(),
            ],
            include_deleted: None,
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    let got: Vec<_> = answer
        .data
        .iter()
        .map(|r| (r.status, r.data.as_ref().map(|company| company.id)))
        .collect();
    use BatchReadStatus::{Found, NotFound};
    assert_eq!(
        got,
        [
            (NotFound, None),
            (Found, Some(acme.id)),
            (Found, Some(acme.id)),
            (NotFound, None)
        ]
    );
    assert_eq!(
        answer.data[2].domain.as_deref(),
        Some("https://WWW.Acme.example/about"),
        "the key as sent"
    );

    let pipeline = sales(c).await;
    let deal = create_lead(c, lead("Deal", pipeline.id)).await;
    let (_, b) = app.other_tenant().await;
    let leads = b
        .leads_batch_read()
        .body(types::LeadBatchRead {
            ids: vec![deal.id],
            include_deleted: None,
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leads.data[0].status, NotFound, "another tenant's lead");
    let leads = c
        .leads_batch_read()
        .body(types::LeadBatchRead {
            ids: vec![deal.id],
            include_deleted: None,
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leads.data[0].data.as_ref(), Some(&deal));
}
