//! Webhook endpoints, their deliveries and attempts. The API's side runs in the tenant's
//! transaction; the worker claims across tenants through `webhook_claim_deliveries_changes` (a
//! SECURITY DEFINER function) and records each result back in the tenant's transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{creation_order, keyed, Page};
use super::record::{self, Table};
use super::TenantTx;
use super::{autocommit, prepared_statements, query, query_as, query_scalar};
use crate::domain::webhook::FilterMap;
use crate::error::{AppError, AppResult};

/// The channel `emit_event` and requeues notify, and workers listen on.
pub const CHANNEL: &str = "momentum_webhooks";

// Never the secrets: the API has no use for them once made (only the worker opens them,
// through its claim), so no read of an endpoint can leak one.
const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, enabled, disabled_reason, \
    disabled_at, previous_secret_expires_at, last_success_at, failing_since, \
    created_at, updated_at, changed_field_filters";

/// An endpoint, without its signing secrets.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Event type to the fields one of which must change for its events to be sent here
    /// (`emit_event` applies them).
    pub changed_field_filters: Json<FilterMap>,
}

keyed!(EndpointRow);
creation_order!(EndpointSort, EndpointRow);

impl Table for EndpointRow {
    const TABLE: &'static str = "webhook_endpoints";
    const COLUMNS: &'static str = ENDPOINT_COLUMNS;
    const NOUN: &'static str = "webhook endpoint";
}

/// What an endpoint is made of, on create and after a patch.
#[derive(Debug, Clone)]
pub struct EndpointFields {
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub changed_field_filters: FilterMap,
}

/// `sealed_secret` is the signing secret sealed for this tenant and `id`
/// (`webhooks::secrets::seal`).
pub async fn insert_endpoint(
    tx: &mut TenantTx,
    id: Uuid,
    fields: &EndpointFields,
    sealed_secret: &str,
) -> AppResult<EndpointRow> {
    let sql = format!(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, enabled, \
         disabled_reason, disabled_at, secret, changed_field_filters) \
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 THEN NULL ELSE 'manual' END, \
         CASE WHEN $6 THEN NULL ELSE now() END, $7, $8) RETURNING {ENDPOINT_COLUMNS}"
    );
    Ok(query_as(&sql)
        .bind(id)
        .bind(tx.tenant_id())
        .bind(&fields.url)
        .bind(&fields.description)
        .bind(&fields.event_types)
        .bind(fields.enabled)
        .bind(sealed_secret)
        .bind(Json(&fields.changed_field_filters))
        .fetch_one(tx.conn())
        .await?)
}

pub async fn list_endpoints(
    tx: &mut TenantTx,
    page: &Page<EndpointSort>,
) -> AppResult<(Vec<EndpointRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE true"
    ));
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}

pub async fn get_endpoint(tx: &mut TenantTx, id: Uuid) -> AppResult<EndpointRow> {
    record::get(tx, id).await
}

pub async fn get_endpoint_for_update(tx: &mut TenantTx, id: Uuid) -> AppResult<EndpointRow> {
    record::lock(tx, id).await
}

/// Writes the patched fields. Disabling by hand records the reason `manual`; enabling
/// clears the reason and starts the failure clock afresh.
pub async fn update_endpoint(
    tx: &mut TenantTx,
    id: Uuid,
    fields: &EndpointFields,
) -> AppResult<EndpointRow> {
    let sql = format!(
        "UPDATE webhook_endpoints SET url = $2, description = $3, event_types = $4, \
         enabled = $5, \
         disabled_reason = CASE WHEN $5 THEN NULL WHEN enabled THEN 'manual' \
                           ELSE disabled_reason END, \
         disabled_at = CASE WHEN $5 THEN NULL WHEN enabled THEN now() ELSE disabled_at END, \
         failing_since = CASE WHEN $5 AND NOT enabled THEN NULL ELSE failing_since END, \
         changed_field_filters = $6, updated_at = now() \
         WHERE id = $1 RETURNING {ENDPOINT_COLUMNS}"
    );
    let row: EndpointRow = query_as(&sql)
        .bind(id)
        .bind(&fields.url)
        .bind(&fields.description)
        .bind(&fields.event_types)
        .bind(fields.enabled)
        .bind(Json(&fields.changed_field_filters))
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))?;
    if !row.enabled {
        fail_pending(tx, id).await?;
    }
    Ok(row)
}

pub async fn delete_endpoint(tx: &mut TenantTx, id: Uuid) -> AppResult<()> {
    let deleted = query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(AppError::NotFound("webhook endpoint"));
    }
    Ok(())
}

/// Makes `sealed_secret` the signing secret; the old one keeps signing alongside it until
/// `overlap` has passed. (Both are sealed for this row, so the old one moves as it is.)
pub async fn rotate_secret(
    tx: &mut TenantTx,
    id: Uuid,
    sealed_secret: &str,
    overlap: std::time::Duration,
) -> AppResult<EndpointRow> {
    let sql = format!(
        "UPDATE webhook_endpoints SET previous_secret = secret, \
         previous_secret_expires_at = now() + make_interval(secs => $3), secret = $2, \
         updated_at = now() WHERE id = $1 RETURNING {ENDPOINT_COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .bind(sealed_secret)
        .bind(overlap.as_secs_f64())
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))
}

/// Takes the endpoint's row lock for the rest of the transaction (see the worker's lock
/// order), without writing the row.
pub async fn lock_endpoint(tx: &mut TenantTx, id: Uuid) -> AppResult<()> {
    query("SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Disables an enabled endpoint for `reason` (`gone`, `failing`) and fails its pending
/// deliveries. `None` when it was already disabled, so only one caller reports it.
pub async fn disable(tx: &mut TenantTx, id: Uuid, reason: &str) -> AppResult<Option<EndpointRow>> {
    let sql = format!(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, \
         disabled_at = now(), updated_at = now() \
         WHERE id = $1 AND enabled RETURNING {ENDPOINT_COLUMNS}"
    );
    let row: Option<EndpointRow> = query_as(&sql)
        .bind(id)
        .bind(reason)
        .fetch_optional(tx.conn())
        .await?;
    if row.is_some() {
        fail_pending(tx, id).await?;
    }
    Ok(row)
}

/// A disabled endpoint is sent nothing: what was waiting for it is failed, and can be
/// re-sent with `recover` once it is enabled again.
async fn fail_pending(tx: &mut TenantTx, endpoint_id: Uuid) -> AppResult<()> {
    query(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, \
         claim_id = NULL, last_error = 'endpoint disabled', updated_at = now() \
         WHERE endpoint_id = $1 AND status = 'pending'",
    )
    .bind(endpoint_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The endpoint answered 2xx: the failure clock stops. A healthy endpoint's row is
/// written at most once a second, not once per delivery: every write bumps its version
/// and takes its row lock, which concurrent deliveries to one endpoint would queue on.
pub async fn endpoint_succeeded(tx: &mut TenantTx, id: Uuid) -> AppResult<()> {
    query(
        "UPDATE webhook_endpoints SET last_success_at = now(), failing_since = NULL \
         WHERE id = $1 AND (failing_since IS NOT NULL OR last_success_at IS NULL \
         OR last_success_at < now() - interval '1 second')",
    )
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The endpoint failed an attempt: starts the failure clock if it is not running, and
/// returns when it started. Only the first failure writes the row: an UPDATE that changes
/// nothing still writes a new row version and holds the row lock to commit, which every
/// other failing delivery to the endpoint (up to its in-flight cap) would queue on.
pub async fn endpoint_failed(tx: &mut TenantTx, id: Uuid) -> AppResult<Option<DateTime<Utc>>> {
    Ok(query_scalar(
        "WITH started AS (UPDATE webhook_endpoints SET failing_since = now() \
           WHERE id = $1 AND failing_since IS NULL RETURNING failing_since) \
         SELECT coalesce((SELECT failing_since FROM started), \
                         (SELECT failing_since FROM webhook_endpoints WHERE id = $1))",
    )
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .flatten())
}

/// A `webhook.test` event queued for one endpoint only, whatever its filter. It keeps the
/// request's trace context as `emit_event` does (`app.traceparent`, set by [`TenantTx`]
/// alone and checked there), so a test delivery shows in the trace that asked for it.
pub async fn emit_test(tx: &mut TenantTx, endpoint_id: Uuid, data: Value) -> AppResult<Uuid> {
    let event_id = Uuid::now_v7();
    query(
        "INSERT INTO events (id, tenant_id, type, data, traceparent) \
         VALUES ($1, $2, 'webhook.test', $3, nullif(current_setting('app.traceparent', true), ''))",
    )
    .bind(event_id)
    .bind(tx.tenant_id())
    .bind(data)
    .execute(tx.conn())
    .await?;
    let delivery_id = Uuid::now_v7();
    query(
        "INSERT INTO webhook_deliveries (id, tenant_id, event_id, endpoint_id, next_attempt_at, \
         manual) VALUES ($1, $2, $3, $4, now(), true)",
    )
    .bind(delivery_id)
    .bind(tx.tenant_id())
    .bind(event_id)
    .bind(endpoint_id)
    .execute(tx.conn())
    .await?;
    notify(tx).await?;
    Ok(delivery_id)
}

/// Wakes the workers when the transaction commits.
async fn notify(tx: &mut TenantTx) -> AppResult<()> {
    query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(tx.conn())
        .await?;
    Ok(())
}

// --- deliveries and attempts ------------------------------------------------------------

const DELIVERY_SELECT: &str = "SELECT * FROM (SELECT d.id, d.event_id, e.type AS event_type, \
    d.endpoint_id, d.status, d.attempt_count, d.next_attempt_at, d.last_attempt_at, \
    d.last_status_code, d.last_error, d.delivered_at, d.created_at, d.updated_at \
    FROM webhook_deliveries d JOIN events e ON e.id = d.event_id) AS delivery WHERE true";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub endpoint_id: Uuid,
    pub status: String,
    pub attempt_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

keyed!(DeliveryRow);
creation_order!(DeliverySort, DeliveryRow);

pub async fn list_deliveries(
    tx: &mut TenantTx,
    endpoint_id: Uuid,
    status: Option<&str>,
    page: &Page<DeliverySort>,
) -> AppResult<(Vec<DeliveryRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(DELIVERY_SELECT);
    sql.push(" AND endpoint_id = ").push_bind(endpoint_id);
    if let Some(status) = status {
        sql.push(" AND status = ").push_bind(status.to_owned());
    }
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}

pub async fn get_delivery(
    tx: &mut TenantTx,
    endpoint_id: Uuid,
    id: Uuid,
) -> AppResult<DeliveryRow> {
    let sql = format!("{DELIVERY_SELECT} AND endpoint_id = $1 AND id = $2");
    query_as(&sql)
        .bind(endpoint_id)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("delivery"))
}

/// Puts a delivery back in the queue, due now, with the retry schedule started over; the
/// next attempt is marked `manual`. A delivery a worker is sending right now keeps its
/// lease (and its result); it is queued again all the same.
pub async fn requeue(tx: &mut TenantTx, endpoint_id: Uuid, id: Uuid) -> AppResult<()> {
    let updated = query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), step = 0, \
         manual = true, claim_id = NULL, updated_at = now() \
         WHERE endpoint_id = $1 AND id = $2",
    )
    .bind(endpoint_id)
    .bind(id)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(AppError::NotFound("delivery"));
    }
    notify(tx).await
}

/// Requeues every failed delivery of the endpoint created in `[since, until)`; returns how
/// many.
pub async fn recover(
    tx: &mut TenantTx,
    endpoint_id: Uuid,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> AppResult<u64> {
    let queued = query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), step = 0, \
         manual = true, claim_id = NULL, updated_at = now() \
         WHERE endpoint_id = $1 AND status = 'failed' AND created_at >= $2 \
         AND ($3::timestamptz IS NULL OR created_at < $3)",
    )
    .bind(endpoint_id)
    .bind(since)
    .bind(until)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if queued > 0 {
        notify(tx).await?;
    }
    Ok(queued)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub trigger: String,
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

keyed!(AttemptRow);
creation_order!(AttemptSort, AttemptRow);

pub async fn list_attempts(
    tx: &mut TenantTx,
    delivery_id: Uuid,
    page: &Page<AttemptSort>,
) -> AppResult<(Vec<AttemptRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT id, delivery_id, trigger, status_code, duration_ms, response_body, error, \
         created_at FROM webhook_attempts WHERE true",
    );
    sql.push(" AND delivery_id = ").push_bind(delivery_id);
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}

// --- the worker's side ------------------------------------------------------------------

/// The ids of the keys that sealed the stored secrets (across tenants; nothing of a
/// tenant, only a hash of each operator key). The API's role may ask.
pub async fn secret_key_ids(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    query_scalar("SELECT webhook_secret_key_ids()")
        .fetch_all(autocommit(pool))
        .await
}

/// An endpoint whose secret (or previous secret) is still in plaintext.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlaintextSecret {
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub secret: String,
    pub previous_secret: Option<String>,
}

/// Up to `limit` endpoints of any tenant with a plaintext secret (the worker's role only).
pub async fn plaintext_secrets(
    pool: &PgPool,
    limit: i32,
) -> Result<Vec<PlaintextSecret>, sqlx::Error> {
    query_as(
        "SELECT tenant_id, endpoint_id, secret, previous_secret \
         FROM webhook_plaintext_secrets($1)",
    )
    .bind(limit)
    .fetch_all(autocommit(pool))
    .await
}

/// Replaces an endpoint's secrets by their sealed forms, unless they changed since they
/// were read (a rotation meanwhile wins; the next pass sees the new values). Whether it
/// was replaced.
pub async fn replace_secrets(
    tx: &mut TenantTx,
    found: &PlaintextSecret,
    secret: &str,
    previous_secret: Option<&str>,
) -> AppResult<bool> {
    let replaced = query(
        "UPDATE webhook_endpoints SET secret = $3, previous_secret = $4 \
         WHERE id = $1 AND secret = $2 AND previous_secret IS NOT DISTINCT FROM $5",
    )
    .bind(found.endpoint_id)
    .bind(&found.secret)
    .bind(secret)
    .bind(previous_secret)
    .bind(&found.previous_secret)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(replaced == 1)
}

/// A delivery a worker holds under a lease, with everything sending it needs. The
/// secrets are as stored (sealed); the worker opens them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claim {
    pub delivery_id: Uuid,
    pub claim_id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub endpoint_enabled: bool,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub event_id: Uuid,
    pub event_type: String,
    pub event_data: Value,
    pub event_created_at: DateTime<Utc>,
    pub step: i32,
    pub manual: bool,
    /// The W3C `traceparent` of the change that emitted the event, when it was traced.
    pub event_traceparent: Option<String>,
    /// What the event changed (`*.updated`, `lead.stage_changed`); `None` otherwise.
    pub event_changed_fields: Option<Vec<String>>,
    /// The prior values of `event_changed_fields`.
    pub event_previous: Option<Value>,
}

/// Claims up to `limit` due deliveries of any tenant for `lease`, leaving out endpoints
/// that already hold `per_endpoint` live leases; concurrent workers never claim the same
/// row (`FOR UPDATE SKIP LOCKED`).
pub async fn claim(
    pool: &PgPool,
    limit: usize,
    per_endpoint: usize,
    lease: std::time::Duration,
) -> Result<Vec<Claim>, sqlx::Error> {
    query_as(
        "SELECT * FROM webhook_claim_deliveries_changes($1, \
         make_interval(secs => $2::double precision), $3)",
    )
    .bind(i32::try_from(limit).unwrap_or(i32::MAX))
    .bind(lease.as_secs_f64())
    .bind(i32::try_from(per_endpoint).unwrap_or(i32::MAX))
    .fetch_all(autocommit(pool))
    .await
}

/// When the next pending delivery is due, if any.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    query_scalar("SELECT webhook_next_due()")
        .fetch_one(autocommit(pool))
        .await
}

/// The queue across tenants, by the database's clock: how many pending deliveries are
/// due now, and for how long the oldest of them has been due (zero when none is).
/// Through the worker's role (`webhook_due_stats`, migration 20261208100002).
pub async fn due_stats(pool: &PgPool) -> Result<(i64, Duration), sqlx::Error> {
    let (due, age): (i64, f64) = query_as(
        "SELECT due, coalesce(extract(epoch FROM now() - oldest_due_at), 0)::float8 \
           FROM webhook_due_stats()",
    )
    .fetch_one(autocommit(pool))
    .await?;
    Ok((
        due,
        Duration::try_from_secs_f64(age.max(0.0)).unwrap_or_default(),
    ))
}

/// What happened to one attempt, as recorded.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub manual: bool,
    pub status_code: Option<u16>,
    pub duration_ms: i32,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy)]
pub enum Next {
    Delivered,
    RetryAt { at: DateTime<Utc>, step: i32 },
    Failed,
}

/// Records an attempt (always: it happened) and moves the delivery on, but only while the
/// worker's lease still holds: a delivery requeued or reclaimed meanwhile is someone
/// else's now. Returns whether the delivery was moved on.
pub async fn record_attempt(
    tx: &mut TenantTx,
    claim: &Claim,
    attempt: &Attempt,
    next: Next,
) -> AppResult<bool> {
    let (status, next_at, step) = match next {
        Next::Delivered => ("delivered", None, None),
        Next::RetryAt { at, step } => ("pending", Some(at), Some(step)),
        Next::Failed => ("failed", None, None),
    };
    // One statement, one round trip: the attempt is written whether or not the claim is
    // still ours (it happened), the delivery moves on only under its own claim. Unless the
    // delivery is gone: its endpoint was deleted while it was in flight, taking its
    // deliveries and their attempts with it, and an attempt of nothing has nowhere to go
    // (inserting it would fail the foreign key and the whole record with it).
    let moved = query(
        "WITH attempt AS (INSERT INTO webhook_attempts (id, tenant_id, delivery_id, trigger, \
           status_code, duration_ms, response_body, error) \
           SELECT $8::uuid, $9::uuid, $1::uuid, $10::text, $6::integer, $11::integer, \
             $12::text, $7::text \
           WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)) \
         UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4, \
         step = coalesce($5, step), attempt_count = attempt_count + 1, claim_id = NULL, \
         manual = false, last_attempt_at = now(), last_status_code = $6, last_error = $7, \
         delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END, \
         updated_at = now() \
         WHERE id = $1 AND claim_id = $2",
    )
    .bind(claim.delivery_id)
    .bind(claim.claim_id)
    .bind(status)
    .bind(next_at)
    .bind(step)
    .bind(attempt.status_code.map(i32::from))
    .bind(&attempt.error)
    .bind(Uuid::now_v7())
    .bind(tx.tenant_id())
    .bind(if attempt.manual {
        "manual"
    } else {
        "scheduled"
    })
    .bind(attempt.duration_ms)
    .bind(&attempt.response_body)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// A claimed delivery that is not sent (its endpoint was disabled after it was queued).
pub async fn drop_claim(tx: &mut TenantTx, claim: &Claim, why: &str) -> AppResult<()> {
    query(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, \
         claim_id = NULL, last_error = $3, updated_at = now() WHERE id = $1 AND claim_id = $2",
    )
    .bind(claim.delivery_id)
    .bind(claim.claim_id)
    .bind(why)
    .execute(tx.conn())
    .await?;
    Ok(())
}
