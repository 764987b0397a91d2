//! The HTTP API: one module per tag, combined into one poem-openapi service, which also
//! generates the OpenAPI document (`momentum openapi`, `/openapi.json`). Knows HTTP;
//! business rules live in `domain`, SQL in `db`.

pub mod contacts;
pub mod docs;
pub mod edge;
pub mod pagination;
pub mod responses;
pub mod security;
pub mod system;
pub mod types;

use poem_openapi::{LicenseObject, OpenApiService, ServerObject, Tags};

/// Operation groups, in the order the document lists them.
#[derive(Tags)]
pub enum ApiTags {
    /// People: create, read, update, delete and list, with keyset pagination.
    Contacts,
    /// Liveness and readiness probes (no authentication).
    System,
}

const DESCRIPTION: &str = "\
Momentum is a multi-tenant CRM API.

**Authentication**: send an API key as `Authorization: Bearer mk_...`. Every `/v1` operation \
needs one; the data you see is your tenant's only.

**Envelope**: every response body is `{\"data\": ..., \"meta\": {\"request_id\": ...}}`, and \
every error `{\"error\": {\"code\", \"message\", \"details\"}, \"meta\": {...}}` with a stable \
`code`. Every response carries `X-Request-Id`.

**Lists** are keyset-paginated: pass `meta.next_cursor` back as `cursor` until it is null.

**Updates** are JSON Merge Patch: omitted fields are kept, `null` clears a field.";

pub type Service = OpenApiService<(contacts::ContactsApi, system::SystemApi), ()>;

pub fn service() -> Service {
    OpenApiService::new(
        (contacts::ContactsApi, system::SystemApi),
        "Momentum API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
    .license(LicenseObject::new("Apache-2.0").url("https://www.apache.org/licenses/LICENSE-2.0"))
    .server(ServerObject::new("/").description("This server"))
}

/// The document exactly as committed in `openapi/openapi.json` (with a final newline).
pub fn spec_json() -> String {
    let mut spec = service().spec();
    spec.push('\n');
    spec
}
