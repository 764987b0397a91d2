//! TLS to PostgreSQL. A disposable cluster of its own listens on 127.0.0.1 with
//! `ssl = on` and a server certificate for `localhost` only, signed by a test CA; a second
//! CA signed nothing of it. Both CAs, the certificate and its key are made here with the
//! openssl CLI. Every role must give its password over TCP, so each URL carries one and
//! each failure is checked for leaking it.
//!
//! Shown: each `sslmode` connects (or not) as the URL says, and encrypted where it should;
//! an untrusted certificate and a host name the certificate lacks are refused naming the
//! problem; `momentum serve` over `verify-full` (every URL it takes) serves, every
//! connection of its roles is encrypted in `pg_stat_ssl`, and `/readyz` and the log say
//! so; a wrong CA or host name stops it at start, naming the URL's variable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use momentum_server::db::embedded::{
    TlsListener, OWNER_ROLE, RUNTIME_ROLE, SUPERUSER, WORKER_ROLE,
};
use momentum_server::db::{self, tenants};
use momentum_server::startup::parse_url;
use momentum_server::testing::postgres::Disposable;
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};

use crate::support::free_port;

const ROLES: [&str; 3] = [OWNER_ROLE, RUNTIME_ROLE, WORKER_ROLE];

/// The TLS cluster, the CA files the URLs name, and each role's password.
struct TlsCluster {
    disposable: Disposable,
    port: u16,
    ca: PathBuf,
    other_ca: PathBuf,
    passwords: Vec<(&'static str, String)>,
}

impl TlsCluster {
    fn password(&self, role: &str) -> &str {
        let found = self.passwords.iter().find(|(r, _)| *r == role);
        &found.unwrap().1
    }

    /// A URL for `role` on `database` through `host` (the certificate names only
    /// `localhost`), with `query` (`sslmode=...`); `{ca}` and `{other_ca}` in it become
    /// the files of the CA that signed the certificate and of the one that did not.
    fn url(&self, role: &str, host: &str, database: &str, query: &str) -> String {
        let query = query
            .replace("{ca}", &self.ca.display().to_string())
            .replace("{other_ca}", &self.other_ca.display().to_string());
        format!(
            "postgres://{role}:{}@{host}:{}/{database}?{query}",
            self.password(role),
            self.port
        )
    }

    /// Whether `text` holds any role's password.
    fn leaks_a_password(&self, text: &str) -> bool {
        self.passwords
            .iter()
            .any(|(_, p)| text.contains(p.as_str()))
    }

    async fn superuser(&self) -> PgConnection {
        let options = self
            .disposable
            .cluster
            .connect_options(SUPERUSER, "postgres");
        PgConnection::connect_with(&options).await.unwrap()
    }
}

/// Runs `openssl <args>` (split at spaces) in `dir`; panics with its output if it fails.
fn openssl(dir: &Path, args: &str) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args.split_whitespace())
        .output()
        .expect("run the openssl CLI (Debian: apt-get install openssl)");
    assert!(
        output.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Key options: P-256, fast to make.
const EC: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

/// A CA, `{name}.crt` and `{name}.key`, valid for two days.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 {EC} -keyout {name}.key -out {name}.crt -days 2 \
             -subj /CN=momentum-test-{name} -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
    );
}

/// The CAs and a server certificate for `localhost` (nothing else: not 127.0.0.1), signed
/// by `ca`, in a new folder.
fn make_pki() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("momentum-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    make_ca(&dir, "ca");
    make_ca(&dir, "other-ca");
    openssl(
        &dir,
        &format!("req {EC} -keyout server.key -out server.csr -subj /CN=localhost"),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &dir,
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
         -extfile server.ext -out server.crt",
    );
    dir
}

/// The TLS cluster, started on first use with a migrated template and a password for each
/// role. Its set-up runs on a private runtime, so any test's runtime can use it.
fn tls_cluster() -> &'static TlsCluster {
    static CLUSTER: OnceLock<TlsCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(start_tls_cluster())
        })
        .join()
        .expect("the TLS cluster's set-up panicked")
    })
}

async fn start_tls_cluster() -> TlsCluster {
    let pki = make_pki();
    let port = free_port();
    let disposable = Disposable::start_with_tls(TlsListener {
        port,
        cert_file: pki.join("server.crt"),
        key_file: pki.join("server.key"),
    })
    .unwrap();
    disposable.prepare_template().await.unwrap();
    // The CA certificates go where the cluster's watchdog removes them with it; the keys
    // go now.
    let kept = disposable.cluster.root().join("ca");
    std::fs::create_dir_all(&kept).unwrap();
    let (ca, other_ca) = (kept.join("ca.crt"), kept.join("other-ca.crt"));
    std::fs::copy(pki.join("ca.crt"), &ca).unwrap();
    std::fs::copy(pki.join("other-ca.crt"), &other_ca).unwrap();
    std::fs::remove_dir_all(&pki).unwrap();
    let passwords: Vec<_> = ROLES
        .iter()
        .map(|role| (*role, format!("pw-{}", uuid::Uuid::new_v4().simple())))
        .collect();
    let cluster = TlsCluster {
        disposable,
        port,
        ca,
        other_ca,
        passwords,
    };
    let mut su = cluster.superuser().await;
    for (role, password) in &cluster.passwords {
        su.execute(format!("ALTER ROLE {role} PASSWORD '{password}'").as_str())
            .await
            .unwrap();
    }
    su.close().await.unwrap();
    cluster
}

/// A fresh migrated database of the TLS cluster.
async fn fresh_database() -> (&'static TlsCluster, String) {
    let cluster = tls_cluster();
    let name = cluster.disposable.fresh_database().await.unwrap();
    (cluster, name)
}

/// Connects as the server does (`parse_url`, then the pool) with `url`.
async fn connect(url: &str) -> anyhow::Result<sqlx::PgPool> {
    db::connect(parse_url(url, "DATABASE_URL")?, 1).await
}

#[tokio::test]
async fn each_sslmode_connects_as_the_url_says_and_encrypted_where_it_should() {
    let (cluster, name) = fresh_database().await;
    for (query, encrypted) in [
        ("sslmode=disable", false),
        // sqlx's default, as libpq's: TLS when the server offers it.
        ("", true),
        ("sslmode=prefer", true),
        ("sslmode=require", true),
        ("sslmode=verify-ca&sslrootcert={ca}", true),
        ("sslmode=verify-full&sslrootcert={ca}", true),
    ] {
        let url = cluster.url(RUNTIME_ROLE, "localhost", &name, query);
        let pool = connect(&url)
            .await
            .unwrap_or_else(|err| panic!("{query}: {err:#}"));
        let found = db::tls::encryption(&pool).await.unwrap();
        assert_eq!(found.encrypted, encrypted, "{query}: {found:?}");
        assert!(!found.unix_socket, "{query}");
        if encrypted {
            assert!(
                found.version.is_some() && found.cipher.is_some(),
                "{found:?}"
            );
        }
        // PostgreSQL's own view of the session agrees.
        let mut su = cluster.superuser().await;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap();
        let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = $1")
            .bind(pid)
            .fetch_one(&mut su)
            .await
            .unwrap();
        assert_eq!(ssl, encrypted, "{query}");
        pool.close().await;
    }
    // A cluster's private socket, as the embedded database and the other tests use it,
    // is unchanged: plaintext, never leaving the machine.
    let shared = Disposable::shared();
    let options = shared.cluster.connect_options(SUPERUSER, "postgres");
    let pool = db::connect(options, 1).await.unwrap();
    let found = db::tls::encryption(&pool).await.unwrap();
    assert!(!found.encrypted && found.unix_socket, "{found:?}");
    // There, TLS cannot be had: `require` says why.
    let options = shared
        .cluster
        .connect_options(SUPERUSER, "postgres")
        .ssl_mode(sqlx::postgres::PgSslMode::Require);
    let err = format!("{:#}", db::connect(options, 1).await.unwrap_err());
    assert!(
        err.contains("(sslmode=require): the server does not accept TLS connections"),
        "{err}"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_naming_the_problem() {
    let (cluster, name) = fresh_database().await;
    for query in [
        // The public roots alone: the test CA is not among them.
        "sslmode=verify-full",
        "sslmode=verify-full&sslrootcert={other_ca}",
        "sslmode=verify-ca&sslrootcert={other_ca}",
    ] {
        let url = cluster.url(RUNTIME_ROLE, "localhost", &name, query);
        let err = format!("{:#}", connect(&url).await.unwrap_err());
        assert!(
            err.contains("certificate is not trusted") && err.contains("sslrootcert"),
            "{query}: {err}"
        );
        assert!(err.contains("localhost:"), "names the server: {err}");
        assert!(!cluster.leaks_a_password(&err), "{err}");
    }
    // A CA file that is not there is named as such, before any connection.
    let url = cluster.url(
        RUNTIME_ROLE,
        "localhost",
        &name,
        "sslmode=verify-full&sslrootcert=/no/such/ca.crt",
    );
    let err = format!("{:#}", connect(&url).await.unwrap_err());
    assert!(
        err.contains("DATABASE_URL: cannot read sslrootcert /no/such/ca.crt"),
        "{err}"
    );
    assert!(!cluster.leaks_a_password(&err), "{err}");
}

#[tokio::test]
async fn a_host_name_the_certificate_lacks_fails_verify_full() {
    let (cluster, name) = fresh_database().await;
    // The certificate names `localhost`, not the address 127.0.0.1.
    let url = cluster.url(
        RUNTIME_ROLE,
        "127.0.0.1",
        &name,
        "sslmode=verify-full&sslrootcert={ca}",
    );
    let err = format!("{:#}", connect(&url).await.unwrap_err());
    assert!(
        err.contains("certificate does not name the host \"127.0.0.1\" (it names localhost)"),
        "{err}"
    );
    assert!(!cluster.leaks_a_password(&err), "{err}");
    // `require` encrypts without looking at the certificate.
    let url = cluster.url(RUNTIME_ROLE, "127.0.0.1", &name, "sslmode=require");
    let pool = connect(&url).await.unwrap();
    assert!(db::tls::encryption(&pool).await.unwrap().encrypted);
}

/// `verify-ca` checks the chain only, so a host name the certificate lacks should pass.
/// sqlx 0.8.6 lets the name mismatch through only in the form rustls reported it before
/// 0.23.24 (launchbadge/sqlx#3793, fixed upstream after 0.8.6), so with this tree's rustls
/// it refuses the connection as `verify-full` would: what this test holds, so the day
/// sqlx lets it through, the test says so (and the docs must change). The chain is still
/// checked: `an_untrusted_certificate_is_refused_naming_the_problem`.
#[tokio::test]
async fn verify_ca_checks_the_host_name_too_with_this_sqlx_and_says_so() {
    let (cluster, name) = fresh_database().await;
    let url = cluster.url(
        RUNTIME_ROLE,
        "127.0.0.1",
        &name,
        "sslmode=verify-ca&sslrootcert={ca}",
    );
    let err = format!("{:#}", connect(&url).await.unwrap_err());
    assert!(
        err.contains("certificate does not name the host \"127.0.0.1\"")
            && err.contains("verify-ca acts as verify-full"),
        "{err}"
    );
    assert!(!cluster.leaks_a_password(&err), "{err}");
}

/// `momentum serve`, killed when dropped; its stderr goes to `log`, removed with it.
struct Server {
    child: std::process::Child,
    log: PathBuf,
}

impl Server {
    /// Kills it and returns its log.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `momentum serve` on `port` with these database URLs (admin, runtime, worker).
fn spawn_serve(port: u16, urls: [&str; 3]) -> Server {
    let log = std::env::temp_dir().join(format!("momentum-tls-{}.log", uuid::Uuid::new_v4()));
    let stderr = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .arg("serve")
        .env("MOMENTUM_ADMIN_DATABASE_URL", urls[0])
        .env("DATABASE_URL", urls[1])
        .env("MOMENTUM_WORKER_DATABASE_URL", urls[2])
        .env("MOMENTUM_SECRET_KEY", crate::serve::TEST_SECRET_KEY)
        .env("MOMENTUM_LISTEN", format!("127.0.0.1:{port}"))
        .env("MOMENTUM_ADMIN_LISTEN", "off")
        .env("RUST_LOG", "info")
        .env("MOMENTUM_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start momentum");
    Server { child, log }
}

/// The three URLs of `momentum serve` on `database`, each with `query`.
fn serve_urls(cluster: &TlsCluster, database: &str, query: &str) -> [String; 3] {
    [OWNER_ROLE, RUNTIME_ROLE, WORKER_ROLE]
        .map(|role| cluster.url(role, "localhost", database, query))
}

/// Starts `momentum serve` and waits for `/healthz`; panics with its log if it exits.
async fn serve(urls: &[String; 3]) -> (Server, String) {
    let port = free_port();
    let mut server = spawn_serve(port, [&urls[0], &urls[1], &urls[2]]);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (server, base);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("momentum serve exited ({status}): {}", server.stop());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("momentum serve did not start: {}", server.stop());
}

/// Whether each connection of the server's roles to `database` is encrypted, as
/// PostgreSQL sees them (asked as the superuser).
async fn server_connections(cluster: &TlsCluster, database: &str) -> Vec<(String, bool)> {
    let mut su = cluster.superuser().await;
    sqlx::query_as(
        "SELECT a.usename::text, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
          WHERE a.datname = $1 AND a.usename IN ($2, $3) ORDER BY 1",
    )
    .bind(database)
    .bind(RUNTIME_ROLE)
    .bind(WORKER_ROLE)
    .fetch_all(&mut su)
    .await
    .unwrap()
}

/// The fields of each JSON log line saying `message`.
fn logged(log: &str, message: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|line| line["fields"].clone())
        .filter(|fields| {
            fields["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(message))
        })
        .collect()
}

/// `/readyz`'s `data`.
async fn readyz(base: &str) -> Value {
    let resp = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["data"].clone()
}

#[tokio::test]
async fn serve_over_verify_full_serves_and_every_connection_is_encrypted() {
    let (cluster, name) = fresh_database().await;
    let owner = db::connect(
        cluster
            .disposable
            .cluster
            .connect_options(OWNER_ROLE, &name),
        1,
    )
    .await
    .unwrap();
    let tenant = tenants::provision(&owner, "Tls", "owner@tls.example")
        .await
        .unwrap();
    owner.close().await;

    let urls = serve_urls(cluster, &name, "sslmode=verify-full&sslrootcert={ca}");
    let (server, base) = serve(&urls).await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{base}/v1/contacts"))
        .bearer_auth(&tenant.api_key)
        .json(&serde_json::json!({ "first_name": "Ada", "email": "ada@tls.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let listed: Value = http
        .get(format!("{base}/v1/contacts"))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["email"], "ada@tls.example");
    let ready = readyz(&base).await;
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["database"]["encrypted"], true, "{ready}");

    let connections = server_connections(cluster, &name).await;
    for role in [RUNTIME_ROLE, WORKER_ROLE] {
        assert!(
            connections.iter().any(|(r, _)| r == role),
            "no connection of {role}: {connections:?}"
        );
    }
    assert!(
        connections.iter().all(|(_, ssl)| *ssl),
        "a connection in plaintext: {connections:?}"
    );

    let log = server.stop();
    for what in [
        "MOMENTUM_ADMIN_DATABASE_URL",
        "DATABASE_URL",
        "MOMENTUM_WORKER_DATABASE_URL",
    ] {
        let said = logged(&log, "the database connection is encrypted")
            .into_iter()
            .any(|fields| {
                fields["database"] == what
                    && fields["sslmode"] == "verify-full"
                    && fields["encrypted"] == true
                    && fields["tls_version"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("TLS"))
            });
        assert!(said, "the log says nothing of {what}'s encryption: {log}");
    }
    assert!(
        logged(&log, "the database connection is NOT").is_empty(),
        "{log}"
    );
    assert!(!cluster.leaks_a_password(&log), "{log}");
}

#[tokio::test]
async fn serve_over_require_is_encrypted_and_over_disable_says_it_is_not() {
    let (cluster, name) = fresh_database().await;
    let (server, base) = serve(&serve_urls(cluster, &name, "sslmode=require")).await;
    assert_eq!(readyz(&base).await["database"]["encrypted"], true);
    let connections = server_connections(cluster, &name).await;
    assert!(
        !connections.is_empty() && connections.iter().all(|(_, ssl)| *ssl),
        "{connections:?}"
    );
    drop(server);

    let (server, base) = serve(&serve_urls(cluster, &name, "sslmode=disable")).await;
    assert_eq!(readyz(&base).await["database"]["encrypted"], false);
    let log = server.stop();
    let warned = logged(&log, "the database connection is NOT encrypted");
    assert!(
        warned
            .iter()
            .any(|fields| fields["database"] == "DATABASE_URL" && fields["encrypted"] == false),
        "no warning of a plaintext connection: {log}"
    );
}

/// Runs `momentum serve` expecting it to stop at start; its stderr.
async fn refused_at_start(urls: [&str; 3]) -> String {
    let mut server = spawn_serve(free_port(), urls);
    for _ in 0..300 {
        if let Ok(Some(status)) = server.child.try_wait() {
            let log = server.stop();
            assert!(!status.success(), "{log}");
            return log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("momentum serve did not stop: {}", server.stop());
}

#[tokio::test]
async fn serve_refuses_an_untrusted_certificate_naming_the_url_and_not_its_password() {
    let (cluster, name) = fresh_database().await;
    let good = serve_urls(cluster, &name, "sslmode=verify-full&sslrootcert={ca}");
    let bad = serve_urls(cluster, &name, "sslmode=verify-full&sslrootcert={other_ca}");
    for (i, what) in [
        "MOMENTUM_ADMIN_DATABASE_URL",
        "DATABASE_URL",
        "MOMENTUM_WORKER_DATABASE_URL",
    ]
    .into_iter()
    .enumerate()
    {
        let mut urls = [good[0].as_str(), good[1].as_str(), good[2].as_str()];
        urls[i] = &bad[i];
        let stderr = refused_at_start(urls).await;
        assert!(
            stderr.contains(&format!("error: {what}: cannot connect to PostgreSQL"))
                && stderr.contains("sslmode=verify-full")
                && stderr.contains("the server's certificate is not trusted"),
            "{what}: {stderr}"
        );
        assert!(!cluster.leaks_a_password(&stderr), "{stderr}");
    }
}

#[tokio::test]
async fn serve_refuses_a_host_name_the_certificate_lacks_with_verify_full() {
    let (cluster, name) = fresh_database().await;
    let good = serve_urls(cluster, &name, "sslmode=verify-full&sslrootcert={ca}");
    let elsewhere = cluster.url(
        RUNTIME_ROLE,
        "127.0.0.1",
        &name,
        "sslmode=verify-full&sslrootcert={ca}",
    );
    let stderr = refused_at_start([&good[0], &elsewhere, &good[2]]).await;
    assert!(
        stderr.contains("error: DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:")
            && stderr.contains("the server's certificate does not name the host \"127.0.0.1\""),
        "{stderr}"
    );
    assert!(!cluster.leaks_a_password(&stderr), "{stderr}");
}
