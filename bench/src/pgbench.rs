//! The database ceiling: `pgbench -M prepared` running, as the runtime role and at the
//! same concurrency, the transaction the server runs for a case.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::stats::Latencies;

pub struct PgBench {
    pub bin: PathBuf,
    pub socket_dir: PathBuf,
    pub user: String,
    pub database: String,
    pub workdir: PathBuf,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub latencies: Latencies,
    pub errors: u64,
    pub seconds: f64,
}

impl PgBench {
    /// pgbench from the server binaries the embedded PostgreSQL uses, else from `PATH`.
    pub fn find() -> PathBuf {
        let from_env = std::env::var_os("MOMENTUM_PG_BIN").map(PathBuf::from);
        let from_pg_config = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        from_env
            .into_iter()
            .chain(from_pg_config)
            .map(|dir| dir.join("pgbench"))
            .find(|bin| bin.exists())
            .unwrap_or_else(|| PathBuf::from("pgbench"))
    }

    /// Runs `script` with `clients` connections for `warmup` (discarded), then for
    /// `measure`, logging every transaction's latency.
    pub fn run(
        &self,
        name: &str,
        script: &str,
        vars: &[(&str, String)],
        clients: usize,
        warmup: Duration,
        measure: Duration,
    ) -> anyhow::Result<Outcome> {
        let dir = self.workdir.join(name);
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("script.sql");
        std::fs::write(&file, script)?;
        if !warmup.is_zero() {
            self.pgbench(&file, vars, clients, warmup, None)?;
        }
        let prefix = dir.join("log");
        let stdout = self.pgbench(&file, vars, clients, measure, Some(&prefix))?;
        let mut out = Outcome {
            seconds: measure.as_secs_f64(),
            ..Outcome::default()
        };
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let is_log = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("log."));
            if is_log {
                parse_log(&std::fs::read_to_string(&path)?, &mut out)?;
            }
        }
        if out.latencies.is_empty() {
            bail!("pgbench ran no transaction of {name}:\n{stdout}");
        }
        Ok(out)
    }

    fn pgbench(
        &self,
        script: &Path,
        vars: &[(&str, String)],
        clients: usize,
        time: Duration,
        log_prefix: Option<&Path>,
    ) -> anyhow::Result<String> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--no-vacuum")
            .args(["--protocol", "prepared"])
            .arg(format!("--client={clients}"))
            .arg(format!("--jobs={}", clients.min(2)))
            .arg(format!("--time={}", time.as_secs().max(1)))
            .arg("--file")
            .arg(script)
            .arg("--host")
            .arg(&self.socket_dir)
            .args(["--port", "5432", "--username", &self.user]);
        for (name, value) in vars {
            cmd.arg("--define").arg(format!("{name}={value}"));
        }
        if let Some(prefix) = log_prefix {
            cmd.arg("--log")
                .arg(format!("--log-prefix={}", prefix.display()));
        }
        cmd.arg(&self.database);
        let output = cmd
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "pgbench failed ({}):\n{stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(stdout)
    }
}

/// pgbench's per-transaction log: `client_id transaction_no time script_no time_epoch
/// time_us ...`, where `time` is the latency in microseconds, or `failed`.
fn parse_log(log: &str, out: &mut Outcome) -> anyhow::Result<()> {
    for line in log.lines() {
        let Some(time) = line.split_whitespace().nth(2) else {
            continue;
        };
        match time.parse::<u64>() {
            Ok(us) => out.latencies.record_micros(us),
            Err(_) if time == "failed" || time == "skipped" => out.errors += 1,
            Err(_) => bail!("unexpected pgbench log line: {line}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_latencies_and_failures_from_the_log() {
        let mut out = Outcome {
            seconds: 1.0,
            ..Outcome::default()
        };
        parse_log(
            "0 1 250 0 1700000000 12\n1 1 750 0 1700000000 40\n2 1 failed 0 1700000000 50\n",
            &mut out,
        )
        .unwrap();
        assert_eq!(out.latencies.len(), 2);
        assert_eq!(out.errors, 1);
        assert_eq!(out.latencies.percentile_ms(1.0), 0.75);
        assert!(parse_log("0 1 x 0 1 2\n", &mut out).is_err());
    }
}
