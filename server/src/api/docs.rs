//! Swagger UI at `/docs`, served from utoipa-swagger-ui's vendored files (works offline),
//! pointed at the document poem-openapi generates (`/openapi.json`).

use std::sync::Arc;

use poem::http::{header, StatusCode};
use poem::web::Path;
use poem::{handler, IntoResponse, Response};

use crate::error::AppError;

fn config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    Arc::new(
        utoipa_swagger_ui::Config::from("/openapi.json")
            .persist_authorization(true)
            .display_request_duration(true),
    )
}

#[handler]
pub fn index() -> Response {
    Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header(header::LOCATION, "/docs/")
        .finish()
}

#[handler]
pub fn asset(Path(tail): Path<String>) -> poem::Result<Response> {
    let file = utoipa_swagger_ui::serve(&tail, config())
        .map_err(|err| AppError::Internal(anyhow::anyhow!("swagger ui: {err}")).into_poem())?
        .ok_or_else(|| AppError::NotFound("file").into_poem())?;
    Result::Ok(
        file.bytes
            .to_vec()
            .with_content_type(file.content_type)
            .into_response(),
    )
}
