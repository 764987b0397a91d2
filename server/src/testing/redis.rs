//! A throwaway Redis for a test: the machine's `redis-server` on a free loopback port,
//! with nothing persisted (`--save '' --appendonly no`), run as an unprivileged user when
//! we are root (`nobody`), as PostgreSQL's clusters are. A test can kill it, restart it on
//! the same port, or freeze it (SIGSTOP) to play an outage.
//!
//! Like [`super::postgres::Disposable`], each one is watched by a small shell process
//! that kills it and removes its folder once the process that started it exits, however
//! it exits (a killed test run included); folders whose owner died before its watcher
//! could act are reaped by the next [`DisposableRedis::start`].

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// One `redis-server`, stopped and removed on drop.
pub struct DisposableRedis {
    dir: PathBuf,
    port: u16,
    run_as: Option<(u32, u32)>,
    child: Mutex<Option<Child>>,
}

impl DisposableRedis {
    /// Starts one on a free port (`redis-server` from `MOMENTUM_REDIS_SERVER`, else the
    /// `PATH`; Debian: `apt-get install redis-server`).
    pub fn start() -> anyhow::Result<Self> {
        let parent = std::env::temp_dir().join("momentum-redis");
        fs::create_dir_all(&parent)?;
        fs::set_permissions(&parent, fs::Permissions::from_mode(0o755))?;
        super::reap_orphans(&parent, kill_and_remove_script);
        let me = std::process::id();
        let dir = parent.join(format!("{me}-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir)?;
        // Readable and enterable by the unprivileged user, writable by us alone: it
        // writes nothing there (no persistence; its log goes to a file we opened).
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        fs::write(dir.join("owner.pid"), me.to_string())?;
        spawn_watchdog(&dir, me)?;
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("nobody")?
                .context("running as root, but there is no `nobody` user to run Redis")?;
            Some((user.uid.as_raw(), user.gid.as_raw()))
        } else {
            None
        };
        let mut redis = Self {
            dir,
            port: 0,
            run_as,
            child: Mutex::new(None),
        };
        let mut last_err = None;
        // A free port can be taken by someone else between our look and Redis's bind.
        for _ in 0..5 {
            redis.port = free_port()?;
            match redis.spawn() {
                Ok(()) => return Ok(redis),
                Err(err) => {
                    redis.kill_child();
                    last_err = Some(err);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The running server's process id (for its CPU time, say).
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().ok()?.as_ref().map(Child::id)
    }

    /// Kills it (SIGKILL: a crash, not a shutdown); its data is gone.
    pub fn kill(&self) {
        self.kill_child();
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.kill_child();
        self.spawn()
    }

    /// Freezes it (SIGSTOP): connections stay open and nothing answers, as when a
    /// server hangs or the network drops packets.
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// Lets a paused one go on (SIGCONT).
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    /// Runs `cmd` on a connection of its own.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        Ok(cmd.query_async(&mut conn).await?)
    }

    fn spawn(&self) -> anyhow::Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("redis.log"))?;
        let mut cmd = Command::new(redis_server());
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let child = cmd
            .spawn()
            .context("cannot run redis-server (Debian: apt-get install redis-server)")?;
        // The watchdog kills whatever this names when the owner is gone.
        fs::write(self.dir.join("redis.pid"), child.id().to_string())?;
        if let Ok(mut slot) = self.child.lock() {
            *slot = Some(child);
        }
        self.wait_ready()
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port).is_ok() {
                return Ok(());
            }
            let exited = self
                .child
                .lock()
                .ok()
                .and_then(|mut child| child.as_mut()?.try_wait().ok().flatten());
            if let Some(status) = exited {
                let log = fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                bail!("redis-server exited ({status}): {log}");
            }
            if Instant::now() > deadline {
                bail!("redis-server did not answer PING within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: Signal) {
        if let Ok(child) = self.child.lock() {
            if let Some(child) = child.as_ref() {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = kill(Pid::from_raw(pid), signal);
                }
            }
        }
    }

    fn kill_child(&self) {
        if let Ok(mut slot) = self.child.lock() {
            if let Some(mut child) = slot.take() {
                // A frozen process dies of SIGKILL too.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for DisposableRedis {
    fn drop(&mut self) {
        self.kill_child();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn redis_server() -> PathBuf {
    std::env::var_os("MOMENTUM_REDIS_SERVER").map_or_else(|| "redis-server".into(), PathBuf::from)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn ping(port: u16) -> anyhow::Result<()> {
    let mut conn = TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    )?;
    conn.set_read_timeout(Some(Duration::from_millis(500)))?;
    conn.write_all(b"PING\r\n")?;
    let mut answer = [0u8; 7];
    conn.read_exact(&mut answer)?;
    anyhow::ensure!(&answer == b"+PONG\r\n", "not a PONG");
    Ok(())
}

/// Kills the Redis whose pid `dir/redis.pid` names and removes `dir`.
fn kill_and_remove_script(dir: &Path) -> String {
    format!(
        "pid=$(cat '{dir}/redis.pid' 2>/dev/null); \
         if [ -n \"$pid\" ]; then kill -KILL \"$pid\" 2>/dev/null; fi; \
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
    .context("cannot start the Redis watchdog")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_disposable_redis_answers_restarts_empty_on_its_port_and_goes_away() {
        let redis = DisposableRedis::start().unwrap();
        let _: () = redis
            .query(redis::cmd("SET").arg("k").arg("v"))
            .await
            .unwrap();
        if nix::unistd::geteuid().is_root() {
            let pid = fs::read_to_string(redis.dir.join("redis.pid")).unwrap();
            let status = fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
            let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
            assert!(!uid.split_whitespace().skip(1).any(|id| id == "0"), "{uid}");
        }
        let port = redis.port();
        redis.kill();
        assert!(ping(port).is_err(), "killed");
        redis.restart().unwrap();
        assert_eq!(redis.port(), port);
        let gone: Option<String> = redis.query(redis::cmd("GET").arg("k")).await.unwrap();
        assert_eq!(gone, None, "nothing persisted");
        let dir = redis.dir.clone();
        drop(redis);
        assert!(!dir.exists());
        assert!(ping(port).is_err(), "stopped on drop");
    }
}
