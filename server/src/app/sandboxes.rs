//! Sandboxes: disposable tenants an admin makes from their own tenant's configuration
//! (pipelines and stages, custom field definitions, association labels, and webhook
//! endpoints copied disabled), optionally with the demo data set, for a contract-testing
//! pipeline or a trial. The sandbox's owner is a new user of the sandbox with the
//! caller's user's email and name (a service key's sandbox gets `owner@sandbox.invalid`),
//! and its key is shown once, in the answer to the call that makes it.
//!
//! A sandbox makes no sandboxes: copies of copies would outlive the tenant the cap and
//! the expiry are counted against. Deleting one (or its expiry) deletes the tenant and
//! every row of it, and tells every instance to forget cached credentials. Making and
//! deleting are recorded in the parent's audit log.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::page::{listed, Listed, PageRequest};
use super::version::IfMatch;
use crate::auth::Principal;
use crate::db::sandboxes::{self as repo, NewSandbox, Outcome, Owner};
pub use crate::db::sandboxes::{SandboxRow, SandboxSettings, SandboxSort};
use crate::db::{audit, users, TenantTx};
use crate::domain::credential::NewApiKey;
use crate::domain::fields::optional_text;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;

/// A sandbox never changes: its version is its creation.
impl super::version::Versioned for SandboxRow {
    fn version(&self) -> chrono::DateTime<chrono::Utc> {
        self.created_at
    }
}

/// The longest sandbox name, in characters.
pub const NAME_MAX: usize = 200;
/// How long a sandbox lives by default: a day.
pub const DEFAULT_EXPIRES_IN: i64 = 86_400;
/// The longest a sandbox lives: 30 days.
pub const MAX_EXPIRES_IN: i64 = 30 * 86_400;
/// The shortest: a minute.
pub const MIN_EXPIRES_IN: i64 = 60;
/// The owner's email when the caller acts as no user (a service key).
pub const SERVICE_OWNER_EMAIL: &str = "owner@sandbox.invalid";

/// A sandbox, as the request asked for it.
#[derive(Debug, Clone, Default)]
pub struct SandboxInput {
    pub name: Option<String>,
    /// Seconds until it is purged.
    pub expires_in: Option<i64>,
    /// Load the demo data set.
    pub demo: bool,
}

/// A sandbox just made, with its owner's key: the only time the key exists outside the
/// client.
#[derive(Debug, Clone)]
pub struct CreatedSandbox {
    pub row: SandboxRow,
    pub owner_email: String,
    /// `mk_<public id>_<secret>`.
    pub secret: String,
}

pub async fn create(
    state: &AppState,
    actor: &Principal,
    input: SandboxInput,
) -> Result<CreatedSandbox, AppError> {
    let name = optional_text("name", input.name, NAME_MAX, false)
        .map_err(|e| AppError::Validation(vec![e]))?
        .unwrap_or_else(|| "Sandbox".to_owned());
    let expires_in = input.expires_in.unwrap_or(DEFAULT_EXPIRES_IN);
    if !(MIN_EXPIRES_IN..=MAX_EXPIRES_IN).contains(&expires_in) {
        return Err(AppError::Validation(vec![FieldError::new(
            "expires_in",
            "out_of_range",
            format!("must be {MIN_EXPIRES_IN} to {MAX_EXPIRES_IN} seconds (30 days)"),
        )]));
    }
    let key = NewApiKey::generate();
    let id = Uuid::now_v7();
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (email, owner_name) = match actor.user_id {
        Some(user_id) => {
            let user = users::get(&mut tx, user_id).await?;
            (user.email, user.name)
        }
        None => (SERVICE_OWNER_EMAIL.to_owned(), String::new()),
    };
    let new = NewSandbox {
        id,
        name: &name,
        demo: input.demo,
        expires_in: Duration::from_secs(expires_in.unsigned_abs()),
        max_live: state.sandboxes.max_live,
        owner: Owner {
            id: Uuid::now_v7(),
            email: &email,
            name: &owner_name,
        },
        key: &key,
    };
    // The audit entry goes in first, while the parent is still pinned.
    audit::record(
        &mut tx,
        actor,
        "sandbox.created",
        ("sandbox", id),
        json!({"name": name, "seed": if input.demo { "demo" } else { "none" },
               "expires_in": expires_in}),
    )
    .await?;
    let secret_key = &state.secret_key;
    let outcome = repo::create(&mut tx, &new, |tenant, endpoint| {
        let secret = crate::webhooks::signing::new_secret();
        crate::webhooks::secrets::seal(secret_key, tenant, endpoint, &secret)
    })
    .await?;
    let row = match outcome {
        Outcome::Created(row) => row,
        Outcome::Nested => {
            return Err(AppError::Validation(vec![FieldError::new(
                "tenant",
                "sandbox_in_sandbox",
                "a sandbox cannot make sandboxes: make them from the tenant it was made from",
            )]))
        }
        Outcome::Limit => {
            let max = state.sandboxes.max_live;
            return Err(AppError::Conflict {
                message: format!(
                    "this tenant already has {max} live sandboxes, the most it may hold: \
                     delete one or wait for one to expire"
                ),
                details: vec![FieldError::new(
                    "tenant",
                    "sandbox_limit",
                    format!("at most {max} live sandboxes per tenant"),
                )],
            });
        }
    };
    tx.commit().await?;
    Ok(CreatedSandbox {
        row,
        owner_email: email,
        secret: key.plaintext,
    })
}

pub async fn get(state: &AppState, actor: &Principal, id: Uuid) -> Result<SandboxRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get(&mut tx, id).await?;
    tx.end_read();
    Ok(row)
}

/// One page of the tenant's sandboxes in creation order, expired ones the worker has not
/// purged yet included.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    page: &PageRequest,
) -> Result<Listed<SandboxRow>, AppError> {
    let page = page.page(SandboxSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list(&mut tx, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// Deletes the sandbox `id` and all its data at once, if `if_match` holds; its keys stop
/// working on every instance. The row is read without a lock: it never changes, and a
/// concurrent delete makes `sandbox_delete` find nothing, a 404 like any missing id.
pub async fn delete(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get(&mut tx, id).await?;
    if_match.check(&current)?;
    if !repo::delete(&mut tx, id).await? {
        return Err(AppError::NotFound("sandbox"));
    }
    audit::record(
        &mut tx,
        actor,
        "sandbox.deleted",
        ("sandbox", id),
        json!({}),
    )
    .await?;
    state.auth.commit_change(tx).await
}
