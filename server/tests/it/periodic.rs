//! Periodic work shared by several instances on one database: the trash's and the
//! idempotency keys' purges run one round per interval whichever instance claims it,
//! the others skip; `last_used_at` is written once per interval however many instances
//! saw the credential used.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use momentum_server::auth::Authenticator;
use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE, WORKER_ROLE};
use momentum_server::db::periodic::Round;
use momentum_server::db::tenants::{self, ProvisionedTenant};
use momentum_server::db::trash::TrashSettings;
use momentum_server::db::{self, idempotency, trash};
use momentum_server::testing::postgres::Disposable;
use sqlx::PgPool;
use uuid::Uuid;

struct Db {
    owner: PgPool,
    /// Two instances' worker pools.
    instances: [PgPool; 2],
    /// The API's role, as two instances would use it.
    runtime: [PgPool; 2],
    tenant: ProvisionedTenant,
}

async fn database() -> Db {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let cluster = &disposable.cluster;
    let connect = |role: &'static str| {
        let options = cluster.connect_options(role, &name);
        async move { db::connect(options, 3).await.unwrap() }
    };
    let owner = connect(OWNER_ROLE).await;
    let tenant = tenants::provision(&owner, "Periodic", "owner@periodic.example")
        .await
        .unwrap();
    Db {
        owner,
        instances: [connect(WORKER_ROLE).await, connect(WORKER_ROLE).await],
        runtime: [connect(RUNTIME_ROLE).await, connect(RUNTIME_ROLE).await],
        tenant,
    }
}

/// Runs `sql` as the owner in `tenant`'s transaction.
async fn as_tenant(owner: &PgPool, tenant: Uuid, sql: &str) {
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// `n` contacts of `tenant` trashed 40 days ago.
async fn trash_contacts(owner: &PgPool, tenant: Uuid, n: u32) {
    for _ in 0..n {
        let id = Uuid::now_v7();
        as_tenant(
            owner,
            tenant,
            &format!(
                "INSERT INTO contacts (id, tenant_id, first_name) VALUES ('{id}', '{tenant}', 'Old')"
            ),
        )
        .await;
        as_tenant(
            owner,
            tenant,
            &format!(
                "UPDATE contacts SET deleted_at = now() - interval '40 days' WHERE id = '{id}'"
            ),
        )
        .await;
    }
}

/// As if `job`'s last round had started `ago` earlier than recorded: the interval passed.
async fn age_the_claim(owner: &PgPool, job: &str, ago: &str) {
    sqlx::query(&format!(
        "UPDATE periodic_jobs SET last_started_at = last_started_at - interval '{ago}' \
          WHERE job = $1"
    ))
    .bind(job)
    .execute(owner)
    .await
    .unwrap();
}

/// Of `rounds`, how many ran (with what they purged, in total) and how many skipped.
fn tally(rounds: &[Round]) -> (usize, u64, usize) {
    let ran: Vec<u64> = rounds
        .iter()
        .filter_map(|r| match r {
            Round::Ran(n) => Some(*n),
            Round::Skipped => None,
        })
        .collect();
    (ran.len(), ran.iter().sum(), rounds.len() - ran.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_purges_the_trash_per_interval_and_the_others_skip() {
    let db = database().await;
    trash_contacts(&db.owner, db.tenant.tenant_id, 3).await;
    let settings = TrashSettings {
        retention: Duration::from_secs(30 * 24 * 3600),
        purge_interval: Duration::from_secs(3600),
    };
    // Two instances, two rounds each, all at once: as when a rolling restart starts them
    // together.
    let rounds = join_all([0, 1, 0, 1].map(|i| trash::run_round(&db.instances[i], settings)))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(tally(&rounds), (1, 3, 3), "{rounds:?}");
    // Within the interval, a later turn skips too, on either instance.
    for pool in &db.instances {
        assert_eq!(
            trash::run_round(pool, settings).await.unwrap(),
            Round::Skipped
        );
    }
    // Once the interval has passed, the next turn runs, whoever takes it.
    trash_contacts(&db.owner, db.tenant.tenant_id, 1).await;
    age_the_claim(&db.owner, "trash_purge", "1 hour").await;
    assert_eq!(
        trash::run_round(&db.instances[1], settings).await.unwrap(),
        Round::Ran(1)
    );
    assert_eq!(
        trash::run_round(&db.instances[0], settings).await.unwrap(),
        Round::Skipped
    );
    let (count, finished): (Option<i64>, bool) = sqlx::query_as(
        "SELECT last_count, last_finished_at >= last_started_at FROM periodic_jobs \
          WHERE job = 'trash_purge'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        (count, finished),
        (Some(1), true),
        "what the round did is recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_purges_expired_idempotency_keys_per_interval_and_the_others_skip() {
    let db = database().await;
    let expired = |n: u32| {
        format!(
            "INSERT INTO idempotency_keys (tenant_id, credential_id, key, fingerprint, status, \
             expires_at) \
             SELECT '{}', '{}', 'k' || i, sha256(i::text::bytea), 'running', \
                    now() - interval '1 hour' \
               FROM generate_series(1, {n}) i",
            db.tenant.tenant_id,
            Uuid::now_v7()
        )
    };
    // More than one batch of 1,000.
    as_tenant(&db.owner, db.tenant.tenant_id, &expired(1500)).await;
    let rounds = join_all([0, 1, 0, 1].map(|i| idempotency::purge_round(&db.instances[i])))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(tally(&rounds), (1, 1500, 3), "{rounds:?}");
    as_tenant(&db.owner, db.tenant.tenant_id, &expired(2)).await;
    assert_eq!(
        idempotency::purge_round(&db.instances[0]).await.unwrap(),
        Round::Skipped,
        "not again within the interval"
    );
    age_the_claim(&db.owner, "idempotency_purge", "10 minutes").await;
    assert_eq!(
        idempotency::purge_round(&db.instances[1]).await.unwrap(),
        Round::Ran(2)
    );
}

async fn last_used(owner: &PgPool, tenant: &ProvisionedTenant) -> Option<DateTime<Utc>> {
    sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE tenant_id = $1")
        .bind(tenant.tenant_id)
        .fetch_one(owner)
        .await
        .unwrap()
}

/// Two instances see one key used and both flush: the first writes `last_used_at`, the
/// second finds it within the flush interval and writes nothing; uses within the interval
/// write nothing more, and a use an interval later is written once, by whichever
/// instance saw it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_used_at_is_written_once_per_interval_across_instances() {
    let db = database().await;
    let flush = Duration::from_secs(60);
    let [a, b] = db
        .runtime
        .clone()
        .map(|pool| Authenticator::new(pool, Duration::from_secs(5), flush));
    let key = &db.tenant.api_key;

    a.authenticate(key).await.unwrap();
    b.authenticate(key).await.unwrap();
    assert_eq!(a.flush_usage().await.unwrap(), 1, "the first flush writes");
    let written = last_used(&db.owner, &db.tenant).await.unwrap();
    assert_eq!(
        b.flush_usage().await.unwrap(),
        0,
        "the other instance's later use is within the interval of what is stored"
    );
    assert_eq!(last_used(&db.owner, &db.tenant).await, Some(written));

    // More uses within the interval, on both: nothing to write.
    for _ in 0..3 {
        a.authenticate(key).await.unwrap();
        b.authenticate(key).await.unwrap();
    }
    assert_eq!(b.flush_usage().await.unwrap(), 0);
    assert_eq!(a.flush_usage().await.unwrap(), 0);
    assert_eq!(last_used(&db.owner, &db.tenant).await, Some(written));

    // An interval on (the stored time moved back instead of waiting a minute): the next
    // use is written once, by the instance that saw it first to flush.
    sqlx::query("UPDATE api_keys SET last_used_at = last_used_at - interval '61 seconds'")
        .execute(&db.owner)
        .await
        .unwrap();
    b.authenticate(key).await.unwrap();
    a.authenticate(key).await.unwrap();
    assert_eq!(b.flush_usage().await.unwrap(), 1);
    assert_eq!(a.flush_usage().await.unwrap(), 0);
    let moved = last_used(&db.owner, &db.tenant).await.unwrap();
    assert!(moved > written, "{moved} after {written}");
}
