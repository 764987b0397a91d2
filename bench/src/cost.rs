//! What a request costs: the server's CPU, its PostgreSQL backends' CPU, and the
//! statements it sends, each read before and after a measured window and divided by the
//! requests answered in it.
//!
//! CPU comes from `/proc/<pid>/stat` (user + system, in clock ticks of 10 ms), so a
//! window of thousands of requests is what makes a µs/request figure meaningful. The
//! backends counted are the client backends of the bench database logged in as the
//! server's roles (its API pool and its webhook worker) under the server's own
//! `application_name` (each server started by the bench has its own `PGAPPNAME`, so
//! with two servers up the idle one's backends stay out); PostgreSQL's background
//! processes (WAL writer, checkpointer, autovacuum…) are not counted. Statements come
//! from `pg_stat_statements` (top-level calls, utility statements such as BEGIN, COMMIT
//! and SET included), loaded for the benchmark's own cluster only. That view has no
//! application name, so it counts every server's statements: a window must load one
//! server only, and the other's webhook worker polling falls in it.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;

use momentum_server::db::embedded::{Cluster, SUPERUSER};
use sqlx::{Connection, PgConnection, PgPool};

/// Counters at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    server: Duration,
    backends: HashMap<i32, Duration>,
    statements: Option<i64>,
}

/// What a server and its backends spent over one or more windows, before it is divided
/// by the requests: the windows of one build's interleaved slices add up.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub server: Duration,
    pub postgres: Duration,
    /// `None` when `pg_stat_statements` could not be loaded.
    pub statements: Option<i64>,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.server += other.server;
        self.postgres += other.postgres;
        self.statements = self.statements.zip(other.statements).map(|(a, b)| a + b);
    }
}

impl Usage {
    pub fn per_request(&self, requests: u64) -> Cost {
        Cost {
            server_cpu_us: per_request_us(self.server, requests),
            postgres_cpu_us: per_request_us(self.postgres, requests),
            round_trips: self
                .statements
                .map(|n| n.max(0) as f64 / requests.max(1) as f64),
        }
    }
}

/// Per request, over a window.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Cost {
    pub server_cpu_us: f64,
    pub postgres_cpu_us: f64,
    /// `None` when `pg_stat_statements` could not be loaded.
    pub round_trips: Option<f64>,
}

/// Reads the counters of one server and its database.
#[derive(Clone)]
pub struct Probe {
    /// A superuser connection: it sees every backend and every role's statements.
    pub pool: PgPool,
    pub database: String,
    pub roles: Vec<String>,
    /// The server's `application_name` (its `PGAPPNAME`); `None`: any.
    pub application: Option<String>,
    pub statements: bool,
}

/// The server's backends: of the bench database, logged in as its roles, and under its
/// application name when one is given (`$3` NULL: any).
const BACKENDS_SQL: &str = "SELECT pid FROM pg_stat_activity \
     WHERE datname = $1 AND backend_type = 'client backend' AND usename = ANY($2) \
     AND ($3::text IS NULL OR application_name = $3) ORDER BY pid";

impl Probe {
    /// The same probe for the server started under `application`.
    pub fn for_application(&self, application: &str) -> Probe {
        Probe {
            application: Some(application.to_owned()),
            ..self.clone()
        }
    }

    /// The pids of the server's client backends now.
    pub async fn backends(&self) -> anyhow::Result<Vec<i32>> {
        Ok(sqlx::query_scalar(BACKENDS_SQL)
            .bind(&self.database)
            .bind(&self.roles)
            .bind(&self.application)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn snapshot(
        &self,
        server_pid: Option<u32>,
        before: Option<&Snapshot>,
    ) -> anyhow::Result<Snapshot> {
        let mut pids = self.backends().await?;
        // A backend that was there at the start is read again even if it has gone idle
        // out of the view; one that exited in between keeps its first reading (its last
        // ticks are lost: with a pool that keeps its connections, none exit).
        if let Some(before) = before {
            pids.extend(before.backends.keys().copied());
        }
        pids.sort_unstable();
        pids.dedup();
        let backends = pids
            .into_iter()
            .filter_map(|pid| {
                let read = u32::try_from(pid).ok().and_then(process_cpu);
                let kept = before.and_then(|b| b.backends.get(&pid).copied());
                read.or(kept).map(|cpu| (pid, cpu))
            })
            .collect();
        let statements = if self.statements {
            Some(
                sqlx::query_scalar(
                    "SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s \
                     JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid \
                     WHERE d.datname = $1 AND r.rolname = ANY($2)",
                )
                .bind(&self.database)
                .bind(&self.roles)
                .fetch_one(&self.pool)
                .await?,
            )
        } else {
            None
        };
        Ok(Snapshot {
            server: server_pid.and_then(process_cpu).unwrap_or_default(),
            backends,
            statements,
        })
    }
}

impl Snapshot {
    /// What was spent in the window from `before` to `self`.
    pub fn usage_since(&self, before: &Snapshot) -> Usage {
        let postgres: Duration = self
            .backends
            .iter()
            .map(|(pid, after)| {
                let start = before.backends.get(pid).copied().unwrap_or_default();
                after.saturating_sub(start)
            })
            .sum();
        Usage {
            server: self.server.saturating_sub(before.server),
            postgres,
            statements: self
                .statements
                .zip(before.statements)
                .map(|(after, start)| (after - start).max(0)),
        }
    }
}

/// Loads `pg_stat_statements` into the benchmark's cluster (a setting of this cluster
/// only, written with `ALTER SYSTEM`, then a restart): the tests' clusters never load it.
/// Sets the cluster's `shared_buffers` to `size` (restarting it, as the setting needs)
/// unless it already has that size.
pub async fn size_shared_buffers(cluster: &Cluster, size: &str) -> anyhow::Result<()> {
    let mut conn =
        PgConnection::connect_with(&cluster.connect_options(SUPERUSER, "postgres")).await?;
    // Compared in PostgreSQL's own unit, so `4GB` and `4096MB` count as the same size.
    let (current, wanted): (i64, i64) = sqlx::query_as(
        "SELECT pg_size_bytes(current_setting('shared_buffers')), pg_size_bytes($1)",
    )
    .bind(size)
    .fetch_one(&mut conn)
    .await
    .with_context(|| format!("--shared-buffers {size:?} is not a PostgreSQL size"))?;
    if current == wanted {
        return Ok(());
    }
    // ALTER SYSTEM takes no parameters; the size was just parsed by PostgreSQL.
    sqlx::query(&format!(
        "ALTER SYSTEM SET shared_buffers = '{}kB'",
        wanted / 1024
    ))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    restart(cluster).context("the cluster did not restart with the new shared_buffers")
}

/// Restarts the cluster, for a setting ALTER SYSTEM has just changed that only a start
/// reads.
fn restart(cluster: &Cluster) -> anyhow::Result<()> {
    tokio::task::block_in_place(|| {
        cluster.stop()?;
        cluster.start().map(|_| ())
    })
}

/// The kilobytes a `/proc` text (`meminfo`, a process's `status`) gives for `field`
/// (`"MemTotal:"`, `"VmRSS:"`).
pub fn proc_kb(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A quarter of the machine's memory as a PostgreSQL size (`128MB` if it cannot be read).
pub fn quarter_of_memory() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| proc_kb(&m, "MemTotal:"))
        .map_or_else(|| "128MB".to_owned(), |kb| format!("{}MB", kb / 4 / 1024))
}

pub async fn load_statements(cluster: &Cluster) -> anyhow::Result<()> {
    let mut conn =
        PgConnection::connect_with(&cluster.connect_options(SUPERUSER, "postgres")).await?;
    let loaded: String = sqlx::query_scalar("SHOW shared_preload_libraries")
        .fetch_one(&mut conn)
        .await?;
    if loaded.contains("pg_stat_statements") {
        return Ok(());
    }
    sqlx::query("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    restart(cluster)
}

/// The view in the bench database (the library alone keeps the counts, the extension
/// shows them).
pub async fn create_extension(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(pool)
        .await?;
    Ok(())
}

/// Microseconds of `spent` per request (0 requests count as 1: no division by zero).
pub fn per_request_us(spent: Duration, requests: u64) -> f64 {
    spent.as_secs_f64() * 1e6 / requests.max(1) as f64
}

/// CPU time (user + system) process `pid` has used so far; `None` once it is gone.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = stat_cpu_ticks(&stat)?;
    Some(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second(),
    ))
}

/// utime + stime of a `/proc/<pid>/stat` line, in clock ticks. The command name, in
/// parentheses, may hold spaces and parentheses itself: fields are counted after its
/// last `)`. utime and stime are fields 14 and 15, so the 12th and 13th after the name.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The unit of `/proc/<pid>/stat`'s times (USER_HZ: 100 on Linux, asked all the same).
fn clock_ticks_per_second() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        // A command name with spaces and a `)` of its own; utime 250, stime 31.
        let stat = "4242 (postgres: a) b (c) S 1 4242 4242 0 -1 4194560 120 0 0 0 250 31 0 0 \
                    20 0 1 0 1000 200000000 3000 18446744073709551615";
        assert_eq!(stat_cpu_ticks(stat), Some(281));
    }

    #[test]
    fn a_truncated_stat_has_no_times() {
        assert_eq!(stat_cpu_ticks("4242 (momentum) S 1 4242"), None);
        assert_eq!(stat_cpu_ticks("no parenthesis at all"), None);
    }

    #[test]
    fn the_own_process_has_a_cpu_time() {
        assert!(process_cpu(std::process::id()).is_some());
    }

    #[test]
    fn cost_divides_each_delta_by_the_requests() {
        let before = Snapshot {
            server: Duration::from_millis(100),
            backends: HashMap::from([(1, Duration::from_millis(50)), (2, Duration::ZERO)]),
            statements: Some(1_000),
        };
        let after = Snapshot {
            server: Duration::from_millis(1_100),
            // Backend 3 was born in the window: all its time counts.
            backends: HashMap::from([
                (1, Duration::from_millis(550)),
                (2, Duration::from_millis(200)),
                (3, Duration::from_millis(50)),
            ]),
            statements: Some(5_000),
        };
        let cost = after.usage_since(&before).per_request(1_000);
        assert!((cost.server_cpu_us - 1_000.0).abs() < 1e-6);
        assert!((cost.postgres_cpu_us - 750.0).abs() < 1e-6);
        assert_eq!(cost.round_trips, Some(4.0));
    }

    #[test]
    fn usages_add_up_and_a_missing_count_stays_missing() {
        let mut total = Usage {
            server: Duration::from_millis(10),
            postgres: Duration::from_millis(20),
            statements: Some(3),
        };
        total += Usage {
            server: Duration::from_millis(1),
            postgres: Duration::from_millis(2),
            statements: Some(4),
        };
        assert_eq!(total.server, Duration::from_millis(11));
        assert_eq!(total.postgres, Duration::from_millis(22));
        assert_eq!(total.statements, Some(7));
        total += Usage::default();
        assert_eq!(total.statements, None);
    }

    /// Two servers' pools on one database, told apart by their `application_name`: the
    /// probe of one never lists the other's backends, and one without a name lists both.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_probe_counts_only_its_own_servers_backends() -> anyhow::Result<()> {
        use momentum_server::db::embedded::{RUNTIME_ROLE, WORKER_ROLE};
        use momentum_server::testing::postgres::Disposable;

        let disposable = tokio::task::spawn_blocking(Disposable::shared).await?;
        let cluster = &disposable.cluster;
        let database = disposable.fresh_database().await?;
        let connect = |role: &str, application: &str| {
            let options = cluster
                .connect_options(role, &database)
                .application_name(application);
            async move { PgConnection::connect_with(&options).await }
        };
        let mut candidate_api = connect(RUNTIME_ROLE, "momentum-bench-candidate").await?;
        let mut candidate_worker = connect(WORKER_ROLE, "momentum-bench-candidate").await?;
        let mut baseline_api = connect(RUNTIME_ROLE, "momentum-bench-baseline").await?;
        const PID: &str = "SELECT pg_backend_pid()";
        let mut candidate: Vec<i32> = vec![
            sqlx::query_scalar(PID)
                .fetch_one(&mut candidate_api)
                .await?,
            sqlx::query_scalar(PID)
                .fetch_one(&mut candidate_worker)
                .await?,
        ];
        candidate.sort_unstable();
        let baseline: i32 = sqlx::query_scalar(PID).fetch_one(&mut baseline_api).await?;

        let probe = Probe {
            pool: momentum_server::db::connect(cluster.connect_options(SUPERUSER, &database), 1)
                .await?,
            database: database.clone(),
            roles: vec![RUNTIME_ROLE.to_owned(), WORKER_ROLE.to_owned()],
            application: None,
            statements: false,
        };
        let everyone = probe.backends().await?;
        assert!(candidate.iter().all(|p| everyone.contains(p)));
        assert!(everyone.contains(&baseline));
        assert_eq!(
            probe
                .for_application("momentum-bench-candidate")
                .backends()
                .await?,
            candidate
        );
        assert_eq!(
            probe
                .for_application("momentum-bench-baseline")
                .backends()
                .await?,
            vec![baseline]
        );
        Ok(())
    }

    #[test]
    fn no_statement_counts_no_round_trips() {
        let before = Snapshot::default();
        let after = Snapshot {
            server: Duration::from_millis(10),
            ..Snapshot::default()
        };
        let cost = after.usage_since(&before).per_request(0);
        assert_eq!(cost.round_trips, None);
        assert!((cost.server_cpu_us - 10_000.0).abs() < 1e-6);
    }
}
