//! Webhook endpoints, their deliveries and attempts, as a tenant manages them. An
//! endpoint's URL must be an `http(s)` URL whose host does not lead into a private
//! network (the guard against server-side request forgery, checked whenever the endpoint
//! is saved, as the worker checks it again on every request); its signing secret is made
//! here, sealed for the tenant and the endpoint before it is stored, and handed back this
//! once. Every change to an endpoint is written to the audit log in its transaction. The
//! sending itself is the worker's (`crate::webhooks`).

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::page::{listed, Listed, PageRequest};
use super::version::IfMatch;
use super::View;
use crate::auth::Principal;
use crate::db::audit;
use crate::db::webhooks::{self as repo, AttemptSort, DeliverySort, EndpointFields, EndpointSort};
pub use crate::db::webhooks::{AttemptRow, DeliveryRow, EndpointRow};
use crate::db::TenantTx;
use crate::domain::fields;
use crate::domain::webhook::{self, DESCRIPTION_MAX};
pub use crate::domain::webhook::{EndpointInput, EndpointPatch, TestEvent};
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;
use crate::webhooks::{guard, secrets, signing};

/// An endpoint just made or given a new signing secret, with that secret: the one place
/// it is ever shown (the database holds it sealed, and nothing reads it back for the
/// API).
#[derive(Debug, Clone)]
pub struct WithSecret {
    pub endpoint: EndpointRow,
    pub secret: String,
}

/// Creates an endpoint from `input` with a new signing secret.
pub async fn create(
    state: &AppState,
    actor: &Principal,
    input: EndpointInput,
) -> Result<WithSecret, AppError> {
    let fields = check(input, state.webhooks.allow_private).await?;
    let id = Uuid::now_v7();
    let secret = signing::new_secret();
    let sealed = secrets::seal(&state.secret_key, actor.tenant_id, id, &secret);
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::insert_endpoint(&mut tx, id, &fields, &sealed).await?;
    audit(&mut tx, actor, "webhook_endpoint.created", &row).await?;
    tx.commit().await?;
    Ok(WithSecret {
        endpoint: row,
        secret,
    })
}

/// One page of the endpoints, oldest first.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    page: &PageRequest,
) -> Result<Listed<EndpointRow>, AppError> {
    let page = page.page(EndpointSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let (rows, has_more) = repo::list_endpoints(&mut tx, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// The endpoint `id`.
pub async fn get(state: &AppState, actor: &Principal, id: Uuid) -> Result<EndpointRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get_endpoint(&mut tx, id).await?;
    tx.end_read();
    Ok(row)
}

/// Lays `patch` over the endpoint `id` if its version passes `if_match`; the result is
/// checked as a new endpoint would be, its URL's destination included. Disabling fails
/// what is pending for it.
pub async fn update(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: EndpointPatch,
) -> Result<EndpointRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_endpoint_for_update(&mut tx, id).await?;
    if_match.check(&current)?;
    let input = patch.apply_to(stored(current));
    let fields = check(input, state.webhooks.allow_private).await?;
    let row = repo::update_endpoint(&mut tx, id, &fields).await?;
    audit(&mut tx, actor, "webhook_endpoint.updated", &row).await?;
    tx.commit().await?;
    Ok(row)
}

/// Deletes the endpoint `id` if its version passes `if_match`, with its deliveries and
/// attempts; the events stay.
pub async fn delete(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get_endpoint_for_update(&mut tx, id).await?;
    if_match.check(&row)?;
    repo::delete_endpoint(&mut tx, id).await?;
    audit(&mut tx, actor, "webhook_endpoint.deleted", &row).await?;
    tx.commit().await?;
    Ok(())
}

/// Gives the endpoint `id` a new signing secret; the old one keeps signing alongside it
/// for the overlap the server is configured with.
pub async fn rotate_secret(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<WithSecret, AppError> {
    let secret = signing::new_secret();
    let sealed = secrets::seal(&state.secret_key, actor.tenant_id, id, &secret);
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::rotate_secret(&mut tx, id, &sealed, state.webhooks.secret_overlap).await?;
    audit(&mut tx, actor, "webhook_endpoint.secret_rotated", &row).await?;
    tx.commit().await?;
    Ok(WithSecret {
        endpoint: row,
        secret,
    })
}

/// Queues a `webhook.test` event for the endpoint `id` only, whatever its event types and
/// even when it is disabled; its `data` is `V`'s rendering of the test. Returns the
/// delivery.
pub async fn send_test<V: View<TestEvent>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<DeliveryRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    repo::get_endpoint(&mut tx, id).await?;
    let data = V::from(TestEvent {
        endpoint_id: id,
        message: "This is a test event from Momentum.".into(),
    })
    .data();
    let delivery_id = repo::emit_test(&mut tx, id, data).await?;
    let row = repo::get_delivery(&mut tx, id, delivery_id).await?;
    tx.commit().await?;
    Ok(row)
}

/// Queues again every failed delivery of the enabled endpoint `id` created in
/// `[since, until)` (`until` defaults to now); returns how many.
pub async fn recover(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> Result<u64, AppError> {
    if until.is_some_and(|until| until <= since) {
        return Err(AppError::Validation(vec![FieldError::new(
            "until",
            "invalid",
            "must be after `since`",
        )]));
    }
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    require_enabled(&repo::get_endpoint(&mut tx, id).await?)?;
    let queued = repo::recover(&mut tx, id, since, until).await?;
    tx.commit().await?;
    Ok(queued)
}

/// One page of the deliveries of the endpoint `id`, of `status` only when given.
pub async fn deliveries(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Listed<DeliveryRow>, AppError> {
    let page = page.page(DeliverySort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    repo::get_endpoint(&mut tx, id).await?;
    let (rows, has_more) = repo::list_deliveries(&mut tx, id, status, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// The delivery `delivery_id` of the endpoint `id`.
pub async fn delivery(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    delivery_id: Uuid,
) -> Result<DeliveryRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let row = repo::get_delivery(&mut tx, id, delivery_id).await?;
    tx.end_read();
    Ok(row)
}

/// One page of the attempts of the delivery `delivery_id` of the endpoint `id`.
pub async fn attempts(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    delivery_id: Uuid,
    page: &PageRequest,
) -> Result<Listed<AttemptRow>, AppError> {
    let page = page.page(AttemptSort::CreatedAt)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    repo::get_delivery(&mut tx, id, delivery_id).await?;
    let (rows, has_more) = repo::list_attempts(&mut tx, delivery_id, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// Queues the delivery `delivery_id` of the enabled endpoint `id` again now, whatever
/// its status, with the retry schedule started over.
pub async fn retry(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    delivery_id: Uuid,
) -> Result<DeliveryRow, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    require_enabled(&repo::get_endpoint(&mut tx, id).await?)?;
    repo::requeue(&mut tx, id, delivery_id).await?;
    let row = repo::get_delivery(&mut tx, id, delivery_id).await?;
    tx.commit().await?;
    Ok(row)
}

/// Checks an endpoint as it is to be saved: every bad field at once, then where its URL
/// leads (asking DNS), then the event types, repeats dropped.
async fn check(input: EndpointInput, allow_private: bool) -> Result<EndpointFields, AppError> {
    // The description follows the rules of every other free text: unchecked, an
    // over-long one met the column's CHECK (a 500) and control characters were stored.
    let description =
        fields::optional_text("description", input.description, DESCRIPTION_MAX, true);
    let url = guard::parse_url(input.url.trim());
    let (url, description) = match (url, description) {
        (Ok(url), Ok(description)) => (url, description),
        (url, description) => {
            // One answer names every bad field.
            let mut errors = Vec::new();
            if let Err(why) = url {
                errors.push(FieldError::new(
                    "url",
                    "invalid_url",
                    format!("`url` {why}"),
                ));
            }
            errors.extend(description.err());
            return Err(AppError::Validation(errors));
        }
    };
    guard::check_destination(&url, allow_private)
        .await
        .map_err(|why| invalid_url(format!("`url` {why}")))?;
    let mut event_types: Vec<String> = Vec::new();
    for name in input.event_types {
        if !event_types.contains(&name) {
            event_types.push(name);
        }
    }
    let changed_field_filters =
        webhook::check_filters(input.filters, &event_types).map_err(AppError::Validation)?;
    Ok(EndpointFields {
        url: url.to_string(),
        description,
        event_types,
        enabled: input.enabled.unwrap_or(true),
        changed_field_filters,
    })
}

fn invalid_url(message: String) -> AppError {
    AppError::Validation(vec![FieldError::new("url", "invalid_url", message)])
}

/// A stored endpoint as the fields a patch is laid over.
fn stored(row: EndpointRow) -> EndpointInput {
    EndpointInput {
        url: row.url,
        description: row.description,
        event_types: row.event_types,
        enabled: Some(row.enabled),
        filters: webhook::filter_list(&row.changed_field_filters),
    }
}

async fn audit(
    tx: &mut TenantTx,
    actor: &Principal,
    action: &str,
    row: &EndpointRow,
) -> Result<(), AppError> {
    let data = json!({
        "url": row.url,
        "enabled": row.enabled,
        "event_types": row.event_types,
        "filters": row.changed_field_filters.0,
    });
    audit::record(tx, actor, action, ("webhook_endpoint", row.id), data).await?;
    Ok(())
}

/// Retrying into a disabled endpoint would only fail again: enable it first.
fn require_enabled(row: &EndpointRow) -> Result<(), AppError> {
    if row.enabled {
        return Ok(());
    }
    Err(AppError::Conflict {
        message: "the endpoint is disabled; enable it (PATCH `enabled: true`) first".into(),
        details: vec![FieldError::new(
            "enabled",
            "disabled",
            "the endpoint is disabled",
        )],
    })
}
