//! The stable `code` of an error answer as an enum, for `match`.

use serde::{Deserialize, Serialize};

use crate::types;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)*) => {
        /// The `error.code` of an error answer (see [`types::ErrorEnvelope::code`]).
        /// Codes are only ever added: one this SDK does not know is kept as
        /// [`ErrorCode::Unknown`], so a newer server's errors still decode.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code added after this SDK was generated, as the server sent it.
            Unknown(String),
        }

        impl ErrorCode {
            /// The code as the server sends it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Unknown(code) => code,
                }
            }
        }

        impl From<String> for ErrorCode {
            fn from(code: String) -> Self {
                match code.as_str() {
                    $($code => Self::$variant,)*
                    _ => Self::Unknown(code),
                }
            }
        }

        #[cfg(test)]
        const KNOWN: &[&str] = &[$($code),*];
    };
}

error_codes! {
    /// `400`: the request cannot be read (bad JSON, a bad parameter).
    BadRequest = "bad_request",
    /// `422`: fields break the rules; `details` names each.
    ValidationFailed = "validation_failed",
    /// `401`: no credential, or not a valid one.
    Unauthorized = "unauthorized",
    /// `403`: the credential lacks the scope or role.
    Forbidden = "forbidden",
    /// `404`: no such resource in this tenant.
    NotFound = "not_found",
    /// `405`.
    MethodNotAllowed = "method_not_allowed",
    /// `409`: a uniqueness rule or the resource's state refuses the change.
    Conflict = "conflict",
    /// `412`: `If-Match` names a version that is no longer current.
    PreconditionFailed = "precondition_failed",
    /// `413`.
    PayloadTooLarge = "payload_too_large",
    /// `415`.
    UnsupportedMediaType = "unsupported_media_type",
    /// `429`: wait `Retry-After` seconds.
    RateLimited = "rate_limited",
    /// `500`.
    Internal = "internal",
    /// `503`: try again later.
    ServiceUnavailable = "service_unavailable",
    /// `422`: this `Idempotency-Key` was used with another request.
    IdempotencyKeyReused = "idempotency_key_reused",
    /// `409`: a request with this `Idempotency-Key` is still running.
    IdempotencyKeyInUse = "idempotency_key_in_use",
    /// `409`: the first answer under this key can no longer be replayed.
    IdempotencyAnswerUnavailable = "idempotency_answer_unavailable",
}

impl From<ErrorCode> for String {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::Unknown(code) => code,
            known => known.as_str().to_owned(),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl types::ErrorEnvelope {
    /// `error.code` as an [`ErrorCode`].
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from(self.error.code.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn codes_round_trip_through_json_known_or_not() {
        for code in KNOWN {
            let parsed: ErrorCode = serde_json::from_value(serde_json::json!(code)).unwrap();
            assert!(!matches!(parsed, ErrorCode::Unknown(_)), "{code}");
            assert_eq!(
                serde_json::to_value(&parsed).unwrap(),
                serde_json::json!(code)
            );
        }
        let newer: ErrorCode = serde_json::from_str(r#""quota_exceeded""#).unwrap();
        assert_eq!(newer, ErrorCode::Unknown("quota_exceeded".into()));
        assert_eq!(
            serde_json::to_string(&newer).unwrap(),
            r#""quota_exceeded""#
        );
        assert_eq!(
            serde_json::from_str::<ErrorCode>(r#""not_found""#).unwrap(),
            ErrorCode::NotFound
        );
    }

    /// The document lists the known codes in `ErrorBody.code`'s description (as
    /// backticked words); each must be a variant here, or a new code would silently
    /// decode as `Unknown`.
    #[test]
    fn every_code_the_document_lists_is_known() {
        let spec: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../openapi/openapi.json"
        )))
        .unwrap();
        let description = spec["components"]["schemas"]["ErrorBody"]["properties"]["code"]
            ["description"]
            .as_str()
            .unwrap();
        let listed: Vec<&str> = description
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|word| word.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        assert!(listed.len() >= KNOWN.len(), "{listed:?}");
        for code in listed {
            assert!(
                KNOWN.contains(&code),
                "the document lists `{code}`: add it to ErrorCode"
            );
        }
    }
}
