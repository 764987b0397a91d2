//! Typed custom fields: the definitions a tenant gives each record type, the rules a
//! record's `custom_fields` must follow under them, and the filters lists take on them.
//! Values are normalised here (emails trimmed, URLs re-serialised, datetimes in UTC,
//! decimals without trailing zeros) so the database's values index compares like with like.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::fields::{self, Errors, FieldError};
use super::record::RecordType;

pub const KEY_PATTERN: &str = "^[a-z][a-z0-9_]{0,62}$";
pub const LABEL_MAX: usize = 200;
pub const OPTIONS_MAX: usize = 100;
pub const OPTION_MAX: usize = 100;
pub const TEXT_MAX: usize = 2000;
/// The field name every value problem is reported under: `custom_fields.<key>`.
pub const FIELD: &str = "custom_fields";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Number,
    Decimal,
    Boolean,
    Date,
    Datetime,
    Url,
    Email,
    Select,
    MultiSelect,
}

impl FieldType {
    pub const ALL: [FieldType; 10] = [
        Self::Text,
        Self::Number,
        Self::Decimal,
        Self::Boolean,
        Self::Date,
        Self::Datetime,
        Self::Url,
        Self::Email,
        Self::Select,
        Self::MultiSelect,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Decimal => "decimal",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Url => "url",
            Self::Email => "email",
            Self::Select => "select",
            Self::MultiSelect => "multi_select",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn has_options(self) -> bool {
        matches!(self, Self::Select | Self::MultiSelect)
    }

    /// Types whose values have an order, so filters may take ranges.
    pub fn ordered(self) -> bool {
        matches!(
            self,
            Self::Number | Self::Decimal | Self::Date | Self::Datetime
        )
    }
}

/// A definition as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub id: Uuid,
    pub key: String,
    pub field_type: FieldType,
    pub options: Vec<String>,
    pub required: bool,
    pub unique: bool,
}

/// Checks a new key.
pub fn key(value: &str) -> Result<String, FieldError> {
    let ok = value.len() <= 63
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new(
            "key",
            "invalid_key",
            "must match ^[a-z][a-z0-9_]{0,62}$ (lower case letter first, then letters, digits, _)",
        ))
    }
}

pub fn label(value: &str) -> Result<String, FieldError> {
    match fields::optional_text("label", Some(value.to_owned()), LABEL_MAX, false)? {
        Some(label) => Ok(label),
        None => Err(FieldError::new("label", "required", "must not be empty")),
    }
}

/// The options of a definition of `field_type`: required (1 to [`OPTIONS_MAX`] distinct,
/// non-empty, trimmed) for selects, refused for other types.
pub fn options(field_type: FieldType, options: Vec<String>) -> Result<Vec<String>, FieldError> {
    if !field_type.has_options() {
        if options.is_empty() {
            return Ok(options);
        }
        return Err(FieldError::new(
            "options",
            "not_allowed",
            "only select and multi_select fields take options",
        ));
    }
    if options.is_empty() || options.len() > OPTIONS_MAX {
        return Err(FieldError::new(
            "options",
            "invalid_options",
            format!(
                "a {} field needs 1 to {OPTIONS_MAX} options",
                field_type.as_str()
            ),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(options.len());
    for (index, option) in options.into_iter().enumerate() {
        let item = format!("options[{index}]");
        let Some(option) = fields::optional_text(&item, Some(option), OPTION_MAX, false)? else {
            return Err(FieldError::new(item, "required", "must not be empty"));
        };
        if out.contains(&option) {
            return Err(FieldError::new(
                item,
                "duplicate",
                "options must be distinct",
            ));
        }
        out.push(option);
    }
    Ok(out)
}

/// `unique` makes no sense for a set of options.
pub fn unique(field_type: FieldType, unique: bool) -> Result<bool, FieldError> {
    if unique && field_type == FieldType::MultiSelect {
        return Err(FieldError::new(
            "unique",
            "not_allowed",
            "a multi_select field cannot be unique",
        ));
    }
    Ok(unique)
}

/// A definition as a client described it, before any check.
#[derive(Debug, Clone)]
pub struct DefinitionInput {
    pub record_type: RecordType,
    pub key: String,
    pub label: String,
    pub field_type: FieldType,
    /// Required for the select types, refused for the others.
    pub options: Option<Vec<String>>,
    /// Default `false`.
    pub required: Option<bool>,
    /// Default `false`.
    pub unique: Option<bool>,
}

/// A definition whose fields passed their rules: what the database is written with.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionSpec {
    pub(super) record_type: RecordType,
    pub(super) key: String,
    pub(super) label: String,
    pub(super) field_type: FieldType,
    pub(super) options: Vec<String>,
    pub(super) required: bool,
    pub(super) unique: bool,
}

impl DefinitionSpec {
    /// A definition as stored, which passed these rules when it was written: what a
    /// patch is laid over.
    pub fn from_stored(
        record_type: RecordType,
        key: String,
        label: String,
        field_type: FieldType,
        options: Vec<String>,
        required: bool,
        unique: bool,
    ) -> Self {
        Self {
            record_type,
            key,
            label,
            field_type,
            options,
            required,
            unique,
        }
    }

    pub fn record_type(&self) -> RecordType {
        self.record_type
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn field_type(&self) -> FieldType {
        self.field_type
    }

    pub fn options(&self) -> &[String] {
        &self.options
    }

    pub fn required(&self) -> bool {
        self.required
    }

    pub fn unique(&self) -> bool {
        self.unique
    }

    /// Checks every field of a new definition and reports every bad one.
    pub fn parse(input: DefinitionInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let spec = Self {
            record_type: input.record_type,
            key: errors.check(key(&input.key)),
            label: errors.check(label(&input.label)),
            field_type: input.field_type,
            options: errors.check(options(input.field_type, input.options.unwrap_or_default())),
            required: input.required.unwrap_or(false),
            unique: errors.check(unique(input.field_type, input.unique.unwrap_or(false))),
        };
        errors.finish(spec)
    }
}

/// Changes to a definition: a field left out (`None`) is kept; `record_type` and `key`
/// never change.
#[derive(Debug, Clone, Default)]
pub struct DefinitionPatch {
    pub label: Option<String>,
    pub field_type: Option<FieldType>,
    pub options: Option<Vec<String>>,
    pub required: Option<bool>,
    pub unique: Option<bool>,
}

impl DefinitionPatch {
    /// Lays the patch over `current`. Only what the patch sends is checked, except
    /// `unique`, which must still suit the (possibly new) type; options survive a type
    /// change only between the two select types, and a select left without options is
    /// refused.
    pub fn apply_to(self, current: DefinitionSpec) -> Result<DefinitionSpec, Vec<FieldError>> {
        let field_type = self.field_type.unwrap_or(current.field_type);
        let mut errors = Errors::default();
        let options = match self.options {
            Some(sent) => errors.check(options(field_type, sent)),
            None if field_type.has_options() => current.options,
            None => Vec::new(),
        };
        let spec = DefinitionSpec {
            record_type: current.record_type,
            key: current.key,
            label: match self.label {
                Some(sent) => errors.check(label(&sent)),
                None => current.label,
            },
            field_type,
            options,
            required: self.required.unwrap_or(current.required),
            unique: errors.check(unique(field_type, self.unique.unwrap_or(current.unique))),
        };
        if field_type.has_options() && spec.options.is_empty() && !errors.has("options") {
            errors.push(FieldError::new(
                "options",
                "invalid_options",
                "a select or multi_select field needs options",
            ));
        }
        errors.finish(spec)
    }
}

/// RFC 7396 inside `custom_fields`: keys merged, `null` removes a key.
pub fn merge_patch(current: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            current.remove(&key);
        } else {
            current.insert(key, value);
        }
    }
}

/// Checks `values` against `definitions`, normalising each value. `checked` says which
/// keys to check: all (a create, a batch item) or only those a patch sent (values stored
/// earlier passed when they were written). `required` is checked on the whole result.
pub fn validate(
    definitions: &[Definition],
    values: Map<String, Value>,
    checked: Option<&[String]>,
) -> Result<Value, Vec<FieldError>> {
    let mut errors = Errors::default();
    let mut out = Map::new();
    for (key, value) in values {
        let field = format!("{FIELD}.{key}");
        let Some(definition) = definitions.iter().find(|d| d.key == key) else {
            errors.push(FieldError::new(
                field,
                "unknown_field",
                "no custom field with this key is defined for this record type",
            ));
            continue;
        };
        if value.is_null() {
            continue;
        }
        if checked.is_some_and(|keys| !keys.contains(&key)) {
            out.insert(key, value);
            continue;
        }
        match value_of(definition, &field, value) {
            Ok(value) => {
                out.insert(key, value);
            }
            Err(err) => errors.push(err),
        }
    }
    for definition in definitions.iter().filter(|d| d.required) {
        let field = format!("{FIELD}.{}", definition.key);
        if !out.contains_key(&definition.key) && !errors.has(&field) {
            errors.push(FieldError::new(
                field,
                "required",
                "this custom field is required",
            ));
        }
    }
    let out = errors.check(
        fields::custom_fields(FIELD, out)
            .map(Some)
            .map_err(|mut e| {
                e.field = FIELD.to_owned();
                e
            }),
    );
    errors.finish(out.unwrap_or(Value::Object(Map::new())))
}

fn invalid(field: &str, code: &'static str, message: &str) -> FieldError {
    FieldError::new(field, code, message)
}

fn string<'a>(field: &str, value: &'a Value, what: &str) -> Result<&'a str, FieldError> {
    value
        .as_str()
        .ok_or_else(|| invalid(field, "invalid_type", &format!("must be {what}")))
}

/// One value, checked and normalised for its definition.
pub fn value_of(definition: &Definition, field: &str, value: Value) -> Result<Value, FieldError> {
    match definition.field_type {
        FieldType::Text => {
            let text = string(field, &value, "a string")?;
            match fields::optional_text(field, Some(text.to_owned()), TEXT_MAX, true)? {
                Some(text) => Ok(Value::from(text)),
                None => Err(invalid(
                    field,
                    "required",
                    "must not be empty (send null to remove it)",
                )),
            }
        }
        FieldType::Number => match value.as_f64() {
            Some(n) if n.is_finite() && value.is_number() => Ok(value),
            _ => Err(invalid(field, "invalid_type", "must be a JSON number")),
        },
        FieldType::Decimal => {
            let text = string(
                field,
                &value,
                "a decimal number as a string, e.g. \"12.50\"",
            )?;
            decimal(field, text).map(|d| Value::from(d.to_string()))
        }
        FieldType::Boolean => match value {
            Value::Bool(_) => Ok(value),
            _ => Err(invalid(field, "invalid_type", "must be true or false")),
        },
        FieldType::Date => {
            let text = string(field, &value, "a date, YYYY-MM-DD")?;
            date(field, text).map(|d| Value::from(d.format("%Y-%m-%d").to_string()))
        }
        FieldType::Datetime => {
            let text = string(field, &value, "an RFC 3339 date and time")?;
            datetime(field, text)
                .map(|t| Value::from(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
        }
        FieldType::Url => {
            let text = string(field, &value, "a URL")?;
            match fields::optional_url(field, Some(text.to_owned()))? {
                Some(url) => Ok(Value::from(url)),
                None => Err(invalid(
                    field,
                    "invalid_url",
                    "must be an absolute http or https URL",
                )),
            }
        }
        FieldType::Email => {
            let text = string(field, &value, "an email address")?;
            match fields::optional_email(field, Some(text.to_owned()))? {
                Some(email) => Ok(Value::from(email)),
                None => Err(invalid(field, "invalid_email", "must be an email address")),
            }
        }
        FieldType::Select => {
            let text = string(field, &value, "one of the field's options")?;
            option(definition, field, text).map(Value::from)
        }
        FieldType::MultiSelect => {
            let Value::Array(items) = value else {
                return Err(invalid(
                    field,
                    "invalid_type",
                    "must be an array of the field's options",
                ));
            };
            let mut out: Vec<String> = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let item_field = format!("{field}[{index}]");
                let text = string(&item_field, item, "one of the field's options")?;
                let chosen = option(definition, &item_field, text)?;
                if out.contains(&chosen) {
                    return Err(invalid(
                        &item_field,
                        "duplicate",
                        "options must be distinct",
                    ));
                }
                out.push(chosen);
            }
            Ok(Value::from(out))
        }
    }
}

fn option(definition: &Definition, field: &str, text: &str) -> Result<String, FieldError> {
    if definition.options.iter().any(|o| o == text) {
        Ok(text.to_owned())
    } else {
        Err(FieldError::new(
            field,
            "invalid_option",
            format!("must be one of: {}", definition.options.join(", ")),
        ))
    }
}

/// A decimal as a string, like a lead's `value` but signed: `-12.50`, `3`, at most 4
/// decimals.
pub fn decimal(field: &str, text: &str) -> Result<Decimal, FieldError> {
    let bad = || {
        invalid(
            field,
            "invalid_decimal",
            "must be a decimal number as a string, e.g. \"12.50\" (at most 4 decimals)",
        )
    };
    let digits = text.strip_prefix('-').unwrap_or(text);
    let well_formed = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.');
    if !well_formed {
        return Err(bad());
    }
    let value: Decimal = text.parse().map_err(|_| bad())?;
    let value = value.normalize();
    if value.scale() > 4 || value.abs() >= Decimal::from(1_000_000_000_000_000i64) {
        return Err(bad());
    }
    Ok(value)
}

pub fn date(field: &str, text: &str) -> Result<NaiveDate, FieldError> {
    if text.len() != 10 {
        return Err(invalid(field, "invalid_date", "must be a date, YYYY-MM-DD"));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| invalid(field, "invalid_date", "must be a date, YYYY-MM-DD"))
}

pub fn datetime(field: &str, text: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            invalid(
                field,
                "invalid_datetime",
                "must be an RFC 3339 date and time, e.g. 2026-11-26T14:00:00Z",
            )
        })
}

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Op {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "eq" => Self::Eq,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            _ => return None,
        })
    }

    /// The operator that takes a superset of the matches through a monotonic rounding
    /// (`>` becomes `>=`): the candidates' bound on a rounded column.
    pub fn loose_sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Gt | Self::Gte => ">=",
            Self::Lt | Self::Lte => "<=",
        }
    }

    /// The SQL operator (a constant per variant).
    pub fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Gt => ">",
            Self::Gte => ">=",
            Self::Lt => "<",
            Self::Lte => "<=",
        }
    }
}

/// What a filter compares, in the typed column of the values index that holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `v_text`: canonical text (emails lower case, booleans `true`/`false`).
    Text(String),
    /// `v_num`.
    Num(Decimal),
    /// `v_time`.
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field_id: Uuid,
    pub op: Op,
    pub operand: Operand,
}

/// The form of one filter, as the document states it: what breaks it is a malformed
/// request (400); a well-formed filter that names no field of the record type, compares a
/// type that cannot be ordered, or holds a value the field's type cannot take is a 422.
pub const FILTER_PATTERN: &str =
    r"^[a-z][a-z0-9_]{0,62}:(eq|gt|gte|lt|lte):[^\x00-\x1f\x7f-\x9f]*$";

/// The most `custom_field` filters one list request may combine: each one is a join
/// PostgreSQL plans and runs, so a request naming hundreds would cost the database far
/// more than any list is worth. More is a 422 naming the parameter.
pub const MAX_FILTERS: usize = 10;

/// Why a filter was refused: its form (400) or what it names (422); either way the
/// detail names the parameter.
#[derive(Debug)]
pub enum FilterError {
    Malformed(FieldError),
    Unfit(FieldError),
}

/// Parses one `key:op:value` filter against the record type's definitions. Everything
/// wrong with it is reported on `param`.
pub fn filter(definitions: &[Definition], param: &str, raw: &str) -> Result<Filter, FilterError> {
    let malformed =
        |message: String| FilterError::Malformed(FieldError::new(param, "invalid", message));
    let bad = |message: String| FilterError::Unfit(FieldError::new(param, "invalid", message));
    let mut parts = raw.splitn(3, ':');
    let (Some(key), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed(format!("`{raw}` is not key:op:value")));
    };
    if key.is_empty()
        || !key.starts_with(|c: char| c.is_ascii_lowercase())
        || !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        || key.len() > 63
    {
        return Err(malformed(format!("`{key}` is not a custom field key")));
    }
    let Some(op) = Op::parse(op) else {
        return Err(malformed(format!(
            "`{op}` is not one of eq, gt, gte, lt, lte"
        )));
    };
    if value.chars().any(|c| c.is_control()) {
        return Err(malformed("must not contain control characters".into()));
    }
    let Some(definition) = definitions.iter().find(|d| d.key == key) else {
        return Err(bad(format!(
            "no custom field `{key}` is defined for this record type"
        )));
    };
    if op != Op::Eq && !definition.field_type.ordered() {
        return Err(bad(format!(
            "a {} field can only be compared with eq",
            definition.field_type.as_str()
        )));
    }
    let value_err = |e: FieldError| bad(format!("`{key}`: {}", e.message));
    let operand = match definition.field_type {
        FieldType::Number | FieldType::Decimal => {
            let d = decimal(param, value)
                .or_else(|_| {
                    value
                        .parse::<Decimal>()
                        .map_err(|_| invalid(param, "", "must be a number"))
                })
                .map_err(value_err)?;
            Operand::Num(d)
        }
        FieldType::Date => {
            let d = date(param, value).map_err(value_err)?;
            Operand::Time(
                d.and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc())
                    .unwrap_or_default(),
            )
        }
        FieldType::Datetime => Operand::Time(datetime(param, value).map_err(value_err)?),
        FieldType::Boolean => match value {
            "true" | "false" => Operand::Text(value.to_owned()),
            _ => return Err(bad(format!("`{key}`: must be true or false"))),
        },
        FieldType::Email => Operand::Text(value.trim().to_lowercase()),
        FieldType::Url => Operand::Text(
            fields::optional_url(param, Some(value.to_owned()))
                .ok()
                .flatten()
                .unwrap_or_else(|| value.to_owned()),
        ),
        FieldType::Select | FieldType::MultiSelect => {
            option(definition, param, value).map_err(value_err)?;
            Operand::Text(value.to_owned())
        }
        FieldType::Text => Operand::Text(value.to_owned()),
    };
    Ok(Filter {
        field_id: definition.id,
        op,
        operand,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn def(key: &str, field_type: FieldType) -> Definition {
        Definition {
            id: Uuid::nil(),
            key: key.into(),
            field_type,
            options: vec!["gold".into(), "silver".into()],
            required: false,
            unique: false,
        }
    }

    fn check(field_type: FieldType, value: Value) -> Result<Value, FieldError> {
        value_of(&def("f", field_type), "custom_fields.f", value)
    }

    #[test]
    fn keys_follow_the_pattern() {
        assert!(key("plan_2").is_ok());
        for bad in ["", "Plan", "2plan", "plan-x", &"a".repeat(64)] {
            assert!(key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_type_checks_and_normalises_its_values() {
        assert_eq!(check(FieldType::Text, json!(" hi ")), Ok(json!("hi")));
        assert!(check(FieldType::Text, json!(3)).is_err());
        assert_eq!(check(FieldType::Number, json!(2.5)), Ok(json!(2.5)));
        assert!(check(FieldType::Number, json!("2.5")).is_err());
        assert_eq!(
            check(FieldType::Decimal, json!("12.500")),
            Ok(json!("12.5"))
        );
        assert_eq!(check(FieldType::Decimal, json!("-3")), Ok(json!("-3")));
        for bad in [json!(12.5), json!("1e3"), json!("1.23456"), json!(".5")] {
            assert!(check(FieldType::Decimal, bad.clone()).is_err(), "{bad}");
        }
        assert_eq!(check(FieldType::Boolean, json!(true)), Ok(json!(true)));
        assert!(check(FieldType::Boolean, json!("true")).is_err());
        assert_eq!(
            check(FieldType::Date, json!("2026-02-28")),
            Ok(json!("2026-02-28"))
        );
        assert!(check(FieldType::Date, json!("2026-02-30")).is_err());
        assert_eq!(
            check(FieldType::Datetime, json!("2026-01-01T10:00:00+02:00")),
            Ok(json!("2026-01-01T08:00:00Z"))
        );
        assert!(check(FieldType::Datetime, json!("2026-01-01")).is_err());
        assert_eq!(
            check(FieldType::Url, json!("https://Acme.example")),
            Ok(json!("https://acme.example/"))
        );
        assert!(check(FieldType::Url, json!("ftp://acme.example")).is_err());
        assert!(check(FieldType::Email, json!("ann@example.com")).is_ok());
        assert!(check(FieldType::Email, json!("ann")).is_err());
        assert_eq!(check(FieldType::Select, json!("gold")), Ok(json!("gold")));
        assert_eq!(
            check(FieldType::Select, json!("bronze")).unwrap_err().code,
            "invalid_option"
        );
        assert!(check(FieldType::MultiSelect, json!(["gold", "silver"])).is_ok());
        assert_eq!(
            check(FieldType::MultiSelect, json!(["gold", "gold"]))
                .unwrap_err()
                .field,
            "custom_fields.f[1]"
        );
    }

    #[test]
    fn unknown_keys_and_missing_required_fields_are_named() {
        let mut plan = def("plan", FieldType::Select);
        plan.required = true;
        let values = json!({"nope": 1}).as_object().cloned().unwrap_or_default();
        let errors = validate(&[plan], values, None).unwrap_err();
        let named: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            named,
            [
                ("custom_fields.nope", "unknown_field"),
                ("custom_fields.plan", "required")
            ]
        );
    }

    #[test]
    fn a_merge_patch_merges_keys_and_null_removes_one() {
        let mut current = json!({"a": 1, "b": 2})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let patch = json!({"b": null, "c": 3})
            .as_object()
            .cloned()
            .unwrap_or_default();
        merge_patch(&mut current, patch);
        assert_eq!(Value::Object(current), json!({"a": 1, "c": 3}));
    }

    #[test]
    fn filters_are_typed_and_ranges_only_for_ordered_types() {
        let defs = [
            def("seats", FieldType::Number),
            def("plan", FieldType::Select),
        ];
        let f = filter(&defs, "custom_field", "seats:gte:10").unwrap();
        assert_eq!(
            (f.op, f.operand),
            (Op::Gte, Operand::Num(Decimal::from(10)))
        );
        assert!(filter(&defs, "custom_field", "plan:eq:gold").is_ok());
        // Well formed but unfit for these definitions: a 422.
        for unfit in [
            "plan:gt:gold",
            "plan:eq:bronze",
            "seats:eq:ten",
            "nope:eq:1",
        ] {
            assert!(documented(unfit), "{unfit} matches the documented pattern");
            match filter(&defs, "custom_field", unfit) {
                Err(FilterError::Unfit(e)) => assert_eq!(e.field, "custom_field", "{unfit}"),
                other => panic!("{unfit}: {other:?}"),
            }
        }
        // Malformed, and outside the documented pattern: a 400.
        for malformed in ["plan", "", "Plan:eq:x", "plan:like:x", "plan:eq:a\u{7}b"] {
            assert!(!documented(malformed), "{malformed:?}");
            match filter(&defs, "custom_field", malformed) {
                Err(FilterError::Malformed(e)) => assert_eq!(e.field, "custom_field"),
                other => panic!("{malformed:?}: {other:?}"),
            }
        }
    }

    /// The pattern the document states, checked by the validator poem-openapi uses.
    fn documented(raw: &str) -> bool {
        use poem_openapi::validation::{Pattern, Validator};
        Pattern::new(FILTER_PATTERN).check(&raw.to_owned())
    }

    fn tier() -> DefinitionSpec {
        DefinitionSpec::parse(DefinitionInput {
            record_type: RecordType::Contact,
            key: "tier".into(),
            label: " Tier ".into(),
            field_type: FieldType::Select,
            options: Some(vec!["gold".into(), "silver".into()]),
            required: None,
            unique: None,
        })
        .expect("a valid definition")
    }

    #[test]
    fn a_definition_reports_every_bad_field_in_order() {
        let errors = DefinitionSpec::parse(DefinitionInput {
            record_type: RecordType::Lead,
            key: "Tier".into(),
            label: " ".into(),
            field_type: FieldType::MultiSelect,
            options: None,
            required: None,
            unique: Some(true),
        })
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["key", "label", "options", "unique"]);
        assert_eq!(tier().label, "Tier");
    }

    #[test]
    fn a_definition_patch_keeps_what_it_leaves_out() {
        let patched = DefinitionPatch {
            field_type: Some(FieldType::MultiSelect),
            required: Some(true),
            ..Default::default()
        }
        .apply_to(tier())
        .unwrap();
        assert_eq!(
            patched.options,
            ["gold", "silver"],
            "select to select keeps them"
        );
        assert_eq!((patched.label.as_str(), patched.required), ("Tier", true));
        let patched = DefinitionPatch {
            field_type: Some(FieldType::Text),
            ..Default::default()
        }
        .apply_to(tier())
        .unwrap();
        assert!(
            patched.options.is_empty(),
            "options go with the select type"
        );
    }

    #[test]
    fn a_select_patched_without_options_is_refused() {
        let text = DefinitionPatch {
            field_type: Some(FieldType::Text),
            ..Default::default()
        }
        .apply_to(tier())
        .unwrap();
        let errors = DefinitionPatch {
            field_type: Some(FieldType::Select),
            label: Some("".into()),
            ..Default::default()
        }
        .apply_to(text)
        .unwrap_err();
        let found: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            found,
            [("label", "required"), ("options", "invalid_options")]
        );
    }
}
