//! The rules custom field values are held to on every record write and list: values
//! checked against the tenant's definitions of the record type, `required` and `unique`
//! enforced (a taken unique value is a `409` naming its holder), and `custom_field` list
//! filters parsed against the definitions.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::db::custom_fields as repo;
use crate::db::TenantTx;
use crate::domain::custom_field as domain;
use crate::domain::record::RecordType;
use crate::domain::{FieldError, Patch};
use crate::error::AppError;

/// Validates the values a new record of `record_type` carries and checks their `unique`
/// rules; returns them normalised.
pub async fn for_create(
    tx: &mut TenantTx,
    record_type: RecordType,
    values: &Value,
) -> Result<Value, AppError> {
    for_record(tx, record_type, None, values).await
}

/// Validates every value a record of `record_type` is written with (all of them, and
/// `required`), and checks `unique` against the other live records (`record_id` is the
/// record itself when it exists); returns the values normalised.
pub async fn for_record(
    tx: &mut TenantTx,
    record_type: RecordType,
    record_id: Option<Uuid>,
    values: &Value,
) -> Result<Value, AppError> {
    let definitions = repo::for_type(tx, record_type.as_str()).await?;
    for_record_with(tx, &definitions, record_type, record_id, values).await
}

/// [`for_record`] against `definitions` the caller has read already in this
/// transaction: a batch (or a chunk of an import) reads them once for all its items.
pub async fn for_record_with(
    tx: &mut TenantTx,
    definitions: &[domain::Definition],
    record_type: RecordType,
    record_id: Option<Uuid>,
    values: &Value,
) -> Result<Value, AppError> {
    let map = match values {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let values = domain::validate(definitions, map, None).map_err(AppError::Validation)?;
    check_unique(tx, record_type, record_id, definitions, &values).await?;
    Ok(values)
}

/// The definitions of `record_type`, for [`for_record_with`].
pub async fn definitions(
    tx: &mut TenantTx,
    record_type: RecordType,
) -> Result<Vec<domain::Definition>, AppError> {
    repo::for_type(tx, record_type.as_str()).await
}

/// Applies a merge patch of `custom_fields` (keys merged, `null` removes a key,
/// `custom_fields: null` removes all) to `current`, validates the keys it sets and the
/// `required` rule, and checks `unique`. `None` when the patch leaves them alone.
pub async fn for_patch(
    tx: &mut TenantTx,
    record_type: RecordType,
    record_id: Uuid,
    current: &Value,
    patch: Patch<Map<String, Value>>,
) -> Result<Option<Map<String, Value>>, AppError> {
    let mut merged = match current {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let sent: Vec<String> = match patch {
        Patch::Keep => return Ok(None),
        Patch::Clear => {
            merged.clear();
            Vec::new()
        }
        Patch::Set(patch) => {
            let sent = patch.keys().cloned().collect();
            domain::merge_patch(&mut merged, patch);
            sent
        }
    };
    let definitions = repo::for_type(tx, record_type.as_str()).await?;
    let values =
        domain::validate(&definitions, merged, Some(&sent)).map_err(AppError::Validation)?;
    check_unique(tx, record_type, Some(record_id), &definitions, &values).await?;
    match values {
        Value::Object(map) => Ok(Some(map)),
        _ => Ok(Some(Map::new())),
    }
}

/// The 409 naming a live record other than `record_id` that holds one of `values`'
/// unique values. Also run before a record comes back from the trash: its unique values
/// were free for other records while it was there, and the index alone would refuse a
/// taken one without naming the holder.
pub async fn check_restorable(
    tx: &mut TenantTx,
    record_type: RecordType,
    record_id: Uuid,
    values: &Value,
) -> Result<(), AppError> {
    unique_free(tx, record_type, Some(record_id), values).await
}

async fn unique_free(
    tx: &mut TenantTx,
    record_type: RecordType,
    record_id: Option<Uuid>,
    values: &Value,
) -> Result<(), AppError> {
    match repo::unique_holder(tx, record_type.as_str(), record_id, values).await? {
        Some(holder) => Err(repo::value_taken(Some(holder))),
        None => Ok(()),
    }
}

/// As [`unique_free`], skipping the query when no definition of the type is unique.
async fn check_unique(
    tx: &mut TenantTx,
    record_type: RecordType,
    record_id: Option<Uuid>,
    definitions: &[domain::Definition],
    values: &Value,
) -> Result<(), AppError> {
    if !definitions.iter().any(|d| d.unique) {
        return Ok(());
    }
    unique_free(tx, record_type, record_id, values).await
}

/// Parses the `custom_field` filters of a list of `record_type`, naming the parameter in
/// any refusal: a 400 for a malformed filter, a 422 for one that does not fit the
/// tenant's definitions.
pub async fn filters(
    tx: &mut TenantTx,
    record_type: RecordType,
    raw: &[String],
) -> Result<Vec<domain::Filter>, AppError> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    if raw.len() > domain::MAX_FILTERS {
        return Err(AppError::Validation(vec![FieldError::new(
            "custom_field",
            "too_many",
            format!("at most {} filters may be combined", domain::MAX_FILTERS),
        )]));
    }
    let definitions = repo::for_type(tx, record_type.as_str()).await?;
    let mut filters = Vec::with_capacity(raw.len());
    for raw in raw {
        match domain::filter(&definitions, "custom_field", raw) {
            Ok(filter) => filters.push(filter),
            Err(domain::FilterError::Malformed(err)) => {
                return Err(AppError::BadRequest {
                    message: format!("invalid custom_field filter: {}", err.message),
                    details: vec![err],
                })
            }
            Err(domain::FilterError::Unfit(err)) => return Err(AppError::Validation(vec![err])),
        }
    }
    Ok(filters)
}
