//! `/v1/audit-events`: who did what to users, API keys, session tokens and QR sessions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::contacts::object;
use super::edge::RequestId;
use super::pagination;
use super::responses::{envelopes, ApiResult, List, Success};
use super::security::ApiKey;
use super::{filter_text, ApiTags};
use crate::app::audit::{self, AuditFilter, AuditRow, AuditSort};
use crate::auth::Scope;
use crate::state::AppState;

/// One recorded change. Never holds a secret.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct AuditEvent {
    pub id: Uuid,
    /// What happened, e.g. `api_key.created`, `api_key.revoked`, `user.created`,
    /// `user.updated`, `user.deactivated`, `user.reactivated`, `api_key.updated`,
    /// `api_key.rotated`, `qr_session.approved`, `qr_session.exchanged`,
    /// `session_token.created`, `session_token.revoked`. New actions may be added.
    pub action: String,
    /// The kind of credential that acted: `api_key`, `session_token`, or `device` (a QR
    /// login's own exchange).
    #[oai(nullable)]
    pub actor_kind: Option<String>,
    /// The id of that credential (for `device`: the QR session).
    #[oai(nullable)]
    pub actor_id: Option<Uuid>,
    /// The user the actor acted as.
    #[oai(nullable)]
    pub actor_user_id: Option<Uuid>,
    /// `api_key`, `session_token`, `user` or `qr_session`.
    pub target_type: String,
    pub target_id: Uuid,
    /// Details of the change (names, scopes, roles, expiry times).
    pub data: BTreeMap<String, Value>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            action: row.action,
            actor_kind: row.actor_kind,
            actor_id: row.actor_id,
            actor_user_id: row.actor_user_id,
            target_type: row.target_type,
            target_id: row.target_id,
            data: object(row.data),
            created_at: row.created_at,
        }
    }
}

envelopes!(
    AuditEvent,
    AuditEventEnvelope,
    AuditEventList,
    "One audit event in the envelope.",
    "A page of audit events in the envelope."
);

pub struct AuditApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Audit")]
impl AuditApi {
    /// List audit events
    ///
    /// Oldest first (`sort=-created_at` for newest first), keyset-paginated.
    #[oai(
        path = "/audit-events",
        method = "get",
        operation_id = "audit_events_list"
    )]
    async fn list(
        &self,
        #[oai(scope = "Scope::AuditRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// `created_at` (default) or `-created_at`.
        #[oai(validator(pattern = "^-?created_at$"))]
        sort: Query<Option<String>>,
        /// Exact action, e.g. `api_key.revoked`.
        #[oai(validator(max_length = 100))]
        action: Query<Option<String>>,
        /// Only events about this object.
        target_id: Query<Option<Uuid>>,
        /// Only events by this user.
        actor_user_id: Query<Option<Uuid>>,
        /// Only events recorded strictly after this instant (events never change).
        updated_after: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Success<AuditEventList>, List> {
        let page = pagination::page(
            limit.0,
            cursor.0.as_deref(),
            sort.0.as_deref(),
            AuditSort::CreatedAt,
        )?;
        let filter = AuditFilter {
            action: filter_text("action", action.0)?,
            target_id: target_id.0,
            actor_user_id: actor_user_id.0,
            after: updated_after.0,
        };
        let list = audit::list(&state, &auth.0, &filter, &page).await?;
        Ok(Success(AuditEventList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.items.into_iter().map(AuditEvent::from).collect(),
        }))
    }
}
