//! Tenant B must not be able to tell that tenant A's contact exists (here, through the
//! SDK), nor any other record of A's (`every_operation`, over the whole document).

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::ContactPatch;

use crate::{create, person, Refused, ANY_CODE};

mod every_operation;

#[tokio::test]
async fn another_tenant_gets_404_for_every_operation_and_never_sees_the_contact() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let secret = create(a, person("Secret", "secret@a.example")).await;
    let (_, b) = app.other_tenant().await;

    b.contacts_get()
        .id(secret.id)
        .send()
        .await
        .refused(404, "not_found");
    b.contacts_update()
        .id(secret.id)
        .body(ContactPatch {
            title: Some(Some("pwned".into())),
            ..Default::default()
        })
        .send()
        .await
        .refused(404, ANY_CODE);
    b.contacts_delete()
        .id(secret.id)
        .send()
        .await
        .refused(404, ANY_CODE);

    assert!(b
        .contacts_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    let by_email = b
        .contacts_list()
        .email("secret@a.example")
        .send()
        .await
        .unwrap();
    assert!(by_email.into_inner().data.is_empty());
    let by_q = b.contacts_list().q("Secret").send().await.unwrap();
    assert!(by_q.into_inner().data.is_empty());

    // Emails are unique per tenant: B may use A's address, and that reveals nothing.
    let twin = b
        .contacts_create()
        .body(person("Twin", "secret@a.example"))
        .send()
        .await;
    assert_eq!(
        twin.expect("same email in another tenant")
            .status()
            .as_u16(),
        201
    );

    // A's contact is untouched.
    let still = a
        .contacts_get()
        .id(secret.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(still, secret);

    // A cursor minted for A's list, replayed by B, leaks nothing either.
    for i in 0..3 {
        a.contacts_create()
            .body(person("A", &format!("a{i}@a.example")))
            .send()
            .await
            .unwrap();
    }
    let page = a
        .contacts_list()
        .limit(1)
        .send()
        .await
        .unwrap()
        .into_inner();
    let cursor = page.meta.next_cursor.expect("more pages");
    let replay = b
        .contacts_list()
        .cursor(cursor)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(replay
        .data
        .iter()
        .all(|c| c.email.as_deref() == Some("secret@a.example")));
    assert!(replay.data.iter().all(|c| c.id != secret.id));
}
