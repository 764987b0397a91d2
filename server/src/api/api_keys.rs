//! `/v1/api-keys`: the tenant's API keys. A key's secret is returned once, by the call
//! that creates it; only its hash is stored, and no other response or log line holds it.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch};
use super::pagination;
use super::responses::{
    envelopes, Action, ApiResult, BodyAction, Conditional, Create, Created, List, Meta, Read,
    Success, Tagged, Update,
};
use super::security::ApiKey as Credential;
use super::types::{Bounded, Int, PathId, Str, Text};
use super::ApiTags;
use crate::app::api_keys::{
    self, ApiKeyRow, KeyInput, KeyPatch, NAME_MAX, OVERLAP_MAX, SCOPES_MAX,
};
use crate::app::page::PageRequest;
use crate::app::version::{by_field, by_updated_at};
use crate::auth::Scope;
use crate::state::AppState;

/// An API key, as listed: never its secret or the secret's hash.
#[derive(Debug, Clone, Object, serde::Serialize)]
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
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// Changes when the key is revoked.
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
    /// When the key was last used, to within a minute (written in batches).
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub expires_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// After a rotation: until when the replaced secret still works (`null` when no
    /// rotation happened; a time in the past once the overlap is over).
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
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
            previous_secret_expires_at: row.previous_secret_expires_at,
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
    /// `activities:write`, `associations:read`, `associations:write`, `users:read`,
    /// `custom_fields:read`, `events:read`, `webhooks:read`, `webhooks:write`,
    /// `audit:read`, `admin` (which holds the five before it), or `*` for all. You can grant only scopes
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

/// Changes to an API key, which can only ever do less: absent (or `null`) fields are
/// kept.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ApiKeyUpdate {
    pub name: Option<Text<NAME_MAX>>,
    /// 1-20 scopes the key already holds (`admin` holds `custom_fields:read`,
    /// `events:read`, `webhooks:read`, `webhooks:write` and `audit:read`; `*` holds
    /// all), replacing its list. A scope the key does not hold is a `422` naming it.
    pub scopes: Option<Bounded<Str, 1, SCOPES_MAX>>,
    /// A new expiry, in the future and, when the key has one, earlier than it: a key's
    /// lifetime is never extended.
    pub expires_at: Option<DateTime<Utc>>,
}

by_updated_at!(ApiKey);
by_field!(ApiKeyEnvelope => data);

impl From<ApiKeyUpdate> for KeyPatch {
    fn from(body: ApiKeyUpdate) -> Self {
        Self {
            name: body.name.map(|n| n.0),
            scopes: body.scopes.map(|s| s.0.into_iter().map(|s| s.0).collect()),
            expires_at: body.expires_at,
        }
    }
}

/// How to rotate an API key.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ApiKeyRotate {
    /// How long the replaced secret keeps working, in seconds: 0 (not at all) to 604800
    /// (7 days). Default 3600.
    pub overlap_seconds: Option<Int<0, OVERLAP_MAX>>,
}

/// A new key with its secret: the only time the secret is shown.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ApiKeyWithSecret {
    pub api_key: ApiKey,
    /// `mk_<public id>_<secret>`: send it as `Authorization: Bearer ...`. Store it now: it
    /// cannot be shown again.
    pub secret: String,
}

/// A new key and its secret in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
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
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<ApiKeyEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = api_keys::get(&state, &auth.0, id).await?;
        let found = ApiKeyEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        };
        Ok(Conditional::new(found, &if_none_match))
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
    ) -> ApiResult<Tagged<Success<ApiKeyEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let row = api_keys::revoke(&state, &auth.0, id).await?;
        Ok(Tagged(Success(ApiKeyEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        })))
    }

    /// Update an API key
    ///
    /// Renames a key, narrows its scopes or brings its expiry forward: a key can only
    /// ever be changed to do less. A scope the key does not hold is a `422` naming it
    /// (`widens`), one your own credential lacks a `403`; an expiry later than the key's
    /// (`extends`) or in the past is a `422`. Fewer scopes and an earlier expiry hold at
    /// once on this server and within a second on every other, as a revocation does. A
    /// key acting as a user whose role is above yours is not yours to change (`403`
    /// naming `id`); a revoked key is not changed (`409`). Answers with the key's `ETag`,
    /// which `If-Match` takes. Recorded in the audit log (`api_key.updated`, with the
    /// previous values) unless nothing changed.
    #[oai(
        path = "/api-keys/:id",
        method = "patch",
        operation_id = "api_keys_update"
    )]
    async fn update(
        &self,
        #[oai(scope = "Scope::Admin")] auth: Credential,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The key's id.
        id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<ApiKeyUpdate>,
    ) -> ApiResult<Tagged<Success<ApiKeyEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let row = api_keys::update(&state, &auth.0, id, &if_match, body.0.into()).await?;
        Ok(Tagged(Success(ApiKeyEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        })))
    }

    /// Rotate an API key
    ///
    /// Gives the key a new secret, returned this once; the key keeps its id, prefix,
    /// name, scopes and expiry. The replaced secret keeps working for `overlap_seconds`
    /// (default an hour, at most 7 days, 0 for not at all), so clients can switch
    /// without an outage, then is refused (`previous_secret_expires_at` says when).
    /// Rotating again during an overlap ends it: only the latest replaced secret is
    /// kept. A key acting as a user whose role is above yours is not yours to rotate
    /// (`403` naming `id`); a revoked key is not rotated (`409`). Recorded in the audit
    /// log (`api_key.rotated`, without any secret).
    #[oai(
        path = "/api-keys/:id/rotate",
        method = "post",
        operation_id = "api_keys_rotate"
    )]
    async fn rotate(
        &self,
        #[oai(scope = "Scope::Admin")] auth: Credential,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The key's id.
        id: Path<PathId>,
        body: Json<ApiKeyRotate>,
    ) -> ApiResult<Success<ApiKeyCreatedEnvelope>, BodyAction> {
        let id = id.0.parse("id")?;
        let overlap = body.0.overlap_seconds.map(|o| o.0);
        let rotated = api_keys::rotate(&state, &auth.0, id, overlap).await?;
        Ok(Success(ApiKeyCreatedEnvelope {
            data: ApiKeyWithSecret {
                api_key: rotated.row.into(),
                secret: rotated.secret,
            },
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
