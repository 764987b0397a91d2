//! Bad associations: each refused naming the field, and none of them writes anything.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::AssociationLabelPatch;
use momentum_sdk::types::{EventType, RecordType};
use uuid::Uuid;

use crate::events::events;
use crate::{create, create_company, fields_of, person, Refused, ANY_CODE};

use super::{associate, label, link};

#[tokio::test]
async fn bad_associations_are_refused_naming_the_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let acme = create_company(c, "Acme").await;
    let works_at = label(
        c,
        "Works at",
        Some((RecordType::Contact, RecordType::Company)),
    )
    .await;

    // A record with itself; ends that do not exist, or exist under another type; a label
    // that does not exist, or one for other types.
    for (case, body, named, first_code) in [
        (
            "a record with itself",
            link(
                (RecordType::Contact, ada.id),
                (RecordType::Contact, ada.id),
                None,
            ),
            &["to_id"][..],
            Some("self_link"),
        ),
        (
            "ends that do not exist, or exist under another type",
            link(
                (RecordType::Lead, ada.id),
                (RecordType::Company, Uuid::now_v7()),
                None,
            ),
            &["from_id", "to_id"][..],
            None,
        ),
        (
            "a label that does not exist",
            link(
                (RecordType::Contact, ada.id),
                (RecordType::Company, acme.id),
                Some(Uuid::now_v7()),
            ),
            &["label_id"][..],
            None,
        ),
        (
            "a label for other types",
            link(
                (RecordType::Company, acme.id),
                (RecordType::Contact, ada.id),
                Some(works_at.id),
            ),
            &["label_id"][..],
            Some("wrong_types"),
        ),
    ] {
        let err = c
            .associations_create()
            .body(body)
            .send()
            .await
            .refused_as(case, 422, ANY_CODE);
        assert_eq!(fields_of(&err), named, "{case}");
        if let Some(code) = first_code {
            assert_eq!(err.error.details[0].code, code, "{case}");
        }
    }

    // The same link twice, naming the first; another label is another link.
    let first = associate(
        c,
        (RecordType::Contact, ada.id),
        (RecordType::Company, acme.id),
        Some(works_at.id),
    )
    .await;
    let err = c
        .associations_create()
        .body(link(
            (RecordType::Contact, ada.id),
            (RecordType::Company, acme.id),
            Some(works_at.id),
        ))
        .send()
        .await
        .refused(409, ANY_CODE);
    assert!(err.error.details[0].message.contains(&first.id.to_string()));
    let unlabelled = associate(
        c,
        (RecordType::Contact, ada.id),
        (RecordType::Company, acme.id),
        None,
    )
    .await;
    c.associations_create()
        .body(link(
            (RecordType::Contact, ada.id),
            (RecordType::Company, acme.id),
            None,
        ))
        .send()
        .await
        .refused_as("unlabelled links are unique too", 409, ANY_CODE);

    // A label in use is not deleted, nor restricted to types its links do not have.
    let err = c
        .association_labels_delete()
        .id(works_at.id)
        .send()
        .await
        .refused(409, ANY_CODE);
    assert!(err.error.message.contains('1'), "{}", err.error.message);
    c.association_labels_update()
        .id(works_at.id)
        .body(AssociationLabelPatch {
            from_type: Some(RecordType::Lead),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);

    // A filter without the partner it needs: each is well formed alone, so a 422 naming
    // the missing one.
    let err = c
        .associations_list()
        .record_id(ada.id)
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["record_type"]);
    // The associations of a record that does not exist: 404.
    c.contacts_associations()
        .id(Uuid::now_v7())
        .send()
        .await
        .refused(404, ANY_CODE);

    let all = c
        .associations_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        all.iter().map(|a| a.id).collect::<Vec<_>>(),
        [first.id, unlabelled.id]
    );
    assert_eq!(
        events(c, Some(EventType::AssociationCreated)).await.len(),
        2
    );
}
