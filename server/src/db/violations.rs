//! Turning a broken constraint into the error a client can act on. Foreign keys carry the
//! tenant (`(tenant_id, x_id)`), so an id of another tenant breaks them exactly like an id
//! that does not exist, and both become the same 422 on the field.

use crate::domain::FieldError;
use crate::error::AppError;

/// The name of the constraint `err` broke, if it is a constraint violation.
pub fn constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// Whether `err` broke the named constraint.
pub fn broke(err: &sqlx::Error, name: &str) -> bool {
    constraint(err) == Some(name)
}

/// The detail for a reference to a record the tenant does not have.
pub fn unknown(field: &str, what: &str) -> FieldError {
    FieldError::new(field, "not_found", format!("no {what} with this id exists"))
}

/// Maps the foreign keys named in `references` (constraint, field, what it points at) to
/// a 422 on that field; any other error passes through.
pub fn references(err: sqlx::Error, references: &[(&str, &str, &str)]) -> AppError {
    let hit = constraint(&err).and_then(|name| {
        references
            .iter()
            .find(|(constraint, ..)| *constraint == name)
    });
    match hit {
        Some((_, field, what)) => AppError::Validation(vec![unknown(field, what)]),
        None => err.into(),
    }
}
