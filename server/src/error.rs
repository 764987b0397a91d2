//! The one application error type, and the stable codes that name its kinds. Domain and
//! database code return it; it knows nothing of HTTP: the edge (`api::responses::status`,
//! `AppError::into_poem` and `render_error` in `api::edge`) gives each code its status and
//! renders the wire error envelope, in exactly one place, as Oxide's `From<Error> for
//! HttpError` does. What a database error means (`From<sqlx::Error>`) is `db::errors`'s
//! to say. This module sits at the bottom with `domain/`: it must never import anything
//! of the crate but `domain`.

use crate::domain::FieldError;

/// Stable error codes on the wire (`error.code`). Add codes, never repurpose one. The
/// edge adds each code's HTTP status (`api::responses::status`).
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
    /// A request body larger than the operation takes (an import's file).
    #[error("the request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// A request body of a media type the operation does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
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

    /// A query parameter that failed its rules: a malformed request (400) naming it. One
    /// constructor, so every layer that reads parameters (the handlers, search, the list
    /// queries an export replays) words the error alike.
    pub fn bad_parameter(err: FieldError) -> Self {
        Self::BadRequest {
            message: format!("invalid parameter `{}`", err.field),
            details: vec![err],
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
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
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

pub type AppResult<T> = Result<T, AppError>;
