//! Contract tests: the real server, a disposable PostgreSQL and the generated SDK. One
//! binary (one link) for all of them; each test gets its own database and server.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

mod activities;
mod associations;
mod bad_input;
mod batch;
mod broadcast;
mod companies;
mod concurrency;
mod contacts;
mod custom_fields;
mod document;
mod errors;
mod events;
mod exports;
mod idempotency;
mod identity;
mod imports;
mod injection;
mod isolation;
mod leads;
mod merge;
mod owners;
mod pipelines;
mod privileges;
mod ratelimits;
mod sandboxes;
mod sdk_helpers;
mod search;
mod security;
mod trash;
mod users;
mod walkthrough;
mod webhooks;

use momentum_sdk::types;

/// A contact body with just a first name and an email.
pub fn person(first: &str, email: &str) -> types::ContactCreate {
    types::ContactCreate {
        first_name: Some(first.parse().expect("a short name")),
        email: Some(email.to_owned()),
        ..Default::default()
    }
}

/// What an SDK call's `send()` gives.
pub type Sent<T> =
    Result<momentum_sdk::ResponseValue<T>, momentum_sdk::Error<types::ErrorEnvelope>>;

/// For [`Refused::refused`] where a test checks the status alone: any `error.code` will do.
pub const ANY_CODE: Option<&str> = None;

/// The assertion every refusal test makes: on what an SDK call's `send()` gave, or on a
/// [`RawAnswer`] for inputs the SDK cannot send.
pub trait Refused {
    /// Asserts the call was refused with `status` and, unless [`ANY_CODE`], the error
    /// code `code`; returns the error envelope for what else the test checks.
    fn refused<'a>(self, status: u16, code: impl Into<Option<&'a str>>) -> types::ErrorEnvelope;

    /// [`Refused::refused`], naming `case` (an operation, a table's row) in the failure.
    fn refused_as<'a>(
        self,
        case: impl std::fmt::Display,
        status: u16,
        code: impl Into<Option<&'a str>>,
    ) -> types::ErrorEnvelope;
}

// For any `Ok` type, not only `Sent`'s: a test may map a body that has no `Debug` away.
impl<T: std::fmt::Debug> Refused for Result<T, momentum_sdk::Error<types::ErrorEnvelope>> {
    #[track_caller]
    fn refused<'a>(self, status: u16, code: impl Into<Option<&'a str>>) -> types::ErrorEnvelope {
        self.refused_as("", status, code)
    }

    #[track_caller]
    fn refused_as<'a>(
        self,
        case: impl std::fmt::Display,
        status: u16,
        code: impl Into<Option<&'a str>>,
    ) -> types::ErrorEnvelope {
        let answer = match self {
            Err(momentum_sdk::Error::ErrorResponse(resp)) => RawAnswer {
                status: resp.status().as_u16(),
                body: resp.into_inner(),
            },
            other => panic!("expected an error response, got {other:?}"),
        };
        answer.refused_as(case, status, code)
    }
}

/// An error answer to a raw HTTP request (for inputs the SDK cannot send), its body
/// decoded with the SDK's error envelope, for [`Refused`].
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub body: types::ErrorEnvelope,
}

impl RawAnswer {
    /// Reads `resp`; panics unless its body is the error envelope.
    pub async fn of(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let body = resp.json().await.expect("the body is the error envelope");
        Self { status, body }
    }
}

impl Refused for RawAnswer {
    #[track_caller]
    fn refused<'a>(self, status: u16, code: impl Into<Option<&'a str>>) -> types::ErrorEnvelope {
        self.refused_as("", status, code)
    }

    #[track_caller]
    fn refused_as<'a>(
        self,
        case: impl std::fmt::Display,
        status: u16,
        code: impl Into<Option<&'a str>>,
    ) -> types::ErrorEnvelope {
        let Self {
            status: got,
            body: err,
        } = self;
        let case = case.to_string();
        let case = if case.is_empty() { case } else { case + ": " };
        match code.into() {
            Some(code) => assert_eq!(
                (got, err.error.code.as_str()),
                (status, code),
                "{case}{err:?}"
            ),
            None => assert_eq!(got, status, "{case}{err:?}"),
        }
        err
    }
}

/// Asserts the first detail of `err` names `field` with the code `code`.
#[track_caller]
pub fn assert_detail(err: &types::ErrorEnvelope, field: &str, code: &str) {
    let first = err.error.details.first();
    assert_eq!(
        first.map(|d| (d.field.as_str(), d.code.as_str())),
        Some((field, code)),
        "{err:?}"
    );
}

/// The (field, code) pairs of an error's details, in order.
pub fn details(err: &types::ErrorEnvelope) -> Vec<(&str, &str)> {
    err.error
        .details
        .iter()
        .map(|d| (d.field.as_str(), d.code.as_str()))
        .collect()
}

/// The fields named by an error's details, in order, borrowed.
pub fn fields(err: &types::ErrorEnvelope) -> Vec<&str> {
    err.error.details.iter().map(|d| d.field.as_str()).collect()
}

/// Creates a contact through the SDK and returns it; panics on any failure.
pub async fn create(client: &momentum_sdk::Client, body: types::ContactCreate) -> types::Contact {
    client
        .contacts_create()
        .body(body)
        .send()
        .await
        .expect("create a contact")
        .into_inner()
        .data
}

/// A company body with just a name.
pub fn company(name: &str) -> types::CompanyCreate {
    types::CompanyCreate {
        owner_id: None,
        name: name.parse().expect("a short name"),
        address_line1: None,
        address_line2: None,
        city: None,
        country: None,
        custom_fields: Default::default(),
        domain: None,
        employee_count: None,
        industry: None,
        phone: None,
        postal_code: None,
        region: None,
        tags: vec![],
        website: None,
    }
}

/// Creates a company with just a name; panics on any failure.
pub async fn create_company(client: &momentum_sdk::Client, name: &str) -> types::Company {
    client
        .companies_create()
        .body(company(name))
        .send()
        .await
        .expect("create a company")
        .into_inner()
        .data
}

/// A lead body with just a title and a pipeline (the lead starts in its first stage).
pub fn lead(title: &str, pipeline_id: uuid::Uuid) -> types::LeadCreate {
    types::LeadCreate {
        title: title.parse().expect("a short title"),
        pipeline_id: Some(pipeline_id),
        company_id: None,
        contact_id: None,
        currency: None,
        custom_fields: Default::default(),
        expected_close_date: None,
        lost_reason: None,
        owner_id: None,
        prospect_company_domain: None,
        prospect_company_name: None,
        prospect_email: None,
        prospect_first_name: None,
        prospect_last_name: None,
        prospect_phone: None,
        source: None,
        stage_id: None,
        value: None,
    }
}

/// Creates a lead; panics on any failure.
pub async fn create_lead(client: &momentum_sdk::Client, body: types::LeadCreate) -> types::Lead {
    client
        .leads_create()
        .body(body)
        .send()
        .await
        .expect("create a lead")
        .into_inner()
        .data
}

/// The tenant's default "Sales" pipeline.
pub async fn sales(client: &momentum_sdk::Client) -> types::Pipeline {
    let pipelines = client
        .pipelines_list()
        .send()
        .await
        .expect("list pipelines")
        .into_inner()
        .data;
    pipelines
        .into_iter()
        .find(|p| p.name == "Sales")
        .expect("every tenant starts with a Sales pipeline")
}

/// The id of the stage called `name` in `pipeline`.
pub fn stage(pipeline: &types::Pipeline, name: &str) -> uuid::Uuid {
    pipeline
        .stages
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.id)
        .unwrap_or_else(|| panic!("no stage {name}"))
}

/// Polls `check` every 50 ms until it gives a value, or panics after `within`.
pub async fn eventually<T, F, Fut>(within: std::time::Duration, what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The fields named by an error's details, in order.
pub fn fields_of(err: &types::ErrorEnvelope) -> Vec<String> {
    err.error.details.iter().map(|d| d.field.clone()).collect()
}
