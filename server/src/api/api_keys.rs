//! `/v1/api-keys`: the tenant's API keys. A key's secret is returned once, by the call
//! that creates it; only its hash is stored, and no other response or log line holds it.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::pagination;
use super::responses::{envelopes, Action, ApiResult, Create, Created, List, Meta, Read, Success};
use super::security::ApiKey as Credential;
use super::types::{Bounded, PathId, Str, Text};
use super::ApiTags;
use crate::app::api_keys::{self, ApiKeyRow, KeyInput, NAME_MAX, SCOPES_MAX};
use crate::app::page::PageRequest;
use crate::auth::Scope;
use crate::state::AppState;

/// An API key, as listed: never its secret or the secret's hash.
#[derive(Debug, Clone, Object)]
pub struct ApiKey {
    pub id: Uuid,
    /// The key's public beginning, `mk_<public id>`, to recognise it by.
    pub prefix: String,
    pub name: String,
    /// What the key may do; `*` is every scope. A key acting as a user never exceeds what
    /// the user's role allows.
    pub scopes: Vec<String>,
    /// The user the key acts as; `null` for a service key.
    #[oai(nullable)]
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Changes when the key is revoked.
    pub updated_at: DateTime<Utc>,
    /// When the key was last used, to within a minute (written in batches).
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        Self {
            id: row.id,
            prefix: format!("mk_{}", row.public_id),
            name: row.name,
            scopes: row.scopes,
            user_id: row.user_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// A new API key.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ApiKeyCreate {
    pub name: Text<NAME_MAX>,
    /// 1-20 of: `contacts:read`, `contacts:write`, `companies:read`, `companies:write`,
    /// `pipelines:read`, `pipelines:write`, `leads:read`, `leads:write`, `activities:read`,
    /// `activities:write`, `associations:read`, `associations:write`, `users:read`, `admin`,
    /// or `*` for all. You can grant only scopes
    /// your own credential holds.
    pub scopes: Bounded<Str, 1, SCOPES_MAX>,
    /// When the key stops working; must be in the future. Default: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// The user the key acts as: an active user of the tenant whose role is not above
    /// yours. Default: the user your credential acts as.
    pub user_id: Option<Uuid>,
    /// `true` for a service key, bound to no user (then leave out `user_id`).
    pub service: Option<bool>,
}

/// A new key with its secret: the only time the secret is shown.
#[derive(Debug, Clone, Object)]
pub struct ApiKeyWithSecret {
    pub api_key: ApiKey,
    /// `mk_<public id>_<secret>`: send it as `Authorization: Bearer ...`. Store it now: it
    /// cannot be shown again.
    pub secret: String,
}

/// A new key and its secret in the envelope.
#[derive(Debug, Clone, Object)]
pub struct ApiKeyCreatedEnvelope {
    pub data: ApiKeyWithSecret,
    pub meta: Meta,
}

envelopes!(
    ApiKey,
    ApiKeyEnvelope,
    ApiKeyList,
    "One API key in the envelope.",
    "A page of API keys in the envelope."
);

impl From<ApiKeyCreate> for KeyInput {
    fn from(body: ApiKeyCreate) -> Self {
        Self {
            name: body.name.0,
            scopes: body.scopes.0.into_iter().map(|s| s.0).collect(),
            expires_at: body.expires_at,
            user_id: body.user_id,
            service: body.service.unwrap_or(false),
        }
    }
}

pub struct ApiKeysApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::ApiKeys")]
impl ApiKeysApi {
    /// Create an API key
    ///
    /// Returns the key and, this once, its secret. A key acting as another user is made
    /// only for a user whose role is not above yours (owner > admin > member; a service
    /// key ranks as an admin), else `403` naming `user_id`: only an owner makes keys
    /// acting as an owner. Recorded in the audit log (without the secret), naming you and
    /// the user the key acts as.
    #[oai(path = "/api-keys", method = "post", operation_id = "api_keys_create")]
    async fn create(
        &self,
        #[oai(scope = "Scope::Admin")] auth: Credential,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<ApiKeyCreate>,
    ) -> ApiResult<Created<ApiKeyCreatedEnvelope>, Create> {
        let created = api_keys::create(&state, &auth.0, body.0.into()).await?;
        let row = created.row;
        Ok(Created {
            location: format!("/v1/api-keys/{}", row.id),
            body: ApiKeyCreatedEnvelope {
                data: ApiKeyWithSecret {
                    api_key: row.into(),
                    secret: created.secret,
                },
                meta: Meta::of(&request_id),
            },
        })
    }

    /// Get an API key
    #[oai(path = "/api-keys/:id", method = "get", operation_id = "api_keys_get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::Admin")] auth: Credential,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The key's id.
        id: Path<PathId>,
    ) -> ApiResult<Success<ApiKeyEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let row = api_keys::get(&state, &auth.0, id).await?;
        Ok(Success(ApiKeyEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        }))
    }

    /// Revoke an API key
    ///
    /// The key stops working at once on this server and within a second on every other
    /// (at most `MOMENTUM_AUTH_CACHE_SECS`, 5 s by default, on an instance that missed
    /// the notice). Revoking a revoked key changes nothing. A key acting as a user whose
    /// role is above yours is not yours to revoke (`403` naming `id`); a service key ranks
    /// as an admin.
    #[oai(
        path = "/api-keys/:id/revoke",
        method = "post",
        operation_id = "api_keys_revoke"
    )]
    async fn revoke(
        &self,
        #[oai(scope = "Scope::Admin")] auth: Credential,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The key's id.
        id: Path<PathId>,
    ) -> ApiResult<Success<ApiKeyEnvelope>, Action> {
        let id = id.0.parse("id")?;
        let row = api_keys::revoke(&state, &auth.0, id).await?;
        Ok(Success(ApiKeyEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        }))
    }

    /// List API keys
    ///
    /// Revoked and expired keys included. Keyset-paginated in creation order.
    #[oai(path = "/api-keys", method = "get", operation_id = "api_keys_list")]
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
        /// Only the keys acting as this user.
        user_id: Query<Option<Uuid>>,
        /// Only keys created or revoked strictly after this instant (RFC 3339).
        updated_after: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Success<ApiKeyList>, List> {
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = api_keys::list(&state, &auth.0, user_id.0, updated_after.0, &page).await?;
        Ok(Success(ApiKeyList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.items.into_iter().map(ApiKey::from).collect(),
        }))
    }
}
