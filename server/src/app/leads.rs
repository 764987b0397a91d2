//! Leads: deals moving through a pipeline. A lead is placed in one stage — its
//! `stage_id`, or the first stage of its `pipeline_id` — locked while it lands there, and
//! its status follows that stage's kind. Every move records a `stage_change` activity
//! (in `db::leads`) and the events that say what the move meant: `lead.stage_changed`,
//! and `lead.won` or `lead.lost` when the status became that. A lead converts once, into
//! the contact and the company it then links to.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::custom_fields;
use super::page::{listed, Listed, PageRequest};
use super::version::by_updated_at;
use super::version::IfMatch;
use super::View;
use crate::auth::Principal;
use crate::db::companies::{self, CompanyRow};
use crate::db::contacts::{self, ContactRow};
use crate::db::leads::{self as repo, LeadsIn, MovedLead};
pub use crate::db::leads::{LeadFilter, LeadRow, LeadSort};
use crate::db::pipelines::{self, StageRow};
use crate::db::{violations, TenantTx};
use crate::domain::lead::Lead;
pub use crate::domain::lead::{LeadInput, LeadPatch};
use crate::domain::pipeline::StageKind;
use crate::domain::record::RecordType;
use crate::domain::Patch;
use crate::domain::{company, contact, fields, FieldError};
use crate::error::AppError;
use crate::events::{self, Data, EventType};
use crate::state::AppState;

by_updated_at!(LeadRow);

/// The filters of a lead list as the client gave them (paging aside): what `leads_list`
/// takes as query parameters and what an export keeps to run later, so both read them
/// through [`LeadQuery::filter`] with the same rules.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeadQuery {
    pub q: Option<String>,
    pub pipeline_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    /// The lead's status, which is its stage's kind.
    pub status: Option<StageKind>,
    pub owner_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub currency: Option<String>,
    /// Decimal strings, as sent: the bounds are read by [`LeadQuery::filter`].
    pub value_min: Option<String>,
    pub value_max: Option<String>,
    pub expected_close_from: Option<NaiveDate>,
    pub expected_close_to: Option<NaiveDate>,
    pub updated_after: Option<DateTime<Utc>>,
    pub include_deleted: bool,
    /// `key:op:value` each; checked against the tenant's definitions by [`list`].
    pub custom_field: Vec<String>,
}

impl LeadQuery {
    /// The filter these parameters ask for, or a 400 naming the first malformed one. A
    /// blank `q` filters nothing. `custom_fields` stays empty: checking them needs the
    /// tenant's definitions, which [`list`] reads in its transaction.
    pub fn filter(&self) -> Result<LeadFilter, AppError> {
        // A bound, not a field: the documented pattern is all it must match (poem checks
        // it). A bound above the largest amount or finer than a currency's decimals still
        // compares, so the field's range and precision rules do not apply here.
        let amount = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    v.parse::<Decimal>().map_err(|_| {
                        AppError::bad_parameter(FieldError::new(
                            name,
                            "invalid_amount",
                            "must be a non-negative decimal number, e.g. 1250.50",
                        ))
                    })
                })
                .transpose()
        };
        // A filter, not a field: a value that is no ISO 4217 code is held by no lead, so
        // it matches none (the document lets any three characters through).
        let currency = super::filter_text("currency", self.currency.clone())?
            .map(|c| fields::currency("currency", &c).map_or(c, |c| c.code().to_owned()));
        Ok(LeadFilter {
            q: super::filter_text("q", self.q.clone())?.filter(|s| !s.trim().is_empty()),
            pipeline_id: self.pipeline_id,
            stage_id: self.stage_id,
            status: self.status,
            owner_id: self.owner_id,
            contact_id: self.contact_id,
            company_id: self.company_id,
            currency,
            value_min: amount("value_min", &self.value_min)?,
            value_max: amount("value_max", &self.value_max)?,
            expected_close_from: self.expected_close_from,
            expected_close_to: self.expected_close_to,
            updated_after: self.updated_after,
            include_deleted: self.include_deleted,
            custom_fields: Vec::new(),
        })
    }
}

/// Creates a lead from `input` with the custom field `values`, in the stage it names.
/// Without an `owner_id` it belongs to the user the actor acts for.
pub async fn create<V: View<LeadRow>>(
    state: &AppState,
    actor: &Principal,
    mut input: LeadInput,
    values: Map<String, Value>,
) -> Result<V, AppError> {
    input.owner_id = input.owner_id.or(actor.user_id);
    let lead = Lead::parse(input).map_err(AppError::Validation)?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let values =
        custom_fields::for_create(&mut tx, RecordType::Lead, &Value::Object(values)).await?;
    let stage = place(&mut tx, &lead).await?;
    let row = repo::insert(&mut tx, &lead, &stage, &values).await?;
    let created = emit_change(&mut tx, EventType::LeadCreated, row, None).await?;
    tx.commit().await?;
    Ok(created)
}

/// One row of an import, inside the import's transaction (the caller holds a savepoint
/// around it): `id` names the lead to update, none creates one. The row is a create
/// body, laid over the stored lead without clearing anything it leaves out (as a batch
/// upsert lays an item), so a row that changes nothing is `Unchanged` and writes
/// nothing. Placement, events and custom fields follow the API's own create and update.
pub async fn import_in<V: View<LeadRow>>(
    tx: &mut TenantTx,
    default_owner: Option<Uuid>,
    id: Option<Uuid>,
    mut input: LeadInput,
    values: Map<String, Value>,
) -> Result<super::batch::Outcome<V>, AppError> {
    use super::batch::Outcome;
    let Some(id) = id else {
        input.owner_id = input.owner_id.or(default_owner);
        let lead = Lead::parse(input).map_err(AppError::Validation)?;
        let values =
            custom_fields::for_create(tx, RecordType::Lead, &Value::Object(values)).await?;
        let stage = place(tx, &lead).await?;
        let row = repo::insert(tx, &lead, &stage, &values).await?;
        let created = emit_change(tx, EventType::LeadCreated, row, None).await?;
        return Ok(Outcome::Created(created));
    };
    let current = match repo::get_for_update(tx, id).await {
        Err(AppError::NotFound(_)) => {
            return Err(AppError::Validation(vec![FieldError::new(
                "id",
                "not_found",
                "the tenant has no lead with this id",
            )]))
        }
        other => other?,
    };
    let sent = if values.is_empty() {
        Patch::Keep
    } else {
        Patch::Set(values)
    };
    let values = custom_fields::for_patch(tx, RecordType::Lead, id, &current.custom_fields, sent)
        .await?
        .map(Value::Object)
        .unwrap_or_else(|| current.custom_fields.clone());
    let lead = keeping(input)
        .apply_to_input(current.to_input())
        .map_err(AppError::Validation)?;
    let stored = Lead::parse(current.to_input()).ok();
    if stored.as_ref() == Some(&lead) && values == current.custom_fields {
        return Ok(Outcome::Unchanged(V::from(current)));
    }
    let stage = place(tx, &lead).await?;
    let row = repo::update(tx, &current, &lead, &stage, &values).await?;
    let updated = emit_change(tx, EventType::LeadUpdated, row, Some(current)).await?;
    Ok(Outcome::Updated(updated))
}

/// A create body as a patch that sets what it holds and keeps what it leaves out.
fn keeping(input: LeadInput) -> LeadPatch {
    fn set<T>(value: Option<T>) -> Patch<Option<T>> {
        value.map_or(Patch::Keep, |v| Patch::Set(Some(v)))
    }
    let p = input.prospect;
    LeadPatch {
        title: input.title,
        contact_id: set(input.contact_id),
        company_id: set(input.company_id),
        pipeline_id: input.pipeline_id,
        stage_id: input.stage_id,
        value: set(input.value),
        currency: set(input.currency),
        expected_close_date: set(input.expected_close_date),
        owner_id: set(input.owner_id),
        source: set(input.source),
        lost_reason: set(input.lost_reason),
        prospect_first_name: set(p.first_name),
        prospect_last_name: set(p.last_name),
        prospect_email: set(p.email),
        prospect_phone: set(p.phone),
        prospect_company_name: set(p.company_name),
        prospect_company_domain: set(p.company_domain),
        custom_fields: Patch::Keep,
    }
}

/// The lead `id`; one in the trash only when `include_deleted`.
pub async fn get(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    include_deleted: bool,
) -> Result<LeadRow, AppError> {
    super::read(state, actor, id, include_deleted).await
}

/// Lays `patch` over the lead `id` if its version passes `if_match`; the result must
/// still satisfy the create rules and land in a stage that takes it. `custom_fields` are
/// merged key by key.
pub async fn update<V: View<LeadRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    mut patch: LeadPatch,
) -> Result<V, AppError> {
    let values = std::mem::take(&mut patch.custom_fields);
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    if_match.check(&current)?;
    let values = custom_fields::for_patch(
        &mut tx,
        RecordType::Lead,
        id,
        &current.custom_fields,
        values,
    )
    .await?
    .map(Value::Object)
    .unwrap_or_else(|| current.custom_fields.clone());
    let lead = patch
        .apply_to_input(current.to_input())
        .map_err(AppError::Validation)?;
    let stage = place(&mut tx, &lead).await?;
    let row = repo::update(&mut tx, &current, &lead, &stage, &values).await?;
    let updated = emit_change(&mut tx, EventType::LeadUpdated, row, Some(current)).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Moves the lead `id` to the trash with its `stage_change` history, if its version
/// passes `if_match`.
pub async fn delete<V: View<LeadRow>>(
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
    events::emit(&mut tx, EventType::LeadDeleted, &deleted).await?;
    tx.commit().await?;
    Ok(())
}

/// Brings the lead `id` back from the trash as it was, in its stage; one that is not in
/// the trash is returned unchanged (no event). A `409` names the live record that took
/// one of its unique custom field values meanwhile.
pub async fn restore<V: View<LeadRow>>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<V, AppError> {
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    tx.include_deleted().await?;
    let current = repo::get_for_update(&mut tx, id).await?;
    let lead = if current.deleted_at.is_some() {
        custom_fields::check_restorable(&mut tx, RecordType::Lead, id, &current.custom_fields)
            .await?;
        let restored = V::from(repo::restore(&mut tx, id).await?);
        events::emit(&mut tx, EventType::LeadRestored, &restored).await?;
        restored
    } else {
        V::from(current)
    };
    tx.commit().await?;
    Ok(lead)
}

/// One page of the leads matching `query`. A bad cursor is reported before a bad filter.
pub async fn list(
    state: &AppState,
    actor: &Principal,
    query: &LeadQuery,
    page: &PageRequest,
) -> Result<Listed<LeadRow>, AppError> {
    let page = page.page(LeadSort::CreatedAt)?;
    let mut filter = query.filter()?;
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    filter.custom_fields =
        custom_fields::filters(&mut tx, RecordType::Lead, &query.custom_field).await?;
    let (rows, has_more) = repo::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(listed(&page, rows, has_more))
}

/// A converted lead, and the contact and company it now links to, each as the caller
/// renders it.
#[derive(Debug, Clone)]
pub struct Conversion<L, C, Co> {
    pub lead: L,
    pub contact: C,
    /// `None` when the lead names no company.
    pub company: Option<Co>,
}

/// Converts the lead `id`, in one transaction: links its contact — its `contact_id`,
/// else the contact with the prospect's email, else a new one from the prospect — and its
/// company — its `company_id`, else the company with the prospect's domain, else a new
/// one from the prospect's company name (none if the lead names no company); a contact
/// without a company gains that one. A lead converts once (`409` after).
pub async fn convert<L, C, Co>(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
) -> Result<Conversion<L, C, Co>, AppError>
where
    L: View<LeadRow>,
    C: View<ContactRow>,
    Co: View<CompanyRow>,
{
    let mut tx = TenantTx::begin(&state.pool, actor.tenant_id).await?;
    let lead = repo::get_for_update(&mut tx, id).await?;
    if let Some(at) = lead.converted_at {
        return Err(AppError::Conflict {
            message: format!("the lead was already converted at {at}"),
            details: vec![],
        });
    }
    let company = convert_company::<Co>(&mut tx, &lead).await?;
    let company_id = company.as_ref().map(|c| c.id);
    let contact = convert_contact::<C>(&mut tx, &lead, company_id).await?;
    let lead = L::from(repo::mark_converted(&mut tx, id, contact.id, company_id).await?);
    events::emit(&mut tx, EventType::LeadConverted, &lead).await?;
    tx.commit().await?;
    Ok(Conversion {
        lead,
        contact: C::from(contact),
        company: company.map(Co::from),
    })
}

fn unprocessable(field: &str, code: &'static str, message: &str) -> AppError {
    AppError::Validation(vec![FieldError::new(field, code, message)])
}

/// The stage the lead lands in, locked until commit, checked against the lead's rules.
async fn place(tx: &mut TenantTx, lead: &Lead) -> Result<StageRow, AppError> {
    let stage =
        match (lead.stage_id(), lead.pipeline_id()) {
            (Some(stage_id), pipeline_id) => {
                let stage = pipelines::stage_for_lead(tx, stage_id)
                    .await?
                    .ok_or_else(|| {
                        AppError::Validation(vec![violations::unknown("stage_id", "stage")])
                    })?;
                if pipeline_id.is_some_and(|p| p != stage.pipeline_id) {
                    return Err(unprocessable(
                        "stage_id",
                        "wrong_pipeline",
                        "belongs to another pipeline than `pipeline_id`",
                    ));
                }
                stage
            }
            (None, Some(pipeline_id)) => pipelines::first_stage(tx, pipeline_id)
                .await?
                .ok_or_else(|| {
                    AppError::Validation(vec![violations::unknown("pipeline_id", "pipeline")])
                })?,
            (None, None) => pipelines::default_stage(tx).await?.ok_or_else(|| {
                unprocessable(
                    "pipeline_id",
                    "required",
                    "the tenant has no pipeline to place the lead in: create one, or pass \
                     `pipeline_id` or `stage_id`",
                )
            })?,
        };
    lead.check_stage(stage.kind())
        .map_err(AppError::Validation)?;
    Ok(stage)
}

/// Records `change` (`lead.created` or `lead.updated`) for the lead as written, then what
/// its placement meant: `lead.stage_changed` when it left the stage it was in (`before`:
/// the lead before the change; `None` for a new lead), and `lead.won` or `lead.lost` when
/// its status became that, so a move between two won stages is no second win. An update
/// and its `lead.stage_changed` carry what changed since `before`. Returns the lead as the
/// events carry it.
async fn emit_change<V: View<LeadRow>>(
    tx: &mut TenantTx,
    change: EventType,
    row: LeadRow,
    before: Option<LeadRow>,
) -> Result<V, AppError> {
    let (stage_id, status) = (row.stage_id, row.status.clone());
    let lead = V::from(row);
    let Some(before) = before else {
        events::emit(tx, change, &lead).await?;
        emit_entered(tx, &lead, &status).await?;
        return Ok(lead);
    };
    let (was_stage, was_status) = (before.stage_id, before.status.clone());
    let before = V::from(before);
    events::emit_update(tx, change, &before, &lead).await?;
    if was_stage != stage_id {
        events::emit_update(tx, EventType::LeadStageChanged, &before, &lead).await?;
    }
    if was_status != status {
        emit_entered(tx, &lead, &status).await?;
    }
    Ok(lead)
}

/// `lead.won` or `lead.lost` for `lead`, which just took `status`, if it is either.
async fn emit_entered(tx: &mut TenantTx, lead: &impl Data, status: &str) -> Result<(), AppError> {
    let entered = match StageKind::parse(status) {
        Some(StageKind::Won) => EventType::LeadWon,
        Some(StageKind::Lost) => EventType::LeadLost,
        _ => return Ok(()),
    };
    events::emit(tx, entered, lead).await?;
    Ok(())
}

/// Moves every lead in `which` (locked here first: the stage history recorded must
/// describe exactly the moves made) to `target`, a stage the caller holds locked. A lost
/// stage needs every lead to carry a `lost_reason`. For [`emit_moved`] once the move is
/// complete.
pub(super) async fn move_all(
    tx: &mut TenantTx,
    which: LeadsIn,
    target: &StageRow,
) -> Result<Vec<MovedLead>, AppError> {
    repo::lock(tx, which).await?;
    if target.kind() == StageKind::Lost {
        let reasonless = repo::count_without_lost_reason(tx, which).await?;
        if reasonless > 0 {
            return Err(AppError::Validation(vec![FieldError::new(
                "move_leads_to",
                "lost_reason_required",
                format!(
                    "is a lost stage, and {reasonless} of the leads to move have no \
                     `lost_reason`"
                ),
            )]));
        }
    }
    repo::move_all(tx, which, target).await
}

/// Records the events of leads moved out of a stage or pipeline being deleted, as for a
/// move through [`update`].
pub(super) async fn emit_moved<V: View<LeadRow>>(
    tx: &mut TenantTx,
    moved: Vec<MovedLead>,
) -> Result<(), AppError> {
    // A trashed lead moved along is housekeeping: its `lead.restored` will say where it is.
    for m in moved.into_iter().filter(|m| m.lead.deleted_at.is_none()) {
        let before = m.before();
        emit_change::<V>(tx, EventType::LeadUpdated, m.lead, Some(before)).await?;
    }
    Ok(())
}

/// Renames the fields of a contact or company built from a lead's prospect, so the 422
/// names the lead field to fix.
fn from_prospect(errors: Vec<FieldError>, prefix: &str) -> AppError {
    AppError::Validation(
        errors
            .into_iter()
            .map(|e| FieldError {
                field: format!("{prefix}{}", e.field),
                ..e
            })
            .collect(),
    )
}

/// A record the lead links to, which the foreign key guarantees exists unless it is in
/// the trash: then the conversion is a 422 on the link, not a 404 about the lead.
fn linked<T>(found: Result<T, AppError>, field: &str) -> Result<T, AppError> {
    found.map_err(|err| match err {
        AppError::NotFound(what) => unprocessable(
            field,
            "deleted",
            &format!("the lead's {what} is in the trash: restore it, or clear `{field}`"),
        ),
        other => other,
    })
}

/// The company a conversion links: the lead's own, the one with the prospect's domain,
/// or a new one from the prospect's company name and domain (`company.created`, rendered
/// as `Co`). Written through `db::companies` until companies have their application
/// module.
async fn convert_company<Co: View<CompanyRow>>(
    tx: &mut TenantTx,
    lead: &LeadRow,
) -> Result<Option<CompanyRow>, AppError> {
    if let Some(id) = lead.company_id {
        return Ok(Some(linked(companies::get(tx, id).await, "company_id")?));
    }
    let prospect = lead.prospect();
    if let Some(domain) = &prospect.company_domain {
        if let Some(found) = companies::find_by_domain(tx, domain).await? {
            return Ok(Some(found));
        }
    }
    let Some(name) = prospect.company_name.or(prospect.company_domain.clone()) else {
        return Ok(None);
    };
    let new = company::Company::parse(company::CompanyInput {
        name: Some(name),
        domain: prospect.company_domain,
        // What the lead's owner converted is theirs.
        owner_id: lead.owner_id,
        ..Default::default()
    })
    .map_err(|e| from_prospect(e, "prospect_company_"))?;
    // A conversion writes no custom field values: a `required` company field refuses it.
    custom_fields::for_create(tx, RecordType::Company, new.custom_fields()).await?;
    let created = companies::insert(tx, &new).await?;
    events::emit(tx, EventType::CompanyCreated, &Co::from(created.clone())).await?;
    Ok(Some(created))
}

/// The contact a conversion links: the lead's own, the one with the prospect's email,
/// or a new one from the prospect's fields (`contact.created`); an existing one without a
/// company gains `company_id` (`contact.updated`). Events render it as `C`.
async fn convert_contact<C: View<ContactRow>>(
    tx: &mut TenantTx,
    lead: &LeadRow,
    company_id: Option<Uuid>,
) -> Result<ContactRow, AppError> {
    let contact = if let Some(id) = lead.contact_id {
        linked(contacts::get(tx, id).await, "contact_id")?
    } else {
        let prospect = lead.prospect();
        let existing = match &prospect.email {
            Some(email) => contacts::find_id_by_email(tx, email).await?,
            None => None,
        };
        match existing {
            Some(id) => contacts::get(tx, id).await?,
            None => {
                if prospect.first_name.is_none()
                    && prospect.last_name.is_none()
                    && prospect.email.is_none()
                {
                    return Err(unprocessable(
                        "contact_id",
                        "required",
                        "the lead names no contact: set `contact_id`, or a prospect name \
                         or email to create one from",
                    ));
                }
                let new = contact::Contact::parse(contact::ContactInput {
                    first_name: prospect.first_name,
                    last_name: prospect.last_name,
                    email: prospect.email,
                    phone: prospect.phone,
                    company_id,
                    owner_id: lead.owner_id,
                    ..Default::default()
                })
                .map_err(|e| from_prospect(e, "prospect_"))?;
                // As for the company: a `required` contact field refuses the conversion.
                custom_fields::for_create(tx, RecordType::Contact, new.custom_fields()).await?;
                let created = contacts::insert(tx, &new).await?;
                events::emit(tx, EventType::ContactCreated, &C::from(created.clone())).await?;
                created
            }
        }
    };
    match (contact.company_id, company_id) {
        (None, Some(company_id)) => {
            // An existing contact gaining the company is a change to it like any other.
            let linked = contacts::set_company(tx, contact.id, company_id).await?;
            let (before, after) = (C::from(contact.clone()), C::from(linked.clone()));
            events::emit_update(tx, EventType::ContactUpdated, &before, &after).await?;
            Ok(linked)
        }
        _ => Ok(contact),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_parameter(query: &LeadQuery) -> (String, &'static str) {
        match query.filter() {
            Err(AppError::BadRequest { details, .. }) => {
                (details[0].field.clone(), details[0].code)
            }
            other => panic!("expected a bad parameter, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_amount_names_its_parameter() {
        let min = LeadQuery {
            value_min: Some("1.2.3".into()),
            ..Default::default()
        };
        assert_eq!(bad_parameter(&min), ("value_min".into(), "invalid_amount"));
        let max = LeadQuery {
            value_min: Some("10".into()),
            value_max: Some("lots".into()),
            ..Default::default()
        };
        assert_eq!(bad_parameter(&max), ("value_max".into(), "invalid_amount"));
        let both = LeadQuery {
            value_min: Some("1250.50".into()),
            value_max: Some("99999999999999999.99999".into()),
            ..Default::default()
        };
        let filter = both.filter().unwrap();
        assert_eq!(filter.value_min, Some(Decimal::new(125050, 2)));
        assert!(filter.value_max.is_some());
    }

    #[test]
    fn a_currency_is_read_as_its_code_and_a_bad_one_is_kept_to_match_nothing() {
        let currency = |value: &str| {
            let query = LeadQuery {
                currency: Some(value.into()),
                ..Default::default()
            };
            query.filter().unwrap().currency
        };
        assert_eq!(currency("eur").as_deref(), Some("EUR"));
        assert_eq!(currency("XYZ").as_deref(), Some("XYZ"));
        let control = LeadQuery {
            currency: Some("E\nR".into()),
            ..Default::default()
        };
        assert_eq!(
            bad_parameter(&control),
            ("currency".into(), "invalid_characters")
        );
    }

    #[test]
    fn a_blank_q_filters_nothing_and_the_status_is_the_stage_kind() {
        let query = LeadQuery {
            q: Some(" ".into()),
            status: Some(StageKind::Won),
            ..Default::default()
        };
        let filter = query.filter().unwrap();
        assert_eq!(filter.q, None);
        assert_eq!(filter.status, Some(StageKind::Won));
    }

    #[test]
    fn a_query_round_trips_through_json_and_refuses_unknown_keys() {
        let query = LeadQuery {
            q: Some("renewal".into()),
            pipeline_id: Some(Uuid::now_v7()),
            stage_id: Some(Uuid::now_v7()),
            status: Some(StageKind::Lost),
            owner_id: Some(Uuid::now_v7()),
            contact_id: Some(Uuid::now_v7()),
            company_id: Some(Uuid::now_v7()),
            currency: Some("EUR".into()),
            value_min: Some("10".into()),
            value_max: Some("1250.50".into()),
            expected_close_from: NaiveDate::from_ymd_opt(2026, 1, 1),
            expected_close_to: NaiveDate::from_ymd_opt(2026, 12, 31),
            updated_after: Some(Utc::now()),
            include_deleted: true,
            custom_field: vec!["tier:eq:gold".into()],
        };
        let json = serde_json::to_value(&query).unwrap();
        assert_eq!(json["status"], "lost");
        assert_eq!(serde_json::from_value::<LeadQuery>(json).unwrap(), query);
        assert!(serde_json::from_str::<LeadQuery>(r#"{"sort": "value"}"#).is_err());
    }
}
