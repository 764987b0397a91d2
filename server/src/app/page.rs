//! Opaque keyset cursors. A cursor is base64url(JSON) of the sort it was made for and the
//! (value, id) of the last row served; the next page continues strictly after it, so rows
//! inserted or deleted meanwhile never shift a page (no duplicates, no misses). No server
//! state: any instance can continue any cursor. `v` versions the format.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::db::page::{Keyed, Page, SortKey, SortValue, ValueKind};
use crate::domain::FieldError;
use crate::error::AppError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Serialize, Deserialize)]
struct Token {
    v: u8,
    sort: String,
    desc: bool,
    value: String,
    id: Uuid,
}

pub fn encode<K: SortKey>(sort: K, descending: bool, value: &SortValue, id: Uuid) -> String {
    let value = match value {
        SortValue::Time(t) => t.to_rfc3339_opts(SecondsFormat::Micros, true),
        SortValue::Text(s) => s.clone(),
        SortValue::Date(d) => d.to_string(),
        SortValue::Decimal(d) => d.to_string(),
        SortValue::Uuid(u) => u.to_string(),
    };
    let token = Token {
        v: 1,
        sort: sort.name().to_owned(),
        desc: descending,
        value,
        id,
    };
    // Serialising this plain struct cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

/// Decodes a cursor made for the same sort order; anything else is a 400 naming `cursor`.
pub fn decode<K: SortKey>(
    cursor: &str,
    sort: K,
    descending: bool,
) -> Result<(SortValue, Uuid), AppError> {
    let invalid = |why: &str| AppError::BadRequest {
        message: "invalid cursor".into(),
        details: vec![FieldError::new("cursor", "invalid", why)],
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid("is not a cursor this API issued"))?;
    let token: Token =
        serde_json::from_slice(&bytes).map_err(|_| invalid("is not a cursor this API issued"))?;
    if token.v != 1 {
        return Err(invalid("was issued by another version of the API"));
    }
    if token.sort != sort.name() || token.desc != descending {
        return Err(invalid(
            "was issued for another sort order; pass the same `sort` as for the first page",
        ));
    }
    let value = match sort.kind() {
        ValueKind::Time => SortValue::Time(
            DateTime::parse_from_rfc3339(&token.value)
                .map_err(|_| invalid("is damaged"))?
                .with_timezone(&Utc),
        ),
        // Only a forged cursor can carry a NUL, which PostgreSQL would reject.
        ValueKind::Text if token.value.contains('\0') => return Err(invalid("is damaged")),
        ValueKind::Text => SortValue::Text(token.value),
        ValueKind::Date => SortValue::Date(token.value.parse().map_err(|_| invalid("is damaged"))?),
        ValueKind::Decimal => {
            SortValue::Decimal(token.value.parse().map_err(|_| invalid("is damaged"))?)
        }
        ValueKind::Uuid => SortValue::Uuid(token.value.parse().map_err(|_| invalid("is damaged"))?),
    };
    Ok((value, token.id))
}

/// The page a list request asks for: `limit` (default 50), the sort order (`default`
/// when absent; a leading `-` descends) and, past the first page, the cursor decoded for
/// that order. The `sort` value must already have passed the parameter's pattern.
/// What a list request asks of its page: the size, the cursor it continues from, and
/// the sort (`name` or `-name`), as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub sort: Option<String>,
}

impl PageRequest {
    /// The page to read, in `default` order unless the request names one.
    pub fn page<K: SortKey>(&self, default: K) -> Result<Page<K>, AppError> {
        page(
            self.limit,
            self.cursor.as_deref(),
            self.sort.as_deref(),
            default,
        )
    }
}

/// One page of a list, and where the next one starts.
#[derive(Debug, Clone)]
pub struct Listed<R> {
    pub items: Vec<R>,
    /// `None` on the last page.
    pub next_cursor: Option<String>,
    pub has_more: bool,
    /// The page size used.
    pub limit: u32,
}

impl<R> Listed<R> {
    /// The same page with each item turned into `V` (the API's wire type).
    pub fn map<V>(self, f: impl FnMut(R) -> V) -> Listed<V> {
        Listed {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            has_more: self.has_more,
            limit: self.limit,
        }
    }
}

/// The page `rows` make of `page`: `has_more` says a row past its end was found.
pub fn listed<K: SortKey>(page: &Page<K>, rows: Vec<K::Row>, has_more: bool) -> Listed<K::Row> {
    let next_cursor = match rows.last() {
        Some(last) if has_more => Some(encode(
            page.key,
            page.descending,
            &page.key.value_of(last),
            last.id(),
        )),
        _ => None,
    };
    Listed {
        items: rows,
        next_cursor,
        has_more,
        limit: page.limit,
    }
}

pub fn page<K: SortKey>(
    limit: Option<u32>,
    cursor: Option<&str>,
    sort: Option<&str>,
    default: K,
) -> Result<Page<K>, AppError> {
    let (key, descending) = match sort {
        Some(sort) => match sort.strip_prefix('-') {
            Some(name) => (K::parse(name).unwrap_or(default), true),
            None => (K::parse(sort).unwrap_or(default), false),
        },
        None => (default, false),
    };
    let after = cursor.map(|c| decode(c, key, descending)).transpose()?;
    Ok(Page {
        key,
        descending,
        after,
        limit: limit.unwrap_or(DEFAULT_LIMIT),
    })
}

/// `meta` of a list response: the cursor of the row after which the next page starts.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::contacts::ContactSort as SortKey;

    #[test]
    fn a_cursor_round_trips_for_its_own_sort_only() {
        let at = Utc::now();
        let id = Uuid::now_v7();
        let cursor = encode(SortKey::CreatedAt, true, &SortValue::Time(at), id);
        let (value, got_id) = decode(&cursor, SortKey::CreatedAt, true).unwrap();
        assert_eq!(got_id, id);
        let SortValue::Time(t) = value else {
            panic!("expected a time")
        };
        assert_eq!(t.timestamp_micros(), at.timestamp_micros());
        assert!(decode(&cursor, SortKey::CreatedAt, false).is_err());
        assert!(decode(&cursor, SortKey::LastName, true).is_err());
    }

    #[test]
    fn garbage_is_a_bad_request_naming_the_cursor() {
        for bad in ["", "not-base64!", "e30", &URL_SAFE_NO_PAD.encode("[]")] {
            match decode(bad, SortKey::CreatedAt, false) {
                Err(AppError::BadRequest { details, .. }) => assert_eq!(details[0].field, "cursor"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
