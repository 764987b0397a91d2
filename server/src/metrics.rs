//! Prometheus metrics, served as text on the admin listener's `/metrics` (and the public
//! one's when `MOMENTUM_PUBLIC_METRICS` asks): the process and the build, requests and
//! latency per operation and status class, the database pools, rate-limit decisions per
//! class (and the health of a shared rate-limit store), the credential cache, idempotency
//! keys, the webhook queue and its attempts, and the purges of the trash and of expired
//! sandboxes. docs/metrics.md lists every series and what to alert on.
//!
//! Below everything that records (`api/`, `db/`, `webhooks/`, `auth/`): it imports none of
//! them. Label values on the request path are resolved once and kept ([`HttpOperation`],
//! [`PoolMeter`]), so recording allocates nothing.

use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

/// Every duration histogram's buckets, in seconds: from a millisecond (a cached read) to
/// half a minute (a webhook receiver at its timeout, a request near its deadline).
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The status classes requests are counted by, in the order of [`status_class`].
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The build's commit, from `build.rs` (`unknown` when built without git).
pub const BUILD_COMMIT: &str = env!("MOMENTUM_BUILD_COMMIT");

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    allowed: IntCounterVec,
    limited: IntCounterVec,
    unchecked: IntCounterVec,
    store_errors: IntCounter,
    store_up: IntGauge,
    auth_cache_hits: IntCounter,
    auth_cache_misses: IntCounter,
    idempotency_replays: IntCounter,
    idempotency_conflicts: IntCounter,
    webhook_attempts: IntCounterVec,
    webhook_in_flight: IntGauge,
    webhook_endpoints_disabled: IntCounterVec,
    webhook_due: IntGauge,
    webhook_oldest_due_age: Gauge,
    trash_purged: IntCounter,
    sandboxes_purged: IntCounter,
    exports: IntCounterVec,
    export_rows: IntCounter,
    exports_expired: IntCounter,
    imports: IntCounterVec,
    import_rows: IntCounterVec,
    pool_acquire: HistogramVec,
    pool_acquire_timeouts: IntCounterVec,
    pools: Arc<PoolCollector>,
}

/// The names, help texts and labels are constants: making or registering a metric can
/// fail only for a bad name or a duplicate, which the constants rule out.
fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid metric")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(SECONDS_BUCKETS.to_vec()),
        labels,
    )
    .expect("valid metric")
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = counter_vec(
            "momentum_http_requests_total",
            "Requests answered, by operation (operationId; `unmatched` outside the document) \
             and status class.",
            &["operation", "status_class"],
        );
        let latency = histogram_vec(
            "momentum_http_request_duration_seconds",
            "Time to answer a request, by operation and status class.",
            &["operation", "status_class"],
        );
        let allowed = counter_vec(
            "momentum_ratelimit_allowed_total",
            "Requests let through, by class.",
            &["class"],
        );
        let limited = counter_vec(
            "momentum_ratelimit_limited_total",
            "Requests refused with 429, by class.",
            &["class"],
        );
        let unchecked = counter_vec(
            "momentum_ratelimit_unchecked_total",
            "Requests the rate-limit store could not count (unreachable), by class and \
             what they met (MOMENTUM_RATE_LIMIT_STORE_FAILURE): allow = let through, \
             deny = 503.",
            &["class", "on_failure"],
        );
        let store_errors = counter(
            "momentum_ratelimit_store_errors_total",
            "Calls to the shared rate-limit store (Redis) that failed or timed out.",
        );
        let store_up = IntGauge::new(
            "momentum_ratelimit_store_up",
            "1 while the rate-limit store answers (always, in process), 0 during an outage.",
        )
        .expect("valid metric");
        let auth_cache_hits = counter(
            "momentum_auth_cache_hits_total",
            "Credential checks answered from this process's cache.",
        );
        let auth_cache_misses = counter(
            "momentum_auth_cache_misses_total",
            "Credential checks that queried the database (the lookup was not cached).",
        );
        let idempotency_replays = counter(
            "momentum_idempotency_replays_total",
            "Requests with an Idempotency-Key answered with the stored answer of an earlier one.",
        );
        let idempotency_conflicts = counter(
            "momentum_idempotency_conflicts_total",
            "Requests with an Idempotency-Key refused with 409: the key was used for another \
             request, or its first request is still running.",
        );
        let webhook_attempts = counter_vec(
            "momentum_webhook_attempts_total",
            "Webhook requests sent by this process, by what followed: delivered, retry, failed.",
            &["outcome"],
        );
        let webhook_in_flight = IntGauge::new(
            "momentum_webhook_deliveries_in_flight",
            "Webhook deliveries this process's worker is sending now.",
        )
        .expect("valid metric");
        let webhook_endpoints_disabled = counter_vec(
            "momentum_webhook_endpoints_disabled_total",
            "Webhook endpoints this process's worker disabled, by reason: gone (the receiver \
             answered 410), failing (no success for MOMENTUM_WEBHOOK_DISABLE_AFTER_SECS).",
            &["reason"],
        );
        let webhook_due = IntGauge::new(
            "momentum_webhook_deliveries_due",
            "Pending webhook deliveries due now, across all tenants (read every few seconds \
             by the process that runs the worker).",
        )
        .expect("valid metric");
        let webhook_oldest_due_age = Gauge::new(
            "momentum_webhook_oldest_due_age_seconds",
            "How long the oldest due webhook delivery has been due, across all tenants \
             (0 when none is).",
        )
        .expect("valid metric");
        let trash_purged = counter(
            "momentum_trash_purged_total",
            "Expired records this process purged from the trash.",
        );
        let sandboxes_purged = counter(
            "momentum_sandboxes_purged_total",
            "Expired sandboxes this process deleted with all their data.",
        );
        let exports = counter_vec(
            "momentum_exports_total",
            "Export runs this process finished, by outcome (completed, failed).",
            &["outcome"],
        );
        let export_rows = counter(
            "momentum_export_rows_total",
            "Records this process wrote into completed exports' files.",
        );
        let exports_expired = counter(
            "momentum_exports_expired_total",
            "Expired export files this process deleted.",
        );
        let imports = counter_vec(
            "momentum_imports_total",
            "Imports this process finished, by outcome (completed, failed).",
            &["outcome"],
        );
        let import_rows = counter_vec(
            "momentum_import_rows_total",
            "Rows of imported files this process applied, by outcome (created, updated, \
             unchanged, failed).",
            &["outcome"],
        );
        let pool_acquire = histogram_vec(
            "momentum_db_pool_acquire_duration_seconds",
            "Time a transaction waited for a database connection, by pool.",
            &["pool"],
        );
        let pool_acquire_timeouts = counter_vec(
            "momentum_db_pool_acquire_timeouts_total",
            "Waits for a database connection that ran out (MOMENTUM_DB_ACQUIRE_TIMEOUT_MS), \
             by pool.",
            &["pool"],
        );
        let build_info = IntGaugeVec::new(
            Opts::new(
                "momentum_build_info",
                "1, labelled with the version and commit this binary was built from.",
            ),
            &["version", "commit"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), BUILD_COMMIT])
            .set(1);
        let pools = Arc::new(PoolCollector::new());
        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(requests.clone()),
            Box::new(latency.clone()),
            Box::new(allowed.clone()),
            Box::new(limited.clone()),
            Box::new(unchecked.clone()),
            Box::new(store_errors.clone()),
            Box::new(store_up.clone()),
            Box::new(auth_cache_hits.clone()),
            Box::new(auth_cache_misses.clone()),
            Box::new(idempotency_replays.clone()),
            Box::new(idempotency_conflicts.clone()),
            Box::new(webhook_attempts.clone()),
            Box::new(webhook_in_flight.clone()),
            Box::new(webhook_endpoints_disabled.clone()),
            Box::new(webhook_due.clone()),
            Box::new(webhook_oldest_due_age.clone()),
            Box::new(trash_purged.clone()),
            Box::new(sandboxes_purged.clone()),
            Box::new(exports.clone()),
            Box::new(export_rows.clone()),
            Box::new(exports_expired.clone()),
            Box::new(imports.clone()),
            Box::new(import_rows.clone()),
            Box::new(pool_acquire.clone()),
            Box::new(pool_acquire_timeouts.clone()),
            Box::new(build_info),
            Box::new(SharedCollector(Arc::clone(&pools))),
        ];
        for collector in collectors {
            let _ = registry.register(collector);
        }
        // The process's CPU, memory and file descriptors, from /proc.
        #[cfg(target_os = "linux")]
        let _ = registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
        Self {
            registry,
            requests,
            latency,
            allowed,
            limited,
            unchecked,
            store_errors,
            store_up,
            auth_cache_hits,
            auth_cache_misses,
            idempotency_replays,
            idempotency_conflicts,
            webhook_attempts,
            webhook_in_flight,
            webhook_endpoints_disabled,
            webhook_due,
            webhook_oldest_due_age,
            trash_purged,
            sandboxes_purged,
            exports,
            export_rows,
            exports_expired,
            imports,
            import_rows,
            pool_acquire,
            pool_acquire_timeouts,
            pools,
        }
    }

    /// The request series of one operation, to keep and record into without looking
    /// the labels up again.
    pub fn http_operation(self: &Arc<Self>, operation: &'static str) -> HttpOperation {
        HttpOperation {
            metrics: Arc::clone(self),
            operation,
            classes: Default::default(),
        }
    }

    pub fn rate_decision(&self, class: &str, allowed: bool) {
        let counter = if allowed {
            &self.allowed
        } else {
            &self.limited
        };
        counter.with_label_values(&[class]).inc();
    }

    /// A request the rate-limit store could not count, let through (`allow`) or refused
    /// (`deny`).
    pub fn rate_unchecked(&self, class: &str, on_failure: &str) {
        self.unchecked.with_label_values(&[class, on_failure]).inc();
    }

    /// A call to the rate-limit store that failed.
    pub fn rate_store_error(&self) {
        self.store_errors.inc();
    }

    pub fn rate_store_up(&self, up: bool) {
        self.store_up.set(i64::from(up));
    }

    /// A credential check answered from the cache.
    pub fn auth_cache_hit(&self) {
        self.auth_cache_hits.inc();
    }

    /// A credential check that queries the database.
    pub fn auth_cache_miss(&self) {
        self.auth_cache_misses.inc();
    }

    pub fn idempotency_replay(&self) {
        self.idempotency_replays.inc();
    }

    pub fn idempotency_conflict(&self) {
        self.idempotency_conflicts.inc();
    }

    pub fn webhook_attempt(&self, outcome: &str) {
        self.webhook_attempts.with_label_values(&[outcome]).inc();
    }

    /// The gauge of deliveries in flight, for the worker to move.
    pub fn webhook_in_flight(&self) -> &IntGauge {
        &self.webhook_in_flight
    }

    pub fn webhook_endpoint_disabled(&self, reason: &str) {
        self.webhook_endpoints_disabled
            .with_label_values(&[reason])
            .inc();
    }

    /// The queue across tenants: how many deliveries are due, and how long the oldest
    /// of them has been (zero when none is).
    pub fn webhook_queue(&self, due: i64, oldest_due_age: Duration) {
        self.webhook_due.set(due);
        self.webhook_oldest_due_age
            .set(oldest_due_age.as_secs_f64());
    }

    pub fn trash_purged(&self, records: u64) {
        self.trash_purged.inc_by(records);
    }

    pub fn sandboxes_purged(&self, sandboxes: u64) {
        self.sandboxes_purged.inc_by(sandboxes);
    }

    /// An export run finished: `completed` with `rows` written, or `failed`.
    pub fn export_finished(&self, completed: bool, rows: u64) {
        let outcome = if completed { "completed" } else { "failed" };
        self.exports.with_label_values(&[outcome]).inc();
        if completed {
            self.export_rows.inc_by(rows);
        }
    }

    pub fn import_finished(&self, completed: bool) {
        let outcome = if completed { "completed" } else { "failed" };
        self.imports.with_label_values(&[outcome]).inc();
    }

    /// Counts rows of an import by what became of them (`created`, …).
    pub fn import_rows(&self, rows: &[(&'static str, u64)]) {
        for &(outcome, n) in rows {
            if n > 0 {
                self.import_rows.with_label_values(&[outcome]).inc_by(n);
            }
        }
    }

    pub fn exports_expired(&self, files: u64) {
        self.exports_expired.inc_by(files);
    }

    /// Reports `pool` under `label` (`api`, `worker`): its connections at every scrape,
    /// and the waits for its connections ([`observe_acquire`]). A pool watched again
    /// (shared by the API and the worker) keeps its first label.
    pub fn watch_pool(&self, label: &'static str, pool: &PgPool) {
        if !self.pools.add(label, pool) {
            return;
        }
        let meter = PoolMeter {
            acquire: self.pool_acquire.with_label_values(&[label]),
            timeouts: self.pool_acquire_timeouts.with_label_values(&[label]),
        };
        let options = pool.connect_options();
        let mut meters = pool_meters().write().unwrap_or_else(|e| e.into_inner());
        meters.retain(|(watched, _)| watched.strong_count() > 0);
        meters.push((Arc::downgrade(&options), meter));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `1xx` to `5xx`; anything else as `5xx` (hyper never produces it).
fn status_class(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// One operation's request counter and duration histogram, one pair per status class,
/// each resolved on first use and kept.
pub struct HttpOperation {
    metrics: Arc<Metrics>,
    operation: &'static str,
    classes: [OnceLock<(IntCounter, Histogram)>; 5],
}

impl HttpOperation {
    pub fn observe(&self, status: u16, seconds: f64) {
        let class = status_class(status);
        let (count, latency) = self.classes[class].get_or_init(|| {
            let labels = [self.operation, STATUS_CLASSES[class]];
            (
                self.metrics.requests.with_label_values(&labels),
                self.metrics.latency.with_label_values(&labels),
            )
        });
        count.inc();
        latency.observe(seconds);
    }
}

/// A pool's acquire series, resolved when it was watched.
#[derive(Clone)]
struct PoolMeter {
    acquire: Histogram,
    timeouts: IntCounter,
}

/// Every watched pool's meter, by its connect options (the same `Arc` for every clone
/// of a pool, and kept alive by the `Weak` so its address is not reused). Global because
/// the code that begins transactions is handed a `PgPool` and nothing else; several
/// applications of one test process each watch their own pools.
type PoolMeters = RwLock<Vec<(Weak<PgConnectOptions>, PoolMeter)>>;

fn pool_meters() -> &'static PoolMeters {
    static METERS: OnceLock<PoolMeters> = OnceLock::new();
    METERS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Records a wait for one of `pool`'s connections that took `waited`, and whether it
/// ran out; nothing for a pool no [`Metrics::watch_pool`] named.
pub fn observe_acquire(pool: &PgPool, waited: Duration, timed_out: bool) {
    let options = pool.connect_options();
    let meters = pool_meters().read().unwrap_or_else(|e| e.into_inner());
    let found = meters
        .iter()
        .find(|(watched, _)| std::ptr::eq(watched.as_ptr(), Arc::as_ptr(&options)));
    if let Some((_, meter)) = found {
        meter.acquire.observe(waited.as_secs_f64());
        if timed_out {
            meter.timeouts.inc();
        }
    }
}

/// The pools' connections, read from the pools at every scrape.
struct PoolCollector {
    pools: Mutex<Vec<(&'static str, PgPool)>>,
    connections: IntGaugeVec,
    max_connections: IntGaugeVec,
}

impl PoolCollector {
    fn new() -> Self {
        Self {
            pools: Mutex::new(Vec::new()),
            connections: IntGaugeVec::new(
                Opts::new(
                    "momentum_db_pool_connections",
                    "Open database connections of a pool, by state: idle, in_use.",
                ),
                &["pool", "state"],
            )
            .expect("valid metric"),
            max_connections: IntGaugeVec::new(
                Opts::new(
                    "momentum_db_pool_max_connections",
                    "The most connections a pool opens (MOMENTUM_DB_POOL_SIZE).",
                ),
                &["pool"],
            )
            .expect("valid metric"),
        }
    }

    /// `false` when `pool` (or a clone of it) is already watched.
    fn add(&self, label: &'static str, pool: &PgPool) -> bool {
        let options = pool.connect_options();
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let known = pools
            .iter()
            .any(|(_, known)| Arc::ptr_eq(&known.connect_options(), &options));
        if !known {
            pools.push((label, pool.clone()));
        }
        !known
    }
}

/// [`PoolCollector`] shared between the registry and [`Metrics`].
struct SharedCollector(Arc<PoolCollector>);

impl Collector for SharedCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut desc = self.0.connections.desc();
        desc.extend(self.0.max_connections.desc());
        desc
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let pools = self.0.pools.lock().unwrap_or_else(|e| e.into_inner());
        for (label, pool) in pools.iter() {
            let size = i64::from(pool.size());
            let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
            let connections = &self.0.connections;
            connections.with_label_values(&[label, "idle"]).set(idle);
            connections
                .with_label_values(&[label, "in_use"])
                .set((size - idle).max(0));
            self.0
                .max_connections
                .with_label_values(&[label])
                .set(i64::from(pool.options().get_max_connections()));
        }
        let mut families = self.0.connections.collect();
        families.extend(self.0.max_connections.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_class() {
        let classes: Vec<_> = [100, 200, 204, 304, 404, 429, 503, 599]
            .map(|s| STATUS_CLASSES[status_class(s)])
            .to_vec();
        assert_eq!(
            classes,
            ["1xx", "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx"]
        );
    }

    #[test]
    fn a_request_counts_under_its_operation_and_class() {
        let metrics = Arc::new(Metrics::new());
        let op = metrics.http_operation("contacts_get");
        op.observe(200, 0.002);
        op.observe(404, 0.001);
        op.observe(200, 0.003);
        let text = metrics.render();
        assert!(text.contains(
            "momentum_http_requests_total{operation=\"contacts_get\",status_class=\"2xx\"} 2"
        ));
        assert!(text.contains(
            "momentum_http_requests_total{operation=\"contacts_get\",status_class=\"4xx\"} 1"
        ));
        assert!(text.contains("momentum_build_info{"));
    }
}
