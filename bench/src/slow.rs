//! Statements slower than a second. After seeding (whose index builds take longer) the
//! cluster logs every statement that runs longer than `log_min_duration_statement`, and
//! each measured window counts the lines logged during it: the issue asks that search
//! under load log none.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use serde::Serialize;
use sqlx::PgPool;

/// The threshold, as PostgreSQL reads it.
pub const THRESHOLD: &str = "1s";

/// What one window logged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Slow {
    pub statements: u64,
    /// The longest of them; `None` when there was none.
    pub slowest_ms: Option<f64>,
    /// Its first line as logged (`execute <name>: SELECT …`, `statement: …`), cut to
    /// [`SHOWN_CHARS`] characters.
    pub slowest: Option<String>,
}

/// How much of the slowest statement the report shows.
pub const SHOWN_CHARS: usize = 120;

/// The cluster's log, read from a mark.
pub struct SlowLog {
    path: PathBuf,
}

impl SlowLog {
    /// Sets the threshold (a superuser's `pool`) and reloads the configuration, which
    /// every backend, the servers' included, reads before its next statement.
    pub async fn enable(pool: &PgPool, path: PathBuf) -> anyhow::Result<Self> {
        sqlx::query(&format!(
            "ALTER SYSTEM SET log_min_duration_statement = '{THRESHOLD}'"
        ))
        .execute(pool)
        .await?;
        sqlx::query("SELECT pg_reload_conf()").execute(pool).await?;
        Ok(Self { path })
    }

    /// Where the log ends now.
    pub fn mark(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// What was logged after `mark`. A log that cannot be read counts nothing, and says so.
    pub fn since(&self, mark: u64) -> Slow {
        let mut text = Vec::new();
        let read = std::fs::File::open(&self.path).and_then(|mut file| {
            file.seek(SeekFrom::Start(mark))?;
            file.read_to_end(&mut text)
        });
        if let Err(err) = read {
            eprintln!("  cannot read {}: {err}", self.path.display());
        }
        parse(&String::from_utf8_lossy(&text))
    }
}

/// Counts `log_min_duration_statement`'s lines (`LOG:  duration: 1234.567 ms  execute …`;
/// a statement's text may run on over further lines, which do not start a new one).
fn parse(log: &str) -> Slow {
    let mut slow = Slow::default();
    for (ms, statement) in log
        .lines()
        .filter_map(|line| line.split_once("LOG:  duration: "))
        .filter_map(|(_, rest)| rest.split_once(" ms"))
        .filter_map(|(ms, statement)| Some((ms.parse::<f64>().ok()?, statement.trim())))
    {
        slow.statements += 1;
        if slow.slowest_ms.is_none_or(|longest| ms > longest) {
            slow.slowest_ms = Some(ms);
            slow.slowest = Some(statement.chars().take(SHOWN_CHARS).collect());
        }
    }
    slow
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_slow_statement_once_and_keeps_the_longest() {
        let log = "\
2026-12-03 19:20:01.123 UTC [4242] LOG:  duration: 1204.511 ms  execute sqlx_s_3: SELECT *
\t  FROM search_records($1, $2)
2026-12-03 19:20:01.500 UTC [4243] LOG:  checkpoint starting: time
2026-12-03 19:20:02.000 UTC [4244] LOG:  duration: 3010.000 ms  statement: CHECKPOINT
2026-12-03 19:20:03.000 UTC [4245] ERROR:  duplicate key value violates unique constraint
";
        assert_eq!(
            parse(log),
            Slow {
                statements: 2,
                slowest_ms: Some(3010.0),
                slowest: Some("statement: CHECKPOINT".into()),
            }
        );
    }

    #[test]
    fn a_quiet_log_has_none() {
        let log = "2026-12-03 19:20:01.500 UTC [4243] LOG:  checkpoint complete: wrote 3 buffers\n";
        assert_eq!(parse(log), Slow::default());
        assert_eq!(parse(""), Slow::default());
    }
}
