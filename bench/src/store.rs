//! What keeping the rate limits in Redis costs: `GET /v1/contacts/{id}` against a server
//! whose limiters are in process, then against one whose limiters are in Redis
//! (`MOMENTUM_REDIS_URL`, a disposable `redis-server` on loopback), both with the tenant
//! ceiling on as in production, so each request checks its key and its tenant (one
//! script call to Redis). Besides throughput, the CPU each process spent per request over
//! the measurement window, from `/proc/<pid>/stat`: the shared machine's other load moves
//! throughput more than it moves CPU per request.

use std::path::Path;
use std::time::Duration;

use momentum_server::testing::redis::DisposableRedis;
use serde::Serialize;

use crate::load::{self, Spec, Target};
use crate::report::Measured;
use crate::server::{cpu_time, Server};

#[derive(Debug, Serialize)]
pub struct StoreResult {
    pub store: &'static str,
    pub api: Measured,
    /// The server's CPU time (user + system) per request answered.
    pub server_cpu_us: f64,
    /// Redis's CPU time per request answered (Redis store only).
    pub redis_cpu_us: Option<f64>,
}

/// Where the servers connect, and the load they get.
pub struct Setup<'a> {
    pub bin: &'a Path,
    pub database_url: &'a str,
    pub worker_database_url: &'a str,
    pub pool_size: u32,
    pub api_key: &'a str,
    pub spec: Spec,
    pub concurrency: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

pub async fn measure(setup: &Setup<'_>) -> anyhow::Result<Vec<StoreResult>> {
    let redis = tokio::task::spawn_blocking(DisposableRedis::start).await??;
    // The tenant ceiling at its default (5 × each quota), as in production.
    let ceiling = ("MOMENTUM_RATE_TENANT_FACTOR", "5".to_owned());
    let stores = [
        ("in process", vec![ceiling.clone()]),
        ("Redis", vec![ceiling, ("MOMENTUM_REDIS_URL", redis.url())]),
    ];
    let mut results = Vec::new();
    for (store, env) in stores {
        eprintln!("rate limits {store}…");
        let server = Server::start(
            setup.bin,
            setup.database_url,
            setup.worker_database_url,
            setup.pool_size,
            &env,
        )
        .await?;
        let target = Target {
            addr: server.addr,
            api_key: setup.api_key.to_owned(),
        };
        let spec = setup.spec.clone();
        // Warm up apart, so the CPU window below holds only measured requests.
        load::run(
            &target,
            setup.concurrency,
            Duration::ZERO,
            setup.warmup,
            spec.clone(),
        )
        .await?;
        let redis_pid = (store == "Redis").then(|| redis.pid()).flatten();
        let (server_before, redis_before) = (server.cpu_time(), redis_pid.map(cpu_time));
        let outcome = load::run(
            &target,
            setup.concurrency,
            Duration::ZERO,
            setup.measure,
            spec,
        )
        .await?;
        let (server_after, redis_after) = (server.cpu_time(), redis_pid.map(cpu_time));
        if let Some(err) = &outcome.first_error {
            eprintln!("  first error: {err}");
        }
        let api = Measured::new(outcome.latencies, outcome.seconds, outcome.errors);
        let per_request =
            |spent: Duration| spent.as_secs_f64() * 1e6 / (api.requests.max(1) as f64);
        let result = StoreResult {
            store,
            server_cpu_us: per_request(server_after.saturating_sub(server_before)),
            redis_cpu_us: redis_before
                .zip(redis_after)
                .map(|(before, after)| per_request(after.saturating_sub(before))),
            api,
        };
        eprintln!(
            "  {:.0} req/s, p99 {:.2} ms, server {:.0} µs CPU per request",
            result.api.per_second, result.api.p99_ms, result.server_cpu_us
        );
        server.stop().await?;
        results.push(result);
    }
    Ok(results)
}
