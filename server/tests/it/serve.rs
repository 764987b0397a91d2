//! `momentum serve` refuses database roles that could read across tenants.

use std::process::Command;

use momentum_server::db::embedded::{Disposable, OWNER_ROLE, SUPERUSER};

/// Runs `momentum <args>` with DATABASE_URL naming `user`.
fn serve_with(args: &[&str], user: &str) -> (bool, String) {
    let disposable = Disposable::shared();
    let socket = disposable.cluster.socket_dir();
    let url = format!(
        "postgres://{user}@localhost/postgres?host={}&port=5432",
        socket.display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("MOMENTUM_ADMIN_DATABASE_URL")
        .env("MOMENTUM_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run momentum");
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
