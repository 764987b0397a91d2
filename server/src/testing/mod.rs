//! Services that tests and benchmarks start for themselves: throwaway PostgreSQL clusters
//! ([`postgres::Disposable`]), Redis servers ([`redis::DisposableRedis`]) and S3 servers
//! ([`s3::DisposableS3`]), each reaped by a watchdog. The server never uses this module, and the production binary does not
//! contain it: it is compiled only for the server's own tests and with the `testing`
//! feature, which the contract tests, the benchmark and the server's `it` tests (through
//! a dev-dependency of the server on itself) turn on. It lives in the server, beside the
//! embedded PostgreSQL it builds on ([`crate::db::embedded::Cluster`]), so that all of
//! them share one way of doing it; `.ci/run` checks the release build leaves it out.

pub mod postgres;
pub mod redis;
pub mod s3;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Starts a shell that waits while process `owner` lives and the shell condition
/// `alive_while` holds, then runs `cleanup`: how every service a test starts (PostgreSQL,
/// PgBouncer, Redis, S3) is stopped and its folder removed even when the test process is
/// killed. In its own process group, so a Ctrl-C aimed at the test run does not take the
/// watchdog down before it has cleaned up.
// Never waited for: it outlives its starter by design, and init reaps it.
#[allow(clippy::zombie_processes)]
pub fn spawn_watchdog(owner: u32, alive_while: &str, cleanup: &str) -> std::io::Result<()> {
    let script =
        format!("while kill -0 {owner} 2>/dev/null && {alive_while}; do sleep 1; done; {cleanup}");
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
}

/// Cleans up after the test processes that died without doing it themselves: each
/// folder under `parent` holds its owner's pid in `owner.pid`, and a folder whose owner
/// is gone is handed to `cleanup` (a shell script that stops what runs there and removes
/// the folder). A folder without the pid is still being made, and left alone.
pub(crate) fn reap_orphans(parent: &std::path::Path, cleanup: impl Fn(&std::path::Path) -> String) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let owner: Option<i32> = std::fs::read_to_string(dir.join("owner.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let Some(owner) = owner else { continue };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(owner), None).is_ok();
        if !alive {
            let _ = Command::new("sh").args(["-c", &cleanup(&dir)]).status();
        }
    }
}
