//! Sandboxes: tenants made from a parent tenant's configuration, listed in the parent,
//! and deleted with all their data on request or once expired (migration
//! `20261209100001_sandboxes.sql`).
//!
//! Making one is one transaction: the parent's configuration is read with the parent
//! pinned, the `sandbox_create` SECURITY DEFINER function makes the tenant (the runtime
//! role cannot insert tenants), then the sandbox is pinned in the parent's place
//! ([`TenantTx::repin`]) and its owner, key and copied configuration are written under
//! row-level security like any other tenant's rows.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::types::PgInterval;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{creation_order, keyed, Page};
use super::periodic::{self, Job, Round};
use super::record::{self, Table};
use super::{autocommit, prepared_statements, query, query_as, query_scalar, TenantTx};
use crate::domain::credential::NewApiKey;
use crate::error::AppResult;

const COLUMNS: &str = "id, name, seed, owner_user_id, expires_at, created_at";

/// A sandbox as its parent tenant lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SandboxRow {
    /// The sandbox's own tenant id.
    pub id: Uuid,
    pub name: String,
    /// `none` or `demo`.
    pub seed: String,
    pub owner_user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

keyed!(SandboxRow);

impl Table for SandboxRow {
    const TABLE: &'static str = "sandboxes";
    const COLUMNS: &'static str = COLUMNS;
    const NOUN: &'static str = "sandbox";
}

creation_order!(SandboxSort, SandboxRow);

/// How many live sandboxes a tenant may hold, and how often the worker purges expired
/// ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxSettings {
    pub max_live: u32,
    pub purge_interval: Duration,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            max_live: 10,
            purge_interval: Duration::from_secs(300),
        }
    }
}

/// The sandbox's owner: a user of the new tenant.
pub struct Owner<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub name: &'a str,
}

/// What to make.
pub struct NewSandbox<'a> {
    pub id: Uuid,
    pub name: &'a str,
    /// Whether to load the demo data set.
    pub demo: bool,
    pub expires_in: Duration,
    pub max_live: u32,
    pub owner: Owner<'a>,
    /// The owner's key, bound to the owner, with every scope, expiring with the sandbox.
    pub key: &'a NewApiKey,
}

/// Why a sandbox was not made, or the one that was.
#[derive(Debug)]
pub enum Outcome {
    Created(SandboxRow),
    /// The pinned tenant is a sandbox itself.
    Nested,
    /// The pinned tenant already holds its most live sandboxes.
    Limit,
}

#[derive(sqlx::FromRow)]
struct PipelineCopy {
    id: Uuid,
    name: String,
    is_default: bool,
}

#[derive(sqlx::FromRow)]
struct StageCopy {
    pipeline_id: Uuid,
    name: String,
    position: i32,
    probability: i32,
    kind: String,
}

#[derive(sqlx::FromRow)]
struct FieldCopy {
    record_type: String,
    key: String,
    label: String,
    r#type: String,
    options: Vec<String>,
    required: bool,
    unique: bool,
}

#[derive(sqlx::FromRow)]
struct LabelCopy {
    name: String,
    description: Option<String>,
    from_type: Option<String>,
    to_type: Option<String>,
}

#[derive(sqlx::FromRow)]
struct EndpointCopy {
    url: String,
    description: Option<String>,
    event_types: Vec<String>,
    changed_field_filters: serde_json::Value,
}

/// The parent's configuration, read with the parent pinned.
struct Configuration {
    pipelines: Vec<PipelineCopy>,
    stages: Vec<StageCopy>,
    fields: Vec<FieldCopy>,
    labels: Vec<LabelCopy>,
    endpoints: Vec<EndpointCopy>,
}

async fn configuration(tx: &mut TenantTx) -> AppResult<Configuration> {
    Ok(Configuration {
        pipelines: query_as("SELECT id, name, is_default FROM pipelines ORDER BY created_at, id")
            .fetch_all(tx.conn())
            .await?,
        stages: query_as(
            "SELECT pipeline_id, name, position, probability, kind FROM stages \
             ORDER BY pipeline_id, position",
        )
        .fetch_all(tx.conn())
        .await?,
        fields: query_as(
            "SELECT record_type, key, label, type, options, required, \"unique\" \
             FROM custom_field_definitions ORDER BY created_at, id",
        )
        .fetch_all(tx.conn())
        .await?,
        labels: query_as(
            "SELECT name, description, from_type, to_type FROM association_labels \
             ORDER BY created_at, id",
        )
        .fetch_all(tx.conn())
        .await?,
        endpoints: query_as(
            "SELECT url, description, event_types, changed_field_filters FROM webhook_endpoints \
             ORDER BY created_at, id",
        )
        .fetch_all(tx.conn())
        .await?,
    })
}

fn interval(d: Duration) -> PgInterval {
    PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
    }
}

/// Makes the sandbox `new` of the tenant `tx` pins, copying its configuration; `seal`
/// seals a new webhook signing secret for (sandbox, endpoint id). On success `tx` is
/// left pinned to the sandbox: commit it, nothing more.
pub async fn create(
    tx: &mut TenantTx,
    new: &NewSandbox<'_>,
    seal: impl Fn(Uuid, Uuid) -> String,
) -> AppResult<Outcome> {
    let config = configuration(tx).await?;
    let (outcome, _): (String, Option<DateTime<Utc>>) =
        query_as("SELECT outcome, expires_at FROM sandbox_create($1, $2, $3, $4, $5, $6)")
            .bind(new.id)
            .bind(new.name)
            .bind(if new.demo { "demo" } else { "none" })
            .bind(new.owner.id)
            .bind(interval(new.expires_in))
            .bind(i32::try_from(new.max_live).unwrap_or(i32::MAX))
            .fetch_one(tx.conn())
            .await?;
    match outcome.as_str() {
        "nested" => return Ok(Outcome::Nested),
        "limit" => return Ok(Outcome::Limit),
        _ => {}
    }
    let row: SandboxRow = record::get(tx, new.id).await?;

    tx.repin(new.id).await?;
    let sandbox = new.id;
    query("INSERT INTO users (id, tenant_id, email, name, role) VALUES ($1, $2, $3, $4, 'owner')")
        .bind(new.owner.id)
        .bind(sandbox)
        .bind(new.owner.email)
        .bind(new.owner.name)
        .execute(tx.conn())
        .await?;
    query(
        "INSERT INTO api_keys (id, tenant_id, user_id, public_id, secret_hash, name, scopes, \
         expires_at) VALUES ($1, $2, $3, $4, $5, 'sandbox owner key', ARRAY['*'], $6)",
    )
    .bind(Uuid::now_v7())
    .bind(sandbox)
    .bind(new.owner.id)
    .bind(&new.key.public_id)
    .bind(&new.key.secret_hash[..])
    .bind(row.expires_at)
    .execute(tx.conn())
    .await?;
    write_configuration(tx, &config, seal).await?;
    if new.demo {
        query("SELECT seed_demo($1)")
            .bind(new.owner.id)
            .execute(tx.conn())
            .await?;
    }
    Ok(Outcome::Created(row))
}

/// The parent's configuration into the pinned sandbox, with new ids (stages follow
/// their pipeline's). Endpoints are copied disabled, each with a new signing secret.
async fn write_configuration(
    tx: &mut TenantTx,
    config: &Configuration,
    seal: impl Fn(Uuid, Uuid) -> String,
) -> AppResult<()> {
    let sandbox = tx.tenant_id();
    let mut pipelines = HashMap::new();
    for pipeline in &config.pipelines {
        let id = Uuid::now_v7();
        pipelines.insert(pipeline.id, id);
        query("INSERT INTO pipelines (id, tenant_id, name) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(sandbox)
            .bind(&pipeline.name)
            .execute(tx.conn())
            .await?;
    }
    // The first pipeline written became the default (a trigger keeps one); the parent's
    // default may be another.
    if let Some(default) = config
        .pipelines
        .iter()
        .find(|p| p.is_default)
        .and_then(|p| pipelines.get(&p.id))
    {
        crate::db::pipelines::make_default(tx, *default).await?;
    }
    for stage in &config.stages {
        let Some(pipeline) = pipelines.get(&stage.pipeline_id) else {
            continue;
        };
        query(
            "INSERT INTO stages (id, tenant_id, pipeline_id, name, position, probability, kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(sandbox)
        .bind(pipeline)
        .bind(&stage.name)
        .bind(stage.position)
        .bind(stage.probability)
        .bind(&stage.kind)
        .execute(tx.conn())
        .await?;
    }
    for field in &config.fields {
        query(
            "INSERT INTO custom_field_definitions (id, tenant_id, record_type, key, label, type, \
             options, required, \"unique\") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Uuid::now_v7())
        .bind(sandbox)
        .bind(&field.record_type)
        .bind(&field.key)
        .bind(&field.label)
        .bind(&field.r#type)
        .bind(&field.options)
        .bind(field.required)
        .bind(field.unique)
        .execute(tx.conn())
        .await?;
    }
    for label in &config.labels {
        query(
            "INSERT INTO association_labels (id, tenant_id, name, description, from_type, \
             to_type) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(sandbox)
        .bind(&label.name)
        .bind(&label.description)
        .bind(&label.from_type)
        .bind(&label.to_type)
        .execute(tx.conn())
        .await?;
    }
    for endpoint in &config.endpoints {
        let id = Uuid::now_v7();
        query(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, \
             changed_field_filters, enabled, disabled_reason, disabled_at, secret) \
             VALUES ($1, $2, $3, $4, $5, $6, false, 'manual', now(), $7)",
        )
        .bind(id)
        .bind(sandbox)
        .bind(&endpoint.url)
        .bind(&endpoint.description)
        .bind(&endpoint.event_types)
        .bind(&endpoint.changed_field_filters)
        .bind(seal(sandbox, id))
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// The pinned tenant's sandbox `id`.
pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<SandboxRow> {
    record::get(tx, id).await
}

/// One page of the pinned tenant's sandboxes, expired ones not yet purged included.
pub async fn list(
    tx: &mut TenantTx,
    page: &Page<SandboxSort>,
) -> AppResult<(Vec<SandboxRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM sandboxes WHERE true"));
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}

/// Deletes the pinned tenant's sandbox `id` with all its data; false when it has none
/// such. Commit through `Authenticator::commit_change`: the sandbox's keys are gone.
pub async fn delete(tx: &mut TenantTx, id: Uuid) -> AppResult<bool> {
    Ok(query_scalar("SELECT sandbox_delete($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await?)
}

/// Sandboxes one call of the purge deletes at most: each takes all its rows with it.
const PURGE_BATCH: i32 = 20;

/// Deletes every expired sandbox of every tenant, in batches (each its own transaction),
/// and returns how many. `pool` must be the worker's role.
pub async fn purge_expired(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut total = 0u64;
    loop {
        let n: i32 = query_scalar("SELECT sandbox_purge_expired($1)")
            .bind(PURGE_BATCH)
            .fetch_one(autocommit(pool))
            .await?;
        total += u64::try_from(n).unwrap_or(0);
        if n < PURGE_BATCH {
            return Ok(total);
        }
    }
}

/// One process's turn at the purge ([`crate::db::periodic`]).
pub async fn run_round(pool: &PgPool, every: Duration) -> Result<Round, sqlx::Error> {
    periodic::run_once(pool, Job::SandboxPurge, every, || purge_expired(pool)).await
}

/// Takes its turn at the purge every `every` (the first at once) until `stopped` turns
/// true. What it purges counts in `momentum_sandboxes_purged_total`.
pub async fn run(
    pool: PgPool,
    every: Duration,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        match run_round(&pool, every).await {
            Ok(Round::Ran(0) | Round::Skipped) => {}
            Ok(Round::Ran(n)) => {
                metrics.sandboxes_purged(n);
                tracing::info!(purged = n, "purged expired sandboxes");
            }
            Err(err) => tracing::warn!(error = %err, "could not purge expired sandboxes"),
        }
    }
}
