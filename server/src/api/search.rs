//! `GET /v1/search`: ranked matches across contacts, companies, leads and activities.
//!
//! The cursor is this module's own: the search's order is (score descending, type, id),
//! which the list cursors of `api::pagination` (one sort key and an id) cannot carry. It
//! is base64url(JSON) of the last hit's key and a fingerprint of the query and types it
//! was made for, so it cannot silently continue another search.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::activities::Activity;
use super::companies::Company;
use super::contacts::Contact;
use super::edge::RequestId;
use super::leads::Lead;
use super::responses::{ApiResult, List, ListMeta, Success};
use super::security::ApiKey;
use super::{bad_parameter, ApiTags};
use crate::auth::{Principal, Scope};
use crate::db::search::{self as repo, After, HitRow};
use crate::db::TenantTx;
use crate::domain::record::RecordType;
use crate::domain::search::Needle;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// One match. Exactly one of `contact`, `company`, `lead` and `activity` is present: the
/// record as its own `GET` returns it, named by `type`.
#[derive(Debug, Clone, Object)]
pub struct SearchHit {
    /// The record's type.
    #[oai(rename = "type")]
    pub kind: RecordType,
    /// The record's id.
    pub id: Uuid,
    /// Higher is better. 3 to 4: the query is a whole field (a full name, an email, a
    /// domain, a title, the phone digits); 2 to 3: it starts a word; 1 to 2: it is inside
    /// a field, or each of its words starts a word; below 1: only similar (a typo, served
    /// when nothing matches otherwise). The
    /// fraction within a band grows with the share of the record's text the query covers.
    pub score: f64,
    /// What to show: a contact's full name (or email), a company's name, a lead's title,
    /// an activity's subject (or type).
    pub title: String,
    /// A second line: a contact's email (or phone), a company's domain, a lead's prospect
    /// company (or name, or email), an activity's type.
    #[oai(nullable)]
    pub subtitle: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub contact: Option<Contact>,
    #[oai(skip_serializing_if_is_none)]
    pub company: Option<Company>,
    #[oai(skip_serializing_if_is_none)]
    pub lead: Option<Lead>,
    #[oai(skip_serializing_if_is_none)]
    pub activity: Option<Activity>,
}

/// A page of search hits, best first, in the envelope.
#[derive(Debug, Clone, Object)]
pub struct SearchResults {
    pub data: Vec<SearchHit>,
    pub meta: ListMeta,
}

/// The read scope each record type needs.
fn read_scope(kind: RecordType) -> Scope {
    match kind {
        RecordType::Contact => Scope::ContactsRead,
        RecordType::Company => Scope::CompaniesRead,
        RecordType::Lead => Scope::LeadsRead,
        RecordType::Activity => Scope::ActivitiesRead,
    }
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
            .filter(|t| principal.has(read_scope(*t)))
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
            bad_parameter(FieldError::new(
                "types",
                "invalid",
                "must be a comma-separated list of contact, company, lead, activity",
            ))
        })?;
        let scope = read_scope(kind);
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
async fn with_records(tx: &mut TenantTx, hits: Vec<HitRow>) -> Result<Vec<SearchHit>, AppError> {
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
                    contacts.insert(row.id, Contact::from(row));
                }
            }
            RecordType::Company => {
                for row in repo::companies(tx, &ids).await? {
                    companies.insert(row.id, Company::from(row));
                }
            }
            RecordType::Lead => {
                for row in repo::leads(tx, &ids).await? {
                    leads.insert(row.id, Lead::from(row));
                }
            }
            RecordType::Activity => {
                for row in repo::activities(tx, &ids).await? {
                    activities.insert(row.id, Activity::from(row));
                }
            }
        }
    }
    Ok(hits
        .into_iter()
        .filter_map(|hit| {
            let kind = RecordType::parse(&hit.kind)?;
            let mut out = SearchHit {
                kind,
                id: hit.id,
                score: hit.score,
                title: hit.title,
                subtitle: hit.subtitle,
                contact: None,
                company: None,
                lead: None,
                activity: None,
            };
            match kind {
                RecordType::Contact => out.contact = Some(contacts.remove(&hit.id)?),
                RecordType::Company => out.company = Some(companies.remove(&hit.id)?),
                RecordType::Lead => out.lead = Some(leads.remove(&hit.id)?),
                RecordType::Activity => out.activity = Some(activities.remove(&hit.id)?),
            }
            Some(out)
        })
        .collect())
}

pub struct SearchApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Search")]
impl SearchApi {
    /// Search across records
    ///
    /// Ranked matches for `q` among contacts (full name, email, phone), companies (name,
    /// domain, phone), leads (title, prospect name, email, phone, company name and
    /// domain) and activities (subject). A query matches a whole field, the start of a
    /// word, the inside of a field, or all of its words in any order; when it matches
    /// nothing so, similar words are found instead (typos); a query of phone characters (`+44 20 7946 0958`, `020 7946 0958`) matches
    /// phone numbers by their digits. Hits come best first (`score`), ties by type then
    /// id, each with its record as that record's own `GET` returns it. Trashed records
    /// never match.
    ///
    /// Scopes: any credential holding the read scope of at least one record type. Without
    /// `types`, the search covers every type the credential may read; naming a type it
    /// may not read is a `403` naming the scope.
    ///
    /// Keyset-paginated like every list: follow `meta.next_cursor` with the same `q` and
    /// `types` until it is `null`.
    #[oai(path = "/search", method = "get", operation_id = "search")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// What to look for: 1 to 200 characters once trimmed.
        #[oai(validator(min_length = 1, max_length = 200))]
        q: Query<String>,
        /// Comma-separated record types to search, e.g. `contact,company`; default: every
        /// type the credential may read.
        #[oai(validator(
            max_length = 100,
            pattern = "^(contact|company|lead|activity)(,(contact|company|lead|activity))*$"
        ))]
        types: Query<Option<String>>,
        /// Page size, 1-100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<SearchResults>, List> {
        let needle = Needle::parse(&q.0).map_err(bad_parameter)?;
        let types = types_to_search(&auth.0, types.0.as_deref())?;
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let fingerprint = fingerprint(&needle, &types);
        let after = cursor
            .0
            .as_deref()
            .map(|c| decode_cursor(c, &fingerprint))
            .transpose()?;
        let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let (hits, has_more) =
            repo::search(&mut tx, &needle, &names, after.as_ref(), limit).await?;
        let next_cursor = match hits.last() {
            Some(last) if has_more => Some(encode_cursor(&fingerprint, last)),
            _ => None,
        };
        let data = with_records(&mut tx, hits).await?;
        tx.commit().await?;
        Ok(Success(SearchResults {
            data,
            meta: ListMeta {
                request_id: request_id.0 .0.clone(),
                next_cursor,
                has_more,
                limit,
            },
        }))
    }
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
