//! Reaching the database: URLs parsed and connected with their setting named in every
//! error, and what TLS the connection runs over logged.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

use crate::db;

pub fn parse_url(url: &str, what: &str) -> anyhow::Result<PgConnectOptions> {
    // The error of a URL parse can echo the URL, password included: keep it out.
    let options = url
        .parse()
        .map_err(|_| anyhow::anyhow!("{what} is not a valid PostgreSQL URL"))?;
    db::tls::check_url(url, what, &options)?;
    Ok(options)
}

/// A pool on the database `url` names (`what`: its variable, which a failure names),
/// whose encryption the log then states (`sslmode` and `sslrootcert` come from the URL).
pub async fn connect_url(
    url: &str,
    what: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<PgPool> {
    let pool = db::connect_with(parse_url(url, what)?, max_connections, acquire_timeout)
        .await
        .with_context(|| what.to_owned())?;
    log_encryption(&pool, what).await;
    Ok(pool)
}

/// The start-up log's line on a pool's encryption. Not a reason to stop: the checks that
/// follow on the same database fail for real if it is broken.
pub(super) async fn log_encryption(pool: &PgPool, what: &str) {
    if let Err(err) = db::tls::log_encryption(pool, what).await {
        tracing::warn!(database = what, error = %err, "cannot tell whether the database connection is encrypted");
    }
}
