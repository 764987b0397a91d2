//! `/v1/users`: the members of the tenant, read-only here (leads and activities name
//! their owners by user id).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::pagination;
use super::responses::{envelopes, ApiResult, List, Meta, Read, Success};
use super::security::ApiKey;
use super::types::PathId;
use super::{filter_text, ApiTags};
use crate::auth::Scope;
use crate::db::users::{self as repo, UserFilter, UserRow, UserSort};
use crate::db::TenantTx;
use crate::startup::AppState;

/// A member of the tenant.
#[derive(Debug, Clone, Object)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// `owner`, `admin` or `member`. New roles may be added.
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            name: row.name,
            role: row.role,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

envelopes!(
    User,
    UserEnvelope,
    UserList,
    "One user in the envelope.",
    "A page of users in the envelope."
);

pub struct UsersApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Users")]
impl UsersApi {
    /// Get a user
    #[oai(path = "/users/:id", method = "get", operation_id = "users_get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::UsersRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The user's id.
        id: Path<PathId>,
    ) -> ApiResult<Success<UserEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let row = repo::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Success(UserEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        }))
    }

    /// List users
    ///
    /// Keyset-paginated like every list.
    #[oai(path = "/users", method = "get", operation_id = "users_list")]
    #[allow(clippy::too_many_arguments)]
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
        let mut tx = TenantTx::begin(&state.pool, auth.0.tenant_id).await?;
        let (rows, has_more) = repo::list(&mut tx, &filter, &page).await?;
        tx.commit().await?;
        Ok(Success(UserList {
            meta: pagination::meta(&page, &rows, has_more, &request_id),
            data: rows.into_iter().map(User::from).collect(),
        }))
    }
}
