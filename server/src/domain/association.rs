//! Association labels and the rules of an association: any two records of the four CRM
//! types, never a record with itself, and a label restricted to a pair of types joins
//! only that pair, in that direction.

use super::fields::{self, Errors, FieldError};

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
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub name: String,
    pub description: Option<String>,
    pub types: Option<(&'static str, &'static str)>,
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

    /// Whether an association from `from` to `to` may carry this label.
    pub fn fits(types: Option<(&str, &str)>, from: &str, to: &str) -> bool {
        types.is_none_or(|(f, t)| f == from && t == to)
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
}
