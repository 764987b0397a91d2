//! `/v1/users`: the members of the tenant. Anyone with `users:read` lists them; admins
//! create them, change their name or role, and deactivate them. A tenant always keeps an
//! active owner, and only an owner can make or unmake owners.

use crate::api::types::NotNull;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch};
use super::pagination;
use super::responses::{
    envelopes, Action, ApiResult, Conditional, Create, Created, List, Meta, Read, Success, Tagged,
    Update,
};
use super::security::ApiKey;
use super::types::{text, Email, PathId, Text};
use super::{filter_text, ApiTags};
use crate::app::users::{self, UserFilter, UserInput, UserPatch as Changes, UserRow, UserSort};
use crate::app::version::{by_field, by_updated_at};
use crate::auth::{Role, Scope};
use crate::state::AppState;

/// A member of the tenant.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// `owner`, `admin` or `member`. New roles may be added.
    pub role: String,
    /// Whether the user can act: a deactivated user's keys and tokens stop working.
    pub active: bool,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub deactivated_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            name: row.name,
            role: row.role,
            active: row.deactivated_at.is_none(),
            deactivated_at: row.deactivated_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A role a user can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum UserRole {
    Owner,
    Admin,
    Member,
}

impl From<UserRole> for Role {
    fn from(role: UserRole) -> Self {
        match role {
            UserRole::Owner => Self::Owner,
            UserRole::Admin => Self::Admin,
            UserRole::Member => Self::Member,
        }
    }
}

/// A new user of the tenant.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct UserCreate {
    /// Unique within the tenant, ignoring case.
    pub email: Email,
    pub name: Option<Text<NAME_MAX>>,
    /// Default `member`. Only an owner can create an owner.
    pub role: NotNull<UserRole>,
}

/// Changes to a user: name and role. Only an owner can make or unmake an owner; the last
/// active owner keeps the role (409).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct UserPatch {
    pub name: NotNull<Text<NAME_MAX>>,
    pub role: NotNull<UserRole>,
}

const NAME_MAX: usize = crate::domain::user::NAME_MAX;

impl From<UserPatch> for Changes {
    fn from(body: UserPatch) -> Self {
        Self {
            name: text(body.name.0),
            role: body.role.0.map(Role::from),
        }
    }
}

fn user_envelope(row: UserRow, request_id: &RequestId) -> UserEnvelope {
    UserEnvelope {
        data: row.into(),
        meta: Meta::of(request_id),
    }
}

envelopes!(
    User,
    UserEnvelope,
    UserList,
    "One user in the envelope.",
    "A page of users in the envelope."
);

by_updated_at!(User);
by_field!(UserEnvelope => data);

pub struct UsersApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Users")]
impl UsersApi {
    /// Create a user
    ///
    /// Recorded in the audit log.
    #[oai(path = "/users", method = "post", operation_id = "users_create")]
    async fn create(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<UserCreate>,
    ) -> ApiResult<Tagged<Created<UserEnvelope>>, Create> {
        let body = body.0;
        let input = UserInput {
            email: body.email.0,
            name: text(body.name),
            role: body.role.0.unwrap_or(UserRole::Member).into(),
        };
        let row = users::create(&state, &auth.0, input).await?;
        Ok(Tagged(Created {
            location: format!("/v1/users/{}", row.id),
            body: user_envelope(row, &request_id),
        }))
    }

    /// Update a user
    ///
    /// Name and role. A user whose role is above yours (owner > admin > member; a service
    /// key ranks as an admin) is not yours to change: `403` naming `id`. Recorded in the
    /// audit log.
    #[oai(path = "/users/:id", method = "patch", operation_id = "users_update")]
    async fn update(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The user's id.
        id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<UserPatch>,
    ) -> ApiResult<Tagged<Success<UserEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let row = users::update(&state, &auth.0, id, &if_match, body.0.into()).await?;
        Ok(Tagged(Success(user_envelope(row, &request_id))))
    }

    /// Deactivate a user
    ///
    /// The user and their records stay; their API keys and session tokens stop working at
    /// once on this server and within a second on every other (at most
    /// `MOMENTUM_AUTH_CACHE_SECS` on an instance that missed the notice). A user whose
    /// role is above yours (owner > admin > member; a service key ranks as an admin) is
    /// not yours to deactivate: `403` naming `id`. The last active owner cannot be
    /// deactivated (409). Recorded in the audit log.
    #[oai(
        path = "/users/:id/deactivate",
        method = "post",
        operation_id = "users_deactivate"
    )]
    async fn deactivate(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The user's id.
        id: Path<PathId>,
    ) -> ApiResult<Tagged<Success<UserEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let row = users::deactivate(&state, &auth.0, id).await?;
        Ok(Tagged(Success(user_envelope(row, &request_id))))
    }

    /// Reactivate a user
    ///
    /// Undoes a deactivation: the user is active again, and those of their API keys and
    /// session tokens that are neither revoked nor expired work again (everywhere within
    /// a second, like a deactivation). Reactivating an active user changes nothing and
    /// answers `200` with them. A user whose role is above yours is not yours to
    /// reactivate: `403` naming `id`. Recorded in the audit log (`user.reactivated`).
    #[oai(
        path = "/users/:id/reactivate",
        method = "post",
        operation_id = "users_reactivate"
    )]
    async fn reactivate(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The user's id.
        id: Path<PathId>,
    ) -> ApiResult<Tagged<Success<UserEnvelope>>, Action> {
        let id = id.0.parse("id")?;
        let row = users::reactivate(&state, &auth.0, id).await?;
        Ok(Tagged(Success(user_envelope(row, &request_id))))
    }

    /// Get a user
    #[oai(path = "/users/:id", method = "get", operation_id = "users_get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::UsersRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The user's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<UserEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = users::get(&state, &auth.0, id).await?;
        let found = user_envelope(row, &request_id);
        Ok(Conditional::new(found, &if_none_match))
    }

    /// List users
    ///
    /// Keyset-paginated like every list.
    #[oai(path = "/users", method = "get", operation_id = "users_list")]
    async fn list(
        &self,
        #[oai(scope = "Scope::UsersRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Sort order: `created_at` (default) or `updated_at`; a leading `-` sorts
        /// descending.
        #[oai(validator(pattern = "^-?(created_at|updated_at)$"))]
        sort: Query<Option<String>>,
        /// One of `owner`, `admin`, `member`.
        #[oai(validator(pattern = "^(owner|admin|member)$"))]
        role: Query<Option<String>>,
        /// Exact email, ignoring case.
        #[oai(validator(max_length = 254))]
        email: Query<Option<String>>,
        /// Only users changed strictly after this instant (RFC 3339).
        updated_after: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Success<UserList>, List> {
        let page = pagination::page(
            limit.0,
            cursor.0.as_deref(),
            sort.0.as_deref(),
            UserSort::CreatedAt,
        )?;
        let filter = UserFilter {
            role: role.0,
            email: filter_text("email", email.0)?,
            updated_after: updated_after.0,
        };
        let list = users::list(&state, &auth.0, &filter, &page).await?;
        Ok(Success(UserList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.items.into_iter().map(User::from).collect(),
        }))
    }
}
