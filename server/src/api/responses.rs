//! Response types shared by every operation: the success and error envelopes, and the
//! `ApiResponse` implementations that put them, with every status and standard header,
//! into the document.
//!
//! Success types (`Ok`, `Created`, `NoContent`) and the error type `ApiError<S>` are
//! written by hand rather than derived per operation so the headers every response
//! carries are declared in one place, and so each operation lists exactly the error
//! statuses it can return (`S` names the set) while all of them share one schema.
//! `Tagged` and `Conditional` add a resource's `ETag` (see `api::etag`) to the answers
//! that carry one resource, and `304 Not Modified` to reads.

use std::marker::PhantomData;

use poem::http::{HeaderValue, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object};
use serde::Serialize;

use super::etag::{IfNoneMatch, Versioned};
use crate::error::{AppError, ErrorCode};

/// `meta` of every envelope.
#[derive(Debug, Clone, Object, Serialize)]
pub struct Meta {
    /// The id of this request, also in the `X-Request-Id` header. Quote it when asking
    /// for support.
    pub request_id: String,
}

impl Meta {
    pub fn of(request_id: &super::edge::RequestId) -> Self {
        Self {
            request_id: request_id.0.clone(),
        }
    }
}

/// Declares the two envelopes of a resource: `$one` holds one `$item` with [`Meta`],
/// `$many` a page of them with [`ListMeta`].
macro_rules! envelopes {
    ($item:ty, $one:ident, $many:ident, $doc_one:literal, $doc_many:literal) => {
        #[doc = $doc_one]
        #[derive(Debug, Clone, poem_openapi::Object, serde::Serialize)]
        pub struct $one {
            pub data: $item,
            pub meta: $crate::api::responses::Meta,
        }

        #[doc = $doc_many]
        #[derive(Debug, Clone, poem_openapi::Object, serde::Serialize)]
        pub struct $many {
            pub data: Vec<$item>,
            pub meta: $crate::api::responses::ListMeta,
        }
    };
}
pub(crate) use envelopes;

/// `meta` of list envelopes.
#[derive(Debug, Clone, Object, Serialize)]
pub struct ListMeta {
    /// The id of this request, also in the `X-Request-Id` header.
    pub request_id: String,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
    /// Whether another page follows this one.
    pub has_more: bool,
    /// The page size used for this page.
    pub limit: u32,
}

/// One problem with one field of the request.
#[derive(Debug, Clone, Object, Serialize)]
pub struct ErrorDetail {
    /// The field, as a path into the request: `email`, `tags[2]`, `custom_fields.plan`, or
    /// a query parameter's name.
    pub field: String,
    /// A stable, machine-readable reason, e.g. `required`, `too_long`, `invalid_email`,
    /// `taken`. New reasons may be added.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

/// The error itself.
#[derive(Debug, Clone, Object, Serialize)]
pub struct ErrorBody {
    /// A stable error code. Known values: `bad_request`, `validation_failed`,
    /// `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`, `conflict`,
    /// `precondition_failed`, `payload_too_large`, `unsupported_media_type`,
    /// `rate_limited`, `internal`, `service_unavailable`, `idempotency_key_reused` (422),
    /// `idempotency_key_in_use` (409), `idempotency_answer_unavailable` (409). Codes are
    /// only ever added, so clients must accept values not in this list.
    pub code: String,
    /// A human-readable explanation; its wording may change.
    pub message: String,
    /// One entry per offending field; empty when the error is not about fields.
    pub details: Vec<ErrorDetail>,
}

/// The body of every error response.
#[derive(Debug, Clone, Object)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
    pub meta: Meta,
}

impl ErrorEnvelope {
    pub fn new(err: &AppError, request_id: &str) -> Self {
        let message = match err {
            // Internal details are logged, never sent.
            AppError::Internal(_) => "an internal error occurred".to_owned(),
            other => other.to_string(),
        };
        Self::from_parts(
            err.code(),
            message,
            err.details()
                .iter()
                .map(|d| ErrorDetail {
                    field: d.field.clone(),
                    code: d.code.to_owned(),
                    message: d.message.clone(),
                })
                .collect(),
            request_id,
        )
    }

    pub fn from_parts(
        code: ErrorCode,
        message: String,
        details: Vec<ErrorDetail>,
        request_id: &str,
    ) -> Self {
        Self {
            error: ErrorBody {
                code: code.as_str().to_owned(),
                message,
                details,
            },
            meta: Meta {
                request_id: request_id.to_owned(),
            },
        }
    }
}

pub const REQUEST_ID_HEADER: &str = "X-Request-Id";
pub const ETAG_HEADER: &str = "ETag";
const JSON: &str = "application/json; charset=utf-8";

fn header(name: &str, description: &str, schema: MetaSchemaRef) -> MetaHeader {
    MetaHeader {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        required: true,
        deprecated: false,
        schema,
    }
}

/// `header`, left out of responses to requests that could not be counted (the shared
/// rate-limit store unreachable, `ratelimit::Decision::counted`).
fn uncounted(header: MetaHeader) -> MetaHeader {
    MetaHeader {
        required: false,
        ..header
    }
}

/// Headers on every response, success or error, declared once for the document: the
/// request id and the rate-limit state of the operation's class.
fn standard_headers() -> Vec<MetaHeader> {
    vec![
        header(
            REQUEST_ID_HEADER,
            "The request's id: the client's own `X-Request-Id` when it sent a sane one \
             (1-128 characters of `A-Z a-z 0-9 - _ . : @`), else a generated one.",
            String::schema_ref(),
        ),
        header(
            "RateLimit-Policy",
            "The quota of this operation's class (IETF draft httpapi-ratelimit-headers), \
             e.g. `\"read\";q=1000;w=60`: 1000 requests per 60 s.",
            String::schema_ref(),
        ),
        uncounted(header(
            "RateLimit",
            "What is left of it, e.g. `\"read\";r=998;t=1`: 998 requests now, the full \
             quota back in 1 s. Absent, with `X-RateLimit-Remaining` and \
             `X-RateLimit-Reset`, while the server cannot count requests (the store its \
             instances share their counts through is unreachable): the quota still stands, \
             but what is left of it is unknown.",
            String::schema_ref(),
        )),
        header(
            "X-RateLimit-Limit",
            "Requests per minute of this operation's class.",
            u32::schema_ref(),
        ),
        uncounted(header(
            "X-RateLimit-Remaining",
            "Requests that can be made right now (absent when unknown, as `RateLimit`).",
            u32::schema_ref(),
        )),
        uncounted(header(
            "X-RateLimit-Reset",
            "Seconds until the full quota is back (absent when unknown, as `RateLimit`).",
            u64::schema_ref(),
        )),
    ]
}

fn json_response(
    status: u16,
    description: &'static str,
    schema: MetaSchemaRef,
    mut headers: Vec<MetaHeader>,
) -> MetaResponse {
    headers.extend(standard_headers());
    MetaResponse {
        description,
        status: Some(status),
        status_range: None,
        content: vec![MetaMediaType {
            content_type: JSON,
            schema,
        }],
        headers,
    }
}

/// A success body, written in one pass by its `serde::Serialize`.
///
/// poem-openapi's `Json` first builds the whole answer as a `serde_json::Value` (a map
/// per object, every string copied) and then writes that: on a page of 50 contacts, a
/// sixth of the server's CPU (docs/performance.md, "Where the server's CPU goes"). The
/// response types derive `Serialize` beside `Object`, with the same names and the same
/// forms (timestamps through [`super::json`]), so the bytes are those `ToJSON` would
/// give. Debug builds, which every test runs, check that on every answer: a type whose
/// `Serialize` strays from its schema fails the first test that returns it.
fn json_body<T: ToJSON + Serialize>(body: T) -> Response {
    match serde_json::to_vec(&body) {
        Ok(bytes) => {
            #[cfg(debug_assertions)]
            super::json::assert_same_as_schema(&body, &bytes);
            Response::builder()
                .header(poem::http::header::CONTENT_TYPE, JSON)
                .body(bytes)
        }
        // Only a map with keys that are not strings fails to serialize, and no response
        // type has one; should one appear, the slower path still answers correctly.
        Err(err) => {
            tracing::error!(error = %err, "a response body could not be serialized directly");
            Json(body).into_response()
        }
    }
}

/// 200 with a JSON envelope.
pub struct Success<T>(pub T);

impl<T: ToJSON> ApiResponse for Success<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![json_response(200, "Success.", T::schema_ref(), vec![])],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ToJSON + Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        json_body(self.0)
    }
}

/// 202 with a JSON envelope: the work is queued, not done (a webhook to be sent).
pub struct Accepted<T>(pub T);

impl<T: ToJSON> ApiResponse for Accepted<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![json_response(
                202,
                "Accepted: queued for delivery.",
                T::schema_ref(),
                vec![],
            )],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ToJSON + Serialize> IntoResponse for Accepted<T> {
    fn into_response(self) -> Response {
        let mut resp = json_body(self.0);
        resp.set_status(StatusCode::ACCEPTED);
        resp
    }
}

/// 202 with a resource whose work is queued (an export), and its address in
/// `Location`, where to follow it.
pub struct Queued<T> {
    pub body: T,
    pub location: String,
}

impl<T: ToJSON> ApiResponse for Queued<T> {
    fn meta() -> MetaResponses {
        let location = MetaHeader {
            name: "Location".to_owned(),
            description: Some("The path where the queued work can be followed.".to_owned()),
            required: true,
            deprecated: false,
            schema: String::schema_ref(),
        };
        MetaResponses {
            responses: vec![json_response(
                202,
                "Accepted: queued; follow it at `Location`.",
                T::schema_ref(),
                vec![location],
            )],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ToJSON + Serialize> IntoResponse for Queued<T> {
    fn into_response(self) -> Response {
        let mut resp = json_body(self.body);
        resp.set_status(StatusCode::ACCEPTED);
        if let Ok(value) = HeaderValue::from_str(&self.location) {
            resp.headers_mut()
                .insert(poem::http::header::LOCATION, value);
        }
        resp
    }
}

impl<T: Versioned> OneResource for Queued<T> {
    fn etag(&self) -> String {
        self.body.etag()
    }
}

/// 200 with an export's file, streamed from the store: NDJSON or CSV, with its length
/// and a file name to save it as.
pub struct Download(crate::app::exports::Download);

impl Download {
    pub fn new(download: crate::app::exports::Download) -> Self {
        Self(download)
    }
}

impl ApiResponse for Download {
    fn meta() -> MetaResponses {
        let mut headers = standard_headers();
        for (name, description) in [
            (
                "Content-Disposition",
                "`attachment`, with the file's name: `export-<id>.ndjson` or `.csv`.",
            ),
            ("Content-Length", "The file's size in bytes."),
            ("Cache-Control", NO_STORE),
        ] {
            headers.push(MetaHeader {
                name: name.to_owned(),
                description: Some(description.to_owned()),
                required: true,
                deprecated: false,
                schema: String::schema_ref(),
            });
        }
        let binary = || {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("binary"),
                ..MetaSchema::new("string")
            }))
        };
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The file: one JSON record per line, or CSV with a header row.",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: "application/x-ndjson",
                        schema: binary(),
                    },
                    MetaMediaType {
                        content_type: "text/csv",
                        schema: binary(),
                    },
                ],
                headers,
            }],
        }
    }

    fn register(_: &mut Registry) {}
}

impl IntoResponse for Download {
    fn into_response(self) -> Response {
        let crate::app::exports::Download { row, format, blob } = self.0;
        let name = format!("export-{}.{}", row.id, format.extension());
        Response::builder()
            .content_type(format.content_type())
            .header(
                poem::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            )
            .header(poem::http::header::CONTENT_LENGTH, blob.size)
            .header(poem::http::header::CACHE_CONTROL, "no-store")
            .body(poem::Body::from_bytes_stream(blob.body))
    }
}

/// 201 with the created resource and its address in `Location`.
pub struct Created<T> {
    pub body: T,
    pub location: String,
}

impl<T: ToJSON> ApiResponse for Created<T> {
    fn meta() -> MetaResponses {
        let location = MetaHeader {
            name: "Location".to_owned(),
            description: Some("The path of the created resource.".to_owned()),
            required: true,
            deprecated: false,
            schema: String::schema_ref(),
        };
        MetaResponses {
            responses: vec![json_response(
                201,
                "Created.",
                T::schema_ref(),
                vec![location],
            )],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ToJSON + Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let mut resp = json_body(self.body);
        resp.set_status(StatusCode::CREATED);
        if let Ok(value) = HeaderValue::from_str(&self.location) {
            resp.headers_mut()
                .insert(poem::http::header::LOCATION, value);
        }
        resp
    }
}

fn etag_header() -> MetaHeader {
    header(
        ETAG_HEADER,
        "The resource's version, a strong entity tag that changes with every change to \
         it. Send it back in `If-Match` to change or delete only this version, or in \
         `If-None-Match` to get `304 Not Modified` while it is current.",
        String::schema_ref(),
    )
}

fn with_etag(mut resp: Response, etag: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(poem::http::header::ETAG, value);
    }
    resp
}

/// A success response whose body is one versioned resource.
pub trait OneResource {
    fn etag(&self) -> String;
}

impl<T: Versioned> OneResource for Success<T> {
    fn etag(&self) -> String {
        self.0.etag()
    }
}

impl<T: Versioned> OneResource for Created<T> {
    fn etag(&self) -> String {
        self.body.etag()
    }
}

/// `R` ([`Success`] or [`Created`], with one resource) plus the resource's `ETag`.
pub struct Tagged<R>(pub R);

impl<R: ApiResponse> ApiResponse for Tagged<R> {
    fn meta() -> MetaResponses {
        let mut meta = R::meta();
        for response in &mut meta.responses {
            response.headers.insert(0, etag_header());
        }
        meta
    }

    fn register(registry: &mut Registry) {
        R::register(registry);
    }
}

impl<R: IntoResponse + OneResource> IntoResponse for Tagged<R> {
    fn into_response(self) -> Response {
        let etag = self.0.etag();
        with_etag(self.0.into_response(), &etag)
    }
}

/// A read of one resource: 200 with it and its `ETag`, or `304 Not Modified` with the
/// `ETag` and no body when the request's `If-None-Match` names the current version.
pub struct Conditional<T> {
    body: T,
    not_modified: bool,
}

impl<T: Versioned> Conditional<T> {
    pub fn new(body: T, if_none_match: &IfNoneMatch) -> Self {
        Self {
            not_modified: if_none_match.matches(&body),
            body,
        }
    }
}

impl<T: ToJSON> ApiResponse for Conditional<T> {
    fn meta() -> MetaResponses {
        let mut not_modified = vec![etag_header()];
        not_modified.extend(standard_headers());
        MetaResponses {
            responses: vec![
                json_response(200, "Success.", T::schema_ref(), vec![etag_header()]),
                MetaResponse {
                    description: "Not modified: `If-None-Match` names the current version, \
                                  which the `ETag` header repeats. No body.",
                    status: Some(304),
                    status_range: None,
                    content: vec![],
                    headers: not_modified,
                },
            ],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ToJSON + Serialize + Versioned> IntoResponse for Conditional<T> {
    fn into_response(self) -> Response {
        let etag = self.body.etag();
        let resp = if self.not_modified {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            json_body(self.body)
        };
        with_etag(resp, &etag)
    }
}

/// The one definition of `Cache-Control` the document has: what a QR code or an
/// export's file answers with.
const NO_STORE: &str = "`no-store`: neither a browser nor a proxy may keep the answer (a QR \
                        code is valid for minutes; an export's file holds the tenant's records).";

/// 200 with an image: `Svg` (`image/svg+xml`) or `Png` (`image/png`).
pub struct Svg(pub String);
pub struct Png(pub Vec<u8>);

fn image_response(content_type: &'static str) -> MetaResponses {
    let mut headers = standard_headers();
    headers.push(MetaHeader {
        name: "Cache-Control".to_owned(),
        description: Some(NO_STORE.to_owned()),
        required: true,
        deprecated: false,
        schema: String::schema_ref(),
    });
    MetaResponses {
        responses: vec![MetaResponse {
            description: "The image.",
            status: Some(200),
            status_range: None,
            content: vec![MetaMediaType {
                content_type,
                schema: MetaSchemaRef::Inline(Box::new(MetaSchema {
                    format: Some("binary"),
                    ..MetaSchema::new("string")
                })),
            }],
            headers,
        }],
    }
}

fn image(content_type: &'static str, body: impl Into<poem::Body>) -> Response {
    Response::builder()
        .content_type(content_type)
        .header(poem::http::header::CACHE_CONTROL, "no-store")
        .body(body)
}

impl ApiResponse for Svg {
    fn meta() -> MetaResponses {
        image_response("image/svg+xml")
    }

    fn register(_: &mut Registry) {}
}

impl IntoResponse for Svg {
    fn into_response(self) -> Response {
        image("image/svg+xml", self.0)
    }
}

impl ApiResponse for Png {
    fn meta() -> MetaResponses {
        image_response("image/png")
    }

    fn register(_: &mut Registry) {}
}

impl IntoResponse for Png {
    fn into_response(self) -> Response {
        image("image/png", self.0)
    }
}

/// 204, no body.
pub struct NoContent;

impl ApiResponse for NoContent {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "Done; no content.",
                status: Some(204),
                status_range: None,
                content: vec![],
                headers: standard_headers(),
            }],
        }
    }

    fn register(_: &mut Registry) {}
}

impl IntoResponse for NoContent {
    fn into_response(self) -> Response {
        StatusCode::NO_CONTENT.into_response()
    }
}

/// The error statuses an operation can return; each set is a marker type.
pub trait ErrorSet: Send + Sync + 'static {
    const STATUSES: &'static [ErrorCode];
}

macro_rules! error_sets {
    ($($(#[$doc:meta])* $name:ident => [$($code:ident),* $(,)?];)*) => {
        $(
            $(#[$doc])*
            pub struct $name;
            impl ErrorSet for $name {
                const STATUSES: &'static [ErrorCode] = &[$(ErrorCode::$code),*];
            }
        )*
    };
}

error_sets! {
    // Every set has `PayloadTooLarge`: the edge reads any request's body up to the limit
    // before routing, so an operation that takes no body still answers 413 to a big one.

    /// Unauthenticated probes.
    Public => [PayloadTooLarge, RateLimited, Internal, ServiceUnavailable];
    /// Reading one resource by id.
    Read => [
        BadRequest, Unauthorized, Forbidden, NotFound, PayloadTooLarge, RateLimited, Internal,
        ServiceUnavailable,
    ];
    /// Listing resources.
    List => [
        BadRequest, Unauthorized, Forbidden, PayloadTooLarge, RateLimited, Internal,
        ServiceUnavailable,
    ];
    /// Listing resources with filters that name something of the tenant's (a custom
    /// field, a record's type): well formed, yet refused with a 422 when it does not fit.
    FilteredList => [
        BadRequest, Unauthorized, Forbidden, PayloadTooLarge, ValidationFailed, RateLimited,
        Internal, ServiceUnavailable,
    ];
    /// Creating a resource from a JSON body.
    Create => [
        BadRequest, Unauthorized, Forbidden, Conflict, PayloadTooLarge, UnsupportedMediaType,
        ValidationFailed, RateLimited, Internal, ServiceUnavailable,
    ];
    /// Reading records named in a JSON body (a batch read): nothing to conflict with,
    /// and a key that finds nothing is an answer, not a 404.
    BodyRead => [
        BadRequest, Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType,
        ValidationFailed, RateLimited, Internal, ServiceUnavailable,
    ];
    /// Creating a resource inside another one (which may not exist) from a JSON body.
    CreateIn => [
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
        UnsupportedMediaType, ValidationFailed, RateLimited, Internal, ServiceUnavailable,
    ];
    /// Changing a resource with a JSON body, under `If-Match`.
    Update => [
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed,
        PayloadTooLarge, UnsupportedMediaType, ValidationFailed, RateLimited, Internal,
        ServiceUnavailable,
    ];
    /// Deleting a resource, under `If-Match`.
    Delete => [
        BadRequest, Unauthorized, Forbidden, NotFound, PreconditionFailed, PayloadTooLarge,
        RateLimited, Internal, ServiceUnavailable,
    ];
    /// Deleting a resource, under `If-Match`, when business rules can refuse it.
    GuardedDelete => [
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed,
        PayloadTooLarge, ValidationFailed, RateLimited, Internal, ServiceUnavailable,
    ];
    /// An action on a resource without a body that business rules can refuse.
    Action => [
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
        ValidationFailed, RateLimited, Internal, ServiceUnavailable,
    ];
    /// An action on a resource, with a JSON body, that business rules can refuse.
    BodyAction => [
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
        UnsupportedMediaType, ValidationFailed, RateLimited, Internal, ServiceUnavailable,
    ];
    /// Reading what the calling credential itself is: nothing in the request can be
    /// malformed or name something missing.
    Own => [
        Unauthorized, Forbidden, PayloadTooLarge, RateLimited, Internal, ServiceUnavailable,
    ];
    /// Starting a QR login (no input but, at most, an oversized body).
    Start => [PayloadTooLarge, RateLimited, Internal, ServiceUnavailable];
    /// Polling a QR login session with its poll secret.
    Poll => [
        BadRequest, Unauthorized, NotFound, PayloadTooLarge, RateLimited, Internal,
        ServiceUnavailable,
    ];
    /// Exchanging a QR login session's approval for a session token.
    Exchange => [
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, RateLimited, Internal,
        ServiceUnavailable,
    ];
    /// Fetching a resource's file, which exists only in some of its states.
    Fetch => [
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge, RateLimited,
        Internal, ServiceUnavailable,
    ];
    /// Rendering a QR login session's code.
    Image => [
        BadRequest, NotFound, Conflict, PayloadTooLarge, RateLimited, Internal,
        ServiceUnavailable,
    ];
}

/// Each error code's HTTP status: the one place a kind of application error meets HTTP
/// (the application error itself, in `error.rs`, has none). The edge sets it on every
/// error it renders, and the document lists it for every operation.
pub fn status(code: ErrorCode) -> u16 {
    match code {
        ErrorCode::BadRequest => 400,
        ErrorCode::ValidationFailed => 422,
        ErrorCode::Unauthorized => 401,
        ErrorCode::Forbidden => 403,
        ErrorCode::NotFound => 404,
        ErrorCode::MethodNotAllowed => 405,
        ErrorCode::Conflict => 409,
        ErrorCode::PreconditionFailed => 412,
        ErrorCode::PayloadTooLarge => 413,
        ErrorCode::UnsupportedMediaType => 415,
        ErrorCode::RateLimited => 429,
        ErrorCode::Internal => 500,
        ErrorCode::ServiceUnavailable => 503,
        ErrorCode::IdempotencyKeyReused => 422,
        ErrorCode::IdempotencyKeyInUse => 409,
        ErrorCode::IdempotencyAnswerUnavailable => 409,
    }
}

fn describe(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadRequest => {
            "Malformed request: unparsable JSON, a wrong JSON type, or an invalid parameter."
        }
        ErrorCode::ValidationFailed => {
            "Well-formed, but fields break the rules; `details` has one entry per field."
        }
        ErrorCode::Unauthorized => "Missing, malformed, unknown, expired or revoked API key.",
        ErrorCode::Forbidden => {
            "The credential lacks the scope this operation needs (named in the message), or \
             its user's role does not allow it."
        }
        ErrorCode::NotFound => "No such resource in this tenant.",
        ErrorCode::MethodNotAllowed => "The path exists but not with this method.",
        ErrorCode::Conflict => {
            "Conflicts with the current state, e.g. a unique field already in use."
        }
        ErrorCode::PreconditionFailed => {
            "`If-Match` names a version that is no longer current: the resource changed \
             since it was read. Nothing was changed; the current version is in the `ETag` \
             header and in `details` (field `If-Match`, code `stale`)."
        }
        ErrorCode::PayloadTooLarge => {
            "The body is larger than the server accepts (1 MiB by default)."
        }
        ErrorCode::UnsupportedMediaType => "The body is not `application/json`.",
        ErrorCode::RateLimited => {
            "Too many requests of this operation's class; retry after `Retry-After` seconds."
        }
        ErrorCode::Internal => "An unexpected error; it has been logged under the request id.",
        ErrorCode::ServiceUnavailable => {
            "The database is unreachable (stopped, restarting, or out of connections), or \
             the store the instances share rate limits through is, where the operator \
             chose to refuse what cannot be counted; retry after `Retry-After` seconds."
        }
        ErrorCode::IdempotencyKeyReused => {
            "The `Idempotency-Key` was used for a different request (method, path or body)."
        }
        ErrorCode::IdempotencyKeyInUse => {
            "A request with this `Idempotency-Key` is still running; retry once it finishes."
        }
        ErrorCode::IdempotencyAnswerUnavailable => {
            "The request with this `Idempotency-Key` already ran, but its stored answer can no \
             longer be read (the server's secret key changed). It was not run again: check \
             whether it took effect, then send it with a new key."
        }
    }
}

/// An operation's error: an [`AppError`] plus, in the type, the statuses the operation
/// documents. It becomes a `poem::Error` and is rendered, like every other error, by the
/// envelope middleware.
pub struct ApiError<S> {
    error: AppError,
    statuses: PhantomData<S>,
}

impl<S> From<AppError> for ApiError<S> {
    fn from(error: AppError) -> Self {
        Self {
            error,
            statuses: PhantomData,
        }
    }
}

impl<S> From<ApiError<S>> for poem::Error {
    fn from(err: ApiError<S>) -> Self {
        err.error.into_poem()
    }
}

impl<S: ErrorSet> ApiResponse for ApiError<S> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: S::STATUSES
                .iter()
                .map(|code| {
                    let extra = match code {
                        ErrorCode::RateLimited => vec![header(
                            "Retry-After",
                            "Whole seconds (at least 1) before the next request can pass.",
                            u64::schema_ref(),
                        )],
                        ErrorCode::ServiceUnavailable => vec![header(
                            "Retry-After",
                            "Seconds to wait before retrying (2): the database (or the \
                             store the instances share rate limits through) is away, \
                             typically for the seconds a restart or failover takes.",
                            u64::schema_ref(),
                        )],
                        ErrorCode::PreconditionFailed => vec![header(
                            ETAG_HEADER,
                            "The resource's current version.",
                            String::schema_ref(),
                        )],
                        _ => vec![],
                    };
                    json_response(
                        status(*code),
                        describe(*code),
                        Json::<ErrorEnvelope>::schema_ref(),
                        extra,
                    )
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorEnvelope::register(registry);
    }
}

pub type ApiResult<T, S> = Result<T, ApiError<S>>;
