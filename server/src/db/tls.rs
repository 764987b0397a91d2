//! TLS to PostgreSQL: the checks of a database URL's TLS settings, a failed handshake told
//! in words an operator can act on, and whether a connection is encrypted (for the
//! start-up log and `/readyz`).
//!
//! sqlx does the TLS itself (rustls on the ring provider, the Mozilla roots of
//! `webpki-roots`), as the URL's `sslmode` says (else `PGSSLMODE`, else `prefer`):
//! * `disable` (and `allow`, which sqlx treats as `disable`): never encrypted;
//! * `prefer`: encrypted when the server offers TLS, in plaintext when it does not, with
//!   no certificate check;
//! * `require`: encrypted or no connection, with no certificate check (unlike libpq,
//!   whatever `sslrootcert` says);
//! * `verify-ca`: also the certificate chain, to a CA in `sslrootcert` or the Mozilla
//!   roots (libpq trusts `sslrootcert` alone);
//! * `verify-full`: also that the certificate names the URL's host.
//!
//! A Unix socket is never encrypted: PostgreSQL refuses TLS on one (`prefer` connects in
//! plaintext; `require` and above fail).

use anyhow::anyhow;
use rustls::CertificateError;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{PgExecutor, PgPool};

/// The `sslmode` as a URL spells it.
pub fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

fn verifies(mode: PgSslMode) -> bool {
    matches!(mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull)
}

/// Where `options` connect: the socket's folder, or `host:port`.
fn server(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(dir) => format!("the socket in {}", dir.display()),
        None if options.get_host().starts_with('/') => {
            format!("the socket in {}", options.get_host())
        }
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

/// The TLS settings of a database URL (`what` names it) that sqlx would only trip over
/// once connecting, or would silently ignore. `url` has parsed into `options` already.
///
/// * An `sslrootcert` file that cannot be read is named here: sqlx would say only "No such
///   file or directory", which a missing Unix socket says as well.
/// * `sslrootcert` with `prefer` or `require` is ignored by sqlx (libpq would verify the
///   chain under `require`): said in a warning, so nobody believes it checked.
pub fn check_url(url: &str, what: &str, options: &PgConnectOptions) -> anyhow::Result<()> {
    // The URL parsed as a PostgreSQL URL already; should the generic parser disagree,
    // there is nothing more to check here (and its error, which could echo the URL, is
    // not shown).
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(());
    };
    let mode = options.get_ssl_mode();
    for (key, value) in parsed.query_pairs() {
        // The names sqlx takes for it (`sslrootcert` is libpq's).
        if !matches!(&*key, "sslrootcert" | "ssl-root-cert" | "ssl-ca") {
            continue;
        }
        if !verifies(mode) {
            tracing::warn!(
                database = what,
                sslmode = ssl_mode_name(mode),
                "sslrootcert is ignored: the server's certificate is checked only with \
                 sslmode=verify-full (or verify-ca)"
            );
            continue;
        }
        // sqlx takes PEM text in place of a file name too.
        if value.trim_start().starts_with("-----BEGIN") {
            continue;
        }
        if let Err(err) = std::fs::read(&*value) {
            return Err(anyhow!("{what}: cannot read sslrootcert {value}: {err}"));
        }
    }
    Ok(())
}

/// A failed connection attempt through `options`, told without the URL (nor its
/// password): where to, with which `sslmode`, and why, naming an untrusted certificate
/// or a host name the certificate lacks as such.
pub fn connect_error(err: &sqlx::Error, options: &PgConnectOptions) -> anyhow::Error {
    let mode = options.get_ssl_mode();
    anyhow!(
        "cannot connect to PostgreSQL at {} (sslmode={}): {}",
        server(options),
        ssl_mode_name(mode),
        reason(err, options)
    )
}

fn reason(err: &sqlx::Error, options: &PgConnectOptions) -> String {
    if let Some(tls) = rustls_error(err) {
        return handshake_failure(tls, options);
    }
    match err {
        // sqlx's words when the server answers the TLS request with "no".
        sqlx::Error::Tls(inner) if inner.to_string() == "server does not support TLS" => {
            "the server does not accept TLS connections (ssl = off in its configuration, or \
             a Unix socket): turn ssl on in postgresql.conf, or connect over TCP"
                .to_owned()
        }
        other => other.to_string(),
    }
}

/// The rustls error behind a failed handshake: sqlx passes it on inside an I/O error (the
/// handshake's own I/O) or, for the configuration, as its TLS error.
fn rustls_error(err: &sqlx::Error) -> Option<&rustls::Error> {
    match err {
        sqlx::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        sqlx::Error::Tls(inner) => inner.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

fn handshake_failure(err: &rustls::Error, options: &PgConnectOptions) -> String {
    let host = options.get_host();
    let rustls::Error::InvalidCertificate(cert) = err else {
        return format!("the TLS handshake failed: {err}");
    };
    match cert {
        CertificateError::UnknownIssuer => "the server's certificate is not trusted: it is not \
             signed by a CA in sslrootcert (nor by a public CA). Set sslrootcert in the URL \
             to the file of the CA that signed the server's certificate"
            .to_owned(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let names = match cert {
                CertificateError::NotValidForNameContext { presented, .. } => {
                    let presented: Vec<&str> = presented.iter().map(|n| bare_name(n)).collect();
                    format!(" (it names {})", presented.join(", "))
                }
                _ => String::new(),
            };
            let mut text = format!(
                "the server's certificate does not name the host \"{host}\"{names}: \
                 connect to a name the certificate holds"
            );
            if matches!(options.get_ssl_mode(), PgSslMode::VerifyCa) {
                // sqlx 0.8.6 checks the name under verify-ca as well: it lets only the
                // older variant of this error through (launchbadge/sqlx#3793, fixed
                // upstream after 0.8.6), and rustls 0.23.24 and later report the newer one.
                text.push_str(
                    ". This build checks the host name under sslmode=verify-ca too (sqlx \
                     0.8 with rustls 0.23.24 or later, launchbadge/sqlx#3793), so \
                     verify-ca acts as verify-full",
                );
            }
            text
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (check the clocks)".to_owned()
        }
        CertificateError::Revoked => "the server's certificate is revoked".to_owned(),
        _ => format!("the server's certificate is refused: {err}"),
    }
}

/// A name as rustls presents it (`DnsName("db.example")`, `IpAddress(10.0.0.1)`), bare.
fn bare_name(presented: &str) -> &str {
    let inner = presented
        .strip_prefix("DnsName(")
        .or_else(|| presented.strip_prefix("IpAddress("))
        .and_then(|rest| rest.strip_suffix(')'));
    match inner {
        Some(name) => name.trim_matches('"'),
        None => presented,
    }
}

/// Whether a connection is encrypted, as PostgreSQL sees it (`pg_stat_ssl` of the
/// session's own backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    pub encrypted: bool,
    /// The TLS version and cipher, when encrypted.
    pub version: Option<String>,
    pub cipher: Option<String>,
    /// Connected through a Unix socket (never encrypted, never leaves the machine).
    pub unix_socket: bool,
}

/// The encryption of the connection `executor` runs on. Behind a pooler (PgBouncer) this
/// is the pooler's connection to PostgreSQL, not ours to the pooler.
pub async fn encryption<'e>(executor: impl PgExecutor<'e>) -> anyhow::Result<Encryption> {
    let (encrypted, version, cipher, unix_socket): (bool, Option<String>, Option<String>, bool) =
        super::query_as(
            "SELECT ssl, version, cipher, inet_client_addr() IS NULL \
               FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
        .fetch_one(executor)
        .await
        .map_err(|err| anyhow!("cannot read the connection's encryption: {err}"))?;
    Ok(Encryption {
        encrypted,
        version,
        cipher,
        unix_socket,
    })
}

/// Says in the log whether the pool's connections (`what`: the URL's variable, or the
/// embedded database) are encrypted, with the TLS version and cipher; a warning when they
/// cross a network in plaintext. Never the URL, nor its password.
pub async fn log_encryption(pool: &PgPool, what: &str) -> anyhow::Result<Encryption> {
    let options = pool.connect_options();
    let mode = ssl_mode_name(options.get_ssl_mode());
    let server = server(&options);
    let found = encryption(super::autocommit(pool)).await?;
    if found.encrypted {
        tracing::info!(
            database = what,
            server,
            sslmode = mode,
            encrypted = true,
            tls_version = found.version.as_deref().unwrap_or("?"),
            cipher = found.cipher.as_deref().unwrap_or("?"),
            "the database connection is encrypted"
        );
    } else if found.unix_socket {
        tracing::info!(
            database = what,
            server,
            encrypted = false,
            "the database connection is a Unix socket: not encrypted, and never leaves \
             the machine"
        );
    } else {
        tracing::warn!(
            database = what,
            server,
            sslmode = mode,
            encrypted = false,
            "the database connection is NOT encrypted: set sslmode=verify-full and \
             sslrootcert in the URL (and ssl = on in PostgreSQL)"
        );
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_are_shown_bare() {
        assert_eq!(bare_name("DnsName(\"db.example\")"), "db.example");
        assert_eq!(bare_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(bare_name("something else"), "something else");
    }
}
