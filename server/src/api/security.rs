//! The `ApiKey` security scheme: handlers that take an [`ApiKey`] parameter require
//! `Authorization: Bearer mk_...` (an API key) or `Bearer mst_...` (a session token), and
//! the document says so. The scope an operation needs is declared once, with
//! `#[oai(scope = "Scope::...")]` on that parameter: poem-openapi writes it into the
//! operation's security requirement, and [`verify`] enforces what the document requires
//! of the operation (`api::operations`), before the handler runs. It also counts the
//! request against its rate-limit class.

use std::net::IpAddr;

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use super::operations;
use crate::auth::Principal;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::ratelimit::{ClientIp, Decision, Key, Slot, Unavailable};
use crate::state::AppState;

/// An API key (`mk_...`, printed by `momentum tenant create` or made with
/// `api_keys_create`) or a session token (`mst_...`, from a QR-code login). Each operation
/// lists the scope it needs; a credential without it gets `403 forbidden`.
#[derive(SecurityScheme)]
#[oai(
    rename = "ApiKey",
    ty = "bearer",
    bearer_format = "mk_<public id>_<secret> or mst_<public id>_<secret>",
    checker = "verify"
)]
pub struct ApiKey(pub Principal);

/// A credential already checked for this request (by the idempotency layer, which needs
/// the tenant before the handler runs), so the check and its rate-limit count happen once.
#[derive(Debug, Clone)]
pub struct Admitted(pub Principal);

async fn verify(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    if let Some(Admitted(principal)) = req.extensions().get::<Admitted>() {
        return Ok(principal.clone());
    }
    admit(req, &bearer.token).await.map_err(AppError::into_poem)
}

/// Authenticates `token`, counts the request against the rate limits, and checks the
/// operation's scopes.
pub async fn admit(req: &Request, token: &str) -> Result<Principal, AppError> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState missing")))?;
    // The edge looked the operation up once for the whole request. Without it nothing
    // says what this request may do: refuse rather than guess.
    let op = *req
        .extensions()
        .get::<&'static operations::Operation>()
        .ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "no operation found for an authenticated route"
            ))
        })?;
    let address = Key::Ip(
        req.extensions()
            .get::<ClientIp>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |ip| ip.0),
    );
    let cached = state.auth.cached(token);
    if matches!(cached, Some(false)) {
        // The address first: one already out of quota gets its 429 without the lookup,
        // so keys made up at random cannot each cost a database query. A valid key is
        // refused here only while its address is out of quota and its lookup is not
        // cached; it never spends the address's quota.
        match state.limits.exhausted(op.class, &address).await {
            Ok(Some(refused)) => return Err(refuse(req, refused)),
            Ok(None) => {}
            Err(unavailable) => return Err(unavailable_error(req, unavailable)),
        }
        state.metrics.auth_cache_miss();
    } else if matches!(cached, Some(true)) {
        state.metrics.auth_cache_hit();
    }
    let authenticated = state.auth.authenticate(token).await;
    // A valid credential counts against its own quota and its tenant's ceiling (which
    // decides when it is the one that refuses); a bad one against its client address,
    // so guessing keys is as limited as anything else.
    let (key, tenant) = match &authenticated {
        Ok(principal) => (
            Key::Credential(principal.credential_id),
            Some(principal.tenant_id),
        ),
        Err(_) => (address, None),
    };
    let decision = match state.limits.check(op.class, &key, tenant).await {
        Ok(decision) => decision,
        Err(unavailable) => return Err(unavailable_error(req, unavailable)),
    };
    if decision.retry_after.is_some() {
        return Err(refuse(req, decision));
    }
    if let Some(slot) = req.extensions().get::<Slot>() {
        slot.set(decision);
    }
    let principal = authenticated?;
    crate::telemetry::record_tenant(principal.tenant_id);
    if let Some(missing) = op.scopes.iter().find(|scope| !principal.has(**scope)) {
        return Err(AppError::Forbidden {
            message: format!("this operation needs the `{}` scope", missing.as_str()),
            details: vec![FieldError::new(
                "scope",
                "missing_scope",
                format!("the credential lacks `{}`", missing.as_str()),
            )],
        });
    }
    if !op.any_of.is_empty() && !op.any_of.iter().any(|scope| principal.has(*scope)) {
        let names: Vec<String> = op
            .any_of
            .iter()
            .map(|s| format!("`{}`", s.as_str()))
            .collect();
        return Err(AppError::Forbidden {
            message: format!(
                "this operation needs one of the scopes {}",
                names.join(", ")
            ),
            details: vec![FieldError::new(
                "scope",
                "missing_scope",
                format!("the credential holds none of {}", names.join(", ")),
            )],
        });
    }
    Ok(principal)
}

/// A 429 for `decision`, which the response's rate-limit headers report.
fn refuse(req: &Request, decision: Decision) -> AppError {
    let error = AppError::RateLimited {
        class: decision.class.as_str(),
        retry_after: decision.retry_after.unwrap_or(1),
    };
    if let Some(slot) = req.extensions().get::<Slot>() {
        slot.set(decision);
    }
    error
}

/// A 503: the rate-limit store is away and the policy is to refuse what it cannot count.
fn unavailable_error(req: &Request, Unavailable(decision): Unavailable) -> AppError {
    if let Some(slot) = req.extensions().get::<Slot>() {
        slot.set(decision);
    }
    AppError::LimitsUnavailable
}
