//! The `ApiKey` security scheme: handlers that take an [`ApiKey`] parameter require
//! `Authorization: Bearer mk_...`, and the document says so.

use chrono::Utc;
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use crate::auth::api_key::PresentedKey;
use crate::auth::Principal;
use crate::db;
use crate::error::AppError;
use crate::startup::AppState;

/// An API key, sent as `Authorization: Bearer mk_...`. `momentum tenant create` prints the
/// first key of a tenant.
#[derive(SecurityScheme)]
#[oai(
    rename = "ApiKey",
    ty = "bearer",
    bearer_format = "mk_<public id>_<secret>",
    checker = "verify_api_key"
)]
pub struct ApiKey(pub Principal);

async fn verify_api_key(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState missing")).into_poem())?;
    authenticate(state, &bearer.token)
        .await
        .map_err(AppError::into_poem)
}

/// One message for every refusal, so a caller cannot probe which keys exist.
const INVALID: AppError = AppError::Unauthorized("invalid, expired or revoked API key");

async fn authenticate(state: &AppState, token: &str) -> Result<Principal, AppError> {
    let presented = PresentedKey::parse(token).ok_or(INVALID)?;
    let stored = db::auth::find_api_key(&state.pool, presented.public_id)
        .await?
        .ok_or(INVALID)?;
    let now = Utc::now();
    let usable = presented.matches(&stored.secret_hash)
        && stored.revoked_at.is_none()
        && stored.expires_at.is_none_or(|at| at > now);
    if !usable {
        return Err(INVALID);
    }
    Ok(Principal {
        tenant_id: stored.tenant_id,
        key_id: stored.key_id,
        user_id: stored.user_id,
        scopes: stored.scopes,
    })
}
