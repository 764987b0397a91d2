//! The results: a Markdown table for the terminal and the README, JSON for machines, and
//! an SVG chart of throughput against the ceiling.

use std::fmt::Write;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::cost::Cost;
use crate::hooks::WebhookResult;
use crate::seed::Sizes;
use crate::store::StoreResult;

#[derive(Debug, Serialize)]
pub struct Measured {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub errors: u64,
}

impl Measured {
    pub fn new(mut latencies: crate::stats::Latencies, seconds: f64, errors: u64) -> Self {
        Self {
            per_second: latencies.len() as f64 / seconds,
            p50_ms: latencies.percentile_ms(0.50),
            p99_ms: latencies.percentile_ms(0.99),
            requests: latencies.len() as u64,
            errors,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CaseResult {
    pub name: &'static str,
    pub label: &'static str,
    pub api: Measured,
    pub ceiling: Measured,
    /// API requests/s over pgbench transactions/s.
    pub ratio: f64,
    /// What one API request cost over the measured window (`cost.rs`).
    pub cost: Cost,
}

impl CaseResult {
    pub fn new(
        name: &'static str,
        label: &'static str,
        api: Measured,
        ceiling: Measured,
        cost: Cost,
    ) -> Self {
        let ratio = if ceiling.per_second > 0.0 {
            api.per_second / ceiling.per_second
        } else {
            0.0
        };
        Self {
            name,
            label,
            api,
            ceiling,
            ratio,
            cost,
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "API {:.0}/s (p50 {:.2}, p99 {:.2} ms, {} errors), pgbench {:.0}/s (p99 {:.2} ms): \
             {:.2}; per request: server {:.0} µs, PostgreSQL {:.0} µs CPU, {} round trips",
            self.api.per_second,
            self.api.p50_ms,
            self.api.p99_ms,
            self.api.errors,
            self.ceiling.per_second,
            self.ceiling.p99_ms,
            self.ratio,
            self.cost.server_cpu_us,
            self.cost.postgres_cpu_us,
            round_trips(&self.cost)
        )
    }
}

/// Round trips per request to one decimal, or a dash when they were not counted.
fn round_trips(cost: &Cost) -> String {
    cost.round_trips
        .map_or("–".to_owned(), |n| format!("{n:.1}"))
}

/// What was seeded, how long it took and how big the database came out.
#[derive(Debug, Serialize)]
pub struct Seeding {
    #[serde(flatten)]
    pub sizes: Sizes,
    /// Tenants beside the measured one, each seeded with `sizes`.
    pub noise_tenants: u32,
    pub seconds: f64,
    pub database_mb: f64,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub postgres: String,
}

impl Machine {
    fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kb: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let command = |program: &str, arg: &str| {
            std::process::Command::new(program)
                .arg(arg)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        let pgbench = crate::pgbench::PgBench::find();
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: (memory_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: command("uname", "-r"),
            postgres: command(&pgbench.to_string_lossy(), "--version"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub machine: Machine,
    pub concurrency: usize,
    pub seconds: u64,
    pub seeded: Seeding,
    pub cases: Vec<CaseResult>,
    /// `GET /v1/contacts/{id}` with the rate limits in process, then in Redis.
    pub rate_store: Vec<StoreResult>,
    pub webhooks: WebhookResult,
    pub server_rss_idle_mb: f64,
    pub server_rss_peak_mb: f64,
}

impl Report {
    pub fn new(
        concurrency: usize,
        seconds: u64,
        seeded: Seeding,
        cases: Vec<CaseResult>,
        rate_store: Vec<StoreResult>,
        webhooks: WebhookResult,
        server_rss_idle_mb: f64,
        server_rss_peak_mb: f64,
    ) -> Self {
        Self {
            date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            machine: Machine::read(),
            concurrency,
            seconds,
            seeded,
            cases,
            rate_store,
            webhooks,
            server_rss_idle_mb,
            server_rss_peak_mb,
        }
    }

    /// Markdown, as pasted into the README.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let m = &self.machine;
        let _ =
            writeln!(
            t,
            "{} · {} cores · {} GiB · Linux {} · {} · {}; concurrency {}, {} s per measurement\n",
            m.cpu, m.cores, m.memory_gib, m.kernel, m.postgres, self.date, self.concurrency,
            self.seconds
        );
        let s = &self.seeded;
        let _ = writeln!(
            t,
            "{} tenant(s) of {} contacts, {} companies, {} leads ({} noise); seeded in {:.0} s, \
             database {:.0} MB\n",
            1 + s.noise_tenants,
            s.sizes.contacts,
            s.sizes.companies,
            s.sizes.leads,
            s.noise_tenants,
            s.seconds,
            s.database_mb
        );
        t.push_str(
            "| case | API req/s | API p50 ms | API p99 ms | errors | pgbench tx/s | pgbench p50 ms | pgbench p99 ms | API / ceiling | server CPU µs/req | PostgreSQL CPU µs/req | round trips/req |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for c in &self.cases {
            let _ = writeln!(
                t,
                "| {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} | **{:.2}** | {:.0} | {:.0} | {} |",
                c.label,
                c.api.per_second,
                c.api.p50_ms,
                c.api.p99_ms,
                c.api.errors + c.ceiling.errors,
                c.ceiling.per_second,
                c.ceiling.p50_ms,
                c.ceiling.p99_ms,
                c.ratio,
                c.cost.server_cpu_us,
                c.cost.postgres_cpu_us,
                round_trips(&c.cost)
            );
        }
        if !self.rate_store.is_empty() {
            t.push_str(
                "\n| rate limits kept (GET /v1/contacts/{id}) | req/s | p50 ms | p99 ms | errors | server CPU µs/req | Redis CPU µs/req |\n\
                 |---|---:|---:|---:|---:|---:|---:|\n",
            );
            for r in &self.rate_store {
                let redis = r
                    .redis_cpu_us
                    .map_or("–".to_owned(), |us| format!("{us:.0}"));
                let _ = writeln!(
                    t,
                    "| {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {} |",
                    r.store,
                    r.api.per_second,
                    r.api.p50_ms,
                    r.api.p99_ms,
                    r.api.errors,
                    r.server_cpu_us,
                    redis
                );
            }
        }
        let w = &self.webhooks;
        let _ = writeln!(
            t,
            "\n| webhooks | |\n|---|---:|\n\
             | commit → receiver p50 | {:.1} ms |\n\
             | commit → receiver p99 | {:.1} ms |\n\
             | backlog of {} drained at | {:.0} deliveries/s |\n\
             | invalid signatures | {} |\n\
             | server RSS idle / peak | {:.1} MB / {:.1} MB |",
            w.latency_p50_ms,
            w.latency_p99_ms,
            w.backlog,
            w.deliveries_per_second,
            w.invalid_signatures,
            self.server_rss_idle_mb,
            self.server_rss_peak_mb
        );
        t
    }
}

/// Grouped bars: API req/s beside the pgbench ceiling per case, the ratio above each pair.
pub fn chart(report: &Report, path: &Path) -> anyhow::Result<()> {
    let cases = &report.cases;
    let top = cases
        .iter()
        .map(|c| c.api.per_second.max(c.ceiling.per_second))
        .fold(1.0_f64, f64::max)
        * 1.15;
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Momentum API vs pgbench ceiling ({} connections, {})",
                report.concurrency, report.date
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..cases.len() as f64, 0.0..top)?;
    let labels: Vec<&str> = cases.iter().map(|c| c.name).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(cases.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < labels.len() {
                labels[i].to_owned()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("requests (transactions) per second")
        .draw()?;
    let api = RGBColor(37, 99, 235);
    let ceiling = RGBColor(156, 163, 175);
    for (i, c) in cases.iter().enumerate() {
        let x = i as f64;
        chart.draw_series([
            Rectangle::new([(x + 0.12, 0.0), (x + 0.5, c.api.per_second)], api.filled()),
            Rectangle::new(
                [(x + 0.5, 0.0), (x + 0.88, c.ceiling.per_second)],
                ceiling.filled(),
            ),
        ])?;
        chart.draw_series([Text::new(
            format!("{:.2}×", c.ratio),
            (
                x + 0.38,
                c.api.per_second.max(c.ceiling.per_second) + top * 0.02,
            ),
            ("sans-serif", 15),
        )])?;
    }
    chart
        .draw_series([Rectangle::new([(0.0, 0.0), (0.0, 0.0)], api.filled())])?
        .label("API (release server)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], api.filled()));
    chart
        .draw_series([Rectangle::new([(0.0, 0.0), (0.0, 0.0)], ceiling.filled())])?
        .label("pgbench, same SQL (ceiling)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], ceiling.filled()));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}
