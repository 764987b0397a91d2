//! Wire types whose limits appear in the document but are enforced by the domain layer.
//!
//! poem-openapi's `validator(max_length = ..)` would reject an over-long field before the
//! handler runs, with a 400 naming only the first problem. These types document the same
//! limits (`maxLength`, `maxItems`) yet accept any string, so the domain rules can report
//! every bad field at once as a 422 with one `details` entry each. They are strict about
//! JSON types: a number where a string belongs is a malformed request (400).

use std::borrow::Cow;
use std::collections::BTreeMap;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{MaybeUndefined, ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::{Map, Value};

use crate::domain::Patch;

/// A string of at most `MAX` characters (checked by the domain rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MAX: usize>(pub String);

/// An email address of at most 254 characters (syntax checked by the domain rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(pub String);

/// A list of at most `ITEMS` strings of at most `LEN` characters each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextList<const ITEMS: usize, const LEN: usize>(pub Vec<String>);

fn expect_string<T: Type>(value: Option<Value>) -> Result<String, ParseError<T>> {
    match value {
        Some(Value::String(s)) => Ok(s),
        other => Err(ParseError::expected_type(other.unwrap_or_default())),
    }
}

impl<const MAX: usize> Type for Text<MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("string(max_length={MAX})").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            max_length: Some(MAX),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<const MAX: usize> ParseFromJSON for Text<MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        expect_string::<Self>(value).map(Self)
    }
}

impl<const MAX: usize> ToJSON for Text<MAX> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

impl Type for Email {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(email)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            max_length: Some(crate::domain::fields::EMAIL_MAX),
            format: Some("email"),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for Email {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        expect_string::<Self>(value).map(Self)
    }
}

impl ToJSON for Email {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

impl<const ITEMS: usize, const LEN: usize> Type for TextList<ITEMS, LEN> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("[string(max_length={LEN})](max_items={ITEMS})").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            max_items: Some(ITEMS),
            items: Some(Box::new(Text::<LEN>::schema_ref())),
            ..MetaSchema::new("array")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<const ITEMS: usize, const LEN: usize> ParseFromJSON for TextList<ITEMS, LEN> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| expect_string::<Self>(Some(item)))
                .collect::<Result<Vec<_>, _>>()
                .map(Self),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl<const ITEMS: usize, const LEN: usize> ToJSON for TextList<ITEMS, LEN> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Array(
            self.0.iter().cloned().map(Value::String).collect(),
        ))
    }
}

/// A list of `MIN` to `MAX` items (no `minItems` when `MIN` is 0), counted by the handler
/// or the domain rules: poem-openapi's `min_items`/`max_items` validators would refuse a
/// wrong count with a 400 naming nothing, where every other limit is a 422 naming the
/// field. The items themselves are parsed as `T` parses them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bounded<T, const MIN: usize, const MAX: usize>(pub Vec<T>);

impl<T: Type, const MIN: usize, const MAX: usize> Type for Bounded<T, MIN, MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("[{}](min_items={MIN},max_items={MAX})", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            items: Some(Box::new(T::schema_ref())),
            min_items: (MIN > 0).then_some(MIN),
            max_items: Some(MAX),
            ..MetaSchema::new("array")
        }))
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<T: ParseFromJSON, const MIN: usize, const MAX: usize> ParseFromJSON for Bounded<T, MIN, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Vec::<T>::parse_from_json(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

impl<T: ToJSON, const MIN: usize, const MAX: usize> ToJSON for Bounded<T, MIN, MAX> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

/// A string and nothing else: poem-openapi's `String` also takes a JSON number or
/// boolean (`12345` becoming `"12345"`), which turns a wrong type into a rule failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str(pub String);

impl Type for Str {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for Str {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        expect_string::<Self>(value).map(Self)
    }
}

impl ToJSON for Str {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A UUID path parameter. poem-openapi reports an unparsable path parameter under an
/// internal name (`param0`), so this type accepts any text and the handler turns a bad
/// one into a 400 that names the parameter as the document does.
#[derive(Debug, Clone)]
pub struct PathId(Result<uuid::Uuid, ()>);

impl PathId {
    pub fn parse(&self, name: &str) -> Result<uuid::Uuid, crate::error::AppError> {
        self.0.map_err(|()| crate::error::AppError::BadRequest {
            message: format!("invalid parameter `{name}`"),
            details: vec![crate::domain::FieldError::new(
                name,
                "invalid",
                "must be a UUID, e.g. 0192f1c4-8f3a-7b4e-9d2c-5a6b7c8d9e0f",
            )],
        })
    }
}

impl Type for PathId {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        uuid::Uuid::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        uuid::Uuid::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl poem_openapi::types::ParseFromParameter for PathId {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self(uuid::Uuid::parse_str(value).map_err(|_| ())))
    }
}

/// An integer between `MIN` and `MAX` (checked by the domain rules, so an out-of-range
/// value is a 422 naming the field; a non-integer is a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int<const MIN: i64, const MAX: i64>(pub i64);

impl<const MIN: i64, const MAX: i64> Type for Int<MIN, MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("integer(minimum={MIN},maximum={MAX})").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("int64"),
            minimum: Some(MIN as f64),
            maximum: Some(MAX as f64),
            ..MetaSchema::new("integer")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<const MIN: i64, const MAX: i64> ParseFromJSON for Int<MIN, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Number(n)) if n.is_i64() => Ok(Self(n.as_i64().unwrap_or_default())),
            // Beyond i64: still an integer, and certainly out of range.
            Some(Value::Number(n)) if n.is_u64() => Ok(Self(i64::MAX)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl<const MIN: i64, const MAX: i64> ToJSON for Int<MIN, MAX> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

/// A decimal amount as a JSON string (`"1250.50"`), never a binary float: the document
/// says `format: decimal`; the domain rules check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount(pub String);

impl Type for Amount {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(decimal)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("decimal"),
            max_length: Some(24),
            example: Some(Value::String("1250.50".into())),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for Amount {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        expect_string::<Self>(value).map(Self)
    }
}

impl ToJSON for Amount {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The plain value of an optional bounded text.
pub fn text<const N: usize>(value: Option<Text<N>>) -> Option<String> {
    value.map(|t| t.0)
}

/// A calendar date, `YYYY-MM-DD` (the document's standard `format: date`; poem-openapi
/// would declare chrono's date as the non-standard `naive-date`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub chrono::NaiveDate);

impl Date {
    fn parse_str(value: &str) -> Option<Self> {
        chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .map(Self)
    }
}

impl Type for Date {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(date)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("date"),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for Date {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let text = expect_string::<Self>(value)?;
        Self::parse_str(&text).ok_or_else(|| ParseError::custom("must be a date, YYYY-MM-DD"))
    }
}

impl ToJSON for Date {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.format("%Y-%m-%d").to_string()))
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%Y-%m-%d"))
    }
}

impl poem_openapi::types::ParseFromParameter for Date {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse_str(value).ok_or_else(|| ParseError::custom("must be a date, YYYY-MM-DD"))
    }
}

/// A merge-patch field as the domain's [`Patch`]: left out keeps, `null` clears, a value
/// is turned by `f` and set.
pub fn patch<T, U>(value: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Patch<U> {
    match value {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(v) => Patch::Set(f(v)),
    }
}

/// A merge patch of `custom_fields` as the domain's [`Patch`] of the map.
pub fn merge_patch(value: MaybeUndefined<BTreeMap<String, Value>>) -> Patch<Map<String, Value>> {
    patch(value, |m| m.into_iter().collect())
}

/// A request field that may be left out but is never `null`: what the document declares
/// for a field that has no "cleared" state (a patch's `name`, a stage's `kind`).
/// poem-openapi reads `null` into an `Option` as if the field were absent, which would
/// accept a request the document says is invalid and, in a patch, quietly keep a value
/// the client asked to remove; this refuses it as a malformed request (400) instead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotNull<T>(pub Option<T>);

impl<T: Type> Type for NotNull<T> {
    const IS_REQUIRED: bool = false;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("optional_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ParseFromJSON> ParseFromJSON for NotNull<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Ok(Self(None)),
            Some(Value::Null) => Err(ParseError::custom(
                "must not be null (leave the field out instead)",
            )),
            value => T::parse_from_json(value)
                .map(|v| Self(Some(v)))
                .map_err(ParseError::propagate),
        }
    }
}

impl<T: ToJSON> ToJSON for NotNull<T> {
    fn to_json(&self) -> Option<Value> {
        self.0.as_ref().and_then(ToJSON::to_json)
    }
}

/// An import's column mapping, `<header>:<field>` (`<header>:` ignores the column). The
/// header may hold `:` itself: the last one separates, as no field name has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMapping {
    pub column: String,
    /// Empty: the column is ignored.
    pub field: String,
}

impl ColumnMapping {
    const PATTERN: &'static str =
        r"^[^\x00-\x1f]{1,200}:((custom_fields\.)?[a-z][a-z0-9_]{0,62})?$";

    fn parse_str(value: &str) -> Option<Self> {
        let (column, field) = value.rsplit_once(':')?;
        let column_ok = !column.is_empty()
            && column.chars().count() <= 200
            && !column.chars().any(|c| c.is_control() && (c as u32) < 0x20);
        let name = field.strip_prefix("custom_fields.").unwrap_or(field);
        let field_ok = field.is_empty()
            || (name.len() <= 63
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        (column_ok && field_ok).then(|| Self {
            column: column.to_owned(),
            field: field.to_owned(),
        })
    }
}

impl Type for ColumnMapping {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(column_mapping)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some(Self::PATTERN.to_owned()),
            max_length: Some(264),
            example: Some(Value::String("E-mail:email".into())),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for ColumnMapping {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let text = expect_string::<Self>(value)?;
        Self::parse_str(&text).ok_or_else(|| ParseError::custom(MAPPING_FORMAT))
    }
}

impl ToJSON for ColumnMapping {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(format!("{}:{}", self.column, self.field)))
    }
}

impl poem_openapi::types::ParseFromParameter for ColumnMapping {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse_str(value).ok_or_else(|| ParseError::custom(MAPPING_FORMAT))
    }
}

const MAPPING_FORMAT: &str =
    "must be `<header>:<field>`, the field a writable field or `custom_fields.<key>`, or \
     empty to ignore the column";
