//! Momentum through PgBouncer in transaction mode, as Debian ships it (1.18: no support
//! for prepared statements): the pooler behaviour `db::autocommit` exists for.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use momentum_server::db::embedded::{Cluster, Disposable, OWNER_ROLE, RUNTIME_ROLE, WORKER_ROLE};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::support::free_port;

/// A PgBouncer in front of a disposable cluster, run by the cluster's own OS user (it
/// refuses root, and must reach the cluster's private socket), from a folder of its own
/// under the temp dir. Stopped when dropped, and by a watchdog when this process ends
/// however it ends (as the disposable clusters are).
pub struct PgBouncer {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl PgBouncer {
    /// Transaction pooling with `pool_size` server connections per database and user.
    pub fn start(cluster: &Cluster, pool_size: u32) -> PgBouncer {
        let socket = cluster.socket_dir();
        let owner = std::fs::metadata(&socket).unwrap();
        let me = std::process::id();
        let dir = std::env::temp_dir()
            .join("momentum-pgbouncer")
            .join(format!("{me}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        for d in [dir.parent().unwrap(), dir.as_path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // PgBouncer writes its log there.
        std::os::unix::fs::chown(&dir, Some(owner.uid()), Some(owner.gid())).unwrap();
        let users: String = [RUNTIME_ROLE, WORKER_ROLE, OWNER_ROLE]
            .iter()
            .map(|user| format!("\"{user}\" \"\"\n"))
            .collect();
        std::fs::write(dir.join("userlist.txt"), users).unwrap();
        for attempt in 0.. {
            let port = free_port();
            let ini = format!(
                "[databases]\n\
                 * = host={socket} port=5432\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {dir}/userlist.txt\n\
                 pool_mode = transaction\n\
                 default_pool_size = {pool_size}\n\
                 min_pool_size = 0\n\
                 reserve_pool_size = 0\n\
                 max_client_conn = 500\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 logfile = {dir}/pgbouncer.log\n",
                socket = socket.display(),
                dir = dir.display(),
            );
            std::fs::write(dir.join("pgbouncer.ini"), ini).unwrap();
            let mut child = Command::new(pgbouncer_bin())
                .arg(dir.join("pgbouncer.ini"))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .uid(owner.uid())
                .gid(owner.gid())
                .spawn()
                .expect("run pgbouncer (Debian: apt-get install pgbouncer)");
            spawn_watchdog(me, child.id(), &dir);
            if wait_until_listening(&mut child, port) {
                return PgBouncer { port, child, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
            // Another process took the port meanwhile: try another.
            assert!(
                attempt < 5,
                "pgbouncer did not start; see {}",
                dir.display()
            );
        }
        unreachable!()
    }

    /// The URL of `user` on database `db` through the pooler.
    pub fn url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn options(&self, user: &str, db: &str) -> PgConnectOptions {
        self.url(user, db).parse().unwrap()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The machine's `pgbouncer`: on the PATH, or where Debian puts it (/usr/sbin, often not
/// on a user's PATH).
fn pgbouncer_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("pgbouncer"))
        .find(|bin| bin.is_file())
        .expect("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
}

/// Whether `child` listens on `port` within 5 s (false: it exited, e.g. the port was taken).
fn wait_until_listening(child: &mut Child, port: u16) -> bool {
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Stops PgBouncer `pid` and removes `dir` once `owner` (this process) is gone.
// Never waited for: it outlives this process by design, and init reaps it.
#[allow(clippy::zombie_processes)]
fn spawn_watchdog(owner: u32, pid: u32, dir: &std::path::Path) {
    let script = format!(
        "while kill -0 {owner} 2>/dev/null; do sleep 1; done; kill {pid} 2>/dev/null; rm -rf '{}'",
        dir.display()
    );
    // Its own process group, so a Ctrl-C aimed at the test run does not take it down
    // before it has cleaned up.
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start the pgbouncer watchdog");
}

/// Why every statement outside a transaction runs in one of its own without prepared
/// statements (`db::autocommit`): sqlx sends an unnamed statement's `Parse` and its
/// `Bind` in two exchanges, and between them PgBouncer in transaction mode may give the
/// server connection to another client, whose own unnamed statement then runs with our
/// parameters. Inside a transaction the connection stays ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbouncer_mixes_up_unnamed_statements_outside_transactions_only() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let bouncer = PgBouncer::start(&disposable.cluster, 1);
    let options = bouncer.options(RUNTIME_ROLE, &name);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options.statement_cache_capacity(0))
        .await
        .unwrap();
    // Each task's own statement: its answer tells whose statement ran.
    let wrong_answers = |in_transaction: bool| {
        let tasks: Vec<_> = (0..8i32)
            .map(|n| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let sql = format!("SELECT $1::int4 + {n}");
                    let mut wrong = 0;
                    for i in 0..100i32 {
                        let statement = sqlx::query_scalar(&sql).persistent(false).bind(i);
                        let answer: Result<i32, _> = if in_transaction {
                            let mut tx = pool.begin().await.unwrap();
                            let answer = statement.fetch_one(&mut *tx).await;
                            tx.commit().await.unwrap();
                            answer
                        } else {
                            statement.fetch_one(&pool).await
                        };
                        if !matches!(answer, Ok(sum) if sum == i + n) {
                            wrong += 1;
                        }
                    }
                    wrong
                })
            })
            .collect();
        async move {
            let mut wrong = 0;
            for task in tasks {
                wrong += task.await.unwrap();
            }
            wrong
        }
    };
    assert!(wrong_answers(false).await > 0, "no statement was mixed up");
    assert_eq!(wrong_answers(true).await, 0);
}
