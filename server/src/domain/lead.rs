//! Leads: deals moving through a pipeline. A lead sits in one stage of its pipeline and
//! its status follows that stage's kind; a lost lead says why; an amount is a decimal in
//! an ISO 4217 currency, never a binary float.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::contact::NAME_MAX as PERSON_NAME_MAX;
use super::fields::{self, Errors, FieldError};
use super::pipeline::StageKind;

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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lead {
    pub title: String,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub pipeline_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub value: Option<Decimal>,
    pub currency: Option<String>,
    pub expected_close_date: Option<NaiveDate>,
    pub owner_id: Option<Uuid>,
    pub source: Option<String>,
    pub lost_reason: Option<String>,
    pub prospect: Prospect,
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
        if input.pipeline_id.is_none() && input.stage_id.is_none() {
            errors.push(FieldError::new(
                "pipeline_id",
                "required",
                "a lead needs a `pipeline_id` (it starts in the first stage) or a `stage_id`",
            ));
        }
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
    fn a_lead_needs_a_title_and_somewhere_to_be() {
        let errors = Lead::parse(LeadInput::default()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "pipeline_id"]);
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
