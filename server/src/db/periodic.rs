//! Periodic background jobs that every worker process runs (the purges of the trash, of
//! expired idempotency keys and of expired sandboxes), coordinated through the database
//! so that across any number of processes each job runs one round per interval, not one
//! per process.
//!
//! Before a round, a process claims it: table `periodic_jobs` holds, per job, when its
//! last round started, and the claim moves that forward only if it is at least nine
//! tenths of the interval old (migration `20261203300001_periodic_jobs.sql`). The claim is
//! one statement, so of processes claiming at once exactly one wins (the others wait on
//! its row lock, then see the new time); the others skip, and so does every process
//! whose timer fires before the interval has passed since the winner's round. What a
//! round does is recorded afterwards (`last_finished_at`, `last_count`), for operators.
//!
//! A round that outlives its interval (a backlog) may meet the next one claimed by
//! another process: harmless, as both purges delete in batches that skip or wait for
//! rows another transaction holds. A process that dies mid-round leaves its claim; the
//! next round comes an interval later, as it would have anyway.

use std::time::Duration;

use sqlx::PgPool;

use super::{autocommit, query, query_scalar};

/// A job that must run once per interval across all processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// [`crate::db::trash`]: records past the trash's retention.
    TrashPurge,
    /// [`crate::db::idempotency`]: expired idempotency keys.
    IdempotencyPurge,
    /// [`crate::db::sandboxes`]: expired sandboxes, with all their data.
    SandboxPurge,
    /// [`crate::db::exports`]: expired export files.
    ExportPurge,
    /// [`crate::db::imports`]: the files of finished imports.
    ImportPurge,
}

impl Job {
    /// The job's row in `periodic_jobs`.
    pub fn name(self) -> &'static str {
        match self {
            Self::TrashPurge => "trash_purge",
            Self::IdempotencyPurge => "idempotency_purge",
            Self::SandboxPurge => "sandbox_purge",
            Self::ExportPurge => "export_purge",
            Self::ImportPurge => "import_purge",
        }
    }
}

/// What one process's turn at a job came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// This process ran the round, which purged this many rows.
    Ran(u64),
    /// Another process ran (or is running) this interval's round: nothing was done.
    Skipped,
}

/// The share of the interval that must have passed since the last round started for a
/// new one to be claimed. Below 1 because timers and the database's clock never agree
/// exactly: a timer firing a few milliseconds "early" by the database's clock would
/// otherwise skip its round and leave the job a whole interval late.
const EARLY_SHARE: f64 = 0.9;

/// Claims `job`'s round for this process: true when it is this process's to run, false
/// when another process started one less than (nine tenths of) `every` ago.
/// `pool` must be the worker's role.
pub async fn claim(pool: &PgPool, job: Job, every: Duration) -> Result<bool, sqlx::Error> {
    let min_gap = every.as_secs_f64() * EARLY_SHARE;
    let claimed: Option<bool> = query_scalar(
        "INSERT INTO periodic_jobs AS j (job, last_started_at) VALUES ($1, now()) \
         ON CONFLICT (job) DO UPDATE SET last_started_at = now() \
          WHERE j.last_started_at <= now() - make_interval(secs => $2) \
         RETURNING true",
    )
    .bind(job.name())
    .bind(min_gap)
    .fetch_optional(autocommit(pool))
    .await?;
    Ok(claimed.is_some())
}

/// Records what the round this process claimed did.
pub async fn finished(pool: &PgPool, job: Job, count: u64) -> Result<(), sqlx::Error> {
    query("UPDATE periodic_jobs SET last_finished_at = now(), last_count = $2 WHERE job = $1")
        .bind(job.name())
        .bind(i64::try_from(count).unwrap_or(i64::MAX))
        .execute(autocommit(pool))
        .await?;
    Ok(())
}

/// Runs `round` if this process claims `job`'s round for the interval `every`, and records
/// what it purged; [`Round::Skipped`] otherwise.
pub async fn run_once<F, Fut>(
    pool: &PgPool,
    job: Job,
    every: Duration,
    round: F,
) -> Result<Round, sqlx::Error>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<u64, sqlx::Error>>,
{
    if !claim(pool, job, every).await? {
        tracing::debug!(
            job = job.name(),
            "another process ran this interval's round; skipped"
        );
        return Ok(Round::Skipped);
    }
    let count = round().await?;
    finished(pool, job, count).await?;
    Ok(Round::Ran(count))
}
