//! Business rules and validated types. No HTTP, no SQL: wire structs are parsed into these
//! types once ("parse, don't validate"), and everything past that point trusts them.

pub mod contact;
pub mod fields;

pub use fields::FieldError;
