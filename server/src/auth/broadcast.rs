//! Revocations, deactivations and role changes reach every instance within a second.
//!
//! The transaction that makes such a change also notifies `momentum_credentials`
//! ([`Authenticator::commit_change`]); PostgreSQL delivers the notification when, and
//! only if, it commits. Every instance listens on that channel through a session of its
//! own and drops its cached credential lookups on each notification (the generation
//! counter keeps a lookup in flight from putting the old state back).
//!
//! Notifications sent while an instance is not listening are lost to it: so it drops its
//! cache each time it (re)starts listening, after `LISTEN` took effect, which covers
//! whatever changed meanwhile. While it cannot listen at all, its cache's lifetime
//! (`MOMENTUM_AUTH_CACHE_SECS`) remains the bound.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use super::Authenticator;
use crate::db::auth::CHANGES_CHANNEL;

/// The first wait before listening again after a failure; it doubles up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(100);

/// The longest wait between attempts to listen again: short against the cache's
/// lifetime, long enough not to hammer a database that is away.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// Listens through `session` (see [`crate::db::listen::session_pool`]) and drops `auth`'s
/// cache on every notification, until `stop` turns true.
pub async fn listen(auth: Arc<Authenticator>, session: PgPool, mut stop: watch::Receiver<bool>) {
    let mut wait = FIRST_WAIT;
    let mut lost = false;
    loop {
        let listening = tokio::select! {
            listening = start(&session) => listening,
            _ = stop.changed() => return,
        };
        match listening {
            Ok(mut listener) => {
                // Whatever was notified before LISTEN took effect was not heard.
                auth.forget_all();
                if lost {
                    tracing::info!("listening for credential changes again");
                }
                wait = FIRST_WAIT;
                let err = loop {
                    let next = tokio::select! {
                        next = listener.try_recv() => next,
                        _ = stop.changed() => return,
                    };
                    match next {
                        Ok(Some(_)) => auth.forget_all(),
                        // sqlx lost the connection and has listened again on a new one:
                        // what was sent in between is lost.
                        Ok(None) => {
                            tracing::warn!("the credential-change listener reconnected");
                            auth.forget_all();
                        }
                        Err(err) => break err,
                    }
                };
                tracing::warn!(
                    error = %err,
                    "lost the credential-change listener; revocations made elsewhere take \
                     up to the credential cache's lifetime until it is back"
                );
                lost = true;
            }
            Err(err) => {
                if !lost {
                    tracing::warn!(
                        error = %err,
                        "cannot listen for credential changes; revocations made elsewhere \
                         take up to the credential cache's lifetime until it can"
                    );
                }
                lost = true;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = (wait * 2).min(MAX_WAIT);
    }
}

async fn start(session: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(session).await?;
    listener.listen(CHANGES_CHANNEL).await?;
    Ok(listener)
}
