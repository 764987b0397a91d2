//! The edge of the HTTP stack, wrapped around every route: assigns the request id, caps
//! the body size, catches panics, logs each request, and renders every error — ours, or
//! one poem raised by itself (unknown route, wrong method, bad JSON, wrong content type,
//! missing credentials) — as the one error envelope. No other place builds error bodies.
//!
//! Methods: `HEAD` is answered as the `GET` of its path without the body (the same
//! operation, authentication, scope, rate-limit class and count, status and headers,
//! `Content-Length` included); `OPTIONS` is answered `204` with `Allow` on every path
//! the server has; any other method a path does not take is a `405` envelope with
//! `Allow`. A request to a path of the document that no operation takes still counts
//! against its client address ([`operations::path_class`]), so no method gets past the
//! rate limits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::payload::Json;
use tracing::field::Empty;
use tracing::Instrument;

use super::operations::{self, Operation};
use super::responses::{self, ErrorDetail, ErrorEnvelope, REQUEST_ID_HEADER};
use crate::domain::FieldError;
use crate::error::{AppError, ErrorCode};
use crate::metrics::{HttpOperation, Metrics};
use crate::ratelimit::{
    self, Class, ClientIp, Key, RateLimiter, Slot, TrustedProxies, Unavailable,
};
use crate::telemetry;

/// The request id, available to handlers as `Data<&RequestId>`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub struct Edge {
    pub max_body_bytes: usize,
    /// The deadline of a request, body upload included (a 503 past it).
    pub request_timeout: Duration,
    /// What an operation whose body is a file takes instead (an import's upload).
    pub uploads: UploadLimits,
    pub limits: Arc<RateLimiter>,
    pub metrics: Arc<Metrics>,
    pub trusted_proxies: Arc<TrustedProxies>,
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        EdgeEndpoint {
            inner,
            max_body_bytes: self.max_body_bytes,
            request_timeout: self.request_timeout,
            uploads: self.uploads,
            limits: Arc::clone(&self.limits),
            http_metrics: Arc::new(HttpMetrics::new(&self.metrics)),
            trusted_proxies: Arc::clone(&self.trusted_proxies),
        }
    }
}

/// Every operation's request series, looked up by operationId without allocating (the
/// labels are resolved once per operation and status class).
struct HttpMetrics {
    operations: HashMap<&'static str, HttpOperation>,
    /// Requests outside the document's operations.
    unmatched: HttpOperation,
}

impl HttpMetrics {
    fn new(metrics: &Arc<Metrics>) -> Self {
        Self {
            operations: operations::all()
                .iter()
                .map(|op| (op.id, metrics.http_operation(op.id)))
                .collect(),
            unmatched: metrics.http_operation("unmatched"),
        }
    }

    fn of(&self, operation: Option<&Operation>) -> &HttpOperation {
        operation
            .and_then(|op| self.operations.get(op.id))
            .unwrap_or(&self.unmatched)
    }
}

/// The body limit and deadline of an operation whose body is a file: it is streamed to
/// the handler, which counts its bytes, so only a declared length is checked here.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub max_bytes: u64,
    pub timeout: Duration,
}

pub struct EdgeEndpoint<E> {
    inner: E,
    max_body_bytes: usize,
    request_timeout: Duration,
    uploads: UploadLimits,
    limits: Arc<RateLimiter>,
    http_metrics: Arc<HttpMetrics>,
    trusted_proxies: Arc<TrustedProxies>,
}

impl<E> EdgeEndpoint<E> {
    /// Counts a request by its client address and keeps the decision for the headers:
    /// the error a refused request gets (429, or 503 while the store is away under
    /// `deny`).
    async fn check_ip(&self, class: Class, ip: IpAddr, slot: &Slot) -> Result<(), AppError> {
        match self.limits.check(class, &Key::Ip(ip), None).await {
            Ok(decision) => {
                let refused = decision.retry_after;
                slot.set(decision);
                match refused {
                    Some(retry_after) => Err(AppError::RateLimited {
                        class: class.as_str(),
                        retry_after,
                    }),
                    None => Ok(()),
                }
            }
            Err(Unavailable(decision)) => {
                slot.set(decision);
                Err(AppError::LimitsUnavailable)
            }
        }
    }
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let request_id =
            client_request_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        req.extensions_mut().insert(RequestId(request_id.clone()));
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        // The fields after `path` are for traces alone: recorded only when they are on
        // (`telemetry::enabled`), so the logs and the cost of a request stay as they were.
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            %method,
            %path,
            otel.name = Empty,
            otel.kind = Empty,
            otel.status_code = Empty,
            http.request.method = Empty,
            http.route = Empty,
            http.response.status_code = Empty,
            tenant.id = Empty,
        );
        let traced = telemetry::enabled();
        if traced {
            // Before the span starts (it does when first entered): a parent set later
            // would be ignored.
            telemetry::continue_trace(&span, req.headers());
        }
        let started = Instant::now();
        let head = method == Method::HEAD;
        if head {
            // Routed as a GET from here on, so HEAD is the GET's operation for the
            // credential check, the rate limits and the handler alike; the body is
            // dropped at the end.
            req.set_method(Method::GET);
        }
        let operation = operations::find(req.method().as_str(), &path);
        if traced {
            // A span's name and kind are fixed once it starts: set them now.
            span.record("otel.name", operation.map_or(method.as_str(), |op| op.id));
            span.record("otel.kind", "server");
            span.record("http.request.method", method.as_str());
            if let Some(op) = operation {
                span.record("http.route", op.path.as_str());
            }
        }
        let peer = req
            .remote_addr()
            .as_socket_addr()
            .map(|addr| addr.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        // Every line: each proxy may add its own rather than extend the last.
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let ip = ratelimit::client_ip(peer, forwarded, &self.trusted_proxies);
        let slot = Slot::default();
        req.extensions_mut().insert(ClientIp(ip));
        if let Some(op) = operation {
            req.extensions_mut().insert(op);
        }
        req.extensions_mut().insert(slot.clone());

        let result = async {
            // Unauthenticated operations count per client address here, and so does a
            // request to a path of the document that no operation takes (a method the
            // path does not take, OPTIONS); authenticated ones per credential, in the
            // credential check (api::security). Paths outside the document (unknown
            // ones, /metrics, /docs) reach nothing that a limit would protect.
            let by_address = match operation {
                Some(op) if op.authenticated => None,
                Some(op) => Some(op.class),
                None => operations::path_class(&path),
            };
            if let Some(class) = by_address {
                self.check_ip(class, ip, &slot)
                    .await
                    .map_err(AppError::into_poem)?;
            }
            if let Some(op) = operation {
                check_path(op, req.uri().path()).map_err(AppError::into_poem)?;
                check_query(op, req.uri().query().unwrap_or_default())
                    .map_err(AppError::into_poem)?;
            }
            // The deadline covers the body's upload too, so a client trickling a body
            // is cut off like one trickling its headers (serving.rs). Dropping the
            // handler rolls back its open transaction; an Idempotency-Key it held stays
            // held until its lease ends, as after a crash.
            let streams = operation.is_some_and(|op| op.streams_body);
            let handled = async {
                if streams {
                    refuse_declared_length(&req, self.uploads.max_bytes)?;
                    if !req.headers().contains_key(header::CONTENT_TYPE) {
                        return Err(AppError::UnsupportedMediaType(
                            "an upload must say what it is: send `Content-Type: text/csv` \
                             (or `application/x-ndjson`)"
                                .into(),
                        )
                        .into_poem());
                    }
                } else {
                    limit_body(&mut req, self.max_body_bytes).await?;
                }
                match AssertUnwindSafe(self.inner.call(req)).catch_unwind().await {
                    Ok(result) => result.map(IntoResponse::into_response),
                    // Logged once, with the request id, by render_error.
                    Err(_) => {
                        Err(AppError::Internal(anyhow::anyhow!("handler panicked")).into_poem())
                    }
                }
            };
            // The deadline reaches the database too (`db::TenantTx`), so a statement
            // still running when the client gets its 503 is cancelled by PostgreSQL
            // rather than left holding a connection and its locks.
            let timeout = if streams {
                self.uploads.timeout
            } else {
                self.request_timeout
            };
            let deadline = tokio::time::Instant::now() + timeout;
            let handled = crate::deadline::scope(deadline, handled);
            match tokio::time::timeout_at(deadline, handled).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(
                        timeout_secs = timeout.as_secs_f64(),
                        "the request passed its deadline"
                    );
                    Err(AppError::TimedOut.into_poem())
                }
            }
        }
        .instrument(span.clone())
        .await;

        let mut resp = match result {
            Ok(resp) => resp,
            Err(err) => span.in_scope(|| render_error(err, &request_id)),
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        // No route takes OPTIONS, so a path the server has answers it 405 and an unknown
        // one 404: the 405 becomes the answer OPTIONS asks for, which methods it takes.
        let options = method == Method::OPTIONS;
        if options && resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            resp = StatusCode::NO_CONTENT.into_response();
        }
        // RFC 9110 requires a 405 to say which methods the resource does take.
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED
            || (options && resp.status() == StatusCode::NO_CONTENT)
        {
            let allowed = operations::allowed_methods(&path)
                .unwrap_or_else(|| OUTSIDE_THE_DOCUMENT_ALLOW.to_owned());
            if let Ok(value) = HeaderValue::from_str(&allowed) {
                resp.headers_mut().insert(header::ALLOW, value);
            }
        }
        if let Some(op) = operation {
            // An authenticated operation refused before its credential check ran (no
            // `Authorization` header) still counts, per client address.
            if slot.get().is_none() {
                // The answer is already decided; only the count and its headers remain.
                let _ = self.check_ip(op.class, ip, &slot).await;
            }
        }
        if let Some(decision) = slot.get() {
            for (name, value) in ratelimit::headers(&decision) {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    resp.headers_mut().insert(name, value);
                }
            }
        }
        if head {
            resp = without_body(resp).await;
        }
        self.http_metrics
            .of(operation)
            .observe(resp.status().as_u16(), started.elapsed().as_secs_f64());
        if traced {
            span.record("http.response.status_code", resp.status().as_u16());
            // As OpenTelemetry's HTTP conventions have it for a server: a 4xx is the
            // client's doing, not a failure of this span.
            if resp.status().is_server_error() {
                span.record("otel.status_code", "error");
            }
        }
        span.in_scope(|| {
            tracing::info!(
                status = resp.status().as_u16(),
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request finished"
            )
        });
        Ok(resp)
    }
}

/// What the routes outside the document (`/openapi.json`, `/metrics`, `/docs`) take:
/// `GET`, so `HEAD`, and `OPTIONS` as everywhere.
const OUTSIDE_THE_DOCUMENT_ALLOW: &str = "GET, HEAD, OPTIONS";

/// The answer to a `HEAD`: the `GET`'s, with the `Content-Length` its body would have
/// had and no body (hyper leaves an HTTP/1 body out by itself, but not an HTTP/2 one,
/// nor does it know the length of a body it was not given). A body whose length the
/// answer already states (an export's file, streamed from the store) is dropped unread;
/// the others are in memory, and measured.
async fn without_body(mut resp: Response) -> Response {
    let status = resp.status();
    let body = resp.take_body();
    let has_length = !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED);
    if has_length && !resp.headers().contains_key(header::CONTENT_LENGTH) {
        match body.into_bytes().await {
            Ok(bytes) => {
                resp.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            }
            // Nothing is sent either way; only the length goes unsaid.
            Err(err) => tracing::warn!(error = %err, "could not measure a HEAD answer's body"),
        }
    }
    resp
}

/// Echo a client's request id only when it is short and plain, so it is safe in logs
/// and headers; otherwise the server makes one.
fn client_request_id(req: &Request) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let sane = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b));
    sane.then(|| value.to_owned())
}

fn bad_parameter(name: &str, code: &'static str, reason: &str) -> AppError {
    AppError::bad_parameter(FieldError::new(name, code, reason))
}

const NOT_UTF8: &str = "is not UTF-8 once percent-decoded";

/// Refuses a path parameter that is not UTF-8 once percent-decoded (`/v1/contacts/%FF`):
/// poem drops such a parameter and answers a 400 that names nothing.
fn check_path(op: &Operation, path: &str) -> Result<(), AppError> {
    match op
        .path_params(path)
        .find(|(_, raw)| std::str::from_utf8(&percent_decode(raw, false)).is_err())
    {
        Some((name, _)) => Err(bad_parameter(name, "invalid", NOT_UTF8)),
        None => Ok(()),
    }
}

/// Refuses, naming the parameter, what poem would blur in a query parameter the
/// operation declares: a value that is not UTF-8 once percent-decoded (poem decodes it
/// lossily, so `?q=%FF` searched for U+FFFD), and a second value (poem-openapi would
/// silently take the first, `?limit=1&limit=2` listing one: which one counts would be the
/// server's guess). A parameter declared as an array (`custom_field`) may repeat: each
/// value counts.
fn check_query(op: &Operation, query: &str) -> Result<(), AppError> {
    let mut seen: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // Matched as poem matches it: `+` is a space, then percent-decoded.
        let key = percent_decode(key, true);
        let key = String::from_utf8_lossy(&key);
        let Some(name) = op.query.iter().find(|name| **name == key) else {
            continue;
        };
        if std::str::from_utf8(&percent_decode(value, true)).is_err() {
            return Err(bad_parameter(name, "invalid", NOT_UTF8));
        }
        if seen.contains(&name.as_str()) && !op.repeatable.contains(name) {
            return Err(bad_parameter(
                name,
                "duplicate",
                "must be given at most once",
            ));
        }
        seen.push(name);
    }
    Ok(())
}

/// Percent-decoding to bytes, which need not be UTF-8 (`form`: `+` is a space, as in a
/// query string); a `%` not followed by two hex digits stays as it is, as poem keeps it.
fn percent_decode(raw: &str, form: bool) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| {
            char::from(b)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        };
        match bytes[i] {
            b'+' if form => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    // Two hex digits make one byte: at most 15 * 16 + 15 = 255.
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[derive(Debug, thiserror::Error)]
#[error("the request body exceeds the limit of {limit} bytes")]
struct BodyTooLarge {
    limit: usize,
}

/// Refuses a file whose declared `Content-Length` is over `limit`, before any of it is
/// read (and before a client waiting on `Expect: 100-continue` sends it); the handler
/// counts what actually arrives.
fn refuse_declared_length(req: &Request, limit: u64) -> poem::Result<()> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit => Err(AppError::PayloadTooLarge { limit }.into_poem()),
        _ => Ok(()),
    }
}

/// Refuses bodies over the limit: at once when `Content-Length` says so, otherwise while
/// reading (a chunked body cannot slip past). The body is buffered, which is bounded by
/// the same limit.
async fn limit_body(req: &mut Request, limit: usize) -> poem::Result<()> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(poem::Error::new(
            BodyTooLarge { limit },
            StatusCode::PAYLOAD_TOO_LARGE,
        ));
    }
    if declared == Some(0)
        || (declared.is_none() && !req.headers().contains_key(header::TRANSFER_ENCODING))
    {
        return Ok(());
    }
    let bytes = req
        .take_body()
        .into_bytes_limit(limit)
        .await
        .map_err(|err| match err {
            poem::error::ReadBodyError::PayloadTooLarge => {
                poem::Error::new(BodyTooLarge { limit }, StatusCode::PAYLOAD_TOO_LARGE)
            }
            other => poem::Error::from(other),
        })?;
    req.set_body(Body::from_bytes(bytes));
    Ok(())
}

impl AppError {
    pub fn into_poem(self) -> poem::Error {
        let status = StatusCode::from_u16(responses::status(self.code()))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        poem::Error::new(self, status)
    }
}

/// Turns any error into the envelope. Our own errors carry their code and details;
/// poem's are classified by type, then by status.
pub(super) fn render_error(err: poem::Error, request_id: &str) -> Response {
    use poem_openapi::error::{
        AuthorizationError, ContentTypeError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    };

    let bad_parameter = |name: &str, reason: &str| {
        let code = ErrorCode::BadRequest;
        let detail = ErrorDetail {
            field: name.to_owned(),
            code: "invalid".to_owned(),
            message: reason.to_owned(),
        };
        let message = format!("invalid parameter `{name}`");
        (
            code,
            ErrorEnvelope::from_parts(code, message, vec![detail], request_id),
        )
    };

    let (code, envelope) = if let Some(app) = err.downcast_ref::<AppError>() {
        match app {
            AppError::Internal(source) => tracing::error!(error = ?source, "internal error"),
            AppError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable")
            }
            _ => {}
        }
        (app.code(), ErrorEnvelope::new(app, request_id))
    } else if let Some(param) = err.downcast_ref::<ParseParamError>() {
        bad_parameter(param.name, &param.reason)
    } else if let Some(param) = err.downcast_ref::<ParsePathError>() {
        bad_parameter(param.name, &param.reason)
    } else if let Some(payload) = err.downcast_ref::<ParseRequestPayloadError>() {
        let message = format!("the request body is not valid: {}", payload.reason);
        let code = ErrorCode::BadRequest;
        (
            code,
            ErrorEnvelope::from_parts(code, message, vec![], request_id),
        )
    } else if err.is::<ContentTypeError>() {
        let message = "the request body must be sent as `Content-Type: application/json`";
        let code = ErrorCode::UnsupportedMediaType;
        (
            code,
            ErrorEnvelope::from_parts(code, message.to_owned(), vec![], request_id),
        )
    } else if err.is::<AuthorizationError>() {
        let message = "missing credentials: send `Authorization: Bearer <API key>`";
        let code = ErrorCode::Unauthorized;
        (
            code,
            ErrorEnvelope::from_parts(code, message.to_owned(), vec![], request_id),
        )
    } else {
        let code = code_for_status(err.status());
        if code == ErrorCode::Internal {
            tracing::error!(error = %err, "unexpected error");
        }
        let message = match code {
            ErrorCode::NotFound => "no such route".to_owned(),
            ErrorCode::MethodNotAllowed => "this route does not accept this method".to_owned(),
            ErrorCode::Internal => "an internal error occurred".to_owned(),
            _ => err.to_string(),
        };
        (
            code,
            ErrorEnvelope::from_parts(code, message, vec![], request_id),
        )
    };
    let status =
        StatusCode::from_u16(responses::status(code)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Json(envelope).into_response();
    resp.set_status(status);
    // A client told to come back needs to know when: the database restarting takes
    // seconds, and an immediate retry loop would only add load to its return.
    if code == ErrorCode::ServiceUnavailable {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
        );
    }
    // A failed `If-Match` names the current version in the header it came from, too.
    if let Some(AppError::PreconditionFailed { current, .. }) = err.downcast_ref::<AppError>() {
        if let Ok(value) = HeaderValue::from_str(current) {
            resp.headers_mut().insert(header::ETAG, value);
        }
    }
    resp
}

/// The `Retry-After` of a 503, in seconds.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

fn code_for_status(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        409 => ErrorCode::Conflict,
        412 => ErrorCode::PreconditionFailed,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::ValidationFailed,
        429 => ErrorCode::RateLimited,
        503 => ErrorCode::ServiceUnavailable,
        400..=499 => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_head_leaves_a_body_of_stated_length_unread() {
        let never_read = futures::stream::poll_fn(
            |_| -> std::task::Poll<Option<std::io::Result<bytes::Bytes>>> {
                panic!("a HEAD read a body whose length was stated")
            },
        );
        let resp = Response::builder()
            .header(header::CONTENT_LENGTH, 1_000_000_000u64)
            .body(poem::Body::from_bytes_stream(never_read));
        let head = without_body(resp).await;
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "1000000000");

        let measured = without_body(Response::builder().body("twelve bytes")).await;
        assert_eq!(measured.headers()[header::CONTENT_LENGTH], "12");
    }

    use poem::{handler, EndpointExt, Route};
    use serde_json::Value;

    use super::*;

    #[handler]
    fn panics() -> &'static str {
        panic!("boom")
    }

    #[handler]
    fn database_away() -> poem::Result<&'static str> {
        Err(AppError::from(sqlx::Error::PoolTimedOut).into_poem())
    }

    #[handler]
    fn fails_internally() -> poem::Result<&'static str> {
        Err(AppError::Internal(anyhow::anyhow!("SELECT secret FROM vault")).into_poem())
    }

    #[handler]
    async fn dawdles() -> &'static str {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "too late"
    }

    #[handler]
    fn plain() -> &'static str {
        "plain text"
    }

    /// `method` on `path` of an app with one GET-only route outside the document:
    /// the status, the headers and the body.
    async fn call_method(method: &str, path: &str) -> (u16, poem::http::HeaderMap, Vec<u8>) {
        let app = Route::new().at("/plain", poem::get(plain)).with(Edge {
            max_body_bytes: 1024,
            request_timeout: Duration::from_secs(5),
            uploads: UploadLimits {
                max_bytes: 1024,
                timeout: Duration::from_secs(5),
            },
            limits: Arc::new(RateLimiter::in_process(&[], 0, Arc::default())),
            metrics: Arc::new(Metrics::new()),
            trusted_proxies: Arc::default(),
        });
        let req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri_str(path)
            .finish();
        let resp = app.call(req).await.expect("the edge answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().into_vec().await.unwrap_or_default();
        (status, headers, body)
    }

    #[tokio::test]
    async fn head_is_get_without_the_body_and_options_names_the_methods() {
        let header = |headers: &poem::http::HeaderMap, name| {
            headers
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap_or_default().to_owned())
        };
        let (status, headers, body) = call_method("HEAD", "/plain").await;
        assert_eq!((status, body.len()), (200, 0));
        assert_eq!(
            header(&headers, header::CONTENT_LENGTH).as_deref(),
            Some("10")
        );
        for method in ["OPTIONS", "FOO", "POST"] {
            let (status, headers, _) = call_method(method, "/plain").await;
            let expected = if method == "OPTIONS" { 204 } else { 405 };
            assert_eq!(status, expected, "{method}");
            assert_eq!(
                header(&headers, header::ALLOW).as_deref(),
                Some("GET, HEAD, OPTIONS"),
                "{method}"
            );
        }
        // A path the server does not have has no methods to name.
        let (status, headers, _) = call_method("OPTIONS", "/nothing").await;
        assert_eq!(status, 404);
        assert!(headers.get(header::ALLOW).is_none());
    }

    async fn call(path: &str) -> (u16, Value, Option<String>) {
        let (status, body, request_id, _) = call_with_headers(path).await;
        (status, body, request_id)
    }

    async fn call_with_headers(path: &str) -> (u16, Value, Option<String>, poem::http::HeaderMap) {
        let app = Route::new()
            .at("/slow", dawdles)
            .at("/panic", panics)
            .at("/away", database_away)
            .at("/internal", fails_internally)
            .with(Edge {
                max_body_bytes: 1024,
                request_timeout: Duration::from_millis(200),
                uploads: UploadLimits {
                    max_bytes: 1024,
                    timeout: Duration::from_millis(200),
                },
                limits: Arc::new(RateLimiter::in_process(&[], 0, Arc::default())),
                metrics: Arc::new(Metrics::new()),
                trusted_proxies: Arc::default(),
            });
        let resp = app
            .call(Request::builder().uri_str(path).finish())
            .await
            .expect("the edge turns every error into a response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let request_id = resp
            .headers()
            .get(REQUEST_ID_HEADER)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = resp.into_body().into_bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
            request_id,
            headers,
        )
    }

    fn refused_parameter(op: &Operation, query: &str) -> Option<(String, &'static str)> {
        match check_query(op, query) {
            Ok(()) => None,
            Err(AppError::BadRequest { details, .. }) => {
                Some((details[0].field.clone(), details[0].code))
            }
            Err(other) => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn parameters_that_are_not_utf8_are_refused_by_name() {
        let op = operations::find("GET", "/v1/contacts").unwrap();
        for (query, refused) in [
            ("q=%C3%A9t%C3%A9+%E2%82%AC", None),
            ("zzz=%FF", None),
            ("q=%FF", Some("q")),
            ("limit=1&q=a%C3%28", Some("q")),
            ("email=%C0%AF", Some("email")),
        ] {
            let expected = refused.map(|name: &str| (name.to_owned(), "invalid"));
            assert_eq!(refused_parameter(op, query), expected, "{query}");
        }
        let path = "/v1/pipelines/%FF/stages/x";
        let op = operations::find("GET", path).unwrap();
        match check_path(op, path) {
            Err(AppError::BadRequest { details, .. }) => assert_eq!(details[0].field, "id"),
            other => panic!("{other:?}"),
        }
        assert!(check_path(op, "/v1/pipelines/%C3%A9/stages/a+b").is_ok());
    }

    #[test]
    fn a_declared_query_parameter_given_twice_is_refused_by_name() {
        let op = operations::find("GET", "/v1/contacts").unwrap();
        for (query, refused) in [
            ("", None),
            ("limit=1&q=a&", None),
            // Undeclared parameters are ignored, however often they come.
            ("zzz=1&zzz=2", None),
            // `q ` is not `q`, for poem either.
            ("q+=a&q=b", None),
            ("limit=1&limit=2", Some("limit")),
            ("limit=1&li%6Dit=1", Some("limit")),
            ("q=a&limit=1&q", Some("q")),
            // A parameter declared as an array repeats: each value counts.
            ("custom_field=a:eq:1&custom_field=b:eq:2", None),
        ] {
            let expected = refused.map(|name: &str| (name.to_owned(), "duplicate"));
            assert_eq!(refused_parameter(op, query), expected, "{query}");
        }
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_is_a_503_to_retry() {
        let started = Instant::now();
        let (status, body, request_id, headers) = call_with_headers("/slow").await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(status, 503);
        assert_eq!(body["error"]["code"], "service_unavailable");
        assert_eq!(body["meta"]["request_id"].as_str(), request_id.as_deref());
        assert_eq!(
            headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some(UNAVAILABLE_RETRY_AFTER_SECS.to_string().as_str())
        );
    }

    #[tokio::test]
    async fn a_panic_becomes_a_500_envelope_with_the_request_id() {
        let (status, body, request_id) = call("/panic").await;
        assert_eq!(status, 500);
        assert_eq!(body["error"]["code"], "internal");
        assert_eq!(body["meta"]["request_id"].as_str(), request_id.as_deref());
        // Nothing of the panic itself: not its message, not where it happened.
        let text = body.to_string();
        assert!(!text.contains("boom") && !text.contains(".rs"), "{text}");
    }

    #[tokio::test]
    async fn an_unreachable_database_is_a_503() {
        let (status, body, _) = call("/away").await;
        assert_eq!(status, 503);
        assert_eq!(
            body["error"]["message"],
            "the service is temporarily unavailable"
        );
        assert_eq!(body["error"]["code"], "service_unavailable");
    }

    #[tokio::test]
    async fn internal_details_are_never_sent() {
        let (status, body, _) = call("/internal").await;
        assert_eq!(status, 500);
        assert!(!body.to_string().contains("vault"), "{body}");
    }
}
