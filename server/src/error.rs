//! The one application error type. Domain and database code return it; it knows nothing
//! about HTTP. `api::envelope` turns it (and every error poem raises by itself) into the
//! wire error envelope, in exactly one place.

use crate::domain::FieldError;

/// Stable error codes on the wire (`error.code`). Add codes, never repurpose one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    ValidationFailed,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Internal,
    ServiceUnavailable,
    /// 422: an `Idempotency-Key` reused for a different request.
    IdempotencyKeyReused,
    /// 409: an `Idempotency-Key` whose first request is still running.
    IdempotencyKeyInUse,
    /// 409: an `Idempotency-Key` whose first request completed, but whose stored answer
    /// cannot be opened any more (the operator's key changed).
    IdempotencyAnswerUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 16] = [
        Self::BadRequest,
        Self::ValidationFailed,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::PreconditionFailed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::Internal,
        Self::ServiceUnavailable,
        Self::IdempotencyKeyReused,
        Self::IdempotencyKeyInUse,
        Self::IdempotencyAnswerUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::ValidationFailed => "validation_failed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PreconditionFailed => "precondition_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::ServiceUnavailable => "service_unavailable",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInUse => "idempotency_key_in_use",
            Self::IdempotencyAnswerUnavailable => "idempotency_answer_unavailable",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::ValidationFailed => 422,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::ServiceUnavailable => 503,
            Self::IdempotencyKeyReused => 422,
            Self::IdempotencyKeyInUse => 409,
            Self::IdempotencyAnswerUnavailable => 409,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed (bad cursor, unparsable parameter, ...).
    #[error("{message}")]
    BadRequest {
        message: String,
        details: Vec<FieldError>,
    },
    /// The request is well formed but breaks one or more field rules.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated, but the credential may not do this (a missing scope, a role).
    #[error("{message}")]
    Forbidden {
        message: String,
        details: Vec<FieldError>,
    },
    /// The id does not exist, or belongs to another tenant: the two are indistinguishable.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        message: String,
        details: Vec<FieldError>,
    },
    /// An `Idempotency-Key` already used for a different request.
    #[error("this Idempotency-Key was used for a different request (method, path or body)")]
    IdempotencyKeyReused,
    /// An `Idempotency-Key` whose first request has not finished.
    #[error("a request with this Idempotency-Key is still running; retry after it finishes")]
    IdempotencyKeyInUse,
    /// An `Idempotency-Key` whose request already ran, but whose stored answer the
    /// server can no longer decrypt (`MOMENTUM_SECRET_KEY` changed since). Running the
    /// request again could do it twice, so neither happens.
    #[error(
        "a request with this Idempotency-Key already ran, but its stored answer can no longer \
         be read; it was not run again: check whether it took effect, then use a new key"
    )]
    IdempotencyAnswerUnavailable,
    /// A conditional write (`If-Match`) named a version that is no longer the current
    /// one; `current` is the current version's tag, which the 412 also reports.
    #[error("{message}")]
    PreconditionFailed {
        message: String,
        details: Vec<FieldError>,
        current: String,
    },
    /// Too many requests of one class from one credential or client.
    #[error("too many `{class}` requests: retry after {retry_after} s")]
    RateLimited {
        class: &'static str,
        retry_after: u64,
    },
    /// The database cannot be reached; the client may retry.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The shared rate-limit store cannot be reached and the operator chose to refuse
    /// what it cannot count (`MOMENTUM_RATE_LIMIT_STORE_FAILURE=deny`). Logged once per
    /// outage by the limiter, not per request.
    #[error("the service is temporarily unavailable")]
    LimitsUnavailable,
    /// The request did not finish within the server's deadline (`MOMENTUM_REQUEST_TIMEOUT_SECS`);
    /// whatever it had not committed is rolled back, and the client may retry.
    #[error("the request did not finish in time; retry later")]
    TimedOut,
    /// Anything unexpected. Logged with its full chain, never shown to the client.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { .. } => ErrorCode::BadRequest,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict { .. } => ErrorCode::Conflict,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyKeyInUse => ErrorCode::IdempotencyKeyInUse,
            Self::IdempotencyAnswerUnavailable => ErrorCode::IdempotencyAnswerUnavailable,
            Self::PreconditionFailed { .. } => ErrorCode::PreconditionFailed,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) | Self::LimitsUnavailable | Self::TimedOut => {
                ErrorCode::ServiceUnavailable
            }
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn details(&self) -> &[FieldError] {
        match self {
            Self::BadRequest { details, .. }
            | Self::Validation(details)
            | Self::Forbidden { details, .. }
            | Self::Conflict { details, .. }
            | Self::PreconditionFailed { details, .. } => details,
            _ => &[],
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        // Two transactions that each waited on the other (PostgreSQL aborts one of them):
        // the request changed nothing and can simply be sent again.
        if let sqlx::Error::Database(db) = &err {
            // Every write path keeps the custom field values index through a trigger, so
            // its unique rule can surface from any of them.
            if db.constraint() == Some(crate::db::custom_fields::UNIQUE_INDEX) {
                return crate::db::custom_fields::value_taken(None);
            }
            let code = db.code();
            if matches!(code.as_deref(), Some("40P01" | "40001")) {
                return Self::Conflict {
                    message: "the request collided with a concurrent change and was not \
                              applied; send it again"
                        .into(),
                    details: Vec::new(),
                };
            }
            if code.as_deref().is_some_and(database_away) {
                return Self::Unavailable(err.into());
            }
            // query_canceled: the statement outlived the request's deadline (TenantTx's
            // statement_timeout), as the edge's own 503 says, just sooner.
            if code.as_deref() == Some("57014") {
                return Self::TimedOut;
            }
        }
        match &err {
            // Connection-level failures are the database being away, not a bug: the client
            // gets 503 and may retry.
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err.into()),
            _ => Self::Internal(anyhow::Error::new(err)),
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

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

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
