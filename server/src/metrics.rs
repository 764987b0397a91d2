//! Prometheus metrics, served as text at `/metrics`: requests and latency per operation,
//! rate-limit decisions per class (and the health of a shared rate-limit store),
//! credential lookups that reached the database, and webhook attempts by outcome.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    allowed: IntCounterVec,
    limited: IntCounterVec,
    unchecked: IntCounterVec,
    store_errors: IntCounter,
    store_up: IntGauge,
    auth_lookups: IntCounter,
    webhook_attempts: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        // The names and labels are constants: registration cannot fail but for a
        // duplicate, which the constants rule out.
        let requests = IntCounterVec::new(
            Opts::new(
                "momentum_http_requests_total",
                "Requests by operation and status.",
            ),
            &["operation", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "momentum_http_request_duration_seconds",
                "Time to answer a request, by operation.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["operation"],
        )
        .expect("valid metric");
        let allowed = IntCounterVec::new(
            Opts::new(
                "momentum_ratelimit_allowed_total",
                "Requests let through, by class.",
            ),
            &["class"],
        )
        .expect("valid metric");
        let limited = IntCounterVec::new(
            Opts::new(
                "momentum_ratelimit_limited_total",
                "Requests refused with 429, by class.",
            ),
            &["class"],
        )
        .expect("valid metric");
        let unchecked = IntCounterVec::new(
            Opts::new(
                "momentum_ratelimit_unchecked_total",
                "Requests the rate-limit store could not count (unreachable), by class and \
                 what they met (MOMENTUM_RATE_LIMIT_STORE_FAILURE): allow = let through, \
                 deny = 503.",
            ),
            &["class", "on_failure"],
        )
        .expect("valid metric");
        let store_errors = IntCounter::new(
            "momentum_ratelimit_store_errors_total",
            "Calls to the shared rate-limit store (Redis) that failed or timed out.",
        )
        .expect("valid metric");
        let store_up = IntGauge::new(
            "momentum_ratelimit_store_up",
            "1 while the rate-limit store answers (always, in process), 0 during an outage.",
        )
        .expect("valid metric");
        let auth_lookups = IntCounter::new(
            "momentum_auth_lookups_total",
            "Credential checks that queried the database (the lookup was not cached).",
        )
        .expect("valid metric");
        let webhook_attempts = IntCounterVec::new(
            Opts::new(
                "momentum_webhook_attempts_total",
                "Webhook requests sent by this process, by what followed: delivered, retry, failed.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        for metric in [&requests, &allowed, &limited, &unchecked, &webhook_attempts] {
            let _ = registry.register(Box::new(metric.clone()));
        }
        let _ = registry.register(Box::new(latency.clone()));
        let _ = registry.register(Box::new(auth_lookups.clone()));
        let _ = registry.register(Box::new(store_errors.clone()));
        let _ = registry.register(Box::new(store_up.clone()));
        Self {
            registry,
            requests,
            latency,
            allowed,
            limited,
            unchecked,
            store_errors,
            store_up,
            auth_lookups,
            webhook_attempts,
        }
    }

    pub fn request(&self, operation: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[operation, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[operation])
            .observe(seconds);
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

    /// A credential check that queries the database.
    pub fn auth_lookup(&self) {
        self.auth_lookups.inc();
    }

    pub fn webhook_attempt(&self, outcome: &str) {
        self.webhook_attempts.with_label_values(&[outcome]).inc();
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
