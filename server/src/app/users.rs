//! Users: the members of a tenant. Admins create them, change their name or role and
//! deactivate them, and the audit log records each change in its transaction. Three
//! rules guard the roles: nobody acts on a user whose role is above their own
//! (`Principal::may_act_on`), only an owner makes or unmakes an owner, and a tenant
//! always keeps an active owner — checked under a lock on the owners, so two concurrent
//! requests cannot each remove "the other" one. A change to a role or a deactivation
//! changes what the user's credentials may do, so it commits through
//! `Authenticator::commit_change`, which makes every instance forget what it cached.

use serde_json::json;
use uuid::Uuid;

use super::page::{listed, Listed, Page};
use super::version::by_updated_at;
use super::version::IfMatch;
use crate::auth::{Principal, Role};
use crate::db::audit;
use crate::db::users as repo;
pub use crate::db::users::{UserFilter, UserRow, UserSort};
use crate::db::TenantTx;
use crate::domain::user::{self, NewUser};
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;

by_updated_at!(UserRow);

/// A new user, as the request gave it.
#[derive(Debug, Clone)]
pub struct UserInput {
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
}

/// Changes to a user; a field left `None` is kept. The name is checked only once the
/// caller is known to be allowed to change the user, so a refusal names the first
/// reason in the order the rules are checked.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
}

/// Creates a user from `input`, checked (every bad field reported); only an owner
/// creates an owner.
pub async fn create(
    state: &AppState,
    actor: &Principal,
    input: UserInput,
) -> Result<UserRow, AppError> {
    let user = NewUser::parse(input.email, input.name).map_err(AppError::Validation)?;
    let role = input.role;
    if role == Role::Owner {
        owner_only(actor)?;
    }
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::insert(&mut tx, user.email(), user.name(), role.as_str()).await?;
    let data = json!({"email": row.email, "role": row.role});
    audit::record(&mut tx, actor, "user.created", ("user", row.id), data).await?;
    tx.commit().await?;
    Ok(row)
}

/// Lays `patch` over the user `id` if the caller may act on them and its version passes
/// `if_match`.
pub async fn update(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: UserPatch,
) -> Result<UserRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let owners = repo::lock_owners(&mut tx).await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    actor.may_act_on(Some((id, Role::of_stored(&current.role))), "id")?;
    if_match.check(&current)?;
    let name = match patch.name {
        Some(name) => user::name(name).map_err(|e| AppError::Validation(vec![e]))?,
        None => current.name.clone(),
    };
    let role = patch
        .role
        .unwrap_or_else(|| Role::parse(&current.role).unwrap_or(Role::Member));
    let was_owner = current.role == Role::Owner.as_str();
    if was_owner != (role == Role::Owner) {
        owner_only(actor)?;
    }
    if was_owner && role != Role::Owner && owners == [id] {
        return Err(last_owner("demoted"));
    }
    let row = repo::update(&mut tx, id, &name, role.as_str()).await?;
    let data = json!({"name": row.name, "role": row.role, "previous_role": current.role});
    audit::record(&mut tx, actor, "user.updated", ("user", id), data).await?;
    // A role change changes what the user's credentials may do.
    state.auth.commit_change(tx).await?;
    Ok(row)
}

/// Deactivates the user `id` if the caller may act on them and they are not the last
/// active owner; deactivating a deactivated user changes nothing and records nothing.
pub async fn deactivate(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<UserRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let owners = repo::lock_owners(&mut tx).await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    actor.may_act_on(Some((id, Role::of_stored(&current.role))), "id")?;
    if current.role == Role::Owner.as_str() && owners == [id] {
        return Err(last_owner("deactivated"));
    }
    let row = repo::deactivate(&mut tx, id).await?;
    if current.deactivated_at.is_none() {
        audit::record(&mut tx, actor, "user.deactivated", ("user", id), json!({})).await?;
    }
    state.auth.commit_change(tx).await?;
    Ok(row)
}

/// Reactivates the deactivated user `id` if the caller may act on them; reactivating an
/// active user changes nothing and records nothing. Their keys and tokens that are not
/// revoked or expired work again, so this commits like a deactivation: every instance
/// forgets the refusals it cached.
pub async fn reactivate(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<UserRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    actor.may_act_on(Some((id, Role::of_stored(&current.role))), "id")?;
    if current.deactivated_at.is_none() {
        tx.end_read();
        return Ok(current);
    }
    let row = repo::reactivate(&mut tx, id).await?;
    audit::record(&mut tx, actor, "user.reactivated", ("user", id), json!({})).await?;
    state.auth.commit_change(tx).await?;
    Ok(row)
}

/// The user `id`.
pub async fn get(state: &AppState, actor: &Principal, id: Uuid) -> Result<UserRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get(&mut tx, id).await?;
    tx.end_read();
    Ok(row)
}

/// One page of the users matching `filter`. The page is read by the caller, before the
/// filter, so that a bad cursor is the error reported first.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    filter: &UserFilter,
    page: &Page<UserSort>,
) -> Result<Listed<UserRow>, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list(&mut tx, filter, page).await?;
    tx.end_read();
    Ok(listed(page, rows, has_more))
}

fn owner_only(caller: &Principal) -> Result<(), AppError> {
    if caller.role == Some(Role::Owner) {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            message: "only an owner can make or unmake owners".into(),
            details: vec![FieldError::new("role", "owner_only", "needs an owner")],
        })
    }
}

fn last_owner(action: &str) -> AppError {
    AppError::Conflict {
        message: format!("the tenant's last active owner cannot be {action}"),
        details: vec![FieldError::new(
            "role",
            "last_owner",
            "make another user an owner first",
        )],
    }
}
