//! Duplicate suggestions: by email, phone and a similar name, within the tenant only.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::DuplicateReason;
use uuid::Uuid;

use crate::create;

use super::{contact, merge_contacts};

#[tokio::test]
async fn duplicates_are_suggested_by_email_phone_and_similar_name_within_the_tenant() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(
        c,
        contact("Ada", Some("Lovelace"), Some("ada@example.com"), None),
    )
    .await;
    let ada_tagged = create(
        c,
        contact("Ada", Some("Lovelace"), Some("ada+crm@example.com"), None),
    )
    .await;
    let jon = create(
        c,
        contact("Jon", Some("Smithson"), None, Some("+1 415 555 2671")),
    )
    .await;
    let john = create(c, contact("John", Some("Smithson"), None, None)).await;
    let desk = create(
        c,
        contact("Front", Some("Desk"), None, Some("+14155552671")),
    )
    .await;
    let loner = create(
        c,
        contact("Grace", Some("Hopper"), Some("grace@example.com"), None),
    )
    .await;

    let all = c.contacts_duplicates().send().await.unwrap().into_inner();
    let pair = |a: Uuid, b: Uuid| {
        all.data
            .iter()
            .find(|s| (s.contact_id, s.duplicate_id) == (a.min(b), a.max(b)))
            .unwrap_or_else(|| panic!("no pair {a} {b} in {:?}", all.data))
    };
    let by_email = pair(ada.id, ada_tagged.id);
    assert_eq!(
        by_email.reasons,
        [DuplicateReason::Email, DuplicateReason::Name]
    );
    assert_eq!(all.data[0].contact_id, by_email.contact_id, "best first");
    assert_eq!(pair(jon.id, desk.id).reasons, [DuplicateReason::Phone]);
    assert_eq!(pair(jon.id, john.id).reasons, [DuplicateReason::Name]);
    assert!(
        all.data
            .iter()
            .all(|s| s.contact_id != loner.id && s.duplicate_id != loner.id),
        "a contact like no other is not suggested"
    );
    assert!(all.data.windows(2).all(|w| w[0].score >= w[1].score));

    let mine = c
        .contacts_duplicates()
        .contact_id(john.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(mine.len(), 1);
    let one = c
        .contacts_duplicates()
        .limit(1)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!((one.data.len(), one.meta.limit), (1, 1));

    // Tenant B with the same people sees its own pairs only, never A's contacts.
    let (_, b) = app.other_tenant().await;
    let bob = create(
        &b,
        contact("Ada", Some("Lovelace"), Some("ada@example.com"), None),
    )
    .await;
    let theirs = b
        .contacts_duplicates()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(theirs.is_empty(), "{theirs:?}");
    let probe = b
        .contacts_duplicates()
        .contact_id(ada.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(probe.is_empty());
    let from_a = c
        .contacts_duplicates()
        .contact_id(ada.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(from_a
        .iter()
        .all(|s| s.contact_id != bob.id && s.duplicate_id != bob.id));

    // Merging a suggested pair makes the suggestion go away.
    merge_contacts(c, ada.id, ada_tagged.id).await;
    let after = c
        .contacts_duplicates()
        .contact_id(ada.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(after.is_empty(), "{after:?}");
}
