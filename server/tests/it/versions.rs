//! `updated_at` is a record's version (the API's `ETag`): the database moves it forward
//! whenever a record changes, and never back to a value it had.

use chrono::{DateTime, Utc};
use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE};
use momentum_server::db::{self, tenants};
use momentum_server::testing::postgres::Disposable;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A transaction of the runtime role pinned to `tenant`, as the server's `TenantTx`.
async fn begin(pool: &PgPool, tenant: Uuid) -> Transaction<'static, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

async fn runtime_pool() -> (PgPool, Uuid) {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.expect("fresh database");
    let cluster = &disposable.cluster;
    let owner = db::connect(cluster.connect_options(OWNER_ROLE, &name), 2)
        .await
        .unwrap();
    let tenant = tenants::provision(&owner, "Versions", "owner@v.example")
        .await
        .unwrap();
    let runtime = db::connect(cluster.connect_options(RUNTIME_ROLE, &name), 4)
        .await
        .unwrap();
    (runtime, tenant.tenant_id)
}

async fn version(pool: &PgPool, tenant: Uuid, table: &str, id: Uuid) -> DateTime<Utc> {
    let mut tx = begin(pool, tenant).await;
    let sql = format!("SELECT updated_at FROM {table} WHERE id = $1");
    let at = sqlx::query_scalar(&sql)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    at
}

async fn exec(pool: &PgPool, tenant: Uuid, sql: &str, id: Uuid) {
    let mut tx = begin(pool, tenant).await;
    sqlx::query(sql).bind(id).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_write_from_a_transaction_that_began_earlier_still_moves_the_version_forward() {
    let (pool, tenant) = runtime_pool().await;
    let id = Uuid::now_v7();
    let mut tx = begin(&pool, tenant).await;
    sqlx::query("INSERT INTO contacts (id, tenant_id, first_name) VALUES ($1, $2, 'Ada')")
        .bind(id)
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // `early` begins (its `now()` is fixed), then another transaction writes and commits.
    let mut early = begin(&pool, tenant).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    exec(
        &pool,
        tenant,
        "UPDATE contacts SET first_name = 'Bea', updated_at = now() WHERE id = $1",
        id,
    )
    .await;
    let later = version(&pool, tenant, "contacts", id).await;

    let written: DateTime<Utc> = sqlx::query_scalar(
        "UPDATE contacts SET first_name = 'Cy', updated_at = now() WHERE id = $1 \
         RETURNING updated_at",
    )
    .bind(id)
    .fetch_one(&mut *early)
    .await
    .unwrap();
    early.commit().await.unwrap();
    assert!(written > later, "{written} must be after {later}");
}

#[tokio::test]
async fn a_link_cleared_by_a_deletion_is_a_new_version_and_an_empty_update_is_none() {
    let (pool, tenant) = runtime_pool().await;
    let (company, contact) = (Uuid::now_v7(), Uuid::now_v7());
    let mut tx = begin(&pool, tenant).await;
    sqlx::query("INSERT INTO companies (id, tenant_id, name) VALUES ($1, $2, 'Acme')")
        .bind(company)
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO contacts (id, tenant_id, first_name, company_id) VALUES ($1, $2, 'Ann', $3)",
    )
    .bind(contact)
    .bind(tenant)
    .bind(company)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let linked = version(&pool, tenant, "contacts", contact).await;

    exec(
        &pool,
        tenant,
        "UPDATE contacts SET first_name = first_name WHERE id = $1",
        contact,
    )
    .await;
    assert_eq!(
        version(&pool, tenant, "contacts", contact).await,
        linked,
        "nothing changed, so no new version"
    );

    exec(
        &pool,
        tenant,
        "DELETE FROM companies WHERE id = $1",
        company,
    )
    .await;
    assert!(version(&pool, tenant, "contacts", contact).await > linked);
}
