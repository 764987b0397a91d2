//! Identity migrations, checked against PostgreSQL directly: what becomes of credentials
//! issued under the rules a migration replaces.

use std::borrow::Cow;

use chrono::{Duration, Utc};
use momentum_server::db::embedded::OWNER_ROLE;
use momentum_server::db::{self, tenants, MIGRATOR};
use momentum_server::domain::credential::{hash_secret, Kind, NewApiKey};
use momentum_server::testing::postgres::Disposable;
use sqlx::migrate::Migrator;
use sqlx::PgPool;
use uuid::Uuid;

/// The migration that stores scopes on QR sessions and session tokens.
const SCOPED_SESSIONS: i64 = 20261202000001;

/// A database migrated up to, not including, `version`, as its owner. On a cluster of its
/// own: the later migrations then run by the test grant cluster-wide roles (the worker
/// role to every runtime role), which must not reach the shared cluster's other tests.
async fn migrated_before(version: i64) -> PgPool {
    let disposable = Disposable::start().unwrap();
    let cluster = &disposable.cluster;
    cluster.bootstrap("before").await.unwrap();
    let owner = db::connect(cluster.connect_options(OWNER_ROLE, "before"), 2)
        .await
        .unwrap();
    let earlier = Migrator {
        migrations: Cow::Owned(
            MIGRATOR
                .iter()
                .filter(|m| m.version < version)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    earlier.run(&owner).await.unwrap();
    owner
}

/// Starts a QR session and approves it for `user` with the functions of the time.
async fn approved_session(owner: &PgPool, tenant: Uuid, user: Uuid) -> (Uuid, String) {
    let id = Uuid::new_v4();
    let secret = "poll-secret".to_owned();
    sqlx::query("SELECT qr_session_create($1, $2, $3)")
        .bind(id)
        .bind(&hash_secret(&secret)[..])
        .bind(Utc::now() + Duration::minutes(2))
        .execute(owner)
        .await
        .unwrap();
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let status: String = sqlx::query_scalar("SELECT qr_session_approve($1, $2)")
        .bind(id)
        .bind(user)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(status, "approved");
    (id, secret)
}

async fn exchange(owner: &PgPool, session: Uuid, token: &NewApiKey) -> Option<Uuid> {
    sqlx::query_scalar("SELECT user_id FROM qr_session_exchange($1, $2, $3, $4, $5)")
        .bind(session)
        .bind(Uuid::now_v7())
        .bind(&token.public_id)
        .bind(&token.secret_hash[..])
        .bind(Utc::now() + Duration::hours(1))
        .fetch_optional(owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn session_tokens_issued_before_scopes_were_stored_lose_all_power() {
    let owner = migrated_before(SCOPED_SESSIONS).await;
    let tenant = tenants::provision(&owner, "Before", "owner@before.example")
        .await
        .unwrap();
    // A token issued under the old rules: it held whatever its user's role allowed.
    let (exchanged, _) = approved_session(&owner, tenant.tenant_id, tenant.user_id).await;
    let old_token = NewApiKey::generate_kind(Kind::SessionToken);
    assert_eq!(
        exchange(&owner, exchanged, &old_token).await,
        Some(tenant.user_id)
    );
    // And a session approved under the old rules but not yet exchanged.
    let (approved, _) = approved_session(&owner, tenant.tenant_id, tenant.user_id).await;

    MIGRATOR.run(&owner).await.unwrap();

    let (scopes, revoked): (Option<Vec<String>>, bool) = sqlx::query_as(
        "SELECT scopes, revoked_at IS NOT NULL FROM auth_lookup_credential('session_token', $1)",
    )
    .bind(&old_token.public_id)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert!(revoked, "the old token is revoked");
    assert_eq!(scopes, Some(vec![]), "and holds no scope, revoked or not");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events \
          WHERE action = 'session_token.revoked' AND target_type = 'session_token' \
            AND target_id = (SELECT id FROM session_tokens WHERE public_id = $1)",
    )
    .bind(&old_token.public_id)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(audited, 1, "the revocation is in the tenant's audit log");
    let late = NewApiKey::generate_kind(Kind::SessionToken);
    assert_eq!(
        exchange(&owner, approved, &late).await,
        None,
        "an approval without scopes can no longer be exchanged"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM qr_session_read($1)")
        .bind(approved)
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(
        status, "expired",
        "the device sees it expired and starts again"
    );
}
