//! `momentum-bench`: the release server against its database ceiling, in one run on one
//! machine. Run it through `bench/run` (it builds both binaries in release first).
//!
//! 1. a disposable PostgreSQL (the one the tests use), seeded with one tenant's data;
//! 2. each API case under a closed-loop load at a fixed concurrency, then `pgbench`
//!    running the same SQL transaction at the same concurrency: the ceiling;
//! 3. `many_connections`: 1,000 keep-alive connections, all but the load's idle
//!    (`many.rs`);
//! 4. webhooks: latency from a committed change to a local receiver, and the rate at
//!    which a backlog drains;
//! 5. the server's peak resident memory;
//! 6. the rate-limit store's cost: a read against a server whose limits are in process,
//!    then one whose limits are in Redis (`store.rs`);
//!
//! then prints the table and writes it as JSON and as a chart. With `--baseline-bin` a
//! second server (another build) runs beside the first against the same database, and
//! every API case and `many_connections` measure both in interleaved slices (`sbs.rs`);
//! the webhooks and the rate-limit store are measured on `--server-bin` only.

mod cases;
mod cost;
mod exports;
mod hooks;
mod imports;
mod load;
mod many;
mod pgbench;
mod report;
mod sbs;
mod seed;
mod server;
mod slow;
mod stats;
mod store;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use momentum_server::db::{self, embedded};
use momentum_server::testing::postgres::Disposable;

use crate::load::Target;
use crate::pgbench::PgBench;
use crate::report::{BuildMemory, CaseResult, Measured, Report};
use crate::sbs::Build;
use crate::seed::Sizes;
use crate::server::Server;

/// The case that is not an API-against-pgbench one (`many.rs`), and the rate-limit
/// store's (`store.rs`).
const MANY_CONNECTIONS: &str = "many_connections";
const RATE_STORE: &str = "rate_store";
/// Every seeded contact exported as NDJSON and CSV, then downloaded (`exports.rs`).
const EXPORTS: &str = "exports";
/// 100,000 contacts imported from a CSV, exported, and imported again (`imports.rs`).
const IMPORTS: &str = "imports";
/// `--cases none`: no case at all, only the webhooks (and the seed they need).
const NONE: &str = "none";

/// Every name `--cases` takes.
fn known_cases() -> Vec<&'static str> {
    let mut names = cases::NAMES.to_vec();
    names.extend([MANY_CONNECTIONS, RATE_STORE, EXPORTS, IMPORTS, NONE]);
    names
}

/// Whether `name` runs given `--cases` (`selected`; empty: every case).
/// `many_connections` compares its p99 with `get_contact`'s, so it brings that case.
fn wanted(selected: &[String], name: &str) -> bool {
    let has = |n: &str| selected.iter().any(|c| c == n);
    if selected.is_empty() {
        return name != NONE;
    }
    has(name) || (name == "get_contact" && has(MANY_CONNECTIONS))
}

#[derive(Debug, Parser)]
#[command(
    name = "momentum-bench",
    about = "Benchmark Momentum against its database ceiling"
)]
struct Args {
    /// The release `momentum` binary to measure.
    #[arg(long, default_value = "target/release/momentum")]
    server_bin: PathBuf,
    /// Another `momentum` binary (e.g. the build before a change) measured beside
    /// `--server-bin` in the same run: every API case and many_connections for both, in
    /// interleaved slices, reported as before (this one) → after (`--server-bin`).
    #[arg(long)]
    baseline_bin: Option<PathBuf>,
    /// Connections of the load generator and clients of pgbench.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds each measurement runs (after its warm-up). Five keep a fresh clone's whole
    /// `bench/run`, release build included, under ten minutes; the run-to-run drift of a
    /// shared machine is larger than what longer runs would remove.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Seconds of warm-up before each measurement, not counted.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    #[arg(long, default_value_t = 100_000)]
    contacts: u64,
    #[arg(long, default_value_t = 10_000)]
    companies: u64,
    #[arg(long, default_value_t = 50_000)]
    leads: u64,
    /// Webhooks sent in the throughput measurement (a backlog committed at once).
    #[arg(long, default_value_t = 20_000)]
    webhook_backlog: u64,
    /// Changes per second in the webhook latency measurement.
    #[arg(long, default_value_t = 200)]
    webhook_rate: u64,
    /// The server's database pool size.
    #[arg(long, default_value_t = 16)]
    pool_size: u32,
    /// Only these cases (comma-separated names); default all. `none`: only the webhooks.
    /// `many_connections` brings `get_contact` (its p99 is the reference).
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Keep-alive connections the server holds in many_connections, `--concurrency` of
    /// them busy and the rest idle.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Where the JSON results and the chart are written.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Tenants seeded beside the measured one, each of its shape and size, so the
    /// measured queries run in a database other tenants share.
    #[arg(long, default_value_t = 0)]
    noise_tenants: u32,
    /// Seed and start the server, print how to reach them, and wait (for profiling).
    #[arg(long)]
    hold: bool,
    /// The disposable cluster's `shared_buffers` (a PostgreSQL size, e.g. `4GB`). Default:
    /// a quarter of the machine's memory, as production sizing goes; PostgreSQL's own
    /// default (128 MB) would measure the page cache rather than the queries once the
    /// seed outgrows it (`--noise-tenants 20` seeds 4.3 GB).
    #[arg(long)]
    shared_buffers: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for bin in std::iter::once(&args.server_bin).chain(&args.baseline_bin) {
        anyhow::ensure!(
            bin.exists(),
            "{} not found: build it with `cargo build --release -p momentum-server` (bench/run does)",
            bin.display()
        );
    }
    let known = known_cases();
    if let Some(unknown) = args.cases.iter().find(|c| !known.contains(&c.as_str())) {
        anyhow::bail!("no case {unknown:?}; the cases: {}", known.join(", "));
    }
    let wanted = |name: &str| wanted(&args.cases, name);
    let builds_count = 1 + usize::from(args.baseline_bin.is_some());
    if wanted(MANY_CONNECTIONS) {
        // Each build's connections are all open at once on both ends, and the baseline's
        // stay open while the candidate's are; beyond them, pools, pgbench and files.
        raise_open_files((args.connections * builds_count + 256) as u64);
    }
    let sizes = Sizes {
        contacts: args.contacts,
        companies: args.companies,
        leads: args.leads,
    };

    eprintln!("starting a disposable PostgreSQL…");
    let disposable = tokio::task::spawn_blocking(Disposable::shared).await?;
    let cluster = &disposable.cluster;
    let shared_buffers = args
        .shared_buffers
        .clone()
        .unwrap_or_else(cost::quarter_of_memory);
    cost::size_shared_buffers(cluster, &shared_buffers).await?;
    let statements = cost::load_statements(cluster).await;
    if let Err(err) = &statements {
        eprintln!("  no round-trip counts: pg_stat_statements cannot be loaded ({err:#})");
    }
    let database = disposable.fresh_database().await?;
    let admin = db::connect(cluster.connect_options(embedded::OWNER_ROLE, &database), 2).await?;
    let probe = cost::Probe {
        pool: db::connect(cluster.connect_options(embedded::SUPERUSER, &database), 1).await?,
        database: database.clone(),
        roles: vec![
            embedded::RUNTIME_ROLE.to_owned(),
            embedded::WORKER_ROLE.to_owned(),
        ],
        application: None,
        statements: false,
    };
    let probe = cost::Probe {
        statements: statements.is_ok() && cost::create_extension(&probe.pool).await.is_ok(),
        ..probe
    };
    eprintln!(
        "seeding {} contacts, {} companies, {} leads for {} tenant(s)…",
        sizes.contacts,
        sizes.companies,
        sizes.leads,
        1 + args.noise_tenants
    );
    let seeded_at = std::time::Instant::now();
    let seeded = seed::seed(&admin, sizes, args.noise_tenants).await?;
    let seed_seconds = seeded_at.elapsed().as_secs_f64();
    let database_mb = sqlx::query_scalar::<_, i64>("SELECT pg_database_size(current_database())")
        .fetch_one(&admin)
        .await? as f64
        / 1024.0
        / 1024.0;
    eprintln!("seeded in {seed_seconds:.1} s; the database holds {database_mb:.0} MB");
    // With shared_buffers sized to hold the seed, its pages are still dirty in memory when
    // the seed ends, and the checkpoint that writes them (gigabytes among noise tenants)
    // would fall inside some case's measurement. Written now, before any is measured.
    sqlx::query("CHECKPOINT").execute(&probe.pool).await?;
    let slow_log = slow::SlowLog::enable(&probe.pool, cluster.log_file()).await?;
    let measured_from = slow_log.mark();

    let socket = cluster.socket_dir();
    let database_url = format!(
        "postgres://{}@localhost/{database}?host={}&port=5432",
        embedded::RUNTIME_ROLE,
        socket.display()
    );
    let worker_database_url = format!(
        "postgres://{}@localhost/{database}?host={}&port=5432",
        embedded::WORKER_ROLE,
        socket.display()
    );
    let workdir = std::env::temp_dir().join(format!("momentum-bench-{}", std::process::id()));
    let mut builds = Vec::with_capacity(builds_count);
    let binaries = std::iter::once(("candidate", &args.server_bin))
        .chain(args.baseline_bin.iter().map(|bin| ("baseline", bin)));
    for (name, bin) in binaries {
        let application = sbs::application_name(name);
        let server = Server::start(
            bin,
            &database_url,
            &worker_database_url,
            args.pool_size,
            &[
                ("PGAPPNAME", application.clone()),
                // Export files go to the run's own folder, removed at the end.
                (
                    "MOMENTUM_DATA_DIR",
                    workdir.join(name).to_string_lossy().into_owned(),
                ),
            ],
        )
        .await?;
        let probe = probe.for_application(&application);
        // A server that named its connections itself would escape the probe: its
        // PostgreSQL CPU would read 0 rather than fail.
        if probe.backends().await?.is_empty() {
            eprintln!(
                "  {name}: no backend under application_name {application}: \
                 its PostgreSQL CPU will read 0"
            );
        }
        builds.push(Build {
            name,
            target: Target {
                addr: server.addr,
                api_key: seeded.api_key.clone(),
            },
            probe,
            idle_rss_mb: server.rss_mb(),
            server,
        });
    }
    if args.hold {
        for build in &builds {
            println!(
                "{} server: http://{} (pid {:?})",
                build.name,
                build.server.addr,
                build.server.pid()
            );
        }
        println!("api key: {}", seeded.api_key);
        println!(
            "psql: psql -h {} -p 5432 -U postgres {database}",
            socket.display()
        );
        tokio::signal::ctrl_c().await?;
        for build in builds {
            build.server.stop().await?;
        }
        return Ok(());
    }

    let pgbench = PgBench {
        bin: PgBench::find(),
        socket_dir: socket.clone(),
        user: embedded::RUNTIME_ROLE.to_owned(),
        database: database.clone(),
        workdir: workdir.clone(),
    };
    let warmup = Duration::from_secs(args.warmup);
    let measure = Duration::from_secs(args.seconds);
    let mut results = Vec::new();
    let all_cases = cases::all(&admin, &seeded, sizes).await?;
    if let Some(case) = all_cases.iter().find(|c| !cases::NAMES.contains(&c.name)) {
        anyhow::bail!("case {} is missing from cases::NAMES", case.name);
    }
    let get_contact = all_cases
        .iter()
        .find(|case| case.name == "get_contact")
        .map(|case| case.spec.clone())
        .context("no get_contact case")?;
    for case in all_cases {
        if !wanted(case.name) {
            continue;
        }
        if builds.len() > 1 {
            eprintln!(
                "{}: API, candidate and baseline in turn (A B B A)…",
                case.name
            );
        } else {
            eprintln!("{}: API…", case.name);
        }
        let mark = slow_log.mark();
        let samples = sbs::measure(&builds, &case.spec, args.concurrency, warmup, measure).await?;
        let slow = slow_log.since(mark);
        eprintln!("{}: pgbench…", case.name);
        let vars: Vec<(&str, String)> = case.vars.iter().map(|(k, v)| (*k, v.clone())).collect();
        let ceiling = tokio::task::block_in_place(|| {
            pgbench.run(
                case.name,
                &case.script,
                &vars,
                args.concurrency,
                warmup,
                measure,
            )
        })?;
        let ceiling = Measured::new(ceiling.latencies, ceiling.seconds, ceiling.errors);
        let mut samples = builds.iter().zip(samples).map(|(build, sample)| {
            if let Some(err) = &sample.first_error {
                eprintln!("  {}: first error: {err}", build.name);
            }
            sample.finish()
        });
        let (api, cost) = samples.next().context("no candidate sample")?;
        let mut result = CaseResult::new(case.name, case.label, api, ceiling, cost);
        result.slow = slow;
        if let Some((api, cost)) = samples.next() {
            result = result.with_baseline(api, cost);
        }
        eprintln!("  {}", result.summary());
        if let Some(b) = &result.baseline {
            eprintln!(
                "  baseline: {}",
                report::build_summary(&b.api, b.ratio, &b.cost)
            );
        }
        results.push(result);
    }

    let many = if wanted(MANY_CONNECTIONS) {
        eprintln!(
            "{MANY_CONNECTIONS}: {} connections, {} busy…",
            args.connections, args.concurrency
        );
        let reference = results.iter().find(|c| c.name == "get_contact");
        let p99s: Vec<Option<f64>> = builds
            .iter()
            .enumerate()
            .map(|(i, _)| {
                reference.and_then(|c| match i {
                    0 => Some(c.api.p99_ms),
                    _ => c.baseline.as_ref().map(|b| b.api.p99_ms),
                })
            })
            .collect();
        let result = many::measure(
            &builds,
            &get_contact,
            args.connections,
            args.concurrency,
            warmup,
            measure,
            &p99s,
        )
        .await?;
        for b in &result.builds {
            eprintln!(
                "  {}: busy {:.0}/s, p99 {:.2} ms, server {:.0} µs CPU/req, RSS {:.1} MB (peak {:.1}), \
                 {} idle closed, {} failed",
                b.build,
                b.busy.per_second,
                b.busy.p99_ms,
                b.cost.server_cpu_us,
                b.rss_mb,
                b.peak_rss_mb,
                b.idle_closed,
                b.idle_failed
            );
        }
        Some(result)
    } else {
        None
    };

    // Each build's memory over the same work; then the baseline stops, so its webhook
    // worker cannot claim deliveries the candidate's measurements wait for.
    let memory: Vec<BuildMemory> = if builds.len() > 1 {
        builds
            .iter()
            .map(|b| BuildMemory {
                build: b.name,
                idle_rss_mb: b.idle_rss_mb,
                peak_rss_mb: b.server.peak_rss_mb(),
            })
            .collect()
    } else {
        Vec::new()
    };
    while builds.len() > 1 {
        if let Some(baseline) = builds.pop() {
            baseline.server.stop().await?;
        }
    }
    let candidate = builds.pop().context("no candidate server")?;
    let server = candidate.server;
    let target = candidate.target;
    let idle_rss = candidate.idle_rss_mb;

    let rate_store = if wanted(RATE_STORE) {
        store::measure(&store::Setup {
            bin: &args.server_bin,
            database_url: &database_url,
            worker_database_url: &worker_database_url,
            pool_size: args.pool_size,
            api_key: &seeded.api_key,
            spec: get_contact,
            concurrency: args.concurrency,
            warmup,
            measure,
        })
        .await?
    } else {
        Vec::new()
    };

    eprintln!("webhooks (candidate only)…");
    let webhooks = hooks::measure(
        &target,
        &admin,
        seeded.tenant_id,
        args.webhook_rate,
        args.webhook_backlog,
    )
    .await?;
    let exports = if wanted(EXPORTS) {
        eprintln!("exports (candidate only)…");
        exports::measure(&target, &admin, seeded.tenant_id).await?
    } else {
        Vec::new()
    };
    let imports = if wanted(IMPORTS) {
        eprintln!("imports (candidate only)…");
        imports::measure(&target, &admin).await?
    } else {
        Vec::new()
    };
    let peak_rss = server.peak_rss_mb();
    server.stop().await?;
    let _ = std::fs::remove_dir_all(&workdir);

    let mut report = Report::new(
        args.concurrency,
        args.seconds,
        report::Seeding {
            sizes,
            noise_tenants: args.noise_tenants,
            seconds: seed_seconds,
            database_mb,
            shared_buffers: shared_buffers.clone(),
        },
        results,
        rate_store,
        webhooks,
        idle_rss,
        peak_rss,
    );
    report.memory = memory;
    report.exports = exports;
    report.imports = imports;
    report.slow = slow_log.since(measured_from);
    report.many_connections = many;
    println!("{}", report.table());
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let json = args.out.join("latest.json");
    std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")?;
    let chart = args.out.join("chart.svg");
    report::chart(&report, &chart)?;
    eprintln!("wrote {} and {}", json.display(), chart.display());
    Ok(())
}

/// Raises this process's soft limit on open files to its hard limit when it is below
/// `needed` (the servers and pgbench, started later, inherit it). Says so when even the
/// hard limit is short: connections beyond it would fail, and be reported as failed.
fn raise_open_files(needed: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= needed {
        return;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => eprintln!("open files: soft limit raised from {soft} to {hard}"),
        Err(err) => eprintln!("open files: cannot raise the soft limit {soft}: {err}"),
    }
    if hard < needed {
        eprintln!("open files: the hard limit {hard} is below the {needed} this run needs");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn no_selection_runs_every_case() {
        for name in known_cases().into_iter().filter(|n| *n != NONE) {
            assert!(wanted(&[], name), "{name}");
        }
    }

    #[test]
    fn none_runs_no_case() {
        let none = selected(&[NONE]);
        for name in known_cases().into_iter().filter(|n| *n != NONE) {
            assert!(!wanted(&none, name), "{name}");
        }
    }

    #[test]
    fn many_connections_brings_its_reference() {
        let many = selected(&[MANY_CONNECTIONS]);
        assert!(wanted(&many, MANY_CONNECTIONS));
        assert!(wanted(&many, "get_contact"));
        assert!(!wanted(&many, "list_contacts"));
        assert!(!wanted(&many, RATE_STORE));
    }
}
