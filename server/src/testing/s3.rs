//! A throwaway S3 for a test: moto's `moto_server` (PyPI `moto[s3]`, pinned in
//! `.ci/moto-requirements.txt`) on a free loopback port, holding one empty bucket, in
//! memory only. It checks no signature, so any keys do; [`DisposableS3::builder`] gives
//! the ones to use.
//!
//! Like [`super::redis::DisposableRedis`], each one is watched by a small shell process
//! that kills it and removes its folder once the process that started it exits, however
//! it exits (a killed test run included); folders whose owner died before its watcher
//! could act are reaped by the next [`DisposableS3::start`]. moto_server is a Python
//! program that may start children of its own, so it runs in a process group of its own,
//! and the whole group is killed.
//!
//! Unlike Redis it runs as the test's own user even as root: a venv made by a Python
//! under root's home (pyenv) is not readable by `nobody`, and it listens on loopback only.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use object_store::aws::AmazonS3Builder;
use object_store::{ClientOptions, RetryConfig};

/// One `moto_server`, stopped and removed on drop.
pub struct DisposableS3 {
    dir: PathBuf,
    port: u16,
    child: Mutex<Option<Child>>,
}

impl DisposableS3 {
    /// The bucket every one of them has.
    pub const BUCKET: &'static str = "momentum-test";

    /// Starts one (`moto_server` from `MOMENTUM_MOTO_SERVER`, else the `PATH`), or says
    /// why not and returns `None` when there is none to start: the S3 tests then test
    /// nothing, which only a developer's machine may allow. With `CI` set, or with
    /// `MOMENTUM_MOTO_SERVER` naming one that is not there, that is an error instead, so CI
    /// cannot pass without running them (`.ci/run` installs moto and sets the variable).
    pub fn start() -> anyhow::Result<Option<Self>> {
        let Some(program) = moto_server() else {
            if in_ci() {
                bail!(
                    "moto_server not found and CI is set: the S3 tests must run in CI. \
                     `.ci/run` installs it (.ci/moto-requirements.txt) and sets \
                     MOMENTUM_MOTO_SERVER"
                );
            }
            eprintln!(
                "skipping: no moto_server on PATH and MOMENTUM_MOTO_SERVER is unset, so the \
                 S3 file store is not tested here (docs/testing.md says how to install it)"
            );
            return Ok(None);
        };
        let parent = std::env::temp_dir().join("momentum-s3");
        fs::create_dir_all(&parent)?;
        super::reap_orphans(&parent, kill_and_remove_script);
        let me = std::process::id();
        let dir = parent.join(format!("{me}-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        fs::write(dir.join("owner.pid"), me.to_string())?;
        spawn_watchdog(&dir, me)?;
        let mut s3 = Self {
            dir,
            port: 0,
            child: Mutex::new(None),
        };
        s3.port = s3.spawn(&program)?;
        create_bucket(s3.port, Self::BUCKET)?;
        Ok(Some(s3))
    }

    /// `http://127.0.0.1:<port>`, the endpoint to give an S3 client.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bucket(&self) -> &'static str {
        Self::BUCKET
    }

    /// An S3 builder for this server and its bucket, with everything set that a test
    /// must not take from the machine: keys (without them the builder would ask the
    /// instance metadata service at 169.254.169.254, off this machine), the region, plain
    /// HTTP, and retries and timeouts short enough that a stopped server fails a test in
    /// seconds rather than after the default 10 retries over 3 minutes.
    pub fn builder(&self) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_bucket_name(Self::BUCKET)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_region("us-east-1")
            .with_retry(RetryConfig {
                max_retries: 1,
                retry_timeout: Duration::from_secs(5),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(20)),
            )
    }

    /// Kills it (SIGKILL, its whole process group): everything it held is gone.
    pub fn kill(&self) {
        self.kill_child();
    }

    /// Starts `program` and waits for the port it took, which it logs.
    fn spawn(&self, program: &Path) -> anyhow::Result<u16> {
        let log_file = self.dir.join("moto.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_file)?;
        // `-p 0`: the kernel's free port, so no race with another test for one.
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            // Its log is how the port is learnt: no holding it in a buffer.
            .env("PYTHONUNBUFFERED", "1")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {} (install: python3 -m venv <dir> && <dir>/bin/pip install \
                     -r .ci/moto-requirements.txt)",
                    program.display()
                )
            })?;
        // The watchdog kills the group this names when the owner is gone.
        fs::write(self.dir.join("moto.pid"), child.id().to_string())?;
        if let Ok(mut slot) = self.child.lock() {
            *slot = Some(child);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = fs::read_to_string(&log_file).unwrap_or_default();
            if let Some(port) = logged_port(&text) {
                return Ok(port);
            }
            let exited = self
                .child
                .lock()
                .ok()
                .and_then(|mut child| child.as_mut()?.try_wait().ok().flatten());
            if let Some(status) = exited {
                bail!("moto_server exited ({status}): {text}");
            }
            if Instant::now() > deadline {
                self.kill_child();
                bail!("moto_server did not say its port within 30 s: {text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill_child(&self) {
        if let Ok(mut slot) = self.child.lock() {
            if let Some(mut child) = slot.take() {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for DisposableS3 {
    fn drop(&mut self) {
        self.kill_child();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `MOMENTUM_MOTO_SERVER`, else `moto_server` on the `PATH`, else none.
fn moto_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOMENTUM_MOTO_SERVER") {
        // Named, so meant: one that is missing fails at its start, with the path.
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("moto_server"))
        .find(|path| {
            path.metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Whether this is a CI run, as CI services announce it (`CI=true`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !matches!(value.trim(), "" | "0" | "false"))
}

/// The port of Werkzeug's ` * Running on http://127.0.0.1:<port>` line.
fn logged_port(log: &str) -> Option<u16> {
    let (_, rest) = log.split_once("Running on http://127.0.0.1:")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    // A line read while still being written has no end yet.
    rest[digits.len()..].chars().next()?;
    digits.parse().ok()
}

/// Creates `bucket` with an unsigned PUT, which moto accepts (object_store cannot create
/// buckets).
fn create_bucket(port: u16, bucket: &str) -> anyhow::Result<()> {
    let mut conn =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(2))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        conn,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    let status = answer.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("moto_server did not create bucket {bucket}: {status}");
    }
    Ok(())
}

/// Kills the process group `dir/moto.pid` names and removes `dir`. (`kill -KILL -<pgid>`:
/// dash's `kill` takes no `--`.)
fn kill_and_remove_script(dir: &Path) -> String {
    format!(
        "pid=$(cat '{dir}/moto.pid' 2>/dev/null); \
         if [ -n \"$pid\" ]; then kill -KILL \"-$pid\" 2>/dev/null; fi; \
         rm -rf '{dir}'",
        dir = dir.display()
    )
}

/// Waits for `owner` to exit (or the folder to go: dropped normally), then cleans up.
fn spawn_watchdog(dir: &Path, owner: u32) -> anyhow::Result<()> {
    super::spawn_watchdog(
        owner,
        &format!("[ -d '{}' ]", dir.display()),
        &kill_and_remove_script(dir),
    )
    .context("cannot start the S3 watchdog")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_from_a_whole_log_line_only() {
        let log = "WARNING: This is a development server.\n * Running on http://127.0.0.1:35543\n";
        assert_eq!(logged_port(log), Some(35543));
        assert_eq!(logged_port(" * Running on http://127.0.0.1:355"), None);
        assert_eq!(
            logged_port("WARNING: This is a development server.\n"),
            None
        );
    }

    #[test]
    fn a_disposable_s3_runs_in_a_process_group_of_its_own_and_goes_away_on_drop() {
        let Some(s3) = DisposableS3::start().unwrap() else {
            return;
        };
        let pid = fs::read_to_string(s3.dir.join("moto.pid")).unwrap();
        let pid = Pid::from_raw(pid.trim().parse().unwrap());
        assert_eq!(
            nix::unistd::getpgid(Some(pid)).unwrap(),
            pid,
            "a group of its own"
        );
        let (dir, port) = (s3.dir.clone(), s3.port());
        drop(s3);
        assert!(!dir.exists());
        assert!(!listening(port), "stopped on drop");
    }

    #[test]
    fn what_the_watchdog_runs_kills_the_server_and_removes_its_folder() {
        let Some(s3) = DisposableS3::start().unwrap() else {
            return;
        };
        // As when the test process is gone: the watchdog's shell (dash on Debian) acts.
        let status = Command::new("sh")
            .args(["-c", &kill_and_remove_script(&s3.dir)])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(!s3.dir.exists());
        let deadline = Instant::now() + Duration::from_secs(5);
        while listening(s3.port()) {
            assert!(
                Instant::now() < deadline,
                "moto_server outlived its watchdog"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn listening(port: u16) -> bool {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
    }
}
