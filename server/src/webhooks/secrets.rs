//! Webhook signing secrets at rest: sealed under the operator's key (`crate::crypto`),
//! each bound to its tenant and endpoint, so a ciphertext moved to another endpoint's row
//! does not open. The API seals a secret when it makes one and never reads it back; the
//! worker opens them to sign.
//!
//! Before serving or sending, [`check_key`] checks that the key is the one the stored
//! secrets were sealed with (a wrong key stops the server at start, naming the variable,
//! rather than failing every delivery); the process that runs the worker then seals the
//! plaintext secrets of a database from before sealing ([`seal_plaintext`]), through the
//! worker's role, which alone may read other tenants' secrets.

use anyhow::bail;
use sqlx::PgPool;
use uuid::Uuid;

use crate::crypto::{self, OpenError, SecretKey};
use crate::db::webhooks as repo;
use crate::db::TenantTx;

/// What a sealed secret is bound to.
fn context(tenant_id: Uuid, endpoint_id: Uuid) -> String {
    format!("webhook_endpoints.secret:{tenant_id}:{endpoint_id}")
}

/// `secret` sealed for this tenant's endpoint, as stored.
pub fn seal(key: &SecretKey, tenant_id: Uuid, endpoint_id: Uuid, secret: &str) -> String {
    key.seal(secret, &context(tenant_id, endpoint_id))
}

/// The secret a stored value holds. A plaintext `whsec_` value (a database from before
/// sealing, not yet sealed by [`prepare`]) is taken as it is.
pub fn open(
    key: &SecretKey,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    stored: &str,
) -> Result<String, OpenError> {
    if !crypto::is_sealed(stored) {
        return if stored.starts_with(super::signing::SECRET_PREFIX) {
            Ok(stored.to_owned())
        } else {
            Err(OpenError::Damaged)
        };
    }
    key.open(stored, &context(tenant_id, endpoint_id))
}

/// [`check_key`], then [`seal_plaintext`]: what a process running the worker does at
/// start, `pool` being the worker's.
pub async fn prepare(pool: &PgPool, key: &SecretKey) -> anyhow::Result<()> {
    check_key(pool, key).await?;
    seal_plaintext(pool, key).await
}

/// Refuses a key that did not seal the stored secrets. Any role of the server may check.
pub async fn check_key(pool: &PgPool, key: &SecretKey) -> anyhow::Result<()> {
    let ids = repo::secret_key_ids(pool).await?;
    let foreign: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| *id != key.id())
        .collect();
    if !foreign.is_empty() {
        bail!(
            "MOMENTUM_SECRET_KEY is not the key this database's webhook signing secrets were \
             encrypted with (they name key {}; this key is {}): start with the key they were \
             encrypted with",
            foreign.join(", "),
            key.id()
        );
    }
    Ok(())
}

/// Seals the secrets still stored in plaintext, each in its endpoint's tenant
/// transaction. Finding them reads across tenants: `pool` must be the worker's role.
pub async fn seal_plaintext(pool: &PgPool, key: &SecretKey) -> anyhow::Result<()> {
    let mut sealed = 0u64;
    loop {
        let batch = repo::plaintext_secrets(pool, 500).await?;
        if batch.is_empty() {
            break;
        }
        let mut progressed = false;
        for found in &batch {
            let seal_one = |stored: &str| {
                if crypto::is_sealed(stored) {
                    stored.to_owned()
                } else {
                    seal(key, found.tenant_id, found.endpoint_id, stored)
                }
            };
            let secret = seal_one(&found.secret);
            let previous = found.previous_secret.as_deref().map(seal_one);
            let mut tx = TenantTx::begin(pool, found.tenant_id).await?;
            let replaced =
                repo::replace_secrets(&mut tx, found, &secret, previous.as_deref()).await?;
            tx.commit().await?;
            if replaced {
                sealed += 1;
                progressed = true;
            }
        }
        // Every row of the batch changed under us (rotations meanwhile): read again, but
        // never spin on rows something keeps rewriting in plaintext.
        if !progressed {
            bail!("could not encrypt the webhook signing secrets: they keep changing");
        }
    }
    if sealed == 0 {
        return Ok(());
    }
    tracing::info!(
        endpoints = sealed,
        key_id = key.id(),
        "encrypted the plaintext webhook signing secrets"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_opens_only_for_its_own_endpoint() {
        let key = SecretKey::generate();
        let (tenant, endpoint) = (Uuid::new_v4(), Uuid::new_v4());
        let secret = super::super::signing::new_secret();
        let stored = seal(&key, tenant, endpoint, &secret);
        assert_eq!(open(&key, tenant, endpoint, &stored), Ok(secret.clone()));
        assert!(open(&key, tenant, Uuid::new_v4(), &stored).is_err());
        assert!(open(&key, Uuid::new_v4(), endpoint, &stored).is_err());
        assert!(open(&SecretKey::generate(), tenant, endpoint, &stored).is_err());
        // Plaintext from before sealing still signs; anything else is refused.
        assert_eq!(open(&key, tenant, endpoint, &secret), Ok(secret));
        assert!(open(&key, tenant, endpoint, "garbage").is_err());
    }
}
