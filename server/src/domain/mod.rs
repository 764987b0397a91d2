//! Business rules and validated types. No HTTP, no SQL: wire structs are parsed into these
//! types once ("parse, don't validate"), and everything past that point trusts them.

pub mod activity;
pub mod association;
pub mod company;
pub mod contact;
pub mod credential;
pub mod custom_field;
pub mod export;
pub mod fields;
pub mod import;
pub mod lead;
pub mod merge;
pub mod pipeline;
pub mod record;
pub mod search;
pub mod user;
pub mod webhook;

pub use fields::FieldError;

/// One field of a JSON Merge Patch (RFC 7396): absent leaves it, `null` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn apply(self, target: &mut T)
    where
        T: Default,
    {
        match self {
            Patch::Keep => {}
            Patch::Clear => *target = T::default(),
            Patch::Set(value) => *target = value,
        }
    }
}
