//! How statements reach PostgreSQL, so that Momentum also works through a transaction
//! pooler (PgBouncer with `pool_mode = transaction`) that cannot keep prepared statements
//! (PgBouncer before 1.21, or later ones without `max_prepared_statements`).
//!
//! By default sqlx prepares every statement with parameters under a name (`sqlx_s_1`,
//! `sqlx_s_2`, ... counted per client connection) and keeps it on the server session. A
//! transaction pooler hands each transaction whichever server session is free, so names
//! made by different client connections collide there ("prepared statement "sqlx_s_1"
//! already exists"), and a cached name can be missing, or mean another statement, on the
//! session a later use lands on.
//!
//! With [`set_prepared_statements`]`(false)` (`MOMENTUM_DB_PREPARED_STATEMENTS=false`):
//! * every statement built with [`query`], [`query_as`], [`query_scalar`] (and every
//!   `QueryBuilder` statement, given `.persistent(prepared_statements())`) is marked not
//!   persistent, which sqlx 0.8 sends as the *unnamed* statement: `Parse` with an empty
//!   name, then `Bind`/`Execute` of it (sqlx-postgres 0.8.6, `connection/executor.rs`,
//!   `prepare()`: `if persistent { next_statement_id } else { StatementId::UNNAMED }`,
//!   and only persistent statements enter the statement cache). Lowering
//!   `statement_cache_capacity` alone would not do: a persistent statement is then still
//!   prepared under a fresh name, just never reused or closed;
//! * sqlx sends the `Parse` (with a `Sync`, to learn the parameter and column types) and
//!   the `Bind`/`Execute` in two exchanges. Between them the pooler is free to hand the
//!   server session to another client, whose own unnamed statement then replaces ours:
//!   outside a transaction our parameters can run *another client's* statement (seen in
//!   testing, silently, with results of the wrong query). Inside a transaction the pooler
//!   keeps the session to the client until the transaction ends, so every statement that
//!   runs outside a [`super::TenantTx`] goes through [`autocommit`], which then wraps it in
//!   a `BEGIN`/`COMMIT` of its own.
//!
//! Nothing else keeps session state: the tenant, the trash switch and the statement
//! timeout are all transaction-local (`set_config(..., true)`, `SET LOCAL`). Listening
//! (`LISTEN`) and the migrations' advisory lock need a session, and so a direct URL (see
//! [`super::listen`]).
//!
//! The setting is process-wide rather than a property of each pool: it belongs to the way
//! this process reaches its database (one pooler or none, for every pool), and a flag on
//! every repository function's signature would reach every one of them to say the same.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Describe, Either, Execute, Executor, FromRow, PgPool, Postgres};

static PREPARED_STATEMENTS: AtomicBool = AtomicBool::new(true);

/// Whether statements are prepared under a name and kept (the default), or sent as the
/// unnamed statement for a transaction pooler. Set once at start, before any pool is used.
pub fn set_prepared_statements(on: bool) {
    PREPARED_STATEMENTS.store(on, Ordering::SeqCst);
}

/// See [`set_prepared_statements`].
pub fn prepared_statements() -> bool {
    PREPARED_STATEMENTS.load(Ordering::Relaxed)
}

/// `sqlx::query`, prepared under a name or not as [`prepared_statements`] says.
pub fn query(sql: &str) -> Query<'_, Postgres, PgArguments> {
    sqlx::query(sql).persistent(prepared_statements())
}

/// `sqlx::query_as`, prepared under a name or not as [`prepared_statements`] says.
pub fn query_as<'q, O>(sql: &'q str) -> QueryAs<'q, Postgres, O, PgArguments>
where
    O: for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_as(sql).persistent(prepared_statements())
}

/// `sqlx::query_scalar`, prepared under a name or not as [`prepared_statements`] says.
pub fn query_scalar<'q, O>(sql: &'q str) -> QueryScalar<'q, Postgres, O, PgArguments>
where
    (O,): for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_scalar(sql).persistent(prepared_statements())
}

/// Where a statement that belongs to no transaction runs: `pool` itself, or, without
/// prepared statements, a transaction of its own on it, so that a transaction pooler
/// keeps the statement's `Parse` and `Bind` on one server session (see the module docs).
/// A single statement in a transaction of its own does what it does in autocommit. The
/// wait for the connection is measured ([`super::acquire`]).
pub fn autocommit(pool: &PgPool) -> Autocommit<'_> {
    Autocommit(pool)
}

/// See [`autocommit`].
#[derive(Debug, Clone, Copy)]
pub struct Autocommit<'p>(&'p PgPool);

impl<'p> Executor<'p> for Autocommit<'p> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.0;
        // The rows are collected before they are handed on, so the connection (taken
        // here, its wait measured) is not borrowed by the stream that yields them.
        stream::once(async move {
            let mut conn = super::acquire(pool).await?;
            let all: Vec<_> = if prepared_statements() {
                (&mut *conn).fetch_many(query).try_collect().await?
            } else {
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let all = (&mut *tx).fetch_many(query).try_collect().await?;
                tx.commit().await?;
                all
            };
            Ok::<_, sqlx::Error>(stream::iter(all.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.0;
        Box::pin(async move {
            let mut conn = super::acquire(pool).await?;
            if prepared_statements() {
                return (&mut *conn).fetch_optional(query).await;
            }
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let row = (&mut *tx).fetch_optional(query).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.0.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.0.describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::source_files::rust_files;

    /// Whether sqlx will prepare `query` under a name (the trait's answer: the builders'
    /// own `persistent` method sets it).
    fn named<'q>(query: &impl Execute<'q, Postgres>) -> bool {
        query.persistent()
    }

    #[test]
    fn statements_follow_the_setting() {
        // Other tests of this binary may run meanwhile: both ways work on a direct
        // connection, so flipping it briefly changes nothing they check.
        assert!(named(&query("SELECT 1")), "named and kept by default");
        set_prepared_statements(false);
        let unnamed = [
            named(&query("SELECT 1")),
            named(&query_as::<(i32,)>("SELECT 1")),
            named(&query_scalar::<i32>("SELECT 1")),
        ];
        set_prepared_statements(true);
        assert_eq!(unnamed, [false; 3]);
    }

    /// Receivers the repositories give a pool under (`pool`, `admin`, ...).
    const POOLS: &[&str] = &["pool", "&pool", "&self.pool", "self.pool", "admin", "db"];
    const RUNS: &[&str] = &[
        "execute",
        "fetch",
        "fetch_all",
        "fetch_many",
        "fetch_one",
        "fetch_optional",
    ];

    /// The places in `src` that bypass this module: a statement built with `sqlx::query*`
    /// (prepared under a name whatever the setting), a `QueryBuilder` statement that does
    /// not say `.persistent(`, or a statement run on a pool directly rather than through
    /// [`autocommit`]. A reading of this code base's conventions, not of Rust.
    fn bypasses(src: &str) -> Vec<String> {
        let mut found = Vec::new();
        for call in [
            "sqlx::query(",
            "sqlx::query_as(",
            "sqlx::query_as::<",
            "sqlx::query_scalar(",
            "sqlx::query_scalar::<",
            "sqlx::query_with(",
        ] {
            if src.contains(call) {
                found.push(call.to_owned());
            }
        }
        for build in [".build_query_as()", ".build_query_scalar()", "sql.build()"] {
            for (at, _) in src.match_indices(build) {
                if !src[at + build.len()..]
                    .trim_start()
                    .starts_with(".persistent(")
                {
                    found.push(build.to_owned());
                }
            }
        }
        for run in RUNS {
            for pool in POOLS {
                let call = format!(".{run}({pool})");
                if src.contains(&call) {
                    found.push(call);
                }
            }
        }
        found
    }

    #[test]
    fn every_statement_of_the_server_goes_through_this_module() {
        let files = rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
        assert!(files.len() > 20, "the source tree was not found");
        let mut bad = Vec::new();
        for file in files {
            // This module, and the embedded cluster's set-up as its superuser (a direct
            // Unix socket, never a pooler).
            if file.ends_with("db/statements.rs") || file.ends_with("db/embedded.rs") {
                continue;
            }
            let src = std::fs::read_to_string(&file).expect("read a source file");
            // Tests at the end of a file run against direct connections.
            let code = src
                .split("\n#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            for what in bypasses(code) {
                bad.push(format!("{}: {what}", file.display()));
            }
        }
        assert!(
            bad.is_empty(),
            "statements that would break behind a transaction pooler without prepared \
             statements (use db::query/query_as/query_scalar, `.persistent(\
             prepared_statements())` on a QueryBuilder's statement, and db::autocommit(pool) \
             outside a transaction):\n{}",
            bad.join("\n")
        );
    }

    #[test]
    fn the_guard_sees_each_way_around_it() {
        assert_eq!(
            bypasses("sqlx::query_as::<_, Row>(SQL).fetch_one(pool)"),
            ["sqlx::query_as::<", ".fetch_one(pool)"]
        );
        assert_eq!(
            bypasses("sql.build_query_as().fetch_all(tx.conn())"),
            [".build_query_as()"]
        );
        assert!(bypasses(
            "query(SQL).fetch_one(autocommit(pool)); \
             sql.build_query_as()\n.persistent(prepared_statements())"
        )
        .is_empty());
    }
}
