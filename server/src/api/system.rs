//! Probes for orchestrators and load balancers. Unauthenticated, outside `/v1`.

use poem::web::Data;
use poem_openapi::{Object, OpenApi};

use super::edge::RequestId;
use super::responses::{ApiResult, Meta, Public, Success};
use super::ApiTags;
use crate::db;
use crate::error::AppError;
use crate::startup::AppState;

/// The state of a probe.
#[derive(Debug, Clone, Object)]
pub struct Health {
    /// `ok` when the probe passed.
    pub status: String,
}

/// A probe's result in the envelope.
#[derive(Debug, Clone, Object)]
pub struct HealthEnvelope {
    pub data: Health,
    pub meta: Meta,
}

fn ok(request_id: &RequestId) -> Success<HealthEnvelope> {
    Success(HealthEnvelope {
        data: Health {
            status: "ok".into(),
        },
        meta: Meta {
            request_id: request_id.0.clone(),
        },
    })
}

pub struct SystemApi;

#[OpenApi(tag = "ApiTags::System")]
impl SystemApi {
    /// Liveness probe
    ///
    /// `200` whenever the process serves HTTP; it does not touch the database.
    #[oai(path = "/healthz", method = "get", operation_id = "system_health")]
    async fn health(
        &self,
        request_id: Data<&RequestId>,
    ) -> ApiResult<Success<HealthEnvelope>, Public> {
        Ok(ok(&request_id))
    }

    /// Readiness probe
    ///
    /// `200` when the database answers and carries every migration this server needs
    /// (migrations of a newer release beside them are fine), `503` otherwise, and from
    /// the moment the server is asked to shut down (it still serves requests during the
    /// drain that follows).
    #[oai(path = "/readyz", method = "get", operation_id = "system_ready")]
    async fn ready(
        &self,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
    ) -> ApiResult<Success<HealthEnvelope>, Public> {
        // Not logged: a balancer polls it throughout the drain, whose start is logged once.
        if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(AppError::Unavailable(anyhow::anyhow!("shutting down")).into());
        }
        db::check_ready(&state.pool).await.map_err(|err| {
            tracing::warn!(error = %err, "not ready");
            AppError::Unavailable(err)
        })?;
        Ok(ok(&request_id))
    }
}
