//! `GET /v1/search`: ranked matches across contacts, companies, leads and activities.
//! Which types a credential may search, the ranking, the cursor and the reading of each
//! hit's record are `app::search`; here, each hit is rendered with its record as that
//! record's own `GET` returns it.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::activities::Activity;
use super::companies::Company;
use super::contacts::Contact;
use super::edge::RequestId;
use super::leads::Lead;
use super::pagination;
use super::responses::{ApiResult, List, ListMeta, Success};
use super::security::ApiKey;
use super::ApiTags;
use crate::app::search::{self, Hit, Record};
use crate::domain::record::RecordType;
use crate::domain::search::Needle;
use crate::error::AppError;
use crate::state::AppState;

/// One match. Exactly one of `contact`, `company`, `lead` and `activity` is present: the
/// record as its own `GET` returns it, named by `type`.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct SearchHit {
    /// The record's type.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<Company>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<Lead>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<Activity>,
}

/// A page of search hits, best first, in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct SearchResults {
    pub data: Vec<SearchHit>,
    pub meta: ListMeta,
}

impl From<Hit> for SearchHit {
    fn from(hit: Hit) -> Self {
        let mut out = SearchHit {
            kind: hit.kind,
            id: hit.id,
            score: hit.score,
            title: hit.title,
            subtitle: hit.subtitle,
            contact: None,
            company: None,
            lead: None,
            activity: None,
        };
        match hit.record {
            Record::Contact(row) => out.contact = Some(Contact::from(row)),
            Record::Company(row) => out.company = Some(Company::from(row)),
            Record::Lead(row) => out.lead = Some(Lead::from(row)),
            Record::Activity(row) => out.activity = Some(Activity::from(row)),
        }
        out
    }
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
        let needle = Needle::parse(&q.0).map_err(AppError::bad_parameter)?;
        let found = search::search(
            &state,
            &auth.0,
            &needle,
            types.0.as_deref(),
            limit.0,
            cursor.0.as_deref(),
        )
        .await?;
        Ok(Success(SearchResults {
            meta: pagination::list_meta(&found, &request_id),
            data: found.map(SearchHit::from).items,
        }))
    }
}
