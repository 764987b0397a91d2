//! A revocation, a deactivation or a role change made through one instance reaches every
//! other within a second, not at the end of their credential caches' lifetime: the
//! change notifies `momentum_credentials` as it commits and every instance, listening,
//! forgets its cached lookups. The other instances here cache for 300 s, so nothing but
//! the notification can make them refuse in time.

use std::time::{Duration, Instant};

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::UserPatch;
use momentum_sdk::{types, Client};
use momentum_server::db::embedded::SUPERUSER;
use momentum_server::testing::postgres::Disposable;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

/// Longer than any test: only a notification empties these caches in time.
const LONG_CACHE: Duration = Duration::from_secs(300);

/// How soon every instance must refuse a credential after the change has answered.
const WITHIN: Duration = Duration::from_secs(1);

/// A key of the tenant's owner with `scopes`, or acting as `user_id`: its id and secret.
async fn key(app: &TestApp, scopes: &[&str], user_id: Option<Uuid>) -> (Uuid, String) {
    let created = app
        .client
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "elsewhere".parse().unwrap(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_at: None,
            service: None,
            user_id,
        })
        .send()
        .await
        .expect("create a key")
        .into_inner()
        .data;
    (created.api_key.id, created.secret)
}

async fn user(app: &TestApp, email: &str, role: types::UserRole) -> Uuid {
    app.client
        .users_create()
        .body(types::UserCreate {
            email: email.into(),
            name: None,
            role: Some(role),
        })
        .send()
        .await
        .expect("create a user")
        .into_inner()
        .data
        .id
}

/// The status `call` answers with: 200 for a success.
async fn status<T>(
    call: impl std::future::Future<
        Output = Result<momentum_sdk::ResponseValue<T>, momentum_sdk::Error<types::ErrorEnvelope>>,
    >,
) -> u16 {
    match call.await {
        Ok(resp) => resp.status().as_u16(),
        Err(err) => err.status().map_or(0, |s| s.as_u16()),
    }
}

/// Repeats `call` until it answers `refused`, and says how long that took since `since`;
/// panics if it still does not after `limit`.
async fn refused_within<F, Fut>(since: Instant, limit: Duration, refused: u16, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    loop {
        let answered = call().await;
        if answered == refused {
            return;
        }
        assert_eq!(answered, 200, "neither accepted nor refused");
        assert!(
            since.elapsed() < limit,
            "still accepted {:?} after the change",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_revoked_key_or_token_is_refused_by_every_instance_within_a_second() {
    let mut app = TestApp::spawn().await;
    let other = app.another_instance(LONG_CACHE).await;
    let (id, secret) = key(&app, &["contacts:read"], None).await;
    let elsewhere = Client::with_api_key(&other, &secret).unwrap();
    let token = app.sign_in(&app.client).await;
    let token_elsewhere = Client::with_api_key(&other, &token.token).unwrap();
    // The other instance has cached both as valid.
    assert_eq!(status(elsewhere.contacts_list().send()).await, 200);
    assert_eq!(status(token_elsewhere.contacts_list().send()).await, 200);

    app.client.api_keys_revoke().id(id).send().await.unwrap();
    let revoked = Instant::now();
    refused_within(revoked, WITHIN, 401, || {
        status(elsewhere.contacts_list().send())
    })
    .await;

    app.client
        .session_tokens_revoke()
        .id(token.token_id)
        .send()
        .await
        .unwrap();
    let revoked = Instant::now();
    refused_within(revoked, WITHIN, 401, || {
        status(token_elsewhere.contacts_list().send())
    })
    .await;
}

#[tokio::test]
async fn a_deactivated_user_is_refused_by_every_instance_within_a_second() {
    let mut app = TestApp::spawn().await;
    let other = app.another_instance(LONG_CACHE).await;
    let mia = user(&app, "mia@a.example", types::UserRole::Member).await;
    let (_, secret) = key(&app, &["contacts:read"], Some(mia)).await;
    let elsewhere = Client::with_api_key(&other, &secret).unwrap();
    assert_eq!(status(elsewhere.contacts_list().send()).await, 200);

    app.client.users_deactivate().id(mia).send().await.unwrap();
    let deactivated = Instant::now();
    refused_within(deactivated, WITHIN, 401, || {
        status(elsewhere.contacts_list().send())
    })
    .await;
}

#[tokio::test]
async fn a_role_change_reaches_every_instance_within_a_second() {
    let mut app = TestApp::spawn().await;
    let other = app.another_instance(LONG_CACHE).await;
    let ann = user(&app, "ann@a.example", types::UserRole::Admin).await;
    let (_, secret) = key(&app, &["*"], Some(ann)).await;
    let elsewhere = Client::with_api_key(&other, &secret).unwrap();
    // Listing API keys takes an admin.
    assert_eq!(status(elsewhere.api_keys_list().send()).await, 200);

    app.client
        .users_update()
        .id(ann)
        .body(UserPatch {
            name: None,
            role: Some(types::UserRole::Member),
        })
        .send()
        .await
        .unwrap();
    let demoted = Instant::now();
    refused_within(demoted, WITHIN, 403, || {
        status(elsewhere.api_keys_list().send())
    })
    .await;
    assert_eq!(
        status(elsewhere.contacts_list().send()).await,
        200,
        "a member still reads contacts"
    );
}

/// How many sessions of `role` listen for credential changes.
async fn listening(su: &mut PgConnection, role: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
          WHERE usename = $1 AND query = 'LISTEN \"momentum_credentials\"'",
    )
    .bind(role)
    .fetch_one(su)
    .await
    .unwrap()
}

/// Waits until `role` has `want` listening sessions.
async fn until_listening(su: &mut PgConnection, role: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while listening(su, role).await != want {
        assert!(
            Instant::now() < deadline,
            "{role} never had {want} listeners"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A notification sent while an instance's listening session is down is lost to it; once
/// it listens again it forgets every cached lookup, so a revocation made meanwhile takes
/// effect then, long before its cache would have let go. The instance listens as a role
/// of its own, with no grant at all (listening needs none), which the test can lock out
/// to keep it from listening again until it says so.
#[tokio::test]
async fn an_instance_that_lost_its_listener_catches_up_when_it_listens_again() {
    let mut app = TestApp::spawn().await;
    let mut su = PgConnection::connect_with(
        &Disposable::shared()
            .cluster
            .connect_options(SUPERUSER, "postgres"),
    )
    .await
    .unwrap();
    let role = format!("listener_{}", Uuid::new_v4().simple());
    su.execute(format!("CREATE ROLE {role} LOGIN").as_str())
        .await
        .unwrap();
    let options = app.options_as(&role);
    let other = app
        .another_instance_listening_through(LONG_CACHE, options)
        .await;
    until_listening(&mut su, &role, 1).await;
    let (id, secret) = key(&app, &["contacts:read"], None).await;
    let elsewhere = Client::with_api_key(&other, &secret).unwrap();
    assert_eq!(status(elsewhere.contacts_list().send()).await, 200);

    // Its listening session is cut, and it cannot open another.
    su.execute(format!("ALTER ROLE {role} NOLOGIN").as_str())
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
        .bind(&role)
        .execute(&mut su)
        .await
        .unwrap();
    until_listening(&mut su, &role, 0).await;
    app.client.api_keys_revoke().id(id).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        status(elsewhere.contacts_list().send()).await,
        200,
        "the notice was lost: the other instance's cache still holds the key"
    );

    su.execute(format!("ALTER ROLE {role} LOGIN").as_str())
        .await
        .unwrap();
    let allowed = Instant::now();
    // It tries again at most every 2 s.
    refused_within(allowed, Duration::from_secs(5), 401, || {
        status(elsewhere.contacts_list().send())
    })
    .await;
    until_listening(&mut su, &role, 1).await;
}
