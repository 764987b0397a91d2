//! `momentum serve` refuses database roles that could read across tenants.

use std::process::Command;

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE, SUPERUSER};
use momentum_server::testing::postgres::Disposable;

/// A key for servers started against a test database (`openssl rand -base64 32`).
pub const TEST_SECRET_KEY: &str = "q6Jm7V0m3mQ9m1xGx8yJr2m7b0r8c3mB5o2aQ1w9T0c=";

/// Runs `momentum <args>` with DATABASE_URL naming `user`.
fn serve_with(args: &[&str], user: &str) -> (bool, String) {
    serve_with_env(
        args,
        user,
        &[("MOMENTUM_SECRET_KEY", Some(TEST_SECRET_KEY))],
    )
}

/// [`serve_with`], with these variables set (`Some`) or removed (`None`).
fn serve_with_env(args: &[&str], user: &str, vars: &[(&str, Option<&str>)]) -> (bool, String) {
    let disposable = Disposable::shared();
    let socket = disposable.cluster.socket_dir();
    let url = format!(
        "postgres://{user}@localhost/postgres?host={}&port=5432",
        socket.display()
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_momentum"));
    command
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("MOMENTUM_ADMIN_DATABASE_URL")
        .env("MOMENTUM_LISTEN", "127.0.0.1:0")
        .env("MOMENTUM_ADMIN_LISTEN", "off");
    for (name, value) in vars {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let output = command.output().expect("run momentum");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn serve_exits_non_zero_naming_the_problem_for_a_superuser() {
    // `momentum` alone is `serve`, reading the same variables.
    let (ok, stderr) = serve_with(&[], SUPERUSER);
    assert!(!ok, "serve accepted a superuser");
    assert!(stderr.contains("is a superuser"), "{stderr}");
}

#[test]
fn serve_exits_non_zero_for_a_bypassrls_role() {
    let (ok, stderr) = serve_with(&["serve"], OWNER_ROLE);
    assert!(!ok, "serve accepted a BYPASSRLS role");
    assert!(stderr.contains("BYPASSRLS"), "{stderr}");
}

#[test]
fn serve_and_worker_refuse_to_start_without_a_secret_key_naming_it() {
    for args in [&["serve"][..], &["worker"][..]] {
        let (ok, stderr) = serve_with_env(args, RUNTIME_ROLE, &[("MOMENTUM_SECRET_KEY", None)]);
        assert!(!ok, "{args:?} started without MOMENTUM_SECRET_KEY");
        assert!(
            stderr.contains("MOMENTUM_SECRET_KEY is not set"),
            "{stderr}"
        );
    }
}

#[test]
fn a_malformed_secret_key_is_refused_without_being_echoed() {
    let malformed = "not-a-key-but-a-secret-all-the-same";
    let (ok, stderr) = serve_with_env(
        &["serve"],
        RUNTIME_ROLE,
        &[("MOMENTUM_SECRET_KEY", Some(malformed))],
    );
    assert!(!ok);
    assert!(
        stderr.contains("MOMENTUM_SECRET_KEY must be 32 bytes"),
        "{stderr}"
    );
    assert!(!stderr.contains(malformed), "{stderr}");
}

#[test]
fn trusted_proxies_that_are_no_address_or_range_refuse_to_start_naming_each() {
    let (ok, stderr) = serve_with_env(
        &["serve"],
        RUNTIME_ROLE,
        &[
            ("MOMENTUM_SECRET_KEY", Some(TEST_SECRET_KEY)),
            (
                "MOMENTUM_TRUSTED_PROXIES",
                Some("10.0.0.0/8,10.0.0.0/33,192.0.2.7,proxy.local"),
            ),
        ],
    );
    assert!(!ok, "serve started with bad trusted proxies");
    assert!(stderr.contains("MOMENTUM_TRUSTED_PROXIES"), "{stderr}");
    assert!(
        stderr.contains("`10.0.0.0/33`") && stderr.contains("`proxy.local`"),
        "{stderr}"
    );
}

#[test]
fn a_redis_url_that_is_not_one_is_refused_without_being_echoed() {
    // A password in a URL of the wrong scheme: neither may reach the log.
    let url = "http://:hunter2-but-longer@cache.internal:6379/0";
    let (ok, stderr) = serve_with_env(
        &["serve"],
        RUNTIME_ROLE,
        &[
            ("MOMENTUM_SECRET_KEY", Some(TEST_SECRET_KEY)),
            ("MOMENTUM_REDIS_URL", Some(url)),
        ],
    );
    assert!(!ok, "serve started with a URL that is not Redis's");
    assert!(stderr.contains("MOMENTUM_REDIS_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// Runs `momentum <args>` against a fresh migrated database as `user`, with `vars` set;
/// whether it succeeded, and its stderr.
async fn run_on_fresh_database(args: &[&str], user: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let url = format!(
        "postgres://{user}@localhost/{name}?host={}&port=5432",
        disposable.cluster.socket_dir().display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("MOMENTUM_ADMIN_DATABASE_URL")
        .env_remove("MOMENTUM_WORKER_DATABASE_URL")
        .env("MOMENTUM_SECRET_KEY", TEST_SECRET_KEY)
        .env("MOMENTUM_LISTEN", "127.0.0.1:0")
        .env("MOMENTUM_ADMIN_LISTEN", "off")
        .envs(vars.iter().copied())
        .output()
        .expect("run momentum");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The webhook worker and the purges act across tenants through functions only the
/// worker's role may run. `serve` (running the worker by default) and `worker` refuse
/// to start when their role is a plain member of `momentum_app`, and say what to do.
#[tokio::test]
async fn serve_and_worker_refuse_to_run_the_worker_as_the_apis_role_naming_the_fix() {
    for (args, serve) in [(&["serve"][..], true), (&["worker"][..], false)] {
        let (ok, stderr) = run_on_fresh_database(args, RUNTIME_ROLE, &[]).await;
        assert!(!ok, "{args:?} ran the worker as the API's role");
        for named in [
            "refusing to start the webhook worker",
            RUNTIME_ROLE,
            "MOMENTUM_WORKER_DATABASE_URL",
            "GRANT momentum_worker TO",
        ] {
            assert!(stderr.contains(named), "{named} in: {stderr}");
        }
        assert_eq!(
            stderr.contains("MOMENTUM_WEBHOOK_WORKER=false"),
            serve,
            "only serve can leave the worker to another process: {stderr}"
        );
    }
}

/// With the worker elsewhere (`MOMENTUM_WEBHOOK_WORKER=false`), the API's role alone
/// serves.
#[tokio::test]
async fn serve_without_the_worker_needs_only_the_apis_role() {
    let (_, database_url) =
        crate::webhooks::tenant_database("Api only", "owner@api-only.example").await;
    let port = crate::support::free_port();
    let _server = crate::webhooks::start_with(
        &database_url,
        port,
        &[
            ("MOMENTUM_WEBHOOK_WORKER", "false"),
            ("MOMENTUM_WORKER_DATABASE_URL", &database_url),
        ],
    )
    .await;
}
