//! Contacts: the people a tenant works with. A contact needs at least a name or an email;
//! every field is bounded; email and phone are normalised.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::fields::{self, Errors, FieldError};
pub use super::Patch;

pub const NAME_MAX: usize = 100;
pub const TITLE_MAX: usize = 200;
pub const NOTES_MAX: usize = 10_000;

/// A contact as a client described it, before any check.
#[derive(Debug, Clone, Default)]
pub struct ContactInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub custom_fields: Map<String, Value>,
    pub company_id: Option<Uuid>,
    /// The user who owns the contact; whether it is one of the tenant's is the database's
    /// check (a composite foreign key).
    pub owner_id: Option<Uuid>,
}

/// A contact whose every field passed its rules; only this type reaches the database.
///
/// Its fields are private to `domain`: outside it a contact comes only from
/// [`Contact::parse`], a patch's [`ContactPatch::apply_to`], or the few named doors below
/// (each saying why it may skip the rules), so no code can write an unchecked one.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) title: Option<String>,
    pub(super) notes: Option<String>,
    pub(super) tags: Vec<String>,
    pub(super) custom_fields: Value,
    /// The contact's company; its existence is checked by the database.
    pub(super) company_id: Option<Uuid>,
    pub(super) owner_id: Option<Uuid>,
}

impl Contact {
    /// Checks every field and reports every bad one.
    pub fn parse(input: ContactInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let contact = Contact {
            first_name: errors.check(fields::optional_text(
                "first_name",
                input.first_name,
                NAME_MAX,
                false,
            )),
            last_name: errors.check(fields::optional_text(
                "last_name",
                input.last_name,
                NAME_MAX,
                false,
            )),
            email: errors.check(fields::optional_email("email", input.email)),
            phone: errors.check(fields::optional_phone("phone", input.phone)),
            title: errors.check(fields::optional_text(
                "title",
                input.title,
                TITLE_MAX,
                false,
            )),
            notes: errors.check(fields::optional_text("notes", input.notes, NOTES_MAX, true)),
            tags: errors.check(fields::tags("tags", input.tags)),
            custom_fields: errors
                .check(fields::custom_fields("custom_fields", input.custom_fields).map(Some))
                .unwrap_or_else(|| Value::Object(Map::new())),
            company_id: input.company_id,
            owner_id: input.owner_id,
        };
        // Only demand an identity when the fields that could give one are themselves valid:
        // otherwise the client would be told "name or email required" about an email it sent.
        let identity_fields_ok = !["first_name", "last_name", "email"]
            .iter()
            .any(|f| errors.has(f));
        if identity_fields_ok
            && contact.first_name.is_none()
            && contact.last_name.is_none()
            && contact.email.is_none()
        {
            for field in ["first_name", "last_name", "email"] {
                errors.push(FieldError::new(
                    field,
                    "required",
                    "a contact needs at least a first name, a last name or an email",
                ));
            }
        }
        errors.finish(contact)
    }

    /// A contact as it was stored: a row passed these rules when it was written, and is
    /// not checked again (a rule tightened since must not make a stored contact unreadable,
    /// and a merge or an unchanged batch item must write back exactly what is stored).
    /// For rows read from the database only; client input goes through [`Contact::parse`].
    pub fn from_stored(stored: ContactInput) -> Self {
        Contact {
            first_name: stored.first_name,
            last_name: stored.last_name,
            email: stored.email,
            phone: stored.phone,
            title: stored.title,
            notes: stored.notes,
            tags: stored.tags,
            custom_fields: Value::Object(stored.custom_fields),
            company_id: stored.company_id,
            owner_id: stored.owner_id,
        }
    }

    /// The contact with its custom field values replaced by `checked`: values that
    /// `app::custom_fields` validated and normalised against the tenant's definitions of
    /// contact fields (rules [`Contact::parse`] cannot know, as they live in the database).
    pub fn with_custom_fields(self, checked: Value) -> Self {
        Contact {
            custom_fields: checked,
            ..self
        }
    }

    pub fn first_name(&self) -> Option<&str> {
        self.first_name.as_deref()
    }

    pub fn last_name(&self) -> Option<&str> {
        self.last_name.as_deref()
    }

    /// Normalised by the rules: what the unique index compares, ignoring case.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    pub fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }

    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    pub fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Always a JSON object.
    pub fn custom_fields(&self) -> &Value {
        &self.custom_fields
    }

    pub fn company_id(&self) -> Option<Uuid> {
        self.company_id
    }

    pub fn owner_id(&self) -> Option<Uuid> {
        self.owner_id
    }

    /// The contact owned by `owner` when it names no owner: the default of a create (the
    /// acting user), never of an update, where a cleared owner stays cleared.
    pub fn owned_by_default(self, owner: Option<Uuid>) -> Self {
        Contact {
            owner_id: self.owner_id.or(owner),
            ..self
        }
    }

    /// Back to raw input, so a merge patch can be applied and the result checked again.
    pub fn into_input(self) -> ContactInput {
        ContactInput {
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            phone: self.phone,
            title: self.title,
            notes: self.notes,
            tags: self.tags,
            custom_fields: match self.custom_fields {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            company_id: self.company_id,
            owner_id: self.owner_id,
        }
    }
}

/// A merge patch of a contact. Clearing `tags` or `custom_fields` empties them.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    pub first_name: Patch<Option<String>>,
    pub last_name: Patch<Option<String>>,
    pub email: Patch<Option<String>>,
    pub phone: Patch<Option<String>>,
    pub title: Patch<Option<String>>,
    pub notes: Patch<Option<String>>,
    pub tags: Patch<Vec<String>>,
    pub custom_fields: Patch<Map<String, Value>>,
    pub company_id: Patch<Option<Uuid>>,
    pub owner_id: Patch<Option<Uuid>>,
}

impl ContactPatch {
    /// Applies the patch to `current` and checks the result as a whole, so a patch that
    /// clears the last identifying field is refused like a create without one would be.
    pub fn apply_to(self, current: Contact) -> Result<Contact, Vec<FieldError>> {
        self.apply_to_input(current.into_input())
    }

    /// As [`ContactPatch::apply_to`], over a contact as raw input (a stored row read back,
    /// or nothing at all for a batch item that creates): the result is parsed whole.
    pub fn apply_to_input(self, mut input: ContactInput) -> Result<Contact, Vec<FieldError>> {
        self.first_name.apply(&mut input.first_name);
        self.last_name.apply(&mut input.last_name);
        self.email.apply(&mut input.email);
        self.phone.apply(&mut input.phone);
        self.title.apply(&mut input.title);
        self.notes.apply(&mut input.notes);
        self.tags.apply(&mut input.tags);
        self.custom_fields.apply(&mut input.custom_fields);
        self.company_id.apply(&mut input.company_id);
        self.owner_id.apply(&mut input.owner_id);
        Contact::parse(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(first: &str) -> ContactInput {
        ContactInput {
            first_name: Some(first.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_contact_needs_a_name_or_an_email() {
        let errors = Contact::parse(ContactInput::default()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["first_name", "last_name", "email"]);
        assert!(Contact::parse(ContactInput {
            email: Some("a@example.com".into()),
            ..Default::default()
        })
        .is_ok());
    }

    #[test]
    fn every_bad_field_is_reported_once() {
        let errors = Contact::parse(ContactInput {
            first_name: Some("x".repeat(NAME_MAX + 1)),
            email: Some("nope".into()),
            phone: Some("123".into()),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["first_name", "email", "phone"]);
    }

    #[test]
    fn a_patch_keeps_absent_fields_clears_null_ones_and_sets_the_rest() {
        let current = Contact::parse(ContactInput {
            title: Some("CTO".into()),
            phone: Some("+14155552671".into()),
            ..named("Ann")
        })
        .unwrap();
        let patched = ContactPatch {
            title: Patch::Clear,
            last_name: Patch::Set(Some("Lee".into())),
            ..Default::default()
        }
        .apply_to(current)
        .unwrap();
        assert_eq!(patched.first_name.as_deref(), Some("Ann"));
        assert_eq!(patched.last_name.as_deref(), Some("Lee"));
        assert_eq!(patched.title, None);
        assert_eq!(patched.phone.as_deref(), Some("+14155552671"));
    }

    #[test]
    fn a_patch_cannot_clear_the_last_identifying_field() {
        let current = Contact::parse(named("Ann")).unwrap();
        let errors = ContactPatch {
            first_name: Patch::Clear,
            ..Default::default()
        }
        .apply_to(current)
        .unwrap_err();
        assert!(errors.iter().all(|e| e.code == "required"));
    }
}
