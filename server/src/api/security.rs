//! The `ApiKey` security scheme: handlers that take an [`ApiKey`] parameter require
//! `Authorization: Bearer mk_...` (an API key) or `Bearer mst_...` (a session token), and
//! the document says so. The scope an operation needs is declared once, with
//! `#[oai(scope = "Scope::...")]` on that parameter: poem-openapi writes it into the
//! operation's security requirement, and [`verify`] enforces what the document requires
//! for the matched route, before the handler runs.

use std::collections::HashMap;
use std::sync::OnceLock;

use poem::{PathPattern, Request};
use poem_openapi::auth::Bearer;
use poem_openapi::{OpenApi, SecurityScheme};

use crate::auth::{Principal, Scope};
use crate::domain::FieldError;
use crate::error::AppError;
use crate::startup::AppState;

/// An API key (`mk_...`, printed by `momentum tenant create` or made with
/// `api_keys_create`) or a session token (`mst_...`, from a QR-code login). Each operation
/// lists the scope it needs; a credential without it gets `403 forbidden`.
#[derive(SecurityScheme)]
#[oai(
    rename = "ApiKey",
    ty = "bearer",
    bearer_format = "mk_<public id>_<secret> or mst_<public id>_<secret>",
    checker = "verify"
)]
pub struct ApiKey(pub Principal);

async fn verify(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState missing")).into_poem())?;
    let principal = state
        .auth
        .authenticate(&bearer.token)
        .await
        .map_err(AppError::into_poem)?;
    let required = required_scopes(req).map_err(AppError::into_poem)?;
    if let Some(missing) = required.iter().find(|scope| !principal.has(**scope)) {
        return Err(AppError::Forbidden {
            message: format!("this operation needs the `{}` scope", missing.as_str()),
            details: vec![FieldError::new(
                "scope",
                "missing_scope",
                format!("the credential lacks `{}`", missing.as_str()),
            )],
        }
        .into_poem());
    }
    Ok(principal)
}

type ScopeTable = HashMap<(String, String), Vec<Scope>>;

/// The scopes the document requires of the operation this request matched.
fn required_scopes(req: &Request) -> Result<&'static [Scope], AppError> {
    let pattern = req
        .data::<PathPattern>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no route pattern for a request")))?;
    let key = (
        req.method().as_str().to_ascii_lowercase(),
        normalise(&pattern.0),
    );
    scope_table()
        .get(&key)
        .map(Vec::as_slice)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no scope entry for {key:?}")))
}

/// `/v1/contacts/:id` and `/v1/contacts/{id}` both become `/v1/contacts/{}`.
fn normalise(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with(':') || segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every operation's required scopes, read once from the API's own metadata.
fn scope_table() -> &'static ScopeTable {
    static TABLE: OnceLock<ScopeTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = ScopeTable::new();
        for api in <super::Apis as OpenApi>::meta() {
            for path in api.paths {
                for op in path.operations {
                    let scopes = op
                        .security
                        .iter()
                        .flat_map(|requirement| requirement.values().flatten())
                        .filter_map(|name| Scope::parse(name))
                        .collect();
                    let method = op.method.as_str().to_ascii_lowercase();
                    table.insert((method, normalise(&path.path)), scopes);
                }
            }
        }
        table
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_patterns_and_document_paths_meet() {
        assert_eq!(
            normalise("/v1/contacts/:id"),
            normalise("/v1/contacts/{id}")
        );
        assert_ne!(normalise("/v1/contacts/:id"), normalise("/v1/contacts"));
    }

    #[test]
    fn every_operation_of_the_api_is_in_the_scope_table() {
        let table = scope_table();
        assert!(table.len() >= 40);
        let create = &table[&("post".to_owned(), "/v1/contacts".to_owned())];
        assert_eq!(create, &[Scope::ContactsWrite]);
    }
}
