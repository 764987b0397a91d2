//! What a failed statement means for the request: `From<sqlx::Error> for AppError`, which
//! every `?` on a query goes through. Deadlocks and serialization failures become a
//! conflict to resend, a database going away a 503 to retry, a statement past the
//! request's deadline a timeout, the custom field values' unique index its own 409 (see
//! `violations` for the constraints a repository names itself), anything else an internal
//! error. It lives in `db/` because it reads SQLSTATEs and constraint names, which
//! `error.rs`, below `db/`, must not know; nothing imports this module, as the impl
//! applies wherever `AppError` and `sqlx::Error` meet.

use super::custom_fields;
use crate::error::AppError;

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        // Two transactions that each waited on the other (PostgreSQL aborts one of them):
        // the request changed nothing and can simply be sent again.
        if let sqlx::Error::Database(db) = &err {
            // Every write path keeps the custom field values index through a trigger, so
            // its unique rule can surface from any of them.
            if db.constraint() == Some(custom_fields::UNIQUE_INDEX) {
                return custom_fields::value_taken(None);
            }
            let code = db.code();
            if matches!(code.as_deref(), Some("40P01" | "40001")) {
                return AppError::Conflict {
                    message: "the request collided with a concurrent change and was not \
                              applied; send it again"
                        .into(),
                    details: Vec::new(),
                };
            }
            if code.as_deref().is_some_and(database_away) {
                return AppError::Unavailable(err.into());
            }
            // query_canceled: the statement outlived the request's deadline (TenantTx's
            // statement_timeout), as the edge's own 503 says, just sooner.
            if code.as_deref() == Some("57014") {
                return AppError::TimedOut;
            }
        }
        match &err {
            // Connection-level failures are the database being away, not a bug: the client
            // gets 503 and may retry.
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => AppError::Unavailable(err.into()),
            _ => AppError::Internal(anyhow::Error::new(err)),
        }
    }
}

/// SQLSTATEs that say the database is going away, coming back or out of connections
/// rather than that the request is wrong: a shutdown or crash of the server cutting off
/// the session (57P01 admin_shutdown, 57P02 crash_shutdown), a server still starting
/// (57P03 cannot_connect_now), any connection exception (class 08), and no free
/// connection slot (53300 too_many_connections). A retry later can succeed.
fn database_away(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03" | "53300") || code.starts_with("08")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn a_database_going_away_is_unavailable_whatever_the_way() {
        for code in [
            "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006", "08P01",
        ] {
            assert!(database_away(code), "{code}");
        }
        for code in ["23505", "40001", "42501", "57014", "22P02"] {
            assert!(!database_away(code), "{code}");
        }
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::ErrorKind::BrokenPipe.into()),
            sqlx::Error::Io(std::io::ErrorKind::UnexpectedEof.into()),
        ] {
            assert_eq!(AppError::from(err).code(), ErrorCode::ServiceUnavailable);
        }
    }
}
