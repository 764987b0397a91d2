//! Rate limiting: GCRA limiters, one per class, keyed by credential (or client IP for
//! unauthenticated operations). Which class an operation belongs to is decided in one
//! place, [`Class::of`], from what the document says of it; so a new operation is
//! limited by construction.
//!
//! Every check goes through one interface, [`RateLimiter`], over one of two stores chosen
//! by configuration ([`StoreSettings`]): in process ([`Limits`], governor; each instance
//! counts on its own) or Redis ([`RedisStore`], `MOMENTUM_REDIS_URL`; every instance
//! shares one count). Both compute the same GCRA, so they give the same decisions and
//! headers. What happens while Redis cannot be reached is [`StoreFailure`].

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use uuid::Uuid;

mod limiter;
mod memory;
mod redis_store;

pub use limiter::{
    RateLimiter, RedisSettings, Store, StoreFailure, StoreFuture, StoreSettings, Unavailable,
};
pub use memory::Limits;
pub use redis_store::{check_url as check_redis_url, RedisStore};

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

/// The scopes whose operations count in the `admin` class: `admin`, and those split off
/// it, whose operations were `admin`'s and keep its quota.
const ADMIN_CLASS_SCOPES: [&str; 6] = [
    "admin",
    "custom_fields:read",
    "events:read",
    "webhooks:read",
    "webhooks:write",
    "audit:read",
];

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
            // POST only because a hundred keys do not fit a URL: each reads, and changes
            // nothing, like a list page.
            ("contacts_batch_read" | "companies_batch_read" | "leads_batch_read", _) => Self::Read,
            (_, Some(scopes)) if scopes.iter().any(|s| ADMIN_CLASS_SCOPES.contains(s)) => {
                Self::Admin
            }
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
    /// `factor` times this quota and burst: a tenant's ceiling (`None` for 0: no ceiling).
    fn scaled(self, factor: u32) -> Option<Self> {
        let factor = NonZeroU32::new(factor)?;
        Some(Self {
            per_minute: self.per_minute.saturating_mul(factor),
            burst: self.burst.saturating_mul(factor),
        })
    }

    /// The time one request's cell takes to come back.
    fn interval(self) -> Duration {
        // per_minute ≥ 1, so the interval is at most a minute and never zero.
        Duration::from_secs(60) / self.per_minute.get()
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
    /// Whether a limiter counted the request. `false` when the shared store could not be
    /// reached: the quota (`limit`) still holds, but `remaining` and `reset` are unknown,
    /// so the headers leave them out rather than make them up.
    pub counted: bool,
}

impl Decision {
    /// Allowed under `quota`, with `remaining` requests left.
    fn allowed(class: Class, quota: ClassQuota, remaining: u32) -> Self {
        let used = quota.burst.get().saturating_sub(remaining);
        Self {
            class,
            limit: quota.per_minute.get(),
            window: 60,
            remaining,
            reset: ceil_secs(quota.interval() * used),
            retry_after: None,
            counted: true,
        }
    }

    /// Refused under `quota` until the next cell comes, `wait` from now.
    fn refused(class: Class, quota: ClassQuota, wait: Duration) -> Self {
        Self {
            class,
            limit: quota.per_minute.get(),
            window: 60,
            remaining: 0,
            reset: ceil_secs(quota.interval() * quota.burst.get()),
            retry_after: Some(ceil_secs(wait).max(1)),
            counted: true,
        }
    }

    /// A class without a limiter (none configured: only in tests of other parts).
    fn unlimited(class: Class) -> Self {
        Self {
            class,
            limit: 0,
            window: 60,
            remaining: 0,
            reset: 0,
            retry_after: None,
            counted: true,
        }
    }

    /// Not counted: the store could not say. Only the quota is known.
    fn uncounted(class: Class, quota: Option<ClassQuota>) -> Self {
        Self {
            class,
            limit: quota.map_or(0, |q| q.per_minute.get()),
            window: 60,
            remaining: 0,
            reset: 0,
            retry_after: None,
            counted: false,
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // A batch read is a POST that changes nothing.
        for (op, scope) in [
            ("contacts_batch_read", "contacts:read"),
            ("companies_batch_read", "companies:read"),
            ("leads_batch_read", "leads:read"),
        ] {
            assert_eq!(Class::of(op, "post", Some(&[scope])), Class::Read);
        }
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
        // The scopes split off `admin` keep its quota for the operations they took.
        assert_eq!(
            Class::of("events_list", "get", Some(&["events:read"])),
            Class::Admin
        );
        assert_eq!(
            Class::of(
                "webhook_endpoints_update",
                "patch",
                Some(&["webhooks:write"])
            ),
            Class::Admin
        );
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
/// the common `X-RateLimit-*`), plus `Retry-After` on a refusal. A request the store could
/// not count gets the quota alone (`RateLimit-Policy`, `X-RateLimit-Limit`): what is left
/// of it is unknown, and a made-up figure would mislead a client pacing itself by it.
pub fn headers(decision: &Decision) -> Vec<(&'static str, String)> {
    let name = decision.class.as_str();
    let mut out = vec![
        (
            "RateLimit-Policy",
            format!("\"{name}\";q={};w={}", decision.limit, decision.window),
        ),
        ("X-RateLimit-Limit", decision.limit.to_string()),
    ];
    if decision.counted {
        out.extend([
            (
                "RateLimit",
                format!("\"{name}\";r={};t={}", decision.remaining, decision.reset),
            ),
            ("X-RateLimit-Remaining", decision.remaining.to_string()),
            ("X-RateLimit-Reset", decision.reset.to_string()),
        ]);
    }
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
