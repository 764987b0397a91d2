//! The release `momentum` binary as a child process, and its memory.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hyper::Method;
use tokio::process::{Child, Command};

use crate::load::{self, Target};

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `bin serve` on a free loopback port against `database_url` (its webhook
    /// worker on `worker_database_url`), with rate limits far above what the benchmark
    /// sends (they are measured by the contract tests, not here), and waits for `/readyz`.
    /// `env` adds or overrides variables (e.g. `MOMENTUM_REDIS_URL`).
    pub async fn start(
        bin: &Path,
        database_url: &str,
        worker_database_url: &str,
        pool_size: u32,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new(bin)
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("MOMENTUM_WORKER_DATABASE_URL", worker_database_url)
            // A throwaway database: any key will do, as long as it is there.
            .env(
                "MOMENTUM_SECRET_KEY",
                "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
            )
            .env("MOMENTUM_LISTEN", addr.to_string())
            // Several servers run side by side; none is scraped.
            .env("MOMENTUM_ADMIN_LISTEN", "off")
            .env("MOMENTUM_DB_POOL_SIZE", pool_size.to_string())
            .env(
                "MOMENTUM_RATE_LIMITS",
                "auth=100000000/min,read=100000000/min,write=100000000/min,admin=100000000/min",
            )
            .env("MOMENTUM_RATE_TENANT_FACTOR", "0")
            .env("MOMENTUM_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut server = Self { child, addr };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let target = Target {
            addr: self.addr,
            api_key: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited during start-up ({status})");
            }
            if let Ok(mut sender) = load::connect(self.addr).await {
                if let Ok((200, _)) =
                    load::send(&mut sender, &target, Method::GET, "/readyz", None).await
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("the server was not ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The resident set now, in MB.
    pub fn rss_mb(&self) -> f64 {
        self.status_mb("VmRSS:")
    }

    /// The largest resident set since start-up: the kernel's own high-water mark
    /// (`VmHWM`), which no sampling could beat.
    pub fn peak_rss_mb(&self) -> f64 {
        self.status_mb("VmHWM:")
    }

    /// A `kB` line of `/proc/<pid>/status`, in MB (0 once the process is gone).
    fn status_mb(&self, field: &str) -> f64 {
        let kb = self.child.id().and_then(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            crate::cost::proc_kb(&status, field)
        });
        kb.unwrap_or(0) as f64 / 1024.0
    }

    /// CPU time the process has used so far, user and system.
    pub fn cpu_time(&self) -> Duration {
        self.child.id().map_or(Duration::ZERO, cpu_time)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            // SIGTERM: a graceful stop, as an operator would.
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => self.child.kill().await?,
        }
        Ok(())
    }
}

/// CPU time (user + system) process `pid` has used so far (zero once it is gone).
pub fn cpu_time(pid: u32) -> Duration {
    crate::cost::process_cpu(pid).unwrap_or_default()
}
