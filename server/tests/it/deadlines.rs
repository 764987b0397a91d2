//! Work that would outlive its request: a statement still running in PostgreSQL when the
//! request's deadline (`MOMENTUM_REQUEST_TIMEOUT_SECS`) has answered the client 503 is
//! cancelled by PostgreSQL itself, rather than left to hold its connection and its locks.

use std::time::Duration;

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE, SUPERUSER};
use momentum_server::db::{self, tenants};
use momentum_server::error::{AppError, ErrorCode};
use momentum_server::startup::{Application, HttpSettings};
use momentum_server::testing::postgres::Disposable;
use momentum_server::webhooks::WebhookSettings;
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;

use crate::support::eventually;

/// The runtime role's statements on `contacts` waiting on a lock right now (`monitor`
/// must see every session's activity: a superuser).
async fn waiting_on_contacts(monitor: &sqlx::PgPool, database: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname = $1 AND usename = $2 AND state = 'active'
            AND wait_event_type = 'Lock' AND query ILIKE '%contacts%'",
    )
    .bind(database)
    .bind(RUNTIME_ROLE)
    .fetch_one(monitor)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_outliving_its_request_is_cancelled_in_postgresql() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let cluster = &disposable.cluster;
    let owner = db::connect(cluster.connect_options(OWNER_ROLE, &name), 2)
        .await
        .unwrap();
    let tenant = tenants::provision(&owner, "Deadlines", "owner@deadlines.example")
        .await
        .unwrap();
    let monitor = db::connect(cluster.connect_options(SUPERUSER, &name), 1)
        .await
        .unwrap();
    let runtime = db::connect(cluster.connect_options(RUNTIME_ROLE, &name), 4)
        .await
        .unwrap();
    let settings = HttpSettings {
        request_timeout: Duration::from_secs(2),
        // Nothing in the background that could touch the table while it is locked.
        webhooks: WebhookSettings {
            worker: false,
            ..WebhookSettings::default()
        },
        ..HttpSettings::default()
    };
    let app = Application::build(runtime, "127.0.0.1:0", settings)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));

    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/v1/contacts"))
        .bearer_auth(&tenant.api_key)
        .json(&serde_json::json!({ "first_name": "Locked" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["data"]["id"].as_str().unwrap().to_owned();

    // Another session holds the contact's row lock for the whole test: the request's
    // update waits on it, past the request's deadline.
    let mut holder = sqlx::PgConnection::connect_with(&cluster.connect_options(OWNER_ROLE, &name))
        .await
        .unwrap();
    let mut lock = holder.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM contacts WHERE id = $1::uuid FOR UPDATE")
        .bind(&id)
        .execute(&mut *lock)
        .await
        .unwrap();

    let patch = tokio::spawn(
        http.patch(format!("{base}/v1/contacts/{id}"))
            .bearer_auth(&tenant.api_key)
            .json(&serde_json::json!({ "first_name": "Changed" }))
            .send(),
    );
    eventually(
        Duration::from_secs(5),
        "the request's update to wait on the lock",
        || async { waiting_on_contacts(&monitor, &name).await == 1 },
    )
    .await;
    let resp = patch.await.unwrap().unwrap();
    assert_eq!(resp.status(), 503, "the request's deadline answers");
    // The update was waiting on the lock when the client got its 503: PostgreSQL must
    // have given up on it too, though the lock is still held.
    eventually(
        Duration::from_secs(5),
        "the timed-out request's statement to stop waiting in PostgreSQL",
        || async { waiting_on_contacts(&monitor, &name).await == 0 },
    )
    .await;
    lock.rollback().await.unwrap();
    // Nothing was changed behind the 503.
    let first_name: String =
        sqlx::query_scalar("SELECT first_name FROM contacts WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(first_name, "Locked");
}

#[tokio::test]
async fn a_statement_cancelled_by_its_timeout_is_a_503_to_retry() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let mut conn =
        sqlx::PgConnection::connect_with(&disposable.cluster.connect_options(RUNTIME_ROLE, &name))
            .await
            .unwrap();
    sqlx::query("SET statement_timeout = 10")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = sqlx::query("SELECT pg_sleep(5)")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert_eq!(AppError::from(err).code(), ErrorCode::ServiceUnavailable);
}
