//! Imports below HTTP: the claims that hand them to workers and the guards that make a
//! chunk land exactly once (a stale claim, a chunk already committed, a chunk rolled
//! back), and the errors kept in file order.

use std::time::Duration;

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE, WORKER_ROLE};
use momentum_server::db::imports::{self, Advance, Counts, NewImportError};
use momentum_server::db::page::Page;
use momentum_server::db::{self, tenants, TenantTx};
use momentum_server::testing::postgres::Disposable;
use uuid::Uuid;

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

async fn tenant(db: &Db, name: &str) -> Uuid {
    tenants::provision(&db.owner, name, &format!("owner@{name}.example"))
        .await
        .unwrap()
        .tenant_id
}

/// Queues an import of a 1,000-byte file whose rows start at byte 100, line 2.
async fn queue(db: &Db, tenant: Uuid) -> Uuid {
    let mut tx = TenantTx::begin(&db.runtime, tenant).await.unwrap();
    let id = Uuid::now_v7();
    let key = format!("imports/{tenant}/{id}.csv");
    let row = imports::insert(
        &mut tx,
        &imports::NewImport {
            id,
            record_type: "contact",
            format: "csv",
            match_key: "email",
            columns: &serde_json::json!([{"column": "email", "field": "email"}]),
            requested_by: None,
            file_key: &key,
            size_bytes: 1_000,
            sha256: &[7; 32],
            next_byte: 100,
            next_line: 2,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    row.id
}

const LEASE: Duration = Duration::from_secs(60);

fn step(next_byte: u64, failed: u64, done: bool) -> Advance {
    Advance {
        next_byte,
        next_line: next_byte / 10,
        counts: Counts {
            created: 3,
            failed,
            ..Counts::default()
        },
        errors_stored: u32::try_from(failed).unwrap(),
        done,
    }
}

fn error(line: u64, n: u16) -> NewImportError {
    NewImportError {
        line,
        n,
        column: Some("E-mail".into()),
        field: Some("email".into()),
        code: "invalid".into(),
        message: "must be an email address".into(),
    }
}

#[tokio::test]
async fn claims_keep_to_the_per_tenant_cap_across_workers() {
    let db = database().await;
    let (a, b) = (tenant(&db, "a").await, tenant(&db, "b").await);
    let first_a = queue(&db, a).await;
    queue(&db, a).await;
    let only_b = queue(&db, b).await;

    let (one, two) = tokio::join!(
        imports::claim(&db.worker, 16, LEASE, 1),
        imports::claim(&db.worker, 16, LEASE, 1)
    );
    let mut taken: Vec<(Uuid, Uuid)> = one
        .unwrap()
        .into_iter()
        .chain(two.unwrap())
        .map(|c| (c.tenant_id, c.id))
        .collect();
    taken.sort_by_key(|(t, _)| *t == b);
    assert_eq!(taken, vec![(a, first_a), (b, only_b)]);
    assert!(imports::claim(&db.worker, 16, LEASE, 1)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_chunk_lands_once_whoever_holds_the_import_and_a_rolled_back_one_leaves_nothing() {
    let db = database().await;
    let a = tenant(&db, "a").await;
    let id = queue(&db, a).await;

    // A worker claims with a short lease and applies a chunk, but dies before it
    // commits: nothing of the chunk remains.
    let dead = imports::claim(&db.worker, 1, Duration::from_secs(1), 1)
        .await
        .unwrap()[0];
    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    let locked = imports::lock_for_chunk(&mut tx, &dead, 100, Duration::from_secs(1))
        .await
        .unwrap()
        .expect("the claim's own chunk");
    assert_eq!((locked.next_byte, locked.next_line), (100, 2));
    imports::insert_errors(&mut tx, id, &[error(2, 0)])
        .await
        .unwrap();
    imports::advance(&mut tx, &dead, &step(400, 1, false))
        .await
        .unwrap();
    drop(tx);

    // Its lease runs out and another worker takes the import from where it stood.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let alive = imports::claim(&db.worker, 1, LEASE, 1).await.unwrap()[0];
    assert_eq!((alive.id, alive.attempts), (id, 2));
    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    let row = imports::lock_for_chunk(&mut tx, &alive, 100, LEASE)
        .await
        .unwrap()
        .expect("the chunk the dead worker never committed");
    assert_eq!((row.rows_read, row.errors_stored), (0, 0));
    let (errors, _) = imports::errors(&mut tx, id, &page(10)).await.unwrap();
    assert!(errors.is_empty(), "the rolled-back chunk kept no errors");
    imports::insert_errors(&mut tx, id, &[error(3, 0), error(2, 1), error(2, 0)])
        .await
        .unwrap();
    let row = imports::advance(&mut tx, &alive, &step(400, 2, false))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (
            row.next_byte,
            row.rows_read,
            row.created,
            row.failed,
            row.attempts
        ),
        (400, 5, 3, 2, 0),
        "a committed chunk is progress: the attempts start again"
    );

    // The dead worker wakes up, and a retry of the committed chunk comes late: neither
    // may lock the import.
    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    assert!(imports::lock_for_chunk(&mut tx, &dead, 400, LEASE)
        .await
        .unwrap()
        .is_none());
    assert!(imports::lock_for_chunk(&mut tx, &alive, 100, LEASE)
        .await
        .unwrap()
        .is_none());
    assert!(imports::fail(&mut tx, &dead, "internal", "x")
        .await
        .unwrap()
        .is_none());

    // The last chunk completes it.
    imports::lock_for_chunk(&mut tx, &alive, 400, LEASE)
        .await
        .unwrap()
        .expect("the next chunk");
    let done = imports::advance(&mut tx, &alive, &step(1_000, 0, true))
        .await
        .unwrap();
    let (errors, more) = imports::errors(&mut tx, id, &page(2)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(done.status, "completed");
    assert!(done.completed_at.is_some());
    assert_eq!((done.rows_read, done.created, done.failed), (8, 6, 2));
    let places: Vec<i64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(places, vec![2, 2], "errors page in file order");
    assert_eq!(errors[0].id, imports::error_id(2, 0));
    assert!(more);
}

fn page(limit: u32) -> Page<imports::ImportErrorSort> {
    Page {
        key: imports::ImportErrorSort::Line,
        descending: false,
        after: None,
        limit,
    }
}

#[tokio::test]
async fn a_released_import_keeps_its_progress_and_a_cancelled_one_cannot_be_claimed() {
    let db = database().await;
    let a = tenant(&db, "a").await;
    let id = queue(&db, a).await;
    let claim = imports::claim(&db.worker, 1, LEASE, 1).await.unwrap()[0];
    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    imports::lock_for_chunk(&mut tx, &claim, 100, LEASE)
        .await
        .unwrap()
        .unwrap();
    imports::advance(&mut tx, &claim, &step(500, 0, false))
        .await
        .unwrap();
    assert!(imports::release(&mut tx, &claim).await.unwrap());
    tx.commit().await.unwrap();

    let again = imports::claim(&db.worker, 1, LEASE, 1).await.unwrap()[0];
    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    let row = imports::lock_for_chunk(&mut tx, &again, 500, LEASE)
        .await
        .unwrap()
        .expect("the next claim goes on where the last stopped");
    assert_eq!((row.rows_read, row.attempts), (3, 1));
    tx.commit().await.unwrap();

    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    let cancelled = imports::cancel(&mut tx, id).await.unwrap().unwrap();
    assert!(imports::cancel(&mut tx, id).await.unwrap().is_none());
    assert!(imports::lock_for_chunk(&mut tx, &again, 500, LEASE)
        .await
        .unwrap()
        .is_none());
    tx.commit().await.unwrap();
    assert_eq!(cancelled.status, "cancelled");
    assert!(imports::claim(&db.worker, 1, LEASE, 1)
        .await
        .unwrap()
        .is_empty());

    // Its file is spent, across tenants, until forgotten.
    let spent = imports::spent_files(&db.worker, 10).await.unwrap();
    assert_eq!(spent.len(), 1);
    let mut tx = TenantTx::begin(&db.runtime, a).await.unwrap();
    assert!(imports::forget_file(&mut tx, id, &spent[0].file_key)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert!(imports::spent_files(&db.worker, 10)
        .await
        .unwrap()
        .is_empty());
}
