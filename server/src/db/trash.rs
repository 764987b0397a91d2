//! Emptying the trash: records trashed longer ago than the retention period are deleted
//! for good, across tenants, by the `purge_trash` SECURITY DEFINER function, which only
//! the worker's role (`momentum_worker`) may run: the API's role reaches one tenant at a
//! time only, and cannot purge. The function keeps a day of trash whatever retention it
//! is given. What the trash is: see the [`crate::db`] docs.

use std::sync::Arc;
use std::time::Duration;

use super::{autocommit, query_scalar};
use sqlx::PgPool;
use tokio::sync::watch;

use super::periodic::{self, Job, Round};
use crate::metrics::Metrics;

/// Rows of each type one call deletes at most: short transactions, short locks.
pub const PURGE_BATCH: i32 = 1000;

/// How long trashed records are kept, and how often the purge looks for expired ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrashSettings {
    pub retention: Duration,
    pub purge_interval: Duration,
}

impl Default for TrashSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(30 * 24 * 3600),
            purge_interval: Duration::from_secs(3600),
        }
    }
}

/// Deletes for good every record trashed more than `retention` ago (a day at least), in
/// batches of [`PURGE_BATCH`] per type (each its own transaction), and returns how many.
/// `pool` must be the worker's role.
pub async fn purge(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    // Whole microseconds: what an interval holds.
    let retention = sqlx::postgres::types::PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(retention.as_micros()).unwrap_or(i64::MAX),
    };
    let mut total = 0u64;
    loop {
        let n: i32 = query_scalar("SELECT purge_trash($1, $2)")
            .bind(retention)
            .bind(PURGE_BATCH)
            .fetch_one(autocommit(pool))
            .await?;
        total += u64::try_from(n).unwrap_or(0);
        if n == 0 {
            return Ok(total);
        }
    }
}

/// One process's turn at the purge: [`purge`] if this process claims this interval's
/// round, [`Round::Skipped`] if another process ran it less than an interval ago
/// ([`crate::db::periodic`]).
pub async fn run_round(pool: &PgPool, settings: TrashSettings) -> Result<Round, sqlx::Error> {
    periodic::run_once(pool, Job::TrashPurge, settings.purge_interval, || {
        purge(pool, settings.retention)
    })
    .await
}

/// Takes its turn at the purge every `purge_interval` (the first at once) until
/// `stopped` turns true. Any number of processes may run this side by side: one round
/// runs per interval across all of them, and a round's batches skip rows another holds.
/// What it purges counts in `momentum_trash_purged_total`.
pub async fn run(
    pool: PgPool,
    settings: TrashSettings,
    metrics: Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(settings.purge_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        match run_round(&pool, settings).await {
            Ok(Round::Ran(0) | Round::Skipped) => {}
            Ok(Round::Ran(n)) => {
                metrics.trash_purged(n);
                tracing::info!(purged = n, "emptied expired records from the trash");
            }
            Err(err) => tracing::warn!(error = %err, "could not purge the trash"),
        }
    }
}
