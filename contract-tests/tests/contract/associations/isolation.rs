//! Another tenant never sees links to, or labels of, this one, nor uses them.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{EventType, RecordType};

use crate::events::events;
use crate::{create, create_company, fields_of, person, Refused, ANY_CODE};

use super::{associate, label, link};

#[tokio::test]
async fn another_tenant_never_sees_links_to_or_labels_of_this_one() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let ada = create(a, person("Ada", "ada@example.com")).await;
    let acme = create_company(a, "Acme").await;
    let works_at = label(a, "Works at", None).await;
    let link_a = associate(
        a,
        (RecordType::Contact, ada.id),
        (RecordType::Company, acme.id),
        Some(works_at.id),
    )
    .await;

    let (_, b) = app.other_tenant().await;
    let bob = create(&b, person("Bob", "bob@example.com")).await;
    let globex = create_company(&b, "Globex").await;

    assert!(b
        .association_labels_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    assert!(b
        .associations_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    let filtered = b
        .associations_list()
        .label_id(works_at.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(filtered.is_empty());
    b.associations_get()
        .id(link_a.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.associations_delete()
        .id(link_a.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.association_labels_get()
        .id(works_at.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.association_labels_delete()
        .id(works_at.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.contacts_associations()
        .id(ada.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    // B can use a label name A has, and cannot link to A's records or use A's label.
    label(&b, "Works at", None).await;
    for (to, label_id, named) in [
        (acme.id, None, "to_id"),
        (globex.id, Some(works_at.id), "label_id"),
    ] {
        let err = b
            .associations_create()
            .body(link(
                (RecordType::Contact, bob.id),
                (RecordType::Company, to),
                label_id,
            ))
            .send()
            .await
            .refused_as(named, 422, ANY_CODE);
        assert_eq!(fields_of(&err), [named]);
    }
    assert!(events(&b, Some(EventType::AssociationCreated))
        .await
        .is_empty());
    // A's link is untouched.
    assert_eq!(
        a.associations_get()
            .id(link_a.id)
            .send()
            .await
            .unwrap()
            .into_inner()
            .data,
        link_a
    );
}
