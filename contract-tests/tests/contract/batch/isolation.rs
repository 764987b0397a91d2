//! A batch sees and touches its own tenant only, and concurrent batches neither duplicate
//! nor interleave.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, BatchStatus};

use crate::{create, create_company, person};

use super::{all_contacts, all_events, contact_batch, problems};

#[tokio::test]
async fn a_batch_sees_and_touches_its_own_tenant_only() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let (_, other) = app.other_tenant().await;
    let theirs = create(&other, person("Theirs", "shared@batch.example")).await;
    let their_company = create_company(&other, "Theirs").await;

    let batch = contact_batch(
        c,
        vec![
            person("Ours", "shared@batch.example"),
            types::ContactCreate {
                company_id: Some(their_company.id),
                ..person("Linked", "linked@batch.example")
            },
        ],
    )
    .await;
    assert_eq!(
        batch.data[0].status,
        BatchStatus::Created,
        "not their contact"
    );
    assert_ne!(batch.data[0].data.as_ref().unwrap().id, theirs.id);
    assert_eq!(batch.data[1].status, BatchStatus::Error);
    assert_eq!(
        problems(batch.data[1].error.as_ref().unwrap()),
        [("items[1].company_id".into(), "not_found".into())]
    );
    let still = other
        .contacts_get()
        .id(theirs.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(still, theirs, "the other tenant's contact is untouched");
    assert_eq!(all_contacts(&other).await.len(), 1);
    assert_eq!(all_contacts(c).await.len(), 1);
}

#[tokio::test]
async fn concurrent_batches_neither_duplicate_nor_interleave() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let emails: Vec<String> = (0..50).map(|i| format!("race{i}@batch.example")).collect();

    // Two batches creating the same fifty contacts at once: one creates each, the other
    // finds it (waiting for the first to commit) and has nothing to change.
    let items: Vec<_> = emails.iter().map(|e| person("Racer", e)).collect();
    let (a, b) = tokio::join!(contact_batch(c, items.clone()), contact_batch(c, items));
    assert_eq!(
        a.meta.created + b.meta.created,
        50,
        "{:?} {:?}",
        a.meta,
        b.meta
    );
    assert_eq!(a.meta.unchanged + b.meta.unchanged, 50);
    assert_eq!(all_contacts(c).await.len(), 50, "no duplicates");
    let kinds: Vec<String> = all_events(c)
        .await
        .into_iter()
        .map(|e| e.type_)
        .filter(|kind| kind.starts_with("contact."))
        .collect();
    assert_eq!(
        kinds,
        vec!["contact.created"; 50],
        "one event each, nothing else"
    );

    // Two batches changing the same fifty contacts, in opposite orders: the locks are
    // taken in one order, so neither deadlocks, and one batch wholly follows the other.
    let titled = |title: &str, reversed: bool| {
        let mut items: Vec<_> = emails
            .iter()
            .map(|e| types::ContactCreate {
                title: Some(title.parse().unwrap()),
                ..person("Racer", e)
            })
            .collect();
        if reversed {
            items.reverse();
        }
        items
    };
    let (a, b) = tokio::join!(
        contact_batch(c, titled("A", false)),
        contact_batch(c, titled("B", true))
    );
    assert_eq!((a.meta.updated, a.meta.failed), (50, 0));
    assert_eq!((b.meta.updated, b.meta.failed), (50, 0));
    let titles: std::collections::HashSet<_> = all_contacts(c)
        .await
        .into_iter()
        .map(|contact| contact.title.unwrap())
        .collect();
    assert_eq!(titles.len(), 1, "one batch's values everywhere: {titles:?}");
}
