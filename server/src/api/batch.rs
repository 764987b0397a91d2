//! `POST /v1/contacts/batch` and `POST /v1/companies/batch`: create or update up to 100
//! records in one request, each matched by its natural key (a contact's email, a
//! company's domain). The batch itself — one transaction, a savepoint per item, keys
//! locked in order — is `app::batch`. Here: the items, read one by one so a malformed
//! item is that item's error, each turned into the typed patch it lays over the record
//! with its key; and the results, one per item, whose errors name fields by their path
//! in the request (`items[3].email`).

use std::borrow::Cow;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Enum, Object, OpenApi};
use serde_json::Value;

use super::companies::{Company, CompanyCreate};
use super::contacts::{Contact, ContactCreate};
use super::edge::RequestId;
use super::responses::{ApiResult, Create, ErrorBody, ErrorDetail, Success};
use super::security::ApiKey;
use super::ApiTags;
pub use crate::app::batch::MAX_ITEMS;
use crate::app::batch::{self, Companies, Contacts, Outcome, Upsert};
use crate::auth::Scope;
use crate::domain::company::CompanyPatch;
use crate::domain::contact::ContactPatch;
use crate::domain::{FieldError, Patch};
use crate::error::AppError;
use crate::state::AppState;

/// The `items` of a batch: documented as an array of 1 to [`MAX_ITEMS`] create bodies,
/// parsed item by item, so a malformed item (a wrong JSON type, an unknown field) is that
/// item's error rather than the whole request's. The count is checked by `app::batch`,
/// so too many items is a 422 naming `items`.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, Object, serde::Serialize)]
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
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ContactBatchResult {
    /// The item's position in `items`, from 0.
    pub index: u32,
    pub status: BatchStatus,
    /// The contact as `contacts_get` returns it after the batch; absent on `error`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Contact>,
    /// Why the item was refused; present only on `error`. Its `details` name fields by
    /// their path in the request, e.g. `items[3].email`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// One result per item, in the order of `items`.
#[derive(Debug, Clone, Object, serde::Serialize)]
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
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct CompanyBatchResult {
    /// The item's position in `items`, from 0.
    pub index: u32,
    pub status: BatchStatus,
    /// The company as `companies_get` returns it after the batch; absent on `error`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Company>,
    /// Why the item was refused; present only on `error`. Its `details` name fields by
    /// their path in the request, e.g. `items[3].domain`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// One result per item, in the order of `items`.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct CompanyBatchResponse {
    pub data: Vec<CompanyBatchResult>,
    pub meta: BatchMeta,
}

/// A contact item as the patch it lays over the contact with its email (or over nothing,
/// to create one): a field it sends replaces the stored one; one it leaves out, sends as
/// `null` or as a blank string keeps it (a blank string counts as absent, as in a
/// create); an empty list or object replaces too.
pub(crate) fn contact_item(item: ContactCreate) -> ContactPatch {
    ContactPatch {
        first_name: text(item.first_name.map(|t| t.0)),
        last_name: text(item.last_name.map(|t| t.0)),
        email: text(item.email.map(|e| e.0)),
        phone: text(item.phone.map(|t| t.0)),
        title: text(item.title.map(|t| t.0)),
        notes: text(item.notes.map(|t| t.0)),
        tags: sent(item.tags.map(|t| t.0)),
        custom_fields: sent(item.custom_fields.map(|m| m.into_iter().collect())),
        company_id: sent(item.company_id.map(Some)),
        owner_id: sent(item.owner_id.map(Some)),
    }
}

/// A company item as the patch it lays over the company with its domain, as
/// [`contact_item`].
pub(crate) fn company_item(item: CompanyCreate) -> CompanyPatch {
    CompanyPatch {
        name: Some(item.name.0).filter(|name| !name.trim().is_empty()),
        domain: text(item.domain.map(|t| t.0)),
        website: text(item.website.map(|t| t.0)),
        industry: text(item.industry.map(|t| t.0)),
        employee_count: sent(item.employee_count.map(|n| Some(n.0))),
        phone: text(item.phone.map(|t| t.0)),
        address_line1: text(item.address_line1.map(|t| t.0)),
        address_line2: text(item.address_line2.map(|t| t.0)),
        city: text(item.city.map(|t| t.0)),
        region: text(item.region.map(|t| t.0)),
        postal_code: text(item.postal_code.map(|t| t.0)),
        country: text(item.country.map(|t| t.0)),
        tags: sent(item.tags.map(|t| t.0)),
        custom_fields: sent(item.custom_fields.map(|m| m.into_iter().collect())),
        owner_id: sent(item.owner_id.map(Some)),
    }
}

/// Set when sent; kept when left out or `null`.
fn sent<T>(value: Option<T>) -> Patch<T> {
    value.map_or(Patch::Keep, Patch::Set)
}

/// As [`sent`], a blank string kept too.
fn text(value: Option<String>) -> Patch<Option<String>> {
    sent(value.filter(|s| !s.trim().is_empty()).map(Some))
}

/// The items as the batch takes them: each read item turned into its patch by `patch`,
/// each unreadable one into its error.
fn items<T, P>(items: Vec<Result<T, String>>, patch: fn(T) -> P) -> Vec<Result<P, AppError>> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| item.map(patch).map_err(|reason| malformed(index, reason)))
        .collect()
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
fn results<U: Upsert, W, R>(
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
        .map(|(position, outcome)| {
            let index = u32::try_from(position).unwrap_or(u32::MAX);
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
                Outcome::Failed(err) => {
                    meta.failed += 1;
                    let error = failure(position, &err);
                    make(index, BatchStatus::Error, None, Some(error))
                }
                Outcome::Repeated { earlier } => {
                    meta.failed += 1;
                    let error = duplicate::<U>(position, earlier);
                    make(index, BatchStatus::Error, None, Some(error))
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
    /// replace the stored ones whole; an `owner_id`, when sent, reassigns the contact (a
    /// created contact without one belongs to the user the API key acts for). If that
    /// changes nothing the item is `unchanged`: nothing is written, `updated_at` stays,
    /// no event is recorded.
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
        let items = items(body.0.items.0, contact_item);
        let outcomes = batch::upsert::<Contacts, Contact>(&state, &auth.0, items).await?;
        let (data, meta) =
            results::<Contacts, _, _>(outcomes, &request_id, |index, status, data, error| {
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
    /// normalises it (`https://WWW.Acme.com/x`, `www.acme.com` and `acme.com` are the same
    /// key). Each item is exactly a `companies_create` body. An item without a domain, or whose
    /// domain no company has, creates a company (`created`). An item whose domain a
    /// company has updates that company: the item's fields replace the stored ones, and
    /// fields the item leaves out, sends as `null` or as a blank string are kept (to clear
    /// a field, use `companies_update`); `tags` and `custom_fields`, when sent, replace
    /// the stored ones whole; an `owner_id`, when sent, reassigns the company (a created
    /// company without one belongs to the user the API key acts for). If that changes
    /// nothing the item is `unchanged`: nothing is written, `updated_at` stays, no event
    /// is recorded.
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
        let items = items(body.0.items.0, company_item);
        let outcomes = batch::upsert::<Companies, Company>(&state, &auth.0, items).await?;
        let (data, meta) =
            results::<Companies, _, _>(outcomes, &request_id, |index, status, data, error| {
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
    use crate::app::contacts::ContactRow;
    use crate::domain::contact::Contact as Stored;

    /// The contact as the API would return it once stored.
    fn wire(contact: Stored) -> Value {
        let row = ContactRow {
            id: uuid::Uuid::nil(),
            first_name: contact.first_name().map(str::to_owned),
            last_name: contact.last_name().map(str::to_owned),
            email: contact.email().map(str::to_owned),
            phone: contact.phone().map(str::to_owned),
            title: contact.title().map(str::to_owned),
            notes: contact.notes().map(str::to_owned),
            tags: contact.tags().to_vec(),
            custom_fields: contact.custom_fields().clone(),
            company_id: contact.company_id(),
            owner_id: contact.owner_id(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            deleted_at: None,
        };
        Contact::from(row).to_json().unwrap()
    }

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
        let current = Contacts::create(contact_item(current)).unwrap();
        let merged = wire(Contacts::overlay(contact_item(item), current).unwrap());
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
