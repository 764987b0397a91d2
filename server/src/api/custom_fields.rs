//! `/v1/custom-fields`: typed custom field definitions (read with `custom_fields:read`,
//! changed with `admin`). Their rules are
//! `app::custom_field_definitions`; the values records carry are checked by
//! `app::custom_fields`.

use crate::api::types::NotNull;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::IfMatch;
use super::pagination;
use super::responses::{
    envelopes, ApiResult, Conditional, Create, Created, Delete, List, NoContent, Read, Success,
    Tagged, Update,
};
use super::security::ApiKey;
use super::types::{PathId, Text, TextList};

type Options = TextList<{ domain::OPTIONS_MAX }, { domain::OPTION_MAX }>;
use super::ApiTags;
use crate::app::custom_field_definitions::{
    self as definitions, DefinitionInput, DefinitionPatch, DefinitionRow, FieldType,
};
use crate::app::page::PageRequest;
use crate::auth::Scope;
use crate::domain::custom_field as domain;
use crate::domain::record::RecordType;
use crate::state::AppState;

/// The type of a custom field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum CustomFieldType {
    /// A string of up to 2,000 characters (trimmed; newlines allowed).
    Text,
    /// A JSON number (finite).
    Number,
    /// A decimal as a string, like a lead's `value` but signed: `"-12.50"`, at most 4
    /// decimals, below 10^15 in magnitude; stored without trailing zeros.
    Decimal,
    /// `true` or `false`.
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339, stored in UTC (`2026-01-01T08:00:00Z`).
    Datetime,
    /// An absolute `http` or `https` URL (normalised like a company's `website`).
    Url,
    /// An email address (checked like a contact's `email`).
    Email,
    /// One of the field's `options`.
    Select,
    /// An array of distinct `options`.
    MultiSelect,
}

impl From<CustomFieldType> for FieldType {
    fn from(t: CustomFieldType) -> Self {
        match t {
            CustomFieldType::Text => Self::Text,
            CustomFieldType::Number => Self::Number,
            CustomFieldType::Decimal => Self::Decimal,
            CustomFieldType::Boolean => Self::Boolean,
            CustomFieldType::Date => Self::Date,
            CustomFieldType::Datetime => Self::Datetime,
            CustomFieldType::Url => Self::Url,
            CustomFieldType::Email => Self::Email,
            CustomFieldType::Select => Self::Select,
            CustomFieldType::MultiSelect => Self::MultiSelect,
        }
    }
}

impl From<FieldType> for CustomFieldType {
    fn from(t: FieldType) -> Self {
        match t {
            FieldType::Text => Self::Text,
            FieldType::Number => Self::Number,
            FieldType::Decimal => Self::Decimal,
            FieldType::Boolean => Self::Boolean,
            FieldType::Date => Self::Date,
            FieldType::Datetime => Self::Datetime,
            FieldType::Url => Self::Url,
            FieldType::Email => Self::Email,
            FieldType::Select => Self::Select,
            FieldType::MultiSelect => Self::MultiSelect,
        }
    }
}

/// A custom field: records of `record_type` may carry a value for `key` in their
/// `custom_fields`, of type `type`.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct CustomField {
    pub id: Uuid,
    pub record_type: RecordType,
    /// The key in the records' `custom_fields`.
    pub key: String,
    pub label: String,
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub field_type: CustomFieldType,
    /// The choices of a `select` or `multi_select` field (empty for other types).
    pub options: Vec<String>,
    /// Records of this type must have a value (checked on create, and on a patch that
    /// changes `custom_fields`).
    pub required: bool,
    /// No two live records of this type share a value (trashed records do not count).
    pub unique: bool,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
}

impl From<DefinitionRow> for CustomField {
    fn from(row: DefinitionRow) -> Self {
        let def = row.to_domain();
        Self {
            id: row.id,
            // The column's CHECK admits only the four types.
            record_type: RecordType::parse(&row.record_type).unwrap_or(RecordType::Contact),
            key: row.key,
            label: row.label,
            field_type: def.field_type.into(),
            options: row.options,
            required: row.required,
            unique: row.unique,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl super::etag::Versioned for CustomField {
    fn version(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

impl super::etag::Versioned for CustomFieldEnvelope {
    fn version(&self) -> DateTime<Utc> {
        self.data.updated_at
    }
}

/// A new custom field. Unknown fields are refused.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CustomFieldCreate {
    pub record_type: RecordType,
    /// `^[a-z][a-z0-9_]{0,62}$`, unique per record type (else 409).
    pub key: Text<63>,
    /// 1 to 200 characters.
    pub label: Text<{ domain::LABEL_MAX }>,
    #[oai(rename = "type")]
    pub field_type: CustomFieldType,
    /// For `select` and `multi_select` (required there, refused elsewhere): 1 to 100
    /// distinct options of 1 to 100 characters.
    pub options: Option<Options>,
    /// Default `false`.
    pub required: Option<bool>,
    /// Default `false`; not for `multi_select`.
    pub unique: Option<bool>,
}

/// Changes to a custom field: a field left out is kept. `record_type` and `key` cannot
/// change. Changing `type` is refused (409 `has_values`) while any record holds a value;
/// removing an option some record holds is refused (409 `option_in_use`); turning
/// `unique` on while two live records share a value is refused (409 `not_unique`).
/// Turning `required` on applies to later writes; records without a value keep none.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CustomFieldPatch {
    pub label: NotNull<Text<{ domain::LABEL_MAX }>>,
    #[oai(rename = "type")]
    pub field_type: NotNull<CustomFieldType>,
    pub options: NotNull<Options>,
    pub required: NotNull<bool>,
    pub unique: NotNull<bool>,
}

impl From<CustomFieldCreate> for DefinitionInput {
    fn from(body: CustomFieldCreate) -> Self {
        Self {
            record_type: body.record_type,
            key: body.key.0,
            label: body.label.0,
            field_type: body.field_type.into(),
            options: body.options.map(|o| o.0),
            required: body.required,
            unique: body.unique,
        }
    }
}

impl From<CustomFieldPatch> for DefinitionPatch {
    fn from(body: CustomFieldPatch) -> Self {
        Self {
            label: body.label.0.map(|l| l.0),
            field_type: body.field_type.0.map(Into::into),
            options: body.options.0.map(|o| o.0),
            required: body.required.0,
            unique: body.unique.0,
        }
    }
}

envelopes!(
    CustomField,
    CustomFieldEnvelope,
    CustomFieldList,
    "One custom field in the envelope.",
    "A page of custom fields in the envelope."
);

fn envelope(data: CustomField, request_id: &RequestId) -> CustomFieldEnvelope {
    CustomFieldEnvelope {
        data,
        meta: super::responses::Meta::of(request_id),
    }
}

pub struct CustomFieldsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::CustomFields")]
impl CustomFieldsApi {
    /// Define a custom field
    ///
    /// Returns the new definition with `201` and its address in `Location`. From then on
    /// records of `record_type` may carry a value under `key` in `custom_fields`, checked
    /// against `type`. A key already defined for the record type is a `409`.
    #[oai(
        path = "/custom-fields",
        method = "post",
        operation_id = "custom_fields_create"
    )]
    async fn create(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<CustomFieldCreate>,
    ) -> ApiResult<Tagged<Created<CustomFieldEnvelope>>, Create> {
        let created: CustomField = definitions::create(&state, &auth.0, body.0.into()).await?;
        Ok(Tagged(Created {
            location: format!("/v1/custom-fields/{}", created.id),
            body: envelope(created, &request_id),
        }))
    }

    /// Get a custom field
    ///
    /// A definition of another tenant is reported exactly like one that does not exist.
    #[oai(
        path = "/custom-fields/:id",
        method = "get",
        operation_id = "custom_fields_get"
    )]
    async fn get(
        &self,
        #[oai(scope = "Scope::CustomFieldsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The custom field's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<CustomFieldEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = super::etag::IfNoneMatch::parse(if_none_match.0)?;
        let row = definitions::get(&state, &auth.0, id).await?;
        Ok(Conditional::new(
            envelope(row.into(), &request_id),
            &if_none_match,
        ))
    }

    /// Update a custom field
    ///
    /// Fields left out are kept. Refused with `409` while records stand in the way:
    /// `has_values` (changing `type` while any record holds a value), `option_in_use`
    /// (removing an option a record holds), `not_unique` (turning `unique` on while two
    /// live records share a value; the details name one of them).
    #[oai(
        path = "/custom-fields/:id",
        method = "patch",
        operation_id = "custom_fields_update"
    )]
    async fn update(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The custom field's id.
        id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<CustomFieldPatch>,
    ) -> ApiResult<Tagged<Success<CustomFieldEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let updated = definitions::update(&state, &auth.0, id, &if_match, body.0.into()).await?;
        Ok(Tagged(Success(envelope(updated, &request_id))))
    }

    /// Delete a custom field
    ///
    /// Deletes the definition and, in the same transaction, its values: the key is
    /// removed from the `custom_fields` of every record of its type (trashed ones too).
    /// One `custom_field.deleted` event is emitted; the records that lost a value emit no
    /// `*.updated` event, though their `updated_at` (and `ETag`) moves.
    #[oai(
        path = "/custom-fields/:id",
        method = "delete",
        operation_id = "custom_fields_delete"
    )]
    async fn delete(
        &self,
        #[oai(scope = "Scope::Admin")] auth: ApiKey,
        state: Data<&AppState>,
        /// The custom field's id.
        id: Path<PathId>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, Delete> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        definitions::delete::<CustomField>(&state, &auth.0, id, &if_match).await?;
        Ok(NoContent)
    }

    /// List custom fields
    ///
    /// Keyset-paginated in creation order: follow `meta.next_cursor` until it is `null`.
    #[oai(
        path = "/custom-fields",
        method = "get",
        operation_id = "custom_fields_list"
    )]
    async fn list(
        &self,
        #[oai(scope = "Scope::CustomFieldsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Only the fields of this record type.
        record_type: Query<Option<RecordType>>,
    ) -> ApiResult<Success<CustomFieldList>, List> {
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = definitions::list(&state, &auth.0, record_type.0, &page).await?;
        Ok(Success(CustomFieldList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.map(CustomField::from).items,
        }))
    }
}
