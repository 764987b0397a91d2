//! `Idempotency-Key` on every authenticated `POST`: the first completed answer to a key is
//! stored (per credential, for a day by default) and replayed, marked
//! `Idempotent-Replayed: true`, to a retry from the same credential with the same key and
//! the same request, so a client that lost an answer can send the request again without
//! creating twice. The handler does not run for a replay: nothing is written and no event
//! is emitted a second time.
//!
//! - The same key with another method, path or body: 422 `idempotency_key_reused`.
//! - The same key while the first request is still running: 409 `idempotency_key_in_use`.
//! - Answers a retry may change are not stored, so the retry runs again: malformed or
//!   invalid requests (400, 422), refused credentials (401, 403), 429 and 5xx.
//!
//! Keys belong to the credential (API key or session token) that sent them, and every
//! stored body is sealed to its tenant, credential and key: `app::idempotency` keeps the
//! answers and says why. A body that no longer opens is answered 409
//! `idempotency_answer_unavailable`: the request ran once, so running it again could do
//! it twice.
//!
//! It wraps the API service inside the edge, so the edge's request id, body limit and
//! error rendering apply; it checks the credential itself (once, with its rate-limit
//! count: see `security::Admitted`) because the key belongs to the credential.

use poem::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use sha2::{Digest, Sha256};

use super::edge::{render_error, RequestId};
use super::operations::Operation;
use super::security::{admit, Admitted};
pub use crate::app::idempotency::DEFAULT_TTL;
use crate::app::idempotency::RUNNING_LEASE;
use crate::app::idempotency::{self, Answer, Claimed};
use crate::domain::FieldError;
use crate::error::AppError;
use crate::state::AppState;

pub const KEY_HEADER: &str = "Idempotency-Key";
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";
pub const KEY_MAX: usize = 255;

/// The headers of an answer that are part of it (the edge adds the per-request ones).
const STORED_HEADERS: [header::HeaderName; 3] =
    [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

pub struct Idempotency;

impl<E: Endpoint> Middleware<E> for Idempotency {
    type Output = IdempotencyEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        IdempotencyEndpoint { inner }
    }
}

pub struct IdempotencyEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for IdempotencyEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let applies = req.method() == Method::POST
            && req.headers().contains_key(KEY_HEADER)
            && req
                .extensions()
                .get::<&'static Operation>()
                .is_some_and(|op| op.authenticated);
        let token = bearer(&req);
        let (true, Some(token)) = (applies, token) else {
            // No key, or no credential to scope it to (the handler answers 401).
            return self.inner.call(req).await.map(IntoResponse::into_response);
        };
        let key = parse_key(req.headers().get(KEY_HEADER)).map_err(AppError::into_poem)?;
        let state = req
            .data::<AppState>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState missing")).into_poem())?;
        let principal = admit(&req, &token).await.map_err(AppError::into_poem)?;
        let streamed = req
            .extensions()
            .get::<&'static Operation>()
            .is_some_and(|op| op.streams_body);
        // A file is streamed to the handler, never held here: its request is known by
        // everything but its bytes (the whole of what to do with it is in the query),
        // and by its declared length. The key stays held for as long as an upload may
        // take, so a retry of a slow upload waits rather than runs it twice.
        let (fingerprint, lease) = if streamed {
            let length = req
                .headers()
                .get(poem::http::header::CONTENT_LENGTH)
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default();
            let lease = state.imports.upload_timeout.max(RUNNING_LEASE);
            (fingerprint(req.method(), req.uri(), &length), lease)
        } else {
            let body = req.take_body().into_bytes().await?;
            let fingerprint = fingerprint(req.method(), req.uri(), &body);
            req.set_body(Body::from_bytes(body));
            (fingerprint, RUNNING_LEASE)
        };
        let claim = idempotency::claim(&state, &principal, &key, &fingerprint, lease)
            .await
            .map_err(AppError::into_poem)?;
        req.extensions_mut().insert(Admitted(principal));
        let held = match claim {
            Claimed::Run(held) => held,
            Claimed::Replay(answer) => return Ok(replay(answer)),
        };

        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        // Errors are rendered here, as the edge would, so a refusal worth replaying (a
        // 409, a 404) is stored like any other answer.
        let answered = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => render_error(err, &request_id),
        };
        let finish = async {
            match answered {
                mut resp if worth_storing(resp.status()) => {
                    let body = resp.take_body().into_bytes().await.map_err(|e| {
                        AppError::Internal(anyhow::anyhow!("cannot read the answer: {e}"))
                    })?;
                    let status = resp.status().as_u16();
                    idempotency::store(&state, &held, status, &stored_headers(&resp), &body)
                        .await?;
                    resp.set_body(Body::from_bytes(body));
                    Ok::<_, AppError>(resp)
                }
                other => {
                    idempotency::release(&state, &held).await?;
                    Ok(other)
                }
            }
        }
        .await;
        match finish {
            Ok(resp) => Ok(resp),
            Err(err) => {
                // The request ran but its answer could not be stored: the key stays
                // held until its lease ends, then a retry runs the request again.
                tracing::warn!(error = %err, "could not store an idempotent answer");
                Err(err.into_poem())
            }
        }
    }
}

/// Answers that the same request would get again (success, or a refusal by the state of
/// the data) are replayed; the rest may pass on a retry and are not stored.
fn worth_storing(status: StatusCode) -> bool {
    status.is_success()
        || matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED
        )
}

fn bearer(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// 1-255 printable ASCII characters (what a UUID, a ULID or any client's key is made of).
fn parse_key(value: Option<&HeaderValue>) -> Result<String, AppError> {
    let key = value
        .and_then(|v| v.to_str().ok())
        .filter(|k| {
            (1..=KEY_MAX).contains(&k.len()) && k.bytes().all(|b| (0x20..0x7f).contains(&b))
        })
        .ok_or_else(|| AppError::BadRequest {
            message: format!("invalid `{KEY_HEADER}` header"),
            details: vec![FieldError::new(
                KEY_HEADER,
                "invalid",
                "must be 1 to 255 printable ASCII characters",
            )],
        })?;
    Ok(key.to_owned())
}

fn fingerprint(method: &Method, uri: &poem::http::Uri, body: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update([0]);
    hash.update(
        uri.path_and_query()
            .map_or(uri.path(), |p| p.as_str())
            .as_bytes(),
    );
    hash.update([0]);
    hash.update(body);
    hash.finalize().to_vec()
}

/// The headers of `resp` that are part of its answer, to replay with it.
fn stored_headers(resp: &Response) -> Vec<(String, String)> {
    STORED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = resp.headers().get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect()
}

/// A stored answer as the response to a retry, marked as replayed.
fn replay(answer: Answer) -> Response {
    let status = answer
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut resp = Response::builder().status(status).body(answer.body);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(&value),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp.headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_printable_characters() {
        let ok = |k: &str| parse_key(Some(&HeaderValue::from_str(k).unwrap())).is_ok();
        assert!(ok("a"));
        assert!(ok("3f1c6c1e-8f8b-4b7e-9e38-0c1b1d1c1a1b"));
        assert!(ok(&"x".repeat(255)));
        assert!(!ok(&"x".repeat(256)));
        assert!(!ok(""));
        assert!(!ok("tab\there"));
        assert!(parse_key(None).is_err());
    }

    #[test]
    fn the_fingerprint_covers_method_path_query_and_body() {
        let uri = |u: &str| u.parse::<poem::http::Uri>().unwrap();
        let base = fingerprint(&Method::POST, &uri("/v1/contacts"), b"{}");
        assert_eq!(
            base,
            fingerprint(&Method::POST, &uri("/v1/contacts"), b"{}")
        );
        assert_ne!(
            base,
            fingerprint(&Method::POST, &uri("/v1/companies"), b"{}")
        );
        assert_ne!(
            base,
            fingerprint(&Method::POST, &uri("/v1/contacts?x=1"), b"{}")
        );
        assert_ne!(
            base,
            fingerprint(&Method::POST, &uri("/v1/contacts"), b"{ }")
        );
    }

    #[test]
    fn a_stored_answer_replays_with_its_status_and_headers_marked_as_replayed() {
        let body = br#"{"data":{"secret":"mk_x_y"}}"#.to_vec();
        let answer = Answer {
            status: Some(201),
            headers: vec![("location".into(), "/v1/api-keys/1".into())],
            body: body.clone(),
        };
        let resp = replay(answer.clone());
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.headers()[REPLAYED_HEADER], "true");
        assert_eq!(resp.headers()[header::LOCATION], "/v1/api-keys/1");
        let unreadable = Answer {
            status: Some(1000),
            ..answer
        };
        assert_eq!(replay(unreadable).status(), StatusCode::OK);
    }

    #[test]
    fn only_answers_a_retry_would_get_again_are_stored() {
        for status in [200, 201, 202, 204, 404, 409, 412] {
            assert!(
                worth_storing(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [400, 401, 403, 413, 422, 429, 500, 503] {
            assert!(
                !worth_storing(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }
}
