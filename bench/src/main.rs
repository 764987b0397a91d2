//! `momentum-bench`: the release server against its database ceiling, in one run on one
//! machine. Run it through `bench/run` (it builds both binaries in release first).
//!
//! 1. a disposable PostgreSQL (the one the tests use), seeded with one tenant's data;
//! 2. each API case under a closed-loop load at a fixed concurrency, then `pgbench`
//!    running the same SQL transaction at the same concurrency: the ceiling;
//! 3. webhooks: latency from a committed change to a local receiver, and the rate at
//!    which a backlog drains;
//! 4. the server's peak resident memory;
//! 5. the rate-limit store's cost: a read against a server whose limits are in process,
//!    then one whose limits are in Redis (`store.rs`);
//!
//! then prints the table and writes it as JSON and as a chart.

mod cases;
mod cost;
mod hooks;
mod load;
mod pgbench;
mod report;
mod seed;
mod server;
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
use crate::report::{CaseResult, Measured, Report};
use crate::seed::Sizes;
use crate::server::Server;

#[derive(Debug, Parser)]
#[command(
    name = "momentum-bench",
    about = "Benchmark Momentum against its database ceiling"
)]
struct Args {
    /// The release `momentum` binary to measure.
    #[arg(long, default_value = "target/release/momentum")]
    server_bin: PathBuf,
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
    /// Only these cases (comma-separated names); default all.
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.server_bin.exists(),
        "{} not found: build it with `cargo build --release -p momentum-server` (bench/run does)",
        args.server_bin.display()
    );
    let sizes = Sizes {
        contacts: args.contacts,
        companies: args.companies,
        leads: args.leads,
    };

    eprintln!("starting a disposable PostgreSQL…");
    let disposable = tokio::task::spawn_blocking(Disposable::shared).await?;
    let cluster = &disposable.cluster;
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
    let server = Server::start(
        &args.server_bin,
        &database_url,
        &worker_database_url,
        args.pool_size,
        &[],
    )
    .await?;
    let target = Target {
        addr: server.addr,
        api_key: seeded.api_key.clone(),
    };
    if args.hold {
        println!("server: http://{} (pid {:?})", server.addr, server.pid());
        println!("api key: {}", seeded.api_key);
        println!(
            "psql: psql -h {} -p 5432 -U postgres {database}",
            socket.display()
        );
        tokio::signal::ctrl_c().await?;
        return server.stop().await;
    }
    let idle_rss = server.rss_mb();

    let workdir = std::env::temp_dir().join(format!("momentum-bench-{}", std::process::id()));
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
    let wanted = |name: &str| args.cases.is_empty() || args.cases.iter().any(|c| c == name);
    let all_cases = cases::all(&admin, &seeded, sizes).await?;
    let get_contact = all_cases
        .iter()
        .find(|case| case.name == "get_contact")
        .map(|case| case.spec.clone())
        .context("no get_contact case")?;
    for case in all_cases {
        if !wanted(case.name) {
            continue;
        }
        eprintln!("{}: API…", case.name);
        // Warm up apart, so the cost window below holds only measured requests.
        load::run(
            &target,
            args.concurrency,
            Duration::ZERO,
            warmup,
            case.spec.clone(),
        )
        .await?;
        let before = probe.snapshot(server.pid(), None).await?;
        let api = load::run(
            &target,
            args.concurrency,
            Duration::ZERO,
            measure,
            case.spec.clone(),
        )
        .await?;
        let after = probe.snapshot(server.pid(), Some(&before)).await?;
        if let Some(err) = &api.first_error {
            eprintln!("  first error: {err}");
        }
        let api = Measured::new(api.latencies, api.seconds, api.errors);
        let cost = after.since(&before, api.requests);
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
        let result = CaseResult::new(case.name, case.label, api, ceiling, cost);
        eprintln!("  {}", result.summary());
        results.push(result);
    }

    let rate_store = if wanted("rate_store") {
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

    eprintln!("webhooks…");
    let webhooks = hooks::measure(
        &target,
        &admin,
        seeded.tenant_id,
        args.webhook_rate,
        args.webhook_backlog,
    )
    .await?;
    let peak_rss = server.peak_rss_mb();
    server.stop().await?;
    let _ = std::fs::remove_dir_all(&workdir);

    let report = Report::new(
        args.concurrency,
        args.seconds,
        report::Seeding {
            sizes,
            noise_tenants: args.noise_tenants,
            seconds: seed_seconds,
            database_mb,
        },
        results,
        rate_store,
        webhooks,
        idle_rss,
        peak_rss,
    );
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
