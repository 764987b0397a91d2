//! The API's operations as data, read once from poem-openapi's own metadata: method,
//! path, the scopes the document requires and the rate-limit class. Security checks,
//! rate limits, metrics and the document's rate-limit notes all look operations up
//! here, so none of them can disagree with the document.

use std::sync::OnceLock;

use poem_openapi::registry::{MetaParamIn, MetaSchemaRef};
use poem_openapi::OpenApi;

use crate::auth::Scope;
use crate::ratelimit::Class;

#[derive(Debug)]
pub struct Operation {
    pub id: &'static str,
    /// Lower case, as in the document.
    pub method: String,
    /// As in the document: `/v1/contacts/{id}`.
    pub path: String,
    segments: Vec<Segment>,
    /// The names of the query parameters it declares.
    pub query: Vec<String>,
    /// Those of them declared as arrays, which may be given more than once.
    pub repeatable: Vec<String>,
    pub authenticated: bool,
    pub scopes: Vec<Scope>,
    /// Scopes of which the operation needs at least one (besides all of `scopes`); the
    /// document lists one security requirement per scope, which OpenAPI reads as "any
    /// of". Empty for most operations.
    pub any_of: Vec<Scope>,
    pub class: Class,
    /// Its request body is a file, streamed to the handler as it arrives rather than
    /// read into memory first (the document's `application/octet-stream`).
    pub streams_body: bool,
}

/// The operations that need one of several scopes, which poem-openapi's attribute (every
/// scope listed is required) cannot say: `render` writes them into the document.
const ANY_OF: [(&str, &[Scope]); 1] = [(
    "search",
    // Search covers the types the credential may read (`app::search`).
    &[
        Scope::ContactsRead,
        Scope::CompaniesRead,
        Scope::LeadsRead,
        Scope::ActivitiesRead,
    ],
)];

impl Operation {
    /// Whether `path` (split on `/`) matches, and how many parameters that took.
    fn matches(&self, parts: &[&str]) -> Option<usize> {
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut params = 0;
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(literal) if literal != part => return None,
                Segment::Literal(_) => {}
                Segment::Param(_) => params += 1,
            }
        }
        Some(params)
    }
}

impl Operation {
    /// The path parameters in `path`, a path this operation matches: (name, raw value).
    pub fn path_params<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.segments
            .iter()
            .zip(path.split('/'))
            .filter_map(|(segment, part)| match segment {
                Segment::Param(name) => Some((name.as_str(), part)),
                Segment::Literal(_) => None,
            })
    }
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    /// A path parameter, by name.
    Param(String),
}

/// `/v1/contacts/:id` and `/v1/contacts/{id}`: literal segments and named parameters.
fn segments(path: &str) -> Vec<Segment> {
    path.split('/')
        .map(|s| match s.strip_prefix(':') {
            Some(name) => Segment::Param(name.to_owned()),
            None if s.starts_with('{') => {
                Segment::Param(s.trim_matches(|c| c == '{' || c == '}').to_owned())
            }
            None => Segment::Literal(s.to_owned()),
        })
        .collect()
}

/// The document's form of a path (`{id}`), whatever form poem-openapi's metadata uses.
fn document_path(path: &str) -> String {
    path.split('/')
        .map(|s| match s.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The media type of a request body that is a file.
pub const STREAMED: &str = "application/octet-stream";

pub fn all() -> &'static [Operation] {
    static TABLE: OnceLock<Vec<Operation>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = Vec::new();
        for api in <super::Apis as OpenApi>::meta() {
            for path in api.paths {
                for op in path.operations {
                    let names: Vec<&str> = op
                        .security
                        .iter()
                        .flat_map(|requirement| requirement.values().flatten().copied())
                        .collect();
                    let authenticated = !op.security.is_empty();
                    let method = op.method.as_str().to_ascii_lowercase();
                    let id = op.operation_id.unwrap_or_default();
                    table.push(Operation {
                        id,
                        class: Class::of(id, &method, authenticated.then_some(names.as_slice())),
                        scopes: names.iter().filter_map(|n| Scope::parse(n)).collect(),
                        any_of: ANY_OF
                            .iter()
                            .find(|(any, _)| *any == id)
                            .map(|(_, scopes)| scopes.to_vec())
                            .unwrap_or_default(),
                        method,
                        path: document_path(&path.path),
                        segments: segments(&path.path),
                        query: op
                            .params
                            .iter()
                            .filter(|p| matches!(p.in_type, MetaParamIn::Query))
                            .map(|p| p.name.clone())
                            .collect(),
                        repeatable: op
                            .params
                            .iter()
                            .filter(|p| matches!(p.in_type, MetaParamIn::Query))
                            .filter(|p| {
                                matches!(&p.schema, MetaSchemaRef::Inline(schema) if schema.ty == "array")
                            })
                            .map(|p| p.name.clone())
                            .collect(),
                        authenticated,
                        streams_body: op.request.as_ref().is_some_and(|request| {
                            request
                                .content
                                .iter()
                                .any(|media| media.content_type == STREAMED)
                        }),
                    });
                }
            }
        }
        table
    })
}

/// The operation a request is for: the match with the fewest parameters, so a literal
/// segment (`/stages/order`) wins over a parameter (`/stages/{stage_id}`).
pub fn find(method: &str, path: &str) -> Option<&'static Operation> {
    let parts: Vec<&str> = path.split('/').collect();
    all()
        .iter()
        .filter(|op| op.method.eq_ignore_ascii_case(method))
        .filter_map(|op| op.matches(&parts).map(|params| (params, op)))
        .min_by_key(|(params, _)| *params)
        .map(|(_, op)| op)
}

/// The route poem picks for `path` whatever the method: the operation matching it with
/// the fewest parameters, as [`find`] does. `None` when no operation has this path.
fn route(path: &str) -> Option<&'static Operation> {
    let parts: Vec<&str> = path.split('/').collect();
    all()
        .iter()
        .filter_map(|op| op.matches(&parts).map(|params| (params, op)))
        .min_by_key(|(params, _)| *params)
        .map(|(_, op)| op)
}

/// The methods `path` answers, for the `Allow` header of a 405 (RFC 9110 §15.5.6) and of
/// an answer to `OPTIONS`: those of the route poem picks for it (the fewest parameters,
/// as [`find`]), `HEAD` wherever `GET` is (the edge answers it as a `GET` without the
/// body), and `OPTIONS`, which the edge answers everywhere. `None` when no operation has
/// this path.
pub fn allowed_methods(path: &str) -> Option<String> {
    let route = route(path)?;
    let mut methods: Vec<String> = all()
        .iter()
        .filter(|op| op.path == route.path)
        .map(|op| op.method.to_ascii_uppercase())
        .collect();
    if methods.iter().any(|m| m == "GET") {
        methods.push("HEAD".to_owned());
    }
    methods.push("OPTIONS".to_owned());
    Some(methods.join(", "))
}

/// The rate-limit class of a request to a path of the document that no operation takes
/// (a method the path does not take, `OPTIONS`), counted per client address so that no
/// method gets past the limits: the class of the path's `GET`, else of its first
/// operation, so the QR login's paths stay in `auth`. `None` for a path outside the
/// document (an unknown one, `/metrics`, `/docs`), which reaches no operation.
pub fn path_class(path: &str) -> Option<Class> {
    let route = route(path)?;
    let on_path = || all().iter().filter(|op| op.path == route.path);
    on_path()
        .find(|op| op.method == "get")
        .or_else(|| on_path().next())
        .map(|op| op.class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_find_their_operation() {
        let op = find("POST", "/v1/contacts").unwrap();
        assert_eq!((op.id, op.class), ("contacts_create", Class::Write));
        assert_eq!(op.scopes, [Scope::ContactsWrite]);
        let id = uuid::Uuid::now_v7();
        assert_eq!(
            find("GET", &format!("/v1/contacts/{id}")).unwrap().id,
            "contacts_get"
        );
        let order = format!("/v1/pipelines/{id}/stages/order");
        assert_eq!(find("PUT", &order).unwrap().id, "stages_reorder");
        assert!(find("GET", "/v1/nothing").is_none());
        let qr = find("POST", "/v1/auth/qr-sessions").unwrap();
        assert!(!qr.authenticated);
        assert_eq!(qr.class, Class::Auth);
    }

    #[test]
    fn a_path_allows_the_methods_of_its_own_route() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(
            allowed_methods(&format!("/v1/contacts/{id}")).as_deref(),
            Some("GET, PATCH, DELETE, HEAD, OPTIONS")
        );
        // The literal segment is its own route, as poem routes it.
        assert_eq!(
            allowed_methods(&format!("/v1/pipelines/{id}/stages/order")).as_deref(),
            Some("PUT, OPTIONS")
        );
        assert_eq!(allowed_methods("/v1/nothing"), None);
    }

    #[test]
    fn a_request_no_operation_takes_is_limited_in_its_path_class() {
        let id = uuid::Uuid::now_v7();
        // The QR login's paths are unauthenticated: whatever the method, `auth`.
        let qr = format!("/v1/auth/qr-sessions/{id}");
        assert_eq!(path_class(&qr), Some(Class::Auth));
        assert_eq!(path_class("/v1/auth/qr-sessions"), Some(Class::Auth));
        assert_eq!(path_class("/v1/api-keys"), Some(Class::Admin));
        assert_eq!(path_class(&format!("/v1/contacts/{id}")), Some(Class::Read));
        assert_eq!(path_class("/v1/nothing"), None);
        assert_eq!(path_class("/metrics"), None);
    }
}
