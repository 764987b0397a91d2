//! Uniqueness ignores the trash, and a restore into a conflict is refused naming the
//! record that holds the value.

use momentum_contract_tests::TestApp;
use momentum_sdk::types;

use super::events_of;
use crate::{company, create, person, Refused};

#[tokio::test]
async fn uniqueness_ignores_the_trash_and_a_restore_into_a_conflict_names_the_holder() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    // Contacts: the email of a trashed contact is free...
    let first = create(c, person("First", "taken@example.com")).await;
    c.contacts_delete().id(first.id).send().await.unwrap();
    let second = create(c, person("Second", "Taken@Example.com")).await;
    // ... and the trashed one cannot come back while the live one holds it.
    let err = c
        .contacts_restore()
        .id(first.id)
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(err.error.details.len(), 1);
    assert_eq!(
        (
            err.error.details[0].field.as_str(),
            err.error.details[0].code.as_str()
        ),
        ("email", "taken")
    );
    assert!(
        err.error.details[0]
            .message
            .contains(&second.id.to_string()),
        "names the holder: {err:?}"
    );
    // Nothing changed: still in the trash, no event.
    let still = c
        .contacts_get()
        .id(first.id)
        .include_deleted(true)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(still.deleted_at.is_some());
    assert!(events_of(c, types::EventType::ContactRestored)
        .await
        .is_empty());
    // Once the holder is in the trash too, it comes back.
    c.contacts_delete().id(second.id).send().await.unwrap();
    c.contacts_restore()
        .id(first.id)
        .send()
        .await
        .expect("restore");

    // Companies: the same for the domain.
    let mut body = company("Acme");
    body.domain = Some("acme.example".parse().unwrap());
    let acme = c
        .companies_create()
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    c.companies_delete().id(acme.id).send().await.unwrap();
    body.name = "Acme Two".parse().unwrap();
    let acme2 = c
        .companies_create()
        .body(body)
        .send()
        .await
        .expect("domain is free")
        .into_inner()
        .data;
    let err = c
        .companies_restore()
        .id(acme.id)
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(
        (
            err.error.details[0].field.as_str(),
            err.error.details[0].code.as_str()
        ),
        ("domain", "taken")
    );
    assert!(
        err.error.details[0].message.contains(&acme2.id.to_string()),
        "{err:?}"
    );
    c.companies_delete().id(acme2.id).send().await.unwrap();
    let back = c
        .companies_restore()
        .id(acme.id)
        .send()
        .await
        .expect("restore")
        .into_inner()
        .data;
    assert_eq!(
        (back.deleted_at, back.domain.as_deref()),
        (None, Some("acme.example"))
    );
    assert_eq!(
        events_of(c, types::EventType::CompanyRestored).await.len(),
        1
    );
    let gone = events_of(c, types::EventType::CompanyDeleted).await;
    assert_eq!(gone.len(), 2);
    assert!(gone
        .iter()
        .all(|e| e.data.get("deleted_at").is_some_and(|v| v.is_string())));
}
