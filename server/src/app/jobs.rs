//! The loops the two file jobs (exports, imports) run in the worker: claims taken across
//! tenants and run a bounded number at a time, and the periodic deletion of files the
//! database no longer needs. Each job brings its own claim, run and file queries; the
//! pacing, the back-off on a failing database and the order "delete the file, then
//! forget it" live here once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{watch, Semaphore};
use uuid::Uuid;

use crate::blob::{Blobs, Key};
use crate::db::jobs::StoredFile;
use crate::db::periodic::{self, Job, Round};
use crate::db::TenantTx;
use crate::error::AppError;

/// Claims work with `claim` (asked for as many as there are free slots) and runs each
/// claim with `run`, at most `concurrency` at once in this process, polling every
/// `poll_interval` until `stopped` turns true. A claim that fails is logged once per
/// outage, not per poll. Runs in flight get `stopped` too, to give their work back.
pub async fn claim_loop<C, Claims, Claimed, Run, Ran>(
    what: &'static str,
    concurrency: u32,
    poll_interval: Duration,
    mut stopped: watch::Receiver<bool>,
    claim: Claims,
    run: Run,
) where
    C: Send + 'static,
    Claims: Fn(u32) -> Claimed,
    Claimed: Future<Output = Result<Vec<C>, sqlx::Error>>,
    Run: Fn(C, watch::Receiver<bool>) -> Ran,
    Ran: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(
        usize::try_from(concurrency).unwrap_or(1).max(1),
    ));
    let mut failing = false;
    loop {
        if *stopped.borrow() {
            return;
        }
        let free = slots.available_permits();
        if free > 0 {
            match claim(u32::try_from(free).unwrap_or(u32::MAX)).await {
                Ok(claims) => {
                    failing = false;
                    for claimed in claims {
                        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                            return;
                        };
                        let ran = run(claimed, stopped.clone());
                        tokio::spawn(async move {
                            ran.await;
                            drop(permit);
                        });
                    }
                }
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(error = %err, "could not claim {what}");
                }
                Err(_) => {}
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll_interval) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Runs `round` as the periodic `job` every `every`, once per interval across every
/// process that runs the worker, until `stopped` turns true; `ran` hears of each round
/// that did something.
pub async fn periodically<R, Rf>(
    pool: PgPool,
    job: Job,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
    round: R,
    ran: impl Fn(u64),
) where
    R: Fn() -> Rf,
    Rf: Future<Output = Result<u64, sqlx::Error>>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        match periodic::run_once(&pool, job, every, &round).await {
            Ok(Round::Ran(0) | Round::Skipped) => {}
            Ok(Round::Ran(n)) => ran(n),
            Err(err) => tracing::warn!(error = %err, job = job.name(), "a periodic job failed"),
        }
    }
}

/// The files a job leaves behind, and how it records one deleted.
pub trait Spent {
    /// What the files are, for the log.
    const WHAT: &'static str;
    /// Up to `limit` files to delete, of any tenant. `pool` is the worker's role.
    fn list(
        pool: &PgPool,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredFile>, sqlx::Error>> + Send;
    /// Records the file `key` of the pinned tenant's job `id` deleted; false when the
    /// job no longer named it.
    fn forget(
        tx: &mut TenantTx,
        id: Uuid,
        key: &str,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;
}

/// Files one round deletes at most before it looks again.
const DELETE_BATCH: u32 = 200;

/// Deletes every file `S` lists, then forgets it; how many were forgotten. A file that
/// cannot be deleted stops the round, and the next round tries it again: a file is
/// never forgotten while it may still exist. A key this server cannot address names no
/// file it could delete: it is forgotten all the same, or every round would find it
/// again.
pub async fn delete_files<S: Spent>(pool: &PgPool, blobs: &Blobs) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let files = S::list(pool, DELETE_BATCH).await?;
        let n = files.len();
        for file in files {
            match Key::parse(&file.file_key) {
                Ok(key) => {
                    if let Err(e) = blobs.delete(&key).await {
                        tracing::warn!(error = %e, "could not delete {}", S::WHAT);
                        return Ok(total);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "{} named no file key", S::WHAT),
            }
            let forgotten = async {
                let mut tx = TenantTx::begin(pool, file.tenant_id).await?;
                let forgotten = S::forget(&mut tx, file.id, &file.file_key).await?;
                tx.commit().await?;
                Ok::<_, AppError>(forgotten)
            }
            .await;
            match forgotten {
                Ok(true) => total += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not record {} deleted", S::WHAT);
                    return Ok(total);
                }
            }
        }
        if n < DELETE_BATCH as usize {
            return Ok(total);
        }
    }
}
