//! Row-level security, checked directly against PostgreSQL as the runtime role.

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE, SUPERUSER, WORKER_ROLE};
use momentum_server::db::{self, tenants};
use momentum_server::testing::postgres::Disposable;
use sqlx::{PgPool, Row};
use uuid::Uuid;

struct Db {
    name: String,
    owner: PgPool,
    runtime: PgPool,
}

async fn database() -> Db {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.expect("fresh database");
    let cluster = &disposable.cluster;
    Db {
        name: name.clone(),
        owner: db::connect(cluster.connect_options(OWNER_ROLE, &name), 2)
            .await
            .unwrap(),
        runtime: db::connect(cluster.connect_options(RUNTIME_ROLE, &name), 2)
            .await
            .unwrap(),
    }
}

/// Inserts a contact for `tenant` through the owner role, pinned to that tenant.
async fn seed_contact(owner: &PgPool, tenant: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO contacts (id, tenant_id, first_name) VALUES ($1, $2, 'Seed')")
        .bind(id)
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

fn is_rls_violation(err: &sqlx::Error) -> bool {
    // 42501 insufficient_privilege: "new row violates row-level security policy".
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("42501"))
}

#[tokio::test]
async fn every_table_with_a_tenant_id_has_forced_rls_with_using_and_with_check() {
    let db = database().await;
    let rows = sqlx::query(
        "SELECT c.relname::text AS name, c.relrowsecurity, c.relforcerowsecurity,
                (SELECT count(*) FROM pg_policy p
                  WHERE p.polrelid = c.oid AND p.polqual IS NOT NULL
                    AND p.polwithcheck IS NOT NULL) AS full_policies,
                has_table_privilege('momentum_app', c.oid, 'SELECT,INSERT,UPDATE,DELETE')
                    AS app_access
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind = 'r'
            AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'tenant_id' AND NOT a.attisdropped)
                 OR c.relname = 'tenants')
          ORDER BY 1",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get("name")).collect();
    assert!(names.contains(&"contacts".to_string()), "{names:?}");
    assert!(names.len() >= 4, "{names:?}");
    for row in rows {
        let name: String = row.get("name");
        assert!(
            row.get::<bool, _>("relrowsecurity"),
            "{name}: RLS not enabled"
        );
        assert!(
            row.get::<bool, _>("relforcerowsecurity"),
            "{name}: RLS not forced"
        );
        // A table the runtime role cannot touch at all (qr_sessions, reached only through
        // SECURITY DEFINER functions) needs no policy: forced RLS without one denies all.
        assert!(
            row.get::<i64, _>("full_policies") >= 1 || !row.get::<bool, _>("app_access"),
            "{name}: no USING + WITH CHECK policy"
        );
    }
}

#[tokio::test]
async fn the_runtime_role_reaches_qr_sessions_only_through_functions() {
    let db = database().await;
    let direct = sqlx::query("SELECT count(*) FROM qr_sessions")
        .fetch_one(&db.runtime)
        .await;
    let err = direct.expect_err("no grant on qr_sessions");
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[tokio::test]
async fn without_a_tenant_the_runtime_role_sees_nothing_and_cannot_insert() {
    let db = database().await;
    let tenant = tenants::provision(&db.owner, "A", "a@a.example")
        .await
        .unwrap();
    seed_contact(&db.owner, tenant.tenant_id).await;

    for table in ["contacts", "users", "api_keys", "tenants"] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&db.runtime)
            .await
            .unwrap();
        assert_eq!(count, 0, "{table} is visible without a tenant");
    }
    let err = sqlx::query("INSERT INTO contacts (id, tenant_id, first_name) VALUES ($1, $2, 'X')")
        .bind(Uuid::now_v7())
        .bind(tenant.tenant_id)
        .execute(&db.runtime)
        .await
        .unwrap_err();
    assert!(is_rls_violation(&err), "{err}");
}

#[tokio::test]
async fn a_tenant_cannot_write_or_move_rows_into_another_tenant() {
    let db = database().await;
    let a = tenants::provision(&db.owner, "A", "a@a.example")
        .await
        .unwrap();
    let b = tenants::provision(&db.owner, "B", "b@b.example")
        .await
        .unwrap();
    let a_contact = seed_contact(&db.owner, a.tenant_id).await;
    let b_contact = seed_contact(&db.owner, b.tenant_id).await;

    let as_a = || async {
        let mut tx = db.runtime.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(a.tenant_id.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx
    };

    let mut tx = as_a().await;
    let err = sqlx::query("INSERT INTO contacts (id, tenant_id, first_name) VALUES ($1, $2, 'X')")
        .bind(Uuid::now_v7())
        .bind(b.tenant_id)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(is_rls_violation(&err), "insert into B as A: {err}");
    drop(tx);

    let mut tx = as_a().await;
    let err = sqlx::query("UPDATE contacts SET tenant_id = $1 WHERE id = $2")
        .bind(b.tenant_id)
        .bind(a_contact)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(is_rls_violation(&err), "moving A's row to B: {err}");
    drop(tx);

    let mut tx = as_a().await;
    let touched = sqlx::query("UPDATE contacts SET first_name = 'pwned' WHERE id = $1")
        .bind(b_contact)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(touched, 0, "A can update B's row");
    let visible: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM contacts")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(visible, vec![a_contact]);
    tx.commit().await.unwrap();

    // The setting was transaction-local: the pooled connection forgot the tenant.
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
        .fetch_one(&db.runtime)
        .await
        .unwrap();
    assert_eq!(after, 0);
}

#[tokio::test]
async fn the_runtime_role_passes_the_start_up_check_and_the_owner_does_not() {
    let db = database().await;
    db::check_runtime_role(&db.runtime)
        .await
        .expect("runtime role accepted");
    let err = db::check_runtime_role(&db.owner)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("BYPASSRLS"), "{err}");
}

#[tokio::test]
async fn a_role_that_owns_a_table_is_refused_even_without_bypassrls() {
    let db = database().await;
    let cluster = &Disposable::shared().cluster;
    let role = format!("owner_{}", Uuid::new_v4().simple());
    let superuser = db::connect(cluster.connect_options(SUPERUSER, &db.name), 1)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE ROLE {role} LOGIN NOBYPASSRLS"))
        .execute(&superuser)
        .await
        .unwrap();
    sqlx::query(&format!("ALTER TABLE contacts OWNER TO {role}"))
        .execute(&superuser)
        .await
        .unwrap();
    let as_owner = db::connect(cluster.connect_options(&role, &db.name), 1)
        .await
        .unwrap();
    let err = db::check_runtime_role(&as_owner)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("owns") && err.contains("contacts"), "{err}");
}

#[tokio::test]
async fn expired_idempotency_keys_of_every_tenant_are_purged_and_live_ones_kept() {
    let db = database().await;
    let a = tenants::provision(&db.owner, "A", "a@example.com")
        .await
        .unwrap();
    let b = tenants::provision(&db.owner, "B", "b@example.com")
        .await
        .unwrap();
    for (tenant, key, expires) in [
        (a.tenant_id, "old-a", "now() - interval '1 second'"),
        (b.tenant_id, "old-b", "now() - interval '1 hour'"),
        (a.tenant_id, "live-a", "now() + interval '1 hour'"),
    ] {
        sqlx::query(&format!(
            "INSERT INTO idempotency_keys (tenant_id, credential_id, key, fingerprint, \
             status, expires_at) \
             VALUES ($1, gen_random_uuid(), $2, decode(repeat('00', 32), 'hex'), 'running', \
             {expires})"
        ))
        .bind(tenant)
        .bind(key)
        .execute(&db.owner)
        .await
        .unwrap();
    }
    // The API's runtime role may not purge across tenants; the worker's role may, and
    // reaches every tenant's expired keys without a tenant set.
    let refused = momentum_server::db::idempotency::purge(&db.runtime, 1000).await;
    assert!(
        matches!(&refused, Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501")),
        "{refused:?}"
    );
    let worker = db::connect(
        Disposable::shared()
            .cluster
            .connect_options(WORKER_ROLE, &db.name),
        1,
    )
    .await
    .unwrap();
    let purged = momentum_server::db::idempotency::purge(&worker, 1000)
        .await
        .unwrap();
    assert_eq!(purged, 2);
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys")
        .fetch_all(&db.owner)
        .await
        .unwrap();
    assert_eq!(left, ["live-a"]);
}

/// The search runs in a SECURITY DEFINER function (row-level security cannot use its
/// indexes), so it must apply the tenant rule itself: without a tenant it finds nothing,
/// with one it finds that tenant's rows only, and never a trashed one.
#[tokio::test]
async fn the_search_function_keeps_to_the_transactions_tenant() {
    let db = database().await;
    let a = Uuid::now_v7();
    let b = Uuid::now_v7();
    for (tenant, name) in [(a, "A"), (b, "B")] {
        sqlx::query("INSERT INTO tenants (id, name) VALUES ($1, $2)")
            .bind(tenant)
            .bind(name)
            .execute(&db.owner)
            .await
            .unwrap();
    }
    let in_a = seed_contact(&db.owner, a).await;
    let in_b = seed_contact(&db.owner, b).await;
    let trashed = seed_contact(&db.owner, a).await;
    sqlx::query("UPDATE contacts SET deleted_at = now() WHERE id = $1")
        .bind(trashed)
        .execute(&db.owner)
        .await
        .unwrap();

    let search = |tenant: Option<Uuid>| {
        let runtime = db.runtime.clone();
        async move {
            let mut tx = runtime.begin().await.unwrap();
            if let Some(tenant) = tenant {
                sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                    .bind(tenant.to_string())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            let ids: Vec<Uuid> = sqlx::query_scalar(
                "SELECT id FROM search_records('seed', '%seed%', '(^|[^[:alnum:]])seed', \
                 true, 'seed', ARRAY['contact', 'company', 'lead', 'activity'], \
                 NULL, NULL, NULL, 100)",
            )
            .fetch_all(&mut *tx)
            .await
            .unwrap();
            ids
        }
    };
    assert!(search(None).await.is_empty(), "no tenant, nothing found");
    assert_eq!(search(Some(a)).await, [in_a]);
    assert_eq!(search(Some(b)).await, [in_b]);
}

/// `api_keys.user_id` once referenced `users (id)` alone: a key of tenant B could be
/// bound to a user of tenant A, and the credential lookup would then give it A's user's
/// role. The reference is composite now, like every other, so the database refuses it.
#[tokio::test]
async fn a_key_cannot_be_bound_to_another_tenants_user() {
    let db = database().await;
    let a = tenants::provision(&db.owner, "A", "a@a.example")
        .await
        .unwrap();
    let b = tenants::provision(&db.owner, "B", "b@b.example")
        .await
        .unwrap();
    let mut tx = db.runtime.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(b.tenant_id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let bound = sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, user_id, public_id, secret_hash, scopes) \
         VALUES ($1, $2, $3, $4, decode(repeat('00', 32), 'hex'), ARRAY['admin'])",
    )
    .bind(Uuid::now_v7())
    .bind(b.tenant_id)
    .bind(a.user_id)
    .bind(format!("cross{}", Uuid::new_v4().simple()))
    .execute(&mut *tx)
    .await;
    let err = bound.expect_err("a key of B bound to A's user was accepted");
    assert!(
        matches!(&err, sqlx::Error::Database(e) if e.code().as_deref() == Some("23503")),
        "a foreign key violation: {err}"
    );
}

/// Keys of tenant tables that stay global: each is looked up before any tenant is known,
/// so it must be unique across tenants. docs/scaling.md says how a cluster sharded by
/// `tenant_id` serves each (a small global table mapping the public id to its tenant,
/// then that tenant's shard). Anything else without `tenant_id` fails the tests below.
const GLOBAL_KEYS: &[(&str, &str)] = &[
    (
        "api_keys_public_id_key",
        "authentication finds a key by its public id (`mk_<public id>_<secret>`) before \
         the tenant is known; two tenants' keys with one public id would be ambiguous",
    ),
    (
        "session_tokens_public_id_key",
        "as for API keys: a session token is found by its public id before the tenant is \
         known",
    ),
    (
        "qr_sessions_pkey",
        "a QR session is created and polled by a device before any tenant exists for it \
         (`tenant_id` is NULL until a user approves it); its random (v4) id, shown in the \
         QR code, is the capability",
    ),
];

/// The tables held to the tenant rule: every table with a `tenant_id` column, and every
/// table with a foreign key to one of them or to `tenants` (which must then carry the
/// tenant itself, or it could not live on the tenant's shard).
const TENANT_TABLES: &str = "
    WITH RECURSIVE with_tenant AS (
        SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'tenant_id' AND NOT a.attisdropped)
    ), tenant_tables (oid) AS (
        SELECT oid FROM with_tenant
        UNION
        SELECT conrelid FROM pg_constraint WHERE contype = 'f' AND confrelid = 'tenants'::regclass
        UNION
        SELECT k.conrelid FROM pg_constraint k JOIN tenant_tables t ON k.confrelid = t.oid
         WHERE k.contype = 'f'
    )";

/// Every primary key, unique or exclusion constraint and unique index of a tenant table
/// without `tenant_id` among its columns, as `name: table definition`.
async fn keys_without_the_tenant(owner: &PgPool) -> Vec<(String, String)> {
    let rows = sqlx::query(&format!(
        "{TENANT_TABLES}
         SELECT i.indexrelid::regclass::text AS name, i.indrelid::regclass::text AS tbl,
                coalesce((SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k
                           WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                             AND k.contype IN ('p', 'u', 'x')),
                         pg_get_indexdef(i.indexrelid)) AS def
           FROM pg_index i
          WHERE i.indrelid IN (SELECT oid FROM tenant_tables)
            AND (i.indisunique OR i.indisexclusion)
            AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                             WHERE a.attrelid = i.indrelid AND a.attname = 'tenant_id'
                               AND a.attnum = ANY (i.indkey::int2[]))
          ORDER BY 1"
    ))
    .fetch_all(owner)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            let (name, tbl, def): (String, String, String) =
                (r.get("name"), r.get("tbl"), r.get("def"));
            (name, format!("{tbl}: {def}"))
        })
        .collect()
}

/// Citus, which would shard the tenant tables by `tenant_id` (docs/scaling.md), requires
/// every primary key and unique constraint of a distributed table to include the
/// distribution column: a shard can only enforce uniqueness among its own rows. Read
/// from the catalog (constraints and bare unique indexes alike), so a new table or index
/// is held to it; the global lookups above are the only exceptions.
#[tokio::test]
async fn every_key_of_a_tenant_table_includes_the_tenant() {
    let db = database().await;
    let found = keys_without_the_tenant(&db.owner).await;
    let wrong: Vec<String> = found
        .iter()
        .filter(|(name, _)| !GLOBAL_KEYS.iter().any(|(n, _)| n == name))
        .map(|(name, def)| format!("{name}: {def}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "keys of tenant tables without tenant_id ({} of them):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // An exception that no longer exists, or now includes the tenant, is stale: the list
    // must say exactly what stays global.
    for (name, why) in GLOBAL_KEYS {
        assert!(
            found.iter().any(|(n, _)| n == name),
            "{name} is listed as a global key ({why}) but is not one any more"
        );
    }
    // A future table is held to it too: one with a tenant and keys without it, and one
    // without a tenant that references it (it could not live on the tenant's shard).
    sqlx::raw_sql(
        "CREATE TABLE future_records (id uuid PRIMARY KEY, tenant_id uuid NOT NULL,
                                      code text UNIQUE);
         CREATE UNIQUE INDEX future_records_code_lower ON future_records (lower(code));
         CREATE TABLE future_links (id uuid PRIMARY KEY,
                                    record_id uuid REFERENCES future_records (id));",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let found: Vec<String> = keys_without_the_tenant(&db.owner)
        .await
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("future_"))
        .collect();
    assert_eq!(
        found,
        [
            "future_links_pkey",
            "future_records_code_key",
            "future_records_code_lower",
            "future_records_pkey"
        ]
    );
}

/// Foreign-key checks bypass row-level security, so a reference between tenant tables
/// keeps both rows in one tenant only when the tenant is part of the key:
/// `(tenant_id, x_id) REFERENCES x (tenant_id, id)`. A reference to `tenants (id)` must be
/// the table's own `tenant_id`. Read from the catalog, so a new table is held to it.
#[tokio::test]
async fn every_foreign_key_between_tenant_tables_includes_the_tenant() {
    let db = database().await;
    // Deliberate exceptions, with why each is safe: none today.
    const EXCEPTIONS: &[(&str, &str)] = &[];
    let rows = sqlx::query(
        "WITH tenant_tables AS (
             SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                AND (c.relname = 'tenants' OR EXISTS (
                     SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                        AND a.attname = 'tenant_id' AND NOT a.attisdropped)))
         SELECT k.conname::text AS name, k.conrelid::regclass::text AS tbl,
                k.confrelid::regclass::text AS ref,
                ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u (n, i)
                        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n
                       ORDER BY u.i) AS cols,
                ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u (n, i)
                        JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n
                       ORDER BY u.i) AS ref_cols
           FROM pg_constraint k
          WHERE k.contype = 'f'
            AND (k.conrelid IN (SELECT oid FROM tenant_tables)
                 OR k.confrelid IN (SELECT oid FROM tenant_tables))
          ORDER BY 1",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert!(rows.len() >= 20, "the catalog query finds the keys");
    let mut wrong = Vec::new();
    for row in &rows {
        let name: String = row.get("name");
        let (tbl, rf): (String, String) = (row.get("tbl"), row.get("ref"));
        let (cols, ref_cols): (Vec<String>, Vec<String>) = (row.get("cols"), row.get("ref_cols"));
        let ok = if rf == "tenants" {
            cols == ["tenant_id"] && ref_cols == ["id"]
        } else {
            cols.iter()
                .zip(&ref_cols)
                .any(|(c, r)| c == "tenant_id" && r == "tenant_id")
        };
        if !ok && !EXCEPTIONS.iter().any(|(n, _)| *n == name) {
            wrong.push(format!(
                "{name}: {tbl} ({}) -> {rf} ({})",
                cols.join(", "),
                ref_cols.join(", ")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "foreign keys between tenant tables without the tenant in the key:\n{}",
        wrong.join("\n")
    );
}

/// Reads scan a GIN index's whole pending list, so one left at PostgreSQL's 4 MB makes
/// every search after a burst of writes slower (20261211100001 has the figures). Read
/// from the catalog, so a GIN index added later is held to the same bound.
#[tokio::test]
async fn every_gin_index_bounds_its_pending_list() {
    let db = database().await;
    let unbounded: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c \
         JOIN pg_am a ON a.oid = c.relam AND a.amname = 'gin' \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' \
         WHERE c.relkind = 'i' \
         AND NOT coalesce(c.reloptions @> ARRAY['gin_pending_list_limit=1024'], false) \
         ORDER BY 1",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert!(
        unbounded.is_empty(),
        "GIN indexes without gin_pending_list_limit = 1024: {unbounded:?}"
    );
    // The query above must see the indexes at all: 20261211100001 bounds thirteen.
    let gin: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_am a ON a.oid = c.relam AND a.amname = 'gin' \
         WHERE c.relkind = 'i' AND c.relnamespace = 'public'::regnamespace",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert!(gin >= 13, "only {gin} GIN indexes in the catalog");
}

/// The search's generic plan outgrows `jit_above_cost` as the tables grow, and a JIT
/// compile at every call cost 48 ms per search (20261211100002). A later
/// `CREATE OR REPLACE FUNCTION search_records` drops settings it does not repeat.
#[tokio::test]
async fn the_search_function_runs_without_jit_or_parallel_workers() {
    let db = database().await;
    let settings: Vec<Vec<String>> = sqlx::query_scalar(
        "SELECT coalesce(proconfig, '{}') FROM pg_proc WHERE proname = 'search_records'",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(settings.len(), 1, "one search_records: {settings:?}");
    for wanted in [
        "jit=off",
        "max_parallel_workers_per_gather=0",
        "plan_cache_mode=force_generic_plan",
    ] {
        assert!(
            settings[0].iter().any(|s| s == wanted),
            "search_records lacks {wanted}: {:?}",
            settings[0]
        );
    }
}
