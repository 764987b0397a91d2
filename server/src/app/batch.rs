//! Batch upserts of contacts and companies: up to 100 records in one request, each
//! matched by its natural key (a contact's email, compared as the unique index compares
//! it, `lower(email)`; a company's domain, normalised as a create normalises it).
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
//! An item is the resource's typed patch (`domain::contact::ContactPatch`,
//! `domain::company::CompanyPatch`) that never clears: what it sends replaces, what it
//! leaves out (or sends as `null` or blank) keeps. An item without a key is created: the
//! patch laid over nothing, which is exactly a create. An item whose key no record has is
//! created; if another transaction commits a record with that key meanwhile, the insert
//! hits the unique index, is rolled back to its savepoint, and the item updates that
//! record instead (once; a second collision is the item's `conflict`). An item whose key
//! a record has updates it: the patch laid over the record and checked by the create
//! rules; when that changes nothing the item is `unchanged`, and nothing is written.

use std::collections::HashMap;
use std::future::Future;

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::custom_fields;
use super::View;
use crate::auth::Principal;
use crate::db::companies::{self as companies_repo, CompanyRow};
use crate::db::contacts::{self as contacts_repo, ContactRow};
use crate::db::record::{self, Table};
use crate::db::TenantTx;
use crate::domain::company::{Company, CompanyInput, CompanyPatch};
use crate::domain::contact::{Contact, ContactInput, ContactPatch};
use crate::domain::custom_field::Definition;
use crate::domain::record::RecordType;
use crate::domain::FieldError;
use crate::error::{AppError, AppResult};
use crate::events::{self, EventType};
use crate::state::AppState;

/// The most items a batch takes.
pub const MAX_ITEMS: usize = 100;

/// What a batch needs to know of a resource.
pub trait Upsert {
    /// An item: the patch it lays over the record with its key, or over nothing.
    type Item: Clone + Send + Sync;
    /// A record that passed the create rules.
    type Record: PartialEq + Clone + Send + Sync;
    /// A stored record.
    type Row: Table + Clone + Send + Sync;
    /// The key's field, as items name it.
    const KEY: &'static str;
    const CREATED: EventType;
    const UPDATED: EventType;
    /// Whose custom field definitions the items' `custom_fields` are checked against.
    const RECORD_TYPE: RecordType;

    /// The record's custom field values, to check and normalise before the write.
    fn custom_fields(record: &Self::Record) -> &Value;
    /// The record with its custom field values replaced by those [`custom_fields`] checked
    /// against the tenant's definitions and normalised.
    fn with_custom_fields(record: Self::Record, checked: Value) -> Self::Record;

    /// Checks an item against the create rules.
    fn create(item: Self::Item) -> AppResult<Self::Record>;
    /// The record owned by `owner` when it names no owner (the default of a create).
    fn owned_by_default(record: Self::Record, owner: Option<Uuid>) -> Self::Record;
    /// Lays an item over a stored record; the result is held to the create rules.
    fn overlay(item: Self::Item, current: Self::Record) -> AppResult<Self::Record>;
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
    type Item = ContactPatch;
    type Record = Contact;
    type Row = ContactRow;
    const KEY: &'static str = "email";
    const CREATED: EventType = EventType::ContactCreated;
    const UPDATED: EventType = EventType::ContactUpdated;
    const RECORD_TYPE: RecordType = RecordType::Contact;

    fn custom_fields(record: &Contact) -> &Value {
        record.custom_fields()
    }

    fn with_custom_fields(record: Contact, checked: Value) -> Contact {
        record.with_custom_fields(checked)
    }

    /// Laid over an empty input: the patch alone meets the create rules.
    fn create(item: ContactPatch) -> AppResult<Contact> {
        item.apply_to_input(ContactInput::default())
            .map_err(AppError::Validation)
    }

    fn owned_by_default(record: Contact, owner: Option<Uuid>) -> Contact {
        record.owned_by_default(owner)
    }

    fn overlay(item: ContactPatch, current: Contact) -> AppResult<Contact> {
        item.apply_to(current).map_err(AppError::Validation)
    }

    fn key(record: &Contact) -> Option<String> {
        record.email().map(str::to_owned)
    }

    fn stored(row: &ContactRow) -> Contact {
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

    async fn insert(tx: &mut TenantTx, record: &Contact) -> AppResult<ContactRow> {
        contacts_repo::insert(tx, record).await
    }

    async fn update(tx: &mut TenantTx, id: Uuid, record: &Contact) -> AppResult<ContactRow> {
        contacts_repo::update(tx, id, record).await
    }
}

pub struct Companies;

impl Upsert for Companies {
    type Item = CompanyPatch;
    type Record = Company;
    type Row = CompanyRow;
    const KEY: &'static str = "domain";
    const CREATED: EventType = EventType::CompanyCreated;
    const UPDATED: EventType = EventType::CompanyUpdated;
    const RECORD_TYPE: RecordType = RecordType::Company;

    fn custom_fields(record: &Company) -> &Value {
        record.custom_fields()
    }

    fn with_custom_fields(record: Company, checked: Value) -> Company {
        record.with_custom_fields(checked)
    }

    /// Laid over an empty input (no name): the patch alone meets the create rules.
    fn create(item: CompanyPatch) -> AppResult<Company> {
        item.apply_to_input(CompanyInput::default())
            .map_err(AppError::Validation)
    }

    fn owned_by_default(record: Company, owner: Option<Uuid>) -> Company {
        record.owned_by_default(owner)
    }

    fn overlay(item: CompanyPatch, current: Company) -> AppResult<Company> {
        item.apply_to(current).map_err(AppError::Validation)
    }

    fn key(record: &Company) -> Option<String> {
        record.domain().map(str::to_owned)
    }

    fn stored(row: &CompanyRow) -> Company {
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

    async fn insert(tx: &mut TenantTx, record: &Company) -> AppResult<CompanyRow> {
        companies_repo::insert(tx, record).await
    }

    async fn update(tx: &mut TenantTx, id: Uuid, record: &Company) -> AppResult<CompanyRow> {
        companies_repo::update(tx, id, record).await
    }
}

/// What became of one item, the record in the caller's view `W`.
#[derive(Debug)]
pub enum Outcome<W> {
    Created(W),
    Updated(W),
    Unchanged(W),
    /// The item was refused (nothing of it was written): the error as the item's own.
    Failed(AppError),
    /// An earlier item, at index `earlier`, has the same key: a batch holds each key once.
    Repeated {
        earlier: usize,
    },
}

/// An item that passed the create rules, waiting for its write.
struct Pending<U: Upsert> {
    index: usize,
    item: U::Item,
    record: U::Record,
    /// As sent, then as the unique index compares it.
    key: Option<String>,
}

/// Applies a batch of `items` for `actor`'s tenant (see [`run`]).
pub async fn upsert<U: Upsert, V: View<U::Row>>(
    state: &AppState,
    actor: &Principal,
    items: Vec<AppResult<U::Item>>,
) -> AppResult<Vec<Outcome<V>>> {
    run::<U, V>(&state.pool, actor.tenant_id, actor.user_id, items).await
}

/// Applies a batch: one transaction, a savepoint per item (see the module's notes).
/// Returns one outcome per item, in order; an error only when the whole batch failed
/// (too few or too many items, or the database itself), in which case nothing was written.
/// An item the caller could not read at all comes as its error, and is that item's.
/// An item that creates a record without naming its `owner_id` gives it `default_owner`
/// (the acting user); one that updates keeps the stored owner unless it names another.
pub async fn run<U: Upsert, V: View<U::Row>>(
    pool: &PgPool,
    tenant_id: Uuid,
    default_owner: Option<Uuid>,
    items: Vec<AppResult<U::Item>>,
) -> AppResult<Vec<Outcome<V>>> {
    check_count(items.len())?;
    let mut tx = TenantTx::begin(pool, tenant_id).await?;
    let outcomes = run_in::<U, V>(&mut tx, default_owner, items).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Applies `items` as [`run`] does, inside the caller's transaction, which it neither
/// begins nor commits (an import applies a chunk of its file and moves its progress in
/// one transaction). Any number of items.
pub async fn run_in<U: Upsert, V: View<U::Row>>(
    tx: &mut TenantTx,
    default_owner: Option<Uuid>,
    items: Vec<AppResult<U::Item>>,
) -> AppResult<Vec<Outcome<V>>> {
    let mut outcomes: Vec<Option<Outcome<V>>> = items.iter().map(|_| None).collect();

    // The create rules, item by item, before the database is asked anything.
    let mut pending: Vec<Pending<U>> = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let parsed = item.and_then(|item| {
            let record = U::owned_by_default(U::create(item.clone())?, default_owner);
            Ok((item, record))
        });
        match parsed {
            Ok((item, record)) => pending.push(Pending {
                index,
                key: U::key(&record),
                item,
                record,
            }),
            Err(err) => outcomes[index] = Some(Outcome::Failed(err)),
        }
    }

    // Keys as the unique index compares them. A key an earlier item already has is the
    // later item's error: applying both would make the result depend on their order.
    let sent: Vec<String> = pending.iter().filter_map(|p| p.key.clone()).collect();
    let mut normalised = if sent.is_empty() {
        Vec::new()
    } else {
        U::keys(tx, sent).await?
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
                outcomes[p.index] = Some(Outcome::Repeated { earlier });
                continue;
            }
            first.insert(key.clone(), p.index);
            p.key = Some(key);
        }
        work.push(p);
    }

    // Read once for every item: the batch is checked against one set of definitions.
    let definitions = item_definitions::<U>(tx, !work.is_empty()).await?;
    let keys: Vec<String> = first.into_keys().collect();
    let mut existing: HashMap<String, U::Row> = if keys.is_empty() {
        HashMap::new()
    } else {
        U::lock(tx, &keys).await?.into_iter().collect()
    };

    for p in work {
        let current = p.key.as_ref().and_then(|key| existing.remove(key));
        let outcome = match upsert_one::<U, V>(tx, &definitions, &p, current).await? {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Failed(err),
        };
        outcomes[p.index] = Some(outcome);
    }
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.ok_or_else(|| AppError::Internal(anyhow::anyhow!("an item without outcome")))
        })
        .collect()
}

/// Applies `items` inside the caller's transaction as [`run_in`] does, matching each
/// by the record id it names instead of its natural key: an item naming an id updates
/// that record (`not_found` on `id` when the tenant has no live record with it), one
/// naming none creates a record. An id an earlier item already named is `Repeated`.
pub async fn run_by_id_in<U: Upsert, V: View<U::Row>>(
    tx: &mut TenantTx,
    default_owner: Option<Uuid>,
    items: Vec<(Option<Uuid>, AppResult<U::Item>)>,
) -> AppResult<Vec<Outcome<V>>> {
    let mut outcomes: Vec<Option<Outcome<V>>> = items.iter().map(|_| None).collect();
    let mut first: HashMap<Uuid, usize> = HashMap::new();
    let mut work: Vec<(Option<Uuid>, Pending<U>)> = Vec::new();
    for (index, (id, item)) in items.into_iter().enumerate() {
        if let Some(id) = id {
            if let Some(&earlier) = first.get(&id) {
                outcomes[index] = Some(Outcome::Repeated { earlier });
                continue;
            }
            first.insert(id, index);
        }
        let parsed = item.and_then(|item| {
            let record = U::owned_by_default(U::create(item.clone())?, default_owner);
            Ok((item, record))
        });
        match parsed {
            // The key stays unset: a unique-key collision is the item's conflict, never
            // a reason to update another record than the one named.
            Ok((item, record)) => work.push((
                id,
                Pending {
                    index,
                    key: None,
                    item,
                    record,
                },
            )),
            Err(err) => outcomes[index] = Some(Outcome::Failed(err)),
        }
    }
    let definitions = item_definitions::<U>(tx, !work.is_empty()).await?;
    let ids: Vec<Uuid> = work.iter().filter_map(|(id, _)| *id).collect();
    let mut existing: HashMap<Uuid, U::Row> = if ids.is_empty() {
        HashMap::new()
    } else {
        record::lock_many::<U::Row>(tx, &ids)
            .await?
            .into_iter()
            .map(|row| (U::id(&row), row))
            .collect()
    };
    for (id, p) in work {
        let current = match id {
            None => None,
            Some(id) => match existing.remove(&id) {
                Some(row) => Some(row),
                None => {
                    outcomes[p.index] = Some(Outcome::Failed(AppError::Validation(vec![
                        FieldError::new(
                            "id",
                            "not_found",
                            format!("the tenant has no {} with this id", U::Row::NOUN),
                        ),
                    ])));
                    continue;
                }
            },
        };
        let outcome = match upsert_one::<U, V>(tx, &definitions, &p, current).await? {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Failed(err),
        };
        outcomes[p.index] = Some(outcome);
    }
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.ok_or_else(|| AppError::Internal(anyhow::anyhow!("an item without outcome")))
        })
        .collect()
}

/// The custom field definitions the items are checked against, when any item will be.
async fn item_definitions<U: Upsert>(tx: &mut TenantTx, any: bool) -> AppResult<Vec<Definition>> {
    if any {
        custom_fields::definitions(tx, U::RECORD_TYPE).await
    } else {
        Ok(Vec::new())
    }
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
async fn upsert_one<U: Upsert, V: View<U::Row>>(
    tx: &mut TenantTx,
    definitions: &[Definition],
    p: &Pending<U>,
    mut current: Option<U::Row>,
) -> AppResult<AppResult<Outcome<V>>> {
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
            apply::<U, V>(tx, definitions, p, current.as_ref()).await
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
async fn apply<U: Upsert, V: View<U::Row>>(
    tx: &mut TenantTx,
    definitions: &[Definition],
    p: &Pending<U>,
    current: Option<&U::Row>,
) -> AppResult<Outcome<V>> {
    let Some(row) = current else {
        return write::<U, V>(tx, definitions, None, &p.record).await;
    };
    let stored = U::stored(row);
    let merged = U::overlay(p.item.clone(), stored.clone())?;
    if merged == stored {
        return Ok(Outcome::Unchanged(V::from(row.clone())));
    }
    write::<U, V>(tx, definitions, Some(row), &merged).await
}

/// Inserts (`current` is `None`) or updates the record, and records its event (with what
/// changed since `current`, for an update).
async fn write<U: Upsert, V: View<U::Row>>(
    tx: &mut TenantTx,
    definitions: &[Definition],
    current: Option<&U::Row>,
    record: &U::Record,
) -> AppResult<Outcome<V>> {
    let id = current.map(U::id);
    // Checked as a whole, like a create: the item's `custom_fields` replace the stored
    // ones (an item without them keeps the stored values, which are checked again).
    let checked = custom_fields::for_record_with(
        tx,
        definitions,
        U::RECORD_TYPE,
        id,
        U::custom_fields(record),
    )
    .await?;
    let record = &U::with_custom_fields(record.clone(), checked);
    match current {
        None => {
            let created = V::from(U::insert(tx, record).await?);
            events::emit(tx, U::CREATED, &created).await?;
            Ok(Outcome::Created(created))
        }
        Some(current) => {
            let before = V::from(current.clone());
            let updated = V::from(U::update(tx, U::id(current), record).await?);
            events::emit_update(tx, U::UPDATED, &before, &updated).await?;
            Ok(Outcome::Updated(updated))
        }
    }
}

/// Errors that belong to one item; any other (the database away, a bug) fails the batch.
pub(super) fn is_item_error(err: &AppError) -> bool {
    matches!(
        err,
        AppError::BadRequest { .. }
            | AppError::Validation(_)
            | AppError::Conflict { .. }
            | AppError::NotFound(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Patch;

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
    fn an_item_over_nothing_is_exactly_a_create() {
        let item = ContactPatch {
            first_name: Patch::Set(Some(" Ann ".into())),
            tags: Patch::Set(vec!["a".into(), "a".into()]),
            ..Default::default()
        };
        let created = Contacts::create(item).unwrap();
        assert_eq!(created.first_name(), Some("Ann"));
        assert_eq!(created.tags(), ["a"]);
        let err = Contacts::create(ContactPatch::default()).unwrap_err();
        assert_eq!(err.details().len(), 3, "a name or an email is required");
        let err = Companies::create(CompanyPatch::default()).unwrap_err();
        assert_eq!(err.details()[0].field, "name");
    }
}
