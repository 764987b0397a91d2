//! Companies: the organisations a tenant works with. A company needs a name; its domain,
//! if any, is normalised and unique within the tenant.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::fields::{self, Errors, FieldError};
use super::Patch;

pub const NAME_MAX: usize = 200;
pub const INDUSTRY_MAX: usize = 100;
pub const ADDRESS_LINE_MAX: usize = 200;
pub const CITY_MAX: usize = 100;
pub const REGION_MAX: usize = 100;
pub const POSTAL_CODE_MAX: usize = 20;
pub const EMPLOYEES_MAX: i64 = i32::MAX as i64;

/// A company as a client described it, before any check.
#[derive(Debug, Clone, Default)]
pub struct CompanyInput {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    pub phone: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub tags: Vec<String>,
    pub custom_fields: Map<String, Value>,
    /// The user who owns the company; whether it is one of the tenant's is the
    /// database's check (a composite foreign key).
    pub owner_id: Option<Uuid>,
}

/// A company whose every field passed its rules.
///
/// Its fields are private to `domain`: outside it a company comes only from
/// [`Company::parse`], a patch's [`CompanyPatch::apply_to`], or the named doors below
/// (each saying why it may skip the rules), so no code can write an unchecked one.
#[derive(Debug, Clone, PartialEq)]
pub struct Company {
    pub(super) name: String,
    pub(super) domain: Option<String>,
    pub(super) website: Option<String>,
    pub(super) industry: Option<String>,
    pub(super) employee_count: Option<i32>,
    pub(super) phone: Option<String>,
    pub(super) address_line1: Option<String>,
    pub(super) address_line2: Option<String>,
    pub(super) city: Option<String>,
    pub(super) region: Option<String>,
    pub(super) postal_code: Option<String>,
    pub(super) country: Option<String>,
    pub(super) tags: Vec<String>,
    pub(super) custom_fields: Value,
    pub(super) owner_id: Option<Uuid>,
}

fn employee_count(value: Option<i64>) -> Result<Option<i32>, FieldError> {
    match value {
        None => Ok(None),
        Some(n) => match i32::try_from(n) {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(FieldError::new(
                "employee_count",
                "out_of_range",
                format!("must be between 0 and {EMPLOYEES_MAX}"),
            )),
        },
    }
}

impl Company {
    /// Checks every field and reports every bad one.
    pub fn parse(input: CompanyInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let name = errors.check(fields::optional_text("name", input.name, NAME_MAX, false));
        if name.is_none() && !errors.has("name") {
            errors.push(FieldError::new(
                "name",
                "required",
                "a company needs a name",
            ));
        }
        let text = |errors: &mut Errors, field: &str, value: Option<String>, max: usize| {
            errors.check(fields::optional_text(field, value, max, false))
        };
        let company = Company {
            name: name.unwrap_or_default(),
            domain: errors.check(fields::optional_domain("domain", input.domain)),
            website: errors.check(fields::optional_url("website", input.website)),
            industry: text(&mut errors, "industry", input.industry, INDUSTRY_MAX),
            employee_count: errors.check(employee_count(input.employee_count)),
            phone: errors.check(fields::optional_phone("phone", input.phone)),
            address_line1: text(
                &mut errors,
                "address_line1",
                input.address_line1,
                ADDRESS_LINE_MAX,
            ),
            address_line2: text(
                &mut errors,
                "address_line2",
                input.address_line2,
                ADDRESS_LINE_MAX,
            ),
            city: text(&mut errors, "city", input.city, CITY_MAX),
            region: text(&mut errors, "region", input.region, REGION_MAX),
            postal_code: text(
                &mut errors,
                "postal_code",
                input.postal_code,
                POSTAL_CODE_MAX,
            ),
            country: errors.check(fields::optional_country("country", input.country)),
            tags: errors.check(fields::tags("tags", input.tags)),
            custom_fields: errors
                .check(fields::custom_fields("custom_fields", input.custom_fields).map(Some))
                .unwrap_or_else(|| Value::Object(Map::new())),
            owner_id: input.owner_id,
        };
        errors.finish(company)
    }

    /// A company as it was stored: a row passed these rules when it was written, and is
    /// not checked again (a rule tightened since must not make a stored company
    /// unreadable, and a merge or an unchanged batch item must see exactly what is
    /// stored). For rows read from the database only; client input goes through
    /// [`Company::parse`].
    pub fn from_stored(stored: CompanyInput) -> Self {
        Company {
            name: stored.name.unwrap_or_default(),
            domain: stored.domain,
            website: stored.website,
            industry: stored.industry,
            // A stored count is an `integer` column: always within `i32`.
            employee_count: stored.employee_count.and_then(|n| i32::try_from(n).ok()),
            phone: stored.phone,
            address_line1: stored.address_line1,
            address_line2: stored.address_line2,
            city: stored.city,
            region: stored.region,
            postal_code: stored.postal_code,
            country: stored.country,
            tags: stored.tags,
            custom_fields: Value::Object(stored.custom_fields),
            owner_id: stored.owner_id,
        }
    }

    /// The company with its custom field values replaced by `checked`: values that
    /// `app::custom_fields` validated and normalised against the tenant's definitions of
    /// company fields (rules [`Company::parse`] cannot know, as they live in the database).
    pub fn with_custom_fields(self, checked: Value) -> Self {
        Company {
            custom_fields: checked,
            ..self
        }
    }

    /// Never blank.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Normalised by the rules: what the unique index compares.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    pub fn website(&self) -> Option<&str> {
        self.website.as_deref()
    }

    pub fn industry(&self) -> Option<&str> {
        self.industry.as_deref()
    }

    pub fn employee_count(&self) -> Option<i32> {
        self.employee_count
    }

    pub fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }

    pub fn address_line1(&self) -> Option<&str> {
        self.address_line1.as_deref()
    }

    pub fn address_line2(&self) -> Option<&str> {
        self.address_line2.as_deref()
    }

    pub fn city(&self) -> Option<&str> {
        self.city.as_deref()
    }

    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    pub fn postal_code(&self) -> Option<&str> {
        self.postal_code.as_deref()
    }

    pub fn country(&self) -> Option<&str> {
        self.country.as_deref()
    }

    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Always a JSON object.
    pub fn custom_fields(&self) -> &Value {
        &self.custom_fields
    }

    pub fn owner_id(&self) -> Option<Uuid> {
        self.owner_id
    }

    /// The company owned by `owner` when it names no owner: the default of a create (the
    /// acting user), never of an update, where a cleared owner stays cleared.
    pub fn owned_by_default(self, owner: Option<Uuid>) -> Self {
        Company {
            owner_id: self.owner_id.or(owner),
            ..self
        }
    }

    /// Back to raw input, so a patch can be laid over it and the result checked again.
    pub fn into_input(self) -> CompanyInput {
        CompanyInput {
            name: Some(self.name),
            domain: self.domain,
            website: self.website,
            industry: self.industry,
            employee_count: self.employee_count.map(i64::from),
            phone: self.phone,
            address_line1: self.address_line1,
            address_line2: self.address_line2,
            city: self.city,
            region: self.region,
            postal_code: self.postal_code,
            country: self.country,
            tags: self.tags,
            custom_fields: match self.custom_fields {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            owner_id: self.owner_id,
        }
    }
}

/// A merge patch of a company. `name` is replaced when given and can never be cleared;
/// clearing `tags` or `custom_fields` empties them, and a `custom_fields` set replaces
/// the map whole (the key-by-key merge against the tenant's definitions is
/// `app::custom_fields::for_patch`).
#[derive(Debug, Clone, Default)]
pub struct CompanyPatch {
    pub name: Option<String>,
    pub domain: Patch<Option<String>>,
    pub website: Patch<Option<String>>,
    pub industry: Patch<Option<String>>,
    pub employee_count: Patch<Option<i64>>,
    pub phone: Patch<Option<String>>,
    pub address_line1: Patch<Option<String>>,
    pub address_line2: Patch<Option<String>>,
    pub city: Patch<Option<String>>,
    pub region: Patch<Option<String>>,
    pub postal_code: Patch<Option<String>>,
    pub country: Patch<Option<String>>,
    pub tags: Patch<Vec<String>>,
    pub custom_fields: Patch<Map<String, Value>>,
    pub owner_id: Patch<Option<Uuid>>,
}

impl CompanyPatch {
    /// Applies the patch to `current` and checks the result as a whole, exactly as a
    /// create is checked (every bad field reported, in the create's order).
    pub fn apply_to(self, current: Company) -> Result<Company, Vec<FieldError>> {
        self.apply_to_input(current.into_input())
    }

    /// As [`CompanyPatch::apply_to`], over a company as raw input (a stored row read
    /// back, or nothing at all for a batch item that creates): the result is parsed whole.
    pub fn apply_to_input(self, mut input: CompanyInput) -> Result<Company, Vec<FieldError>> {
        if let Some(name) = self.name {
            input.name = Some(name);
        }
        self.domain.apply(&mut input.domain);
        self.website.apply(&mut input.website);
        self.industry.apply(&mut input.industry);
        self.employee_count.apply(&mut input.employee_count);
        self.phone.apply(&mut input.phone);
        self.address_line1.apply(&mut input.address_line1);
        self.address_line2.apply(&mut input.address_line2);
        self.city.apply(&mut input.city);
        self.region.apply(&mut input.region);
        self.postal_code.apply(&mut input.postal_code);
        self.country.apply(&mut input.country);
        self.tags.apply(&mut input.tags);
        self.custom_fields.apply(&mut input.custom_fields);
        self.owner_id.apply(&mut input.owner_id);
        Company::parse(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_company_needs_a_name_and_normalises_what_it_can() {
        let errors = Company::parse(CompanyInput::default()).unwrap_err();
        assert_eq!(errors[0].field, "name");
        let company = Company::parse(CompanyInput {
            name: Some(" Acme ".into()),
            domain: Some("https://ACME.example/about".into()),
            country: Some("de".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(company.name, "Acme");
        assert_eq!(company.domain.as_deref(), Some("acme.example"));
        assert_eq!(company.country.as_deref(), Some("DE"));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = Company::parse(CompanyInput {
            name: Some("Acme".into()),
            domain: Some("localhost".into()),
            website: Some("acme".into()),
            employee_count: Some(-1),
            country: Some("Germany".into()),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["domain", "website", "employee_count", "country"]);
    }

    fn acme() -> Company {
        Company::parse(CompanyInput {
            name: Some("Acme".into()),
            domain: Some("acme.example".into()),
            website: Some("https://acme.example/".into()),
            phone: Some("+14155552671".into()),
            employee_count: Some(12),
            tags: vec!["a".into()],
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_stored_company_comes_back_unchanged_through_an_empty_patch() {
        let current = acme();
        assert_eq!(
            CompanyPatch::default().apply_to(current.clone()),
            Ok(current)
        );
    }

    #[test]
    fn a_patch_keeps_absent_fields_clears_null_ones_and_sets_the_rest() {
        let patched = CompanyPatch {
            website: Patch::Clear,
            tags: Patch::Clear,
            employee_count: Patch::Set(Some(13)),
            country: Patch::Set(Some("de".into())),
            ..Default::default()
        }
        .apply_to(acme())
        .unwrap();
        assert_eq!(patched.name, "Acme");
        assert_eq!(patched.domain.as_deref(), Some("acme.example"));
        assert_eq!(patched.website, None);
        assert!(patched.tags.is_empty());
        assert_eq!(patched.employee_count, Some(13));
        assert_eq!(patched.country.as_deref(), Some("DE"));
    }

    #[test]
    fn a_blank_name_is_refused_and_a_patch_over_nothing_is_a_create() {
        let errors = CompanyPatch {
            name: Some("  ".into()),
            ..Default::default()
        }
        .apply_to(acme())
        .unwrap_err();
        assert_eq!(
            (errors[0].field.as_str(), errors[0].code),
            ("name", "required")
        );
        let errors = CompanyPatch::default()
            .apply_to_input(CompanyInput::default())
            .unwrap_err();
        assert_eq!(errors, Company::parse(CompanyInput::default()).unwrap_err());
    }
}
