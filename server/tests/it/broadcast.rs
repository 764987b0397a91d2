//! The notice that credentials changed travels with the change's transaction: every
//! listener hears it when the transaction commits, and none when it rolls back.

use std::time::Duration;

use momentum_server::db::auth::{announce_change, CHANGES_CHANNEL};
use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE};
use momentum_server::db::{self, tenants, TenantTx};
use momentum_server::testing::postgres::Disposable;
use sqlx::postgres::PgListener;

#[tokio::test]
async fn a_credential_change_is_announced_when_it_commits_and_never_when_it_rolls_back() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let owner = db::connect(disposable.cluster.connect_options(OWNER_ROLE, &name), 1)
        .await
        .unwrap();
    let tenant = tenants::provision(&owner, "Notices", "owner@notices.example")
        .await
        .unwrap();
    let pool = db::connect(disposable.cluster.connect_options(RUNTIME_ROLE, &name), 2)
        .await
        .unwrap();
    let mut listener = PgListener::connect_with(&pool).await.unwrap();
    listener.listen(CHANGES_CHANNEL).await.unwrap();

    let mut tx = TenantTx::begin(&pool, tenant.tenant_id).await.unwrap();
    announce_change(&mut tx).await.unwrap();
    drop(tx);
    let heard = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    assert!(heard.is_err(), "a rolled-back change was announced");

    let mut tx = TenantTx::begin(&pool, tenant.tenant_id).await.unwrap();
    announce_change(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await;
    assert_eq!(heard.unwrap().unwrap().channel(), CHANGES_CHANNEL);
}
