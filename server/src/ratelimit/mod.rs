//! Rate limiting: GCRA limiters (governor), one per class, keyed by credential (or client
//! IP for unauthenticated operations). Which class an operation belongs to is decided in
//! one place, [`Class::of`], from what the document says of it; so a new operation is
//! limited by construction. One instance keeps its own state: behind a load balancer the
//! limits are per instance (this module is the one interface a shared backend would
//! replace).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

/// The classes an operation can belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Unauthenticated login calls (QR-code sessions), per client IP.
    Auth,
    Read,
    Write,
    /// Users, API keys, session tokens of others, the audit log (and webhooks).
    Admin,
    /// Webhook test events and replays.
    WebhookTest,
}

impl Class {
    pub const ALL: [Class; 5] = [
        Self::Auth,
        Self::Read,
        Self::Write,
        Self::Admin,
        Self::WebhookTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
            Self::WebhookTest => "webhook_test",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The class of an operation, from its id, method and the scopes it requires
    /// (`None`: unauthenticated). The probes are unauthenticated but polled by load
    /// balancers, so they count as reads (per IP).
    pub fn of(operation_id: &str, method: &str, scopes: Option<&[&str]>) -> Self {
        match (operation_id, scopes) {
            ("system_health" | "system_ready", _) => Self::Read,
            // Each of these makes the server send HTTP requests to a URL of the tenant's.
            (
                "webhook_endpoints_test" | "webhook_deliveries_retry" | "webhook_endpoints_recover",
                _,
            ) => Self::WebhookTest,
            (_, None) => Self::Auth,
            (_, Some(scopes)) if scopes.contains(&"admin") => Self::Admin,
            _ if method.eq_ignore_ascii_case("get") => Self::Read,
            _ => Self::Write,
        }
    }

    pub fn default_per_minute(self) -> u32 {
        match self {
            Self::Auth => 10,
            Self::Read => 1000,
            Self::Write => 300,
            Self::Admin => 60,
            Self::WebhookTest => 10,
        }
    }
}

/// Who a limit counts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Credential(Uuid),
    Ip(IpAddr),
    /// All of a tenant's credentials together (the tenant-wide ceiling).
    Tenant(Uuid),
}

impl Key {
    /// What a limit counts this key as. An IPv6 client by its /64: a subscriber gets a
    /// whole /64 and each device picks any address in it, so per address one client
    /// would hold 2^64 quotas. An IPv4-mapped IPv6 address (a dual-stack socket's view
    /// of an IPv4 client) as that IPv4 address, which counts alone.
    fn counted(&self) -> Key {
        match self {
            Key::Ip(ip) => Key::Ip(match ip.to_canonical() {
                IpAddr::V6(v6) => {
                    let network = u128::from(v6) & !u128::from(u64::MAX);
                    IpAddr::V6(Ipv6Addr::from(network))
                }
                v4 => v4,
            }),
            other => other.clone(),
        }
    }
}

/// A class's quota: `per_minute` requests a minute on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassQuota {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

impl ClassQuota {
    fn quota(self) -> Quota {
        // per_minute ≥ 1, so the period is at most a minute and never zero.
        let period = Duration::from_secs(60) / self.per_minute.get();
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(self.per_minute))
            .allow_burst(self.burst)
    }
}

/// Parses `read=1000/min,write=300/min:50` (`:N` sets the burst; it defaults to the
/// quota) over the defaults.
pub fn parse_quotas(spec: &str) -> Result<Vec<(Class, ClassQuota)>, String> {
    let mut quotas: Vec<(Class, ClassQuota)> = Class::ALL
        .into_iter()
        .map(|class| {
            let n = NonZeroU32::new(class.default_per_minute()).unwrap_or(NonZeroU32::MIN);
            (
                class,
                ClassQuota {
                    per_minute: n,
                    burst: n,
                },
            )
        })
        .collect();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || format!("`{item}` is not `class=N/min` or `class=N/min:BURST`");
        let (name, rest) = item.split_once('=').ok_or_else(bad)?;
        let class = Class::parse(name.trim())
            .ok_or_else(|| format!("`{name}` is not a rate-limit class"))?;
        let (rate, burst) = match rest.split_once(':') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (rest, None),
        };
        let per_minute = rate
            .trim()
            .strip_suffix("/min")
            .and_then(|n| n.parse::<u32>().ok())
            .and_then(NonZeroU32::new)
            .ok_or_else(bad)?;
        let burst = match burst {
            Some(b) => b
                .trim()
                .parse::<u32>()
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(bad)?,
            None => per_minute,
        };
        if let Some(entry) = quotas.iter_mut().find(|(c, _)| *c == class) {
            entry.1 = ClassQuota { per_minute, burst };
        }
    }
    Ok(quotas)
}

/// The outcome of one check, with what the rate-limit headers report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub class: Class,
    /// Requests allowed per window.
    pub limit: u32,
    /// The window the limit is stated for, in seconds (always 60).
    pub window: u64,
    /// Requests that may still be made right now.
    pub remaining: u32,
    /// Seconds until the quota is back to full.
    pub reset: u64,
    /// `Some(seconds ≥ 1)` when the request is refused.
    pub retry_after: Option<u64>,
}

type Limiter<C> = RateLimiter<Key, DashMapStateStore<Key>, C, StateInformationMiddleware>;

/// One limiter per class, and one per class for tenant-wide ceilings.
pub struct Limits<C: Clock = DefaultClock> {
    clock: C,
    classes: Vec<(Class, ClassQuota, Limiter<C>)>,
    /// `factor` × each class's quota, across all of a tenant's credentials, so minting
    /// keys does not multiply a tenant's quota. Empty when the ceiling is off.
    tenants: Vec<(Class, ClassQuota, Limiter<C>)>,
    /// Until when a key is known to have nothing left in a class: since it was refused,
    /// or since a request took its last cell. governor cannot tell without spending a
    /// cell; [`Limits::exhausted`] can, so the credential check refuses an address out
    /// of quota before looking a made-up key up in the database.
    spent: Mutex<HashMap<(Class, Key), C::Instant>>,
}

impl Limits<DefaultClock> {
    pub fn new(quotas: &[(Class, ClassQuota)]) -> Self {
        Self::with_clock(quotas, 0, DefaultClock::default())
    }

    /// With a tenant-wide ceiling of `tenant_factor` times each class's quota (0: none).
    pub fn with_tenant_ceiling(quotas: &[(Class, ClassQuota)], tenant_factor: u32) -> Self {
        Self::with_clock(quotas, tenant_factor, DefaultClock::default())
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl<C: Clock + Clone> Limits<C> {
    pub fn with_clock(quotas: &[(Class, ClassQuota)], tenant_factor: u32, clock: C) -> Self {
        let build = |quotas: &mut dyn Iterator<Item = (Class, ClassQuota)>| {
            quotas
                .map(|(class, quota)| {
                    let limiter = RateLimiter::dashmap_with_clock(quota.quota(), clock.clone())
                        .with_middleware::<StateInformationMiddleware>();
                    (class, quota, limiter)
                })
                .collect::<Vec<_>>()
        };
        let classes = build(&mut quotas.iter().copied());
        let scale = |n: NonZeroU32| {
            n.saturating_mul(NonZeroU32::new(tenant_factor).unwrap_or(NonZeroU32::MIN))
        };
        let tenants = if tenant_factor == 0 {
            Vec::new()
        } else {
            build(&mut quotas.iter().map(|(class, q)| {
                let scaled = ClassQuota {
                    per_minute: scale(q.per_minute),
                    burst: scale(q.burst),
                };
                (*class, scaled)
            }))
        };
        Self {
            clock,
            classes,
            tenants,
            spent: Mutex::new(HashMap::new()),
        }
    }

    /// `key`'s refusal in `class` when it is known to have nothing left right now,
    /// without spending anything (`None`: it may have; only [`Limits::check`] says).
    pub fn exhausted(&self, class: Class, key: &Key) -> Option<Decision> {
        let until = *self.spent.lock().ok()?.get(&(class, key.counted()))?;
        let now = self.clock.now();
        if until <= now {
            return None;
        }
        let (_, quota, _) = self.classes.iter().find(|(c, ..)| *c == class)?;
        let interval = Duration::from_secs(60) / quota.per_minute.get();
        let wait = Duration::from(until.duration_since(now));
        Some(Decision {
            class,
            limit: quota.per_minute.get(),
            window: 60,
            remaining: 0,
            reset: ceil_secs(interval * quota.burst.get()),
            retry_after: Some(ceil_secs(wait).max(1)),
        })
    }

    /// Counts one request of `key` against `class`.
    pub fn check(&self, class: Class, key: &Key) -> Decision {
        let key = &key.counted();
        let (decision, wait) = self.check_in(&self.classes, class, key);
        if decision.remaining == 0 && decision.limit > 0 {
            // A refusal says when the next cell comes. A request that took the last cell
            // does not, and the next one comes within an interval: that is assumed, so
            // `exhausted` may refuse up to an interval early, never too late.
            let interval = Duration::from_secs(60) / decision.limit;
            let until = self.clock.now() + wait.unwrap_or(interval).into();
            if let Ok(mut spent) = self.spent.lock() {
                spent.insert((class, key.clone()), until);
            }
        }
        decision
    }

    /// Counts one request of `tenant` against its tenant-wide ceiling for `class`;
    /// `None` when there is no ceiling.
    pub fn check_tenant(&self, class: Class, tenant: Uuid) -> Option<Decision> {
        (!self.tenants.is_empty())
            .then(|| self.check_in(&self.tenants, class, &Key::Tenant(tenant)).0)
    }

    /// The decision, and on a refusal the exact wait for the next cell.
    fn check_in(
        &self,
        limiters: &[(Class, ClassQuota, Limiter<C>)],
        class: Class,
        key: &Key,
    ) -> (Decision, Option<Duration>) {
        let Some((_, quota, limiter)) = limiters.iter().find(|(c, ..)| *c == class) else {
            // Every class has a limiter (parse_quotas lists them all).
            let unlimited = Decision {
                class,
                limit: 0,
                window: 60,
                remaining: 0,
                reset: 0,
                retry_after: None,
            };
            return (unlimited, None);
        };
        let interval = Duration::from_secs(60) / quota.per_minute.get();
        let burst = quota.burst.get();
        match limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let decision = Decision {
                    class,
                    limit: quota.per_minute.get(),
                    window: 60,
                    remaining,
                    reset: ceil_secs(interval * burst.saturating_sub(remaining)),
                    retry_after: None,
                };
                (decision, None)
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let decision = Decision {
                    class,
                    limit: quota.per_minute.get(),
                    window: 60,
                    remaining: 0,
                    reset: ceil_secs(interval * burst),
                    retry_after: Some(ceil_secs(wait).max(1)),
                };
                (decision, Some(wait))
            }
        }
    }

    /// Forgets keys whose limits have fully replenished (they are indistinguishable from
    /// new ones), so memory follows the number of recently active keys.
    pub fn evict_idle(&self) {
        for (_, _, limiter) in self.classes.iter().chain(&self.tenants) {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = self.clock.now();
        if let Ok(mut spent) = self.spent.lock() {
            spent.retain(|_, until| *until > now);
            spent.shrink_to_fit();
        }
    }

    /// Keys currently tracked, across classes.
    pub fn tracked(&self) -> usize {
        self.classes
            .iter()
            .chain(&self.tenants)
            .map(|(_, _, l)| l.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn quotas(spec: &str) -> Vec<(Class, ClassQuota)> {
        parse_quotas(spec).unwrap()
    }

    #[test]
    fn quotas_parse_over_the_defaults() {
        let q = quotas("read=5/min, admin=6/min:2");
        let get = |c: Class| q.iter().find(|(k, _)| *k == c).unwrap().1;
        assert_eq!(get(Class::Read).per_minute.get(), 5);
        assert_eq!(get(Class::Admin).burst.get(), 2);
        assert_eq!(get(Class::Write).per_minute.get(), 300);
        for bad in ["read=5", "read=0/min", "nope=1/min", "read=5/min:x"] {
            assert!(parse_quotas(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_class_follows_the_operation() {
        assert_eq!(
            Class::of("contacts_list", "get", Some(&["contacts:read"])),
            Class::Read
        );
        assert_eq!(
            Class::of("contacts_create", "post", Some(&["contacts:write"])),
            Class::Write
        );
        assert_eq!(
            Class::of("api_keys_list", "get", Some(&["admin"])),
            Class::Admin
        );
        assert_eq!(
            Class::of("auth_qr_sessions_create", "post", None),
            Class::Auth
        );
        assert_eq!(Class::of("system_health", "get", None), Class::Read);
        // Operations that make the server call a tenant's URL have their own class.
        for op in [
            "webhook_endpoints_test",
            "webhook_deliveries_retry",
            "webhook_endpoints_recover",
        ] {
            assert_eq!(Class::of(op, "post", Some(&["admin"])), Class::WebhookTest);
        }
        assert_eq!(
            Class::of("webhook_endpoints_create", "post", Some(&["admin"])),
            Class::Admin
        );
    }

    #[test]
    fn one_request_over_the_burst_is_refused_until_a_cell_replenishes() {
        let clock = FakeRelativeClock::default();
        let limits = Limits::with_clock(&quotas("write=3/min"), 0, clock.clone());
        let key = Key::Credential(Uuid::now_v7());
        let remaining: Vec<u32> = (0..3)
            .map(|_| limits.check(Class::Write, &key).remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0], "one fewer per request");
        let refused = limits.check(Class::Write, &key);
        assert_eq!(refused.retry_after, Some(20), "a cell every 20 s");
        clock.advance(Duration::from_secs(20));
        assert_eq!(limits.check(Class::Write, &key).retry_after, None);
    }

    #[test]
    fn keys_are_counted_apart_per_class() {
        let limits = Limits::new(&quotas("auth=1/min"));
        let a = Key::Ip("10.0.0.1".parse().unwrap());
        let b = Key::Ip("10.0.0.2".parse().unwrap());
        assert!(limits.check(Class::Auth, &a).retry_after.is_none());
        assert!(limits.check(Class::Auth, &a).retry_after.is_some());
        assert!(limits.check(Class::Auth, &b).retry_after.is_none());
        assert!(limits.check(Class::Read, &a).retry_after.is_none());
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64_and_a_mapped_ipv4_address_as_itself() {
        let limits = Limits::new(&quotas("auth=1/min"));
        let allowed = |ip: &str| {
            let key = Key::Ip(ip.parse().unwrap());
            limits.check(Class::Auth, &key).retry_after.is_none()
        };
        assert!(allowed("2001:db8:1:2::1"));
        // One /64 is one subscriber's: every address in it is the same client.
        assert!(!allowed("2001:db8:1:2:ffff:ffff:ffff:ffff"), "same /64");
        assert!(allowed("2001:db8:1:3::1"), "the next /64");
        assert!(allowed("192.0.2.1"));
        assert!(
            !allowed("::ffff:192.0.2.1"),
            "IPv4-mapped is the IPv4 address"
        );
        assert!(allowed("192.0.2.2"), "IPv4 counts per address");
        assert!(
            limits
                .exhausted(Class::Auth, &Key::Ip("2001:db8:1:2::abcd".parse().unwrap()))
                .is_some(),
            "known out of quota by its /64 too"
        );
    }

    #[test]
    fn a_tenant_cannot_multiply_its_quota_by_minting_keys() {
        let limits = Limits::with_tenant_ceiling(&quotas("write=2/min"), 2);
        let tenant = Uuid::now_v7();
        let mut allowed = 0;
        for _ in 0..3 {
            // Three fresh keys, two requests each: within each key's own quota.
            let key = Key::Credential(Uuid::now_v7());
            for _ in 0..2 {
                let own = limits.check(Class::Write, &key);
                let shared = limits.check_tenant(Class::Write, tenant);
                if own.retry_after.is_none() && shared.is_some_and(|d| d.retry_after.is_none()) {
                    allowed += 1;
                }
            }
        }
        assert_eq!(allowed, 4, "2 a key, 2 × 2 for the tenant");
        assert!(Limits::new(&quotas(""))
            .check_tenant(Class::Write, tenant)
            .is_none());
    }

    #[test]
    fn a_key_out_of_quota_is_known_without_spending_a_cell() {
        let clock = FakeRelativeClock::default();
        let limits = Limits::with_clock(&quotas("read=6/min:2"), 0, clock.clone());
        let key = Key::Ip("203.0.113.9".parse().unwrap());
        assert_eq!(limits.exhausted(Class::Read, &key), None, "never seen");
        assert!(limits.check(Class::Read, &key).retry_after.is_none());
        assert_eq!(limits.exhausted(Class::Read, &key), None, "a cell left");
        assert!(limits.check(Class::Read, &key).retry_after.is_none());
        // The last cell is gone: known at once, and asking spends nothing.
        for _ in 0..3 {
            let known = limits.exhausted(Class::Read, &key).map(|d| d.retry_after);
            assert_eq!(known, Some(Some(10)), "a cell every 10 s");
        }
        assert_eq!(limits.exhausted(Class::Write, &key), None, "per class");
        clock.advance(Duration::from_secs(10));
        assert_eq!(limits.exhausted(Class::Read, &key), None);
        assert!(limits.check(Class::Read, &key).retry_after.is_none());
        assert!(limits.check(Class::Read, &key).retry_after.is_some());
        clock.advance(Duration::from_secs(4));
        let known = limits.exhausted(Class::Read, &key).map(|d| d.retry_after);
        assert_eq!(known, Some(Some(6)), "a refusal knows its wait exactly");
        clock.advance(Duration::from_secs(60));
        limits.evict_idle();
        assert_eq!(limits.exhausted(Class::Read, &key), None);
    }

    #[test]
    fn idle_keys_are_evicted_so_memory_stays_bounded() {
        let clock = FakeRelativeClock::default();
        let limits = Limits::with_clock(&quotas("auth=10/min"), 0, clock.clone());
        for i in 0..100_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            limits.check(Class::Auth, &Key::Ip(ip));
        }
        assert_eq!(limits.tracked(), 100_000);
        // Six seconds later one cell has come back to each, but not the full burst yet.
        clock.advance(Duration::from_secs(6));
        limits.evict_idle();
        assert_eq!(limits.tracked(), 100_000, "keys with state left are kept");
        clock.advance(Duration::from_secs(60));
        limits.evict_idle();
        assert_eq!(limits.tracked(), 0, "fully replenished keys are forgotten");
    }
}

/// Where a request's rate-limit decision is kept between the check (in the edge or the
/// credential check) and the response headers (in the edge).
#[derive(Debug, Clone, Default)]
pub struct Slot(std::sync::Arc<std::sync::Mutex<Option<Decision>>>);

impl Slot {
    pub fn set(&self, decision: Decision) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(decision);
        }
    }

    pub fn get(&self) -> Option<Decision> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

/// The client's address, as the edge resolved it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The reverse proxies whose `X-Forwarded-For` names the client: addresses and CIDR
/// ranges (`MOMENTUM_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses comma-separated addresses and ranges (`10.0.0.0/8,192.0.2.7`); the error
    /// names every entry that is neither.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        let mut bad = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let parsed = entry.parse::<ipnet::IpNet>().or_else(|_| {
                entry
                    .parse::<IpAddr>()
                    .map(|ip| ipnet::IpNet::from(ip.to_canonical()))
            });
            match parsed {
                Ok(net) => nets.push(net),
                Err(_) => bad.push(format!("`{entry}`")),
            }
        }
        if bad.is_empty() {
            Ok(Self(nets))
        } else {
            Err(format!(
                "not an IP address or a CIDR range (such as `10.0.0.0/8` or \
                 `2001:db8::1`): {}",
                bad.join(", ")
            ))
        }
    }

    /// Whether `ip` is one of them; an IPv4-mapped IPv6 address is its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// An `X-Forwarded-For` entry: an address, as some proxies write it with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:443`) or in brackets.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|addr| addr.ip()))
        .or_else(|_| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .unwrap_or_default()
                .parse::<IpAddr>()
        })
        .ok()?;
    Some(ip.to_canonical())
}

/// The client of a request: the socket's peer, or, when that peer is a trusted proxy,
/// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy, across
/// every line of the header (`forwarded_for`, in the order received: a proxy may add a
/// line rather than extend the last one). Walking from the right, each entry was written
/// by the trusted proxy to its right, until the first untrusted one: the client. An
/// entry that is not an address stops the walk, since what lies left of it is whatever
/// its sender wrote; the trusted proxy that passed it on counts as the client then.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let lines: Vec<&str> = forwarded_for.into_iter().collect();
    let entries = lines
        .iter()
        .rev()
        .flat_map(|line| line.rsplit(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty());
    let mut client = peer;
    for entry in entries {
        let Some(ip) = forwarded_address(entry) else {
            break;
        };
        if !trusted.contains(ip) {
            return ip;
        }
        client = ip;
    }
    client
}

/// The response headers that report `decision` (draft-ietf-httpapi-ratelimit-headers and
/// the common `X-RateLimit-*`), plus `Retry-After` on a refusal.
pub fn headers(decision: &Decision) -> Vec<(&'static str, String)> {
    let name = decision.class.as_str();
    let mut out = vec![
        (
            "RateLimit-Policy",
            format!("\"{name}\";q={};w={}", decision.limit, decision.window),
        ),
        (
            "RateLimit",
            format!("\"{name}\";r={};t={}", decision.remaining, decision.reset),
        ),
        ("X-RateLimit-Limit", decision.limit.to_string()),
        ("X-RateLimit-Remaining", decision.remaining.to_string()),
        ("X-RateLimit-Reset", decision.reset.to_string()),
    ];
    if let Some(after) = decision.retry_after {
        out.push(("Retry-After", after.to_string()));
    }
    out
}

#[cfg(test)]
mod edge_tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(spec: &str) -> TrustedProxies {
        TrustedProxies::parse(spec).unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted = proxies("10.0.0.9");
        let (proxy, client) = (ip("10.0.0.9"), ip("203.0.113.7"));
        let spoofed = ["198.51.100.1, 203.0.113.7"];
        assert_eq!(
            client_ip(client, spoofed, &trusted),
            client,
            "not from a proxy"
        );
        assert_eq!(
            client_ip(proxy, spoofed, &trusted),
            client,
            "right-most hop"
        );
        assert_eq!(client_ip(proxy, [], &trusted), proxy);
    }

    #[test]
    fn every_forwarded_for_line_counts_and_the_right_most_untrusted_entry_is_the_client() {
        let trusted = proxies("10.0.0.0/8, 192.0.2.7");
        let peer = ip("10.1.2.3");
        // What the client sent comes first; each proxy adds a line or an entry after it.
        let cases: [(&[&str], &str); 8] = [
            (&["198.51.100.1", "203.0.113.7"], "203.0.113.7"),
            (
                &["198.51.100.1, 203.0.113.7", "10.4.4.4, 192.0.2.7"],
                "203.0.113.7",
            ),
            (&["203.0.113.7", ""], "203.0.113.7"),
            // Ports and brackets, as some proxies write them.
            (&["203.0.113.7:4711"], "203.0.113.7"),
            (&["[2001:db8::7]:443"], "2001:db8::7"),
            (&["2001:db8::7"], "2001:db8::7"),
            // An entry that is no address ends the walk: what lies left of it was
            // written by whoever sent it, so the proxy that passed it on is the client.
            (&["198.51.100.1, unknown"], "10.1.2.3"),
            // Only proxies: the left-most of them.
            (&["10.9.9.9", "192.0.2.7"], "10.9.9.9"),
        ];
        for (lines, expected) in cases {
            assert_eq!(
                client_ip(peer, lines.iter().copied(), &trusted),
                ip(expected),
                "{lines:?}"
            );
        }
        // A dual-stack socket's view of an IPv4 proxy is that proxy.
        let mapped = ip("::ffff:10.1.2.3");
        assert_eq!(
            client_ip(mapped, ["203.0.113.7"], &trusted),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges_and_name_every_bad_entry() {
        let trusted = proxies(" 10.0.0.0/8,192.0.2.7 , 2001:db8::/32,");
        for inside in [
            "10.255.0.1",
            "192.0.2.7",
            "2001:db8:ffff::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(trusted.contains(ip(inside)), "{inside}");
        }
        for outside in ["11.0.0.1", "192.0.2.8", "2001:db9::1"] {
            assert!(!trusted.contains(ip(outside)), "{outside}");
        }
        assert_eq!(proxies(""), TrustedProxies::default());
        let err = TrustedProxies::parse("10.0.0.0/33, proxy.local, 192.0.2.7, 1.2.3").unwrap_err();
        for bad in ["`10.0.0.0/33`", "`proxy.local`", "`1.2.3`"] {
            assert!(err.contains(bad), "{err}");
        }
        assert!(!err.contains("192.0.2.7"), "{err}");
    }
}
