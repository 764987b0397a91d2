//! A member of a tenant, as a request names them: an email and a name. What a user may
//! do — their role, and who may give or take it — is `auth::Role` and `app::users`.

use super::fields::{self, Errors};
use super::FieldError;

/// The longest name, in characters.
pub const NAME_MAX: usize = 200;

/// A new user's email and name, checked: a valid address (required) and a name of at most
/// [`NAME_MAX`] characters; blank text counts as absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    email: String,
    name: String,
}

impl NewUser {
    /// Every bad field reported at once, `email` first.
    pub fn parse(email: String, name: Option<String>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let email = errors.check(fields::optional_email("email", Some(email)));
        let name = errors.check(fields::optional_text("name", name, NAME_MAX, false));
        if email.is_none() && !errors.has("email") {
            errors.push(FieldError::new("email", "required", "must not be empty"));
        }
        let (email, name) = errors.finish((email.unwrap_or_default(), name))?;
        Ok(Self {
            email,
            name: name.unwrap_or_default(),
        })
    }

    pub fn email(&self) -> &str {
        &self.email
    }

    /// Empty when none was given.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A user's new name, checked like a new user's: blank text leaves the user without one
/// (stored as the empty string).
pub fn name(value: String) -> Result<String, FieldError> {
    Ok(fields::optional_text("name", Some(value), NAME_MAX, false)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_user_needs_an_email_and_every_bad_field_is_reported() {
        let user = NewUser::parse(" ann@example.com ".into(), Some("  ".into())).unwrap();
        assert_eq!((user.email(), user.name()), ("ann@example.com", ""));
        let fields = |email: &str, name: &str| {
            NewUser::parse(email.into(), Some(name.into()))
                .unwrap_err()
                .into_iter()
                .map(|e| (e.field, e.code))
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(" ", "Ann"), [("email".into(), "required")]);
        assert_eq!(
            fields("not-an-address", &"x".repeat(NAME_MAX + 1)),
            [
                ("email".into(), "invalid_email"),
                ("name".into(), "too_long")
            ]
        );
    }
}
