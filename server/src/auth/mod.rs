//! Authentication: API keys (`Authorization: Bearer mk_...`) and session tokens
//! (`Bearer mst_...`, from QR-code device login).
//!
//! A credential is `<prefix><public_id>_<secret>`: the public id finds the row, the secret
//! proves possession. Only a SHA-256 of the secret is stored (the secret has 256 bits of
//! entropy, so a slow password hash adds nothing), and it is compared in constant time.
//! This module never logs a credential or a secret.

pub mod api_key;
#[cfg(test)]
mod ct_guard;
pub mod scopes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub use api_key::Kind;
use api_key::PresentedKey;
pub use scopes::{Role, Scope};

use crate::db::auth::{self as repo, StoredCredential};
use crate::error::AppError;

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
    /// What it may do: its own scopes, bounded by its user's role.
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// One message for every refusal, so a caller cannot probe which credentials exist.
const INVALID: AppError = AppError::Unauthorized("invalid, expired or revoked credential");

/// Verifies bearer credentials. Lookups are cached for a few seconds (`cache_ttl`): a
/// revoked key stops working on every instance within that time, and at once on the
/// instance that revoked it. Expiry is checked on every request, cached or not.
/// `last_used_at` is recorded in memory and written in one batch per flush interval,
/// not once per request.
pub struct Authenticator {
    pool: PgPool,
    cache: moka::sync::Cache<(Kind, String), Arc<StoredCredential>>,
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

impl Authenticator {
    pub fn new(pool: PgPool, cache_ttl: Duration) -> Self {
        Self {
            pool,
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
        let stored = match self.cache.get(&cache_key) {
            Some(stored) => stored,
            None => {
                let found = repo::find_credential(&self.pool, presented.kind, presented.public_id)
                    .await?
                    .ok_or(INVALID)?;
                let found = Arc::new(found);
                self.cache.insert(cache_key, Arc::clone(&found));
                found
            }
        };
        let now = Utc::now();
        let usable = presented.matches(&stored.secret_hash)
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
            scopes: scopes::effective(stored.scopes.as_deref(), role),
        })
    }

    /// Drops every cached lookup, so a revocation or a user's deactivation takes effect
    /// on this instance at once (other instances follow within the cache's lifetime).
    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }

    /// Writes the `last_used_at` recorded since the previous flush: one statement per
    /// tenant, in that tenant's transaction, so a credential id can only ever reach its
    /// own tenant's row. A tenant whose write fails does not stop the others; the first
    /// error is returned.
    pub async fn flush_usage(&self) -> Result<(), AppError> {
        let drained: Vec<((Kind, Uuid), Usage)> = match self.used.lock() {
            Ok(mut used) => used.drain().collect(),
            Err(_) => return Ok(()),
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
        for (tenant_id, batch) in by_tenant {
            if let Err(err) = repo::touch(&self.pool, tenant_id, &batch).await {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Flushes usage every `interval` until the process ends.
    pub fn spawn_usage_flusher(self: &Arc<Self>, interval: Duration) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
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
