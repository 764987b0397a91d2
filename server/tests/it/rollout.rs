//! Rolling upgrades, with the real binary: a server asked to stop drains first (`/readyz`
//! unready while it still serves) and a second signal cuts the drain short; a release
//! meeting a database that a newer release migrated serves it without migrating, while
//! `momentum migrate` refuses it naming the versions; `/readyz` is unready only for a
//! migration the binary carries that is missing or changed.

use std::borrow::Cow;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE};
use momentum_server::db::{self, MIGRATOR};
use momentum_server::testing::postgres::Disposable;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use tokio::time::Instant;

use crate::support::{eventually, free_port};
use crate::webhooks::{tenant_database, worker_url};

/// A migration of the next release, as it would ship: an expand step that leaves
/// everything the current release uses in place.
const NEWER: i64 = 20991231000001;

/// `momentum serve`, killed (SIGKILL) when dropped if it has not exited by then.
struct Server {
    child: Child,
    port: u16,
    /// Where its stderr (the log) goes.
    log: LogFile,
}

/// A file under the system temp folder, removed when dropped.
struct LogFile(PathBuf);

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Server {
    /// Starts `momentum serve` on `database_url` (the worker on its worker role) with
    /// `env` set too; returns once `/healthz` answers.
    async fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = LogFile(
            std::env::temp_dir().join(format!("momentum-serve-{}.log", uuid::Uuid::new_v4())),
        );
        let child = Command::new(env!("CARGO_BIN_EXE_momentum"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("MOMENTUM_WORKER_DATABASE_URL", worker_url(database_url))
            .env_remove("MOMENTUM_ADMIN_DATABASE_URL")
            .env("MOMENTUM_SECRET_KEY", crate::serve::TEST_SECRET_KEY)
            .env("MOMENTUM_LISTEN", format!("127.0.0.1:{port}"))
            .env("MOMENTUM_ADMIN_LISTEN", "off")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(File::create(&log.0).unwrap())
            .spawn()
            .expect("start momentum");
        let mut server = Self { child, port, log };
        let health = server.url("/healthz");
        for _ in 0..300 {
            if reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("momentum exited with {status}: {}", server.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("momentum did not start: {}", server.log());
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log.0).unwrap_or_default()
    }

    fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).unwrap();
        kill(Pid::from_raw(pid), signal).unwrap();
    }

    /// The status of a GET of `path` on a new connection, or `None` when refused.
    async fn status(&self, path: &str) -> Option<u16> {
        reqwest::Client::new()
            .get(self.url(path))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// Waits up to `within` for the process to exit; whether it exited successfully.
    async fn exited_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "still running after {within:?}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a contact with `key` on `server`; its status.
async fn create_contact(server: &Server, key: &str, email: &str) -> u16 {
    reqwest::Client::new()
        .post(server.url("/v1/contacts"))
        .bearer_auth(key)
        .json(&serde_json::json!({ "first_name": "Ada", "email": email }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_unready_while_serving_then_closes_and_exits() {
    let (tenant, database_url) = tenant_database("Drain", "owner@drain.example").await;
    let mut server = Server::start(&database_url, &[("MOMENTUM_SHUTDOWN_DRAIN_SECS", "2")]).await;
    assert_eq!(server.status("/readyz").await, Some(200));

    let asked = Instant::now();
    server.signal(Signal::SIGTERM);
    eventually(Duration::from_secs(1), "/readyz to answer 503", || async {
        server.status("/readyz").await == Some(503)
    })
    .await;
    assert_eq!(server.status("/healthz").await, Some(200));
    assert_eq!(
        create_contact(&server, &tenant.api_key, "ada@drain.example").await,
        201,
        "a write during the drain is served"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );

    eventually(Duration::from_secs(5), "connections refused", || async {
        server.status("/healthz").await.is_none()
    })
    .await;
    let refused_after = asked.elapsed();
    // MOMENTUM_SHUTDOWN_DRAIN_SECS=2 is what it waited, not the default of 5.
    assert!(
        (Duration::from_millis(1900)..Duration::from_millis(4500)).contains(&refused_after),
        "refused after {refused_after:?}"
    );
    assert!(
        server.exited_within(Duration::from_secs(5)).await,
        "{}",
        server.log()
    );
    let log = server.log();
    assert!(log.contains("draining"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_drain_at_once() {
    let (_, database_url) = tenant_database("Hurry", "owner@hurry.example").await;
    let mut server = Server::start(&database_url, &[("MOMENTUM_SHUTDOWN_DRAIN_SECS", "60")]).await;
    server.signal(Signal::SIGTERM);
    eventually(Duration::from_secs(1), "/readyz to answer 503", || async {
        server.status("/readyz").await == Some(503)
    })
    .await;
    let asked = Instant::now();
    server.signal(Signal::SIGINT);
    assert!(
        server.exited_within(Duration::from_secs(5)).await,
        "{}",
        server.log()
    );
    assert!(asked.elapsed() < Duration::from_secs(5));
    assert!(
        server.log().contains("the drain ends now"),
        "{}",
        server.log()
    );
}

/// The owner's URL of the database `database_url` (the runtime role's) names.
fn owner_url(database_url: &str) -> String {
    database_url.replacen(
        &format!("postgres://{RUNTIME_ROLE}@"),
        &format!("postgres://{OWNER_ROLE}@"),
        1,
    )
}

/// The migrator of a release after this one: this release's migrations and one more.
fn next_release() -> Migrator {
    let mut migrations: Vec<Migration> = MIGRATOR.iter().cloned().collect();
    migrations.push(Migration::new(
        NEWER,
        Cow::Borrowed("next release adds a column"),
        MigrationType::Simple,
        Cow::Borrowed("ALTER TABLE contacts ADD COLUMN nickname text;"),
        false,
    ));
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// During a rolling upgrade the new release has migrated the database while instances
/// of this one still run, restart, or are rolled back to: this release (standing in for
/// the previous one) serves it, even with MOMENTUM_ADMIN_DATABASE_URL (which migrates at
/// start), and is ready; only `momentum migrate` refuses, naming the unknown version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_migrated_by_a_newer_release_is_served_but_not_migrated() {
    let (tenant, database_url) = tenant_database("Ahead", "owner@ahead.example").await;
    let owner_url = owner_url(&database_url);
    let owner = db::connect(owner_url.parse().unwrap(), 1).await.unwrap();
    next_release().run(&owner).await.unwrap();
    let applied = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&owner)
            .await
            .unwrap()
    };
    let before = applied().await;

    let server = Server::start(
        &database_url,
        &[("MOMENTUM_ADMIN_DATABASE_URL", owner_url.as_str())],
    )
    .await;
    assert_eq!(
        server.status("/readyz").await,
        Some(200),
        "{}",
        server.log()
    );
    assert_eq!(
        create_contact(&server, &tenant.api_key, "ada@ahead.example").await,
        201
    );
    let log = server.log();
    assert!(
        log.contains("does not know") && log.contains(&NEWER.to_string()),
        "serve says why it did not migrate: {log}"
    );
    drop(server);

    let output = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .arg("migrate")
        .env("MOMENTUM_ADMIN_DATABASE_URL", &owner_url)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run momentum migrate");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "migrate accepted it: {stderr}");
    assert!(
        stderr.contains(&format!("{NEWER} (next release adds a column)")),
        "migrate names the version: {stderr}"
    );
    assert_eq!(applied().await, before, "nothing was applied or removed");
}

/// `/readyz`'s check: a newer release's migration beside this one's is fine; one of this
/// release's missing, or applied from a file changed since, is not.
#[tokio::test]
async fn readiness_wants_this_releases_migrations_unchanged_and_ignores_newer_ones() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let cluster = &disposable.cluster;
    let owner = db::connect(cluster.connect_options(OWNER_ROLE, &name), 1)
        .await
        .unwrap();
    let runtime = db::connect(cluster.connect_options(RUNTIME_ROLE, &name), 1)
        .await
        .unwrap();
    db::check_ready(&runtime).await.unwrap();
    next_release().run(&owner).await.unwrap();
    db::check_ready(&runtime)
        .await
        .expect("ready beside a newer release's migration");

    let last = MIGRATOR.iter().last().unwrap().version;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = $1")
        .bind(last)
        .execute(&owner)
        .await
        .unwrap();
    let err = db::check_ready(&runtime).await.unwrap_err().to_string();
    assert!(
        err.contains("another checksum") && err.contains(&last.to_string()),
        "{err}"
    );

    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(last)
        .execute(&owner)
        .await
        .unwrap();
    let err = db::check_ready(&runtime).await.unwrap_err().to_string();
    assert!(
        err.contains("not applied") && err.contains(&last.to_string()),
        "{err}"
    );
}
