//! The tenant's API keys. A key's secret exists only in the answer to the call that
//! creates it; only its hash is stored. A key can never do more than the credential that
//! made it: it holds only scopes the caller holds, it acts only as a user whose role is
//! not above the caller's (`Principal::may_act_on`: owner > admin > member, a service key
//! ranking as an admin), and only a caller ranking as an admin makes a service key.
//! Creating and revoking are recorded in the audit log in their transaction; a revocation
//! commits through `Authenticator::commit_change`, so every instance stops honouring the
//! key.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::page::{listed, Listed, PageRequest};
use crate::auth::scopes::ALL;
use crate::auth::{Principal, Role, Scope};
use crate::db::api_keys::{self as repo, NewKeyRow};
pub use crate::db::api_keys::{ApiKeyRow, ApiKeySort};
use crate::db::{audit, users, violations, TenantTx};
use crate::domain::credential::NewApiKey;
use crate::domain::fields::optional_text;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;

/// The longest key name, in characters.
pub const NAME_MAX: usize = 200;
/// The most scopes a key holds.
pub const SCOPES_MAX: usize = 20;

/// A new key, as the request asked for it.
#[derive(Debug, Clone)]
pub struct KeyInput {
    pub name: String,
    /// Scope names, or `*` for all of them.
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The user the key acts as; by default the caller's own.
    pub user_id: Option<Uuid>,
    /// A key bound to no user.
    pub service: bool,
}

/// A key just made, with its secret: the only time the secret exists outside the client.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub row: ApiKeyRow,
    /// `mk_<public id>_<secret>`.
    pub secret: String,
}

/// Makes a key from `input`, bounded by what the caller may grant.
pub async fn create(
    state: &AppState,
    actor: &Principal,
    input: KeyInput,
) -> Result<CreatedKey, AppError> {
    let name = optional_text("name", Some(input.name), NAME_MAX, false)
        .map_err(|e| AppError::Validation(vec![e]))?
        .ok_or_else(|| {
            AppError::Validation(vec![FieldError::new(
                "name",
                "required",
                "must not be empty",
            )])
        })?;
    let scopes = scopes(actor, input.scopes)?;
    if input.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(AppError::Validation(vec![FieldError::new(
            "expires_at",
            "in_the_past",
            "must be in the future",
        )]));
    }
    if input.service && input.user_id.is_some() {
        return Err(AppError::Validation(vec![FieldError::new(
            "user_id",
            "conflicts",
            "a service key acts as no user: leave out `user_id` or `service`",
        )]));
    }
    let user_id = if input.service {
        None
    } else {
        input.user_id.or(actor.user_id)
    };
    let key = NewApiKey::generate();
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if user_id.is_none() {
        actor.may_act_on(None, "service")?;
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
        actor.may_act_on(Some((user.id, Role::of_stored(&user.role))), "user_id")?;
        if user.deactivated_at.is_some() {
            return Err(AppError::Validation(vec![FieldError::new(
                "user_id",
                "deactivated",
                "the user is deactivated",
            )]));
        }
    }
    let row = repo::insert(
        &mut tx,
        &NewKeyRow {
            key: &key,
            name: &name,
            scopes: &scopes,
            user_id,
            expires_at: input.expires_at,
        },
    )
    .await?;
    // The actor fields name the caller; `acts_as_user_id` names whom the key acts as,
    // so a key made for someone else stands out in the log.
    let data = json!({
        "name": row.name, "scopes": row.scopes, "user_id": row.user_id,
        "acts_as_user_id": row.user_id, "expires_at": row.expires_at,
    });
    audit::record(&mut tx, actor, "api_key.created", ("api_key", row.id), data).await?;
    tx.commit().await?;
    Ok(CreatedKey {
        row,
        secret: key.plaintext,
    })
}

/// The key `id`, as listed.
pub async fn get(state: &AppState, actor: &Principal, id: Uuid) -> Result<ApiKeyRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get(&mut tx, id).await?;
    tx.end_read();
    Ok(row)
}

/// Revokes the key `id` unless it acts as a user ranking above the caller; revoking a
/// revoked key changes nothing and records nothing.
pub async fn revoke(state: &AppState, actor: &Principal, id: Uuid) -> Result<ApiKeyRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let key = repo::get(&mut tx, id).await?;
    let acts_as = match key.user_id {
        Some(user_id) => {
            let user = users::get(&mut tx, user_id).await?;
            Some((user.id, Role::of_stored(&user.role)))
        }
        None => None,
    };
    actor.may_act_on(acts_as, "id")?;
    let (row, changed) = repo::revoke(&mut tx, id).await?;
    if changed {
        audit::record(
            &mut tx,
            actor,
            "api_key.revoked",
            ("api_key", id),
            json!({}),
        )
        .await?;
    }
    state.auth.commit_change(tx).await?;
    Ok(row)
}

/// One page of the tenant's keys in creation order, revoked and expired ones included:
/// only those acting as `user_id`, and changed after `updated_after`, when given.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    user_id: Option<Uuid>,
    updated_after: Option<DateTime<Utc>>,
    page: &PageRequest,
) -> Result<Listed<ApiKeyRow>, AppError> {
    let page = page.page(ApiKeySort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list(&mut tx, user_id, updated_after, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

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
