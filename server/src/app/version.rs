//! Optimistic concurrency: every single-resource answer carries a strong `ETag`, writes
//! honour `If-Match` and reads honour `If-None-Match`. Everything about tags lives here:
//! what a resource's version is ([`Versioned`], implemented below for every resource
//! that has one), how a version is written as a tag, how the two request headers are
//! parsed and compared. `api::responses` puts the tags on the wire (`Tagged`,
//! `Conditional`).
//!
//! A version is the instant the resource's representation last changed (its
//! `updated_at`, to the microsecond), and its tag is that instant in microseconds since
//! the Unix epoch, in lower-case hex, quoted: `"6123c1a2b3c4d"`. Tags are strong: two
//! representations with one tag are identical, so `If-Match` compares them byte for byte
//! (RFC 9110 §13.1.1: a weak tag `W/"..."` never matches there) and `If-None-Match` weakly
//! (§13.1.2).

use chrono::{DateTime, Utc};

use crate::db;
use crate::domain::FieldError;
use crate::error::AppError;

/// A resource whose representation has a version: the instant it last changed.
pub trait Versioned {
    fn version(&self) -> DateTime<Utc>;

    /// The version as a strong entity tag, quotes included.
    fn etag(&self) -> String {
        format!("\"{:x}\"", self.version().timestamp_micros())
    }
}

/// Implements [`Versioned`] by `updated_at`, which every write to these resources sets,
/// and which a trigger (migration `updated_at_is_a_version`) moves forward whenever a row
/// changes without it moving forward: a link cleared by a deletion elsewhere, or a write
/// from a transaction that began before the last one. So a tag never comes back.
macro_rules! by_updated_at {
    ($($ty:ty),* $(,)?) => {
        $(impl Versioned for $ty {
            fn version(&self) -> DateTime<Utc> {
                self.updated_at
            }
        })*
    };
}

/// Implements [`Versioned`] for an envelope (or a resource wrapped with more fields) by
/// the resource it carries in `$field`.
macro_rules! by_field {
    ($($ty:ty => $field:ident),* $(,)?) => {
        $(impl Versioned for $ty {
            fn version(&self) -> DateTime<Utc> {
                self.$field.version()
            }
        })*
    };
}

by_updated_at!(
    db::contacts::ContactRow,
    db::companies::CompanyRow,
    db::pipelines::PipelineRow,
    db::stages::StageRow,
    db::leads::LeadRow,
    db::activities::ActivityRow,
    db::users::UserRow,
);

/// A webhook endpoint's version is its `updated_at` (which also moves when the worker
/// records a first failure or a success: `failing_since`, `last_success_at`) — or, once
/// the secret before the last rotation has stopped signing, that instant: from then on
/// `previous_secret_expires_at` no longer shows, without any write.
pub fn endpoint_version(row: &db::webhooks::EndpointRow, now: DateTime<Utc>) -> DateTime<Utc> {
    match row.previous_secret_expires_at {
        Some(expired) if expired <= now => row.updated_at.max(expired),
        _ => row.updated_at,
    }
}

impl Versioned for db::webhooks::EndpointRow {
    fn version(&self) -> DateTime<Utc> {
        endpoint_version(self, Utc::now())
    }
}

pub(crate) use {by_field, by_updated_at};

/// One entity tag of a conditional header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EntityTag {
    weak: bool,
    /// The tag with its quotes, as [`Versioned::etag`] writes it.
    opaque: String,
}

/// The value of `If-Match` or `If-None-Match`: `*`, or a list of entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Any,
    Tags(Vec<EntityTag>),
}

/// The grammar [`parse_condition`] accepts, as the document states it (ECMAScript regular
/// expression): `*`, or entity tags of visible ASCII separated by commas, empty list
/// elements allowed. Leading and trailing whitespace is not part of a field value in
/// HTTP, so it is left out; the parser trims it all the same.
pub const CONDITION_PATTERN: &str =
    r#"^(\*|(,[ \t,]*)?(W/)?"[\x21\x23-\x7e]*"([ \t]*,[ \t,]*((W/)?"[\x21\x23-\x7e]*")?)*)$"#;

/// Parses `*` or `1#entity-tag` (RFC 9110 §8.8.3: `[W/] "<etagc>*"`, etagc being any
/// visible character but `"`), ignoring empty list elements. `None` when malformed.
fn parse_condition(value: &str) -> Option<Condition> {
    let value = value.trim_matches([' ', '\t']);
    if value == "*" {
        return Some(Condition::Any);
    }
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (weak, quoted) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let body = quoted.strip_prefix('"')?;
        let end = body.find('"')?;
        let opaque = &body[..end];
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        tags.push(EntityTag {
            weak,
            opaque: format!("\"{opaque}\""),
        });
        rest = body[end + 1..].trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with(',')) {
            return None;
        }
    }
    (!tags.is_empty()).then_some(Condition::Tags(tags))
}

fn parse_header(name: &str, value: Option<String>) -> Result<Option<Condition>, AppError> {
    let Some(value) = value else {
        return Ok(None);
    };
    match parse_condition(&value) {
        Some(condition) => Ok(Some(condition)),
        None => Err(AppError::BadRequest {
            message: format!("invalid header `{name}`"),
            details: vec![FieldError::new(
                name,
                "invalid",
                "must be `*` or a comma-separated list of entity tags such as \
                 `\"6123c1a2b3c4d\"` (an `ETag` this API returned)",
            )],
        }),
    }
}

/// Whether `value` is a well-formed `If-Match` / `If-None-Match` (for the test that holds
/// the documented pattern to the parser).
#[cfg(test)]
pub(crate) fn well_formed(value: &str) -> bool {
    parse_condition(value).is_some()
}

pub const IF_MATCH: &str = "If-Match";
pub const IF_NONE_MATCH: &str = "If-None-Match";

/// A write's `If-Match` precondition; without the header every version passes.
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<Condition>);

impl IfMatch {
    /// Reads the header's value: a malformed one is a `400` naming it.
    pub fn parse(value: Option<String>) -> Result<Self, AppError> {
        parse_header(IF_MATCH, value).map(Self)
    }

    /// Checks the precondition against the resource as it is now, which the caller has
    /// locked in the transaction that will write it: a `412` carrying the current tag
    /// unless the header is absent, `*`, or lists the current tag (strong comparison).
    pub fn check(&self, current: &impl Versioned) -> Result<(), AppError> {
        let tags = match &self.0 {
            None | Some(Condition::Any) => return Ok(()),
            Some(Condition::Tags(tags)) => tags,
        };
        let etag = current.etag();
        if tags.iter().any(|tag| !tag.weak && tag.opaque == etag) {
            return Ok(());
        }
        Err(AppError::PreconditionFailed {
            message: format!(
                "the resource has changed since the version named in `If-Match`: it is \
                 now {etag}; read it again and retry"
            ),
            details: vec![FieldError::new(
                IF_MATCH,
                "stale",
                format!("the current ETag is {etag}"),
            )],
            current: etag,
        })
    }
}

impl IfMatch {
    /// Like [`IfMatch::check`], for a write that does not otherwise read the resource
    /// first: `lock` (a future, so not run unless the header is there) locks and reads it.
    pub async fn check_with<T: Versioned>(
        &self,
        lock: impl std::future::Future<Output = Result<T, AppError>>,
    ) -> Result<(), AppError> {
        match self.0 {
            None => Ok(()),
            Some(_) => self.check(&lock.await?),
        }
    }
}

/// A read's `If-None-Match` condition; without the header nothing matches.
#[derive(Debug, Clone, Default)]
pub struct IfNoneMatch(Option<Condition>);

impl IfNoneMatch {
    /// Reads the header's value: a malformed one is a `400` naming it.
    pub fn parse(value: Option<String>) -> Result<Self, AppError> {
        parse_header(IF_NONE_MATCH, value).map(Self)
    }

    /// Whether the client already holds the current version (weak comparison), so the
    /// answer is `304 Not Modified`.
    pub fn matches(&self, current: &impl Versioned) -> bool {
        match &self.0 {
            None => false,
            Some(Condition::Any) => true,
            Some(Condition::Tags(tags)) => {
                let etag = current.etag();
                tags.iter().any(|tag| tag.opaque == etag)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    struct At(DateTime<Utc>);

    impl Versioned for At {
        fn version(&self) -> DateTime<Utc> {
            self.0
        }
    }

    fn at(micros: i64) -> At {
        At(Utc
            .timestamp_micros(micros)
            .single()
            .expect("a valid instant"))
    }

    #[test]
    fn a_tag_is_the_version_in_quoted_hex_microseconds() {
        assert_eq!(at(0x6123_c1a2_b3c4).etag(), "\"6123c1a2b3c4\"");
        let one_micro_later = at(0x6123_c1a2_b3c5).etag();
        assert_ne!(at(0x6123_c1a2_b3c4).etag(), one_micro_later);
    }

    #[test]
    fn if_match_passes_the_current_tag_a_list_holding_it_and_star() {
        let current = at(0xabc);
        for header in ["\"abc\"", " \"1\" , \"abc\"", "*", "\"1\",,\"abc\""] {
            let cond = IfMatch::parse(Some(header.into())).expect("well formed");
            assert!(cond.check(&current).is_ok(), "{header}");
        }
        assert!(IfMatch::parse(None).unwrap().check(&current).is_ok());
    }

    #[test]
    fn if_match_refuses_another_tag_and_any_weak_tag_naming_the_current_one() {
        let current = at(0xabc);
        for header in ["\"abd\"", "W/\"abc\"", "\"ABC\""] {
            let cond = IfMatch::parse(Some(header.into())).expect("well formed");
            match cond.check(&current) {
                Err(AppError::PreconditionFailed {
                    details, current, ..
                }) => {
                    assert_eq!(current, "\"abc\"");
                    assert_eq!(details[0].field, "If-Match");
                    assert_eq!(details[0].code, "stale");
                    assert!(details[0].message.contains("\"abc\""));
                }
                other => panic!("{header}: {other:?}"),
            }
        }
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let current = at(0xabc);
        for (header, hit) in [
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("*", true),
            ("\"abd\"", false),
        ] {
            let cond = IfNoneMatch::parse(Some(header.into())).expect("well formed");
            assert_eq!(cond.matches(&current), hit, "{header}");
        }
        assert!(!IfNoneMatch::parse(None).unwrap().matches(&current));
    }

    #[test]
    fn malformed_conditions_are_bad_requests_naming_the_header() {
        for header in [
            "",
            "abc",
            "\"abc",
            "\"a\" \"b\"",
            "**",
            "\"a\"x",
            "W/abc",
            "\"a b\"",
        ] {
            match IfMatch::parse(Some(header.into())) {
                Err(AppError::BadRequest { details, .. }) => {
                    assert_eq!(details[0].field, "If-Match", "{header:?}");
                }
                other => panic!("{header:?}: {other:?}"),
            }
            assert!(
                IfNoneMatch::parse(Some(header.into())).is_err(),
                "{header:?}"
            );
        }
    }
}
