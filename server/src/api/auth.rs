//! `/v1/auth/qr-sessions` and `/v1/session-tokens`: QR-code device login and the
//! session tokens it issues. The flow and its rules are `app::devices`; here are the
//! wire types and the QR code's images.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::edge::RequestId;
use super::pagination;
use super::responses::{
    envelopes, Action, ApiResult, Created, Exchange, Image, List, Meta, Png, Poll, Start, Success,
    Svg,
};
use super::security::ApiKey;
use super::types::PathId;
use super::ApiTags;
pub(crate) use crate::app::devices::MAX_WAIT_SECS;
use crate::app::devices::{self, qr_content, QrSessionRow, SessionTokenRow};
use crate::app::page::PageRequest;
use crate::error::AppError;
use crate::state::AppState;

/// A QR login session as its device sees it.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct QrSession {
    pub id: Uuid,
    /// `pending` (waiting for approval), `approved` (exchange it now), `expired`, or
    /// `consumed` (exchanged). New values may be added.
    pub status: String,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub expires_at: DateTime<Utc>,
    /// The approving user, once approved.
    #[oai(nullable)]
    pub user_id: Option<Uuid>,
}

/// A new QR login session: what the device shows and keeps.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct QrSessionCreated {
    pub id: Uuid,
    /// `pending`.
    pub status: String,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub expires_at: DateTime<Utc>,
    /// Keep it on the device and send it as `X-Poll-Secret` to poll and to exchange. It is
    /// shown only here.
    pub poll_secret: String,
    /// What the QR code encodes: `momentum://qr-login?session=<id>`. An app that scans it
    /// calls `auth_qr_sessions_approve` with the session id.
    pub qr_content: String,
    /// The QR code as SVG.
    pub qr_svg_url: String,
    /// The QR code as PNG.
    pub qr_png_url: String,
}

/// A session token issued by an exchange.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct SessionTokenIssued {
    /// `mst_<public id>_<secret>`: send it as `Authorization: Bearer ...`. Shown only here.
    pub token: String,
    pub token_id: Uuid,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub expires_at: DateTime<Utc>,
    /// The user the token acts as.
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    /// What the token may do: the scopes the approving credential held when it approved,
    /// further bounded by the user's role whenever the token is used.
    pub scopes: Vec<String>,
}

/// A session token, as listed: never its secret or the secret's hash.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct SessionToken {
    pub id: Uuid,
    /// The token's public beginning, `mst_<public id>`.
    pub prefix: String,
    pub user_id: Uuid,
    /// What the token may do: the scopes the credential that approved its QR login held
    /// then, further bounded by the user's role. Empty for tokens issued before session
    /// tokens held scopes (all of them revoked).
    pub scopes: Vec<String>,
    /// The QR login that issued it.
    #[oai(nullable)]
    pub qr_session_id: Option<Uuid>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// Changes when the token is revoked.
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::json::timestamp")]
    pub expires_at: DateTime<Utc>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::api::json::optional_timestamp")]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<SessionTokenRow> for SessionToken {
    fn from(row: SessionTokenRow) -> Self {
        Self {
            id: row.id,
            prefix: format!("mst_{}", row.public_id),
            user_id: row.user_id,
            scopes: row.scopes,
            qr_session_id: row.qr_session_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// A new QR session in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct QrSessionCreatedEnvelope {
    pub data: QrSessionCreated,
    pub meta: Meta,
}

/// A QR session's state in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct QrSessionEnvelope {
    pub data: QrSession,
    pub meta: Meta,
}

/// An issued session token in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct SessionTokenIssuedEnvelope {
    pub data: SessionTokenIssued,
    pub meta: Meta,
}

envelopes!(
    SessionToken,
    SessionTokenEnvelope,
    SessionTokenList,
    "One session token in the envelope.",
    "A page of session tokens in the envelope."
);

fn view(id: Uuid, row: &QrSessionRow) -> QrSession {
    QrSession {
        id,
        status: row.status.clone(),
        expires_at: row.expires_at,
        user_id: row.user_id.filter(|_| row.status == "approved"),
    }
}

/// The session's QR code.
fn code(id: Uuid) -> Result<qrcode::QrCode, AppError> {
    qrcode::QrCode::new(qr_content(id).as_bytes())
        .map_err(|err| AppError::Internal(anyhow::anyhow!("QR encoding failed: {err}")))
}

/// The session's code as a module matrix (`true` = dark), with its width.
fn matrix(id: Uuid) -> Result<(Vec<bool>, usize), AppError> {
    let code = code(id)?;
    let width = code.width();
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok((dark, width))
}

/// A PNG of the code: 8 pixels per module and the standard 4-module quiet zone.
fn png(id: Uuid) -> Result<Vec<u8>, AppError> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let (dark, width) = matrix(id)?;
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (index, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
        let (mx, my) = (index % width + QUIET, index / width + QUIET);
        for y in my * SCALE..(my + 1) * SCALE {
            pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    let side = u32::try_from(side)
        .map_err(|_| AppError::Internal(anyhow::anyhow!("QR image too large")))?;
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let fail = |err: png::EncodingError| AppError::Internal(anyhow::anyhow!("PNG: {err}"));
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(&pixels).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Start a QR login
    ///
    /// No credentials. Creates a pending session that expires in 2 minutes (configurable)
    /// and returns its id, the poll secret (shown only here) and the content of its QR
    /// code.
    #[oai(
        path = "/auth/qr-sessions",
        method = "post",
        operation_id = "auth_qr_sessions_create"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
    ) -> ApiResult<Created<QrSessionCreatedEnvelope>, Start> {
        let started = devices::start(&state).await?;
        let (id, expires_at) = (started.id, started.expires_at);
        let base = format!("/v1/auth/qr-sessions/{id}");
        Ok(Created {
            location: base.clone(),
            body: QrSessionCreatedEnvelope {
                data: QrSessionCreated {
                    id,
                    status: "pending".into(),
                    expires_at,
                    poll_secret: started.poll_secret,
                    qr_content: qr_content(id),
                    qr_svg_url: format!("{base}/qr.svg"),
                    qr_png_url: format!("{base}/qr.png"),
                },
                meta: Meta::of(&request_id),
            },
        })
    }

    /// A QR login's code as SVG
    ///
    /// No credentials (the session id is unguessable). `409` once the session is no
    /// longer pending.
    #[oai(
        path = "/auth/qr-sessions/:id/qr.svg",
        method = "get",
        operation_id = "auth_qr_sessions_svg"
    )]
    async fn svg(&self, state: Data<&AppState>, id: Path<PathId>) -> ApiResult<Svg, Image> {
        let id = id.0.parse("id")?;
        devices::pending(&state, id).await?;
        let svg = code(id)?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(256, 256)
            .build();
        Ok(Svg(svg))
    }

    /// A QR login's code as PNG
    ///
    /// No credentials (the session id is unguessable). `409` once the session is no
    /// longer pending.
    #[oai(
        path = "/auth/qr-sessions/:id/qr.png",
        method = "get",
        operation_id = "auth_qr_sessions_png"
    )]
    async fn png(&self, state: Data<&AppState>, id: Path<PathId>) -> ApiResult<Png, Image> {
        let id = id.0.parse("id")?;
        devices::pending(&state, id).await?;
        Ok(Png(png(id)?))
    }

    /// Poll a QR login
    ///
    /// With the session's poll secret. `wait` (0-30 seconds) long-polls: the answer comes
    /// as soon as the status is no longer `pending`, or when the wait is over, so a
    /// device needs only a couple of requests a minute.
    #[oai(
        path = "/auth/qr-sessions/:id",
        method = "get",
        operation_id = "auth_qr_sessions_get"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The session's id.
        id: Path<PathId>,
        /// The poll secret from `auth_qr_sessions_create`.
        #[oai(name = "X-Poll-Secret")]
        poll_secret: Header<String>,
        /// Seconds to wait for a change while the session is pending (default 0).
        #[oai(validator(minimum(value = "0"), maximum(value = "30")))]
        wait: Query<Option<u64>>,
    ) -> ApiResult<Success<QrSessionEnvelope>, Poll> {
        let id = id.0.parse("id")?;
        let row = devices::poll(&state, id, &poll_secret.0, wait.0.unwrap_or(0)).await?;
        Ok(Success(QrSessionEnvelope {
            data: view(id, &row),
            meta: Meta::of(&request_id),
        }))
    }

    /// Approve a QR login
    ///
    /// Called by a signed-in user whose device scanned the code, with an API key acting as
    /// that user (any scope): binds the session to that user and tenant. The session
    /// token it leads to holds the scopes this key holds now (its scopes bounded by the
    /// user's role), never more. A session token cannot approve a login, nor can a service
    /// key (`403`). `409` unless the session is pending. Recorded in the audit log with
    /// the scopes granted.
    #[oai(
        path = "/auth/qr-sessions/:id/approve",
        method = "post",
        operation_id = "auth_qr_sessions_approve"
    )]
    async fn approve(
        &self,
        auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The session's id, from the QR code.
        id: Path<PathId>,
    ) -> ApiResult<Success<QrSessionEnvelope>, Action> {
        let id = id.0.parse("id")?;
        let row = devices::approve(&state, &auth.0, id).await?;
        Ok(Success(QrSessionEnvelope {
            data: view(id, &row),
            meta: Meta::of(&request_id),
        }))
    }

    /// Exchange an approved QR login for a session token
    ///
    /// With the session's poll secret, exactly once: a second exchange, or one after the
    /// session expired, is a `409`; a wrong secret a `401`. The token acts as the
    /// approving user with the scopes the approving key held (shown in `scopes`), bounded
    /// by the user's role, until it expires (1 hour by default) or is revoked. Recorded in
    /// the audit log.
    #[oai(
        path = "/auth/qr-sessions/:id/exchange",
        method = "post",
        operation_id = "auth_qr_sessions_exchange"
    )]
    async fn exchange(
        &self,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The session's id.
        id: Path<PathId>,
        /// The poll secret from `auth_qr_sessions_create`.
        #[oai(name = "X-Poll-Secret")]
        poll_secret: Header<String>,
    ) -> ApiResult<Success<SessionTokenIssuedEnvelope>, Exchange> {
        let id = id.0.parse("id")?;
        let issued = devices::exchange(&state, id, &poll_secret.0).await?;
        Ok(Success(SessionTokenIssuedEnvelope {
            data: SessionTokenIssued {
                token: issued.token,
                token_id: issued.token_id,
                expires_at: issued.expires_at,
                user_id: issued.user_id,
                tenant_id: issued.tenant_id,
                scopes: issued.scopes,
            },
            meta: Meta::of(&request_id),
        }))
    }

    /// List session tokens
    ///
    /// Your own tokens; with the `admin` scope, every user's (filter with `user_id`). Each
    /// shows the `scopes` it holds.
    #[oai(
        path = "/session-tokens",
        method = "get",
        operation_id = "session_tokens_list"
    )]
    async fn list_tokens(
        &self,
        auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Only this user's tokens (admins only; others always see their own).
        user_id: Query<Option<Uuid>>,
        /// Only tokens issued or revoked strictly after this instant (RFC 3339).
        updated_after: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Success<SessionTokenList>, List> {
        let page = PageRequest {
            limit: limit.0,
            cursor: cursor.0,
            sort: None,
        };
        let list = devices::list_tokens(&state, &auth.0, user_id.0, updated_after.0, &page).await?;
        Ok(Success(SessionTokenList {
            meta: pagination::list_meta(&list, &request_id),
            data: list.items.into_iter().map(SessionToken::from).collect(),
        }))
    }

    /// Revoke a session token
    ///
    /// By its user or an admin; without `admin`, another user's token is reported as not
    /// found, and an admin cannot revoke the token of a user whose role is above theirs
    /// (`403` naming `id`). It stops working at once on this server and within a second
    /// on every other (at most `MOMENTUM_AUTH_CACHE_SECS` on an instance that missed the
    /// notice). Recorded in the audit log.
    #[oai(
        path = "/session-tokens/:id/revoke",
        method = "post",
        operation_id = "session_tokens_revoke"
    )]
    async fn revoke_token(
        &self,
        auth: ApiKey,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The token's id.
        id: Path<PathId>,
    ) -> ApiResult<Success<SessionTokenEnvelope>, Action> {
        let id = id.0.parse("id")?;
        let row = devices::revoke_token(&state, &auth.0, id).await?;
        Ok(Success(SessionTokenEnvelope {
            data: row.into(),
            meta: Meta::of(&request_id),
        }))
    }
}
