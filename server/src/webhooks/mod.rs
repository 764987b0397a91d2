//! Delivery of webhooks: signing (Standard Webhooks), the secrets at rest, the guard against requests into
//! private networks, and the worker that sends what the outbox queued. Knows HTTP as a
//! client only; what an event says is decided where the change is made, through the
//! catalogue in `crate::events`. Must never import `crate::api`: the one wire form the
//! worker needs (a disabled endpoint's) is handed to it (`worker::EndpointData`).

pub mod guard;
pub mod secrets;
pub mod signing;
pub mod worker;

use std::time::Duration;

/// How webhooks are sent and kept.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Whether this process runs a delivery worker (off when `momentum worker` runs
    /// apart from the API servers).
    pub worker: bool,
    /// Requests in flight at most, per worker.
    pub concurrency: usize,
    /// Deliveries of one endpoint under lease at most, across workers: a receiver that
    /// hangs or crawls holds this many slots, never all of them.
    pub endpoint_concurrency: usize,
    /// Per request, connection included.
    pub timeout: Duration,
    /// The waits before each retry after the first, immediate attempt; its length is the
    /// number of retries.
    pub retry_schedule: Vec<Duration>,
    /// Whether endpoints may be private, loopback or link-local addresses.
    pub allow_private: bool,
    /// The proxy every request goes through (`MOMENTUM_WEBHOOK_PROXY`); `None`: direct,
    /// whatever proxy the environment names.
    pub proxy: Option<WebhookProxy>,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after: Duration,
    /// How long a rotated-out secret keeps signing alongside the new one.
    pub secret_overlap: Duration,
    /// The longest an idle worker waits before looking for due deliveries, should a
    /// notification be missed.
    pub poll_interval: Duration,
}

/// The default retry schedule (DESIGN §7): after the immediate first attempt, 5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, 10 h.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            worker: true,
            concurrency: 32,
            endpoint_concurrency: 16,
            timeout: Duration::from_secs(15),
            retry_schedule: parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap_or_default(),
            allow_private: false,
            proxy: None,
            disable_after: Duration::from_secs(5 * 24 * 3600),
            secret_overlap: Duration::from_secs(24 * 3600),
            poll_interval: Duration::from_secs(5),
        }
    }
}

impl WebhookSettings {
    /// How long a claimed delivery is held: longer than a request can take, so only a
    /// worker that died mid-send loses its claim.
    pub fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(10)
    }
}

/// The operator's outbound proxy for webhooks. It resolves and connects by itself, so
/// the worker's guarded resolver never sees the destination: the proxy must enforce the
/// egress rules. Its `Debug` shows no credentials the URL may hold.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookProxy(url::Url);

impl WebhookProxy {
    /// An `http://` or `https://` URL with a host. The error never echoes the text,
    /// which may hold a password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let refused = || {
            "MOMENTUM_WEBHOOK_PROXY must be an http:// or https:// URL with a host, such as \
             http://proxy.internal:3128"
                .to_owned()
        };
        let url = url::Url::parse(text.trim()).map_err(|_| refused())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(refused());
        }
        Ok(Self(url))
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

impl std::fmt::Debug for WebhookProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.0;
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or_default();
        write!(f, "WebhookProxy({}://{host}:{port})", url.scheme())
    }
}

/// Parses `5s,5m,30m,2h` (humantime units, `ms` included) into the retry waits. Empty
/// means no retries.
pub fn parse_schedule(spec: &str) -> Result<Vec<Duration>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_the_documented_one() {
        let schedule = parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap();
        let secs: Vec<u64> = schedule.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [5, 300, 1800, 7200, 18000, 36000, 36000]);
    }

    #[test]
    fn a_proxy_is_an_http_url_and_neither_its_debug_nor_its_errors_show_credentials() {
        let proxy = WebhookProxy::parse(" http://user:s3cret@proxy.internal:3128 ").unwrap();
        assert_eq!(proxy.url().host_str(), Some("proxy.internal"));
        let shown = format!("{proxy:?}");
        assert_eq!(shown, "WebhookProxy(http://proxy.internal:3128)");
        for bad in [
            "socks5://u:s3cret@proxy:1080",
            "s3cret",
            "http://",
            "file:///s3cret",
        ] {
            let err = WebhookProxy::parse(bad).expect_err(bad);
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn schedules_take_milliseconds_and_refuse_nonsense() {
        assert_eq!(
            parse_schedule("50ms, 1s").unwrap(),
            [Duration::from_millis(50), Duration::from_secs(1)]
        );
        assert!(parse_schedule("").unwrap().is_empty());
        assert!(parse_schedule("5 parsecs").is_err());
    }
}
