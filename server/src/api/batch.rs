//! `POST /v1/contacts/batch` and `POST /v1/companies/batch`: create or update up to 100
//! records in one request, each matched by its natural key (a contact's email, compared
//! as the unique index compares it, `lower(email)`; a company's domain, normalised as a
//! create normalises it).
//!
//! **One transaction for the whole batch, a savepoint per item.** Every item is checked
//! against the create rules first, without the database; then the batch's keys are looked
//! up and the records that have them locked `FOR UPDATE` in one statement (in key order,
//! so concurrent batches cannot deadlock on them). Each item's write and its event run
//! inside a `SAVEPOINT`: an item the database refuses (an unknown `company_id`, a key
//! taken meanwhile) is rolled back alone and reported in its result, while the batch
//! commits atomically: a client never sees half of a batch applied, and the events of its
//! items are recorded in the same commit. Per-item transactions would commit items one by
//! one (a failure half-way leaves the first half in place) and cost a commit each.
//!
//! An item without a key is created. An item whose key no record has is created; if
//! another transaction commits a record with that key meanwhile, the insert hits the
//! unique index, is rolled back to its savepoint, and the item updates that record
//! instead (once; a second collision is the item's `conflict`). An item whose key a record
//! has updates it: the item's fields laid over the record ([`super::merge::overlay`]);
//! when that changes nothing the item is `unchanged`, and nothing is written.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Enum, Object, OpenApi};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::companies::{Company, CompanyCreate};
use super::contacts::{Contact, ContactCreate};
use super::edge::RequestId;
use super::events::{self, EventType};
use super::merge::overlay;
use super::responses::{ApiResult, Create, ErrorBody, ErrorDetail, Success};
use super::security::ApiKey;
use super::ApiTags;
use crate::app::custom_fields;
use crate::auth::Scope;
use crate::db::companies::{self as companies_repo, CompanyRow};
use crate::db::contacts::{self as contacts_repo, ContactRow};
use crate::db::TenantTx;
use crate::domain::record::RecordType;
use crate::domain::{self, FieldError};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The most items a batch takes.
pub const MAX_ITEMS: usize = 100;

/// The `items` of a batch: documented as an array of 1 to [`MAX_ITEMS`] create bodies,
/// parsed item by item, so a malformed item (a wrong JSON type, an unknown field) is that
/// item's error rather than the whole request's. The count is checked by the handler, so
/// too many items is a 422 naming `items`.
#[derive(Debug, Clone)]
pub struct Items<T>(pub Vec<Result<T, String>>);

impl<T: Type> Type for Items<T> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("[{}](min_items=1,max_items={MAX_ITEMS})", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            items: Some(Box::new(T::schema_ref())),
            min_items: Some(1),
            max_items: Some(MAX_ITEMS),
            ..MetaSchema::new("array")
        }))
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Items<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Array(items)) => Ok(Self(
                items
                    .into_iter()
                    .map(|item| T::parse_from_json(Some(item)).map_err(|e| e.into_message()))
                    .collect(),
            )),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl<T: ToJSON> ToJSON for Items<T> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Array(
            self.0
                .iter()
                .filter_map(|item| item.as_ref().ok().and_then(ToJSON::to_json))
                .collect(),
        ))
    }
}

/// What became of one item of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BatchStatus {
    /// No record had the item's key (or it had none): a record was created from it.
    Created,
    /// A record had the key, and the item's fields changed it.
    Updated,
    /// A record had the key, and already held every value the item sent: nothing was
    /// written, `updated_at` did not move, no event was recorded.
    Unchanged,
    /// The item was refused (see its `error`); nothing of it was written.
    Error,
}

/// `meta` of a batch's response: the request id, and how many items ended how.
#[derive(Debug, Clone, Object)]
pub struct BatchMeta {
    /// The id of this request, also in the `X-Request-Id` header.
    pub request_id: String,
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    /// Items whose `status` is `error`.
    pub failed: u32,
}

/// Contacts to create or update, matched by email.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ContactBatch {
    /// 1 to 100 contacts, each exactly like a `contacts_create` body.
    pub items: Items<ContactCreate>,
}

/// What became of one item of a contact batch.
#[derive(Debug, Clone, Object)]
pub struct ContactBatchResult {
    /// The item's position in `items`, from 0.
    pub index: u32,
    pub status: BatchStatus,
    /// The contact as `contacts_get` returns it after the batch; absent on `error`.
    #[oai(skip_serializing_if_is_none)]
    pub data: Option<Contact>,
    /// Why the item was refused; present only on `error`. Its `details` name fields by
    /// their path in the request, e.g. `items[3].email`.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<ErrorBody>,
}

/// One result per item, in the order of `items`.
#[derive(Debug, Clone, Object)]
pub struct ContactBatchResponse {
    pub data: Vec<ContactBatchResult>,
    pub meta: BatchMeta,
}

/// Companies to create or update, matched by domain.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CompanyBatch {
    /// 1 to 100 companies, each exactly like a `companies_create` body.
    pub items: Items<CompanyCreate>,
}

/// What became of one item of a company batch.
#[derive(Debug, Clone, Object)]
pub struct CompanyBatchResult {
    /// The item's position in `items`, from 0.
    pub index: u32,
    pub status: BatchStatus,
    /// The company as `companies_get` returns it after the batch; absent on `error`.
    #[oai(skip_serializing_if_is_none)]
    pub data: Option<Company>,
    /// Why the item was refused; present only on `error`. Its `details` name fields by
    /// their path in the request, e.g. `items[3].domain`.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<ErrorBody>,
}

/// One result per item, in the order of `items`.
#[derive(Debug, Clone, Object)]
pub struct CompanyBatchResponse {
    pub data: Vec<CompanyBatchResult>,
    pub meta: BatchMeta,
}

/// What a batch needs to know of a resource.
pub trait Upsert {
    /// The create body, which is also an item.
    type Item: ParseFromJSON + ToJSON + Clone + Send + Sync;
    /// A record that passed the create rules.
    type Record: PartialEq + Clone + Send + Sync;
    /// A stored record.
    type Row: Clone + Send + Sync;
    /// The record as the API returns it.
    type Wire: ToJSON + From<Self::Row> + Send + Sync;
    /// The key's field, as items name it.
    const KEY: &'static str;
    const CREATED: EventType;
    const UPDATED: EventType;
    /// Whose custom field definitions the items' `custom_fields` are checked against.
    const RECORD_TYPE: RecordType;

    /// The record's custom field values, to check and normalise before the write.
    fn custom_fields(record: &mut Self::Record) -> &mut Value;

    /// Checks an item against the create rules.
    fn parse(item: Self::Item) -> AppResult<Self::Record>;
    /// The record's key as sent (normalised by the rules), if it has one.
    fn key(record: &Self::Record) -> Option<String>;
    /// The stored record as the rules' type, to compare with a change.
    fn stored(row: &Self::Row) -> Self::Record;
    fn id(row: &Self::Row) -> Uuid;
    /// The keys as the unique index compares them, in order.
    fn keys(
        tx: &mut TenantTx,
        keys: Vec<String>,
    ) -> impl Future<Output = AppResult<Vec<String>>> + Send;
    /// The records having any of `keys` (as [`Upsert::keys`] returns them), locked, each
    /// with its key.
    fn lock(
        tx: &mut TenantTx,
        keys: &[String],
    ) -> impl Future<Output = AppResult<Vec<(String, Self::Row)>>> + Send;
    fn insert(
        tx: &mut TenantTx,
        record: &Self::Record,
    ) -> impl Future<Output = AppResult<Self::Row>> + Send;
    fn update(
        tx: &mut TenantTx,
        id: Uuid,
        record: &Self::Record,
    ) -> impl Future<Output = AppResult<Self::Row>> + Send;
}

pub struct Contacts;

impl Upsert for Contacts {
    type Item = ContactCreate;
    type Record = domain::contact::Contact;
    type Row = ContactRow;
    type Wire = Contact;
    const KEY: &'static str = "email";
    const CREATED: EventType = EventType::ContactCreated;
    const UPDATED: EventType = EventType::ContactUpdated;
    const RECORD_TYPE: RecordType = RecordType::Contact;

    fn custom_fields(record: &mut Self::Record) -> &mut Value {
        &mut record.custom_fields
    }

    fn parse(item: ContactCreate) -> AppResult<Self::Record> {
        item.parse()
    }

    fn key(record: &Self::Record) -> Option<String> {
        record.email.clone()
    }

    fn stored(row: &ContactRow) -> Self::Record {
        row.to_domain()
    }

    fn id(row: &ContactRow) -> Uuid {
        row.id
    }

    async fn keys(tx: &mut TenantTx, keys: Vec<String>) -> AppResult<Vec<String>> {
        contacts_repo::email_keys(tx, &keys).await
    }

    async fn lock(tx: &mut TenantTx, keys: &[String]) -> AppResult<Vec<(String, ContactRow)>> {
        let rows = contacts_repo::lock_by_email_keys(tx, keys).await?;
        Ok(rows
            .into_iter()
            .map(|keyed| (keyed.key, keyed.row))
            .collect())
    }

    async fn insert(tx: &mut TenantTx, record: &Self::Record) -> AppResult<ContactRow> {
        contacts_repo::insert(tx, record).await
    }

    async fn update(tx: &mut TenantTx, id: Uuid, record: &Self::Record) -> AppResult<ContactRow> {
        contacts_repo::update(tx, id, record).await
    }
}

pub struct Companies;

impl Upsert for Companies {
    type Item = CompanyCreate;
    type Record = domain::company::Company;
    type Row = CompanyRow;
    type Wire = Company;
    const KEY: &'static str = "domain";
    const CREATED: EventType = EventType::CompanyCreated;
    const UPDATED: EventType = EventType::CompanyUpdated;
    const RECORD_TYPE: RecordType = RecordType::Company;

    fn custom_fields(record: &mut Self::Record) -> &mut Value {
        &mut record.custom_fields
    }

    fn parse(item: CompanyCreate) -> AppResult<Self::Record> {
        item.parse()
    }

    fn key(record: &Self::Record) -> Option<String> {
        record.domain.clone()
    }

    fn stored(row: &CompanyRow) -> Self::Record {
        row.to_domain()
    }

    fn id(row: &CompanyRow) -> Uuid {
        row.id
    }

    /// A parsed domain is already what the unique index compares.
    async fn keys(_: &mut TenantTx, keys: Vec<String>) -> AppResult<Vec<String>> {
        Ok(keys)
    }

    async fn lock(tx: &mut TenantTx, keys: &[String]) -> AppResult<Vec<(String, CompanyRow)>> {
        let rows = companies_repo::lock_by_domains(tx, keys).await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.domain.clone().unwrap_or_default(), row))
            .collect())
    }

    async fn insert(tx: &mut TenantTx, record: &Self::Record) -> AppResult<CompanyRow> {
        companies_repo::insert(tx, record).await
    }

    async fn update(tx: &mut TenantTx, id: Uuid, record: &Self::Record) -> AppResult<CompanyRow> {
        companies_repo::update(tx, id, record).await
    }
}

/// What became of one item.
#[derive(Debug)]
pub enum Outcome<W> {
    Created(W),
    Updated(W),
    Unchanged(W),
    Failed(ErrorBody),
}

/// An item that passed the create rules, waiting for its write.
struct Pending<U: Upsert> {
    index: usize,
    item: U::Item,
    record: U::Record,
    /// As sent, then as the unique index compares it.
    key: Option<String>,
}

/// Applies a batch: one transaction, a savepoint per item (see the module's notes).
/// Returns one outcome per item, in order; an error only when the whole batch failed
/// (too few or too many items, or the database itself), in which case nothing was written.
pub async fn run<U: Upsert>(
    pool: &PgPool,
    tenant_id: Uuid,
    items: Vec<Result<U::Item, String>>,
) -> AppResult<Vec<Outcome<U::Wire>>> {
    check_count(items.len())?;
    let mut outcomes: Vec<Option<Outcome<U::Wire>>> = items.iter().map(|_| None).collect();

    // The create rules, item by item, before the database is asked anything.
    let mut pending: Vec<Pending<U>> = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let parsed = item
            .map_err(|reason| malformed(index, reason))
            .and_then(|item| {
                let record = U::parse(item.clone())?;
                Ok((item, record))
            });
        match parsed {
            Ok((item, record)) => pending.push(Pending {
                index,
                key: U::key(&record),
                item,
                record,
            }),
            Err(err) => outcomes[index] = Some(Outcome::Failed(failure(index, &err))),
        }
    }

    let mut tx = TenantTx::begin(pool, tenant_id).await?;

    // Keys as the unique index compares them. A key an earlier item already has is the
    // later item's error: applying both would make the result depend on their order.
    let sent: Vec<String> = pending.iter().filter_map(|p| p.key.clone()).collect();
    let mut normalised = if sent.is_empty() {
        Vec::new()
    } else {
        U::keys(&mut tx, sent).await?
    }
    .into_iter();
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut work: Vec<Pending<U>> = Vec::new();
    for mut p in pending {
        if p.key.is_some() {
            let key = normalised.next().ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("fewer normalised keys than keys"))
            })?;
            if let Some(&earlier) = first.get(&key) {
                outcomes[p.index] = Some(Outcome::Failed(duplicate::<U>(p.index, earlier)));
                continue;
            }
            first.insert(key.clone(), p.index);
            p.key = Some(key);
        }
        work.push(p);
    }

    let keys: Vec<String> = first.into_keys().collect();
    let mut existing: HashMap<String, U::Row> = if keys.is_empty() {
        HashMap::new()
    } else {
        U::lock(&mut tx, &keys).await?.into_iter().collect()
    };

    for p in work {
        let current = p.key.as_ref().and_then(|key| existing.remove(key));
        let outcome = match upsert_one(&mut tx, &p, current).await? {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Failed(failure(p.index, &err)),
        };
        outcomes[p.index] = Some(outcome);
    }
    tx.commit().await?;

    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.ok_or_else(|| AppError::Internal(anyhow::anyhow!("an item without outcome")))
        })
        .collect()
}

fn check_count(count: usize) -> AppResult<()> {
    let problem = if count == 0 {
        Some(FieldError::new(
            "items",
            "required",
            format!("must hold 1 to {MAX_ITEMS} items (got none)"),
        ))
    } else if count > MAX_ITEMS {
        Some(FieldError::new(
            "items",
            "too_many",
            format!("must hold at most {MAX_ITEMS} items (got {count})"),
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(AppError::Validation(vec![problem])),
        None => Ok(()),
    }
}

/// Applies one item inside its own savepoint. `current` is the locked record with the
/// item's key, if any. The outer error fails the batch; the inner one is the item's own,
/// returned only once the savepoint has undone everything the item did, so the
/// transaction is never left aborted behind a reported item error.
async fn upsert_one<U: Upsert>(
    tx: &mut TenantTx,
    p: &Pending<U>,
    mut current: Option<U::Row>,
) -> AppResult<AppResult<Outcome<U::Wire>>> {
    let mut relook = false;
    loop {
        tx.savepoint().await?;
        let attempt = async {
            if relook {
                if let Some(key) = &p.key {
                    current = U::lock(tx, std::slice::from_ref(key))
                        .await?
                        .into_iter()
                        .next()
                        .map(|(_, row)| row);
                }
            }
            apply(tx, p, current.as_ref()).await
        }
        .await;
        match attempt {
            Ok(outcome) => {
                tx.release_savepoint().await?;
                return Ok(Ok(outcome));
            }
            Err(err) if !is_item_error(&err) => return Err(err),
            Err(err) => {
                tx.rollback_to_savepoint().await?;
                // Another transaction committed a record with this key after the batch
                // looked: the insert met it in the unique index. Look again (once), and
                // update that record instead.
                let collided = matches!(err, AppError::Conflict { .. })
                    && current.is_none()
                    && p.key.is_some()
                    && !relook;
                if collided {
                    relook = true;
                    continue;
                }
                return Ok(Err(err));
            }
        }
    }
}

/// Creates the item's record, or lays the item over `current`: updated if that changes
/// anything, else unchanged (nothing written).
async fn apply<U: Upsert>(
    tx: &mut TenantTx,
    p: &Pending<U>,
    current: Option<&U::Row>,
) -> AppResult<Outcome<U::Wire>> {
    let Some(row) = current else {
        return write::<U>(tx, None, &p.record).await;
    };
    let merged = U::parse(overlay(&U::Wire::from(row.clone()), &p.item)?)?;
    if merged == U::stored(row) {
        return Ok(Outcome::Unchanged(U::Wire::from(row.clone())));
    }
    write::<U>(tx, Some(U::id(row)), &merged).await
}

/// Inserts (`id` is `None`) or updates the record, and records its event.
async fn write<U: Upsert>(
    tx: &mut TenantTx,
    id: Option<Uuid>,
    record: &U::Record,
) -> AppResult<Outcome<U::Wire>> {
    // Checked as a whole, like a create: the item's `custom_fields` replace the stored
    // ones (an item without them keeps the stored values, which are checked again).
    let mut record = record.clone();
    let values = U::custom_fields(&mut record);
    *values = custom_fields::for_record(tx, U::RECORD_TYPE, id, values).await?;
    let record = &record;
    match id {
        None => {
            let created = U::Wire::from(U::insert(tx, record).await?);
            events::emit(tx, U::CREATED, &created).await?;
            Ok(Outcome::Created(created))
        }
        Some(id) => {
            let updated = U::Wire::from(U::update(tx, id, record).await?);
            events::emit(tx, U::UPDATED, &updated).await?;
            Ok(Outcome::Updated(updated))
        }
    }
}

/// Errors that belong to one item; any other (the database away, a bug) fails the batch.
fn is_item_error(err: &AppError) -> bool {
    matches!(
        err,
        AppError::BadRequest { .. }
            | AppError::Validation(_)
            | AppError::Conflict { .. }
            | AppError::NotFound(_)
    )
}

/// An item that is not a create body at all (a wrong JSON type, an unknown field).
fn malformed(index: usize, reason: String) -> AppError {
    AppError::BadRequest {
        message: format!("the item is not a valid create body: {reason}"),
        details: vec![FieldError::new(
            format!("items[{index}]"),
            "invalid",
            reason,
        )],
    }
}

fn duplicate<U: Upsert>(index: usize, earlier: usize) -> ErrorBody {
    let key = U::KEY;
    ErrorBody {
        code: crate::error::ErrorCode::Conflict.as_str().to_owned(),
        message: format!("items[{earlier}] has the same {key}; a batch holds each {key} once"),
        details: vec![ErrorDetail {
            field: format!("items[{index}].{key}"),
            code: "duplicate_in_batch".to_owned(),
            message: format!("is also the {key} of items[{earlier}]"),
        }],
    }
}

/// An item's error, its fields named by their path in the request (`items[3].email`).
fn failure(index: usize, err: &AppError) -> ErrorBody {
    let message = match err {
        AppError::Validation(_) => "the item has invalid fields".to_owned(),
        // A deadlock or serialisation failure PostgreSQL resolved by aborting the item.
        AppError::Conflict { details, .. } if details.is_empty() => {
            "the item collided with a concurrent change and was not applied; send it again"
                .to_owned()
        }
        other => other.to_string(),
    };
    let prefix = format!("items[{index}]");
    ErrorBody {
        code: err.code().as_str().to_owned(),
        message,
        details: err
            .details()
            .iter()
            .map(|d| ErrorDetail {
                field: if d.field.starts_with(&prefix) {
                    d.field.clone()
                } else {
                    format!("{prefix}.{}", d.field)
                },
                code: d.code.to_owned(),
                message: d.message.clone(),
            })
            .collect(),
    }
}

/// The results in the wire's shape (`make` builds one from its index, status, record and
/// error), and the counts of `meta`.
fn results<W, R>(
    outcomes: Vec<Outcome<W>>,
    request_id: &RequestId,
    make: impl Fn(u32, BatchStatus, Option<W>, Option<ErrorBody>) -> R,
) -> (Vec<R>, BatchMeta) {
    let mut meta = BatchMeta {
        request_id: request_id.0.clone(),
        created: 0,
        updated: 0,
        unchanged: 0,
        failed: 0,
    };
    let results = outcomes
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            match outcome {
                Outcome::Created(w) => {
                    meta.created += 1;
                    make(index, BatchStatus::Created, Some(w), None)
                }
                Outcome::Updated(w) => {
                    meta.updated += 1;
                    make(index, BatchStatus::Updated, Some(w), None)
                }
                Outcome::Unchanged(w) => {
                    meta.unchanged += 1;
                    make(index, BatchStatus::Unchanged, Some(w), None)
                }
                Outcome::Failed(e) => {
                    meta.failed += 1;
                    make(index, BatchStatus::Error, None, Some(e))
                }
            }
        })
        .collect();
    (results, meta)
}

pub struct BatchApi;

#[OpenApi(prefix_path = "/v1")]
impl BatchApi {
    /// Create or update contacts in a batch
    ///
    /// Upserts 1 to 100 contacts by email, compared ignoring case as the uniqueness rule
    /// compares it. Each item is exactly a `contacts_create` body. An item without an
    /// email, or whose email no contact has, creates a contact (`created`). An item whose
    /// email a contact has updates that contact: the item's fields replace the stored
    /// ones, and fields the item leaves out, sends as `null` or as a blank string are kept
    /// (to clear a field, use `contacts_update`); `tags` and `custom_fields`, when sent,
    /// replace the stored ones whole. If that changes nothing the item is `unchanged`:
    /// nothing is written, `updated_at` stays, no event is recorded.
    ///
    /// The answer is `200` with one result per item, in the order of `items`, whatever
    /// became of each: `created`, `updated` or `unchanged` with the contact as
    /// `contacts_get` returns it, or `error` with an error like the API's own (`code`,
    /// `message`, `details` whose fields are paths into the request, e.g.
    /// `items[3].email`). An item is refused when it breaks the create rules
    /// (`validation_failed`), names a company the tenant does not have (`validation_failed`
    /// on `items[i].company_id`), is not a create body at all (`bad_request`), or repeats
    /// the email of an earlier item (`conflict`, detail `duplicate_in_batch`: each contact
    /// appears once per batch). A batch of no or more than 100 items is a `422` naming
    /// `items`; a body that is not `{"items": [...]}` a `400`.
    ///
    /// **Atomicity**: the whole batch is one transaction with a savepoint per item. A
    /// refused item is rolled back alone and the others are applied; the batch commits as
    /// a whole, so no other request ever sees part of it, and a `5xx` means nothing was
    /// applied. Contacts the batch updates are locked (in email order) until it commits,
    /// so concurrent writes to them wait rather than interleave. If another request
    /// creates a contact with an item's email while the batch runs, the item updates that
    /// contact. `contact.created` and `contact.updated` events are recorded, in the
    /// batch's transaction and in item order, for the items `created` or `updated` only.
    #[oai(
        path = "/contacts/batch",
        method = "post",
        operation_id = "contacts_batch_upsert",
        tag = "ApiTags::Contacts"
    )]
    async fn contacts(
        &self,
        #[oai(scope = "Scope::ContactsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<ContactBatch>,
    ) -> ApiResult<Success<ContactBatchResponse>, Create> {
        let outcomes = run::<Contacts>(&state.pool, auth.0.tenant_id, body.0.items.0).await?;
        let (data, meta) = results(outcomes, &request_id, |index, status, data, error| {
            ContactBatchResult {
                index,
                status,
                data,
                error,
            }
        });
        Ok(Success(ContactBatchResponse { data, meta }))
    }

    /// Create or update companies in a batch
    ///
    /// Upserts 1 to 100 companies by domain, normalised exactly as `companies_create`
    /// normalises it (`https://WWW.Acme.com/x` and `www.acme.com` are the same key). Each
    /// item is exactly a `companies_create` body. An item without a domain, or whose
    /// domain no company has, creates a company (`created`). An item whose domain a
    /// company has updates that company: the item's fields replace the stored ones, and
    /// fields the item leaves out, sends as `null` or as a blank string are kept (to clear
    /// a field, use `companies_update`); `tags` and `custom_fields`, when sent, replace
    /// the stored ones whole. If that changes nothing the item is `unchanged`: nothing is
    /// written, `updated_at` stays, no event is recorded.
    ///
    /// The answer is `200` with one result per item, in the order of `items`: `created`,
    /// `updated` or `unchanged` with the company as `companies_get` returns it, or `error`
    /// with an error like the API's own (`details` whose fields are paths into the
    /// request, e.g. `items[3].domain`). An item is refused when it breaks the create
    /// rules (`validation_failed`), is not a create body at all (`bad_request`), or
    /// repeats the domain of an earlier item (`conflict`, detail `duplicate_in_batch`). A
    /// batch of no or more than 100 items is a `422` naming `items`.
    ///
    /// **Atomicity**: the whole batch is one transaction with a savepoint per item: a
    /// refused item is rolled back alone, the batch commits as a whole (a `5xx` means
    /// nothing was applied). Companies the batch updates are locked (in domain order)
    /// until it commits. If another request creates a company with an item's domain while
    /// the batch runs, the item updates that company. `company.created` and
    /// `company.updated` events are recorded, in the batch's transaction and in item
    /// order, for the items `created` or `updated` only.
    #[oai(
        path = "/companies/batch",
        method = "post",
        operation_id = "companies_batch_upsert",
        tag = "ApiTags::Companies"
    )]
    async fn companies(
        &self,
        #[oai(scope = "Scope::CompaniesWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<CompanyBatch>,
    ) -> ApiResult<Success<CompanyBatchResponse>, Create> {
        let outcomes = run::<Companies>(&state.pool, auth.0.tenant_id, body.0.items.0).await?;
        let (data, meta) = results(outcomes, &request_id, |index, status, data, error| {
            CompanyBatchResult {
                index,
                status,
                data,
                error,
            }
        });
        Ok(Success(CompanyBatchResponse { data, meta }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_s_errors_name_its_fields_by_their_path_in_the_request() {
        let err = AppError::Validation(vec![
            FieldError::new("email", "invalid_email", "no"),
            FieldError::new("tags[2]", "too_long", "no"),
        ]);
        let body = failure(7, &err);
        assert_eq!(body.code, "validation_failed");
        let fields: Vec<_> = body.details.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["items[7].email", "items[7].tags[2]"]);
        let malformed = failure(3, &malformed(3, "expected a string".into()));
        assert_eq!(malformed.code, "bad_request");
        assert_eq!(malformed.details[0].field, "items[3]");
    }

    #[test]
    fn a_batch_holds_one_to_a_hundred_items() {
        assert!(check_count(1).is_ok() && check_count(MAX_ITEMS).is_ok());
        for count in [0, MAX_ITEMS + 1] {
            let err = check_count(count).unwrap_err();
            assert_eq!(err.code(), crate::error::ErrorCode::ValidationFailed);
            assert_eq!(err.details()[0].field, "items");
        }
    }

    #[test]
    fn a_repeated_key_is_the_later_item_s_conflict() {
        let body = duplicate::<Contacts>(5, 2);
        assert_eq!(body.code, "conflict");
        assert_eq!(body.details[0].field, "items[5].email");
        assert_eq!(body.details[0].code, "duplicate_in_batch");
    }

    #[test]
    fn an_item_is_laid_over_the_record_keeping_what_it_leaves_out_or_blank() {
        let json = |v: Value| ContactCreate::parse_from_json(Some(v)).unwrap();
        let current = json(serde_json::json!({
            "first_name": "Ann", "title": "CTO", "tags": ["a"], "email": "ann@example.com"
        }));
        let item = json(serde_json::json!({
            "email": "ANN@example.com", "first_name": "  ", "title": null, "tags": [],
            "last_name": "Lee"
        }));
        let merged = overlay(&current, &item).unwrap().to_json().unwrap();
        assert_eq!(merged["first_name"], "Ann", "blank: kept");
        assert_eq!(merged["title"], "CTO", "null: kept");
        assert_eq!(merged["last_name"], "Lee", "sent: set");
        assert_eq!(merged["email"], "ANN@example.com", "sent: replaced");
        assert_eq!(
            merged["tags"],
            serde_json::json!([]),
            "an empty list replaces"
        );
    }

    #[test]
    fn items_parse_one_by_one() {
        let items = Items::<ContactCreate>::parse_from_json(Some(serde_json::json!([
            {"email": "a@example.com"},
            {"first_name": 5},
            {"nope": true}
        ])))
        .unwrap();
        assert!(items.0[0].is_ok());
        assert!(items.0[1].is_err() && items.0[2].is_err());
        assert!(Items::<ContactCreate>::parse_from_json(Some(serde_json::json!({}))).is_err());
    }
}
