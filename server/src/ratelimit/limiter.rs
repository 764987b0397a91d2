//! The one interface every rate-limit check goes through: [`RateLimiter`], over a
//! [`Store`] chosen by configuration. The store counts; the limiter decides what a request
//! meets when the store cannot answer ([`StoreFailure`]), says so in the log once per
//! outage, and counts every decision on `/metrics`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{Class, ClassQuota, Decision, Key, Limits, RedisStore};
use crate::metrics::Metrics;

/// What a store's check returns: boxed, so one limiter can hold either store.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = anyhow::Result<T>> + Send + 'a>>;

/// Where the limiters keep their state: in process ([`Limits`]) or in Redis
/// ([`RedisStore`]). Both compute the same GCRA, so they answer alike.
pub trait Store: Send + Sync {
    /// `key`'s refusal in `class` when it has nothing left right now, without spending
    /// anything (`None`: it may have; only [`Store::check`] says).
    fn exhausted<'a>(&'a self, class: Class, key: &'a Key) -> StoreFuture<'a, Option<Decision>>;

    /// Counts one request of `key` against `class` and, when that allows it, one of
    /// `tenant` against its tenant-wide ceiling; the ceiling's refusal decides if it
    /// refuses.
    fn check<'a>(
        &'a self,
        class: Class,
        key: &'a Key,
        tenant: Option<Uuid>,
    ) -> StoreFuture<'a, Decision>;

    /// Where `key` stands in `class` right now, spending nothing: what `GET /v1/me`
    /// reports. A key the store has not seen stands at its full quota.
    fn standing<'a>(&'a self, class: Class, key: &'a Key) -> StoreFuture<'a, Decision>;

    /// Forgets keys idle long enough to be back at a full quota (a store whose keys
    /// expire by themselves has nothing to do).
    fn evict_idle(&self) {}
}

/// What a request meets while the Redis store cannot be reached
/// (`MOMENTUM_RATE_LIMIT_STORE_FAILURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum StoreFailure {
    /// Let it through uncounted: an outage of the limits is not an outage of the API.
    /// Its headers state the quota but not what is left of it, which nobody knows.
    #[default]
    Allow,
    /// Refuse it with `503 service_unavailable` and `Retry-After`: nothing passes that
    /// was not counted.
    Deny,
}

impl StoreFailure {
    fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// Where the limiters keep their state.
#[derive(Debug, Clone, Default)]
pub enum StoreSettings {
    /// In this process: each instance counts on its own.
    #[default]
    InProcess,
    /// In Redis: every instance using it shares one count.
    Redis(RedisSettings),
}

/// `MOMENTUM_REDIS_URL` and what goes with it.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://[[user]:password@]host[:port][/db]`; may hold a password.
    pub url: String,
    /// The longest one call may take before the store counts as unreachable.
    pub timeout: Duration,
    pub on_failure: StoreFailure,
}

impl std::fmt::Debug for RedisSettings {
    // The URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &"(redacted)")
            .field("timeout", &self.timeout)
            .field("on_failure", &self.on_failure)
            .finish()
    }
}

/// The store could not decide and the policy is [`StoreFailure::Deny`]: the request is
/// refused with 503. The decision is what its headers report (the quota alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub Decision);

/// How long an unreachable store is left alone before a request tries it again. Between
/// tries requests get the failure policy at once instead of each waiting out a timeout.
const RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// Every rate-limit check of the server: the store, the policy for its failures, and
/// the metrics.
pub struct RateLimiter {
    store: Box<dyn Store>,
    /// Each class's quota, for the headers of requests the store could not count.
    quotas: Vec<(Class, ClassQuota)>,
    on_failure: StoreFailure,
    /// What the log and the metrics call the store (no password).
    name: String,
    metrics: Arc<Metrics>,
    /// Whether the store failed its last call: the fast path checks only this.
    down: AtomicBool,
    outage: Mutex<Outage>,
}

#[derive(Debug, Default)]
struct Outage {
    since: Option<Instant>,
    /// When a request may next try the store.
    next_try: Option<Instant>,
}

impl RateLimiter {
    /// In-process limiters: `tenant_factor` times each class's quota is a tenant's ceiling
    /// (0: none).
    pub fn in_process(
        quotas: &[(Class, ClassQuota)],
        tenant_factor: u32,
        metrics: Arc<Metrics>,
    ) -> Self {
        let store = Limits::with_tenant_ceiling(quotas, tenant_factor);
        Self::new(
            Box::new(store),
            "in-process",
            quotas,
            StoreFailure::Allow,
            metrics,
        )
    }

    /// The limiter `settings` ask for. Connects to Redis lazily: a server starts while
    /// Redis is away and meets `on_failure` until it is back. Refuses a URL that is not
    /// one, without echoing it.
    pub fn from_settings(
        settings: &StoreSettings,
        quotas: &[(Class, ClassQuota)],
        tenant_factor: u32,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        match settings {
            StoreSettings::InProcess => Ok(Self::in_process(quotas, tenant_factor, metrics)),
            StoreSettings::Redis(redis) => {
                let store = RedisStore::connect(&redis.url, quotas, tenant_factor, redis.timeout)?;
                let name = format!("redis {}", store.address());
                tracing::info!(
                    store = %name,
                    on_failure = redis.on_failure.as_str(),
                    "rate limits are kept in Redis, shared by every instance using it"
                );
                Ok(Self::new(
                    Box::new(store),
                    &name,
                    quotas,
                    redis.on_failure,
                    metrics,
                ))
            }
        }
    }

    pub fn new(
        store: Box<dyn Store>,
        name: &str,
        quotas: &[(Class, ClassQuota)],
        on_failure: StoreFailure,
        metrics: Arc<Metrics>,
    ) -> Self {
        metrics.rate_store_up(true);
        Self {
            store,
            quotas: quotas.to_vec(),
            on_failure,
            name: name.to_owned(),
            metrics,
            down: AtomicBool::new(false),
            outage: Mutex::new(Outage::default()),
        }
    }

    /// [`Store::exhausted`]: `Some` refusal when `key` is out of quota. While the store
    /// cannot say, `None` under [`StoreFailure::Allow`] (the request goes on to its
    /// counted check, which lets it through as well).
    pub async fn exhausted(
        &self,
        class: Class,
        key: &Key,
    ) -> Result<Option<Decision>, Unavailable> {
        let answer = match self.may_try() {
            true => self.settle(self.store.exhausted(class, key).await),
            false => None,
        };
        match answer {
            Some(Some(refused)) => {
                self.metrics.rate_decision(class.as_str(), false);
                Ok(Some(refused))
            }
            Some(None) => Ok(None),
            None => match self.on_failure {
                StoreFailure::Allow => Ok(None),
                StoreFailure::Deny => Err(self.uncounted(class)),
            },
        }
    }

    /// [`Store::check`]: the decision, refusal included. While the store cannot count,
    /// an uncounted decision under [`StoreFailure::Allow`], [`Unavailable`] under `Deny`.
    pub async fn check(
        &self,
        class: Class,
        key: &Key,
        tenant: Option<Uuid>,
    ) -> Result<Decision, Unavailable> {
        let answer = match self.may_try() {
            true => self.settle(self.store.check(class, key, tenant).await),
            false => None,
        };
        match answer {
            Some(decision) => {
                let allowed = decision.retry_after.is_none();
                self.metrics.rate_decision(class.as_str(), allowed);
                Ok(decision)
            }
            None => match self.on_failure {
                StoreFailure::Allow => Ok(self.uncounted(class).0),
                StoreFailure::Deny => Err(self.uncounted(class)),
            },
        }
    }

    /// [`Store::standing`]; while the store cannot say, the quota alone, uncounted.
    pub async fn standing(&self, class: Class, key: &Key) -> Decision {
        let answer = match self.may_try() {
            true => self.settle(self.store.standing(class, key).await),
            false => None,
        };
        answer.unwrap_or_else(|| {
            let quota = self
                .quotas
                .iter()
                .find(|(c, _)| *c == class)
                .map(|(_, q)| *q);
            Decision::uncounted(class, quota)
        })
    }

    pub fn evict_idle(&self) {
        self.store.evict_idle();
    }

    fn uncounted(&self, class: Class) -> Unavailable {
        self.metrics
            .rate_unchecked(class.as_str(), self.on_failure.as_str());
        let quota = self
            .quotas
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, q)| *q);
        Unavailable(Decision::uncounted(class, quota))
    }

    /// Whether this request may call the store: always while it works; while it is
    /// down, one request per [`RETRY_INTERVAL`], so an outage costs the others nothing.
    fn may_try(&self) -> bool {
        if !self.down.load(Ordering::Acquire) {
            return true;
        }
        let Ok(mut outage) = self.outage.lock() else {
            return true;
        };
        let now = Instant::now();
        match outage.next_try {
            Some(next) if now < next => false,
            _ => {
                outage.next_try = Some(now + RETRY_INTERVAL);
                true
            }
        }
    }

    /// The store's answer, or `None` when it failed; logs the start and the end of an
    /// outage, once each.
    fn settle<T>(&self, answer: anyhow::Result<T>) -> Option<T> {
        match answer {
            Ok(value) => {
                if self.down.load(Ordering::Acquire) {
                    self.recovered();
                }
                Some(value)
            }
            Err(err) => {
                self.failed(&err);
                None
            }
        }
    }

    fn failed(&self, err: &anyhow::Error) {
        self.metrics.rate_store_error();
        let Ok(mut outage) = self.outage.lock() else {
            return;
        };
        let now = Instant::now();
        outage.next_try = Some(now + RETRY_INTERVAL);
        if outage.since.is_none() {
            outage.since = Some(now);
            self.down.store(true, Ordering::Release);
            self.metrics.rate_store_up(false);
            let meets = match self.on_failure {
                StoreFailure::Allow => "requests pass uncounted",
                StoreFailure::Deny => "requests are refused with 503",
            };
            tracing::error!(
                store = %self.name,
                error = %format!("{err:#}"),
                on_failure = self.on_failure.as_str(),
                "the rate-limit store is unreachable: {meets} until it is back \
                 (logged once per outage; momentum_ratelimit_store_errors_total counts the failures)"
            );
        }
    }

    fn recovered(&self) {
        let Ok(mut outage) = self.outage.lock() else {
            return;
        };
        if let Some(since) = outage.since.take() {
            outage.next_try = None;
            self.down.store(false, Ordering::Release);
            self.metrics.rate_store_up(true);
            tracing::warn!(
                store = %self.name,
                outage_ms = since.elapsed().as_millis() as u64,
                "the rate-limit store is reachable again: requests are counted"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::ratelimit::parse_quotas;

    /// A store that fails while `failing` is set, else allows everything.
    #[derive(Default)]
    struct Flaky {
        failing: Arc<AtomicBool>,
        calls: Arc<AtomicUsize>,
    }

    impl Store for Flaky {
        fn exhausted<'a>(&'a self, _: Class, _: &'a Key) -> StoreFuture<'a, Option<Decision>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                anyhow::ensure!(!self.failing.load(Ordering::SeqCst), "connection refused");
                Ok(None)
            })
        }

        fn check<'a>(
            &'a self,
            class: Class,
            _: &'a Key,
            _: Option<Uuid>,
        ) -> StoreFuture<'a, Decision> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                anyhow::ensure!(!self.failing.load(Ordering::SeqCst), "connection refused");
                let quota = parse_quotas("").unwrap()[0].1;
                Ok(Decision::allowed(class, quota, 1))
            })
        }

        fn standing<'a>(&'a self, class: Class, key: &'a Key) -> StoreFuture<'a, Decision> {
            self.check(class, key, None)
        }
    }

    fn limiter(on_failure: StoreFailure) -> (RateLimiter, Arc<AtomicBool>, Arc<AtomicUsize>) {
        let store = Flaky::default();
        let (failing, calls) = (Arc::clone(&store.failing), Arc::clone(&store.calls));
        let quotas = parse_quotas("read=60/min").unwrap();
        let metrics = Arc::new(Metrics::new());
        let limiter = RateLimiter::new(Box::new(store), "flaky", &quotas, on_failure, metrics);
        (limiter, failing, calls)
    }

    fn sample(limiter: &RateLimiter, name: &str) -> f64 {
        limiter
            .metrics
            .render()
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or(0.0)
    }

    #[tokio::test]
    async fn an_unreachable_store_lets_requests_through_uncounted_under_allow() {
        let (limiter, failing, _) = limiter(StoreFailure::Allow);
        let key = Key::Credential(Uuid::now_v7());
        failing.store(true, Ordering::SeqCst);
        let decision = limiter.check(Class::Read, &key, None).await;
        let decision = decision.expect("allowed");
        assert_eq!((decision.retry_after, decision.counted), (None, false));
        assert_eq!(decision.limit, 60, "the quota is still stated");
        assert_eq!(limiter.exhausted(Class::Read, &key).await, Ok(None));
    }

    #[tokio::test]
    async fn an_unreachable_store_refuses_requests_under_deny() {
        let (limiter, failing, _) = limiter(StoreFailure::Deny);
        let key = Key::Ip("192.0.2.1".parse().unwrap());
        failing.store(true, Ordering::SeqCst);
        let refused = limiter.check(Class::Read, &key, None).await;
        assert!(matches!(refused, Err(Unavailable(d)) if !d.counted && d.limit == 60));
        assert!(limiter.exhausted(Class::Read, &key).await.is_err());
    }

    #[tokio::test]
    async fn an_outage_is_tried_twice_a_second_not_on_every_request_and_ends_by_itself() {
        let (limiter, failing, calls) = limiter(StoreFailure::Allow);
        let key = Key::Credential(Uuid::now_v7());
        failing.store(true, Ordering::SeqCst);
        for _ in 0..100 {
            let _ = limiter.check(Class::Read, &key, None).await;
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one try, then the policy at once"
        );
        assert_eq!(
            sample(&limiter, "momentum_ratelimit_store_errors_total"),
            1.0
        );
        assert_eq!(sample(&limiter, "momentum_ratelimit_store_up"), 0.0);
        let unchecked = "momentum_ratelimit_unchecked_total{class=\"read\",on_failure=\"allow\"}";
        assert_eq!(sample(&limiter, unchecked), 100.0);
        failing.store(false, Ordering::SeqCst);
        tokio::time::sleep(RETRY_INTERVAL + Duration::from_millis(50)).await;
        let decision = limiter
            .check(Class::Read, &key, None)
            .await
            .expect("allowed");
        assert!(decision.counted, "counted again once the store answers");
        assert_eq!(sample(&limiter, "momentum_ratelimit_store_up"), 1.0);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
