//! What the two file jobs (exports, imports) share below the application layer: the claim
//! a worker holds on a job, and a file a finished job leaves in the store.

use uuid::Uuid;

/// A job (an export, an import) a worker holds, until its lease runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Claim {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub claim_id: Uuid,
    /// Including this one.
    pub attempts: i32,
}

/// A job's file that is to be deleted (an expired export's, a finished import's).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredFile {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub file_key: String,
}
