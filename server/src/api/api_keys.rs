//! `/v1/api-keys`: the tenant's API keys. A key's secret is returned once, by the call
//! that creates it; only its hash is stored, and no other response or log line holds it.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::json;
use uuid::Uuid;

use super::edge::RequestId;
use super::pagination;
use super::responses::{envelopes, Action, ApiResult, Create, Created, List, Meta, Read, Success};
use super::security::ApiKey as Credential;
use super::types::{Bounded, PathId, Str, Text};
use super::ApiTags;
use crate::auth::scopes::ALL;
use crate::auth::{Principal, Role, Scope};
use crate::db::api_keys::{self as repo, ApiKeyRow, ApiKeySort, NewKeyRow};
use crate::db::{audit, users, violations, TenantTx};
use crate::domain::credential::NewApiKey;
use crate::domain::fields::optional_text;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;

const NAME_MAX: usize = 200;
const SCOPES_MAX: usize = 20;

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

/// The requested scopes, checked: known names only, and none the caller lacks.
fn scopes(caller: &Principal, requested: Vec<String>) -> Result<Vec<String>, AppError> {
    if requested.is_empty() || requested.len() > SCOPES_MAX {
        return Err(AppError::Validation(vec![FieldError::new(
            "scopes",
            "out_of_range",
            format!("a key has 1 to {SCOPES_MAX} scopes"),
        )]));
    }
    let mut errors = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for (index, name) in requested.into_iter().enumerate() {
        let field = format!("scopes[{index}]");
        let name = name.trim().to_owned();
        if name == ALL {
            if caller.scopes.len() < Scope::EVERY.len() {
                return Err(escalation("*"));
            }
        } else {
            match Scope::parse(&name) {
                Some(scope) if !caller.has(scope) => return Err(escalation(&name)),
                Some(_) => {}
                None => {
                    errors.push(FieldError::new(field, "unknown_scope", "is not a scope"));
                    continue;
                }
            }
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AppError::Validation(errors))
    }
}

fn escalation(scope: &str) -> AppError {
    AppError::Forbidden {
        message: format!("you cannot grant `{scope}`: your credential does not hold it"),
        details: vec![FieldError::new(
            "scopes",
            "cannot_grant",
            format!("`{scope}` is beyond your own scopes"),
        )],
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
        let body = body.0;
        let caller = &auth.0;
        let name = optional_text("name", Some(body.name.0), NAME_MAX, false)
            .map_err(|e| AppError::Validation(vec![e]))?
            .ok_or_else(|| {
                AppError::Validation(vec![FieldError::new(
                    "name",
                    "required",
                    "must not be empty",
                )])
            })?;
        let scopes = scopes(caller, body.scopes.0.into_iter().map(|s| s.0).collect())?;
        if body.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(AppError::Validation(vec![FieldError::new(
                "expires_at",
                "in_the_past",
                "must be in the future",
            )])
            .into());
        }
        let service = body.service.unwrap_or(false);
        if service && body.user_id.is_some() {
            return Err(AppError::Validation(vec![FieldError::new(
                "user_id",
                "conflicts",
                "a service key acts as no user: leave out `user_id` or `service`",
            )])
            .into());
        }
        let user_id = if service {
            None
        } else {
            body.user_id.or(caller.user_id)
        };
        let key = NewApiKey::generate();
        let mut tx = TenantTx::begin(&state.pool, caller.tenant_id).await?;
        if user_id.is_none() {
            caller.may_act_on(None, "service")?;
        }
        if let Some(user_id) = user_id {
            // Only "no such user" is the client's mistake; a database error stays one.
            // Locked, so a concurrent promotion cannot slip in between the rank check
            // and the insert.
            let user = users::get_for_update(&mut tx, user_id)
                .await
                .map_err(|err| match err {
                    AppError::NotFound(_) => {
                        AppError::Validation(vec![violations::unknown("user_id", "user")])
                    }
                    other => other,
                })?;
            // A key acting as someone holds their role: making one is acting on them.
            caller.may_act_on(Some((user.id, Role::of_stored(&user.role))), "user_id")?;
            if user.deactivated_at.is_some() {
                return Err(AppError::Validation(vec![FieldError::new(
                    "user_id",
                    "deactivated",
                    "the user is deactivated",
                )])
                .into());
            }
        }
        let row = repo::insert(
            &mut tx,
            &NewKeyRow {
                key: &key,
                name: &name,
                scopes: &scopes,
                user_id,
                expires_at: body.expires_at,
            },
        )
        .await?;
        // The actor fields name the caller; `acts_as_user_id` names whom the key acts as,
        // so a key made for someone else stands out in the log.
        let data = json!({
            "name": row.name, "scopes": row.scopes, "user_id": row.user_id,
            "acts_as_user_id": row.user_id, "expires_at": row.expires_at,
        });
        audit::record(
            &mut tx,
            caller,
            "api_key.created",
            ("api_key", row.id),
            data,
        )
        .await?;
        tx.commit().await?;
        Ok(Created {
            location: format!("/v1/api-keys/{}", row.id),
            body: ApiKeyCreatedEnvelope {
                data: ApiKeyWithSecret {
                    api_key: row.into(),
                    secret: key.plaintext,
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
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let row = repo::get(&mut tx, id).await?;
        tx.commit().await?;
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
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let key = repo::get(&mut tx, id).await?;
        let acts_as = match key.user_id {
            Some(user_id) => {
                let user = users::get(&mut tx, user_id).await?;
                Some((user.id, Role::of_stored(&user.role)))
            }
            None => None,
        };
        auth.0.may_act_on(acts_as, "id")?;
        let (row, changed) = repo::revoke(&mut tx, id).await?;
        if changed {
            audit::record(
                &mut tx,
                &auth.0,
                "api_key.revoked",
                ("api_key", id),
                json!({}),
            )
            .await?;
        }
        state.auth.commit_change(tx).await?;
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
        let page = pagination::page(limit.0, cursor.0.as_deref(), None, ApiKeySort::CreatedAt)?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let (rows, has_more) = repo::list(&mut tx, user_id.0, updated_after.0, &page).await?;
        tx.commit().await?;
        Ok(Success(ApiKeyList {
            meta: pagination::meta(&page, &rows, has_more, &request_id),
            data: rows.into_iter().map(ApiKey::from).collect(),
        }))
    }
}
