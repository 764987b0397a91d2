//! Exports below HTTP: the snapshot their files are read from, and the claims that hand
//! them to workers (the per-tenant cap, leases that outlive a dead worker, and claim ids
//! that void whatever the dead worker tries afterwards).

use std::time::Duration;

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE, WORKER_ROLE};
use momentum_server::db::{self, contacts, exports, tenants, TenantTx};
use momentum_server::domain::contact::{Contact, ContactInput};
use momentum_server::testing::postgres::Disposable;
use uuid::Uuid;

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

struct Db {
    owner: sqlx::PgPool,
    runtime: sqlx::PgPool,
    worker: sqlx::PgPool,
}

async fn database() -> Db {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.expect("fresh database");
    let cluster = &disposable.cluster;
    let pool = |role| db::connect(cluster.connect_options(role, &name), 3);
    Db {
        owner: pool(OWNER_ROLE).await.unwrap(),
        runtime: pool(RUNTIME_ROLE).await.unwrap(),
        worker: pool(WORKER_ROLE).await.unwrap(),
    }
}

async fn queue(db: &Db, tenant: Uuid, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let mut tx = TenantTx::begin(&db.runtime, tenant).await.unwrap();
        let filters = serde_json::json!({});
        let row = exports::insert(
            &mut tx,
            &exports::NewExport {
                id: Uuid::now_v7(),
                record_type: "contact",
                format: "ndjson",
                filters: &filters,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        ids.push(row.id);
    }
    ids
}

async fn tenant(db: &Db, name: &str) -> Uuid {
    tenants::provision(&db.owner, name, &format!("owner@{name}.example"))
        .await
        .unwrap()
        .tenant_id
}

#[tokio::test]
async fn claims_keep_to_the_per_tenant_cap_across_workers_and_take_the_oldest_first() {
    let db = database().await;
    let (a, b) = (tenant(&db, "a").await, tenant(&db, "b").await);
    let a_ids = queue(&db, a, 3).await;
    let b_ids = queue(&db, b, 1).await;
    let lease = Duration::from_secs(60);

    // Two workers claiming at once, each asking for everything.
    let (first, second) = tokio::join!(
        exports::claim(&db.worker, 16, lease, 1),
        exports::claim(&db.worker, 16, lease, 1)
    );
    let mut claimed: Vec<_> = first.unwrap().into_iter().chain(second.unwrap()).collect();
    claimed.sort_by_key(|c| c.tenant_id == b);
    let taken: Vec<(Uuid, Uuid)> = claimed.iter().map(|c| (c.tenant_id, c.id)).collect();
    assert_eq!(
        taken,
        vec![(a, a_ids[0]), (b, b_ids[0])],
        "one running export per tenant, the oldest of each"
    );
    assert!(claimed.iter().all(|c| c.attempts == 1));
    assert!(
        exports::claim(&db.worker, 16, lease, 1)
            .await
            .unwrap()
            .is_empty(),
        "nothing more while both run"
    );
    assert_eq!(
        exports::claim(&db.worker, 16, lease, 2)
            .await
            .unwrap()
            .len(),
        1,
        "a cap of two lets one more of A's run"
    );
}

#[tokio::test]
async fn a_dead_workers_export_is_claimed_again_once_its_lease_runs_out_and_the_old_claim_is_void()
{
    let db = database().await;
    let a = tenant(&db, "a").await;
    queue(&db, a, 1).await;

    // A worker claims with a short lease and dies without a word.
    let dead = exports::claim(&db.worker, 1, Duration::from_secs(1), 1)
        .await
        .unwrap()[0];
    assert!(exports::claim(&db.worker, 1, Duration::from_secs(60), 1)
        .await
        .unwrap()
        .is_empty());
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let [alive] = exports::claim(&db.worker, 1, Duration::from_secs(60), 1)
        .await
        .unwrap()[..]
    else {
        panic!("the expired lease is claimed again");
    };
    assert_eq!((alive.id, alive.attempts), (dead.id, 2));
    assert_ne!(alive.claim_id, dead.claim_id);

    // The dead worker wakes up: nothing it does lands.
    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    assert!(
        !exports::progress(&mut tx, &dead, 5, Duration::from_secs(60))
            .await
            .unwrap()
    );
    let finished = exports::Finished {
        rows: 5,
        size_bytes: 50,
        file_key: "exports/stale",
        snapshot_at: chrono::Utc::now(),
        ttl: Duration::from_secs(60),
    };
    assert!(exports::complete(&mut tx, &dead, &finished)
        .await
        .unwrap()
        .is_none());
    assert!(exports::fail(&mut tx, &dead, "internal", "x")
        .await
        .unwrap()
        .is_none());
    let done = exports::complete(
        &mut tx,
        &alive,
        &exports::Finished {
            file_key: "exports/alive",
            ..finished
        },
    )
    .await
    .unwrap()
    .expect("the live claim completes");
    tx.commit().await.unwrap();
    assert_eq!(done.status, "completed");
    assert_eq!(done.file_key.as_deref(), Some("exports/alive"));
    assert_eq!(done.attempts, 2);
}

#[tokio::test]
async fn a_released_export_goes_back_to_the_queue_without_losing_an_attempt() {
    let db = database().await;
    let a = tenant(&db, "a").await;
    queue(&db, a, 1).await;
    let claim = exports::claim(&db.worker, 1, Duration::from_secs(60), 1)
        .await
        .unwrap()[0];
    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    assert!(exports::release(&mut tx, &claim).await.unwrap());
    tx.commit().await.unwrap();
    let again = exports::claim(&db.worker, 1, Duration::from_secs(60), 1)
        .await
        .unwrap()[0];
    assert_eq!((again.id, again.attempts), (claim.id, 1));
}

#[tokio::test]
async fn expired_files_are_listed_across_tenants_and_marked_once_deleted() {
    let db = database().await;
    let (a, b) = (tenant(&db, "a").await, tenant(&db, "b").await);
    for t in [a, b] {
        queue(&db, t, 1).await;
    }
    let claims = exports::claim(&db.worker, 16, Duration::from_secs(60), 1)
        .await
        .unwrap();
    for (i, claim) in claims.iter().enumerate() {
        let mut tx = TenantTx::begin(&db.runtime, claim.tenant_id).await.unwrap();
        let ttl = if i == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(3600)
        };
        let key = format!("exports/{}", claim.id);
        exports::complete(
            &mut tx,
            claim,
            &exports::Finished {
                rows: 1,
                size_bytes: 1,
                file_key: &key,
                snapshot_at: chrono::Utc::now(),
                ttl,
            },
        )
        .await
        .unwrap()
        .unwrap();
        tx.commit().await.unwrap();
    }
    let expired = exports::expired_files(&db.worker, 100).await.unwrap();
    assert_eq!(expired.len(), 1, "only the one past its time");
    let file = &expired[0];
    assert_eq!(file.id, claims[0].id);

    let mut tx = TenantTx::begin(&db.runtime, file.tenant_id).await.unwrap();
    assert!(exports::mark_expired(&mut tx, file.id, &file.file_key)
        .await
        .unwrap());
    assert!(!exports::mark_expired(&mut tx, file.id, &file.file_key)
        .await
        .unwrap());
    let row = exports::get(&mut tx, file.id).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((row.status.as_str(), row.file_key), ("expired", None));
    assert!(exports::expired_files(&db.worker, 100)
        .await
        .unwrap()
        .is_empty());
}

/// What the API and the worker render, as the server wires them.
fn jobs(db: &Db, blobs: momentum_server::blob::Blobs) -> momentum_server::app::exports::Jobs {
    momentum_server::app::exports::Jobs {
        pool: db.worker.clone(),
        blobs,
        settings: Default::default(),
        render: momentum_server::api::exports::RENDER,
        metrics: None,
    }
}

#[tokio::test]
async fn the_purge_deletes_an_expired_file_before_it_marks_the_export_expired() {
    use momentum_server::blob::{Blobs, Key};
    let db = database().await;
    let a = tenant(&db, "a").await;
    queue(&db, a, 1).await;
    let dir = std::env::temp_dir().join(format!("momentum-purge-{}", Uuid::new_v4()));
    let blobs = Blobs::local(&dir).unwrap();
    let key = Key::new(["exports", "purge-test.ndjson"]).unwrap();
    let mut writer = blobs.writer(&key);
    writer
        .put(bytes::Bytes::from_static(b"{}\n"))
        .await
        .unwrap();
    writer.finish().await.unwrap();

    let claim = exports::claim(&db.worker, 1, Duration::from_secs(60), 1)
        .await
        .unwrap()[0];
    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    let finished = exports::Finished {
        rows: 1,
        size_bytes: 3,
        file_key: &key.to_string(),
        snapshot_at: chrono::Utc::now(),
        ttl: Duration::ZERO,
    };
    exports::complete(&mut tx, &claim, &finished)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert!(blobs.reader(&key).await.unwrap().is_some());

    let jobs = jobs(&db, blobs.clone());
    assert_eq!(
        momentum_server::app::exports::purge_expired(&jobs)
            .await
            .unwrap(),
        1
    );
    assert!(
        blobs.reader(&key).await.unwrap().is_none(),
        "the file is gone"
    );
    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    let row = exports::get(&mut tx, claim.id).await.unwrap();
    tx.end_read();
    assert_eq!(row.status, "expired");
    assert_eq!(
        momentum_server::app::exports::purge_expired(&jobs)
            .await
            .unwrap(),
        0,
        "nothing left to purge"
    );
    std::fs::remove_dir_all(&dir).ok();
}
