//! Companies: the organisations a tenant works with, and their contacts. A company needs
//! a name; its domain, if any, is normalised and unique within the tenant (a taken one is
//! a `409` naming the company that holds it); its custom fields are held to the tenant's
//! definitions, and every change records its event in the transaction that makes it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::contacts::{self, ContactFilter, ContactRow};
use super::custom_fields;
use super::page::{listed, Listed, PageRequest};
use super::version::by_updated_at;
use super::version::IfMatch;
use super::View;
use crate::auth::Principal;
use crate::db::companies as repo;
pub use crate::db::companies::{CompanyFilter, CompanyRow, CompanySort};
use crate::db::TenantTx;
use crate::domain::company::Company;
pub use crate::domain::company::{CompanyInput, CompanyPatch};
use crate::domain::fields;
use crate::domain::record::RecordType;
use crate::error::AppError;
use crate::events::{self, EventType};
use crate::state::AppState;

by_updated_at!(CompanyRow);

/// The filters of a company list as the client gave them (paging aside): what
/// `companies_list` takes as query parameters and what an export keeps to run later, so
/// both read them through [`CompanyQuery::filter`] with the same rules.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompanyQuery {
    pub q: Option<String>,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub owner_id: Option<Uuid>,
    pub updated_after: Option<DateTime<Utc>>,
    pub include_deleted: bool,
    /// `key:op:value` each; checked against the tenant's definitions by [`list`].
    pub custom_field: Vec<String>,
}

impl CompanyQuery {
    /// The filter these parameters ask for, or a 400 naming the first malformed one. A
    /// blank `q` filters nothing. `custom_fields` stays empty: checking them needs the
    /// tenant's definitions, which [`list`] reads in its transaction.
    pub fn filter(&self) -> Result<CompanyFilter, AppError> {
        // Normalised like the field, so any spelling of a stored domain finds it. A filter,
        // not a field: a value that is no domain is held by no company and matches none
        // (the document takes any text up to 2048 characters).
        let domain = super::filter_text("domain", self.domain.clone())?.map(|d| {
            fields::optional_domain("domain", Some(d.clone()))
                .ok()
                .flatten()
                .unwrap_or(d)
        });
        Ok(CompanyFilter {
            q: super::filter_text("q", self.q.clone())?.filter(|s| !s.trim().is_empty()),
            domain,
            industry: super::filter_text("industry", self.industry.clone())?,
            owner_id: self.owner_id,
            updated_after: self.updated_after,
            include_deleted: self.include_deleted,
            custom_fields: Vec::new(),
        })
    }
}

/// Creates a company from `input`, checked against the company rules and the tenant's
/// custom field definitions. Without an `owner_id` it belongs to the user the actor acts
/// for (none for a service key).
pub async fn create<V: View<CompanyRow>>(
    state: &AppState,
    actor: &Principal,
    mut input: CompanyInput,
) -> Result<V, AppError> {
    input.owner_id = input.owner_id.or(actor.user_id);
    let company = Company::parse(input).map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let checked =
        custom_fields::for_create(&mut tx, RecordType::Company, company.custom_fields()).await?;
    let company = company.with_custom_fields(checked);
    let row = repo::insert(&mut tx, &company).await?;
    commit_with(tx, EventType::CompanyCreated, row).await
}

/// The company `id`; one in the trash only when `include_deleted`.
pub async fn get(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    include_deleted: bool,
) -> Result<CompanyRow, AppError> {
    super::read(state, actor, id, include_deleted).await
}

/// Lays `patch` over the company `id` if its version passes `if_match`; the result must
/// still satisfy the create rules, which are checked before `custom_fields` are merged
/// key by key against the tenant's definitions.
pub async fn update<V: View<CompanyRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: CompanyPatch,
) -> Result<V, AppError> {
    let values = patch.custom_fields.clone();
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    if_match.check(&current)?;
    let company = patch
        .apply_to_input(current.to_input())
        .map_err(AppError::Validation)?;
    let merged = custom_fields::for_patch(
        &mut tx,
        RecordType::Company,
        id,
        &current.custom_fields,
        values,
    )
    .await?;
    let company = match merged {
        Some(values) => company.with_custom_fields(Value::Object(values)),
        None => company,
    };
    let row = repo::update(&mut tx, id, &company).await?;
    let (before, company) = (V::from(current), V::from(row));
    events::emit_update(&mut tx, EventType::CompanyUpdated, &before, &company).await?;
    tx.commit().await?;
    Ok(company)
}

/// Moves the company `id` to the trash if its version passes `if_match`. Its contacts,
/// leads and activities keep their link to it.
pub async fn delete<V: View<CompanyRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    if_match
        .check_with(repo::get_for_update(&mut tx, id))
        .await?;
    let row = repo::trash(&mut tx, id).await?;
    commit_with::<V>(tx, EventType::CompanyDeleted, row).await?;
    Ok(())
}

/// Brings the company `id` back from the trash as it was; one that is not in the trash
/// is returned unchanged (no event). A `409` names the live company that took its domain
/// or one of its unique custom field values meanwhile.
pub async fn restore<V: View<CompanyRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<V, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    tx.include_deleted().await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    if current.deleted_at.is_none() {
        tx.commit().await?;
        return Ok(V::from(current));
    }
    custom_fields::check_restorable(&mut tx, RecordType::Company, id, &current.custom_fields)
        .await?;
    let row = repo::restore(&mut tx, &current).await?;
    commit_with(tx, EventType::CompanyRestored, row).await
}

/// One page of the companies matching `query`. A bad cursor is reported before a bad
/// filter.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    query: &CompanyQuery,
    page: &PageRequest,
) -> Result<Listed<CompanyRow>, AppError> {
    let page = page.page(CompanySort::CreatedAt)?;
    let mut filter = query.filter()?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    filter.custom_fields =
        custom_fields::filters(&mut tx, RecordType::Company, &query.custom_field).await?;
    let (rows, has_more) = repo::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// One page of the contacts of the company `id` (a `404` when the tenant has no such
/// company, before the page is looked at), changed after `updated_after` if given.
pub async fn contacts(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    updated_after: Option<DateTime<Utc>>,
    page: &PageRequest,
) -> Result<Listed<ContactRow>, AppError> {
    let filter = ContactFilter {
        company_id: Some(id),
        updated_after,
        ..Default::default()
    };
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    repo::exists(&mut tx, id).await?;
    let list = contacts::list_in(&mut tx, &filter, page).await?;
    tx.end_read();
    Ok(list)
}

/// Records `event` about the company in the write's transaction and commits it.
async fn commit_with<V: View<CompanyRow>>(
    mut tx: TenantTx,
    event: EventType,
    row: CompanyRow,
) -> Result<V, AppError> {
    let company = V::from(row);
    events::emit(&mut tx, event, &company).await?;
    tx.commit().await?;
    Ok(company)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_filter_is_normalised_like_the_field_and_kept_when_it_is_no_domain() {
        let domain = |value: &str| {
            let query = CompanyQuery {
                domain: Some(value.into()),
                ..Default::default()
            };
            query.filter().unwrap().domain
        };
        assert_eq!(
            domain("https://WWW.Example.com/about").as_deref(),
            fields::optional_domain("domain", Some("https://WWW.Example.com/about".into()))
                .unwrap()
                .as_deref()
        );
        assert_eq!(domain("not a domain").as_deref(), Some("not a domain"));
    }

    #[test]
    fn a_blank_q_filters_nothing_and_a_control_character_names_its_parameter() {
        let blank = CompanyQuery {
            q: Some("   ".into()),
            ..Default::default()
        };
        assert_eq!(blank.filter().unwrap().q, None);
        let industry = CompanyQuery {
            industry: Some("soft\u{7f}ware".into()),
            ..Default::default()
        };
        match industry.filter() {
            Err(AppError::BadRequest { details, .. }) => {
                assert_eq!(details[0].field, "industry");
                assert_eq!(details[0].code, "invalid_characters");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_query_round_trips_through_json_and_refuses_unknown_keys() {
        let query = CompanyQuery {
            q: Some("acme".into()),
            domain: Some("acme.example".into()),
            industry: Some("Software".into()),
            owner_id: Some(Uuid::now_v7()),
            updated_after: Some(Utc::now()),
            include_deleted: true,
            custom_field: vec!["tier:eq:gold".into()],
        };
        let json = serde_json::to_string(&query).unwrap();
        assert_eq!(serde_json::from_str::<CompanyQuery>(&json).unwrap(), query);
        assert!(serde_json::from_str::<CompanyQuery>(r#"{"cursor": "x"}"#).is_err());
    }
}
