//! What the response types' `serde::Serialize` needs to write exactly what their
//! poem-openapi schema (`ToJSON`) says: timestamps as `DateTime::to_rfc3339` writes them
//! (`+00:00`, where chrono's own `Serialize` writes `Z`), and, in debug builds, the check
//! that the two agree on every answer ([`super::responses`] writes bodies by `Serialize`).

use chrono::{DateTime, Utc};
use serde::Serializer;

/// `#[serde(serialize_with = "json::timestamp")]` for a `DateTime<Utc>` field.
pub fn timestamp<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339())
}

/// `#[serde(serialize_with = "json::optional_timestamp")]` for an `Option<DateTime<Utc>>`
/// field: `null` when absent, as poem-openapi writes a `None` it does not skip.
pub fn optional_timestamp<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => timestamp(at, s),
        None => s.serialize_none(),
    }
}

/// Panics when `bytes`, the body written by `Serialize`, is not the JSON value `ToJSON`
/// makes of `body`: the two would disagree on a name, a skipped field or a format, and
/// the answer would stray from the document. Debug builds only, so every test checks
/// every answer it gets; release builds write the bytes unchecked.
#[cfg(debug_assertions)]
pub fn assert_same_as_schema<T: poem_openapi::types::ToJSON>(body: &T, bytes: &[u8]) {
    let written: serde_json::Value =
        serde_json::from_slice(bytes).expect("a serialized body parses as JSON");
    let schema = body.to_json().unwrap_or(serde_json::Value::Null);
    assert!(
        written == schema,
        "{}: Serialize wrote\n{written}\nwhere ToJSON makes\n{schema}",
        std::any::type_name::<T>()
    );
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use chrono::TimeZone;
    use poem_openapi::types::ToJSON;

    use super::*;

    #[derive(serde::Serialize)]
    struct At {
        #[serde(serialize_with = "timestamp")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "optional_timestamp")]
        maybe: Option<DateTime<Utc>>,
    }

    #[test]
    fn timestamps_are_written_as_poem_openapi_writes_them() {
        let whole = Utc.with_ymd_and_hms(2026, 12, 3, 14, 5, 6).unwrap();
        let micros = whole + chrono::Duration::microseconds(123_456);
        for at in [whole, micros] {
            let written = serde_json::to_value(At {
                at,
                maybe: Some(at),
            })
            .unwrap();
            assert_eq!(Some(written["at"].clone()), at.to_json());
            assert_eq!(Some(written["maybe"].clone()), Some(at).to_json());
        }
        let none = serde_json::to_value(At {
            at: whole,
            maybe: None,
        })
        .unwrap();
        assert_eq!(Some(none["maybe"].clone()), None::<DateTime<Utc>>.to_json());
        assert_eq!(none["at"], "2026-12-03T14:05:06+00:00");
    }

    /// A type whose `Serialize` names a field otherwise than its schema.
    #[derive(poem_openapi::Object, serde::Serialize)]
    struct Strays {
        #[oai(rename = "default")]
        is_default: bool,
    }

    #[derive(poem_openapi::Object, serde::Serialize)]
    struct Agrees {
        #[oai(rename = "default")]
        #[serde(rename = "default")]
        is_default: bool,
        #[oai(nullable)]
        #[serde(serialize_with = "optional_timestamp")]
        deleted_at: Option<DateTime<Utc>>,
    }

    #[test]
    fn a_body_that_strays_from_its_schema_is_caught_in_debug_builds() {
        let agrees = Agrees {
            is_default: true,
            deleted_at: None,
        };
        assert_same_as_schema(&agrees, &serde_json::to_vec(&agrees).unwrap());
        let strays = Strays { is_default: true };
        let bytes = serde_json::to_vec(&strays).unwrap();
        let caught = std::panic::catch_unwind(|| assert_same_as_schema(&strays, &bytes));
        assert!(
            caught.is_err(),
            "a renamed field written under its Rust name"
        );
    }
}
