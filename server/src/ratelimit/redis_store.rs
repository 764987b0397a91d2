//! The Redis store (`MOMENTUM_REDIS_URL`): every instance keeps its limiters' state in one
//! Redis, so N instances hold one quota.
//!
//! Each check is one call of one Lua script ([`GCRA`]), run atomically by Redis on its own
//! clock (`TIME`), so instances whose clocks disagree still agree on the count. The script
//! is loaded once and called by its hash (`EVALSHA`); when Redis has lost it (a restart,
//! `SCRIPT FLUSH`) the client loads it again and retries. A request checked against its
//! credential and its tenant's ceiling makes one call for both.
//!
//! The arithmetic is governor's GCRA, in microseconds: the same decisions, headers and
//! 429s as the in-process store. Keys (`momentum:rl:<class>:<c|ip|t>:<id>`) hold one
//! number, the theoretical arrival time, and expire when it passes, which is exactly when
//! the key is back at a full quota: idle keys cost Redis nothing.
//!
//! Every call is bounded by a timeout, so a Redis that hangs fails a check quickly rather
//! than holding the request; the connection reconnects by itself.

use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use uuid::Uuid;

use super::{Class, ClassQuota, Decision, Key, Store, StoreFuture};

/// GCRA as governor computes it (`gcra.rs`, `StateSnapshot::remaining_burst_capacity`),
/// for one key or a key and its tenant's ceiling, on Redis's clock, in microseconds.
///
/// KEYS: the counted key; optionally the tenant ceiling's key, checked (and spent) only
/// when the first allows.
/// ARGV[1]: `1` to count the request, `0` only to look (is the key out of quota now?).
/// ARGV[2i], ARGV[2i+1]: KEYS[i]'s emission interval (µs per cell) and burst.
/// Returns `{decided_by, allowed, remaining, wait_us}`: which key decided (1 or 2),
/// whether the request is allowed, the cells left after it, and on a refusal the wait
/// for the next cell.
///
/// A key holds its theoretical arrival time (TAT). A burst of `b` cells allows a request
/// while `now ≥ TAT - (b-1)·interval`; an allowed one moves TAT to `max(TAT, now) +
/// interval`. A TAT in the past is the same as none, so the key expires when its TAT
/// passes. Times are whole microseconds, exact in Lua's doubles for centuries; they are
/// written with `%.0f` because Redis would store a bare Lua number as `%.14g`, rounded.
pub const GCRA: &str = r#"
-- Redis before 5 refuses a write after TIME unless effects are replicated; a no-op since.
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local spend = ARGV[1] == '1'

local function gcra(i)
  local interval = tonumber(ARGV[2 * i])
  local tau = interval * (tonumber(ARGV[2 * i + 1]) - 1)
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  local earliest = tat - tau
  if now < earliest then
    return false, 0, earliest - now
  end
  local next_tat = math.max(tat, now) + interval
  if spend then
    local ttl_ms = math.ceil((next_tat - now) / 1000)
    redis.call('SET', KEYS[i], string.format('%.0f', next_tat),
      'PX', string.format('%.0f', ttl_ms))
  end
  local remaining = math.floor((now + tau + interval - next_tat) / interval)
  return true, remaining, 0
end

local allowed, remaining, wait = gcra(1)
if allowed and spend and #KEYS == 2 then
  local tenant_allowed, _, tenant_wait = gcra(2)
  if not tenant_allowed then
    return {2, 0, 0, tenant_wait}
  end
end
return {1, allowed and 1 or 0, remaining, wait}
"#;

/// Rate-limit state in Redis.
pub struct RedisStore {
    conn: ConnectionManager,
    script: Script,
    quotas: Vec<(Class, ClassQuota)>,
    /// Each class's tenant ceiling; empty when there is none.
    tenants: Vec<(Class, ClassQuota)>,
    timeout: Duration,
    address: String,
}

impl RedisStore {
    /// A store on `url` whose calls each give up after `timeout`. Connects on first use,
    /// and again whenever the connection breaks. The error never echoes the URL, which
    /// may hold a password.
    pub fn connect(
        url: &str,
        quotas: &[(Class, ClassQuota)],
        tenant_factor: u32,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = client(url)?;
        let address = client.get_connection_info().addr().to_string();
        // One attempt per reconnection: the limiter decides when to try again, and each
        // attempt, like each command, is bounded by the timeout.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .context("cannot set up the Redis connection")?;
        Ok(Self {
            conn,
            script: Script::new(GCRA),
            quotas: quotas.to_vec(),
            tenants: quotas
                .iter()
                .filter_map(|(class, q)| Some((*class, q.scaled(tenant_factor)?)))
                .collect(),
            timeout,
            address,
        })
    }

    /// `host:port` of the server (or its socket path), for logs.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// One call of the script: `spend` or only look, on `keys` with their quotas.
    async fn call(&self, spend: bool, keys: &[(String, ClassQuota)]) -> anyhow::Result<[i64; 4]> {
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(u8::from(spend));
        for (key, quota) in keys {
            invocation
                .key(key)
                .arg(interval_micros(*quota))
                .arg(quota.burst.get());
        }
        let mut conn = self.conn.clone();
        let answer: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut conn))
                .await
                .map_err(|_| anyhow::anyhow!("no answer within {} ms", self.timeout.as_millis()))?
                .context("the rate-limit script failed")?;
        answer.try_into().map_err(|answer| {
            anyhow::anyhow!("unexpected answer from the rate-limit script: {answer:?}")
        })
    }
}

/// Whether `url` is a Redis URL this build can use (`redis://`, `redis+unix://`), so a
/// mistyped one stops `serve` before anything else starts. Never echoes the URL, which
/// may hold a password.
pub fn check_url(url: &str) -> anyhow::Result<()> {
    client(url).map(drop)
}

fn client(url: &str) -> anyhow::Result<redis::Client> {
    redis::Client::open(url).map_err(|err| {
        anyhow::anyhow!(
            "MOMENTUM_REDIS_URL is not a usable Redis URL \
             (redis://[[user]:password@]host[:port][/db]): {:?}",
            err.kind()
        )
    })
}

fn quota_of(quotas: &[(Class, ClassQuota)], class: Class) -> Option<ClassQuota> {
    quotas.iter().find(|(c, _)| *c == class).map(|(_, q)| *q)
}

/// The emission interval in whole microseconds (at least one: the script's unit).
fn interval_micros(quota: ClassQuota) -> u64 {
    u64::try_from(quota.interval().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The Redis key of `key` in `class`, by what it is counted as (an IPv6 client by its /64).
fn redis_key(class: Class, key: &Key) -> String {
    let class = class.as_str();
    match key.counted() {
        Key::Credential(id) => format!("momentum:rl:{class}:c:{id}"),
        Key::Ip(ip) => format!("momentum:rl:{class}:ip:{ip}"),
        Key::Tenant(id) => format!("momentum:rl:{class}:t:{id}"),
    }
}

/// The decision for the script's answer `[decided_by, allowed, remaining, wait_us]`.
fn decision(class: Class, quota: ClassQuota, allowed: i64, remaining: i64, wait: i64) -> Decision {
    if allowed == 1 {
        Decision::allowed(class, quota, u32::try_from(remaining).unwrap_or(0))
    } else {
        let wait = Duration::from_micros(u64::try_from(wait).unwrap_or(0));
        Decision::refused(class, quota, wait)
    }
}

impl Store for RedisStore {
    fn exhausted<'a>(&'a self, class: Class, key: &'a Key) -> StoreFuture<'a, Option<Decision>> {
        Box::pin(async move {
            let Some(quota) = quota_of(&self.quotas, class) else {
                return Ok(None);
            };
            let [_, allowed, _, wait] = self.call(false, &[(redis_key(class, key), quota)]).await?;
            Ok((allowed == 0).then(|| decision(class, quota, allowed, 0, wait)))
        })
    }

    fn standing<'a>(&'a self, class: Class, key: &'a Key) -> StoreFuture<'a, Decision> {
        Box::pin(async move {
            let Some(quota) = quota_of(&self.quotas, class) else {
                return Ok(Decision::unlimited(class));
            };
            // Only looking, the script answers what would be left after one more request:
            // one less than what is left now.
            let [_, allowed, remaining, wait] =
                self.call(false, &[(redis_key(class, key), quota)]).await?;
            Ok(decision(class, quota, allowed, remaining + allowed, wait))
        })
    }

    fn check<'a>(
        &'a self,
        class: Class,
        key: &'a Key,
        tenant: Option<Uuid>,
    ) -> StoreFuture<'a, Decision> {
        Box::pin(async move {
            let Some(quota) = quota_of(&self.quotas, class) else {
                return Ok(Decision::unlimited(class));
            };
            let mut keys = vec![(redis_key(class, key), quota)];
            let ceiling = tenant.zip(quota_of(&self.tenants, class));
            if let Some((tenant, ceiling)) = ceiling {
                keys.push((redis_key(class, &Key::Tenant(tenant)), ceiling));
            }
            let [decided_by, allowed, remaining, wait] = self.call(true, &keys).await?;
            let quota = match (decided_by, ceiling) {
                (2, Some((_, ceiling))) => ceiling,
                _ => quota,
            };
            Ok(decision(class, quota, allowed, remaining, wait))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::ratelimit::{parse_quotas, Limits};
    use crate::testing::redis::DisposableRedis;

    fn quotas(spec: &str) -> Vec<(Class, ClassQuota)> {
        parse_quotas(spec).unwrap()
    }

    fn store(redis: &DisposableRedis, spec: &str, tenant_factor: u32) -> RedisStore {
        let timeout = Duration::from_millis(500);
        RedisStore::connect(&redis.url(), &quotas(spec), tenant_factor, timeout).unwrap()
    }

    #[test]
    fn keys_name_the_class_and_what_is_counted() {
        let id = Uuid::nil();
        let ip = |text: &str| Key::Ip(text.parse::<IpAddr>().unwrap());
        assert_eq!(
            redis_key(Class::Read, &Key::Credential(id)),
            format!("momentum:rl:read:c:{id}")
        );
        assert_eq!(
            redis_key(Class::Auth, &ip("2001:db8:1:2::7")),
            "momentum:rl:auth:ip:2001:db8:1:2::",
            "an IPv6 client by its /64"
        );
        assert_eq!(
            redis_key(Class::Auth, &ip("::ffff:192.0.2.1")),
            "momentum:rl:auth:ip:192.0.2.1"
        );
        assert_eq!(
            redis_key(Class::WebhookTest, &Key::Tenant(id)),
            format!("momentum:rl:webhook_test:t:{id}")
        );
    }

    #[tokio::test]
    async fn the_script_decides_as_governor_does() {
        let redis = DisposableRedis::start().unwrap();
        // A cell every 3 s: nothing comes back while the requests below run.
        let spec = "read=20/min:3,write=20/min:2";
        let shared = store(&redis, spec, 2);
        let local = Limits::with_tenant_ceiling(&quotas(spec), 2);
        let tenant = Uuid::now_v7();
        // Two credentials spend the tenant's ceiling (2 × 3); the third meets it.
        let keys = [
            Key::Credential(Uuid::now_v7()),
            Key::Credential(Uuid::now_v7()),
            Key::Credential(Uuid::now_v7()),
            Key::Ip("203.0.113.9".parse().unwrap()),
        ];
        let mut ceiling_refusals = 0;
        for class in [Class::Read, Class::Write] {
            for key in &keys {
                for _ in 0..4 {
                    let tenant = matches!(key, Key::Credential(_)).then_some(tenant);
                    let expected = local.check_with_tenant(class, key, tenant);
                    let got = Store::check(&shared, class, key, tenant).await.unwrap();
                    assert_eq!(got, expected, "{class:?} {key:?}");
                    ceiling_refusals += usize::from(got.limit == 40 && got.retry_after.is_some());
                }
            }
        }
        assert!(ceiling_refusals > 0, "the tenant's ceiling refused some");
    }

    #[tokio::test]
    async fn a_key_out_of_quota_is_known_exactly_without_spending_a_cell() {
        let redis = DisposableRedis::start().unwrap();
        let shared = store(&redis, "read=6/min:2", 0);
        let key = Key::Ip("198.51.100.4".parse().unwrap());
        assert_eq!(
            Store::exhausted(&shared, Class::Read, &key).await.unwrap(),
            None
        );
        Store::check(&shared, Class::Read, &key, None)
            .await
            .unwrap();
        assert_eq!(
            Store::exhausted(&shared, Class::Read, &key).await.unwrap(),
            None
        );
        let last = Store::check(&shared, Class::Read, &key, None)
            .await
            .unwrap();
        assert_eq!((last.remaining, last.retry_after), (0, None));
        for _ in 0..3 {
            let known = Store::exhausted(&shared, Class::Read, &key).await.unwrap();
            let known = known.expect("out of quota").retry_after;
            assert_eq!(known, Some(10), "a cell every 10 s; looking spends none");
        }
        let other = Store::exhausted(&shared, Class::Write, &key).await.unwrap();
        assert_eq!(other, None, "per class");
    }

    #[tokio::test]
    async fn a_keys_standing_is_read_without_spending() {
        let redis = DisposableRedis::start().unwrap();
        // A cell every 10 s, a burst of 3.
        let shared = store(&redis, "write=6/min:3", 0);
        let key = Key::Credential(Uuid::now_v7());
        let fresh = Store::standing(&shared, Class::Write, &key).await.unwrap();
        assert_eq!((fresh.remaining, fresh.reset), (3, 0), "never seen");
        Store::check(&shared, Class::Write, &key, None)
            .await
            .unwrap();
        for _ in 0..3 {
            let standing = Store::standing(&shared, Class::Write, &key).await.unwrap();
            assert_eq!(standing.remaining, 2, "looking spends none");
        }
        for _ in 0..2 {
            Store::check(&shared, Class::Write, &key, None)
                .await
                .unwrap();
        }
        let out = Store::standing(&shared, Class::Write, &key).await.unwrap();
        assert_eq!((out.remaining, out.retry_after.is_some()), (0, true));
    }

    #[tokio::test]
    async fn keys_expire_once_back_at_a_full_quota() {
        let redis = DisposableRedis::start().unwrap();
        // A cell every 100 ms, a burst of 2.
        let shared = store(&redis, "read=600/min:2", 0);
        let key = Key::Credential(Uuid::now_v7());
        Store::check(&shared, Class::Read, &key, None)
            .await
            .unwrap();
        Store::check(&shared, Class::Read, &key, None)
            .await
            .unwrap();
        let name = redis_key(Class::Read, &key);
        let ttl: i64 = redis.query(redis::cmd("PTTL").arg(&name)).await.unwrap();
        assert!(
            (100..=200).contains(&ttl),
            "back to full in two cells: {ttl} ms"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let exists: i64 = redis.query(redis::cmd("EXISTS").arg(&name)).await.unwrap();
        assert_eq!(exists, 0, "gone once idle");
    }

    #[tokio::test]
    async fn a_script_lost_by_redis_is_loaded_again() {
        let redis = DisposableRedis::start().unwrap();
        let shared = store(&redis, "read=60/min:5", 0);
        let key = Key::Credential(Uuid::now_v7());
        let first = Store::check(&shared, Class::Read, &key, None)
            .await
            .unwrap();
        let _: () = redis
            .query(redis::cmd("SCRIPT").arg("FLUSH"))
            .await
            .unwrap();
        let second = Store::check(&shared, Class::Read, &key, None)
            .await
            .unwrap();
        assert_eq!((first.remaining, second.remaining), (4, 3));
    }

    #[tokio::test]
    async fn a_redis_that_hangs_fails_the_check_within_the_timeout_and_then_recovers() {
        let redis = DisposableRedis::start().unwrap();
        let shared = store(&redis, "read=60/min", 0);
        let key = Key::Credential(Uuid::now_v7());
        Store::check(&shared, Class::Read, &key, None)
            .await
            .unwrap();
        redis.pause();
        let started = std::time::Instant::now();
        let hung = Store::check(&shared, Class::Read, &key, None).await;
        assert!(hung.is_err(), "{hung:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        redis.resume();
        let mut answered = None;
        for _ in 0..50 {
            if let Ok(decision) = Store::check(&shared, Class::Read, &key, None).await {
                answered = Some(decision);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(answered.is_some(), "answers again once Redis does");
    }

    #[tokio::test]
    async fn a_url_that_is_not_one_is_refused_without_being_echoed() {
        let quotas = quotas("");
        let timeout = Duration::from_millis(100);
        let err = RedisStore::connect("http://:s3cret@host/", &quotas, 0, timeout)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("MOMENTUM_REDIS_URL"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
