//! Merges refused: the same record, unknown ids, another tenant's records, and a stale
//! version, each changing nothing.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, EventType};
use uuid::Uuid;

use crate::events::events;
use crate::{create, create_company, fields_of, person, Refused, ANY_CODE};

#[tokio::test]
async fn merges_are_refused_for_the_same_record_unknown_ids_other_tenants_and_stale_versions() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let adah = create(c, person("Adah", "adah@example.com")).await;
    let (_, b) = app.other_tenant().await;
    let bob = create(&b, person("Bob", "bob@example.com")).await;

    let merge = |survivor: Uuid, duplicate: Uuid| {
        c.contacts_merge().id(survivor).body(types::MergeRequest {
            duplicate_id: duplicate,
        })
    };
    let err = merge(ada.id, ada.id).send().await.refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["duplicate_id"]);
    assert_eq!(err.error.details[0].code, "same_record");
    for (case, duplicate) in [("unknown", Uuid::now_v7()), ("another tenant's", bob.id)] {
        let err = merge(ada.id, duplicate)
            .send()
            .await
            .refused_as(case, 422, ANY_CODE);
        assert_eq!(fields_of(&err), ["duplicate_id"], "{case}");
        assert_eq!(err.error.details[0].code, "not_found", "{case}");
    }
    for (case, survivor) in [("unknown", Uuid::now_v7()), ("another tenant's", bob.id)] {
        merge(survivor, adah.id)
            .send()
            .await
            .refused_as(case, 404, ANY_CODE);
    }
    // Tenant B cannot merge A's contact into its own either.
    b.contacts_merge()
        .id(bob.id)
        .body(types::MergeRequest {
            duplicate_id: ada.id,
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    c.companies_merge()
        .id(create_company(c, "Acme").await.id)
        .body(types::MergeRequest {
            duplicate_id: ada.id,
        })
        .send()
        .await
        .refused_as("a contact is not a company", 422, ANY_CODE);

    // A stale If-Match changes nothing.
    merge(ada.id, adah.id)
        .if_match("\"0\"")
        .send()
        .await
        .refused(412, ANY_CODE);
    c.contacts_get()
        .id(adah.id)
        .send()
        .await
        .expect("nothing was merged");
    assert!(events(c, Some(EventType::ContactMerged)).await.is_empty());
    let current = c.contacts_get().id(ada.id).send().await.unwrap();
    let etag = current.headers()["etag"].to_str().unwrap().to_owned();
    merge(ada.id, adah.id)
        .if_match(etag)
        .send()
        .await
        .expect("the current version merges");
    b.contacts_get()
        .id(bob.id)
        .send()
        .await
        .expect("B's contact is untouched");
}
