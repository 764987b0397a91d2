//! Two builds side by side in one run (`--baseline-bin`): both servers up against the
//! same database, each case measured in slices whose order cancels a linear drift of
//! the machine (cycles of A B B A, after both builds' warm-ups), and every build's
//! slices summed.

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

/// One step of a case's plan: a build's warm-up (not counted), or a measured slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    WarmUp { build: usize },
    Measure { build: usize, measure: Duration },
}

/// Measured slices are at least this long: every slice loses the requests in flight at
/// its end (about half a latency per connection), which a short slice would feel.
const MIN_SLICE: Duration = Duration::from_secs(2);

/// The steps of a case. One build: its warm-up, then one slice of the whole time. Two:
/// both warm up first (the first load after the seed also warms PostgreSQL's caches and
/// sets hint bits, a cost no build's measured slice should carry alone), then cycles
/// of A B B A and B A A B in turn, as many as keep a slice at least [`MIN_SLICE`] long,
/// each build measuring the same total time. A machine that slows down (or speeds up) steadily weighs on both
/// builds alike within each cycle, and the shorter the cycles the better they follow
/// a neighbour's load that comes and goes.
pub fn plan(builds: usize, measure: Duration) -> Vec<Step> {
    let mut steps: Vec<Step> = (0..builds).map(|build| Step::WarmUp { build }).collect();
    match builds {
        0 => {}
        1 => steps.push(Step::Measure { build: 0, measure }),
        _ => {
            // Two slices per build per cycle.
            let cycles = (measure.as_secs_f64() / (2.0 * MIN_SLICE.as_secs_f64())).floor();
            let cycles = (cycles as u32).max(1);
            let slice = measure / (2 * cycles);
            for cycle in 0..cycles {
                // A B B A, then B A A B: over two cycles each build holds each position
                // once, so nothing that favours a place in the cycle favours a build.
                let order = if cycle % 2 == 0 {
                    [0, 1, 1, 0]
                } else {
                    [1, 0, 0, 1]
                };
                for build in order {
                    steps.push(Step::Measure {
                        build,
                        measure: slice,
                    });
                }
            }
        }
    }
    steps
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

/// Load on `build` for `warmup`, not counted.
pub async fn warm_up(
    build: &Build,
    spec: &Spec,
    concurrency: usize,
    warmup: Duration,
) -> anyhow::Result<()> {
    load::run(
        &build.target,
        concurrency,
        Duration::ZERO,
        warmup,
        spec.clone(),
    )
    .await?;
    Ok(())
}

/// Runs one measured slice of `spec` against `build` and returns the load's outcome and
/// what the window cost.
pub async fn slice(
    build: &Build,
    spec: &Spec,
    concurrency: usize,
    measure: Duration,
) -> anyhow::Result<(load::Outcome, Usage)> {
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
    for step in plan(builds.len(), measure) {
        match step {
            Step::WarmUp { build } => warm_up(&builds[build], spec, concurrency, warmup).await?,
            Step::Measure { build, measure } => {
                let (outcome, usage) = slice(&builds[build], spec, concurrency, measure).await?;
                samples[build].add(outcome, usage);
            }
        }
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each build's measured slices: (start, length) in seconds from the first.
    fn slices(plan: &[Step], of: usize) -> Vec<(f64, f64)> {
        let mut at = 0.0;
        let mut mine = Vec::new();
        for step in plan {
            if let Step::Measure { build, measure } = step {
                let len = measure.as_secs_f64();
                if *build == of {
                    mine.push((at, len));
                }
                at += len;
            }
        }
        mine
    }

    #[test]
    fn one_build_warms_up_then_runs_once_for_the_whole_time() {
        let measure = Duration::from_secs(5);
        assert_eq!(
            plan(1, measure),
            vec![
                Step::WarmUp { build: 0 },
                Step::Measure { build: 0, measure }
            ]
        );
    }

    #[test]
    fn two_builds_warm_up_first_then_alternate_a_b_b_a() {
        for seconds in [2, 5, 10, 30] {
            let measure = Duration::from_secs(seconds);
            let plan = plan(2, measure);
            // Both warm up before any measured slice, and only then.
            assert_eq!(
                plan[..2],
                [Step::WarmUp { build: 0 }, Step::WarmUp { build: 1 }]
            );
            assert!(plan[2..].iter().all(|s| matches!(s, Step::Measure { .. })));
            let order: Vec<usize> = plan[2..]
                .iter()
                .map(|s| match s {
                    Step::Measure { build, .. } | Step::WarmUp { build } => *build,
                })
                .collect();
            for (i, cycle) in order.chunks(4).enumerate() {
                let expected = if i % 2 == 0 {
                    [0, 1, 1, 0]
                } else {
                    [1, 0, 0, 1]
                };
                assert_eq!(cycle, expected, "{seconds} s, cycle {i}");
            }
            let (a, b) = (slices(&plan, 0), slices(&plan, 1));
            for (build, mine) in [(0, &a), (1, &b)] {
                let total: f64 = mine.iter().map(|(_, len)| len).sum();
                assert!(
                    (total - measure.as_secs_f64()).abs() < 1e-6,
                    "build {build} measures the whole time"
                );
                assert!(mine
                    .iter()
                    .all(|(_, len)| *len >= 1.0 - 1e-9 || seconds < 4));
            }
            // The slices' midpoints average to the same instant for both builds: a
            // drift linear in time costs both the same.
            let centre =
                |mine: &[(f64, f64)]| mine.iter().map(|(at, len)| at + len / 2.0).sum::<f64>();
            assert!((centre(&a) - centre(&b)).abs() < 1e-6, "{seconds} s");
        }
    }

    #[test]
    fn long_measurements_are_cut_into_more_cycles() {
        let count = |seconds| {
            plan(2, Duration::from_secs(seconds))
                .iter()
                .filter(|s| matches!(s, Step::Measure { .. }))
                .count()
        };
        assert_eq!(count(2), 4);
        assert_eq!(count(10), 8);
        assert_eq!(count(30), 28);
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
