//! Association labels and the rules of an association: any two records of the four CRM
//! types, never a record with itself, and a label restricted to a pair of types joins
//! only that pair, in that direction.

use super::fields::{self, Errors, FieldError};
use super::Patch;

pub const LABEL_NAME_MAX: usize = 100;
pub const LABEL_DESCRIPTION_MAX: usize = 1000;

/// The record types, by wire name (`record::RecordType` names the same four).
pub const RECORD_TYPES: [&str; 4] = ["contact", "company", "lead", "activity"];

/// A record type's wire name as the `'static` constant the database layer binds.
pub fn record_type(name: &str) -> Option<&'static str> {
    RECORD_TYPES.into_iter().find(|t| *t == name)
}

/// A label's fields as sent.
#[derive(Debug, Clone, Default)]
pub struct LabelInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub from_type: Option<&'static str>,
    pub to_type: Option<&'static str>,
}

/// A checked label: a name, and the types given both or neither.
///
/// Its fields are private to `domain`: outside it a label comes only from
/// [`Label::parse`] or a patch's [`LabelPatch::apply_to`], so no code can write an
/// unchecked one.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) types: Option<(&'static str, &'static str)>,
}

impl Label {
    pub fn parse(input: LabelInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let name = errors.check(fields::optional_text(
            "name",
            input.name,
            LABEL_NAME_MAX,
            false,
        ));
        if name.is_none() && !errors.has("name") {
            errors.push(FieldError::new("name", "required", "must not be empty"));
        }
        let description = errors.check(fields::optional_text(
            "description",
            input.description,
            LABEL_DESCRIPTION_MAX,
            true,
        ));
        let types = match (input.from_type, input.to_type) {
            (Some(from), Some(to)) => Some((from, to)),
            (None, None) => None,
            (Some(_), None) => {
                errors.push(FieldError::new(
                    "to_type",
                    "required",
                    "must be given with `from_type` (a label restricts both ends or neither)",
                ));
                None
            }
            (None, Some(_)) => {
                errors.push(FieldError::new(
                    "from_type",
                    "required",
                    "must be given with `to_type` (a label restricts both ends or neither)",
                ));
                None
            }
        };
        errors.finish(Self {
            name: name.unwrap_or_default(),
            description,
            types,
        })
    }

    /// Never blank.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The types of the ends it joins, `from` then `to`; `None` when it joins any.
    pub fn types(&self) -> Option<(&'static str, &'static str)> {
        self.types
    }

    /// Whether an association from `from` to `to` may carry this label.
    pub fn fits(types: Option<(&str, &str)>, from: &str, to: &str) -> bool {
        types.is_none_or(|(f, t)| f == from && t == to)
    }
}

/// Changes to a label, as a JSON Merge Patch: a name or a type left out is kept, a
/// `description` of `null` clears it, and `unrestricted` lifts the type restriction.
#[derive(Debug, Clone, Default)]
pub struct LabelPatch {
    pub name: Option<String>,
    pub description: Patch<Option<String>>,
    pub from_type: Option<&'static str>,
    pub to_type: Option<&'static str>,
    pub unrestricted: bool,
}

impl LabelPatch {
    /// Lays the patch over `current` (the label as stored) and checks the result as a
    /// whole, like a new label: a type sent alone must pair with the one kept.
    pub fn apply_to(self, current: LabelInput) -> Result<Label, Vec<FieldError>> {
        if self.unrestricted && (self.from_type.is_some() || self.to_type.is_some()) {
            return Err(vec![FieldError::new(
                "unrestricted",
                "conflicting",
                "cannot be combined with `from_type` or `to_type`",
            )]);
        }
        let mut input = current;
        if let Some(name) = self.name {
            input.name = Some(name);
        }
        self.description.apply(&mut input.description);
        if let Some(from_type) = self.from_type {
            input.from_type = Some(from_type);
        }
        if let Some(to_type) = self.to_type {
            input.to_type = Some(to_type);
        }
        if self.unrestricted {
            input.from_type = None;
            input.to_type = None;
        }
        Label::parse(input)
    }
}

/// The ends of a new association: refused when they are the same record.
pub fn check_ends(from: (&str, uuid::Uuid), to: (&str, uuid::Uuid)) -> Result<(), Vec<FieldError>> {
    if from == to {
        return Err(vec![FieldError::new(
            "to_id",
            "self_link",
            "a record cannot be associated with itself",
        )]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_needs_a_name_and_both_types_or_neither() {
        let err = Label::parse(LabelInput {
            name: Some("  ".into()),
            from_type: Some("company"),
            ..LabelInput::default()
        })
        .unwrap_err();
        let fields: Vec<_> = err.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "to_type"]);
        let ok = Label::parse(LabelInput {
            name: Some(" Parent ".into()),
            from_type: Some("company"),
            to_type: Some("company"),
            ..LabelInput::default()
        })
        .unwrap();
        assert_eq!(ok.name, "Parent");
        assert!(Label::fits(ok.types, "company", "company"));
        assert!(!Label::fits(ok.types, "contact", "company"));
        assert!(Label::fits(None, "contact", "lead"));
    }

    #[test]
    fn a_record_is_never_associated_with_itself() {
        let id = uuid::Uuid::now_v7();
        assert!(check_ends(("contact", id), ("contact", id)).is_err());
        assert!(check_ends(("contact", id), ("company", uuid::Uuid::now_v7())).is_ok());
    }

    fn parent() -> LabelInput {
        LabelInput {
            name: Some("Parent".into()),
            description: Some("Owns it".into()),
            from_type: Some("company"),
            to_type: Some("company"),
        }
    }

    #[test]
    fn a_label_patch_keeps_absent_fields_and_clears_null_ones() {
        let patched = LabelPatch {
            description: Patch::Clear,
            unrestricted: true,
            ..LabelPatch::default()
        }
        .apply_to(parent())
        .unwrap();
        assert_eq!(patched.name, "Parent");
        assert_eq!((patched.description, patched.types), (None, None));
        let patched = LabelPatch {
            from_type: Some("contact"),
            ..LabelPatch::default()
        }
        .apply_to(parent())
        .unwrap();
        assert_eq!(patched.types, Some(("contact", "company")));
        assert_eq!(patched.description.as_deref(), Some("Owns it"));
    }

    #[test]
    fn a_label_patch_cannot_both_lift_and_set_the_types() {
        let errors = LabelPatch {
            to_type: Some("lead"),
            unrestricted: true,
            name: Some(" ".into()),
            ..LabelPatch::default()
        }
        .apply_to(parent())
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["unrestricted"]);
    }
}
