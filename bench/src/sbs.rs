//! Two builds side by side in one run (`--baseline-bin`): both servers up against the
//! same database, each case measured in slices whose order cancels a linear drift of
//! the machine (A B B A), and every build's slices summed.

use std::time::Duration;

use crate::cost::{Probe, Usage};
use crate::load::{self, Spec, Target};
use crate::report::Measured;
use crate::server::Server;
use crate::stats::Latencies;

/// One server under measurement: today's build (the candidate, `--server-bin`) or the
/// one it is compared with (`--baseline-bin`).
pub struct Build {
    /// `candidate` or `baseline`.
    pub name: &'static str,
    pub server: Server,
    pub target: Target,
    /// Counts only this server's backends (its `PGAPPNAME`).
    pub probe: Probe,
    pub idle_rss_mb: f64,
}

/// The `application_name` a build's server connects with, so each server's backends can
/// be told apart in `pg_stat_activity`.
pub fn application_name(build: &str) -> String {
    format!("momentum-bench-{build}")
}

/// One measured stretch of one build, preceded by its warm-up when it is the build's
/// first in the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub build: usize,
    pub warm_up: bool,
    pub measure: Duration,
}

/// The order of a case's slices. One build: one slice of the whole time. Two: A B B A,
/// half the time each, so a machine that slows down (or speeds up) steadily over the
/// case weighs on both builds alike; each build warms up before its first slice only.
pub fn plan(builds: usize, measure: Duration) -> Vec<Slice> {
    match builds {
        0 => Vec::new(),
        1 => vec![Slice {
            build: 0,
            warm_up: true,
            measure,
        }],
        _ => {
            let half = measure / 2;
            let slice = |build, warm_up| Slice {
                build,
                warm_up,
                measure: half,
            };
            vec![
                slice(0, true),
                slice(1, true),
                slice(1, false),
                slice(0, false),
            ]
        }
    }
}

/// What a build's slices of one case add up to.
#[derive(Debug, Default)]
pub struct Sample {
    pub latencies: Latencies,
    pub seconds: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub usage: Usage,
    /// No slice yet: the first one's usage replaces the default rather than adding to it
    /// (a default has no statement count, and adding to `None` would keep `None`).
    started: bool,
}

impl Sample {
    pub fn add(&mut self, outcome: load::Outcome, usage: Usage) {
        self.latencies.merge(outcome.latencies);
        self.seconds += outcome.seconds;
        self.errors += outcome.errors;
        if self.first_error.is_none() {
            self.first_error = outcome.first_error;
        }
        if self.started {
            self.usage += usage;
        } else {
            self.usage = usage;
            self.started = true;
        }
    }

    pub fn requests(&self) -> u64 {
        self.latencies.len() as u64
    }

    /// Throughput and latency, and the cost per request answered.
    pub fn finish(self) -> (Measured, crate::cost::Cost) {
        let cost = self.usage.per_request(self.requests());
        (
            Measured::new(self.latencies, self.seconds, self.errors),
            cost,
        )
    }
}

/// Runs one slice of `spec` against `build` (its warm-up apart, so the cost window holds
/// only measured requests) and returns the load's outcome and what the window cost.
pub async fn slice(
    build: &Build,
    spec: &Spec,
    concurrency: usize,
    warmup: Option<Duration>,
    measure: Duration,
) -> anyhow::Result<(load::Outcome, Usage)> {
    if let Some(warmup) = warmup {
        load::run(
            &build.target,
            concurrency,
            Duration::ZERO,
            warmup,
            spec.clone(),
        )
        .await?;
    }
    let pid = build.server.pid();
    let before = build.probe.snapshot(pid, None).await?;
    let outcome = load::run(
        &build.target,
        concurrency,
        Duration::ZERO,
        measure,
        spec.clone(),
    )
    .await?;
    let after = build.probe.snapshot(pid, Some(&before)).await?;
    Ok((outcome, after.usage_since(&before)))
}

/// Runs a case's whole plan over `builds`; one sample per build, in `builds`' order.
pub async fn measure(
    builds: &[Build],
    spec: &Spec,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Vec<Sample>> {
    let mut samples: Vec<Sample> = builds.iter().map(|_| Sample::default()).collect();
    for s in plan(builds.len(), measure) {
        let warm = s.warm_up.then_some(warmup);
        let (outcome, usage) = slice(&builds[s.build], spec, concurrency, warm, s.measure).await?;
        samples[s.build].add(outcome, usage);
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_build_runs_once_for_the_whole_time() {
        let plan = plan(1, Duration::from_secs(5));
        assert_eq!(
            plan,
            vec![Slice {
                build: 0,
                warm_up: true,
                measure: Duration::from_secs(5)
            }]
        );
    }

    #[test]
    fn two_builds_alternate_a_b_b_a_and_share_the_time_alike() {
        let measure = Duration::from_secs(5);
        let plan = plan(2, measure);
        let order: Vec<usize> = plan.iter().map(|s| s.build).collect();
        assert_eq!(order, vec![0, 1, 1, 0]);
        for build in 0..2 {
            let mine: Vec<&Slice> = plan.iter().filter(|s| s.build == build).collect();
            let total: Duration = mine.iter().map(|s| s.measure).sum();
            assert_eq!(total, measure, "build {build} measures the whole time");
            // Warmed up once, before its first slice.
            assert!(mine[0].warm_up);
            assert!(mine[1..].iter().all(|s| !s.warm_up));
        }
        // The slices' midpoints average to the same instant for both builds: a drift
        // linear in time costs both the same.
        let mut at = 0.0;
        let mut centre = [0.0; 2];
        for s in &plan {
            let len = s.measure.as_secs_f64();
            centre[s.build] += at + len / 2.0;
            at += len;
        }
        assert!((centre[0] - centre[1]).abs() < 1e-9);
    }

    #[test]
    fn a_sample_sums_its_slices() {
        let mut sample = Sample::default();
        let slice = |ms: u64, errors: u64| {
            let mut latencies = Latencies::default();
            latencies.record(Duration::from_millis(ms));
            load::Outcome {
                latencies,
                errors,
                first_error: None,
                seconds: 2.5,
            }
        };
        let usage = |server_ms: u64, statements: i64| Usage {
            server: Duration::from_millis(server_ms),
            postgres: Duration::from_millis(1),
            statements: Some(statements),
        };
        sample.add(slice(1, 0), usage(10, 3));
        sample.add(slice(3, 1), usage(30, 5));
        assert_eq!(sample.requests(), 2);
        assert_eq!(sample.seconds, 5.0);
        assert_eq!(sample.errors, 1);
        assert_eq!(sample.usage.server, Duration::from_millis(40));
        assert_eq!(sample.usage.statements, Some(8));
        let (api, cost) = sample.finish();
        assert_eq!(api.requests, 2);
        assert!((cost.server_cpu_us - 20_000.0).abs() < 1e-6);
        assert_eq!(cost.round_trips, Some(4.0));
    }
}
