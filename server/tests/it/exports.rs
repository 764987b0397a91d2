//! What exports stand on below HTTP: a snapshot transaction that later commits cannot
//! change, read-only whatever the caller tries.

use std::time::Duration;

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE};
use momentum_server::db::{self, contacts, tenants, TenantTx};
use momentum_server::domain::contact::{Contact, ContactInput};
use momentum_server::testing::postgres::Disposable;

fn contact(email: &str) -> Contact {
    Contact::parse(ContactInput {
        first_name: Some("Snap".into()),
        email: Some(email.into()),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_snapshot_sees_neither_what_commits_after_it_began_nor_lets_it_write() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.expect("fresh database");
    let cluster = &disposable.cluster;
    let owner = db::connect(cluster.connect_options(OWNER_ROLE, &name), 2)
        .await
        .unwrap();
    let runtime = db::connect(cluster.connect_options(RUNTIME_ROLE, &name), 3)
        .await
        .unwrap();
    let tenant = tenants::provision(&owner, "Tenant A", "owner@a.example")
        .await
        .unwrap()
        .tenant_id;
    let mut tx = TenantTx::begin(&runtime, tenant).await.unwrap();
    let before = contacts::insert(&mut tx, &contact("before@snap.example"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut snapshot = TenantTx::begin_snapshot(&runtime, tenant, Duration::from_secs(60))
        .await
        .unwrap();

    // Another transaction commits a new contact and removes the old one for good.
    let mut tx = TenantTx::begin(&runtime, tenant).await.unwrap();
    let after = contacts::insert(&mut tx, &contact("after@snap.example"))
        .await
        .unwrap();
    contacts::delete_for_good(&mut tx, before.id).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        contacts::get(&mut snapshot, before.id).await.unwrap().id,
        before.id,
        "the snapshot still holds what was there when it began"
    );
    assert!(
        contacts::get(&mut snapshot, after.id).await.is_err(),
        "and not what committed since"
    );
    let write = contacts::insert(&mut snapshot, &contact("never@snap.example")).await;
    assert!(write.is_err(), "a snapshot is read-only");
}
