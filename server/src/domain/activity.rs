//! Activities: notes, calls, emails, meetings and tasks, linked to any of a contact, a
//! company and a lead. The server writes `stage_change` activities itself when a lead
//! moves; those are read-only.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::fields::{self, Errors, FieldError};
pub use super::Patch;

pub const SUBJECT_MAX: usize = 200;
pub const BODY_MAX: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityType {
    Note,
    Call,
    Email,
    Meeting,
    Task,
    /// Written by the server when a lead changes stage.
    StageChange,
}

impl ActivityType {
    pub const ALL: [Self; 6] = [
        Self::Note,
        Self::Call,
        Self::Email,
        Self::Meeting,
        Self::Task,
        Self::StageChange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Note => "note",
            Self::Call => "call",
            Self::Email => "email",
            Self::Meeting => "meeting",
            Self::Task => "task",
            Self::StageChange => "stage_change",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

/// An activity as a client described it.
#[derive(Debug, Clone)]
pub struct ActivityInput {
    pub kind: ActivityType,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub owner_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
}

/// A checked activity, as written by a client (never a system one).
///
/// Its fields are private to `domain`: outside it an activity comes only from
/// [`Activity::parse`] or a patch's [`ActivityPatch::apply_to`], so no code can write an
/// unchecked one.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub(super) kind: ActivityType,
    pub(super) subject: Option<String>,
    pub(super) body: Option<String>,
    pub(super) due_at: Option<DateTime<Utc>>,
    pub(super) completed_at: Option<DateTime<Utc>>,
    pub(super) owner_id: Option<Uuid>,
    pub(super) contact_id: Option<Uuid>,
    pub(super) company_id: Option<Uuid>,
    pub(super) lead_id: Option<Uuid>,
}

impl Activity {
    pub fn parse(input: ActivityInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        if input.kind == ActivityType::StageChange {
            errors.push(FieldError::new(
                "type",
                "read_only",
                "`stage_change` activities are written by the server",
            ));
        }
        let subject = errors.check(fields::optional_text(
            "subject",
            input.subject,
            SUBJECT_MAX,
            false,
        ));
        let body = errors.check(fields::optional_text("body", input.body, BODY_MAX, true));
        if subject.is_none() && body.is_none() && !errors.has("subject") && !errors.has("body") {
            for field in ["subject", "body"] {
                errors.push(FieldError::new(
                    field,
                    "required",
                    "an activity needs a subject or a body",
                ));
            }
        }
        errors.finish(Activity {
            kind: input.kind,
            subject,
            body,
            due_at: input.due_at,
            completed_at: input.completed_at,
            owner_id: input.owner_id,
            contact_id: input.contact_id,
            company_id: input.company_id,
            lead_id: input.lead_id,
        })
    }
}

impl Activity {
    /// Never [`ActivityType::StageChange`]: those are the server's.
    pub fn kind(&self) -> ActivityType {
        self.kind
    }

    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        self.due_at
    }

    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at
    }

    pub fn owner_id(&self) -> Option<Uuid> {
        self.owner_id
    }

    pub fn contact_id(&self) -> Option<Uuid> {
        self.contact_id
    }

    pub fn company_id(&self) -> Option<Uuid> {
        self.company_id
    }

    pub fn lead_id(&self) -> Option<Uuid> {
        self.lead_id
    }

    /// Back to raw input, so a merge patch can be applied and the result checked again.
    pub fn into_input(self) -> ActivityInput {
        ActivityInput {
            kind: self.kind,
            subject: self.subject,
            body: self.body,
            due_at: self.due_at,
            completed_at: self.completed_at,
            owner_id: self.owner_id,
            contact_id: self.contact_id,
            company_id: self.company_id,
            lead_id: self.lead_id,
        }
    }
}

/// A merge patch of an activity. Its `kind` can be replaced but not cleared (`None`
/// keeps it). `custom_fields` is merged key by key against the tenant's definitions by
/// the caller, not here.
#[derive(Debug, Clone, Default)]
pub struct ActivityPatch {
    pub kind: Option<ActivityType>,
    pub subject: Patch<Option<String>>,
    pub body: Patch<Option<String>>,
    pub due_at: Patch<Option<DateTime<Utc>>>,
    pub completed_at: Patch<Option<DateTime<Utc>>>,
    pub owner_id: Patch<Option<Uuid>>,
    pub contact_id: Patch<Option<Uuid>>,
    pub company_id: Patch<Option<Uuid>>,
    pub lead_id: Patch<Option<Uuid>>,
    pub custom_fields: Patch<Map<String, Value>>,
}

impl ActivityPatch {
    /// Applies the patch to `current` and checks the result as a whole, like a create (an
    /// owner cleared stays cleared: the default owner is a rule of creation only).
    pub fn apply_to(self, current: Activity) -> Result<Activity, Vec<FieldError>> {
        self.apply_to_input(current.into_input())
    }

    /// As [`ActivityPatch::apply_to`], over an activity as raw input (a stored row read
    /// back): the result is parsed whole.
    pub fn apply_to_input(self, mut input: ActivityInput) -> Result<Activity, Vec<FieldError>> {
        if let Some(kind) = self.kind {
            input.kind = kind;
        }
        self.subject.apply(&mut input.subject);
        self.body.apply(&mut input.body);
        self.due_at.apply(&mut input.due_at);
        self.completed_at.apply(&mut input.completed_at);
        self.owner_id.apply(&mut input.owner_id);
        self.contact_id.apply(&mut input.contact_id);
        self.company_id.apply(&mut input.company_id);
        self.lead_id.apply(&mut input.lead_id);
        Activity::parse(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: ActivityType) -> ActivityInput {
        ActivityInput {
            kind,
            subject: None,
            body: None,
            due_at: None,
            completed_at: None,
            owner_id: None,
            contact_id: None,
            company_id: None,
            lead_id: None,
        }
    }

    #[test]
    fn an_activity_says_something_and_clients_cannot_write_system_ones() {
        let errors = Activity::parse(input(ActivityType::Call)).unwrap_err();
        assert_eq!(errors.len(), 2);
        let errors = Activity::parse(ActivityInput {
            subject: Some("moved".into()),
            ..input(ActivityType::StageChange)
        })
        .unwrap_err();
        assert_eq!(errors[0].code, "read_only");
        assert!(Activity::parse(ActivityInput {
            body: Some("Called\nleft a message".into()),
            ..input(ActivityType::Call)
        })
        .is_ok());
    }

    #[test]
    fn a_patch_cannot_leave_an_activity_saying_nothing() {
        let current = Activity::parse(ActivityInput {
            subject: Some("Call back".into()),
            owner_id: Some(Uuid::now_v7()),
            ..input(ActivityType::Call)
        })
        .unwrap();
        let patched = ActivityPatch {
            kind: Some(ActivityType::Task),
            owner_id: Patch::Clear,
            body: Patch::Set(Some("about the offer".into())),
            ..Default::default()
        }
        .apply_to(current.clone())
        .unwrap();
        assert_eq!(patched.kind, ActivityType::Task);
        assert_eq!(patched.owner_id, None);
        assert_eq!(patched.subject.as_deref(), Some("Call back"));
        let errors = ActivityPatch {
            subject: Patch::Clear,
            ..Default::default()
        }
        .apply_to(current)
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["subject", "body"]);
    }
}
