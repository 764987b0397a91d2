//! The in-process store: governor's GCRA limiters, one per class (and one per class for
//! the tenant ceilings), keyed in memory. Each instance counts on its own: the default, and
//! what one instance alone needs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use super::{Class, ClassQuota, Decision, Key, Store, StoreFuture};

impl ClassQuota {
    fn quota(self) -> Quota {
        Quota::with_period(self.interval())
            .unwrap_or_else(|| Quota::per_minute(self.per_minute))
            .allow_burst(self.burst)
    }
}

type Limiter<C> = RateLimiter<Key, DashMapStateStore<Key>, C, StateInformationMiddleware>;

/// When a key's last allowed request in a class was made, and the cells it left.
type Seen<C> = (<C as Clock>::Instant, u32);

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
    /// Each key's last allowed request in a class: when, and the cells it left. governor
    /// cannot be asked where a key stands without spending a cell, so
    /// [`Limits::standing`] works from this.
    seen: Mutex<HashMap<(Class, Key), Seen<C>>>,
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
        let tenants = build(
            &mut quotas
                .iter()
                .filter_map(|(class, q)| Some((*class, q.scaled(tenant_factor)?))),
        );
        Self {
            clock,
            classes,
            tenants,
            spent: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
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
        let wait = Duration::from(until.duration_since(now));
        Some(Decision::refused(class, *quota, wait))
    }

    /// Where `key` stands in `class` now, spending nothing: the cells its last allowed
    /// request left plus one per interval since, up to the burst. That may be one cell
    /// less than governor would allow (it keeps fractions of a cell), never more.
    pub fn standing(&self, class: Class, key: &Key) -> Decision {
        let key = key.counted();
        let Some((_, quota, _)) = self.classes.iter().find(|(c, ..)| *c == class) else {
            return Decision::unlimited(class);
        };
        if let Some(refused) = self.exhausted(class, &key) {
            return refused;
        }
        let burst = quota.burst.get();
        let seen = self
            .seen
            .lock()
            .ok()
            .and_then(|seen| seen.get(&(class, key)).copied());
        let remaining = match seen {
            Some((at, left)) => {
                let elapsed = Duration::from(self.clock.now().duration_since(at));
                let cells = elapsed.as_nanos() / quota.interval().as_nanos().max(1);
                u32::try_from(cells).map_or(burst, |cells| left.saturating_add(cells).min(burst))
            }
            None => burst,
        };
        Decision::allowed(class, *quota, remaining)
    }

    /// Counts one request of `key` against `class`.
    pub fn check(&self, class: Class, key: &Key) -> Decision {
        let key = &key.counted();
        let (decision, wait) = self.check_in(&self.classes, class, key);
        if decision.retry_after.is_none() {
            if let Ok(mut seen) = self.seen.lock() {
                seen.insert((class, key.clone()), (self.clock.now(), decision.remaining));
            }
        }
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
            return (Decision::unlimited(class), None);
        };
        match limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                (Decision::allowed(class, *quota, remaining), None)
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                (Decision::refused(class, *quota, wait), Some(wait))
            }
        }
    }

    /// Counts one request of `key`, and when it is allowed, one of `tenant` against its
    /// ceiling: the tenant's refusal decides when there is one. (A credential's cell is
    /// spent even when its tenant's ceiling then refuses; the Redis store does the same.)
    pub fn check_with_tenant(&self, class: Class, key: &Key, tenant: Option<Uuid>) -> Decision {
        let decision = self.check(class, key);
        if let (Some(tenant), None) = (tenant, decision.retry_after) {
            if let Some(ceiling) = self.check_tenant(class, tenant) {
                if ceiling.retry_after.is_some() {
                    return ceiling;
                }
            }
        }
        decision
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
        // A key back at its full quota stands as one never seen.
        if let Ok(mut seen) = self.seen.lock() {
            let full = |class: &Class| {
                self.classes
                    .iter()
                    .find(|(c, ..)| c == class)
                    .map_or(Duration::ZERO, |(_, q, _)| q.interval() * q.burst.get())
            };
            seen.retain(|(class, _), (at, _)| {
                Duration::from(now.duration_since(*at)) < full(class)
            });
            seen.shrink_to_fit();
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

impl<C> Store for Limits<C>
where
    C: Clock + Clone + Send + Sync,
    C::Instant: Send + Sync,
{
    fn exhausted<'a>(&'a self, class: Class, key: &'a Key) -> StoreFuture<'a, Option<Decision>> {
        Box::pin(std::future::ready(Ok(Limits::exhausted(self, class, key))))
    }

    fn check<'a>(
        &'a self,
        class: Class,
        key: &'a Key,
        tenant: Option<Uuid>,
    ) -> StoreFuture<'a, Decision> {
        let decision = self.check_with_tenant(class, key, tenant);
        Box::pin(std::future::ready(Ok(decision)))
    }

    fn standing<'a>(&'a self, class: Class, key: &'a Key) -> StoreFuture<'a, Decision> {
        Box::pin(std::future::ready(Ok(Limits::standing(self, class, key))))
    }

    fn evict_idle(&self) {
        Limits::evict_idle(self);
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::ratelimit::parse_quotas;
    use governor::clock::FakeRelativeClock;

    fn quotas(spec: &str) -> Vec<(Class, ClassQuota)> {
        parse_quotas(spec).unwrap()
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
    fn a_keys_standing_is_read_without_spending_and_refills_with_time() {
        let clock = FakeRelativeClock::default();
        // A cell every 10 s, a burst of 3.
        let limits = Limits::with_clock(&quotas("write=6/min:3"), 0, clock.clone());
        let key = Key::Credential(Uuid::now_v7());
        assert_eq!(
            limits.standing(Class::Write, &key).remaining,
            3,
            "never seen"
        );
        limits.check(Class::Write, &key);
        limits.check(Class::Write, &key);
        for _ in 0..3 {
            let standing = limits.standing(Class::Write, &key);
            assert_eq!(
                (standing.remaining, standing.reset),
                (1, 20),
                "looking spends none"
            );
        }
        clock.advance(Duration::from_secs(10));
        assert_eq!(limits.standing(Class::Write, &key).remaining, 2);
        limits.check(Class::Write, &key);
        limits.check(Class::Write, &key);
        let out = limits.standing(Class::Write, &key);
        assert_eq!((out.remaining, out.retry_after.is_some()), (0, true));
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            limits.standing(Class::Write, &key).remaining,
            3,
            "full, never more"
        );
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
