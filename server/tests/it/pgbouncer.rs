//! Momentum through PgBouncer in transaction mode, as Debian ships it (1.18: no support
//! for prepared statements), started from the binary as an operator would run it. And
//! the pooler behaviour `db::autocommit` exists for.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use momentum_server::db::embedded::{Cluster, OWNER_ROLE, RUNTIME_ROLE, WORKER_ROLE};
use momentum_server::db::{self, tenants};
use momentum_server::testing::postgres::Disposable;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::time::Instant;

use crate::serve::TEST_SECRET_KEY;
use crate::support::{eventually, free_port, recording_receiver};

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
fn spawn_watchdog(owner: u32, pid: u32, dir: &std::path::Path) {
    momentum_server::testing::spawn_watchdog(
        owner,
        "true",
        &format!("kill {pid} 2>/dev/null; rm -rf '{}'", dir.display()),
    )
    .expect("start the pgbouncer watchdog");
}

/// A `momentum serve` started from the binary with `vars`, its stderr kept in a file;
/// stopped when dropped.
struct Served {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Served {
    fn start(vars: &[(&str, &str)]) -> Served {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "momentum-pgbouncer-serve-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_momentum"))
            .arg("serve")
            .env_remove("DATABASE_URL")
            .env_remove("MOMENTUM_ADMIN_DATABASE_URL")
            .env_remove("MOMENTUM_WORKER_DATABASE_URL")
            .env_remove("MOMENTUM_DIRECT_DATABASE_URL")
            .env_remove("MOMENTUM_DB_PREPARED_STATEMENTS")
            .env("MOMENTUM_SECRET_KEY", TEST_SECRET_KEY)
            .env("MOMENTUM_LISTEN", format!("127.0.0.1:{port}"))
            .env("MOMENTUM_ADMIN_LISTEN", "off")
            .env("MOMENTUM_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("MOMENTUM_RATE_LIMITS", RATE_LIMITS)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("run momentum");
        Served {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Waits until `/readyz` answers 200; `Err` with the log if the process exits first.
    async fn ready(&mut self) -> Result<(), String> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited ({status}):\n{}", self.log()));
            }
            let ready = http.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            assert!(Instant::now() < deadline, "not ready:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Quotas no test here comes near.
const RATE_LIMITS: &str =
    "auth=60000/min,read=60000/min,write=60000/min,admin=60000/min,webhook_test=6000/min";

/// The API through raw HTTP with one key.
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    fn new(base: &str, key: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            key: key.to_owned(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> u16 {
        self.send(reqwest::Method::DELETE, path, None).await.0
    }

    /// Creates at `path`, reads it back, finds it in the list, changes it with `patch`
    /// and, with `delete`, deletes it and finds it gone. Returns its id.
    async fn crud(&self, path: &str, create: Value, patch: Option<Value>, delete: bool) -> String {
        let (status, created) = self.post(path, create).await;
        assert_eq!(status, 201, "POST {path}: {created}");
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        self.read_and_list(path, &id).await;
        if let Some(patch) = patch {
            let (status, patched) = self.patch(&format!("{path}/{id}"), patch).await;
            assert_eq!(status, 200, "PATCH {path}/{id}: {patched}");
        }
        if delete {
            assert_eq!(
                self.delete(&format!("{path}/{id}")).await,
                204,
                "DELETE {path}/{id}"
            );
            let (status, _) = self.get(&format!("{path}/{id}")).await;
            assert_eq!(status, 404, "GET {path}/{id} after DELETE");
        }
        id
    }

    async fn read_and_list(&self, path: &str, id: &str) {
        let (status, got) = self.get(&format!("{path}/{id}")).await;
        assert_eq!(
            (status, got["data"]["id"].as_str()),
            (200, Some(id)),
            "GET {path}/{id}: {got}"
        );
        let (status, list) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {list}");
        let listed = list["data"].as_array().unwrap();
        assert!(
            listed.iter().any(|item| item["id"] == id),
            "GET {path} lacks {id}: {list}"
        );
    }
}

/// A fresh database in the shared cluster, a tenant in it (its key), and the URLs: the
/// runtime role through `bouncer`, the worker role through it, and the runtime role
/// directly (the cluster's socket).
async fn tenant_behind(bouncer: &PgBouncer) -> (String, String, String, String) {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let owner = db::connect(disposable.cluster.connect_options(OWNER_ROLE, &name), 1)
        .await
        .unwrap();
    let tenant = tenants::provision(&owner, "Pooled", "owner@pooled.example")
        .await
        .unwrap();
    owner.close().await;
    let direct = format!(
        "postgres://{RUNTIME_ROLE}@localhost/{name}?host={}&port=5432",
        disposable.cluster.socket_dir().display()
    );
    (
        tenant.api_key,
        bouncer.url(RUNTIME_ROLE, &name),
        bouncer.url(WORKER_ROLE, &name),
        direct,
    )
}

/// Fewer server connections than one instance's pool, so client connections share them.
const SERVER_CONNECTIONS: u32 = 2;
const POOL_SIZE: &str = "8";

/// Without the settings, Momentum does not work through PgBouncer 1.18 in transaction
/// mode. Without a direct URL, `serve` refuses to start, since nothing it listens for
/// would reach it through the pooler, and says what to set. With one but statements
/// still prepared, client connections sharing a server connection take the same
/// statement names there: `serve` fails at start (saying what to set) or its requests do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_without_the_settings_momentum_refuses_to_start_or_fails() {
    let bouncer = PgBouncer::start(&Disposable::shared().cluster, SERVER_CONNECTIONS);
    let (key, api_url, worker_url, direct) = tenant_behind(&bouncer).await;

    let mut served = Served::start(&[
        ("DATABASE_URL", &api_url),
        ("MOMENTUM_WORKER_DATABASE_URL", &worker_url),
        ("MOMENTUM_DB_PREPARED_STATEMENTS", "false"),
        ("MOMENTUM_DB_POOL_SIZE", POOL_SIZE),
    ]);
    let refused = served
        .ready()
        .await
        .expect_err("listened through the pooler");
    assert!(
        refused.contains("transaction pooler") && refused.contains("MOMENTUM_DIRECT_DATABASE_URL"),
        "{refused}"
    );
    drop(served);

    let mut served = Served::start(&[
        ("DATABASE_URL", &api_url),
        ("MOMENTUM_WORKER_DATABASE_URL", &worker_url),
        ("MOMENTUM_DIRECT_DATABASE_URL", &direct),
        ("MOMENTUM_DB_POOL_SIZE", POOL_SIZE),
    ]);
    // It fails at start when a server connection already holds a statement of a name
    // it takes (saying what to set when the database says so), or one of another client
    // under the name it cached; else its requests fail.
    if let Err(refused) = served.ready().await {
        assert!(
            !refused.contains("prepared statement \"sqlx_s_")
                || refused.contains("MOMENTUM_DB_PREPARED_STATEMENTS=false"),
            "{refused}"
        );
    } else {
        let api = Api::new(&served.base, &key);
        let mut failed = Vec::new();
        for round in 0..10 {
            let answers = futures::future::join_all((0..16).map(|i| {
                let api = &api;
                async move {
                    let email = format!("p{round}-{i}@pooled.example");
                    let (created, _) = api
                        .post("/v1/contacts", json!({"first_name": "P", "email": email}))
                        .await;
                    let (listed, _) = api.get("/v1/contacts?limit=5").await;
                    [created, listed]
                }
            }))
            .await;
            failed.extend(answers.into_iter().flatten().filter(|s| *s >= 500));
            if !failed.is_empty() {
                break;
            }
        }
        assert!(
            !failed.is_empty(),
            "every request passed with prepared statements on"
        );
        let log = served.log();
        assert!(log.contains("prepared statement"), "{log}");
    }
}

/// Through PgBouncer 1.18 in transaction mode, with fewer server connections than each
/// instance's pool, `MOMENTUM_DB_PREPARED_STATEMENTS=false` and a direct URL to listen
/// through: every resource's operations, concurrent statements outside tenant
/// transactions (credential lookups, QR polls) each getting its own answer, a webhook
/// sent within 2 s of its change although the worker polls only every minute, a QR
/// long-poll answered on approval, and a revocation through one instance refused by
/// another within a second although it caches for five minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_webhooks_and_long_polls_work_through_pgbouncer_in_transaction_mode() {
    let bouncer = PgBouncer::start(&Disposable::shared().cluster, SERVER_CONNECTIONS);
    let (key, api_url, worker_url, direct) = tenant_behind(&bouncer).await;
    let pooled = [
        ("DATABASE_URL", api_url.as_str()),
        ("MOMENTUM_WORKER_DATABASE_URL", worker_url.as_str()),
        ("MOMENTUM_DIRECT_DATABASE_URL", direct.as_str()),
        ("MOMENTUM_DB_PREPARED_STATEMENTS", "false"),
        ("MOMENTUM_DB_POOL_SIZE", POOL_SIZE),
    ];
    let mut a = Served::start(&[&pooled[..], &[("MOMENTUM_WEBHOOK_POLL_MS", "60000")]].concat());
    a.ready().await.unwrap();
    let mut b = Served::start(
        &[
            &pooled[..],
            &[
                ("MOMENTUM_WEBHOOK_WORKER", "false"),
                ("MOMENTUM_AUTH_CACHE_SECS", "300"),
            ],
        ]
        .concat(),
    );
    b.ready().await.unwrap();
    let api = Api::new(&a.base, &key);

    // A webhook leaves within 2 s of its change: woken by NOTIFY, not by the poll.
    let (receiver, seen) = recording_receiver(false);
    let hook = format!("http://127.0.0.1:{receiver}/hook");
    let (status, _) = api
        .post(
            "/v1/webhook-endpoints",
            json!({"url": hook, "event_types": ["contact.created"]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = api
        .post(
            "/v1/contacts",
            json!({"first_name": "Hook", "email": "hook@pooled.example"}),
        )
        .await;
    assert_eq!(status, 201);
    let changed = Instant::now();
    eventually(Duration::from_secs(2), "the webhook within 2 s", || {
        let seen = Arc::clone(&seen);
        async move { !seen.lock().unwrap().is_empty() }
    })
    .await;
    assert!(changed.elapsed() < Duration::from_secs(2));

    // Every resource.
    let company = api
        .crud(
            "/v1/companies",
            json!({"name": "Acme"}),
            Some(json!({"industry": "Tools"})),
            false,
        )
        .await;
    let contact = api
        .crud(
            "/v1/contacts",
            json!({"first_name": "Ada", "email": "ada@pooled.example", "company_id": company}),
            Some(json!({"title": "Countess"})),
            false,
        )
        .await;
    let stages =
        json!([{"name": "New"}, {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]);
    let pipeline = api
        .crud(
            "/v1/pipelines",
            json!({"name": "Pooled", "stages": stages}),
            Some(json!({"name": "Pooled 2"})),
            false,
        )
        .await;
    api.crud(
        &format!("/v1/pipelines/{pipeline}/stages"),
        json!({"name": "Qualified"}),
        Some(json!({"name": "Qualified 2"})),
        true,
    )
    .await;
    let (_, pipelines) = api.get("/v1/pipelines").await;
    let sales = pipelines["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Sales")
        .map(|p| p["id"].clone())
        .unwrap();
    let lead = api
        .crud(
            "/v1/leads",
            json!({"title": "Renewal", "contact_id": contact, "pipeline_id": sales}),
            Some(json!({"title": "Renewal 2"})),
            false,
        )
        .await;
    api.crud(
        "/v1/activities",
        json!({"type": "call", "subject": "Intro", "lead_id": lead}),
        Some(json!({"subject": "Intro 2"})),
        true,
    )
    .await;
    api.crud(
        "/v1/custom-fields",
        json!({"record_type": "contact", "key": "tier", "label": "Tier", "type": "text"}),
        Some(json!({"label": "Tier 2"})),
        true,
    )
    .await;
    let label = api
        .crud(
            "/v1/association-labels",
            json!({"name": "Partner"}),
            Some(json!({"name": "Partner 2"})),
            false,
        )
        .await;
    api.crud(
        "/v1/associations",
        json!({"from_type": "contact", "from_id": contact, "to_type": "company", "to_id": company, "label_id": label}),
        None,
        true,
    )
    .await;
    api.crud(
        "/v1/webhook-endpoints",
        json!({"url": hook}),
        Some(json!({"description": "second"})),
        true,
    )
    .await;
    for path in [
        "/v1/leads",
        "/v1/contacts",
        "/v1/companies",
        "/v1/association-labels",
    ] {
        let id = match path {
            "/v1/leads" => &lead,
            "/v1/contacts" => &contact,
            "/v1/companies" => &company,
            _ => &label,
        };
        assert_eq!(
            api.delete(&format!("{path}/{id}")).await,
            204,
            "DELETE {path}/{id}"
        );
    }
    // It holds no lead (the lead is in the default one).
    assert_eq!(api.delete(&format!("/v1/pipelines/{pipeline}")).await, 204);
    let user = api
        .crud(
            "/v1/users",
            json!({"email": "mia@pooled.example", "role": "member"}),
            Some(json!({"name": "Mia"})),
            false,
        )
        .await;
    let (status, _) = api
        .post(&format!("/v1/users/{user}/deactivate"), json!({}))
        .await;
    assert_eq!(status, 200);

    // API keys: made, read, listed; then used through the other instance, revoked
    // through this one, and refused by the other within a second.
    let (status, created) = api
        .post(
            "/v1/api-keys",
            json!({"name": "pooled", "scopes": ["contacts:read"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key_id = created["data"]["api_key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = created["data"]["secret"].as_str().unwrap().to_owned();
    api.read_and_list("/v1/api-keys", &key_id).await;
    let elsewhere = Api::new(&b.base, &secret);
    assert_eq!(elsewhere.get("/v1/contacts").await.0, 200);
    let (status, _) = api
        .post(&format!("/v1/api-keys/{key_id}/revoke"), json!({}))
        .await;
    assert_eq!(status, 200);
    let revoked = Instant::now();
    while elsewhere.get("/v1/contacts").await.0 == 200 {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "still accepted elsewhere"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Statements outside tenant transactions, many at once: each answer is its own.
    let mut secrets = Vec::new();
    for i in 0..12 {
        let (status, created) = api
            .post(
                "/v1/api-keys",
                json!({"name": format!("burst {i}"), "scopes": ["contacts:read"]}),
            )
            .await;
        assert_eq!(status, 201);
        secrets.push(created["data"]["secret"].as_str().unwrap().to_owned());
    }
    let anonymous = Api::new(&b.base, "");
    let mut sessions = Vec::new();
    for _ in 0..12 {
        let (status, created) = anonymous.post("/v1/auth/qr-sessions", json!({})).await;
        assert_eq!(status, 201, "{created}");
        sessions.push((
            created["data"]["id"].as_str().unwrap().to_owned(),
            created["data"]["poll_secret"].as_str().unwrap().to_owned(),
        ));
    }
    let other = b.base.as_str();
    for _ in 0..5 {
        let lookups = secrets.iter().map(|secret| async move {
            Api::new(other, secret).get("/v1/contacts?limit=1").await.0
        });
        let polls = sessions.iter().map(|(id, poll_secret)| {
            let http = &anonymous.http;
            let url = format!("{other}/v1/auth/qr-sessions/{id}");
            async move {
                let resp = http
                    .get(url)
                    .header("X-Poll-Secret", poll_secret)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap();
                (status, body["data"]["id"].as_str() == Some(id.as_str()))
            }
        });
        let (looked_up, polled) = tokio::join!(
            futures::future::join_all(lookups),
            futures::future::join_all(polls)
        );
        assert!(looked_up.iter().all(|s| *s == 200), "{looked_up:?}");
        assert!(polled.iter().all(|p| *p == (200, true)), "{polled:?}");
    }

    // A QR long-poll is answered as soon as the session is approved.
    let (id, poll_secret) = sessions.pop().unwrap();
    let poll = {
        let http = anonymous.http.clone();
        let url = format!("{}/v1/auth/qr-sessions/{id}?wait=30", a.base);
        let poll_secret = poll_secret.clone();
        tokio::spawn(async move {
            let resp = http
                .get(url)
                .header("X-Poll-Secret", poll_secret)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = api
        .post(&format!("/v1/auth/qr-sessions/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, 200);
    let approved = Instant::now();
    let (status, polled) = poll.await.unwrap();
    assert_eq!(
        (status, polled["data"]["status"].as_str()),
        (200, Some("approved")),
        "{polled}"
    );
    assert!(
        approved.elapsed() < Duration::from_secs(2),
        "answered {:?} after",
        approved.elapsed()
    );
    let resp = anonymous
        .http
        .post(format!("{}/v1/auth/qr-sessions/{id}/exchange", a.base))
        .header("X-Poll-Secret", poll_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let token: Value = resp.json().await.unwrap();
    let device = Api::new(&a.base, token["data"]["token"].as_str().unwrap());
    assert_eq!(device.get("/v1/contacts").await.0, 200);

    assert!(!a.log().contains("prepared statement"), "{}", a.log());
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
