//! Test harness for the contract tests: a disposable PostgreSQL (one per test process),
//! a fresh migrated database per test, the real server on a free port, and SDK clients.
//! Tests reach the server only through the generated SDK, or raw HTTP for inputs the SDK
//! cannot send. [`receiver::Receiver`] is a webhook receiver on 127.0.0.1.

pub mod receiver;

use std::time::Duration;

use momentum_sdk::Client;
use momentum_server::crypto::SecretKey;
use momentum_server::db::embedded;
use momentum_server::db::{self, tenants};
use momentum_server::ratelimit::{self, StoreSettings};
use momentum_server::serving::ConnectionLimits;
use momentum_server::startup::{Application, HttpSettings, IdentitySettings};
use momentum_server::testing::postgres::Disposable;
use momentum_server::webhooks::WebhookSettings;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

/// QR sessions expire after this many seconds in tests, so expiry can be observed.
pub const TEST_QR_SESSION_TTL_SECS: u64 = 3;

/// The body limit tests run with: small, so the 413 test need not build a large body.
pub const TEST_MAX_BODY_BYTES: usize = 64 * 1024;

/// The largest import file tests take: small, so the 413 test need not build a large
/// file.
pub const TEST_MAX_IMPORT_BYTES: u64 = 256 * 1024;

/// Rows per import chunk in tests: few, so a small file spans several chunks.
pub const TEST_IMPORT_CHUNK_ROWS: u32 = 25;

/// The folder every instance of one test app keeps its files in (exports, uploads), as
/// a fleet shares one store; removed with the app.
pub struct Files(std::path::PathBuf);

impl Files {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("momentum-files-{}", Uuid::new_v4())))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The import settings tests run with: prompt polls, small chunks, a short lease.
pub fn test_imports() -> momentum_server::db::imports::ImportSettings {
    momentum_server::db::imports::ImportSettings {
        max_bytes: TEST_MAX_IMPORT_BYTES,
        chunk_rows: TEST_IMPORT_CHUNK_ROWS,
        poll_interval: Duration::from_millis(100),
        purge_interval: Duration::from_millis(300),
        lease: Duration::from_secs(2),
        ..Default::default()
    }
}

pub struct TestApp {
    pub base_url: String,
    /// An SDK client holding the first tenant's key.
    pub client: Client,
    pub api_key: String,
    pub tenant_id: Uuid,
    /// The owner-role pool, for provisioning more tenants.
    pub admin: PgPool,
    /// The name of this app's database in the disposable cluster.
    pub database: String,
    /// The operator's key the servers seal webhook signing secrets with.
    pub secret_key: SecretKey,
    runtime_options: PgConnectOptions,
    /// The worker's role (a member of `momentum_worker`), for the webhook worker and the
    /// purges; the API's pool is the runtime role's alone.
    worker_options: PgConnectOptions,
    rate_limits: RateSettings,
    webhooks: WebhookSettings,
    _shutdown: Vec<oneshot::Sender<()>>,
    /// Declared last: removed once every server has been told to stop.
    pub files: Files,
}

/// Webhook settings for tests: private addresses allowed (the receivers are on
/// 127.0.0.1), a retry schedule in milliseconds, a short timeout and a fast poll.
pub fn test_webhooks() -> WebhookSettings {
    WebhookSettings {
        worker: true,
        concurrency: 8,
        timeout: Duration::from_secs(3),
        retry_schedule: [100, 200, 400, 800]
            .into_iter()
            .map(Duration::from_millis)
            .collect(),
        allow_private: true,
        poll_interval: Duration::from_millis(200),
        ..WebhookSettings::default()
    }
}

/// Starts a server as the runtime role with the test settings (`identity` changes only
/// the credential cache) and `rate_limits`; returns its URL and the sender that stops it.
/// Each class's quota, the tenant-wide factor, and where the limiters keep their state.
type RateSettings = (
    Vec<(ratelimit::Class, ratelimit::ClassQuota)>,
    u32,
    StoreSettings,
);

/// The API's and the worker's connection options, and the direct session's to listen
/// through (`None`: each listens through its pool's own).
type Roles = (PgConnectOptions, PgConnectOptions, Option<PgConnectOptions>);

async fn serve(
    roles: Roles,
    identity: IdentitySettings,
    rate_settings: RateSettings,
    webhooks: WebhookSettings,
    (secret_key, files): (SecretKey, &std::path::Path),
) -> (String, oneshot::Sender<()>) {
    try_serve(
        roles,
        identity,
        rate_settings,
        webhooks,
        (secret_key, files),
    )
    .await
    .expect("build the application")
}

async fn try_serve(
    (options, worker_options, direct): Roles,
    identity: IdentitySettings,
    (rate_limits, rate_tenant_factor, rate_store): RateSettings,
    webhooks: WebhookSettings,
    (secret_key, files): (SecretKey, &std::path::Path),
) -> anyhow::Result<(String, oneshot::Sender<()>)> {
    let runtime = db::connect(options, 4)
        .await
        .expect("connect as the runtime role");
    let worker = db::connect(worker_options, 4)
        .await
        .expect("connect as the worker role");
    let app = Application::build_with_direct(
        runtime,
        worker,
        direct,
        "127.0.0.1:0",
        HttpSettings {
            max_body_bytes: TEST_MAX_BODY_BYTES,
            // The production defaults: long-polls must pass under them.
            header_read_timeout: ConnectionLimits::default().header_read_timeout,
            max_header_bytes: ConnectionLimits::default().max_header_bytes,
            max_connections: ConnectionLimits::default().max_connections,
            http2_max_streams: ConnectionLimits::default().http2_max_streams,
            request_timeout: momentum_server::startup::DEFAULT_REQUEST_TIMEOUT,
            identity: IdentitySettings {
                last_used_flush: Duration::from_millis(100),
                qr_session_ttl: Duration::from_secs(TEST_QR_SESSION_TTL_SECS),
                ..identity
            },
            rate_limits,
            trusted_proxies: Default::default(),
            rate_tenant_factor,
            rate_store,
            webhooks,
            idempotency_ttl: momentum_server::api::idempotency::DEFAULT_TTL,
            trash: Default::default(),
            // Prompt, so a test sees an expired sandbox purged within a second.
            sandboxes: momentum_server::db::sandboxes::SandboxSettings {
                purge_interval: Duration::from_millis(300),
                ..Default::default()
            },
            // Prompt, so a test sees its export written within a fraction of a second; on
            // local disk, as a single-instance deployment keeps them.
            exports: momentum_server::db::exports::ExportSettings {
                poll_interval: Duration::from_millis(100),
                purge_interval: Duration::from_millis(300),
                lease: Duration::from_secs(5),
                ..Default::default()
            },
            imports: test_imports(),
            blobs: momentum_server::blob::Blobs::local(files)?,
            secret_key,
            // In process there is no admin listener: the tests read the counters here.
            public_metrics: true,
        },
    )
    .await?;
    let base_url = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(
        async {
            let _ = rx.await;
        },
        Duration::from_secs(1),
    ));
    Ok((base_url, tx))
}

/// Everything the servers of this test process log, for tests that prove a secret never
/// reaches a log line. Captured at `debug`, so it holds more than production logs.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().map(|b| b.clone()).unwrap_or_default())
        .into_owned()
}

fn log_buffer() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOGS: std::sync::OnceLock<std::sync::Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| std::sync::Mutex::new(Vec::new()))
}

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = log_buffer().lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

/// Quotas for tests: generous, so only the rate-limit tests meet a limit.
pub const TEST_RATE_LIMITS: &str =
    "auth=6000/min,read=60000/min,write=60000/min,admin=6000/min,webhook_test=6000/min";

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with_limits(TEST_RATE_LIMITS).await
    }

    /// An app whose rate limits are `spec` (`MOMENTUM_RATE_LIMITS` syntax) over the
    /// test quotas.
    pub async fn spawn_with_limits(spec: &str) -> TestApp {
        Self::spawn_with(spec, 5).await
    }

    /// Like [`TestApp::spawn_with_limits`], with a tenant-wide ceiling of `tenant_factor`
    /// times each class's quota (0: none).
    pub async fn spawn_with(spec: &str, tenant_factor: u32) -> TestApp {
        Self::spawn_full(
            spec,
            tenant_factor,
            StoreSettings::InProcess,
            test_webhooks(),
        )
        .await
    }

    /// Like [`TestApp::spawn_with`], with the limiters' state kept in `store` (Redis:
    /// shared by every instance of this app, [`TestApp::another_instance`] included).
    pub async fn spawn_with_store(spec: &str, tenant_factor: u32, store: StoreSettings) -> TestApp {
        Self::spawn_full(spec, tenant_factor, store, test_webhooks()).await
    }

    /// An app whose webhooks are sent with `webhooks`.
    pub async fn spawn_with_webhooks(webhooks: WebhookSettings) -> TestApp {
        Self::spawn_full(TEST_RATE_LIMITS, 5, StoreSettings::InProcess, webhooks).await
    }

    async fn spawn_full(
        spec: &str,
        tenant_factor: u32,
        rate_store: StoreSettings,
        webhooks: WebhookSettings,
    ) -> TestApp {
        capture_logs();
        let disposable = Disposable::shared();
        let name = disposable
            .fresh_database()
            .await
            .expect("create a test database");
        let cluster = &disposable.cluster;
        let admin = db::connect(cluster.connect_options(embedded::OWNER_ROLE, &name), 2)
            .await
            .expect("connect as the owner");
        let runtime_options = cluster.connect_options(embedded::RUNTIME_ROLE, &name);
        let worker_options = cluster.connect_options(embedded::WORKER_ROLE, &name);
        let rate_limits = ratelimit::parse_quotas(&format!("{TEST_RATE_LIMITS},{spec}"))
            .expect("valid rate limits");
        let secret_key = SecretKey::generate();
        let files = Files::new();
        let (base_url, tx) = serve(
            (runtime_options.clone(), worker_options.clone(), None),
            IdentitySettings::default(),
            (rate_limits.clone(), tenant_factor, rate_store.clone()),
            webhooks.clone(),
            (secret_key.clone(), files.path()),
        )
        .await;
        let tenant = tenants::provision(&admin, "Tenant A", "owner@a.example")
            .await
            .expect("provision a tenant");
        TestApp {
            client: client(&base_url, &tenant.api_key),
            base_url,
            api_key: tenant.api_key,
            tenant_id: tenant.tenant_id,
            admin,
            database: name,
            secret_key,
            runtime_options,
            worker_options,
            rate_limits: (rate_limits, tenant_factor, rate_store),
            webhooks,
            _shutdown: vec![tx],
            files,
        }
    }

    /// A second server on the same database (as behind a load balancer), whose
    /// credential cache lives `auth_cache_ttl`; it stops with this app. Returns its URL.
    pub async fn another_instance(&mut self, auth_cache_ttl: Duration) -> String {
        let identity = IdentitySettings {
            auth_cache_ttl,
            ..IdentitySettings::default()
        };
        let webhooks = self.webhooks.clone();
        self.another_instance_with(identity, webhooks).await
    }

    /// A second server on the same database with its own credential cache and webhook
    /// settings (another worker, or none); it stops with this app. Returns its URL.
    pub async fn another_instance_with(
        &mut self,
        identity: IdentitySettings,
        webhooks: WebhookSettings,
    ) -> String {
        let (base_url, tx) = serve(
            self.roles(),
            identity,
            self.rate_limits.clone(),
            webhooks,
            (self.secret_key.clone(), self.files.path()),
        )
        .await;
        self._shutdown.push(tx);
        base_url
    }

    /// Tries to start a second server on the same database with another secret key (as
    /// an operator who lost or mistyped it would): the error it refuses to start with,
    /// or its URL.
    pub async fn another_instance_with_key(&mut self, key: SecretKey) -> anyhow::Result<String> {
        let (base_url, tx) = try_serve(
            self.roles(),
            IdentitySettings::default(),
            self.rate_limits.clone(),
            self.webhooks.clone(),
            (key, self.files.path()),
        )
        .await?;
        self._shutdown.push(tx);
        Ok(base_url)
    }

    /// A second server like [`TestApp::another_instance`] that listens for credential
    /// changes and webhooks through `direct` (`MOMENTUM_DIRECT_DATABASE_URL`) rather than
    /// its pools' own URLs. Returns its URL.
    pub async fn another_instance_listening_through(
        &mut self,
        auth_cache_ttl: Duration,
        direct: PgConnectOptions,
    ) -> String {
        let identity = IdentitySettings {
            auth_cache_ttl,
            ..IdentitySettings::default()
        };
        let (api, worker, _) = self.roles();
        let (base_url, tx) = serve(
            (api, worker, Some(direct)),
            identity,
            self.rate_limits.clone(),
            self.webhooks.clone(),
            (self.secret_key.clone(), self.files.path()),
        )
        .await;
        self._shutdown.push(tx);
        base_url
    }

    /// The worker role's connection options, to act as a worker from a test.
    pub fn worker_options(&self) -> PgConnectOptions {
        self.worker_options.clone()
    }

    /// Connection options for this app's database as `role`, through the disposable
    /// cluster's socket.
    pub fn options_as(&self, role: &str) -> PgConnectOptions {
        Disposable::shared()
            .cluster
            .connect_options(role, &self.database)
    }

    fn roles(&self) -> Roles {
        (
            self.runtime_options.clone(),
            self.worker_options.clone(),
            None,
        )
    }

    /// Another tenant in the same database, with its own key and SDK client.
    pub async fn other_tenant(&self) -> (Uuid, Client) {
        let tenant = tenants::provision(&self.admin, "Tenant B", "owner@b.example")
            .await
            .expect("provision a second tenant");
        (tenant.tenant_id, client(&self.base_url, &tenant.api_key))
    }

    /// A client with some other key, for authentication failures.
    pub fn client_with_key(&self, key: &str) -> Client {
        client(&self.base_url, key)
    }

    /// A new device's QR login, started without credentials: its id and poll secret.
    pub async fn start_qr_login(&self) -> momentum_sdk::types::QrSessionCreated {
        Client::builder(&self.base_url)
            .build()
            .expect("a client without credentials")
            .auth_qr_sessions_create()
            .send()
            .await
            .expect("start a QR login")
            .into_inner()
            .data
    }

    /// A new device's QR login, approved by `approver` and exchanged: the issued token.
    pub async fn sign_in(&self, approver: &Client) -> momentum_sdk::types::SessionTokenIssued {
        let session = self.start_qr_login().await;
        approver
            .auth_qr_sessions_approve()
            .id(session.id)
            .send()
            .await
            .expect("approve the QR login");
        Client::builder(&self.base_url)
            .build()
            .expect("a client without credentials")
            .auth_qr_sessions_exchange()
            .id(session.id)
            .x_poll_secret(session.poll_secret)
            .send()
            .await
            .expect("exchange the approved QR login")
            .into_inner()
            .data
    }

    /// A raw HTTP client (no credentials) and the URL of `path`.
    pub fn raw(&self, path: &str) -> (reqwest::Client, String) {
        (reqwest::Client::new(), format!("{}{path}", self.base_url))
    }
}

fn client(base_url: &str, key: &str) -> Client {
    Client::with_api_key(base_url, key).expect("build an SDK client")
}
