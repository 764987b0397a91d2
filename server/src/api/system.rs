//! Probes for orchestrators and load balancers. Unauthenticated, outside `/v1`.

use poem::web::Data;
use poem_openapi::{Object, OpenApi};

use super::edge::RequestId;
use super::responses::{ApiResult, Meta, Public, Success};
use super::ApiTags;
use crate::app::system;
use crate::state::AppState;

/// The state of a probe.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Health {
    /// `ok` when the probe passed.
    pub status: String,
    /// The database connection, on `/readyz` only.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseHealth>,
}

/// The server's connection to its database, as `/readyz` found it.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct DatabaseHealth {
    /// Whether the connection is encrypted (TLS), as PostgreSQL reports it for the
    /// connection the probe ran on. `false` on a local Unix socket, which never leaves
    /// the machine.
    pub encrypted: bool,
}

/// A probe's result in the envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct HealthEnvelope {
    pub data: Health,
    pub meta: Meta,
}

fn ok(request_id: &RequestId, database: Option<DatabaseHealth>) -> Success<HealthEnvelope> {
    Success(HealthEnvelope {
        data: Health {
            status: "ok".into(),
            database,
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
        Ok(ok(&request_id, None))
    }

    /// Readiness probe
    ///
    /// `200` when the database answers and carries every migration this server needs
    /// (migrations of a newer release beside them are fine), `503` otherwise, and from
    /// the moment the server is asked to shut down (it still serves requests during the
    /// drain that follows). `database.encrypted` says whether the connection to the
    /// database is encrypted.
    #[oai(path = "/readyz", method = "get", operation_id = "system_ready")]
    async fn ready(
        &self,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
    ) -> ApiResult<Success<HealthEnvelope>, Public> {
        let readiness = system::readiness(&state).await?;
        let database = DatabaseHealth {
            encrypted: readiness.encrypted,
        };
        Ok(ok(&request_id, Some(database)))
    }
}
