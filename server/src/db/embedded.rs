//! PostgreSQL run from the machine's own binaries (`initdb`, `pg_ctl`): the default
//! database of `momentum serve` when no `DATABASE_URL` is given. The disposable clusters
//! tests and benchmarks use are built on [`Cluster`] in `crate::testing::postgres`, which
//! the production build leaves out.
//!
//! PostgreSQL refuses to run as root. When we are root, the cluster's processes run as the
//! `postgres` OS user (or `nobody`), which owns the cluster's folders. The cluster listens
//! only on a Unix socket inside its own folder (mode 0700), so with `trust` authentication
//! only its owner (and root) can connect; nothing is exposed on TCP. The one exception is
//! a cluster given a [`TlsListener`] (tests of TLS to PostgreSQL): it also listens on
//! 127.0.0.1, with TLS, where every role must give its password.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};

/// Role names the embedded setup creates. Owner: owns tables, runs migrations (BYPASSRLS
/// so its SECURITY DEFINER lookups see every tenant). Runtime: what the API connects as,
/// a plain member of `momentum_app`. Worker: what the webhook worker and the purges
/// connect as, a member of `momentum_worker` (which alone may run the functions that act
/// across tenants, and is itself a member of `momentum_app`).
pub const SUPERUSER: &str = "postgres";
pub const OWNER_ROLE: &str = "momentum_owner";
pub const RUNTIME_ROLE: &str = "momentum_api";
pub const WORKER_ROLE: &str = "momentum_jobs";
const PORT: u16 = 5432;

#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A TCP listener with TLS beside the private socket, for tests of TLS to PostgreSQL:
/// `ssl = on` with this certificate and key, on 127.0.0.1 only, password authentication
/// (scram-sha-256) for every TCP connection, encrypted or not (the socket keeps `trust`).
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// The port on 127.0.0.1; the socket's name follows it (`.s.PGSQL.<port>`).
    pub port: u16,
    /// The server's certificate (PEM; its chain may follow it).
    pub cert_file: PathBuf,
    /// Its private key (PEM). Copied into the cluster's folder, owned by the cluster's OS
    /// user with mode 0600, as PostgreSQL demands.
    pub key_file: PathBuf,
}

#[derive(Debug)]
pub struct Cluster {
    root: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<RunAs>,
    durable: bool,
    port: u16,
    tls: Option<TlsListener>,
}

impl Cluster {
    /// A cluster kept under `root` (`root/pg` for data, `root/run` for the socket).
    /// `durable: false` turns fsync off: for throwaway clusters only.
    pub fn new(root: &Path, durable: bool) -> anyhow::Result<Self> {
        fs::create_dir_all(root)
            .with_context(|| format!("cannot create data directory {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", root.display()))?;
        let run_as = if nix::unistd::geteuid().is_root() {
            Some(unprivileged_user()?)
        } else {
            None
        };
        let root = match run_as {
            Some(user) => reachable_root(root, user)?,
            None => root,
        };
        Ok(Self {
            bin_dir: find_bin_dir()?,
            root,
            run_as,
            durable,
            port: PORT,
            tls: None,
        })
    }

    /// Also listens on 127.0.0.1 with TLS (see [`TlsListener`]), from its next start.
    pub fn with_tls(mut self, tls: TlsListener) -> Self {
        self.port = tls.port;
        self.tls = Some(tls);
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data directory (`root/pg`).
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("pg")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// The server's log. In its own folder: the cluster's user must be able to write it.
    pub fn log_file(&self) -> PathBuf {
        self.root.join("log").join("postgres.log")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.current_dir(&self.root)
            .stdin(Stdio::null())
            .env_remove("PGDATA")
            .env("LC_ALL", "C.UTF-8");
        if let Some(user) = self.run_as {
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }

    fn run(&self, mut cmd: Command, what: &str) -> anyhow::Result<()> {
        let output = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("cannot run {what}"))?;
        if !output.status.success() {
            bail!(
                "{what} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    fn make_private_dir(&self, dir: &Path) -> anyhow::Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        self.make_private(dir, 0o700)
    }

    /// Mode `mode` and, when PostgreSQL runs as another user, that user's.
    fn make_private(&self, path: &Path, mode: u32) -> anyhow::Result<()> {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
        if let Some(user) = self.run_as {
            nix::unistd::chown(
                path,
                Some(nix::unistd::Uid::from_raw(user.uid)),
                Some(nix::unistd::Gid::from_raw(user.gid)),
            )
            .with_context(|| format!("cannot hand {} to the PostgreSQL user", path.display()))?;
        }
        Ok(())
    }

    /// The settings of its [`TlsListener`] for `postgres -o`: the certificate, the key
    /// and an authentication file copied into `root/tls`, all the cluster's user's.
    fn tls_settings(&self, tls: &TlsListener) -> anyhow::Result<String> {
        let dir = self.root.join("tls");
        self.make_private_dir(&dir)?;
        let cert = dir.join("server.crt");
        let key = dir.join("server.key");
        let hba = dir.join("pg_hba.conf");
        fs::copy(&tls.cert_file, &cert)
            .with_context(|| format!("cannot copy {}", tls.cert_file.display()))?;
        fs::copy(&tls.key_file, &key)
            .with_context(|| format!("cannot copy {}", tls.key_file.display()))?;
        // The socket as before; TCP from this machine only, always with a password.
        fs::write(
            &hba,
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )?;
        self.make_private(&cert, 0o600)?;
        // PostgreSQL refuses a key file others can read, or that another user owns.
        self.make_private(&key, 0o600)?;
        self.make_private(&hba, 0o600)?;
        Ok(format!(
            " -c listen_addresses='127.0.0.1' -c ssl=on -c ssl_cert_file='{}' \
             -c ssl_key_file='{}' -c hba_file='{}'",
            cert.display(),
            key.display(),
            hba.display()
        ))
    }

    /// Creates the cluster on first use; later calls find it and do nothing.
    pub fn init(&self) -> anyhow::Result<bool> {
        if self.data_dir().join("PG_VERSION").exists() {
            return Ok(false);
        }
        self.make_private_dir(&self.data_dir())?;
        let mut cmd = self.command("initdb");
        cmd.arg("--pgdata")
            .arg(self.data_dir())
            .args([
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
            ])
            .arg("--no-instructions");
        if !self.durable {
            cmd.arg("--no-sync");
        }
        self.run(cmd, "initdb")?;
        Ok(true)
    }

    pub fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("status")
            .arg("--pgdata")
            .arg(self.data_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Starts the server unless it already runs (a previous process may have left it up).
    /// Returns whether this call started it.
    pub fn start(&self) -> anyhow::Result<bool> {
        if self.is_running() {
            return Ok(false);
        }
        self.make_private_dir(&self.socket_dir())?;
        self.make_private_dir(&self.root.join("log"))?;
        let mut options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c port={}",
            self.socket_dir().display(),
            self.port
        );
        if let Some(tls) = &self.tls {
            // After the defaults above: PostgreSQL takes the last of a repeated setting.
            options.push_str(&self.tls_settings(tls)?);
        }
        if !self.durable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let mut cmd = self.command("pg_ctl");
        cmd.arg("start")
            .arg("--pgdata")
            .arg(self.data_dir())
            .arg("--log")
            .arg(self.log_file())
            .args(["--wait", "--timeout", "60", "-o", &options]);
        self.run(cmd, "pg_ctl start")
            .with_context(|| format!("see {}", self.log_file().display()))?;
        Ok(true)
    }

    pub fn stop(&self) -> anyhow::Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        let mut cmd = self.command("pg_ctl");
        cmd.arg("stop")
            .arg("--pgdata")
            .arg(self.data_dir())
            .args(["--mode", "fast", "--wait"]);
        self.run(cmd, "pg_ctl stop")
    }

    /// Connection options for `user` on database `db`, through the private socket.
    pub fn connect_options(&self, user: &str, db: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(self.socket_dir())
            .port(self.port)
            .username(user)
            .database(db)
    }

    /// Creates the owner, runtime and worker roles and the database `db` owned by the
    /// owner. Idempotent: safe on every start.
    pub async fn bootstrap(&self, db: &str) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect_with(&self.connect_options(SUPERUSER, "postgres"))
            .await
            .context("cannot connect to the embedded PostgreSQL as its superuser")?;
        let script = format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
                 CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER BYPASSRLS CREATEROLE;
               END IF;
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}') THEN
                 CREATE ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS;
               END IF;
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{WORKER_ROLE}') THEN
                 CREATE ROLE {WORKER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS;
               END IF;
             END $$;"
        );
        conn.execute(script.as_str()).await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(db)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            conn.execute(format!("CREATE DATABASE \"{db}\" OWNER {OWNER_ROLE}").as_str())
                .await?;
        }
        conn.close().await?;
        Ok(())
    }

    /// After migrations created `momentum_app` and `momentum_worker`, lets the runtime
    /// role act as the first and the worker role as the second. The migration that made
    /// `momentum_worker` grants it to the runtime roles of existing deployments so they
    /// keep working; here both roles are ours, so the runtime role loses it again.
    pub async fn grant_runtime_role(&self) -> anyhow::Result<()> {
        let mut conn =
            PgConnection::connect_with(&self.connect_options(SUPERUSER, "postgres")).await?;
        conn.execute(
            format!(
                "GRANT momentum_app TO {RUNTIME_ROLE}; \
                 GRANT momentum_worker TO {WORKER_ROLE}; \
                 DO $$ BEGIN \
                   IF EXISTS (SELECT 1 FROM pg_auth_members \
                               WHERE roleid = 'momentum_worker'::regrole \
                                 AND member = '{RUNTIME_ROLE}'::regrole) THEN \
                     REVOKE momentum_worker FROM {RUNTIME_ROLE}; \
                   END IF; \
                 END $$"
            )
            .as_str(),
        )
        .await?;
        conn.close().await?;
        Ok(())
    }
}

/// The `postgres` OS user if the machine has one, else `nobody`.
fn unprivileged_user() -> anyhow::Result<RunAs> {
    for name in ["postgres", "nobody"] {
        if let Some(user) = nix::unistd::User::from_name(name)? {
            return Ok(RunAs {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            });
        }
    }
    bail!(
        "running as root, but neither a `postgres` nor a `nobody` OS user exists to run PostgreSQL"
    )
}

/// Where the cluster of `root` can live when PostgreSQL runs as `user`: `root` itself if
/// that user can walk down to it, else (e.g. a checkout under root's private home) a
/// folder under /var/lib/momentum named after `root`, so the same data directory always
/// finds the same cluster. Said in the log, so the move is no surprise.
fn reachable_root(root: PathBuf, user: RunAs) -> anyhow::Result<PathBuf> {
    let Err(unreachable) = check_reachable(&root, user) else {
        return Ok(root);
    };
    let digest = <sha2::Sha256 as sha2::Digest>::digest(root.as_os_str().as_encoded_bytes());
    let parent = Path::new("/var/lib/momentum/clusters");
    let fallback = parent.join(&hex::encode(digest)[..16]);
    let moved = fs::create_dir_all(&fallback)
        .and_then(|()| {
            for dir in [Path::new("/var/lib/momentum"), parent, fallback.as_path()] {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
            }
            Ok(())
        })
        .map_err(anyhow::Error::from)
        .and_then(|()| check_reachable(&fallback, user));
    match moved {
        Ok(()) => {
            tracing::warn!(
                data_dir = %root.display(),
                cluster = %fallback.display(),
                "the PostgreSQL user cannot reach the data directory; keeping the embedded \
                 cluster in a folder it can reach instead"
            );
            Ok(fallback)
        }
        Err(_) => Err(unreachable),
    }
}

/// PostgreSQL (running as `user`) must be able to walk down to `root`.
fn check_reachable(root: &Path, user: RunAs) -> anyhow::Result<()> {
    for dir in root.ancestors().skip(1) {
        let meta = fs::metadata(dir)?;
        let mode = meta.mode();
        let can_traverse = mode & 0o001 != 0
            || (meta.uid() == user.uid && mode & 0o100 != 0)
            || (meta.gid() == user.gid && mode & 0o010 != 0);
        if !can_traverse {
            bail!(
                "PostgreSQL runs as an unprivileged user when Momentum runs as root, and that \
                 user cannot enter {} (mode {:o}). Set MOMENTUM_DATA_DIR to a directory it can \
                 reach, e.g. /var/lib/momentum.",
                dir.display(),
                mode & 0o777
            );
        }
    }
    Ok(())
}

/// `MOMENTUM_PG_BIN`, else `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("MOMENTUM_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    match candidates.pop() {
        Some((_, dir)) => Ok(dir),
        None => bail!(
            "no PostgreSQL server binaries found (looked at MOMENTUM_PG_BIN, pg_config and \
             /usr/lib/postgresql/*/bin); install them (Debian: apt-get install postgresql) \
             or set DATABASE_URL"
        ),
    }
}
