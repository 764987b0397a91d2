//! The edge of the HTTP stack, wrapped around every route: assigns the request id, caps
//! the body size, catches panics, logs each request, and renders every error — ours, or
//! one poem raised by itself (unknown route, wrong method, bad JSON, wrong content type,
//! missing credentials) — as the one error envelope. No other place builds error bodies.

use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use poem::http::{header, HeaderValue, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::payload::Json;
use tracing::Instrument;

use super::operations;
use super::responses::{ErrorDetail, ErrorEnvelope, REQUEST_ID_HEADER};
use crate::error::{AppError, ErrorCode};
use crate::metrics::Metrics;
use crate::ratelimit::{self, Class, ClientIp, Key, Limits, Slot};

/// The request id, available to handlers as `Data<&RequestId>`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub struct Edge {
    pub max_body_bytes: usize,
    pub limits: Arc<Limits>,
    pub metrics: Arc<Metrics>,
    pub trusted_proxies: Arc<Vec<IpAddr>>,
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        EdgeEndpoint {
            inner,
            max_body_bytes: self.max_body_bytes,
            limits: Arc::clone(&self.limits),
            metrics: Arc::clone(&self.metrics),
            trusted_proxies: Arc::clone(&self.trusted_proxies),
        }
    }
}

pub struct EdgeEndpoint<E> {
    inner: E,
    max_body_bytes: usize,
    limits: Arc<Limits>,
    metrics: Arc<Metrics>,
    trusted_proxies: Arc<Vec<IpAddr>>,
}

impl<E> EdgeEndpoint<E> {
    /// Counts a request by its client address and keeps the decision for the headers.
    fn check_ip(&self, class: Class, ip: IpAddr, slot: &Slot) -> Option<u64> {
        let decision = self.limits.check(class, &Key::Ip(ip));
        let refused = decision.retry_after;
        self.metrics
            .rate_decision(class.as_str(), refused.is_none());
        slot.set(decision);
        refused
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
        let span = tracing::info_span!("request", request_id = %request_id, %method, %path);
        let started = Instant::now();
        let operation = operations::find(method.as_str(), &path);
        let peer = req
            .remote_addr()
            .as_socket_addr()
            .map(|addr| addr.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let ip = ratelimit::client_ip(peer, forwarded, &self.trusted_proxies);
        let slot = Slot::default();
        req.extensions_mut().insert(ClientIp(ip));
        if let Some(op) = operation {
            req.extensions_mut().insert(op);
        }
        req.extensions_mut().insert(slot.clone());

        let result = async {
            // Unauthenticated operations count per client address here; authenticated
            // ones per credential, in the credential check (api::security).
            if let Some(op) = operation.filter(|op| !op.authenticated) {
                if let Some(retry_after) = self.check_ip(op.class, ip, &slot) {
                    return Err(AppError::RateLimited {
                        class: op.class.as_str(),
                        retry_after,
                    }
                    .into_poem());
                }
            }
            limit_body(&mut req, self.max_body_bytes).await?;
            match AssertUnwindSafe(self.inner.call(req)).catch_unwind().await {
                Ok(result) => result.map(IntoResponse::into_response),
                // Logged once, with the request id, by render_error.
                Err(_) => Err(AppError::Internal(anyhow::anyhow!("handler panicked")).into_poem()),
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
        // RFC 9110 requires a 405 to say which methods the resource does take.
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            if let Some(value) =
                operations::allowed_methods(&path).and_then(|m| HeaderValue::from_str(&m).ok())
            {
                resp.headers_mut().insert(header::ALLOW, value);
            }
        }
        if let Some(op) = operation {
            // An authenticated operation refused before its credential check ran (no
            // `Authorization` header) still counts, per client address.
            if slot.get().is_none() {
                self.check_ip(op.class, ip, &slot);
            }
        }
        if let Some(decision) = slot.get() {
            for (name, value) in ratelimit::headers(&decision) {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    resp.headers_mut().insert(name, value);
                }
            }
        }
        self.metrics.request(
            operation.map_or("unmatched", |op| op.id),
            resp.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
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

#[derive(Debug, thiserror::Error)]
#[error("the request body exceeds the limit of {limit} bytes")]
struct BodyTooLarge {
    limit: usize,
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
        let status =
            StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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

    async fn call(path: &str) -> (u16, Value, Option<String>) {
        let app = Route::new()
            .at("/panic", panics)
            .at("/away", database_away)
            .at("/internal", fails_internally)
            .with(Edge {
                max_body_bytes: 1024,
                limits: Arc::new(Limits::new(&[])),
                metrics: Arc::new(Metrics::new()),
                trusted_proxies: Arc::new(Vec::new()),
            });
        let resp = app
            .call(Request::builder().uri_str(path).finish())
            .await
            .expect("the edge turns every error into a response");
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get(REQUEST_ID_HEADER)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = resp.into_body().into_bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
            request_id,
        )
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
