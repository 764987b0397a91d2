//! Batch upserts racing another transaction, below HTTP, where the race can be staged
//! exactly: a contact with an item's email inserted, but not yet committed, after the
//! batch looked for it.

use std::time::Duration;

use momentum_server::api::contacts::Contact as Wire;
use momentum_server::app::batch::{self, Contacts, Outcome};
use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE};
use momentum_server::db::{self, contacts, tenants, TenantTx};
use momentum_server::domain::contact::{Contact, ContactInput, ContactPatch};
use momentum_server::domain::Patch;
use momentum_server::testing::postgres::Disposable;

#[tokio::test]
async fn an_item_whose_email_another_transaction_inserts_meanwhile_updates_that_contact() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.expect("fresh database");
    let cluster = &disposable.cluster;
    let owner = db::connect(cluster.connect_options(OWNER_ROLE, &name), 2)
        .await
        .unwrap();
    let runtime = db::connect(cluster.connect_options(RUNTIME_ROLE, &name), 2)
        .await
        .unwrap();
    let tenant = tenants::provision(&owner, "Tenant A", "owner@a.example")
        .await
        .unwrap()
        .tenant_id;

    // Another request inserts the contact and holds its transaction open.
    let mut other = TenantTx::begin(&runtime, tenant).await.unwrap();
    let early = Contact::parse(ContactInput {
        first_name: Some("Early".into()),
        email: Some("race@batch.example".into()),
        ..Default::default()
    })
    .unwrap();
    let early = contacts::insert(&mut other, &early).await.unwrap();

    // The batch does not see it, inserts, and waits on the unique index.
    let item = ContactPatch {
        email: Patch::Set(Some("RACE@batch.example".into())),
        title: Patch::Set(Some("CTO".into())),
        ..Default::default()
    };
    let pool = runtime.clone();
    let running = tokio::spawn(async move {
        batch::run::<Contacts, Wire>(&pool, tenant, None, vec![Ok(item)]).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !running.is_finished(),
        "the batch waits for the other insert"
    );

    // Once that commits, the item updates the contact it made instead of failing.
    other.commit().await.unwrap();
    let outcomes = running.await.unwrap().expect("the batch commits");
    let [Outcome::Updated(contact)] = outcomes.as_slice() else {
        panic!("expected one update, got {outcomes:?}");
    };
    assert_eq!(contact.id, early.id);
    assert_eq!(
        contact.first_name.as_deref(),
        Some("Early"),
        "left out: kept"
    );
    assert_eq!(contact.title.as_deref(), Some("CTO"));
    assert_eq!(contact.email.as_deref(), Some("RACE@batch.example"));

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(count, 1, "one contact, not two");
}
