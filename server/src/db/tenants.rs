//! Tenant provisioning, run by the operator through the owner role (`momentum tenant
//! create`), never by the API.

use anyhow::Context;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{autocommit, query, query_as, query_scalar, TenantTx};
use crate::domain::credential::NewApiKey;
use crate::error::{AppError, AppResult};

/// Every scope: the first key of a tenant acts for its owner with every permission.
pub const ALL_SCOPES: &str = "*";

#[derive(Debug, Serialize)]
pub struct ProvisionedTenant {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub api_key: String,
}

/// Creates a tenant, its default pipeline, its owner user and an API key bound to that
/// user, in one transaction.
/// The tenant is pinned with `set_config` like any other tenant transaction, so this works
/// through row-level security rather than around it.
pub async fn provision(
    admin: &PgPool,
    name: &str,
    owner_email: &str,
) -> anyhow::Result<ProvisionedTenant> {
    provision_seeded(admin, name, owner_email, false).await
}

/// [`provision`], and with `demo` the demo data set in the same transaction: the
/// `seed_demo` SQL function a sandbox made with `"seed": "demo"` runs too, so the CLI and
/// the API load the same data.
pub async fn provision_seeded(
    admin: &PgPool,
    name: &str,
    owner_email: &str,
    demo: bool,
) -> anyhow::Result<ProvisionedTenant> {
    let tenant_id = Uuid::now_v7();
    let user_id = Uuid::now_v7();
    let key = NewApiKey::generate();
    let mut tx = admin.begin().await?;
    query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant_id.to_string())
        .execute(&mut *tx)
        .await?;
    query("INSERT INTO tenants (id, name) VALUES ($1, $2)")
        .bind(tenant_id)
        .bind(name)
        .execute(&mut *tx)
        .await
        .context("cannot create the tenant")?;
    // Every tenant starts with the default "Sales" pipeline (defined in the migrations).
    query("SELECT create_default_pipeline($1)")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await
        .context("cannot create the default pipeline")?;
    query("INSERT INTO users (id, tenant_id, email, name, role) VALUES ($1, $2, $3, '', 'owner')")
        .bind(user_id)
        .bind(tenant_id)
        .bind(owner_email)
        .execute(&mut *tx)
        .await
        .context("cannot create the owner user")?;
    query(
        "INSERT INTO api_keys (id, tenant_id, user_id, public_id, secret_hash, name, scopes) \
         VALUES ($1, $2, $3, $4, $5, 'initial owner key', ARRAY[$6])",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(user_id)
    .bind(&key.public_id)
    .bind(&key.secret_hash[..])
    .bind(ALL_SCOPES)
    .execute(&mut *tx)
    .await
    .context("cannot create the API key")?;
    if demo {
        query("SELECT seed_demo($1)")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .context("cannot load the demo data")?;
    }
    tx.commit().await?;
    Ok(ProvisionedTenant {
        tenant_id,
        user_id,
        api_key: key.plaintext,
    })
}

/// Whether any tenant exists: the embedded server provisions a demo tenant only on first
/// start. Counts through the owner role, which holds BYPASSRLS.
pub async fn any_tenant(admin: &PgPool) -> anyhow::Result<bool> {
    Ok(query_scalar("SELECT EXISTS (SELECT 1 FROM tenants)")
        .fetch_one(autocommit(admin))
        .await?)
}

/// The transaction's own tenant: its id and name (row-level security shows no other).
pub async fn current(tx: &mut TenantTx) -> AppResult<(Uuid, String)> {
    query_as("SELECT id, name FROM tenants")
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("tenant"))
}
