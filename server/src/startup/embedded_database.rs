//! The embedded PostgreSQL `momentum serve` runs without `DATABASE_URL`, and the secret
//! key kept beside its data.

use std::path::Path;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

use crate::config::SecretKeyArgs;
use crate::crypto::SecretKey;
use crate::db::{self, embedded};

/// The embedded database as `serve` and `tenant create` use it: started (unless already
/// running), bootstrapped and migrated.
pub struct EmbeddedDatabase {
    pub cluster: embedded::Cluster,
    /// Whether this process started it (and so stops it on the way out).
    pub started_here: bool,
    pub admin: PgPool,
    /// What migrating it at open found: `momentum migrate` refuses a database ahead of
    /// this binary, the other commands use it as it is.
    pub migrated: db::Migrated,
}

pub const EMBEDDED_DB: &str = "momentum";

impl EmbeddedDatabase {
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let cluster = embedded::Cluster::new(data_dir, true)?;
        if cluster.init()? {
            tracing::info!(dir = %cluster.root().display(), "created the embedded PostgreSQL cluster");
        }
        let started_here = cluster.start()?;
        let ready = async {
            cluster.bootstrap(EMBEDDED_DB).await?;
            let admin = db::connect(
                cluster.connect_options(embedded::OWNER_ROLE, EMBEDDED_DB),
                2,
            )
            .await?;
            let migrated = db::migrate(&admin).await?;
            warn_if_ahead(&migrated);
            cluster.grant_runtime_role().await?;
            anyhow::Ok((admin, migrated))
        }
        .await;
        match ready {
            Ok((admin, migrated)) => Ok(Self {
                cluster,
                started_here,
                admin,
                migrated,
            }),
            Err(err) => {
                if started_here {
                    let _ = cluster.stop();
                }
                Err(err)
            }
        }
    }

    pub fn runtime_options(&self) -> PgConnectOptions {
        self.cluster
            .connect_options(embedded::RUNTIME_ROLE, EMBEDDED_DB)
    }

    /// The worker's role: what the webhook worker and the purges connect as.
    pub fn worker_options(&self) -> PgConnectOptions {
        self.cluster
            .connect_options(embedded::WORKER_ROLE, EMBEDDED_DB)
    }

    pub async fn close(self) {
        self.admin.close().await;
        if self.started_here {
            if let Err(err) = self.cluster.stop() {
                tracing::warn!(error = %err, "could not stop the embedded PostgreSQL");
            }
        }
    }
}

/// A server started against a database a newer release migrated (the previous release
/// during a rolling upgrade, or one rolled back) serves without migrating: it has every
/// migration it needs, and the newer ones are expand/contract. Said once at start.
pub(super) fn warn_if_ahead(migrated: &db::Migrated) {
    if let db::Migrated::Ahead(unknown) = migrated {
        let versions: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        tracing::warn!(
            unknown = %versions.join(", "),
            "the database has migrations this release does not know (a newer release \
             migrated it): serving without migrating"
        );
    }
}

/// The file under MOMENTUM_DATA_DIR holding the embedded setup's secret key.
pub const SECRET_KEY_FILE: &str = "secret-key";

/// The operator's key: MOMENTUM_SECRET_KEY if set; without it, with the embedded database
/// only (`data_dir`), the one kept in the data directory, made on first start. With
/// DATABASE_URL there is no safe default: a key made up here would be lost with the
/// process, and the secrets with it.
pub fn secret_key(args: &SecretKeyArgs, data_dir: Option<&Path>) -> anyhow::Result<SecretKey> {
    if let Some(text) = &args.secret_key {
        return Ok(SecretKey::parse(&text.0)?);
    }
    let Some(data_dir) = data_dir else {
        anyhow::bail!(
            "MOMENTUM_SECRET_KEY is not set: with DATABASE_URL, every server and worker \
             needs the operator's key that encrypts webhook signing secrets (32 bytes as \
             base64 or hex; generate one with `openssl rand -base64 32`)"
        );
    };
    embedded_secret_key(data_dir)
}

/// Reads `data_dir/secret-key`, or makes it (mode 0600) when there is none.
pub(super) fn embedded_secret_key(data_dir: &Path) -> anyhow::Result<SecretKey> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let file = data_dir.join(SECRET_KEY_FILE);
    let key = SecretKey::generate();
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file);
    match created {
        Ok(mut out) => {
            out.write_all(format!("{}\n", key.to_base64()).as_bytes())
                .and_then(|()| out.sync_all())
                .with_context(|| format!("cannot write {}", file.display()))?;
            tracing::info!(file = %file.display(), key_id = key.id(), "made a secret key for the embedded database");
            Ok(key)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            SecretKey::parse(&text).map_err(|_| {
                anyhow::anyhow!(
                    "{} does not hold a secret key (32 bytes as base64 or hex)",
                    file.display()
                )
            })
        }
        Err(err) => Err(err).with_context(|| format!("cannot create {}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::Redacted;

    #[test]
    fn the_embedded_key_is_made_once_private_and_kept() {
        let dir = std::env::temp_dir().join(format!("momentum-key-{}", uuid::Uuid::new_v4()));
        let none = SecretKeyArgs { secret_key: None };
        let made = secret_key(&none, Some(&dir)).unwrap();
        let file = dir.join(SECRET_KEY_FILE);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(secret_key(&none, Some(&dir)).unwrap().id(), made.id());
        // The variable wins over the file.
        let given = SecretKey::generate();
        let set = SecretKeyArgs {
            secret_key: Some(Redacted(given.to_base64())),
        };
        assert_eq!(secret_key(&set, Some(&dir)).unwrap().id(), given.id());
        std::fs::remove_dir_all(&dir).unwrap();
        // With DATABASE_URL there is no default.
        let err = secret_key(&none, None).unwrap_err().to_string();
        assert!(err.contains("MOMENTUM_SECRET_KEY is not set"), "{err}");
    }
}
