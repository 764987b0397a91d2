//! The results: a Markdown table for the terminal and the README, JSON for machines, and
//! an SVG chart of throughput against the ceiling.

use std::fmt::Write;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::cost::Cost;
use crate::hooks::WebhookResult;
use crate::many::{ManyResult, IDLE_TIMEOUT_SETTING};
use crate::seed::Sizes;
use crate::slow::{self, Slow};
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
    /// Statements the cluster logged as slower than a second during the API window (its
    /// warm-up included;
    /// both builds' with `--baseline-bin`; `slow.rs`).
    pub slow: Slow,
    /// The same case against `--baseline-bin`, measured in the same slices' plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
}

/// The baseline build's figures of a case (the ratio against the same pgbench run).
#[derive(Debug, Serialize)]
pub struct Baseline {
    pub api: Measured,
    pub cost: Cost,
    pub ratio: f64,
}

/// Requests/s over transactions/s (0 without a ceiling).
fn ratio(api: &Measured, ceiling: &Measured) -> f64 {
    if ceiling.per_second > 0.0 {
        api.per_second / ceiling.per_second
    } else {
        0.0
    }
}

/// The change from `before` to `after` in percent; `None` when there is nothing to
/// compare with (a `before` of 0).
pub fn change_pct(before: f64, after: f64) -> Option<f64> {
    (before != 0.0 && before.is_finite() && after.is_finite())
        .then(|| (after - before) / before * 100.0)
}

/// `before → after (+x%)`, each figure with `decimals` decimals.
pub fn before_after(before: f64, after: f64, decimals: usize) -> String {
    let change = change_pct(before, after).map_or("–".to_owned(), |c| format!("{c:+.1}%"));
    format!("{before:.decimals$} → {after:.decimals$} ({change})")
}

/// The same for figures that may be missing (round trips without `pg_stat_statements`).
fn before_after_opt(before: Option<f64>, after: Option<f64>, decimals: usize) -> String {
    match before.zip(after) {
        Some((b, a)) => before_after(b, a, decimals),
        None => "–".to_owned(),
    }
}

/// Each build's memory: idle after start-up, and the high-water mark once the cases (and
/// `many_connections`) have run, before the candidate alone runs the webhooks.
#[derive(Debug, Serialize)]
pub struct BuildMemory {
    pub build: &'static str,
    pub idle_rss_mb: f64,
    pub peak_rss_mb: f64,
}

/// `met` or `not met`, in bold, for a target's summary line.
fn met(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**not met**"
    }
}

/// The issue's targets for many connections.
pub const MANY_RSS_TARGET_MB: f64 = 100.0;
pub const MANY_P99_TARGET_RATIO: f64 = 2.0;

impl CaseResult {
    pub fn new(
        name: &'static str,
        label: &'static str,
        api: Measured,
        ceiling: Measured,
        cost: Cost,
    ) -> Self {
        Self {
            name,
            label,
            ratio: ratio(&api, &ceiling),
            api,
            ceiling,
            cost,
            slow: Slow::default(),
            baseline: None,
        }
    }

    pub fn with_baseline(mut self, api: Measured, cost: Cost) -> Self {
        self.baseline = Some(Baseline {
            ratio: ratio(&api, &self.ceiling),
            api,
            cost,
        });
        self
    }

    pub fn summary(&self) -> String {
        format!(
            "{}; pgbench {:.0}/s (p99 {:.2} ms); {}",
            build_summary(&self.api, self.ratio, &self.cost),
            self.ceiling.per_second,
            self.ceiling.p99_ms,
            slow_summary(&self.slow),
        )
    }
}

/// One build's figures of a case, for the progress lines: its load, its ratio to the
/// ceiling and its cost per request.
pub fn build_summary(api: &Measured, ratio: f64, cost: &Cost) -> String {
    format!(
        "API {:.0}/s (p50 {:.2}, p99 {:.2} ms, {} errors): {:.2}; per request: server {:.0} µs, \
         PostgreSQL {:.0} µs CPU, {} round trips",
        api.per_second,
        api.p50_ms,
        api.p99_ms,
        api.errors,
        ratio,
        cost.server_cpu_us,
        cost.postgres_cpu_us,
        round_trips(cost)
    )
}

/// `n statements over 1s (slowest x ms: its text)`.
fn slow_summary(slow: &Slow) -> String {
    let slowest = slow.slowest_ms.map_or(String::new(), |ms| {
        format!(
            " (slowest {ms:.0} ms: {})",
            slow.slowest.as_deref().unwrap_or("")
        )
    });
    format!(
        "{} statements over {}{slowest}",
        slow.statements,
        slow::THRESHOLD
    )
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
    /// The cluster's `shared_buffers` (`--shared-buffers`).
    pub shared_buffers: String,
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
        let memory_kb = crate::cost::proc_kb(&meminfo, "MemTotal:").unwrap_or(0) as f64;
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
    /// Every seeded contact exported, per format (`--cases exports`, or all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<crate::exports::ExportResult>,
    /// 100,000 contacts imported, exported and imported again (`--cases imports`, or all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<crate::imports::ImportResult>,
    pub server_rss_idle_mb: f64,
    pub server_rss_peak_mb: f64,
    /// Per build with `--baseline-bin` (empty without).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub memory: Vec<BuildMemory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub many_connections: Option<ManyResult>,
    /// Statements logged as slower than a second from the end of seeding to the end of
    /// the run: every API window, pgbench, many connections, the rate-limit store and
    /// the webhooks.
    pub slow: Slow,
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
            exports: Vec::new(),
            imports: Vec::new(),
            server_rss_idle_mb,
            server_rss_peak_mb,
            memory: Vec::new(),
            many_connections: None,
            slow: Slow::default(),
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
             database {:.0} MB, shared_buffers {}\n",
            1 + s.noise_tenants,
            s.sizes.contacts,
            s.sizes.companies,
            s.sizes.leads,
            s.noise_tenants,
            s.seconds,
            s.database_mb,
            s.shared_buffers
        );
        t.push_str(
            "| case | API req/s | API p50 ms | API p99 ms | errors | pgbench tx/s | pgbench p50 ms | pgbench p99 ms | API / ceiling | server CPU µs/req | PostgreSQL CPU µs/req | round trips/req | statements > 1 s |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for c in &self.cases {
            let _ = writeln!(
                t,
                "| {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} | **{:.2}** | {:.0} | {:.0} | {} | {} |",
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
                round_trips(&c.cost),
                c.slow.statements
            );
        }
        let _ = writeln!(
            t,
            "\nFrom the end of seeding to the end of the run (pgbench and every other \
             measurement included): {}.",
            slow_summary(&self.slow)
        );
        if self.cases.iter().any(|c| c.baseline.is_some()) {
            t.push_str(&self.side_by_side());
        }
        if let Some(many) = &self.many_connections {
            t.push_str(&many_table(many));
        }
        if !self.memory.is_empty() {
            t.push_str("\n| memory (RSS) | idle | peak over the cases |\n|---|---:|---:|\n");
            for m in &self.memory {
                let _ = writeln!(
                    t,
                    "| {} | {:.1} MB | {:.1} MB |",
                    m.build, m.idle_rss_mb, m.peak_rss_mb
                );
            }
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
        if !self.exports.is_empty() {
            let _ = writeln!(
                t,
                "\n| export of every contact | rows | file MB | worker s | rows/s | download s | download MB/s |\n\
                 |---|---:|---:|---:|---:|---:|---:|"
            );
            for e in &self.exports {
                let _ = writeln!(
                    t,
                    "| {} | {} | {:.1} | {:.2} | {:.0} | {:.2} | {:.0} |",
                    e.format,
                    e.rows,
                    e.file_mb,
                    e.seconds,
                    e.rows_per_second,
                    e.download_seconds,
                    e.download_mb_per_second
                );
            }
        }
        if !self.imports.is_empty() {
            t.push_str(&imports_table(&self.imports));
        }
        t
    }
}

/// The imports' table: an export row shows no upload.
fn imports_table(imports: &[crate::imports::ImportResult]) -> String {
    let mut t = String::from(
        "\n| 100,000 contacts | rows | file MB | upload s | worker s | rows/s |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for i in imports {
        let upload = i
            .upload_seconds
            .map_or_else(|| "–".to_owned(), |s| format!("{s:.2}"));
        let _ = writeln!(
            t,
            "| {} | {} | {:.1} | {upload} | {:.2} | {:.0} |",
            i.step, i.rows, i.file_mb, i.seconds, i.rows_per_second
        );
    }
    t
}

impl Report {
    /// Before (the baseline) → after (the candidate), per case: every figure of both
    /// builds from the same run's interleaved slices.
    fn side_by_side(&self) -> String {
        let mut t = String::from(
            "\nSide by side, baseline → candidate (`--baseline-bin` → `--server-bin`), \
             the same run (both warmed up, then slices A B B A, B A A B…):\n\n\
             | case | API req/s | API p50 ms | API p99 ms | API / ceiling | server CPU µs/req | PostgreSQL CPU µs/req | round trips/req | errors |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for c in &self.cases {
            let Some(b) = &c.baseline else { continue };
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} → {} |",
                c.label,
                before_after(b.api.per_second, c.api.per_second, 0),
                before_after(b.api.p50_ms, c.api.p50_ms, 2),
                before_after(b.api.p99_ms, c.api.p99_ms, 2),
                before_after(b.ratio, c.ratio, 2),
                before_after(b.cost.server_cpu_us, c.cost.server_cpu_us, 0),
                before_after(b.cost.postgres_cpu_us, c.cost.postgres_cpu_us, 0),
                before_after_opt(b.cost.round_trips, c.cost.round_trips, 1),
                b.api.errors,
                c.api.errors
            );
        }
        t
    }
}

/// The many-connections case: one row per build, then the issue's targets.
fn many_table(many: &ManyResult) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\n| {} connections ({} idle, {} busy: GET /v1/contacts/{{id}}) | busy req/s | p50 ms | p99 ms | p99 / get_contact p99 | server CPU µs/req | RSS, all open | peak RSS | idle closed / failed |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|",
        many.connections, many.idle, many.busy_connections
    );
    for b in &many.builds {
        let ratio = b
            .p99_vs_get_contact
            .map_or("–".to_owned(), |r| format!("{r:.2}×"));
        let _ = writeln!(
            t,
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.1} MB | {:.1} MB | {} / {} |",
            b.build,
            b.busy.per_second,
            b.busy.p50_ms,
            b.busy.p99_ms,
            ratio,
            b.cost.server_cpu_us,
            b.rss_mb,
            b.peak_rss_mb,
            b.idle_closed,
            b.idle_failed
        );
    }
    t.push('\n');
    for b in &many.builds {
        let _ = writeln!(
            t,
            "- {}: RSS with {} connections open under {MANY_RSS_TARGET_MB:.0} MB: {} ({:.1} MB)",
            b.build,
            many.connections,
            met(b.rss_mb > 0.0 && b.rss_mb < MANY_RSS_TARGET_MB),
            b.rss_mb
        );
        let _ = match b.p99_vs_get_contact {
            Some(r) => writeln!(
                t,
                "- {}: busy p99 within {MANY_P99_TARGET_RATIO:.0}× of the {}-connection get_contact run: {} ({r:.2}×)",
                b.build,
                many.busy_connections,
                met(r <= MANY_P99_TARGET_RATIO)
            ),
            None => writeln!(
                t,
                "- {}: busy p99 within {MANY_P99_TARGET_RATIO:.0}× of the {}-connection get_contact run: – (no get_contact figure)",
                b.build, many.busy_connections
            ),
        };
        if b.idle_closed > 0 || b.idle_failed > 0 {
            let _ = writeln!(
                t,
                "- {}: **error**: {} idle connections closed by the server before the end of the window, \
                 {} failed to open (the server closes a keep-alive connection idle for {IDLE_TIMEOUT_SETTING}, 30 s by default)",
                b.build, b.idle_closed, b.idle_failed
            );
        }
    }
    t
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::many::ManyBuild;
    use crate::stats::Latencies;

    fn measured(per_second: f64, p99_ms: f64) -> Measured {
        Measured {
            per_second,
            p50_ms: p99_ms / 2.0,
            p99_ms,
            requests: 1,
            errors: 0,
        }
    }

    #[test]
    fn the_change_is_relative_to_the_baseline() {
        assert_eq!(change_pct(200.0, 150.0), Some(-25.0));
        assert_eq!(change_pct(100.0, 110.0).map(|c| c.round()), Some(10.0));
        assert_eq!(change_pct(0.0, 5.0), None);
        assert_eq!(before_after(150.0, 75.0, 0), "150 → 75 (-50.0%)");
        assert_eq!(before_after(1.5, 1.5, 2), "1.50 → 1.50 (+0.0%)");
        assert_eq!(before_after(0.0, 1.0, 1), "0.0 → 1.0 (–)");
        assert_eq!(before_after_opt(Some(4.0), None, 1), "–");
    }

    #[test]
    fn a_baseline_is_compared_with_the_same_ceiling() {
        let result = CaseResult::new(
            "get_contact",
            "GET",
            measured(800.0, 2.0),
            measured(1_000.0, 1.0),
            Cost::default(),
        )
        .with_baseline(measured(400.0, 4.0), Cost::default());
        assert!((result.ratio - 0.8).abs() < 1e-9);
        let baseline = result.baseline.as_ref().map(|b| b.ratio);
        assert!(baseline.is_some_and(|r| (r - 0.4).abs() < 1e-9));
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(json["baseline"]["api"]["per_second"], 400.0);
        // Without a baseline the JSON is as it was.
        let alone = CaseResult::new(
            "get_contact",
            "GET",
            measured(800.0, 2.0),
            measured(1_000.0, 1.0),
            Cost::default(),
        );
        assert!(serde_json::to_value(&alone)
            .unwrap()
            .get("baseline")
            .is_none());
    }

    fn many_build(rss_mb: f64, ratio: Option<f64>, closed: u64) -> ManyBuild {
        ManyBuild {
            build: "candidate",
            busy: Measured::new(Latencies::default(), 1.0, 0),
            cost: Cost::default(),
            rss_mb,
            peak_rss_mb: rss_mb,
            idle_failed: 0,
            idle_closed: closed,
            p99_vs_get_contact: ratio,
        }
    }

    fn many(builds: Vec<ManyBuild>) -> ManyResult {
        ManyResult {
            connections: 1000,
            idle: 984,
            busy_connections: 16,
            builds,
        }
    }

    #[test]
    fn the_imports_table_is_a_markdown_table() {
        let row = |step, upload_seconds| crate::imports::ImportResult {
            step,
            rows: 100_000,
            file_mb: 6.9,
            upload_seconds,
            seconds: 78.4,
            rows_per_second: 1275.0,
        };
        let table = imports_table(&[row("import", Some(0.02)), row("export", None)]);
        let lines: Vec<&str> = table.trim().lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines.iter().all(|l| l.starts_with('|')), "{table}");
        assert_eq!(lines[2], "| import | 100000 | 6.9 | 0.02 | 78.40 | 1275 |");
        assert_eq!(lines[3], "| export | 100000 | 6.9 | – | 78.40 | 1275 |");
    }

    #[test]
    fn many_connections_targets_are_met_or_not() {
        let table = many_table(&many(vec![many_build(45.0, Some(1.5), 0)]));
        assert!(table.contains("under 100 MB: **met** (45.0 MB)"), "{table}");
        assert!(
            table.contains("get_contact run: **met** (1.50×)"),
            "{table}"
        );
        assert!(!table.contains("error"), "{table}");

        let table = many_table(&many(vec![many_build(120.0, Some(2.5), 3)]));
        assert!(
            table.contains("under 100 MB: **not met** (120.0 MB)"),
            "{table}"
        );
        assert!(
            table.contains("get_contact run: **not met** (2.50×)"),
            "{table}"
        );
        assert!(
            table.contains("**error**: 3 idle connections closed"),
            "{table}"
        );
        assert!(table.contains(IDLE_TIMEOUT_SETTING), "{table}");

        let table = many_table(&many(vec![many_build(45.0, None, 0)]));
        assert!(table.contains("– (no get_contact figure)"), "{table}");
    }
}
