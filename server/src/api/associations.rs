//! `/v1/association-labels`, `/v1/associations` and `/v1/{type}/{id}/associations`:
//! directed many-to-many links between any two records (contacts, companies, leads,
//! activities), each with an optional tenant-defined label.

use crate::api::types::NotNull;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::etag::{IfMatch, IfNoneMatch, Versioned};
use super::pagination;
use super::responses::{
    envelopes, ApiResult, Conditional, Create, Created, Delete, FilteredList, GuardedDelete, List,
    Meta, NoContent, Read, Success, Tagged, Update,
};
use super::security::ApiKey;
use super::types::{patch, text, PathId, Text};
use super::ApiTags;
use crate::app::associations::{
    self as associations, AssociationFilter, AssociationRow, LabelInput, LabelPatch, LabelRow,
    NewAssociation,
};
use crate::app::page::{Listed, PageRequest};
use crate::auth::Scope;
use crate::domain::association as domain;
use crate::domain::record::RecordType;
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;

const NAME_MAX: usize = domain::LABEL_NAME_MAX;
const DESCRIPTION_MAX: usize = domain::LABEL_DESCRIPTION_MAX;

/// A tenant-defined label for associations, e.g. "Parent company" or "Decision maker".
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct AssociationLabel {
    pub id: Uuid,
    /// Unique within the tenant, ignoring case.
    pub name: String,
    #[oai(nullable)]
    pub description: Option<String>,
    /// With `to_type`: the label only joins a record of this type (`from`) to one of
    /// `to_type`. Both absent: any two records. (Absent rather than `null`: the document
    /// cannot say "an enum or null" in a form every linter and generator accepts.)
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_type: Option<RecordType>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_type: Option<RecordType>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
}

impl From<LabelRow> for AssociationLabel {
    fn from(row: LabelRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            description: row.description,
            from_type: row.from_type.as_deref().and_then(RecordType::parse),
            to_type: row.to_type.as_deref().and_then(RecordType::parse),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A new association label. Unknown fields are refused.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct AssociationLabelCreate {
    /// 1-100 characters, unique within the tenant ignoring case (else 409 naming the
    /// label that has it).
    pub name: Text<NAME_MAX>,
    pub description: Option<Text<DESCRIPTION_MAX>>,
    /// Restricts the label to associations from this type to `to_type` (give both or
    /// neither).
    pub from_type: NotNull<RecordType>,
    pub to_type: NotNull<RecordType>,
}

/// Changes to a label, as a JSON Merge Patch. Restricting the types of a label in use
/// is refused (409) while associations of other types carry it.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct AssociationLabelPatch {
    pub name: NotNull<Text<NAME_MAX>>,
    #[oai(nullable)]
    pub description: MaybeUndefined<Text<DESCRIPTION_MAX>>,
    /// Restricts the label to this pair (with `to_type`).
    pub from_type: NotNull<RecordType>,
    pub to_type: NotNull<RecordType>,
    /// `true` lifts the restriction: the label then joins any two records (not with
    /// `from_type` or `to_type`). A flag rather than `null` on the types, which the
    /// document could only declare as a nullable reference.
    pub unrestricted: NotNull<bool>,
}

envelopes!(
    AssociationLabel,
    AssociationLabelEnvelope,
    AssociationLabelList,
    "One association label in the envelope.",
    "A page of association labels in the envelope."
);

impl Versioned for AssociationLabel {
    fn version(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

impl Versioned for AssociationLabelEnvelope {
    fn version(&self) -> DateTime<Utc> {
        self.data.updated_at
    }
}

impl From<AssociationLabelCreate> for LabelInput {
    fn from(body: AssociationLabelCreate) -> Self {
        Self {
            name: Some(body.name.0),
            description: text(body.description),
            from_type: body.from_type.0.map(RecordType::as_str),
            to_type: body.to_type.0.map(RecordType::as_str),
        }
    }
}

impl From<AssociationLabelPatch> for LabelPatch {
    fn from(body: AssociationLabelPatch) -> Self {
        Self {
            name: text(body.name.0),
            description: patch(body.description, |d| Some(d.0)),
            from_type: body.from_type.0.map(RecordType::as_str),
            to_type: body.to_type.0.map(RecordType::as_str),
            unrestricted: body.unrestricted.0 == Some(true),
        }
    }
}

/// A directed link between two records: `from` -> `to` (for parent and subsidiary
/// companies, the parent is `from`).
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Association {
    pub id: Uuid,
    pub from_type: RecordType,
    pub from_id: Uuid,
    pub to_type: RecordType,
    pub to_id: Uuid,
    /// The label, if any.
    #[oai(nullable)]
    pub label_id: Option<Uuid>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
}

fn record_type(name: &str) -> RecordType {
    // The table's CHECK holds it to the four names.
    RecordType::parse(name).unwrap_or(RecordType::Contact)
}

impl From<AssociationRow> for Association {
    fn from(row: AssociationRow) -> Self {
        Self {
            id: row.id,
            from_type: record_type(&row.from_type),
            from_id: row.from_id,
            to_type: record_type(&row.to_type),
            to_id: row.to_id,
            label_id: row.label_id,
            created_at: row.created_at,
        }
    }
}

/// A new association. Both records must exist in the tenant (else 422 naming the id),
/// and must not be the same record.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct AssociationCreate {
    pub from_type: RecordType,
    pub from_id: Uuid,
    pub to_type: RecordType,
    pub to_id: Uuid,
    /// An association label of the tenant that fits these types (else 422).
    pub label_id: Option<Uuid>,
}

envelopes!(
    Association,
    AssociationEnvelope,
    AssociationList,
    "One association in the envelope.",
    "A page of associations in the envelope."
);

/// An association never changes: its version is its creation.
impl Versioned for Association {
    fn version(&self) -> DateTime<Utc> {
        self.created_at
    }
}

impl Versioned for AssociationEnvelope {
    fn version(&self) -> DateTime<Utc> {
        self.data.created_at
    }
}

/// Which end of an association the record whose associations are listed is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The record is the association's `from` end (e.g. the parent company).
    Outgoing,
    /// The record is the association's `to` end.
    Incoming,
}

/// An association seen from one of its records: the other record, and which way the
/// link points.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct RecordAssociation {
    /// The association's id.
    pub id: Uuid,
    pub direction: Direction,
    /// The record at the other end.
    pub other_type: RecordType,
    pub other_id: Uuid,
    #[oai(nullable)]
    pub label_id: Option<Uuid>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// A page of a record's associations in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct RecordAssociationList {
    pub data: Vec<RecordAssociation>,
    pub meta: super::responses::ListMeta,
}

fn label_envelope(row: LabelRow, request_id: &RequestId) -> AssociationLabelEnvelope {
    AssociationLabelEnvelope {
        data: row.into(),
        meta: Meta::of(request_id),
    }
}

/// A page of a record's associations, each seen from the record `id` of type `record`.
fn record_list(
    record: RecordType,
    id: Uuid,
    list: Listed<AssociationRow>,
    request_id: &RequestId,
) -> RecordAssociationList {
    let meta = pagination::list_meta(&list, request_id);
    let data = list
        .map(|row| {
            let outgoing = row.from_type == record.as_str() && row.from_id == id;
            let (other_type, other_id, direction) = if outgoing {
                (&row.to_type, row.to_id, Direction::Outgoing)
            } else {
                (&row.from_type, row.from_id, Direction::Incoming)
            };
            RecordAssociation {
                id: row.id,
                direction,
                other_type: record_type(other_type),
                other_id,
                label_id: row.label_id,
                created_at: row.created_at,
            }
        })
        .items;
    RecordAssociationList { data, meta }
}

/// The associations of one record, after checking that the record is there (404 if
/// not).
#[allow(clippy::too_many_arguments)]
async fn record_associations(
    state: &AppState,
    auth: &ApiKey,
    record: RecordType,
    id: &PathId,
    other_type: Option<RecordType>,
    label_id: Option<Uuid>,
    limit: Option<u32>,
    cursor: Option<String>,
    request_id: &RequestId,
) -> Result<RecordAssociationList, AppError> {
    let id = id.parse("id")?;
    let page = PageRequest {
        limit,
        cursor,
        sort: None,
    };
    let list =
        associations::of_record(state, &auth.0, record, id, other_type, label_id, &page).await?;
    Ok(record_list(record, id, list, request_id))
}

pub struct AssociationsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Associations")]
impl AssociationsApi {
    /// Create an association label
    ///
    /// A name unique within the tenant (ignoring case; else `409` naming the label that
    /// has it), an optional description, and optionally the pair of record types the
    /// label joins (`from_type` and `to_type`, both or neither).
    #[oai(
        path = "/association-labels",
        method = "post",
        operation_id = "association_labels_create"
    )]
    async fn labels_create(
        &self,
        #[oai(scope = "Scope::AssociationsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<AssociationLabelCreate>,
    ) -> ApiResult<Tagged<Created<AssociationLabelEnvelope>>, Create> {
        let row = associations::create_label(&state, &auth.0, body.0.into()).await?;
        Ok(Tagged(Created {
            location: format!("/v1/association-labels/{}", row.id),
            body: label_envelope(row, &request_id),
        }))
    }

    /// Get an association label
    #[oai(
        path = "/association-labels/:id",
        method = "get",
        operation_id = "association_labels_get"
    )]
    async fn labels_get(
        &self,
        #[oai(scope = "Scope::AssociationsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The label's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<AssociationLabelEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = associations::get_label(&state, &auth.0, id).await?;
        Ok(Conditional::new(
            label_envelope(row, &request_id),
            &if_none_match,
        ))
    }

    /// Update an association label
    ///
    /// JSON Merge Patch. Restricting the types of a label that associations of other
    /// types carry is a `409` naming how many.
    #[oai(
        path = "/association-labels/:id",
        method = "patch",
        operation_id = "association_labels_update"
    )]
    async fn labels_update(
        &self,
        #[oai(scope = "Scope::AssociationsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The label's id.
        id: Path<PathId>,
        /// Change only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<AssociationLabelPatch>,
    ) -> ApiResult<Tagged<Success<AssociationLabelEnvelope>>, Update> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        let row = associations::update_label(&state, &auth.0, id, &if_match, body.0.into()).await?;
        Ok(Tagged(Success(label_envelope(row, &request_id))))
    }

    /// Delete an association label
    ///
    /// Refused with `409` (naming how many) while associations carry the label: delete
    /// them first, so no association loses its meaning silently.
    #[oai(
        path = "/association-labels/:id",
        method = "delete",
        operation_id = "association_labels_delete"
    )]
    async fn labels_delete(
        &self,
        #[oai(scope = "Scope::AssociationsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        /// The label's id.
        id: Path<PathId>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, GuardedDelete> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        associations::delete_label(&state, &auth.0, id, &if_match).await?;
        Ok(NoContent)
    }

    /// List association labels
    ///
    /// In creation order, keyset-paginated.
    #[oai(
        path = "/association-labels",
        method = "get",
        operation_id = "association_labels_list"
    )]
    async fn labels_list(
        &self,
        #[oai(scope = "Scope::AssociationsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Only labels changed strictly after this instant (RFC 3339).
        updated_after: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Success<AssociationLabelList>, List> {
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = associations::list_labels(&state, &auth.0, updated_after.0, &page).await?;
        Ok(Success(AssociationLabelList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.map(AssociationLabel::from).items,
        }))
    }

    /// Create an association
    ///
    /// Links `from` to `to` (any two records of the tenant: contacts, companies, leads,
    /// activities), optionally with a label. A record that does not exist in the tenant
    /// is a `422` naming `from_id` or `to_id`; a record with itself is a `422` on `to_id`;
    /// an unknown label, or one restricted to other types, a `422` on `label_id`. The same
    /// link (ends, direction and label) twice is a `409` naming the existing association.
    /// Emits `association.created`.
    #[oai(
        path = "/associations",
        method = "post",
        operation_id = "associations_create"
    )]
    async fn create(
        &self,
        #[oai(scope = "Scope::AssociationsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        body: Json<AssociationCreate>,
    ) -> ApiResult<Tagged<Created<AssociationEnvelope>>, Create> {
        let body = body.0;
        let link = NewAssociation {
            from_type: body.from_type.as_str(),
            from_id: body.from_id,
            to_type: body.to_type.as_str(),
            to_id: body.to_id,
            label_id: body.label_id,
        };
        let created: Association = associations::create(&state, &auth.0, link).await?;
        Ok(Tagged(Created {
            location: format!("/v1/associations/{}", created.id),
            body: AssociationEnvelope {
                data: created,
                meta: Meta::of(&request_id),
            },
        }))
    }

    /// Get an association
    ///
    /// An association is found only while both of its records are.
    #[oai(
        path = "/associations/:id",
        method = "get",
        operation_id = "associations_get"
    )]
    async fn get(
        &self,
        #[oai(scope = "Scope::AssociationsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The association's id.
        id: Path<PathId>,
        /// `ETag`s you hold (or `*`): when one is current, the answer is `304` without a
        /// body.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Conditional<AssociationEnvelope>, Read> {
        let id = id.0.parse("id")?;
        let if_none_match = IfNoneMatch::parse(if_none_match.0)?;
        let row = associations::get(&state, &auth.0, id).await?;
        let found = AssociationEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        };
        Ok(Conditional::new(found, &if_none_match))
    }

    /// Delete an association
    ///
    /// The records stay. Emits `association.deleted`.
    #[oai(
        path = "/associations/:id",
        method = "delete",
        operation_id = "associations_delete"
    )]
    async fn delete(
        &self,
        #[oai(scope = "Scope::AssociationsWrite")] auth: ApiKey,
        state: Data<&AppState>,
        /// The association's id.
        id: Path<PathId>,
        /// Delete only this version: its `ETag` (or a list of them), or `*` for any;
        /// otherwise `412`, changing nothing.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<NoContent, Delete> {
        let id = id.0.parse("id")?;
        let if_match = IfMatch::parse(if_match.0)?;
        associations::delete::<Association>(&state, &auth.0, id, &if_match).await?;
        Ok(NoContent)
    }

    /// List associations
    ///
    /// Every association of the tenant whose two records exist, oldest first,
    /// keyset-paginated. Filter by a record (`record_type` with `record_id`: either
    /// end), by the type of the other end (`other_type`; without a record: either end),
    /// and by label (`label_id`, or `unlabelled=true`).
    #[oai(
        path = "/associations",
        method = "get",
        operation_id = "associations_list"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        #[oai(scope = "Scope::AssociationsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// With `record_id`: associations with this record at either end.
        record_type: Query<Option<RecordType>>,
        /// With `record_type`.
        record_id: Query<Option<Uuid>>,
        /// The type of the other end (of either end without `record_id`).
        other_type: Query<Option<RecordType>>,
        /// Only associations with this label.
        label_id: Query<Option<Uuid>>,
        /// `true`: only associations without a label.
        unlabelled: Query<Option<bool>>,
        /// Only associations created strictly after this instant (RFC 3339);
        /// associations never change, so this is the incremental sync.
        created_after: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Success<AssociationList>, FilteredList> {
        let record = match (record_type.0, record_id.0) {
            (Some(t), Some(id)) => Some((t.as_str(), id)),
            (None, None) => None,
            (Some(_), None) => return Err(missing_parameter("record_id", "record_type").into()),
            (None, Some(_)) => return Err(missing_parameter("record_type", "record_id").into()),
        };
        let filter = AssociationFilter {
            record,
            other_type: other_type.0.map(RecordType::as_str),
            label_id: label_id.0,
            unlabelled: unlabelled.0.unwrap_or(false),
            created_after: created_after.0,
        };
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = associations::list(&state, &auth.0, &filter, &page).await?;
        Ok(Success(AssociationList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.map(Association::from).items,
        }))
    }

    /// List a contact's associations
    ///
    /// Both directions, oldest first; each item names the record at the other end and
    /// whether the contact is the association's `from` (`outgoing`) or `to` end.
    #[oai(
        path = "/contacts/:id/associations",
        method = "get",
        operation_id = "contacts_associations"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn contact_associations(
        &self,
        #[oai(scope = "Scope::AssociationsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The contact's id.
        id: Path<PathId>,
        /// Only associations whose other end has this type.
        other_type: Query<Option<RecordType>>,
        /// Only associations with this label.
        label_id: Query<Option<Uuid>>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<RecordAssociationList>, Read> {
        let list = record_associations(
            &state,
            &auth,
            RecordType::Contact,
            &id.0,
            other_type.0,
            label_id.0,
            limit.0,
            cursor.0,
            &request_id,
        )
        .await?;
        Ok(Success(list))
    }

    /// List a company's associations
    ///
    /// As for a contact; for subsidiaries, the parent is the `from` end.
    #[oai(
        path = "/companies/:id/associations",
        method = "get",
        operation_id = "companies_associations"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn company_associations(
        &self,
        #[oai(scope = "Scope::AssociationsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The company's id.
        id: Path<PathId>,
        /// Only associations whose other end has this type.
        other_type: Query<Option<RecordType>>,
        /// Only associations with this label.
        label_id: Query<Option<Uuid>>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<RecordAssociationList>, Read> {
        let list = record_associations(
            &state,
            &auth,
            RecordType::Company,
            &id.0,
            other_type.0,
            label_id.0,
            limit.0,
            cursor.0,
            &request_id,
        )
        .await?;
        Ok(Success(list))
    }

    /// List a lead's associations
    ///
    /// As for a contact.
    #[oai(
        path = "/leads/:id/associations",
        method = "get",
        operation_id = "leads_associations"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn lead_associations(
        &self,
        #[oai(scope = "Scope::AssociationsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The lead's id.
        id: Path<PathId>,
        /// Only associations whose other end has this type.
        other_type: Query<Option<RecordType>>,
        /// Only associations with this label.
        label_id: Query<Option<Uuid>>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<RecordAssociationList>, Read> {
        let list = record_associations(
            &state,
            &auth,
            RecordType::Lead,
            &id.0,
            other_type.0,
            label_id.0,
            limit.0,
            cursor.0,
            &request_id,
        )
        .await?;
        Ok(Success(list))
    }

    /// List an activity's associations
    ///
    /// As for a contact.
    #[oai(
        path = "/activities/:id/associations",
        method = "get",
        operation_id = "activities_associations"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn activity_associations(
        &self,
        #[oai(scope = "Scope::AssociationsRead")] auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The activity's id.
        id: Path<PathId>,
        /// Only associations whose other end has this type.
        other_type: Query<Option<RecordType>>,
        /// Only associations with this label.
        label_id: Query<Option<Uuid>>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Success<RecordAssociationList>, Read> {
        let list = record_associations(
            &state,
            &auth,
            RecordType::Activity,
            &id.0,
            other_type.0,
            label_id.0,
            limit.0,
            cursor.0,
            &request_id,
        )
        .await?;
        Ok(Success(list))
    }
}

/// A filter parameter given without the one it needs. Each is well formed alone and the
/// document cannot state that one needs the other, so this is a 422 naming it.
fn missing_parameter(missing: &str, given: &str) -> AppError {
    AppError::Validation(vec![FieldError::new(
        missing,
        "required",
        format!("is required with `{given}`"),
    )])
}
