//! Authentication: API keys (`Authorization: Bearer mk_...`).
//!
//! A key is `mk_<public_id>_<secret>`: the public id finds the row, the secret proves
//! possession. Only a SHA-256 of the secret is stored (the secret has 256 bits of entropy,
//! so a slow password hash adds nothing), and it is compared in constant time. This module
//! never logs a key or a secret.

pub mod api_key;

use uuid::Uuid;

/// Who is calling: resolved once per request by the security scheme, then handed to
/// handlers, which use `tenant_id` to open their tenant-scoped transaction.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub user_id: Option<Uuid>,
    pub scopes: Vec<String>,
}
