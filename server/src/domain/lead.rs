//! Leads: deals moving through a pipeline. A lead sits in one stage of its pipeline and
//! its status follows that stage's kind; a lost lead says why; an amount is a decimal in
//! an ISO 4217 currency, never a binary float.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::contact::NAME_MAX as PERSON_NAME_MAX;
use super::fields::{self, Errors, FieldError};
use super::pipeline::StageKind;
pub use super::Patch;

pub const TITLE_MAX: usize = 200;
pub const SOURCE_MAX: usize = 100;
pub const LOST_REASON_MAX: usize = 500;
pub const COMPANY_NAME_MAX: usize = super::company::NAME_MAX;

/// A lead as a client described it, before any check.
#[derive(Debug, Clone, Default)]
pub struct LeadInput {
    pub title: Option<String>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub pipeline_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub value: Option<String>,
    pub currency: Option<String>,
    pub expected_close_date: Option<NaiveDate>,
    pub owner_id: Option<Uuid>,
    pub source: Option<String>,
    pub lost_reason: Option<String>,
    pub prospect: Prospect,
}

/// Who a lead is about before it is converted into a contact and a company.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prospect {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company_name: Option<String>,
    pub company_domain: Option<String>,
}

/// A lead whose fields passed their rules. Where it sits is checked against the database
/// (the stage must exist in the pipeline) before it is written.
///
/// Its fields are private to `domain`: outside it a lead comes only from [`Lead::parse`]
/// or a patch's [`LeadPatch::apply_to`], so no code can write an unchecked one.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    pub(super) title: String,
    pub(super) contact_id: Option<Uuid>,
    pub(super) company_id: Option<Uuid>,
    pub(super) pipeline_id: Option<Uuid>,
    pub(super) stage_id: Option<Uuid>,
    pub(super) value: Option<Decimal>,
    pub(super) currency: Option<String>,
    pub(super) expected_close_date: Option<NaiveDate>,
    pub(super) owner_id: Option<Uuid>,
    pub(super) source: Option<String>,
    pub(super) lost_reason: Option<String>,
    pub(super) prospect: Prospect,
}

impl Lead {
    /// Checks every field and reports every bad one.
    pub fn parse(input: LeadInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let title = errors.check(fields::optional_text(
            "title",
            input.title,
            TITLE_MAX,
            false,
        ));
        if title.is_none() && !errors.has("title") {
            errors.push(FieldError::new("title", "required", "a lead needs a title"));
        }
        let currency = match input.currency.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(code) => errors.check(fields::currency("currency", code).map(Some)),
        };
        let value = match input.value {
            None => None,
            Some(_) if currency.is_none() && !errors.has("currency") => {
                errors.push(FieldError::new(
                    "currency",
                    "required",
                    "a value needs its ISO 4217 currency",
                ));
                None
            }
            Some(text) => errors.check(fields::amount("value", &text, currency).map(Some)),
        };
        // Neither `pipeline_id` nor `stage_id`: the tenant's default pipeline, which only
        // the database knows (`app::leads::place`).
        let text = |errors: &mut Errors, field: &str, value: Option<String>, max: usize| {
            errors.check(fields::optional_text(field, value, max, false))
        };
        let p = input.prospect;
        let prospect = Prospect {
            first_name: text(
                &mut errors,
                "prospect_first_name",
                p.first_name,
                PERSON_NAME_MAX,
            ),
            last_name: text(
                &mut errors,
                "prospect_last_name",
                p.last_name,
                PERSON_NAME_MAX,
            ),
            email: errors.check(fields::optional_email("prospect_email", p.email)),
            phone: errors.check(fields::optional_phone("prospect_phone", p.phone)),
            company_name: text(
                &mut errors,
                "prospect_company_name",
                p.company_name,
                COMPANY_NAME_MAX,
            ),
            company_domain: errors.check(fields::optional_domain(
                "prospect_company_domain",
                p.company_domain,
            )),
        };
        let lead = Lead {
            title: title.unwrap_or_default(),
            contact_id: input.contact_id,
            company_id: input.company_id,
            pipeline_id: input.pipeline_id,
            stage_id: input.stage_id,
            value,
            currency: currency.map(|c| c.code().to_owned()),
            expected_close_date: input.expected_close_date,
            owner_id: input.owner_id,
            source: text(&mut errors, "source", input.source, SOURCE_MAX),
            lost_reason: text(
                &mut errors,
                "lost_reason",
                input.lost_reason,
                LOST_REASON_MAX,
            ),
            prospect,
        };
        errors.finish(lead)
    }

    /// Never blank.
    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn contact_id(&self) -> Option<Uuid> {
        self.contact_id
    }

    pub fn company_id(&self) -> Option<Uuid> {
        self.company_id
    }

    /// The pipeline asked for; `None` when only a stage was (its pipeline is the stage's).
    pub fn pipeline_id(&self) -> Option<Uuid> {
        self.pipeline_id
    }

    /// The stage asked for; `None` for the pipeline's first stage.
    pub fn stage_id(&self) -> Option<Uuid> {
        self.stage_id
    }

    /// Scaled to its currency's decimals; never without a currency.
    pub fn value(&self) -> Option<Decimal> {
        self.value
    }

    /// An ISO 4217 code, upper case.
    pub fn currency(&self) -> Option<&str> {
        self.currency.as_deref()
    }

    pub fn expected_close_date(&self) -> Option<NaiveDate> {
        self.expected_close_date
    }

    pub fn owner_id(&self) -> Option<Uuid> {
        self.owner_id
    }

    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    pub fn lost_reason(&self) -> Option<&str> {
        self.lost_reason.as_deref()
    }

    pub fn prospect(&self) -> &Prospect {
        &self.prospect
    }

    /// Back to raw input, so a merge patch can be applied and the result checked again.
    /// The amount is written with as many decimals as its currency has, as the API shows
    /// it, so it passes the same rules it passed when it was written.
    pub fn into_input(self) -> LeadInput {
        LeadInput {
            title: Some(self.title),
            contact_id: self.contact_id,
            company_id: self.company_id,
            pipeline_id: self.pipeline_id,
            stage_id: self.stage_id,
            value: self
                .value
                .map(|v| fields::format_amount(v, self.currency.as_deref())),
            currency: self.currency,
            expected_close_date: self.expected_close_date,
            owner_id: self.owner_id,
            source: self.source,
            lost_reason: self.lost_reason,
            prospect: self.prospect,
        }
    }

    /// The rules of the stage the lead lands in: a lost lead says why.
    pub fn check_stage(&self, kind: StageKind) -> Result<(), Vec<FieldError>> {
        if kind == StageKind::Lost && self.lost_reason.is_none() {
            return Err(vec![FieldError::new(
                "lost_reason",
                "required",
                "a lead moved to a lost stage needs a `lost_reason`",
            )]);
        }
        Ok(())
    }
}

/// A merge patch of a lead. `title`, `pipeline_id` and `stage_id` can be replaced but not
/// cleared (`None` keeps them); the other fields can be cleared too. `custom_fields` is
/// merged key by key against the tenant's definitions by the caller, not here.
#[derive(Debug, Clone, Default)]
pub struct LeadPatch {
    pub title: Option<String>,
    pub contact_id: Patch<Option<Uuid>>,
    pub company_id: Patch<Option<Uuid>>,
    pub pipeline_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub value: Patch<Option<String>>,
    pub currency: Patch<Option<String>>,
    pub expected_close_date: Patch<Option<NaiveDate>>,
    pub owner_id: Patch<Option<Uuid>>,
    pub source: Patch<Option<String>>,
    pub lost_reason: Patch<Option<String>>,
    pub prospect_first_name: Patch<Option<String>>,
    pub prospect_last_name: Patch<Option<String>>,
    pub prospect_email: Patch<Option<String>>,
    pub prospect_phone: Patch<Option<String>>,
    pub prospect_company_name: Patch<Option<String>>,
    pub prospect_company_domain: Patch<Option<String>>,
    pub custom_fields: Patch<Map<String, Value>>,
}

impl LeadPatch {
    /// Applies the patch to `current` and checks the result as a whole, like a create. A
    /// new `pipeline_id` without a `stage_id` drops the current stage, so the lead lands
    /// in that pipeline's first stage. An owner cleared stays cleared: the default owner
    /// is a rule of creation only.
    pub fn apply_to(self, current: Lead) -> Result<Lead, Vec<FieldError>> {
        self.apply_to_input(current.into_input())
    }

    /// As [`LeadPatch::apply_to`], over a lead as raw input (a stored row read back): the
    /// result is parsed whole.
    pub fn apply_to_input(self, mut input: LeadInput) -> Result<Lead, Vec<FieldError>> {
        if let Some(title) = self.title {
            input.title = Some(title);
        }
        self.contact_id.apply(&mut input.contact_id);
        self.company_id.apply(&mut input.company_id);
        if let Some(pipeline_id) = self.pipeline_id {
            input.pipeline_id = Some(pipeline_id);
            input.stage_id = None;
        }
        if let Some(stage_id) = self.stage_id {
            input.stage_id = Some(stage_id);
        }
        self.value.apply(&mut input.value);
        self.currency.apply(&mut input.currency);
        self.expected_close_date
            .apply(&mut input.expected_close_date);
        self.owner_id.apply(&mut input.owner_id);
        self.source.apply(&mut input.source);
        self.lost_reason.apply(&mut input.lost_reason);
        let p = &mut input.prospect;
        self.prospect_first_name.apply(&mut p.first_name);
        self.prospect_last_name.apply(&mut p.last_name);
        self.prospect_email.apply(&mut p.email);
        self.prospect_phone.apply(&mut p.phone);
        self.prospect_company_name.apply(&mut p.company_name);
        self.prospect_company_domain.apply(&mut p.company_domain);
        Lead::parse(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titled() -> LeadInput {
        LeadInput {
            title: Some("Big deal".into()),
            pipeline_id: Some(Uuid::now_v7()),
            ..Default::default()
        }
    }

    #[test]
    fn a_value_needs_a_currency_and_is_scaled_to_it() {
        let errors = Lead::parse(LeadInput {
            value: Some("10".into()),
            ..titled()
        })
        .unwrap_err();
        assert_eq!(errors[0].field, "currency");
        let lead = Lead::parse(LeadInput {
            value: Some("10.5".into()),
            currency: Some("usd".into()),
            ..titled()
        })
        .unwrap();
        assert_eq!(lead.value.map(|v| v.to_string()).as_deref(), Some("10.50"));
        assert_eq!(lead.currency.as_deref(), Some("USD"));
    }

    #[test]
    fn a_lead_needs_a_title_and_may_leave_its_place_to_the_default_pipeline() {
        let errors = Lead::parse(LeadInput::default()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title"]);
    }

    #[test]
    fn a_patch_keeps_absent_fields_clears_null_ones_and_sets_the_rest() {
        let current = Lead::parse(LeadInput {
            value: Some("10".into()),
            currency: Some("EUR".into()),
            source: Some("web".into()),
            stage_id: Some(Uuid::now_v7()),
            ..titled()
        })
        .unwrap();
        let patched = LeadPatch {
            title: Some("Bigger deal".into()),
            source: Patch::Clear,
            ..Default::default()
        }
        .apply_to(current.clone())
        .unwrap();
        assert_eq!(patched.title, "Bigger deal");
        assert_eq!(patched.source, None);
        assert_eq!(
            patched.value.map(|v| v.to_string()).as_deref(),
            Some("10.00")
        );
        assert_eq!(patched.stage_id, current.stage_id);
        let errors = LeadPatch {
            currency: Patch::Clear,
            ..Default::default()
        }
        .apply_to(current)
        .unwrap_err();
        assert_eq!(errors[0].field, "currency");
    }

    #[test]
    fn a_new_pipeline_alone_leaves_the_stage_to_it() {
        let current = Lead::parse(LeadInput {
            stage_id: Some(Uuid::now_v7()),
            ..titled()
        })
        .unwrap();
        let pipeline_id = Uuid::now_v7();
        let moved = LeadPatch {
            pipeline_id: Some(pipeline_id),
            ..Default::default()
        }
        .apply_to(current.clone())
        .unwrap();
        assert_eq!(
            (moved.pipeline_id, moved.stage_id),
            (Some(pipeline_id), None)
        );
        let stage_id = Uuid::now_v7();
        let placed = LeadPatch {
            pipeline_id: Some(pipeline_id),
            stage_id: Some(stage_id),
            ..Default::default()
        }
        .apply_to(current)
        .unwrap();
        assert_eq!(placed.stage_id, Some(stage_id));
    }

    #[test]
    fn a_lost_stage_needs_a_reason() {
        let lead = Lead::parse(titled()).unwrap();
        assert!(lead.check_stage(StageKind::Open).is_ok());
        assert_eq!(
            lead.check_stage(StageKind::Lost).unwrap_err()[0].field,
            "lost_reason"
        );
    }
}
