//! The only door to tenant tables.
//!
//! A `TenantTx` is a transaction whose first statement pinned `app.tenant_id` with
//! `set_config(..., true)`: transaction-local, so nothing leaks to the next user of the
//! pooled connection, and row-level security filters every statement that follows.
//! Repository functions take `&mut TenantTx`; there is no other way to reach tenant rows
//! with the runtime role (without a tenant, RLS shows zero rows and refuses every write).

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::AppResult;

pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    tenant_id: Uuid,
}

impl TenantTx {
    pub async fn begin(pool: &PgPool, tenant_id: Uuid) -> AppResult<Self> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(tenant_id.to_string())
            .execute(&mut *tx)
            .await?;
        Ok(Self { tx, tenant_id })
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// The connection, for repository functions in this module tree only.
    pub(super) fn conn(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> AppResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}
