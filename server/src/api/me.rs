//! `/v1/me`: who the calling credential is, what it may do, and where it stands in
//! each rate-limit class. Any valid credential may ask; it needs no scope.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem::Request;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::responses::{ApiResult, Meta, Own, Success};
use super::security::ApiKey;
use super::users::User;
use super::ApiTags;
use crate::app::me;
use crate::ratelimit::{ClientIp, Decision, Key};
use crate::state::AppState;

/// The caller's tenant.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct MeTenant {
    pub id: Uuid,
    pub name: String,
}

/// The credential that made this request.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct MeCredential {
    /// `api_key` or `session_token` (from a QR-code login), as in the audit log.
    pub kind: String,
    /// The key's or token's id (`api_keys_get`, `session_tokens_list`).
    pub id: Uuid,
    /// The key's name; `null` for a session token.
    #[oai(nullable)]
    pub name: Option<String>,
    /// The scopes it holds right now: those stored on it (`*` and `admin` written out
    /// as the scopes they hold) that its user's role allows.
    pub scopes: Vec<String>,
    /// When it stops working; `null` for a key that never expires.
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where the caller stands in one rate-limit class, as the `RateLimit` headers of a
/// request of that class would say, without spending anything.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct RateLimitStanding {
    /// `auth`, `read`, `write`, `admin` or `webhook_test`. New classes may be added.
    pub class: String,
    /// Requests allowed per minute.
    pub limit: u32,
    /// Requests that could be made right now; `null` while the shared rate-limit store
    /// cannot be reached.
    #[oai(nullable)]
    pub remaining: Option<u32>,
    /// Seconds until the quota is full again; `null` when `remaining` is.
    #[oai(nullable)]
    pub reset: Option<u64>,
}

impl From<Decision> for RateLimitStanding {
    fn from(decision: Decision) -> Self {
        Self {
            class: decision.class.as_str().to_owned(),
            limit: decision.limit,
            remaining: decision.counted.then_some(decision.remaining),
            reset: decision.counted.then_some(decision.reset),
        }
    }
}

/// The caller: tenant, user, credential and rate-limit standing.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Me {
    pub tenant: MeTenant,
    /// The user the credential acts as; absent for a service key.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    pub credential: MeCredential,
    /// One entry per class. `auth` counts the QR login's unauthenticated calls by
    /// client address, so it is this address's standing; the others are the
    /// credential's own.
    pub rate_limits: Vec<RateLimitStanding>,
}

/// The caller in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct MeEnvelope {
    pub data: Me,
    pub meta: Meta,
}

pub struct MeApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Auth")]
impl MeApi {
    /// Who am I
    ///
    /// The tenant, the user the credential acts as (absent for a service key), the
    /// credential itself (kind, id, name, the scopes it holds now, expiry) and where it
    /// stands in each rate-limit class. Any valid API key or session token may call it:
    /// it needs no scope. It counts as one `read` request, which the `read` standing it
    /// reports already includes; it spends nothing in the other classes.
    #[oai(path = "/me", method = "get", operation_id = "me_get")]
    async fn me(
        &self,
        auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        req: &Request,
    ) -> ApiResult<Success<MeEnvelope>, Own> {
        let address = Key::Ip(
            req.extensions()
                .get::<ClientIp>()
                .map_or(IpAddr::from([127, 0, 0, 1]), |ip| ip.0),
        );
        let found = me::me(&state, &auth.0, address).await?;
        Ok(Success(MeEnvelope {
            data: Me {
                tenant: MeTenant {
                    id: found.tenant_id,
                    name: found.tenant_name,
                },
                user: found.user.map(User::from),
                credential: MeCredential {
                    kind: found.kind.as_str().to_owned(),
                    id: found.credential_id,
                    name: found.name,
                    scopes: found.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
                    expires_at: found.expires_at,
                },
                rate_limits: found.rate_limits.into_iter().map(Into::into).collect(),
            },
            meta: Meta::of(&request_id),
        }))
    }
}
