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
//! Keys belong to the credential (API key or session token) that sent them, not to the
//! tenant: some answers carry a secret shown once (`api_keys_create`,
//! `webhook_endpoints_create`, `webhook_endpoints_rotate_secret`), and another credential
//! of the tenant sending the same key must not receive it. For the same reason every
//! stored body is sealed under the operator's key (`crate::crypto`), bound to the tenant,
//! the credential and the key: the database holds no answer in plaintext, and a sealed
//! body moved to another row does not open. Every body is sealed, not only the ones
//! known to hold a secret: the cost is one AEAD pass over a few kilobytes per stored
//! answer, and an operation added later that returns a secret is covered without anyone
//! remembering to list it. A body that no longer opens (the operator changed
//! `MOMENTUM_SECRET_KEY`) is answered 409 `idempotency_answer_unavailable`: the request
//! ran once, so running it again could do it twice.
//!
//! It wraps the API service inside the edge, so the edge's request id, body limit and
//! error rendering apply; it checks the credential itself (once, with its rate-limit
//! count: see `security::Admitted`) because the key belongs to the credential.

use std::time::Duration;

use poem::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::edge::{render_error, RequestId};
use super::operations::Operation;
use super::security::{admit, Admitted};
use crate::crypto::SecretKey;
use crate::db::idempotency::{self as repo, Claim};
use crate::db::TenantTx;
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
        let (tenant_id, credential_id) = (principal.tenant_id, principal.credential_id);
        req.extensions_mut().insert(Admitted(principal));
        let body = req.take_body().into_bytes().await?;
        let fingerprint = fingerprint(req.method(), req.uri(), &body);
        req.set_body(Body::from_bytes(body));

        let mut tx = TenantTx::begin(&state.pool, tenant_id)
            .await
            .map_err(AppError::into_poem)?;
        let claim = repo::claim(
            &mut tx,
            credential_id,
            &key,
            &fingerprint,
            state.idempotency_ttl,
        )
        .await
        .map_err(AppError::into_poem)?;
        tx.commit().await.map_err(AppError::into_poem)?;
        let sealed_to = context(tenant_id, credential_id, &key);
        if let Claim::Existing(row) = claim {
            return if row.fingerprint != fingerprint {
                Err(AppError::IdempotencyKeyReused.into_poem())
            } else if row.status != "completed" {
                Err(AppError::IdempotencyKeyInUse.into_poem())
            } else {
                replay(row, &state.secret_key, &sealed_to).map_err(AppError::into_poem)
            };
        }

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
            let mut tx = TenantTx::begin(&state.pool, tenant_id).await?;
            let resp = match answered {
                mut resp if worth_storing(resp.status()) => {
                    let body = resp.take_body().into_bytes().await.map_err(|e| {
                        AppError::Internal(anyhow::anyhow!("cannot read the answer: {e}"))
                    })?;
                    let headers = stored_headers(&resp);
                    let sealed = state.secret_key.seal_bytes(&body, &sealed_to);
                    let status = resp.status().as_u16();
                    repo::complete(&mut tx, credential_id, &key, status, &headers, &sealed).await?;
                    resp.set_body(Body::from_bytes(body));
                    resp
                }
                other => {
                    repo::release(&mut tx, credential_id, &key).await?;
                    other
                }
            };
            tx.commit().await?;
            Ok::<_, AppError>(resp)
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

fn stored_headers(resp: &Response) -> Value {
    let mut map = Map::new();
    for name in STORED_HEADERS {
        if let Some(value) = resp.headers().get(&name).and_then(|v| v.to_str().ok()) {
            map.insert(name.as_str().to_owned(), Value::String(value.to_owned()));
        }
    }
    Value::Object(map)
}

/// What a stored body is sealed to: its tenant, credential and key, so it opens only in
/// its own row. The key comes last: the ids are of fixed length, so the string is
/// unambiguous whatever the key holds.
fn context(tenant: Uuid, credential: Uuid, key: &str) -> String {
    format!("idempotency_keys.sealed_body:{tenant}:{credential}:{key}")
}

/// The stored answer, its body opened. A body that does not open is never replayed as
/// it is nor replaced by a new run of the request: the client is told, in the envelope.
fn replay(row: repo::KeyRow, key: &SecretKey, context: &str) -> Result<Response, AppError> {
    let body = row
        .sealed_body
        .as_deref()
        .ok_or(crate::crypto::OpenError::Damaged)
        .and_then(|sealed| key.open_bytes(sealed, context))
        .map_err(|err| {
            // The operator's log names the key ids; the client's answer names nothing.
            tracing::warn!(error = %err, "cannot open a stored idempotent answer");
            AppError::IdempotencyAnswerUnavailable
        })?;
    let status = row
        .response_status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut resp = Response::builder().status(status).body(body);
    if let Some(Value::Object(headers)) = row.response_headers {
        for (name, value) in headers {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                resp.headers_mut().insert(name, value);
            }
        }
    }
    resp.headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    Ok(resp)
}

/// How long answers are kept (the default of `MOMENTUM_IDEMPOTENCY_TTL_SECS`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

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

    fn row(sealed_body: Option<String>) -> repo::KeyRow {
        repo::KeyRow {
            fingerprint: vec![0; 32],
            status: "completed".into(),
            running_expired: false,
            expired: false,
            response_status: Some(201),
            response_headers: Some(serde_json::json!({"location": "/v1/api-keys/1"})),
            sealed_body,
        }
    }

    #[test]
    fn a_stored_answer_replays_only_in_its_own_row_and_with_its_own_key() {
        let key = SecretKey::generate();
        let (tenant, credential, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let ours = context(tenant, credential, "k");
        let body = br#"{"data":{"secret":"mk_x_y"}}"#;
        let sealed = key.seal_bytes(body, &ours);
        let resp = replay(row(Some(sealed.clone())), &key, &ours).unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.headers()[REPLAYED_HEADER], "true");
        assert_eq!(resp.headers()[header::LOCATION], "/v1/api-keys/1");
        // Another credential's, another tenant's or another key's row; another
        // operator key; a row without a body: refused with the documented error.
        for (with, context) in [
            (&key, context(tenant, other, "k")),
            (&key, context(other, credential, "k")),
            (&key, context(tenant, credential, "k2")),
            (&SecretKey::generate(), ours.clone()),
        ] {
            let err = replay(row(Some(sealed.clone())), with, &context).unwrap_err();
            assert!(
                matches!(err, AppError::IdempotencyAnswerUnavailable),
                "{err}"
            );
        }
        assert!(replay(row(None), &key, &ours).is_err());
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
