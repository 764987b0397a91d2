//! Connections that must stay one PostgreSQL session from statement to statement: the
//! `LISTEN`s (the webhook worker's wake-ups, the credential broadcast) and the
//! migrations' advisory lock. A transaction pooler gives each transaction whichever server
//! session is free and takes it back after: a `LISTEN` made there is heard by nobody,
//! and a session-level lock is left on a session others then use. So these connect to a
//! direct URL (`MOMENTUM_DIRECT_DATABASE_URL`, and the owner's
//! `MOMENTUM_ADMIN_DATABASE_URL`), and [`check_session`] makes sure at start that it is one.

use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Executor, PgPool};

/// How long [`check_session`] waits for its notification: on a direct session it comes
/// back within milliseconds.
const PROBE_WAIT: Duration = Duration::from_secs(5);

/// A pool for one listening session (`PgListener` takes its connection and, once that is
/// lost, a new one from here). Lazy: nothing connects until the listener does. Connections
/// live as long as they work, as a listener's must.
pub fn session_pool(options: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options)
}

/// Makes sure `options` reach a session that keeps what it was told: it listens on a
/// channel of its own, another connection notifies it, as another instance would, and
/// the notification must arrive. Through a transaction pooler it does not (the listening
/// session went back to the pooler), and the error names `what` (the setting) and
/// `advice` (what to do).
pub async fn check_session(
    options: &PgConnectOptions,
    what: &str,
    advice: &str,
) -> anyhow::Result<()> {
    let pool = session_pool(options.clone());
    let checked = async {
        let mut listener = PgListener::connect_with(&pool)
            .await
            .with_context(|| format!("cannot connect through {what}"))?;
        // Made by this code: a fixed prefix and a UUID's hex digits, nothing to quote.
        let channel = format!("momentum_probe_{}", uuid::Uuid::new_v4().simple());
        listener
            .listen(&channel)
            .await
            .with_context(|| format!("cannot LISTEN through {what}"))?;
        // Another session notifies, as another instance would. A listener too, since
        // through a pooler the notification can come back to it (it may be handed the
        // very server session that listens), where a plain connection would fail on it.
        let other_pool = session_pool(options.clone());
        let mut other = PgListener::connect_with(&other_pool)
            .await
            .with_context(|| format!("cannot connect through {what}"))?;
        // The simple protocol: one message, no statement to prepare.
        let notified = (&mut other)
            .execute(format!("NOTIFY {channel}").as_str())
            .await
            .with_context(|| format!("cannot NOTIFY through {what}"));
        drop(other);
        other_pool.close().await;
        notified?;
        let heard = tokio::time::timeout(PROBE_WAIT, listener.recv()).await;
        let _ = listener.unlisten_all().await;
        match heard {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err).with_context(|| format!("cannot LISTEN through {what}")),
            Err(_) => bail!(
                "{what} does not lead to a database session of its own: a notification sent \
                 to it did not arrive within {} s, as happens through a transaction pooler \
                 (PgBouncer with pool_mode = transaction). {advice}",
                PROBE_WAIT.as_secs()
            ),
        }
    }
    .await;
    pool.close().await;
    checked
}
