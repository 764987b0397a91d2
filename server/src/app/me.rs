//! `GET /v1/me`: who the calling credential is and where it stands. Read-only; it spends
//! nothing beyond the `read` request that asks (see `RateLimiter::standing`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::{Kind, Principal, Scope};
use crate::db::users::{self, UserRow};
use crate::db::{api_keys, qr, tenants, TenantTx};
use crate::error::AppError;
use crate::ratelimit::{Class, Decision, Key};
use crate::state::AppState;

/// The caller, as `GET /v1/me` shows it.
#[derive(Debug, Clone)]
pub struct Me {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    /// `None` for a service key.
    pub user: Option<UserRow>,
    pub kind: Kind,
    pub credential_id: Uuid,
    /// API keys have names; session tokens do not.
    pub name: Option<String>,
    /// What the credential may do now: its scopes bounded by its user's role.
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Its standing in each class, in [`Class::ALL`]'s order: `auth` by the caller's
    /// address (those calls carry no credential), the others by the credential.
    pub rate_limits: Vec<Decision>,
}

pub async fn me(state: &AppState, principal: &Principal, address: Key) -> Result<Me, AppError> {
    let mut tx = TenantTx::begin(&state.pool, principal.tenant_id).await?;
    let (tenant_id, tenant_name) = tenants::current(&mut tx).await?;
    let user = match principal.user_id {
        Some(id) => Some(users::get(&mut tx, id).await?),
        None => None,
    };
    let (name, expires_at) = match principal.kind {
        Kind::ApiKey => {
            let key = api_keys::get(&mut tx, principal.credential_id).await?;
            (Some(key.name), key.expires_at)
        }
        Kind::SessionToken => {
            let token = qr::token(&mut tx, principal.credential_id).await?;
            (None, Some(token.expires_at))
        }
    };
    tx.end_read();
    let mut rate_limits = Vec::with_capacity(Class::ALL.len());
    for class in Class::ALL {
        let key = match class {
            Class::Auth => address.clone(),
            _ => Key::Credential(principal.credential_id),
        };
        rate_limits.push(state.limits.standing(class, &key).await);
    }
    Ok(Me {
        tenant_id,
        tenant_name,
        user,
        kind: principal.kind,
        credential_id: principal.credential_id,
        name,
        scopes: principal.scopes.clone(),
        expires_at,
        rate_limits,
    })
}
