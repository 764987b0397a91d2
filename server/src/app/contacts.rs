//! Contacts: the people a tenant works with. A contact's email is unique within the
//! tenant ignoring case (a taken one is a `409` naming the contact that holds it), its
//! custom fields are held to the tenant's definitions, and every change records its
//! event in the transaction that makes it. The resource to copy when adding one.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::custom_fields;
use super::page::{listed, Listed, PageRequest};
use super::version::by_updated_at;
use super::version::IfMatch;
use super::View;
use crate::auth::Principal;
use crate::db::contacts as repo;
pub use crate::db::contacts::{ContactFilter, ContactRow, ContactSort};
use crate::db::TenantTx;
use crate::domain::contact::Contact;
pub use crate::domain::contact::{ContactInput, ContactPatch};
use crate::domain::record::RecordType;
use crate::domain::Patch;
use crate::error::AppError;
use crate::events::{self, EventType};
use crate::state::AppState;

by_updated_at!(ContactRow);

/// The filters of a contact list as the client gave them (paging aside): what
/// `contacts_list` takes as query parameters and what an export keeps to run later, so
/// both read them through [`ContactQuery::filter`] with the same rules.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactQuery {
    pub q: Option<String>,
    pub email: Option<String>,
    pub company_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub updated_after: Option<DateTime<Utc>>,
    pub include_deleted: bool,
    /// `key:op:value` each; checked against the tenant's definitions by [`list`].
    pub custom_field: Vec<String>,
}

impl ContactQuery {
    /// The filter these parameters ask for, or a 400 naming the first malformed one. A
    /// blank `q` filters nothing. `custom_fields` stays empty: checking them needs the
    /// tenant's definitions, which [`list`] reads in its transaction.
    pub fn filter(&self) -> Result<ContactFilter, AppError> {
        Ok(ContactFilter {
            q: super::filter_text("q", self.q.clone())?.filter(|s| !s.trim().is_empty()),
            email: super::filter_text("email", self.email.clone())?,
            company_id: self.company_id,
            owner_id: self.owner_id,
            updated_after: self.updated_after,
            include_deleted: self.include_deleted,
            custom_fields: Vec::new(),
        })
    }
}

/// Creates a contact from `input`, checked against the contact rules and the tenant's
/// custom field definitions. Without an `owner_id` it belongs to the user the actor acts
/// for (none for a service key).
pub async fn create<V: View<ContactRow>>(
    state: &AppState,
    actor: &Principal,
    mut input: ContactInput,
) -> Result<V, AppError> {
    input.owner_id = input.owner_id.or(actor.user_id);
    let contact = Contact::parse(input).map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let checked =
        custom_fields::for_create(&mut tx, RecordType::Contact, contact.custom_fields()).await?;
    let contact = contact.with_custom_fields(checked);
    let written = repo::insert(&mut tx, &contact).await;
    commit_or_name_holder(
        state,
        tx,
        written,
        &contact,
        EventType::ContactCreated,
        None,
    )
    .await
}

/// The contact `id`; one in the trash only when `include_deleted`.
pub async fn get(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    include_deleted: bool,
) -> Result<ContactRow, AppError> {
    super::read(state, actor, id, include_deleted).await
}

/// Lays `patch` over the contact `id` if its version passes `if_match`; the result must
/// still satisfy the create rules. `custom_fields` are merged key by key.
pub async fn update<V: View<ContactRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    mut patch: ContactPatch,
) -> Result<V, AppError> {
    let values = std::mem::take(&mut patch.custom_fields);
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    if_match.check(&current)?;
    let values = custom_fields::for_patch(
        &mut tx,
        RecordType::Contact,
        id,
        &current.custom_fields,
        values,
    )
    .await?;
    if let Some(values) = values {
        patch.custom_fields = Patch::Set(values);
    }
    let contact = patch
        .apply_to_input(current.to_input())
        .map_err(AppError::Validation)?;
    let before = V::from(current);
    let written = repo::update(&mut tx, id, &contact).await;
    let event = EventType::ContactUpdated;
    commit_or_name_holder(state, tx, written, &contact, event, Some(before)).await
}

/// Moves the contact `id` to the trash if its version passes `if_match`.
pub async fn delete<V: View<ContactRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if_match
        .check_with(repo::get_for_update(&mut tx, id))
        .await?;
    let deleted = V::from(repo::trash(&mut tx, id).await?);
    events::emit(&mut tx, EventType::ContactDeleted, &deleted).await?;
    tx.commit().await?;
    Ok(())
}

/// Brings the contact `id` back from the trash as it was; one that is not in the trash is
/// returned unchanged (no event). A `409` names the live record that took its email or
/// one of its unique custom field values meanwhile.
pub async fn restore<V: View<ContactRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<V, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    tx.include_deleted().await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    let contact = if current.deleted_at.is_some() {
        custom_fields::check_restorable(&mut tx, RecordType::Contact, id, &current.custom_fields)
            .await?;
        let restored = V::from(repo::restore(&mut tx, &current).await?);
        events::emit(&mut tx, EventType::ContactRestored, &restored).await?;
        restored
    } else {
        V::from(current)
    };
    tx.commit().await?;
    Ok(contact)
}

/// One page of the contacts matching `query`. A bad filter is reported before a bad
/// cursor.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    query: &ContactQuery,
    page: &PageRequest,
) -> Result<Listed<ContactRow>, AppError> {
    let mut filter = query.filter()?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    filter.custom_fields =
        custom_fields::filters(&mut tx, RecordType::Contact, &query.custom_field).await?;
    let list = list_in(&mut tx, &filter, page).await?;
    tx.end_read();
    Ok(list)
}

/// One page of contacts matching `filter`, in the caller's transaction (also the contacts
/// listed under a company).
pub async fn list_in(
    tx: &mut TenantTx,
    filter: &ContactFilter,
    page: &PageRequest,
) -> Result<Listed<ContactRow>, AppError> {
    let page = page.page(ContactSort::CreatedAt)?;
    let (rows, has_more) = repo::list(tx, filter, &page).await?;
    Ok(listed(&page, rows, has_more))
}

/// Records `event` (with what changed since `before`, for an update) and commits a
/// contact write, or, when it hit another contact's email,
/// rolls back (the failed statement aborted the transaction, so no event either) and
/// names that contact in the 409 from a fresh transaction.
async fn commit_or_name_holder<V: View<ContactRow>>(
    state: &AppState,
    mut tx: TenantTx,
    written: Result<ContactRow, AppError>,
    contact: &Contact,
    event: EventType,
    before: Option<V>,
) -> Result<V, AppError> {
    match written {
        Ok(row) => {
            let written = V::from(row);
            match &before {
                Some(before) => events::emit_update(&mut tx, event, before, &written).await?,
                None => events::emit(&mut tx, event, &written).await?,
            };
            tx.commit().await?;
            Ok(written)
        }
        Err(AppError::Conflict { .. }) => {
            let tenant_id = tx.tenant_id();
            drop(tx);
            let email = contact.email().unwrap_or_default();
            let holder = async {
                let mut tx = TenantTx::begin(&state.pool, tenant_id).await?;
                repo::find_id_by_email(&mut tx, email).await
            }
            .await;
            // The holder is a courtesy: if it cannot be read, the 409 still stands.
            Err(repo::email_taken(holder.ok().flatten()))
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_parameter(err: AppError) -> (String, &'static str) {
        match err {
            AppError::BadRequest { details, .. } => (details[0].field.clone(), details[0].code),
            other => panic!("expected a bad parameter, got {other:?}"),
        }
    }

    #[test]
    fn a_blank_q_filters_nothing_and_a_control_character_names_its_parameter() {
        let blank = ContactQuery {
            q: Some("  ".into()),
            ..Default::default()
        };
        assert_eq!(blank.filter().unwrap().q, None);
        let q = ContactQuery {
            q: Some(" ada ".into()),
            ..Default::default()
        };
        assert_eq!(q.filter().unwrap().q.as_deref(), Some(" ada "));
        let email = ContactQuery {
            email: Some("ada\0@example.com".into()),
            ..Default::default()
        };
        let err = email.filter().unwrap_err();
        assert_eq!(bad_parameter(err), ("email".into(), "invalid_characters"));
    }

    #[test]
    fn a_query_round_trips_through_json_and_refuses_unknown_keys() {
        let query = ContactQuery {
            q: Some("ada".into()),
            email: Some("ada@example.com".into()),
            company_id: Some(Uuid::now_v7()),
            owner_id: Some(Uuid::now_v7()),
            updated_after: Some(Utc::now()),
            include_deleted: true,
            custom_field: vec!["tier:eq:gold".into(), "score:gt:3".into()],
        };
        let json = serde_json::to_value(&query).unwrap();
        assert_eq!(serde_json::from_value::<ContactQuery>(json).unwrap(), query);
        let empty: ContactQuery = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, ContactQuery::default());
        assert!(serde_json::from_str::<ContactQuery>(r#"{"limit": 5}"#).is_err());
    }
}
