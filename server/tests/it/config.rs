//! Configuration is checked, not guessed: every impossible setting stops `momentum` at
//! start with a message naming its variable, and a database without this release's
//! migrations says to run `momentum migrate` rather than failing on a SQL error. Each
//! case runs the real binary.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE, SUPERUSER, WORKER_ROLE};
use momentum_server::testing::postgres::Disposable;
use sqlx::{Connection, Executor, PgConnection};

use crate::serve::TEST_SECRET_KEY;

/// Nothing listens there: a check that let a bad value through would fail on connecting
/// instead, with a message that names DATABASE_URL rather than the setting.
const UNREACHABLE: &str = "postgres://momentum_api@127.0.0.1:1/momentum";

/// Longer than any start-up check takes; only there so a value that is wrongly accepted
/// (and the process left running) fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(60);

/// Runs `momentum <args>` with `vars` over a baseline that would otherwise get as far as
/// connecting; returns its exit status's success and its stderr.
fn run(args: &[&str], vars: &[(&str, &str)]) -> (bool, String) {
    // Never created: reaching the embedded PostgreSQL would be a bug of its own.
    let data_dir = std::env::temp_dir().join(format!("momentum-config-{}", uuid::Uuid::new_v4()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_momentum"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", UNREACHABLE)
        .env("MOMENTUM_SECRET_KEY", TEST_SECRET_KEY)
        .env("MOMENTUM_LISTEN", "127.0.0.1:0")
        // These runs go on side by side: none may take the default admin port.
        .env("MOMENTUM_ADMIN_LISTEN", "127.0.0.1:0")
        .env("MOMENTUM_DATA_DIR", &data_dir)
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run momentum");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("momentum {args:?} with {vars:?} is still running: the setting was accepted");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.success(), stderr)
}

#[test]
fn every_impossible_setting_stops_the_start_naming_its_variable() {
    // (command, variable, value, what else the message must say)
    let cases: &[(&str, &str, &str, &str)] = &[
        ("serve", "MOMENTUM_LOG_FORMAT", "jsn", "`text`, `json`"),
        (
            "worker",
            "MOMENTUM_LOG_FORMAT",
            "JSON lines",
            "`text`, `json`",
        ),
        (
            "serve",
            "RUST_LOG",
            "info,sqlx=loud",
            "not a valid tracing filter",
        ),
        (
            "worker",
            "RUST_LOG",
            "momentum_server=verbose",
            "not a valid tracing filter",
        ),
        ("serve", "MOMENTUM_DB_POOL_SIZE", "0", "1..=10000"),
        ("worker", "MOMENTUM_DB_POOL_SIZE", "0", "1..=10000"),
        ("serve", "MOMENTUM_DB_POOL_SIZE", "-3", ""),
        ("serve", "MOMENTUM_DB_ACQUIRE_TIMEOUT_MS", "0", ""),
        ("serve", "MOMENTUM_LISTEN", "8080", "host:port"),
        ("serve", "MOMENTUM_LISTEN", "127.0.0.1:99999", "host:port"),
        ("healthcheck", "MOMENTUM_LISTEN", "localhost", "host:port"),
        ("serve", "MOMENTUM_ADMIN_LISTEN", "nonsense", "host:port"),
        ("worker", "MOMENTUM_ADMIN_LISTEN", "9464", "host:port"),
        ("serve", "MOMENTUM_MAX_BODY_BYTES", "0", ""),
        (
            "serve",
            "MOMENTUM_HEADER_READ_TIMEOUT_SECS",
            "0",
            "1..=3600",
        ),
        (
            "serve",
            "MOMENTUM_MAX_HEADER_BYTES",
            "1024",
            "8192..=1048576",
        ),
        ("serve", "MOMENTUM_MAX_CONNECTIONS", "0", ""),
        ("serve", "MOMENTUM_REQUEST_TIMEOUT_SECS", "30", "31..=3600"),
        ("serve", "MOMENTUM_SHUTDOWN_DRAIN_SECS", "3601", ""),
        ("worker", "MOMENTUM_SHUTDOWN_GRACE_SECS", "ten", ""),
        ("serve", "MOMENTUM_AUTH_CACHE_SECS", "86400", "0..=3600"),
        ("serve", "MOMENTUM_QR_SESSION_TTL_SECS", "0", ""),
        ("serve", "MOMENTUM_SESSION_TOKEN_TTL_SECS", "0", ""),
        ("serve", "MOMENTUM_IDEMPOTENCY_TTL_SECS", "0", ""),
        ("serve", "MOMENTUM_LAST_USED_FLUSH_SECS", "0", ""),
        ("serve", "MOMENTUM_RATE_TENANT_FACTOR", "1000000", ""),
        ("serve", "MOMENTUM_REDIS_TIMEOUT_MS", "0", ""),
        (
            "serve",
            "MOMENTUM_RATE_LIMIT_STORE_FAILURE",
            "ignore",
            "allow",
        ),
        ("serve", "MOMENTUM_RATE_LIMITS", "read=lots", ""),
        ("serve", "MOMENTUM_DB_PREPARED_STATEMENTS", "yes", "true"),
        ("serve", "MOMENTUM_WEBHOOK_WORKER", "on", "true"),
        (
            "worker",
            "MOMENTUM_WEBHOOK_ALLOW_PRIVATE",
            "sometimes",
            "true",
        ),
        ("worker", "MOMENTUM_WEBHOOK_CONCURRENCY", "0", "1..=1024"),
        (
            "worker",
            "MOMENTUM_WEBHOOK_ENDPOINT_CONCURRENCY",
            "2000",
            "1..=1024",
        ),
        ("worker", "MOMENTUM_WEBHOOK_TIMEOUT_SECS", "0", "1..=300"),
        ("worker", "MOMENTUM_WEBHOOK_POLL_MS", "0", "10..="),
        ("worker", "MOMENTUM_WEBHOOK_DISABLE_AFTER_SECS", "0", ""),
        ("worker", "MOMENTUM_WEBHOOK_RETRY_SCHEDULE", "5s,soon", ""),
        (
            "worker",
            "MOMENTUM_WEBHOOK_PROXY",
            "ftp://proxy.internal",
            "",
        ),
        ("worker", "MOMENTUM_TRASH_RETENTION_DAYS", "0", "1..=36500"),
        ("serve", "MOMENTUM_TRASH_PURGE_INTERVAL_SECS", "0", ""),
        (
            "serve",
            "MOMENTUM_REDIS_URL",
            "http://cache.internal:6379",
            "",
        ),
        (
            "serve",
            "DATABASE_URL",
            "postgres://u:hunter2@[::1/db",
            "not a valid",
        ),
        (
            "worker",
            "DATABASE_URL",
            "postgres://u:hunter2@[::1/db",
            "not a valid",
        ),
        (
            "serve",
            "MOMENTUM_ADMIN_DATABASE_URL",
            "postgres://u:hunter2@[::1/db",
            "not a valid",
        ),
        (
            "serve",
            "MOMENTUM_DIRECT_DATABASE_URL",
            "postgres://u:hunter2@[::1/db",
            "not a valid",
        ),
        (
            "worker",
            "MOMENTUM_WORKER_DATABASE_URL",
            "postgres://u:hunter2@[::1/db",
            "not a valid",
        ),
    ];
    let mut failures = Vec::new();
    for &(command, variable, value, also) in cases {
        let (ok, stderr) = run(&[command], &[(variable, value)]);
        if ok || !stderr.contains(variable) || !stderr.contains(also) {
            failures.push(format!(
                "{command} with {variable}={value:?}: exited {}, stderr:\n{stderr}",
                if ok { "0" } else { "non-zero" }
            ));
        }
        if stderr.contains("hunter2") {
            failures.push(format!(
                "{command} echoed a password of {variable}: {stderr}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The same baseline with nothing wrong gets as far as the database: the cases above fail
/// for their setting, not for the baseline.
#[test]
fn the_baseline_fails_only_on_the_unreachable_database() {
    for command in ["serve", "worker"] {
        let (ok, stderr) = run(&[command], &[]);
        assert!(!ok, "{command} reached a database at {UNREACHABLE}");
        assert!(
            stderr.contains("DATABASE_URL") && stderr.contains("cannot connect"),
            "{command}: {stderr}"
        );
    }
}

/// A database nobody ran `momentum migrate` on, owned by the owner role as an operator
/// would create it; its name.
async fn unmigrated_database() -> String {
    let disposable = Disposable::shared();
    let name = format!("unmigrated_{}", uuid::Uuid::new_v4().simple());
    let mut conn =
        PgConnection::connect_with(&disposable.cluster.connect_options(SUPERUSER, "postgres"))
            .await
            .unwrap();
    conn.execute(format!("CREATE DATABASE \"{name}\" OWNER {OWNER_ROLE}").as_str())
        .await
        .unwrap();
    conn.close().await.unwrap();
    name
}

fn url(user: &str, database: &str) -> String {
    format!(
        "postgres://{user}@localhost/{database}?host={}&port=5432",
        Disposable::shared().cluster.socket_dir().display()
    )
}

#[tokio::test]
async fn an_unmigrated_database_says_to_run_migrate() {
    let name = unmigrated_database().await;
    for (command, variable, user) in [
        ("serve", "DATABASE_URL", RUNTIME_ROLE),
        ("worker", "MOMENTUM_WORKER_DATABASE_URL", WORKER_ROLE),
    ] {
        let database_url = url(user, &name);
        let (ok, stderr) = run(&[command], &[(variable, database_url.as_str())]);
        assert!(!ok, "{command} started on an unmigrated database");
        assert!(
            stderr.contains("has not been migrated") && stderr.contains("run `momentum migrate`"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("does not exist"), "{command}: {stderr}");
    }
}

/// A database one migration behind this release (an upgrade whose `migrate` step was
/// skipped) is refused too, naming the missing version.
#[tokio::test]
async fn a_database_behind_this_release_names_the_missing_migration() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let last = momentum_server::db::MIGRATOR.iter().last().unwrap().version;
    let mut owner =
        PgConnection::connect_with(&disposable.cluster.connect_options(OWNER_ROLE, &name))
            .await
            .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(last)
        .execute(&mut owner)
        .await
        .unwrap();
    owner.close().await.unwrap();
    let (ok, stderr) = run(
        &["serve"],
        &[
            ("DATABASE_URL", url(RUNTIME_ROLE, &name).as_str()),
            ("MOMENTUM_WEBHOOK_WORKER", "false"),
        ],
    );
    assert!(!ok, "serve started a migration behind");
    assert!(
        stderr.contains("lacks migrations")
            && stderr.contains(&last.to_string())
            && stderr.contains("run `momentum migrate`"),
        "{stderr}"
    );
}
