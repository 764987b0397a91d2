//! Throwaway PostgreSQL clusters for tests and benchmarks: an embedded [`Cluster`]
//! without fsync, under the system temp folder, with one migrated template database that
//! each test copies.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};

use crate::db;
use crate::db::embedded::{Cluster, TlsListener, OWNER_ROLE, SUPERUSER};

/// Throwaway clusters for tests and benchmarks, under the system temp folder. Each one is
/// watched by a small shell process that stops and removes it once the process that made
/// it exits, however it exits (a killed test run included); clusters whose owner died
/// before its watcher could act are reaped by the next [`Disposable::start`].
pub struct Disposable {
    pub cluster: Cluster,
}

impl Disposable {
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(None)
    }

    /// A disposable cluster that also listens on 127.0.0.1 with TLS (see [`TlsListener`]).
    pub fn start_with_tls(tls: TlsListener) -> anyhow::Result<Self> {
        Self::start_with(Some(tls))
    }

    fn start_with(tls: Option<TlsListener>) -> anyhow::Result<Self> {
        let parent = std::env::temp_dir().join("momentum-pg");
        fs::create_dir_all(&parent)?;
        fs::set_permissions(&parent, fs::Permissions::from_mode(0o755))?;
        reap_orphans(&parent);
        let me = std::process::id();
        let name = format!("{me}-{}", uuid::Uuid::new_v4().simple());
        // Made under a hidden name and renamed once it names its owner: a folder without
        // `owner.pid` counts as orphaned, and another process (or thread) reaping at that
        // moment would have removed it under us.
        let staging = parent.join(format!(".{name}"));
        fs::create_dir_all(&staging)?;
        fs::set_permissions(&staging, fs::Permissions::from_mode(0o755))?;
        fs::write(staging.join("owner.pid"), me.to_string())?;
        let root = parent.join(name);
        fs::rename(&staging, &root)?;
        let mut cluster = Cluster::new(&root, false)?;
        if let Some(tls) = tls {
            cluster = cluster.with_tls(tls);
        }
        // Watch before initdb: a process killed while the cluster is being made must not
        // leave it behind either.
        spawn_watchdog(&cluster, me)?;
        cluster.init()?;
        cluster.start()?;
        Ok(Self { cluster })
    }
}

/// Stops a cluster with an immediate shutdown (SIGQUIT to the postmaster: pg_ctl refuses
/// to run as root, a signal works for anyone allowed to send it) and removes its folder.
fn stop_and_remove_script(cluster: &Cluster) -> String {
    format!(
        "pid=$(head -n 1 '{data}/postmaster.pid' 2>/dev/null); \
         if [ -n \"$pid\" ]; then kill -QUIT \"$pid\" 2>/dev/null; \
           while kill -0 \"$pid\" 2>/dev/null; do sleep 0.1; done; fi; \
         rm -rf '{root}'",
        data = cluster.data_dir().display(),
        root = cluster.root().display(),
    )
}

fn spawn_watchdog(cluster: &Cluster, owner: u32) -> anyhow::Result<()> {
    super::spawn_watchdog(owner, "true", &stop_and_remove_script(cluster))
        .context("cannot start the cluster watchdog")
}

fn reap_orphans(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        // Hidden: still being made (see `Disposable::start`).
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let root = entry.path();
        let owner: Option<i32> = fs::read_to_string(root.join("owner.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let alive = owner.is_some_and(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        });
        if !alive {
            if let Ok(cluster) = Cluster::new(&root, false) {
                let _ = Command::new("sh")
                    .args(["-c", &stop_and_remove_script(&cluster)])
                    .status();
            }
        }
    }
}

/// The template every test database is copied from: created and migrated once per
/// cluster, so a fresh database costs one `CREATE DATABASE ... TEMPLATE`.
const TEMPLATE_DB: &str = "momentum_template";

impl Disposable {
    /// One disposable, migrated cluster per process, started on first use. Runs its
    /// set-up on a private runtime so any caller (any test's runtime) can use it.
    pub fn shared() -> &'static Disposable {
        static SHARED: std::sync::OnceLock<Disposable> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let setup = std::thread::spawn(|| -> anyhow::Result<Disposable> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let disposable = Disposable::start()?;
                    disposable.prepare_template().await?;
                    Ok(disposable)
                })
            });
            match setup.join() {
                Ok(Ok(disposable)) => disposable,
                Ok(Err(err)) => panic!("cannot start the disposable PostgreSQL: {err:#}"),
                Err(_) => panic!("the disposable PostgreSQL set-up panicked"),
            }
        })
    }

    /// Creates and migrates the template [`Disposable::fresh_database`] copies, and grants
    /// the roles their groups. Once per cluster ([`Disposable::shared`] does it for its own).
    pub async fn prepare_template(&self) -> anyhow::Result<()> {
        let cluster = &self.cluster;
        cluster.bootstrap(TEMPLATE_DB).await?;
        // The same migration path as `momentum migrate`, role checks included.
        let admin = db::connect(cluster.connect_options(OWNER_ROLE, TEMPLATE_DB), 1).await?;
        db::migrate(&admin).await?;
        admin.close().await;
        cluster.grant_runtime_role().await
    }

    /// A new, migrated, empty database; returns its name.
    pub async fn fresh_database(&self) -> anyhow::Result<String> {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn =
            PgConnection::connect_with(&self.cluster.connect_options(SUPERUSER, "postgres"))
                .await?;
        conn.execute(
            format!("CREATE DATABASE \"{name}\" TEMPLATE {TEMPLATE_DB} OWNER {OWNER_ROLE}")
                .as_str(),
        )
        .await
        .context("cannot create a test database")?;
        conn.close().await?;
        Ok(name)
    }
}
