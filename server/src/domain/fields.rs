//! Field-level validation shared by every resource: bounded text, emails, phone numbers,
//! tags and custom fields. Each check reports a [`FieldError`] naming the field, so one
//! request with three bad fields gets three details back.

use serde_json::{Map, Value};

/// One problem with one field, as it appears in the error envelope's `details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// Collects field errors while a whole input is checked, so every bad field is reported
/// at once instead of the first one only.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, err: FieldError) {
        self.0.push(err);
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }

    /// Keeps the value of a successful check, records the failure of another.
    pub fn check<T: Default>(&mut self, result: Result<T, FieldError>) -> T {
        result.unwrap_or_else(|err| {
            self.0.push(err);
            T::default()
        })
    }

    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

/// Trims `value`; an empty or blank string means "no value". Refuses text longer than
/// `max` characters and control characters (newlines and tabs only where `multiline`).
/// The length is counted as sent, before trimming: it is the document's `maxLength`, and
/// every limit is the document's (docs/api.md).
pub fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, FieldError> {
    let Some(value) = value else { return Ok(None) };
    let length = value.chars().count();
    if length > max {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("must be at most {max} characters (got {length})"),
        ));
    }
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\t' || c == '\r');
    if trimmed.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(Some(trimmed.to_owned()))
}

pub const EMAIL_MAX: usize = 254;

/// An email address, syntax-checked by the `email_address` crate and trimmed. Its case is
/// kept as given; uniqueness compares it case-insensitively.
pub fn optional_email(field: &str, value: Option<String>) -> Result<Option<String>, FieldError> {
    let Some(value) = optional_text(field, value, EMAIL_MAX, false)? else {
        return Ok(None);
    };
    // Display names ("Ann <ann@example.com>") are valid RFC 5322 but not an address.
    let options = email_address::Options::default().without_display_text();
    match email_address::EmailAddress::parse_with_options(&value, options) {
        Ok(_) => Ok(Some(value)),
        Err(err) => Err(FieldError::new(
            field,
            "invalid_email",
            format!("is not a valid email address: {err}"),
        )),
    }
}

pub const PHONE_MAX: usize = 32;

/// A phone number in international form, normalised to E.164 (`+14155550123`).
pub fn optional_phone(field: &str, value: Option<String>) -> Result<Option<String>, FieldError> {
    let Some(value) = optional_text(field, value, PHONE_MAX, false)? else {
        return Ok(None);
    };
    let invalid = || {
        FieldError::new(
            field,
            "invalid_phone",
            "must be a valid phone number in international format, e.g. +14155550123",
        )
    };
    let number = phonenumber::parse(None, &value).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(Some(
        number.format().mode(phonenumber::Mode::E164).to_string(),
    ))
}

pub const TAGS_MAX_ITEMS: usize = 50;
pub const TAG_MAX: usize = 50;

/// Tags: trimmed, non-empty, at most [`TAGS_MAX_ITEMS`] of at most [`TAG_MAX`] characters;
/// duplicates are dropped, first occurrence wins, order kept.
pub fn tags(field: &str, value: Vec<String>) -> Result<Vec<String>, FieldError> {
    if value.len() > TAGS_MAX_ITEMS {
        return Err(FieldError::new(
            field,
            "too_many",
            format!("must hold at most {TAGS_MAX_ITEMS} tags"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(value.len());
    for (index, tag) in value.into_iter().enumerate() {
        let item = format!("{field}[{index}]");
        let Some(tag) = optional_text(&item, Some(tag), TAG_MAX, false)? else {
            return Err(FieldError::new(item, "required", "must not be empty"));
        };
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

pub const CUSTOM_FIELDS_MAX_KEYS: usize = 100;
pub const CUSTOM_FIELD_KEY_MAX: usize = 64;
pub const CUSTOM_FIELDS_MAX_BYTES: usize = 16 * 1024;

/// Free-form custom fields: a JSON object of at most [`CUSTOM_FIELDS_MAX_KEYS`] keys of at
/// most [`CUSTOM_FIELD_KEY_MAX`] characters, at most [`CUSTOM_FIELDS_MAX_BYTES`] as JSON.
pub fn custom_fields(field: &str, value: Map<String, Value>) -> Result<Value, FieldError> {
    if value.len() > CUSTOM_FIELDS_MAX_KEYS {
        return Err(FieldError::new(
            field,
            "too_many",
            format!("must hold at most {CUSTOM_FIELDS_MAX_KEYS} keys"),
        ));
    }
    if let Some(key) = value
        .keys()
        .find(|k| k.trim().is_empty() || k.chars().count() > CUSTOM_FIELD_KEY_MAX)
    {
        return Err(FieldError::new(
            format!("{field}.{key}"),
            "invalid_key",
            format!("keys must be 1 to {CUSTOM_FIELD_KEY_MAX} characters"),
        ));
    }
    let value = Value::Object(value);
    // PostgreSQL cannot store U+0000 in text or jsonb: refuse it here, with the field.
    if contains_nul(&value) {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            "must not contain the NUL character (\\u0000)",
        ));
    }
    let size = value.to_string().len();
    if size > CUSTOM_FIELDS_MAX_BYTES {
        return Err(FieldError::new(
            field,
            "too_large",
            format!("must be at most {CUSTOM_FIELDS_MAX_BYTES} bytes as JSON (got {size})"),
        ));
    }
    Ok(value)
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

pub const URL_MAX: usize = 2048;

/// An absolute `http` or `https` URL, parsed and re-serialised by the `url` crate (so the
/// host is lower case and international names are in punycode).
pub fn optional_url(field: &str, value: Option<String>) -> Result<Option<String>, FieldError> {
    let Some(value) = optional_text(field, value, URL_MAX, false)? else {
        return Ok(None);
    };
    let invalid = || {
        FieldError::new(
            field,
            "invalid_url",
            "must be an absolute http or https URL, e.g. https://example.com",
        )
    };
    let url = url::Url::parse(&value).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid());
    }
    Ok(Some(url.to_string()))
}

pub const DOMAIN_MAX: usize = 253;

/// A domain name, normalised: lower case, punycode for international names, without any
/// scheme, credentials, port, path, query, trailing dot or one leading `www.`:
/// `https://WWW.Acme.com/about` becomes `acme.com`, because people type a company's web
/// address with and without it and mean one company. `www.` stays when what follows has
/// no dot (`www.io` is a name, not a prefix). IP addresses and single-label names are
/// refused.
pub fn optional_domain(field: &str, value: Option<String>) -> Result<Option<String>, FieldError> {
    let Some(value) = optional_text(field, value, URL_MAX, false)? else {
        return Ok(None);
    };
    let invalid = || {
        FieldError::new(
            field,
            "invalid_domain",
            "must be a domain name such as example.com (a URL is reduced to its host)",
        )
    };
    let with_scheme = if value.contains("://") {
        value
    } else {
        format!("http://{value}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|_| invalid())?;
    let Some(url::Host::Domain(host)) = url.host() else {
        return Err(invalid());
    };
    let host = host.trim_end_matches('.');
    let host = match host.strip_prefix("www.") {
        Some(rest) if rest.contains('.') => rest,
        _ => host,
    }
    .to_owned();
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if !labels_ok || !host.contains('.') || host.len() > DOMAIN_MAX {
        return Err(invalid());
    }
    Ok(Some(host))
}

/// An ISO 3166-1 alpha-2 country code; accepted in any case, stored upper case.
pub fn optional_country(field: &str, value: Option<String>) -> Result<Option<String>, FieldError> {
    let Some(value) = optional_text(field, value, 2, false)? else {
        return Ok(None);
    };
    let code = value.to_ascii_uppercase();
    match code.parse::<iso_currency::Country>() {
        Ok(_) if code.len() == 2 => Ok(Some(code)),
        _ => Err(FieldError::new(
            field,
            "invalid_country",
            "must be an ISO 3166-1 alpha-2 country code, e.g. DE",
        )),
    }
}

/// An ISO 4217 currency code; accepted in any case, stored upper case.
pub fn currency(field: &str, value: &str) -> Result<iso_currency::Currency, FieldError> {
    iso_currency::Currency::from_code(&value.trim().to_ascii_uppercase()).ok_or_else(|| {
        FieldError::new(
            field,
            "invalid_currency",
            "must be an ISO 4217 currency code, e.g. EUR",
        )
    })
}

/// The largest amount a lead can carry (below 10^15, so it fits `numeric(19, 4)`).
pub const AMOUNT_MAX: &str = "999999999999999.9999";

/// A decimal amount sent as a string (`"1250.50"`): never a binary float, at least 0, at
/// most [`AMOUNT_MAX`], and with no more decimals than `currency` has (2 for EUR, 0 for
/// JPY). Returned rescaled to exactly that many decimals.
pub fn amount(
    field: &str,
    value: &str,
    currency: Option<iso_currency::Currency>,
) -> Result<rust_decimal::Decimal, FieldError> {
    use rust_decimal::Decimal;
    let text = value.trim();
    let well_formed = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.matches('.').count() <= 1
        && !text.starts_with('.')
        && !text.ends_with('.');
    let parsed = if well_formed {
        text.parse::<Decimal>().ok()
    } else {
        None
    };
    let Some(mut amount) = parsed else {
        return Err(FieldError::new(
            field,
            "invalid_amount",
            "must be a non-negative decimal number as a string, e.g. \"1250.50\"",
        ));
    };
    let max: Decimal = AMOUNT_MAX.parse().unwrap_or(Decimal::MAX);
    if amount > max {
        return Err(FieldError::new(
            field,
            "too_large",
            format!("must be at most {AMOUNT_MAX}"),
        ));
    }
    let scale = currency
        .and_then(|c| c.exponent())
        .map(u32::from)
        .unwrap_or(4);
    amount = amount.normalize();
    if amount.scale() > scale {
        let code = currency.map(|c| c.code()).unwrap_or("the currency");
        return Err(FieldError::new(
            field,
            "too_precise",
            format!("has more decimals than {code} allows ({scale})"),
        ));
    }
    amount.rescale(scale);
    Ok(amount)
}

/// An amount as the API shows it: with exactly as many decimals as its currency has (the
/// database keeps four).
pub fn format_amount(mut value: rust_decimal::Decimal, currency: Option<&str>) -> String {
    let scale = currency
        .and_then(iso_currency::Currency::from_code)
        .and_then(|c| c.exponent())
        .map(u32::from)
        .unwrap_or(4);
    value.rescale(scale);
    value.to_string()
}

/// A free-text filter from a query string: control characters (NUL above all, which
/// PostgreSQL cannot take) make it a malformed request.
pub fn filter_text(field: &str, value: Option<String>) -> Result<Option<String>, FieldError> {
    match value {
        Some(v) if v.chars().any(char::is_control) => Err(FieldError::new(
            field,
            "invalid_characters",
            "must not contain control characters",
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_text_means_no_value_and_text_is_trimmed() {
        assert_eq!(optional_text("f", Some("   ".into()), 5, false), Ok(None));
        assert_eq!(
            optional_text("f", Some("  Ann ".into()), 6, false),
            Ok(Some("Ann".into()))
        );
    }

    #[test]
    fn the_limit_counts_the_text_as_sent_with_its_spaces() {
        let err = optional_text("f", Some("  Ann ".into()), 5, false).unwrap_err();
        assert_eq!((err.field.as_str(), err.code), ("f", "too_long"));
        let err = optional_text("f", Some(" ".repeat(6)), 5, false).unwrap_err();
        assert_eq!(err.code, "too_long");
    }

    #[test]
    fn text_longer_than_the_limit_is_refused_counting_characters_not_bytes() {
        assert!(optional_text("f", Some("ééééé".into()), 5, false).is_ok());
        let err = optional_text("f", Some("éééééé".into()), 5, false).unwrap_err();
        assert_eq!((err.field.as_str(), err.code), ("f", "too_long"));
    }

    #[test]
    fn control_characters_are_refused_except_newlines_in_multiline_text() {
        assert!(optional_text("f", Some("a\u{0}b".into()), 9, true).is_err());
        assert!(optional_text("f", Some("a\nb".into()), 9, false).is_err());
        assert!(optional_text("f", Some("a\nb".into()), 9, true).is_ok());
    }

    #[test]
    fn emails_are_checked_and_display_names_refused() {
        assert_eq!(
            optional_email("email", Some(" Ann@Example.com ".into())),
            Ok(Some("Ann@Example.com".into()))
        );
        for bad in ["ann", "ann@", "Ann <ann@example.com>", "a b@example.com"] {
            let err = optional_email("email", Some(bad.into())).unwrap_err();
            assert_eq!(err.code, "invalid_email", "{bad}");
        }
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(
            optional_phone("phone", Some("+1 (415) 555-2671".into())),
            Ok(Some("+14155552671".into()))
        );
        assert_eq!(
            optional_phone("phone", Some("+44 20 7946 0958".into())),
            Ok(Some("+442079460958".into()))
        );
        for bad in ["4155552671", "+1 555", "call me"] {
            let err = optional_phone("phone", Some(bad.into())).unwrap_err();
            assert_eq!(err.code, "invalid_phone", "{bad}");
        }
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        assert_eq!(
            tags("tags", vec![" vip ".into(), "vip".into(), "lead".into()]),
            Ok(vec!["vip".to_string(), "lead".to_string()])
        );
        assert_eq!(tags("tags", vec!["".into()]).unwrap_err().field, "tags[0]");
        let many = (0..=TAGS_MAX_ITEMS).map(|i| i.to_string()).collect();
        assert_eq!(tags("tags", many).unwrap_err().code, "too_many");
    }

    #[test]
    fn custom_fields_are_bounded_in_keys_and_size() {
        let mut map = Map::new();
        map.insert("plan".into(), Value::from("gold"));
        assert!(custom_fields("custom_fields", map.clone()).is_ok());
        map.insert(
            "big".into(),
            Value::from("x".repeat(CUSTOM_FIELDS_MAX_BYTES)),
        );
        assert_eq!(
            custom_fields("custom_fields", map).unwrap_err().code,
            "too_large"
        );
        let mut nul = Map::new();
        nul.insert(
            "deep".into(),
            serde_json::json!({"list": ["ok", "bad\u{0}"]}),
        );
        assert_eq!(
            custom_fields("custom_fields", nul).unwrap_err().code,
            "invalid_characters"
        );
        let mut bad_key = Map::new();
        bad_key.insert(" ".into(), Value::Null);
        assert_eq!(
            custom_fields("custom_fields", bad_key).unwrap_err().code,
            "invalid_key"
        );
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert_eq!(
            optional_url("website", Some("https://Acme.example/about".into())),
            Ok(Some("https://acme.example/about".into()))
        );
        for bad in ["acme.example", "ftp://acme.example", "https://"] {
            assert!(optional_url("website", Some(bad.into())).is_err(), "{bad}");
        }
    }

    #[test]
    fn domains_lose_scheme_path_port_and_case() {
        for (given, want) in [
            ("Acme.COM", "acme.com"),
            ("https://www.Acme.com:8443/about?x=1", "acme.com"),
            ("https://WWW.Acme.com", "acme.com"),
            ("www.www.acme.com", "www.acme.com"),
            ("www.io", "www.io"),
            ("shop.www.acme.com", "shop.www.acme.com"),
            ("acme.com.", "acme.com"),
            ("bücher.example", "xn--bcher-kva.example"),
        ] {
            assert_eq!(
                optional_domain("domain", Some(given.into())),
                Ok(Some(want.into()))
            );
        }
        for bad in [
            "localhost",
            "10.0.0.1",
            "acme..com",
            "-acme.com",
            "acme com",
        ] {
            assert!(
                optional_domain("domain", Some(bad.into())).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn countries_and_currencies_are_iso_codes() {
        assert_eq!(
            optional_country("c", Some("de".into())),
            Ok(Some("DE".into()))
        );
        assert!(optional_country("c", Some("XX".into())).is_err());
        assert!(currency("c", "eur").is_ok());
        assert!(currency("c", "EURO").is_err());
    }

    #[test]
    fn amounts_are_decimal_strings_scaled_to_the_currency() {
        let eur = currency("c", "EUR").ok();
        let jpy = currency("c", "JPY").ok();
        assert_eq!(amount("v", "1250.5", eur).unwrap().to_string(), "1250.50");
        assert_eq!(amount("v", "1250.500", eur).unwrap().to_string(), "1250.50");
        assert_eq!(amount("v", "1000", jpy).unwrap().to_string(), "1000");
        assert_eq!(amount("v", "0.001", eur).unwrap_err().code, "too_precise");
        assert_eq!(amount("v", "1.5", jpy).unwrap_err().code, "too_precise");
        for bad in ["-1", "1e3", "", "1,5", ".5", "NaN"] {
            assert_eq!(
                amount("v", bad, eur).unwrap_err().code,
                "invalid_amount",
                "{bad}"
            );
        }
        assert_eq!(
            amount("v", "1000000000000000", eur).unwrap_err().code,
            "too_large"
        );
        let stored: rust_decimal::Decimal = "1250.5000".parse().unwrap();
        assert_eq!(format_amount(stored, Some("EUR")), "1250.50");
        assert_eq!(format_amount(stored, Some("BHD")), "1250.500");
    }
}
