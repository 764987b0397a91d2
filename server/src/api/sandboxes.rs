//! `/v1/sandboxes`: disposable tenants made from the caller's tenant's configuration
//! (`admin`). The sandbox owner's key is returned once, by the call that makes it.

use crate::api::types::NotNull;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch, Versioned};
use super::pagination;
use super::responses::{
    envelopes, ApiResult, Conditional, Create, Created, Delete, List, Meta, NoContent, Read,
    Success,
};
use super::security::ApiKey as Credential;
use super::types::{PathId, Text};
use super::ApiTags;
use crate::app::page::PageRequest;
use crate::app::sandboxes::{self, SandboxInput, SandboxRow, NAME_MAX};
use crate::auth::Scope;
use crate::state::AppState;

/// What a sandbox starts with besides the copied configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SandboxSeed {
    /// Nothing: the configuration only.
    None,
    /// The demo data set: 10 companies, 30 contacts, 15 leads across the stages of the
    /// first pipeline, 20 activities and 10 associations.
    Demo,
}

/// A sandbox: a tenant of its own, made from this tenant's configuration, purged with
/// all its data at `expires_at`.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Sandbox {
    /// The sandbox's tenant id.
    pub id: Uuid,
    pub name: String,
    pub seed: SandboxSeed,
    /// The sandbox's owner, a user of the sandbox (not of this tenant).
    pub owner_user_id: Uuid,
    /// When the worker deletes the sandbox and everything in it; its keys stop working
    /// then.
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
}

impl From<SandboxRow> for Sandbox {
    fn from(row: SandboxRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            seed: if row.seed == "demo" {
                SandboxSeed::Demo
            } else {
                SandboxSeed::None
            },
            owner_user_id: row.owner_user_id,
            expires_at: row.expires_at,
            created_at: row.created_at,
        }
    }
}

/// A new sandbox.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct SandboxCreate {
    /// Default: `Sandbox`.
    pub name: Option<Text<NAME_MAX>>,
    /// Seconds until the sandbox is deleted with all its data: 60 to 2592000 (30 days).
    /// Default: 86400 (a day).
    pub expires_in: Option<i64>,
    /// Default: `none`.
    pub seed: NotNull<SandboxSeed>,
}

/// A new sandbox with its owner's key: the only time the key is shown.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct SandboxWithSecret {
    pub sandbox: Sandbox,
    /// The owner's email: your user's, or `owner@sandbox.invalid` for a service key.
    pub owner_email: String,
    /// The sandbox owner's API key, `mk_<public id>_<secret>`, with every scope in the
    /// sandbox and nowhere else, expiring with it. Store it now: it cannot be shown
    /// again.
    pub secret: String,
}

/// A new sandbox and its owner's key in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct SandboxCreatedEnvelope {
    pub data: SandboxWithSecret,
    pub meta: Meta,
}

envelopes!(
    Sandbox,
    SandboxEnvelope,
    SandboxList,
    "One sandbox in the envelope.",
    "A page of sandboxes in the envelope."
);

/// A sandbox never changes: its version is its creation.
impl Versioned for Sandbox {
    fn version(&self) -> DateTime<Utc> {
        self.created_at
    }
}

impl Versioned for SandboxEnvelope {
    fn version(&self) -> DateTime<Utc> {
        self.data.created_at
    }
}

pub struct SandboxesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Sandboxes")]
impl SandboxesApi {
    /// Create a sandbox
    ///
    /// Makes a new tenant from this one's configuration: pipelines and stages, custom
    /// field definitions and association labels, and webhook endpoints copied disabled
    /// with new signing secrets; none of the records. With `"seed": "demo"` it also holds
    /// the demo data set. Returns the sandbox and, this once, its owner's key. A tenant
    /// holds at most `MOMENTUM_SANDBOXES_MAX` live sandboxes (10 by default; `409` with
    /// detail code `sandbox_limit` beyond); a sandbox makes no sandboxes (`422`, detail
    /// code `sandbox_in_sandbox`). Recorded in the audit log.
    #[oai(
        path = "/sandboxes",
        method = "post",
        operation_id = "sandboxes_create"
    )]
    async fn create(
        &self,
        #[oai(scope = "Scope::Admin")] auth: Credential,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<SandboxCreate>,
    ) -> ApiResult<Created<SandboxCreatedEnvelope>, Create> {
        let body = body.0;
        let input = SandboxInput {
            name: body.name.map(|n| n.0),
            expires_in: body.expires_in,
            demo: body.seed.0 == Some(SandboxSeed::Demo),
        };
        let created = sandboxes::create(&state, &auth.0, input).await?;
        Ok(Created {
            location: format!("/v1/sandboxes/{}", created.row.id),
            body: SandboxCreatedEnvelope {
                data: SandboxWithSecret {
                    sandbox: created.row.into(),
                    owner_email: created.owner_email,
                    secret: created.secret,
                },
                meta: Meta::of(&request_id),
            },
        })
    }

    /// List sandboxes
    ///
    /// This tenant's sandboxes, keyset-paginated in creation order; an expired one stays
    /// listed until the worker's next purge.
    #[oai(path = "/sandboxes", method = "get", operation_id = "sandboxes_list")]
    async fn list(
        &self,
        #[oai(scope = "Scope::Admin")] auth: Credential,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<SandboxList>, List> {
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = sandboxes::list(&state, &auth.0, &page).await?;
        Ok(Success(SandboxList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.items.into_iter().map(Sandbox::from).collect(),
        }))
    }

    /// Get a sandbox
    #[oai(
        path = "/sandboxes/:id",
        method = "get",
        operation_id = "sandboxes_get"
    )]
    async fn get(
        &self,
        #[oai(scope = "Scope::Admin")] auth: Credential,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The sandbox's id (its tenant id).
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<SandboxEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = sandboxes::get(&state, &auth.0, id).await?;
        let found = SandboxEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        };
        Ok(Conditional::new(found, &if_none_match))
    }

    /// Delete a sandbox
    ///
    /// Deletes the sandbox and everything in it at once; its keys stop working at once on
    /// this server and within a second on every other. Recorded in the audit log.
    #[oai(
        path = "/sandboxes/:id",
        method = "delete",
        operation_id = "sandboxes_delete"
    )]
    async fn delete(
        &self,
        #[oai(scope = "Scope::Admin")] auth: Credential,
        state: Data<&AppState>,
        /// The sandbox's id (its tenant id).
        id: Path<PathId>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, Delete> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        sandboxes::delete(&state, &auth.0, id, &if_match).await?;
        Ok(NoContent)
    }
}
