//! Search across contacts, companies, leads and activities: which types a credential may
//! search (each needs its read scope), the ranked hits, and each hit's record read under
//! row-level security.
//!
//! The cursor is this module's own: the search's order is (score descending, type, id),
//! which the list cursors of `app::page` (one sort key and an id) cannot carry. It is
//! base64url(JSON) of the last hit's key and a fingerprint of the query and types it was
//! made for, so it cannot silently continue another search.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::page::Listed;
use crate::auth::{Principal, Scope};
use crate::db::activities::ActivityRow;
use crate::db::companies::CompanyRow;
use crate::db::contacts::ContactRow;
use crate::db::leads::LeadRow;
use crate::db::search::{self as repo, After, HitRow};
use crate::db::TenantTx;
use crate::domain::record::RecordType;
use crate::domain::search::Needle;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// One match, with its record as row-level security let the search read it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub kind: RecordType,
    pub id: Uuid,
    /// Higher is better (the bands are the API's `SearchHit.score`).
    pub score: f64,
    pub title: String,
    pub subtitle: Option<String>,
    pub record: Record,
}

/// The record a hit found, of the hit's type.
#[derive(Debug, Clone)]
pub enum Record {
    Contact(ContactRow),
    Company(CompanyRow),
    Lead(LeadRow),
    Activity(ActivityRow),
}

/// The page of hits for `needle` after `cursor`, best first, among the record types
/// `types` names (comma-separated) or, without it, every type `actor` may read. At most
/// `limit` hits (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
pub async fn search(
    state: &AppState,
    actor: &Principal,
    needle: &Needle,
    types: Option<&str>,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<Listed<Hit>, AppError> {
    let types = types_to_search(actor, types)?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let fingerprint = fingerprint(needle, &types);
    let after = cursor.map(|c| decode_cursor(c, &fingerprint)).transpose()?;
    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (hits, has_more) = repo::search(&mut tx, needle, &names, after.as_ref(), limit).await?;
    let next_cursor = match hits.last() {
        Some(last) if has_more => Some(encode_cursor(&fingerprint, last)),
        _ => None,
    };
    let items = with_records(&mut tx, hits).await?;
    tx.end_read();
    Ok(Listed {
        items,
        next_cursor,
        has_more,
        limit,
    })
}

/// The types to search: those asked for (each needs its read scope, else 403 naming it),
/// or every type the credential may read (403 when it may read none), in a fixed order.
fn types_to_search(
    principal: &Principal,
    asked: Option<&str>,
) -> Result<Vec<RecordType>, AppError> {
    let forbidden = |scope: Scope, message: String| AppError::Forbidden {
        message,
        details: vec![FieldError::new(
            "scope",
            "missing_scope",
            format!("the credential lacks `{}`", scope.as_str()),
        )],
    };
    let Some(asked) = asked else {
        let readable: Vec<RecordType> = RecordType::ALL
            .into_iter()
            .filter(|t| principal.has(Scope::read_of(*t)))
            .collect();
        if readable.is_empty() {
            return Err(forbidden(
                Scope::ContactsRead,
                "searching needs the read scope of at least one record type: `contacts:read`, \
                 `companies:read`, `leads:read` or `activities:read`"
                    .into(),
            ));
        }
        return Ok(readable);
    };
    let mut types = Vec::new();
    for name in asked.split(',') {
        let kind = RecordType::parse(name).ok_or_else(|| {
            AppError::bad_parameter(FieldError::new(
                "types",
                "invalid",
                "must be a comma-separated list of contact, company, lead, activity",
            ))
        })?;
        let scope = Scope::read_of(kind);
        if !principal.has(scope) {
            return Err(forbidden(
                scope,
                format!(
                    "searching {} records needs the `{}` scope",
                    kind.as_str(),
                    scope.as_str()
                ),
            ));
        }
        types.push(kind);
    }
    types.sort();
    types.dedup();
    Ok(types)
}

#[derive(Serialize, Deserialize)]
struct Token {
    v: u8,
    /// Fingerprint of the query and the types.
    f: String,
    /// The score as Rust prints an f64 (which parses back to the same bits).
    s: String,
    t: String,
    id: Uuid,
}

fn fingerprint(needle: &Needle, types: &[RecordType]) -> String {
    let mut hash = Sha256::new();
    hash.update(needle.text.as_bytes());
    for t in types {
        hash.update([0]);
        hash.update(t.as_str().as_bytes());
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn encode_cursor(fingerprint: &str, hit: &HitRow) -> String {
    let token = Token {
        v: 1,
        f: fingerprint.to_owned(),
        s: hit.score.to_string(),
        t: hit.kind.clone(),
        id: hit.id,
    };
    // Serialising this plain struct cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

/// Decodes a cursor made for the same query and types; anything else is a 400 naming
/// `cursor`.
fn decode_cursor(cursor: &str, fingerprint: &str) -> Result<After, AppError> {
    let invalid = |why: &str| AppError::BadRequest {
        message: "invalid cursor".into(),
        details: vec![FieldError::new("cursor", "invalid", why)],
    };
    let parsed: Token = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid("is not a cursor this API issued"))?;
    if parsed.v != 1 {
        return Err(invalid("was issued by another version of the API"));
    }
    if parsed.f != fingerprint {
        return Err(invalid(
            "was issued for another search; pass the same `q` and `types` as for the first page",
        ));
    }
    let score: f64 = parsed.s.parse().map_err(|_| invalid("is damaged"))?;
    if !score.is_finite() || RecordType::parse(&parsed.t).is_none() {
        return Err(invalid("is damaged"));
    }
    Ok(After {
        score,
        kind: parsed.t,
        id: parsed.id,
    })
}

/// The hits with their records, read under row-level security. A record deleted between
/// the ranking and this read is left out.
async fn with_records(tx: &mut TenantTx, hits: Vec<HitRow>) -> Result<Vec<Hit>, AppError> {
    let ids = |kind: RecordType| -> Vec<Uuid> {
        hits.iter()
            .filter(|h| h.kind == kind.as_str())
            .map(|h| h.id)
            .collect()
    };
    let mut contacts = HashMap::new();
    let mut companies = HashMap::new();
    let mut leads = HashMap::new();
    let mut activities = HashMap::new();
    for kind in RecordType::ALL {
        let ids = ids(kind);
        if ids.is_empty() {
            continue;
        }
        match kind {
            RecordType::Contact => {
                for row in repo::contacts(tx, &ids).await? {
                    contacts.insert(row.id, row);
                }
            }
            RecordType::Company => {
                for row in repo::companies(tx, &ids).await? {
                    companies.insert(row.id, row);
                }
            }
            RecordType::Lead => {
                for row in repo::leads(tx, &ids).await? {
                    leads.insert(row.id, row);
                }
            }
            RecordType::Activity => {
                for row in repo::activities(tx, &ids).await? {
                    activities.insert(row.id, row);
                }
            }
        }
    }
    Ok(hits
        .into_iter()
        .filter_map(|hit| {
            let kind = RecordType::parse(&hit.kind)?;
            let record = match kind {
                RecordType::Contact => Record::Contact(contacts.remove(&hit.id)?),
                RecordType::Company => Record::Company(companies.remove(&hit.id)?),
                RecordType::Lead => Record::Lead(leads.remove(&hit.id)?),
                RecordType::Activity => Record::Activity(activities.remove(&hit.id)?),
            };
            Some(Hit {
                kind,
                id: hit.id,
                score: hit.score,
                title: hit.title,
                subtitle: hit.subtitle,
                record,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(score: f64) -> HitRow {
        HitRow {
            kind: "contact".into(),
            id: Uuid::now_v7(),
            score,
            title: "Ada".into(),
            subtitle: None,
        }
    }

    #[test]
    fn a_cursor_round_trips_its_exact_score_for_its_own_search_only() {
        let needle = Needle::parse("ada").unwrap();
        let f = fingerprint(&needle, &[RecordType::Contact]);
        let last = hit(2.0 + 1.0 / 3.0);
        let after = decode_cursor(&encode_cursor(&f, &last), &f).unwrap();
        assert_eq!(after.score.to_bits(), last.score.to_bits());
        assert_eq!((after.kind.as_str(), after.id), ("contact", last.id));
        let other = fingerprint(&Needle::parse("adb").unwrap(), &[RecordType::Contact]);
        assert!(decode_cursor(&encode_cursor(&f, &last), &other).is_err());
        let types = fingerprint(&needle, &[RecordType::Contact, RecordType::Lead]);
        assert_ne!(f, types);
        for bad in ["", "garbage!", "e30"] {
            match decode_cursor(bad, &f) {
                Err(AppError::BadRequest { details, .. }) => assert_eq!(details[0].field, "cursor"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
