//! Authentication: API keys (`Authorization: Bearer mk_...`) and session tokens
//! (`Bearer mst_...`, from QR-code device login).
//!
//! A credential is `<prefix><public_id>_<secret>`: the public id finds the row, the secret
//! proves possession. Only a SHA-256 of the secret is stored (the secret has 256 bits of
//! entropy, so a slow password hash adds nothing), and it is compared in constant time.
//! This module never logs a credential or a secret. The credential format itself (making,
//! parsing, hashing) is `domain::credential`, below `db/`, which stores it; this module
//! sits above `db/` and must never be imported by it.

pub mod broadcast;
#[cfg(test)]
mod ct_guard;
pub mod scopes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::PgPool;
use uuid::Uuid;

pub use crate::domain::credential::Kind;
pub use scopes::{Role, Scope};

use crate::db::audit::Actor;
use crate::db::auth::{self as repo, StoredCredential};
use crate::db::TenantTx;
use crate::domain::credential::PresentedKey;
use crate::domain::FieldError;
use crate::error::{AppError, AppResult};

/// Who is calling: resolved once per request by the security scheme, then handed to
/// handlers, which use `tenant_id` to open their tenant-scoped transaction.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub kind: Kind,
    /// The API key's or session token's id.
    pub credential_id: Uuid,
    /// The user the credential acts as; `None` for a service key.
    pub user_id: Option<Uuid>,
    pub role: Option<Role>,
    /// What it may do: its own scopes (for a session token, those its approver held),
    /// bounded by its user's role.
    pub scopes: Vec<Scope>,
}

/// What the audit log records of a principal.
impl From<&Principal> for Actor {
    fn from(principal: &Principal) -> Self {
        Self {
            kind: principal.kind,
            credential_id: principal.credential_id,
            user_id: principal.user_id,
        }
    }
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Refuses to act on a user ranking above the caller (see [`Role::may_act_on`]);
    /// `user` is the target's id and stored role, `None` for a service key. One's own user
    /// is always one's own to act on. `field` names where the request named the target.
    pub fn may_act_on(&self, user: Option<(Uuid, Role)>, field: &str) -> Result<(), AppError> {
        let own = user.is_some_and(|(id, _)| self.user_id == Some(id));
        if own || Role::may_act_on(self.role, user.map(|(_, role)| role)) {
            return Ok(());
        }
        Err(AppError::Forbidden {
            message: "you cannot act on a user whose role is above yours".into(),
            details: vec![FieldError::new(
                field,
                "outranks_you",
                "the user's role is above yours",
            )],
        })
    }
}

/// One message for every refusal, so a caller cannot probe which credentials exist.
const INVALID: AppError = AppError::Unauthorized("invalid, expired or revoked credential");

/// Verifies bearer credentials. Lookups are cached for a few seconds (`cache_ttl`). A
/// revocation, a deactivation or a role change ([`Authenticator::commit_change`]) takes
/// effect on the instance that made it from the moment it answers, and on every other
/// within a second, through the notification [`broadcast`] listens for; the cache's
/// lifetime bounds it should that notification be missed. Expiry is checked on every
/// request, cached or not.
/// `last_used_at` is recorded in memory and written in one batch per flush interval,
/// not once per request; and only where it would move by more than that interval, so
/// instances that saw the same credential do not each write it (see
/// [`Authenticator::flush_usage`]).
pub struct Authenticator {
    pool: PgPool,
    /// How often usage is written, and so how precise `last_used_at` is.
    flush_interval: Duration,
    lookup: Lookup,
    /// Each entry carries the generation its lookup began in, and counts only while that
    /// is still the current one: a lookup that read a key before a revocation and comes
    /// back after the flush must not serve the old state (moka's `invalidate_all` only
    /// drops entries inserted before it).
    cache: moka::sync::Cache<(Kind, String), (u64, Arc<StoredCredential>)>,
    /// Moves forward with every [`Authenticator::forget_all`].
    generation: AtomicU64,
    /// When each credential was last used, with its tenant: it is written in that
    /// tenant's transaction, under row-level security like any other write.
    used: Mutex<HashMap<(Kind, Uuid), Usage>>,
}

/// A credential's last use, and the tenant it belongs to.
#[derive(Debug, Clone, Copy)]
struct Usage {
    tenant_id: Uuid,
    at: DateTime<Utc>,
}

/// Finds a credential by kind and public id. A seam rather than a direct call so tests can
/// hold a lookup open while a revocation flushes the cache.
type Lookup = Box<
    dyn Fn(Kind, String) -> BoxFuture<'static, AppResult<Option<StoredCredential>>> + Send + Sync,
>;

impl Authenticator {
    /// `flush_interval`: how often [`Authenticator::spawn_usage_flusher`] writes
    /// `last_used_at`, and the precision it keeps.
    pub fn new(pool: PgPool, cache_ttl: Duration, flush_interval: Duration) -> Self {
        let db = pool.clone();
        let lookup: Lookup = Box::new(move |kind, public_id| {
            let db = db.clone();
            Box::pin(async move { repo::find_credential(&db, kind, &public_id).await })
        });
        Self::with_lookup(pool, cache_ttl, flush_interval, lookup)
    }

    fn with_lookup(
        pool: PgPool,
        cache_ttl: Duration,
        flush_interval: Duration,
        lookup: Lookup,
    ) -> Self {
        Self {
            pool,
            flush_interval,
            lookup,
            generation: AtomicU64::new(0),
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(cache_ttl)
                .build(),
            used: Mutex::new(HashMap::new()),
        }
    }

    pub async fn authenticate(&self, token: &str) -> Result<Principal, AppError> {
        let presented = PresentedKey::parse(token).ok_or(INVALID)?;
        let cache_key = (presented.kind, presented.public_id.to_owned());
        let began = self.generation.load(Ordering::SeqCst);
        let stored = match self.cache.get(&cache_key) {
            Some((generation, stored)) if generation == began => stored,
            _ => {
                let found = (self.lookup)(presented.kind, presented.public_id.to_owned())
                    .await?
                    .ok_or(INVALID)?;
                let found = Arc::new(found);
                // Entries of an older generation are never served, so this check only
                // spares the cache an entry that would be dead on arrival.
                if self.generation.load(Ordering::SeqCst) == began {
                    self.cache.insert(cache_key, (began, Arc::clone(&found)));
                }
                found
            }
        };
        let now = Utc::now();
        // During a rotation's overlap the replaced secret still works; its end is checked
        // on every request, like expiry, so a cached lookup cannot stretch it.
        let previous_valid = stored
            .previous_secret_hash
            .as_deref()
            .zip(stored.previous_secret_expires_at)
            .is_some_and(|(hash, until)| until > now && presented.matches(hash));
        let usable = (presented.matches(&stored.secret_hash) || previous_valid)
            && stored.user_active
            && stored.revoked_at.is_none()
            && stored.expires_at.is_none_or(|at| at > now);
        if !usable {
            return Err(INVALID);
        }
        let role = stored.user_role.as_deref().and_then(Role::parse);
        if stored.user_id.is_some() && role.is_none() {
            return Err(INVALID);
        }
        if let Ok(mut used) = self.used.lock() {
            let usage = Usage {
                tenant_id: stored.tenant_id,
                at: now,
            };
            used.insert((presented.kind, stored.credential_id), usage);
        }
        Ok(Principal {
            tenant_id: stored.tenant_id,
            kind: presented.kind,
            credential_id: stored.credential_id,
            user_id: stored.user_id,
            role,
            // No stored scopes (which the schema no longer allows) grant nothing.
            scopes: scopes::effective(stored.scopes.as_deref().unwrap_or_default(), role),
        })
    }

    /// Whether checking `token` would query the database: it is well formed and no lookup
    /// of the current generation is cached. The credential check limits the client's
    /// address before such a lookup, so that keys made up at random cannot each cost a
    /// query.
    pub fn needs_lookup(&self, token: &str) -> bool {
        matches!(self.cached(token), Some(false))
    }

    /// `None` for a token that is not well formed, else whether its lookup of the
    /// current generation is cached (`Some(false)`: [`Self::needs_lookup`]).
    pub fn cached(&self, token: &str) -> Option<bool> {
        PresentedKey::parse(token).map(|presented| {
            let current = self.generation.load(Ordering::SeqCst);
            matches!(
                self.cache.get(&(presented.kind, presented.public_id.to_owned())),
                Some((generation, _)) if generation == current
            )
        })
    }

    /// Drops every cached lookup, those still in flight included.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate_all();
    }

    /// Commits `tx`, which revoked a credential, deactivated a user or changed a role, so
    /// that it takes effect everywhere: the transaction notifies every instance (see
    /// [`broadcast`]; only if it commits), and this instance forgets its cached lookups
    /// before the change is answered.
    pub async fn commit_change(&self, mut tx: TenantTx) -> AppResult<()> {
        repo::announce_change(&mut tx).await?;
        tx.commit().await?;
        self.forget_all();
        Ok(())
    }

    /// Writes the `last_used_at` recorded since the previous flush: one statement per
    /// tenant, in that tenant's transaction, so a credential id can only ever reach its
    /// own tenant's row. Returns how many credentials it wrote. A tenant whose write fails
    /// does not stop the others; the first error is returned.
    ///
    /// Every instance records the uses it sees, so a credential used through N instances
    /// would be written N times per interval. A use is written only when the stored
    /// `last_used_at` is more than the flush interval older than it: the first instance
    /// to flush writes, the others find it recent enough and skip. Each credential is so
    /// written at most about once per interval across all instances, and `last_used_at`
    /// is never more than one interval behind its last use once every instance has
    /// flushed: the precision the flush interval already gave a single instance.
    pub async fn flush_usage(&self) -> Result<u64, AppError> {
        let drained: Vec<((Kind, Uuid), Usage)> = match self.used.lock() {
            Ok(mut used) => used.drain().collect(),
            Err(_) => return Ok(0),
        };
        let mut by_tenant: HashMap<Uuid, Vec<repo::Used>> = HashMap::new();
        for ((kind, credential_id), usage) in drained {
            by_tenant
                .entry(usage.tenant_id)
                .or_default()
                .push(repo::Used {
                    kind,
                    credential_id,
                    at: usage.at,
                });
        }
        let mut first_error = None;
        let mut written = 0;
        for (tenant_id, batch) in by_tenant {
            match repo::touch(&self.pool, tenant_id, &batch, self.flush_interval).await {
                Ok(n) => written += n,
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        first_error.map_or(Ok(written), Err)
    }

    /// Flushes usage every flush interval until the process ends.
    pub fn spawn_usage_flusher(self: &Arc<Self>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.flush_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) = this.flush_usage().await {
                    tracing::warn!(error = %err, "could not record last_used_at");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use sqlx::postgres::PgPoolOptions;
    use tokio::sync::{oneshot, Notify};

    use super::*;
    use crate::domain::credential::NewApiKey;

    /// Stands in for the database: a key that a "revocation" flips, and a way to hold the
    /// first lookup open after it has read the key's state.
    struct Store {
        key: NewApiKey,
        revoked: AtomicBool,
        lookups: AtomicUsize,
        read: Notify,
        hold_first: Mutex<Option<oneshot::Receiver<()>>>,
    }

    impl Store {
        fn row(&self, revoked: bool) -> StoredCredential {
            StoredCredential {
                credential_id: Uuid::nil(),
                tenant_id: Uuid::nil(),
                user_id: None,
                user_role: None,
                user_active: true,
                secret_hash: self.key.secret_hash.to_vec(),
                scopes: Some(vec!["*".into()]),
                expires_at: None,
                revoked_at: revoked.then(Utc::now),
                previous_secret_hash: None,
                previous_secret_expires_at: None,
            }
        }
    }

    /// An authenticator over `store`, whose first lookup waits for the returned sender.
    fn authenticator(store: &Arc<Store>) -> (Arc<Authenticator>, oneshot::Sender<()>) {
        let (release, held) = oneshot::channel();
        if let Ok(mut hold) = store.hold_first.lock() {
            *hold = Some(held);
        }
        let pool = PgPoolOptions::new()
            .connect_lazy("postgres://never-connected@127.0.0.1/none")
            .expect("a lazy pool does not connect");
        let source = Arc::clone(store);
        let lookup: Lookup = Box::new(move |_, _| {
            let store = Arc::clone(&source);
            Box::pin(async move {
                store.lookups.fetch_add(1, Ordering::SeqCst);
                let row = store.row(store.revoked.load(Ordering::SeqCst));
                let hold = store.hold_first.lock().ok().and_then(|mut h| h.take());
                store.read.notify_one();
                if let Some(held) = hold {
                    let _ = held.await;
                }
                Ok(Some(row))
            })
        });
        let auth = Authenticator::with_lookup(
            pool,
            Duration::from_secs(300),
            Duration::from_secs(30),
            lookup,
        );
        (Arc::new(auth), release)
    }

    fn store() -> Arc<Store> {
        Arc::new(Store {
            key: NewApiKey::generate(),
            revoked: AtomicBool::new(false),
            lookups: AtomicUsize::new(0),
            read: Notify::new(),
            hold_first: Mutex::new(None),
        })
    }

    #[tokio::test]
    async fn a_lookup_begun_before_a_revocation_does_not_put_the_key_back_in_the_cache() {
        let store = store();
        let (auth, release) = authenticator(&store);
        let token = store.key.plaintext.clone();
        let in_flight = tokio::spawn({
            let auth = Arc::clone(&auth);
            let token = token.clone();
            async move { auth.authenticate(&token).await.is_ok() }
        });
        // The lookup has read the key as valid and is still on its way back.
        store.read.notified().await;
        // The revocation commits, then flushes the cache, then answers.
        store.revoked.store(true, Ordering::SeqCst);
        auth.forget_all();
        let _ = release.send(());
        assert!(
            in_flight.await.expect("the request ran"),
            "a request that began before the revocation may still pass"
        );

        let after = auth.authenticate(&token).await;
        assert!(
            matches!(after, Err(AppError::Unauthorized(_))),
            "refused once the revocation has answered: {after:?}"
        );
        assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_lookup_with_no_flush_meanwhile_is_cached() {
        let store = store();
        let (auth, release) = authenticator(&store);
        let _ = release.send(());
        let token = store.key.plaintext.clone();
        for _ in 0..3 {
            assert!(auth.authenticate(&token).await.is_ok());
        }
        assert_eq!(store.lookups.load(Ordering::SeqCst), 1, "looked up once");
    }
}
