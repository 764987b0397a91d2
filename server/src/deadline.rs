//! The deadline of the request being served, for work that must not outlive it.
//!
//! The edge (`api::edge`) answers a request that passes `MOMENTUM_REQUEST_TIMEOUT_SECS`
//! with a 503 and drops its handler, but a statement the handler had sent keeps running
//! in PostgreSQL (waiting on a lock, scanning) with its connection and its locks held.
//! So the edge runs each request inside [`scope`], and `db::TenantTx::begin` bounds the
//! transaction's statements by [`remaining`]. Work outside a request (the webhook worker,
//! the purges) has no deadline here and keeps its own bounds.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as the deadline of everything it awaits.
pub async fn scope<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// The time the current request has left (zero once past its deadline); `None` outside
/// a request.
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|deadline| deadline.saturating_duration_since(Instant::now()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_work_inside_a_request_has_a_deadline() {
        assert_eq!(remaining(), None);
        let left = scope(Instant::now() + Duration::from_secs(60), async {
            remaining()
        })
        .await;
        assert!(left.is_some_and(|d| d > Duration::from_secs(50) && d <= Duration::from_secs(60)));
        let past = scope(Instant::now(), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            remaining()
        })
        .await;
        assert_eq!(past, Some(Duration::ZERO));
        // A task spawned from a request is not the request.
        let spawned = scope(Instant::now() + Duration::from_secs(60), async {
            tokio::spawn(async { remaining() }).await.ok().flatten()
        })
        .await;
        assert_eq!(spawned, None);
    }
}
