//! Association labels: created, read, changed, listed and deleted, with names unique
//! ignoring case.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::AssociationLabelPatch;
use momentum_sdk::types::{self, RecordType};

use crate::{fields_of, Refused, ANY_CODE};

use super::label;

#[tokio::test]
async fn labels_are_created_read_changed_listed_and_deleted_with_unique_names() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    let created = c
        .association_labels_create()
        .body(types::AssociationLabelCreate {
            name: " Parent company ".parse().unwrap(),
            description: Some("Owns the other".parse().unwrap()),
            from_type: Some(RecordType::Company),
            to_type: Some(RecordType::Company),
        })
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let parent = created.into_inner().data;
    assert_eq!(location, format!("/v1/association-labels/{}", parent.id));
    assert_eq!(parent.name, "Parent company", "trimmed");
    assert_eq!(parent.from_type, Some(RecordType::Company));

    // Unique ignoring case, naming the holder.
    let err = c
        .association_labels_create()
        .body(types::AssociationLabelCreate {
            name: "PARENT COMPANY".parse().unwrap(),
            description: None,
            from_type: None,
            to_type: None,
        })
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(fields_of(&err), ["name"]);
    assert!(err.error.details[0]
        .message
        .contains(&parent.id.to_string()));

    // Both types or neither.
    let err = c
        .association_labels_create()
        .body(types::AssociationLabelCreate {
            name: "Half".parse().unwrap(),
            description: None,
            from_type: Some(RecordType::Contact),
            to_type: None,
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields_of(&err), ["to_type"]);

    let got = c
        .association_labels_get()
        .id(parent.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(got, parent);

    let changed = c
        .association_labels_update()
        .id(parent.id)
        .body(AssociationLabelPatch {
            description: Some(None),
            unrestricted: Some(true),
            ..Default::default()
        })
        .send()
        .await
        .expect("update")
        .into_inner()
        .data;
    assert_eq!(changed.description, None, "null clears");
    assert_eq!((changed.from_type, changed.to_type), (None, None));
    assert_eq!(changed.name, parent.name, "absent is kept");

    let other = label(c, "Decision maker", None).await;
    let err = c
        .association_labels_update()
        .id(other.id)
        .body(AssociationLabelPatch {
            name: Some("parent company".into()),
            ..Default::default()
        })
        .send()
        .await
        .refused(409, ANY_CODE);
    assert!(err.error.details[0]
        .message
        .contains(&parent.id.to_string()));

    let listed = c
        .association_labels_list()
        .limit(1)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.data.len(), 1);
    assert!(listed.meta.has_more);
    let rest = c
        .association_labels_list()
        .cursor(listed.meta.next_cursor.unwrap())
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(rest.iter().map(|l| l.id).collect::<Vec<_>>(), [other.id]);

    let deleted = c
        .association_labels_delete()
        .id(other.id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    c.association_labels_get()
        .id(other.id)
        .send()
        .await
        .refused(404, ANY_CODE);
}
