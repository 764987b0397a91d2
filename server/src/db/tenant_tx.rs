//! The only door to tenant tables.
//!
//! A `TenantTx` is a transaction whose first statement pinned `app.tenant_id` with
//! `set_config(..., true)`: transaction-local, so nothing leaks to the next user of the
//! pooled connection, and row-level security filters every statement that follows.
//! Repository functions take `&mut TenantTx`; there is no other way to reach tenant rows
//! with the runtime role (without a tenant, RLS shows zero rows and refuses every write).

use std::time::Duration;

use sqlx::{Executor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::AppResult;

pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    tenant_id: Uuid,
    span: TxSpan,
}

impl TenantTx {
    /// Begins the tenant's transaction. Inside a request its statements are bounded by
    /// the time the request has left ([`crate::deadline`]), so none outlives it.
    ///
    /// Its span (`db.transaction`, a child of the request's or the webhook attempt's) is
    /// at `debug` level: it exists only when traces are on or the logs ask for it. With
    /// traces on, the transaction also carries the span's W3C context as
    /// `app.traceparent`, which `emit_event` stores with each event it records.
    pub async fn begin(pool: &PgPool, tenant_id: Uuid) -> AppResult<Self> {
        Self::begin_as(
            pool,
            tenant_id,
            Isolation::ReadCommitted,
            crate::deadline::remaining(),
        )
        .await
    }

    /// Begins a read-only transaction that sees the tenant's data as of one instant
    /// (`REPEATABLE READ`: the snapshot is taken by the statement that pins the tenant,
    /// so it exists when this returns), for reads that span many statements and must
    /// agree with each other, such as an export's pages. `timeout` bounds each
    /// statement, since no request deadline applies. It holds back vacuum while open:
    /// keep it to the work that needs the one instant.
    pub async fn begin_snapshot(
        pool: &PgPool,
        tenant_id: Uuid,
        timeout: Duration,
    ) -> AppResult<Self> {
        Self::begin_as(pool, tenant_id, Isolation::Snapshot, Some(timeout)).await
    }

    async fn begin_as(
        pool: &PgPool,
        tenant_id: Uuid,
        isolation: Isolation,
        timeout: Option<Duration>,
    ) -> AppResult<Self> {
        let span = tracing::debug_span!(
            "db.transaction",
            otel.kind = "client",
            db.system.name = "postgresql",
            tenant.id = %tenant_id,
            db.transaction.outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let traceparent = if crate::telemetry::enabled() {
            crate::telemetry::traceparent(&span)
        } else {
            None
        };
        let statement = begin_statement(tenant_id, isolation, timeout, traceparent.as_deref());
        // `Pool::begin_with`, with the wait for the connection measured apart from the
        // BEGIN round trip (`Transaction::begin` is what `begin_with` calls).
        let begun = match super::acquire(pool).await {
            Ok(conn) => Transaction::begin(conn, Some(statement.into())).await,
            Err(err) => Err(err),
        };
        let tx = match begun {
            Ok(tx) => tx,
            Err(err) => {
                span.record("otel.status_code", "error");
                return Err(err.into());
            }
        };
        Ok(Self {
            tx,
            tenant_id,
            span: TxSpan { span, ended: false },
        })
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// Pins `tenant_id` for the rest of the transaction in place of the tenant it began
    /// with. Only [`crate::db::sandboxes`] does this, to write a sandbox it has just made
    /// in the same transaction as the parent's reads, so a failure leaves neither behind.
    pub(super) async fn repin(&mut self, tenant_id: Uuid) -> AppResult<()> {
        super::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(tenant_id.to_string())
            .execute(&mut *self.tx)
            .await?;
        self.tenant_id = tenant_id;
        Ok(())
    }

    /// Shows trashed contacts, companies, leads and activities to the rest of this
    /// transaction. Row-level security hides them otherwise (the `hide_trashed` policy, see
    /// migration `20261129200001_trash.sql` and the [`crate::db`] docs); only reads with
    /// `?include_deleted=true`, restores, trashing itself and the moves that must carry
    /// trashed leads along call this. Transaction-local like the tenant: it ends with
    /// the transaction and never reaches the next user of the connection.
    pub async fn include_deleted(&mut self) -> AppResult<()> {
        self.simple("SELECT set_config('app.include_deleted', 'on', true)")
            .await
    }

    /// The connection, for repository functions in this module tree only.
    pub(super) fn conn(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }

    /// Marks a point the transaction can go back to (`SAVEPOINT`), so one step of a
    /// larger change (an item of a batch) can fail and be undone alone: a failed statement
    /// aborts only what followed the savepoint. Pair it with [`Self::release_savepoint`]
    /// or [`Self::rollback_to_savepoint`]; savepoints do not nest here.
    pub async fn savepoint(&mut self) -> AppResult<()> {
        self.simple("SAVEPOINT momentum_step").await
    }

    /// Keeps what was done since [`Self::savepoint`] (it commits with the transaction).
    pub async fn release_savepoint(&mut self) -> AppResult<()> {
        self.simple("RELEASE SAVEPOINT momentum_step").await
    }

    /// Undoes everything since [`Self::savepoint`], including a failed statement's abort,
    /// and releases the locks taken since; the transaction goes on.
    pub async fn rollback_to_savepoint(&mut self) -> AppResult<()> {
        self.simple("ROLLBACK TO SAVEPOINT momentum_step").await?;
        self.release_savepoint().await
    }

    /// A statement without parameters, sent as a simple query (nothing to prepare).
    async fn simple(&mut self, sql: &'static str) -> AppResult<()> {
        (&mut *self.tx).execute(sql).await?;
        Ok(())
    }

    pub async fn commit(self) -> AppResult<()> {
        let committed = self.tx.commit().await;
        self.span.end(if committed.is_ok() {
            "commit"
        } else {
            "commit_failed"
        });
        committed?;
        Ok(())
    }

    /// Ends a transaction that only read, without waiting for the database: one round
    /// trip fewer than [`Self::commit`] on every read. Rolling back what only read loses
    /// nothing. sqlx queues the `ROLLBACK` on the connection, and the pool sends it with
    /// the check it makes of every connection handed back (sqlx-core 0.8.6,
    /// `Floating::return_to_pool`, `ping`), waiting for both answers before anyone else
    /// gets the connection; a connection whose rollback fails is closed, never reused.
    /// The tenant and the timeout were transaction-local, so they end with it either way.
    pub fn end_read(self) {
        self.span.end("end_read");
        drop(self.tx);
    }
}

/// The transaction's span, which records how the transaction ended: `commit`,
/// `end_read`, or `rollback` when it is dropped unfinished (an error, a cancelled
/// request), as sqlx then rolls it back.
struct TxSpan {
    span: tracing::Span,
    ended: bool,
}

impl TxSpan {
    fn end(mut self, outcome: &'static str) {
        self.span.record("db.transaction.outcome", outcome);
        if outcome == "commit_failed" {
            self.span.record("otel.status_code", "error");
        }
        self.ended = true;
    }
}

impl Drop for TxSpan {
    fn drop(&mut self) {
        if !self.ended {
            self.span.record("db.transaction.outcome", "rollback");
        }
    }
}

/// `BEGIN` and the tenant pinned, as one simple-query message: one round trip to the
/// database instead of two, on every request (the benchmark's largest single saving).
/// The simple protocol takes no bound parameters, so this is the one place values are
/// written into SQL text: a [`Uuid`] prints as 36 hex digits and dashes, nothing that
/// could close the quote, and the timeout is a number.
///
/// With `timeout` (what the request has left), `SET LOCAL statement_timeout` in the same
/// message bounds every statement of the transaction: PostgreSQL cancels one still
/// running when the request's time is up (SQLSTATE 57014, a 503). At least 1 ms, since 0
/// would mean no timeout at all; transaction-local like the tenant.
///
/// With `traceparent` (traces on), the same `SELECT` sets `app.traceparent` too, so it
/// costs no round trip; a value that is not a well-formed `traceparent` (hex digits and
/// dashes, nothing that could close the quote) is left out.
///
/// The isolation is one of two fixed texts, never a value.
fn begin_statement(
    tenant_id: Uuid,
    isolation: Isolation,
    timeout: Option<Duration>,
    traceparent: Option<&str>,
) -> String {
    let begin = match isolation {
        Isolation::ReadCommitted => "BEGIN",
        Isolation::Snapshot => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    };
    let trace = match traceparent {
        Some(tp) if crate::telemetry::is_traceparent(tp) => {
            format!(", set_config('app.traceparent', '{tp}', true)")
        }
        _ => String::new(),
    };
    match timeout {
        Some(timeout) => {
            let timeout_ms = timeout.as_millis().max(1);
            format!(
                "{begin}; SET LOCAL statement_timeout = {timeout_ms}; \
                 SELECT set_config('app.tenant_id', '{tenant_id}', true){trace}"
            )
        }
        None => format!("{begin}; SELECT set_config('app.tenant_id', '{tenant_id}', true){trace}"),
    }
}

/// How a [`TenantTx`] sees concurrent commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isolation {
    /// PostgreSQL's default: each statement sees what was committed before it began.
    ReadCommitted,
    /// Read-only, every statement seeing the same instant.
    Snapshot,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_and_the_timeout_are_the_only_values_in_the_begin_statement() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(
            begin_statement(id, Isolation::ReadCommitted, None, None),
            "BEGIN; SELECT set_config('app.tenant_id', \
             '01234567-89ab-cdef-0123-456789abcdef', true)"
        );
        assert_eq!(
            begin_statement(
                id,
                Isolation::ReadCommitted,
                Some(Duration::from_micros(2_500_900)),
                None
            ),
            "BEGIN; SET LOCAL statement_timeout = 2500; SELECT set_config('app.tenant_id', \
             '01234567-89ab-cdef-0123-456789abcdef', true)"
        );
        // Past the deadline: the shortest timeout, never 0 (which would be none).
        assert!(
            begin_statement(id, Isolation::ReadCommitted, Some(Duration::ZERO), None)
                .contains("statement_timeout = 1;")
        );
    }

    #[test]
    fn the_trace_context_joins_the_begin_statement_only_when_well_formed() {
        let id = Uuid::from_u128(1);
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(
            begin_statement(id, Isolation::ReadCommitted, None, Some(tp)).ends_with(
                "true), set_config('app.traceparent', \
             '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', true)"
            )
        );
        let quote = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'); DROP";
        assert_eq!(
            begin_statement(id, Isolation::ReadCommitted, None, Some(quote)),
            begin_statement(id, Isolation::ReadCommitted, None, None)
        );
    }

    #[test]
    fn a_snapshot_begins_read_only_at_repeatable_read_with_its_own_timeout() {
        let id = Uuid::from_u128(1);
        assert_eq!(
            begin_statement(
                id,
                Isolation::Snapshot,
                Some(Duration::from_secs(3600)),
                None
            ),
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
             SET LOCAL statement_timeout = 3600000; SELECT set_config('app.tenant_id', \
             '00000000-0000-0000-0000-000000000001', true)"
        );
    }
}
