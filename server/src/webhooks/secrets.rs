//! Webhook signing secrets at rest: sealed under the operator's key (`crate::crypto`),
//! each bound to its tenant and endpoint, so a ciphertext moved to another endpoint's row
//! does not open. The API seals a secret when it makes one and never reads it back; the
//! worker opens them to sign.
//!
//! Before serving or sending, [`prepare`] checks that the key is the one the stored
//! secrets were sealed with (a wrong key stops the server at start, naming the variable,
//! rather than failing every delivery), then seals the plaintext secrets of a database
//! from before sealing.

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

/// Refuses a key that did not seal the stored secrets, then seals any plaintext ones.
pub async fn prepare(pool: &PgPool, key: &SecretKey) -> anyhow::Result<()> {
    let keys = repo::secret_keys(pool).await?;
    let foreign: Vec<&str> = keys
        .iter()
        .filter_map(|(id, _)| id.as_deref())
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
    let plaintext: i64 = keys
        .iter()
        .filter(|(id, _)| id.is_none())
        .map(|(_, n)| *n)
        .sum();
    if plaintext == 0 {
        return Ok(());
    }
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
