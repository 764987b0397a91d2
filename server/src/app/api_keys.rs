//! The tenant's API keys. A key's secret exists only in the answer to the call that
//! creates it; only its hash is stored. A key can never do more than the credential that
//! made it: it holds only scopes the caller holds, it acts only as a user whose role is
//! not above the caller's (`Principal::may_act_on`: owner > admin > member, a service key
//! ranking as an admin), and only a caller ranking as an admin makes a service key.
//! A key can be changed only towards doing less (a new name, fewer scopes, an earlier
//! expiry) and rotated to a new secret, the replaced one working on for an overlap the
//! caller chooses. Creating, changing, rotating and revoking are recorded in the audit
//! log in their transaction; a change, a rotation and a revocation commit through
//! `Authenticator::commit_change`, so every instance stops honouring what was taken away.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::page::{listed, Listed, PageRequest};
use super::version::{by_updated_at, IfMatch};
use crate::auth::scopes::{self, ALL};
use crate::auth::{Kind, Principal, Role, Scope};
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
pub const SCOPES_MAX: usize = 32;

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

by_updated_at!(ApiKeyRow);

/// Changes to a key; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    pub name: Option<String>,
    /// Only scopes the key already holds.
    pub scopes: Option<Vec<String>>,
    /// Only earlier than the key's expiry (any future time when it has none).
    pub expires_at: Option<DateTime<Utc>>,
}

/// The default overlap of a rotation, in seconds: an hour, time for a deployment to
/// switch to the new secret.
pub const OVERLAP_DEFAULT: i64 = 3600;
/// The longest overlap, in seconds: seven days. A replaced secret is one that may have
/// leaked; it must not live on indefinitely.
pub const OVERLAP_MAX: i64 = 7 * 24 * 3600;

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
    may_act_on_key(&mut tx, actor, &key).await?;
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

/// Changes the key `id`, if its version passes `if_match`, towards doing less: `patch`'s
/// name, scopes the key already holds (wider is a 422 naming the scope), an expiry earlier
/// than its own (later is a 422; so is one in the past). The caller must be able to act
/// on the key's user and, as when creating, hold every scope it names. A revoked key is
/// not changed (409). A patch that changes nothing records nothing.
pub async fn update(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: KeyPatch,
) -> Result<ApiKeyRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let key = repo::lock(&mut tx, id).await?;
    may_act_on_key(&mut tx, actor, &key).await?;
    if_match.check(&key)?;
    if key.revoked_at.is_some() {
        return Err(revoked());
    }
    let name = match patch.name {
        Some(name) => optional_text("name", Some(name), NAME_MAX, false)
            .map_err(|e| AppError::Validation(vec![e]))?
            .ok_or_else(|| {
                AppError::Validation(vec![FieldError::new(
                    "name",
                    "required",
                    "must not be empty",
                )])
            })?,
        None => key.name.clone(),
    };
    let scopes = match patch.scopes {
        Some(requested) => {
            let requested = scopes(actor, requested)?;
            narrower(&key.scopes, &requested)?;
            requested
        }
        None => key.scopes.clone(),
    };
    let expires_at = match patch.expires_at {
        Some(at) if at <= Utc::now() => {
            return Err(AppError::Validation(vec![FieldError::new(
                "expires_at",
                "in_the_past",
                "must be in the future",
            )]))
        }
        Some(at) if key.expires_at.is_some_and(|current| at > current) => {
            return Err(AppError::Validation(vec![FieldError::new(
                "expires_at",
                "extends",
                "can only come earlier: a key's lifetime is never extended (make a new key)",
            )]))
        }
        Some(at) => Some(at),
        None => key.expires_at,
    };
    if name == key.name && scopes == key.scopes && expires_at == key.expires_at {
        tx.end_read();
        return Ok(key);
    }
    let row = repo::update(&mut tx, id, &name, &scopes, expires_at).await?;
    let data = json!({
        "name": row.name, "scopes": row.scopes, "expires_at": row.expires_at,
        "previous": {"name": key.name, "scopes": key.scopes, "expires_at": key.expires_at},
    });
    audit::record(&mut tx, actor, "api_key.updated", ("api_key", id), data).await?;
    // Fewer scopes or an earlier expiry must hold on every instance at once.
    state.auth.commit_change(tx).await?;
    Ok(row)
}

/// Gives the key `id` a new secret; the replaced one keeps working for `overlap_seconds`
/// (at most [`OVERLAP_MAX`]; 0 ends it at once), then is refused. The caller must be able
/// to act on the key's user; a revoked key is not rotated (409). Recorded in the audit
/// log with the overlap's end, never a secret.
pub async fn rotate(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    overlap_seconds: Option<i64>,
) -> Result<CreatedKey, AppError> {
    let overlap = overlap_seconds.unwrap_or(OVERLAP_DEFAULT);
    if !(0..=OVERLAP_MAX).contains(&overlap) {
        return Err(AppError::Validation(vec![FieldError::new(
            "overlap_seconds",
            "out_of_range",
            format!("0 to {OVERLAP_MAX} seconds (7 days)"),
        )]));
    }
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let key = repo::lock(&mut tx, id).await?;
    may_act_on_key(&mut tx, actor, &key).await?;
    if key.revoked_at.is_some() {
        return Err(revoked());
    }
    let secret = NewApiKey::with_public_id(Kind::ApiKey, key.public_id.clone());
    let until = Utc::now() + chrono::Duration::seconds(overlap);
    let row = repo::rotate(&mut tx, id, &secret.secret_hash, until).await?;
    let data = json!({"previous_secret_expires_at": until, "overlap_seconds": overlap});
    audit::record(&mut tx, actor, "api_key.rotated", ("api_key", id), data).await?;
    // Instances that cached the old hash must learn the new one (and the overlap's end).
    state.auth.commit_change(tx).await?;
    Ok(CreatedKey {
        row,
        secret: secret.plaintext,
    })
}

/// Refuses a change to a key acting as a user ranking above the caller.
async fn may_act_on_key(
    tx: &mut TenantTx,
    actor: &Principal,
    key: &ApiKeyRow,
) -> Result<(), AppError> {
    let acts_as = match key.user_id {
        Some(user_id) => {
            let user = users::get(tx, user_id).await?;
            Some((user.id, Role::of_stored(&user.role)))
        }
        None => None,
    };
    actor.may_act_on(acts_as, "id")
}

fn revoked() -> AppError {
    AppError::Conflict {
        message: "the API key is revoked".into(),
        details: vec![FieldError::new(
            "id",
            "revoked",
            "a revoked key cannot be changed",
        )],
    }
}

/// Refuses `requested` scopes that the key, holding `current`, does not hold already.
fn narrower(current: &[String], requested: &[String]) -> Result<(), AppError> {
    let held = scopes::effective(current, None);
    let errors: Vec<FieldError> = requested
        .iter()
        .enumerate()
        .filter(|(_, name)| {
            if name.as_str() == ALL {
                !current.iter().any(|c| c == ALL)
            } else {
                Scope::parse(name).is_none_or(|scope| !held.contains(&scope))
            }
        })
        .map(|(index, name)| {
            FieldError::new(
                format!("scopes[{index}]"),
                "widens",
                format!("the key does not hold `{name}`: scopes can only be narrowed"),
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
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
