//! Every `SECURITY DEFINER` function of the schema, called by the runtime role with
//! hostile arguments while tenant A is set, must leave tenant B's rows as they were and
//! return nothing of B. Such a function runs as the owner, which bypasses row-level
//! security, so its arguments and its grants are all that keep it to what it is for.
//!
//! The functions are read from `pg_proc`: one without a case below fails the test, so a
//! new function cannot slip past.

use std::collections::{BTreeMap, BTreeSet};

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE, SUPERUSER, WORKER_ROLE};
use momentum_server::db::{self, tenants};
use momentum_server::testing::postgres::Disposable;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

struct Db {
    owner: PgPool,
    runtime: PgPool,
    worker: PgPool,
}

async fn database() -> Db {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.expect("fresh database");
    let cluster = &disposable.cluster;
    Db {
        owner: db::connect(cluster.connect_options(OWNER_ROLE, &name), 2)
            .await
            .unwrap(),
        runtime: db::connect(cluster.connect_options(RUNTIME_ROLE, &name), 2)
            .await
            .unwrap(),
        worker: db::connect(cluster.connect_options(WORKER_ROLE, &name), 2)
            .await
            .unwrap(),
    }
}

/// The SECURITY DEFINER functions of the database's own schemas, as `name(arg types)`.
async fn definer_functions(owner: &PgPool) -> BTreeSet<String> {
    sqlx::query_scalar(
        "SELECT p.oid::regprocedure::text FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE p.prosecdef AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'",
    )
    .fetch_all(owner)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// Every row of `tenant` in every table that has a `tenant_id` (and its `tenants` row),
/// as JSON, table by table, read as the owner.
async fn snapshot(owner: &PgPool, tenant: Uuid) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind = 'r' AND EXISTS (
                SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                   AND a.attname = 'tenant_id' AND NOT a.attisdropped)
          ORDER BY 1",
    )
    .fetch_all(owner)
    .await
    .unwrap();
    let mut all = BTreeMap::new();
    for table in tables {
        // Table names come from the catalog, not from input.
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(t)::text FROM \"{table}\" t WHERE t.tenant_id = $1 ORDER BY 1"
        ))
        .bind(tenant)
        .fetch_all(owner)
        .await
        .unwrap();
        all.insert(table, rows);
    }
    let own: Vec<String> =
        sqlx::query_scalar("SELECT to_jsonb(t)::text FROM tenants t WHERE t.id = $1")
            .bind(tenant)
            .fetch_all(owner)
            .await
            .unwrap();
    all.insert("tenants".into(), own);
    all
}

/// Every string in B's rows that would give B away in an answer: its ids (every uuid in
/// its rows) and its secrets (whole values of `secret`-like fields).
fn markers(snapshot: &BTreeMap<String, Vec<String>>) -> BTreeSet<String> {
    fn walk(value: &Value, key: &str, out: &mut BTreeSet<String>) {
        match value {
            Value::String(s) if Uuid::parse_str(s).is_ok() => {
                out.insert(s.clone());
            }
            Value::String(s) if key.contains("secret") || key.contains("hash") => {
                out.insert(s.clone());
            }
            Value::Object(map) => map.iter().for_each(|(k, v)| walk(v, k, out)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, key, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for rows in snapshot.values() {
        for row in rows {
            walk(&serde_json::from_str(row).unwrap(), "", &mut out);
        }
    }
    out
}

/// What tenant B holds: a bit of everything a definer function could reach.
struct TenantB {
    tenant: Uuid,
    user: Uuid,
    contact: Uuid,
    key_public_id: String,
    key: Uuid,
    token: Uuid,
    approved_qr: Uuid,
    consumed_qr: Uuid,
    sandbox: Uuid,
}

async fn exec(owner: &PgPool, sql: &str, tenant: Uuid, ids: &[Uuid]) {
    let mut query = sqlx::query(sql).bind(tenant);
    for id in ids {
        query = query.bind(*id);
    }
    query
        .execute(owner)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn seed_b(owner: &PgPool) -> TenantB {
    let b = tenants::provision(owner, "Bravo", "owner@bravo.example")
        .await
        .unwrap();
    let t = b.tenant_id;
    let (key, key_public_id): (Uuid, String) =
        sqlx::query_as("SELECT id, public_id FROM api_keys WHERE tenant_id = $1")
            .bind(t)
            .fetch_one(owner)
            .await
            .unwrap();
    let [contact, twin, company, lead, activity, token, endpoint, event, delivery, sandbox] =
        [(); 10].map(|()| Uuid::now_v7());
    let (approved_qr, consumed_qr) = (Uuid::new_v4(), Uuid::new_v4());
    let hash = "decode(repeat('ab', 32), 'hex')";
    for (sql, ids) in [
        (
            "INSERT INTO contacts (id, tenant_id, first_name, last_name, email, phone) VALUES \
             ($2, $1, 'Bravo', 'Lovelace', 'bravo@bravo.example', '+442079460000'), \
             ($3, $1, 'Bravo', 'Lovelace', 'bravo+x@bravo.example', '+442079460000')",
            vec![contact, twin],
        ),
        // Trashed two hours ago: a purge with any retention the database allows keeps it.
        (
            "INSERT INTO companies (id, tenant_id, name, deleted_at) \
             VALUES ($2, $1, 'Bravo Co', now() - interval '2 hours')",
            vec![company],
        ),
        (
            "INSERT INTO leads (id, tenant_id, title, pipeline_id, stage_id, status, contact_id, \
             deleted_at) SELECT $2, $1, 'Bravo deal', pipeline_id, id, 'open', $3, \
             now() - interval '2 hours' FROM stages WHERE tenant_id = $1 AND position = 0",
            vec![lead, contact],
        ),
        (
            "INSERT INTO activities (id, tenant_id, type, subject, contact_id, deleted_at) \
             VALUES ($2, $1, 'call', 'Bravo call', $3, now() - interval '2 hours')",
            vec![activity, contact],
        ),
        (
            &format!(
                "INSERT INTO session_tokens (id, tenant_id, user_id, public_id, secret_hash, \
                 scopes, expires_at) VALUES ($2, $1, $3, 'bravotoken', {hash}, '{{*}}', \
                 now() + interval '1 hour')"
            ),
            vec![token, b.user_id],
        ),
        // A plaintext secret from before sealing: only the worker may read it, to seal it.
        (
            "INSERT INTO webhook_endpoints (id, tenant_id, url, secret) \
             VALUES ($2, $1, 'https://bravo.example/hook', 'whsec_YnJhdm9icmF2b2JyYXZvYnJhdm8=')",
            vec![endpoint],
        ),
        (
            "INSERT INTO events (id, tenant_id, type, data) \
             VALUES ($2, $1, 'contact.created', '{\"secret\": \"bravo payload\"}')",
            vec![event],
        ),
        (
            "INSERT INTO webhook_deliveries (id, tenant_id, event_id, endpoint_id, \
             next_attempt_at) VALUES ($2, $1, $3, $4, now() - interval '1 minute')",
            vec![delivery, event, endpoint],
        ),
        (
            &format!(
                "INSERT INTO idempotency_keys (tenant_id, credential_id, key, fingerprint, status, \
                 expires_at) VALUES ($1, $2, 'bravo-expired', {hash}, 'running', \
                 now() - interval '1 hour')"
            ),
            vec![token],
        ),
        (
            &format!(
                "INSERT INTO qr_sessions (id, poll_secret_hash, status, expires_at, tenant_id, \
                 user_id, approved_at) VALUES \
                 ($2, {hash}, 'approved', now() + interval '1 minute', $1, $4, now()), \
                 ($3, {hash}, 'consumed', now() + interval '1 minute', $1, $4, now())"
            ),
            vec![approved_qr, consumed_qr, b.user_id],
        ),
        // B's sandbox: its own tenant, and B's row naming it.
        (
            "INSERT INTO tenants (id, name) SELECT $2, 'Bravo sandbox' WHERE $1 IS NOT NULL",
            vec![sandbox],
        ),
        (
            "INSERT INTO sandboxes (tenant_id, id, name, seed, owner_user_id, expires_at) \
             VALUES ($1, $2, 'Bravo sandbox', 'none', $3, now() + interval '1 day')",
            vec![sandbox, b.user_id],
        ),
        // B's exports: one waiting to be claimed, one whose file has expired.
        (
            "INSERT INTO exports (tenant_id, id, record_type, format, filters) \
             VALUES ($1, gen_random_uuid(), 'contact', 'ndjson', '{}')",
            vec![],
        ),
        (
            "INSERT INTO exports (tenant_id, id, record_type, format, filters, status, \
             file_key, size_bytes, expires_at) VALUES ($1, gen_random_uuid(), 'lead', 'csv', \
             '{}', 'completed', 'exports/bravo.csv', 10, now() - interval '1 hour')",
            vec![],
        ),
        // B's imports: one waiting to be claimed, one finished with its file still
        // stored and one row error.
        (
            "INSERT INTO imports (tenant_id, id, record_type, format, match_key, file_key, \
             size_bytes, next_byte, next_line) VALUES ($1, gen_random_uuid(), 'contact', \
             'csv', 'email', 'imports/bravo-queued.csv', 100, 10, 2)",
            vec![],
        ),
        (
            "INSERT INTO imports (tenant_id, id, record_type, format, match_key, file_key, \
             size_bytes, next_byte, next_line, status, rows_read, failed, errors_stored, \
             completed_at) VALUES ($1, '00000000-0000-7000-8000-00000000b001', 'company', \
             'ndjson', 'domain', 'imports/bravo-done.ndjson', 100, 100, 3, 'completed', 1, 1, \
             1, now())",
            vec![],
        ),
        (
            "INSERT INTO import_errors (tenant_id, import_id, id, line, code, message) \
             VALUES ($1, '00000000-0000-7000-8000-00000000b001', gen_random_uuid(), 2, \
             'invalid_json', 'not JSON')",
            vec![],
        ),
    ] {
        exec(owner, sql, t, &ids).await;
    }
    TenantB {
        tenant: t,
        user: b.user_id,
        contact,
        key_public_id,
        key,
        token,
        approved_qr,
        consumed_qr,
        sandbox,
    }
}

/// One function's hostile calls (each a query whose rows are read as JSON), and why
/// what it may still do is safe.
struct Case {
    function: &'static str,
    calls: Vec<String>,
    why: &'static str,
}

/// Functions the runtime role must not be able to call at all: they act across tenants
/// for background work, which a separate role runs.
const WORKER_ONLY: &[&str] = &[
    "webhook_claim_deliveries(integer,interval,integer)",
    "webhook_next_due()",
    "purge_trash(interval,integer)",
    "webhook_plaintext_secrets(integer)",
    "webhook_secret_keys()",
    "idempotency_purge(integer)",
    "webhook_claim_deliveries_traced(integer,interval,integer)",
    "webhook_due_stats()",
    "sandbox_purge_expired(integer)",
    "webhook_claim_deliveries_changes(integer,interval,integer)",
    "export_claim(integer,interval,integer)",
    "export_expired_files(integer)",
    "import_claim(integer,interval,integer)",
    "import_spent_files(integer)",
];

fn cases(a_user: Uuid, b: &TenantB) -> Vec<Case> {
    let century = "interval '100 years'";
    let huge = i32::MAX;
    let random = Uuid::new_v4();
    let hash = "decode(repeat('cd', 32), 'hex')";
    let mut cases = vec![
        Case {
            function: "auth_lookup_credential(text,text)",
            calls: vec![
                "SELECT * FROM auth_lookup_credential('api_key', '%')".into(),
                "SELECT * FROM auth_lookup_credential('api_key', '')".into(),
                "SELECT * FROM auth_lookup_credential('session_token', '%')".into(),
                format!("SELECT * FROM auth_lookup_credential('api_key', '{random}')"),
                // Another tenant's credential ids are not public ids: nothing.
                format!(
                    "SELECT * FROM auth_lookup_credential('api_key', '{}')",
                    b.key
                ),
                format!(
                    "SELECT * FROM auth_lookup_credential('session_token', '{}')",
                    b.token
                ),
                // The right public id under another kind of credential finds nothing.
                format!(
                    "SELECT * FROM auth_lookup_credential('session_token', '{}')",
                    b.key_public_id
                ),
            ],
            why: "pre-tenant by nature (it finds the tenant): it returns a row only for the \
                  exact public id of a credential, which is half of the bearer credential \
                  itself, and what it returns is a hash of a 256-bit secret, never the secret",
        },
        Case {
            function: "auth_lookup_credential_rotating(text,text)",
            calls: vec![
                "SELECT * FROM auth_lookup_credential_rotating('api_key', '%')".into(),
                "SELECT * FROM auth_lookup_credential_rotating('api_key', '')".into(),
                "SELECT * FROM auth_lookup_credential_rotating('session_token', '%')".into(),
                format!("SELECT * FROM auth_lookup_credential_rotating('api_key', '{random}')"),
                format!(
                    "SELECT * FROM auth_lookup_credential_rotating('api_key', '{}')",
                    b.key
                ),
                format!(
                    "SELECT * FROM auth_lookup_credential_rotating('session_token', '{}')",
                    b.key_public_id
                ),
            ],
            why: "the credential lookup above plus the hash a rotation replaced and when it \
                  stops working: again only for the exact public id, and only hashes",
        },
        Case {
            function: "qr_session_create(uuid,bytea,timestamp with time zone)",
            calls: vec![
                // Another tenant's session id: refused (the id is taken), nothing changes.
                format!(
                    "SELECT qr_session_create('{}', {hash}, now() + {century})",
                    b.approved_qr
                ),
                format!("SELECT qr_session_create('{random}', {hash}, now() + {century})"),
            ],
            why: "makes a pending session that belongs to no tenant (the tenant is set only \
                  by an approval in that tenant's transaction); it also clears sessions \
                  expired for over a day, which no tenant can use any more",
        },
        Case {
            function: "qr_session_read(uuid)",
            calls: vec![
                format!("SELECT * FROM qr_session_read('{random}')"),
                "SELECT * FROM qr_session_read('00000000-0000-0000-0000-000000000000')".into(),
            ],
            why: "pre-tenant by nature (a device polls before any tenant is involved): the \
                  session id is the capability, random (v4), shown only in the QR code; \
                  an id guessed or made up finds nothing",
        },
        Case {
            function: "qr_session_approve(uuid,uuid,text[])",
            calls: vec![
                // B's approved session, by A's user: neither changed nor reported.
                format!(
                    "SELECT qr_session_approve('{}', '{a_user}', ARRAY['*'])",
                    b.approved_qr
                ),
                format!(
                    "SELECT qr_session_approve('{}', '{a_user}', ARRAY['*'])",
                    b.consumed_qr
                ),
                // B's user, with A's tenant set: refused.
                format!(
                    "SELECT qr_session_approve('{random}', '{}', ARRAY['*'])",
                    b.user
                ),
            ],
            why: "binds only a pending session, only to an active user of the transaction's \
                  own tenant, and reports a session bound to another tenant as absent",
        },
        Case {
            function: "qr_session_exchange(uuid,uuid,text,bytea,timestamp with time zone)",
            calls: vec![
                // Replaying B's consumed session, or a made-up one: nothing is issued.
                format!(
                    "SELECT * FROM qr_session_exchange('{}', '{random}', 'hostile', {hash}, \
                     now() + {century})",
                    b.consumed_qr
                ),
                format!(
                    "SELECT * FROM qr_session_exchange('{random}', '{random}', 'hostile2', \
                     {hash}, now() + {century})"
                ),
            ],
            why: "issues a token only for an approved, unexpired session, once; the session \
                  id with its poll secret (checked by the server before the call) is the \
                  capability",
        },
        Case {
            function: "contact_duplicate_candidates(uuid,real,integer,integer)",
            calls: vec![
                format!(
                    "SELECT * FROM contact_duplicate_candidates('{}', 0, {huge}, {huge})",
                    b.contact
                ),
                format!("SELECT * FROM contact_duplicate_candidates(NULL, 0, {huge}, {huge})"),
            ],
            why: "applies the policies' tenant rule itself (`current_tenant_id()`) and \
                  returns ids only",
        },
        Case {
            function: "search_records(text,text,text,boolean,text,text[],double precision,\
                       text,uuid,integer)",
            calls: vec![
                format!(
                    "SELECT * FROM search_records('bravo', '%', '', true, 'bravo lovelace', \
                     ARRAY['contact', 'company', 'lead', 'activity'], NULL, NULL, NULL, {huge})"
                ),
                format!(
                    "SELECT * FROM search_records('bravo@bravo.example', '%bravo%', 'bravo', \
                     true, 'bravo', ARRAY['contact'], NULL, NULL, NULL, {huge})"
                ),
            ],
            why: "applies the policies' tenant rule itself (`current_tenant_id()`), never \
                  returns a trashed record, and returns a hit's type, id and display text",
        },
        Case {
            function: "sandbox_create(uuid,text,text,uuid,interval,integer)",
            calls: vec![
                // B's tenant id and B's sandbox's, as the new sandbox's: taken, refused.
                format!(
                    "SELECT * FROM sandbox_create('{}', 'hostile', 'none', '{random}', \
                     {century}, {huge})",
                    b.tenant
                ),
                format!(
                    "SELECT * FROM sandbox_create('{}', 'hostile', 'none', '{random}', \
                     {century}, {huge})",
                    b.sandbox
                ),
                // A new id: a sandbox of A (the pinned tenant), whatever it asks.
                format!(
                    "SELECT * FROM sandbox_create('{random}', 'hostile', 'demo', '{random}', \
                     {century}, {huge})"
                ),
            ],
            why: "makes a sandbox of the pinned tenant only (the parent is \
                  `current_tenant_id()`, never an argument): a new tenant row, refused for \
                  an id that exists, and a row in the pinned tenant; at most 30 days to live \
                  and 1,000 live sandboxes whatever it is asked; returns the outcome and \
                  the expiry",
        },
        Case {
            function: "sandbox_delete(uuid)",
            calls: vec![
                format!("SELECT sandbox_delete('{}')", b.sandbox),
                format!("SELECT sandbox_delete('{}')", b.tenant),
            ],
            why: "deletes only a sandbox whose row belongs to the pinned tenant; any other \
                  id (another tenant's sandbox, a tenant that is no sandbox) is false",
        },
        Case {
            function: "webhook_secret_key_ids()",
            calls: vec!["SELECT * FROM webhook_secret_key_ids()".into()],
            why: "returns the ids (hashes) of the operator's keys that sealed secrets, which \
                  every server must check its own key against; nothing of any tenant",
        },
    ];
    let worker_calls: [(&str, String); 14] = [
        (
            WORKER_ONLY[0],
            format!("SELECT * FROM webhook_claim_deliveries({huge}, {century}, {huge})"),
        ),
        (WORKER_ONLY[1], "SELECT webhook_next_due()".into()),
        (
            WORKER_ONLY[2],
            format!("SELECT purge_trash(interval '0', {huge})"),
        ),
        (
            WORKER_ONLY[3],
            format!("SELECT * FROM webhook_plaintext_secrets({huge})"),
        ),
        (WORKER_ONLY[4], "SELECT * FROM webhook_secret_keys()".into()),
        (WORKER_ONLY[5], format!("SELECT idempotency_purge({huge})")),
        (
            WORKER_ONLY[6],
            format!("SELECT * FROM webhook_claim_deliveries_traced({huge}, {century}, {huge})"),
        ),
        (WORKER_ONLY[7], "SELECT * FROM webhook_due_stats()".into()),
        (
            WORKER_ONLY[8],
            format!("SELECT sandbox_purge_expired({huge})"),
        ),
        (
            WORKER_ONLY[9],
            format!("SELECT * FROM webhook_claim_deliveries_changes({huge}, {century}, {huge})"),
        ),
        (
            WORKER_ONLY[10],
            format!("SELECT * FROM export_claim({huge}, {century}, {huge})"),
        ),
        (
            WORKER_ONLY[11],
            format!("SELECT * FROM export_expired_files({huge})"),
        ),
        (
            WORKER_ONLY[12],
            format!("SELECT * FROM import_claim({huge}, {century}, {huge})"),
        ),
        (
            WORKER_ONLY[13],
            format!("SELECT * FROM import_spent_files({huge})"),
        ),
    ];
    for (function, call) in worker_calls {
        cases.push(Case {
            function,
            calls: vec![call],
            why: "background work across tenants: the worker's role alone may run it",
        });
    }
    cases
}

/// A function's signature without blanks (`double precision` as the catalog spells it,
/// or split over lines here).
fn norm(signature: &str) -> String {
    signature.split_whitespace().collect()
}

/// Runs `call` as the runtime role in a transaction with `tenant` set, committing what
/// it did; its rows as JSON text, or the SQLSTATE it failed with.
async fn call_as(runtime: &PgPool, tenant: Uuid, call: &str) -> Result<String, String> {
    let mut tx = runtime.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let rows = sqlx::query_scalar::<_, String>(&format!(
        "SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]')::text FROM ({call}) r"
    ))
    .fetch_one(&mut *tx)
    .await;
    match rows {
        Ok(rows) => {
            tx.commit().await.unwrap();
            Ok(rows)
        }
        Err(sqlx::Error::Database(e)) => Err(e.code().unwrap_or_default().into_owned()),
        Err(e) => panic!("{call}: {e}"),
    }
}

#[tokio::test]
async fn no_security_definer_function_reads_or_changes_another_tenant_for_the_runtime_role() {
    let db = database().await;
    let a = tenants::provision(&db.owner, "Alpha", "owner@alpha.example")
        .await
        .unwrap();
    exec(
        &db.owner,
        "INSERT INTO contacts (id, tenant_id, first_name, last_name) \
         VALUES ($2, $1, 'Alpha', 'Lovelace')",
        a.tenant_id,
        &[Uuid::now_v7()],
    )
    .await;
    let b = seed_b(&db.owner).await;
    let before = snapshot(&db.owner, b.tenant).await;
    let give_away = markers(&before);
    assert!(give_away.contains(&b.tenant.to_string()));

    let cases = cases(a.user_id, &b);
    let covered: BTreeSet<String> = cases.iter().map(|c| norm(c.function)).collect();
    let present: BTreeSet<String> = definer_functions(&db.owner)
        .await
        .iter()
        .map(|f| norm(f))
        .collect();
    let uncovered: Vec<&String> = present.difference(&covered).collect();
    assert!(
        uncovered.is_empty(),
        "SECURITY DEFINER functions without a case in this test (add one, with hostile \
         arguments and why it is safe): {uncovered:?}"
    );
    let stale: Vec<&String> = covered.difference(&present).collect();
    assert!(
        stale.is_empty(),
        "cases for functions that are gone: {stale:?}"
    );

    let mut failures = Vec::new();
    for case in &cases {
        let function = norm(case.function);
        assert!(!case.why.is_empty());
        for call in &case.calls {
            let outcome = call_as(&db.runtime, a.tenant_id, call).await;
            if WORKER_ONLY.contains(&function.as_str()) {
                if outcome != Err("42501".into()) {
                    failures.push(format!(
                        "{function}: the runtime role may run it ({call} gave {outcome:?})"
                    ));
                }
                continue;
            }
            // A refusal is safe, but only these: the call ran and the function said no
            // (a taken id, its own exception). Anything else (a typo here, a function the
            // API needs made unreachable) would make the case prove nothing.
            if let Err(code) = &outcome {
                if !["23505", "P0001"].contains(&code.as_str()) {
                    failures.push(format!("{function}: {call} failed with {code}"));
                }
            }
            if let Ok(rows) = &outcome {
                let lower = rows.to_lowercase();
                let leaked: Vec<&String> = give_away
                    .iter()
                    .filter(|m| lower.contains(&m.to_lowercase()))
                    .collect();
                if !leaked.is_empty() || lower.contains("bravo") {
                    failures.push(format!(
                        "{function}: {call} returned B's {leaked:?}: {rows}"
                    ));
                }
            }
        }
    }
    let after = snapshot(&db.owner, b.tenant).await;
    for (table, rows) in &before {
        if after.get(table) != Some(rows) {
            failures.push(format!(
                "B's {table} changed:\n  before {rows:?}\n  after  {:?}",
                after.get(table)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Defence in depth: even the role that may claim (the worker) cannot park deliveries
/// behind a lease longer than an hour, whatever it asks for.
#[tokio::test]
async fn a_claim_leases_for_an_hour_at_most_whatever_it_asks() {
    let db = database().await;
    let b = seed_b(&db.owner).await;
    let worker = &db.worker;
    let claimed: Vec<Uuid> = sqlx::query_scalar(
        "SELECT tenant_id FROM webhook_claim_deliveries(2147483647, interval '100 years', \
         2147483647)",
    )
    .fetch_all(worker)
    .await
    .unwrap();
    assert_eq!(claimed, [b.tenant]);
    let lease_ends_within_an_hour: bool = sqlx::query_scalar(
        "SELECT next_attempt_at <= now() + interval '1 hour' FROM webhook_deliveries \
         WHERE tenant_id = $1",
    )
    .bind(b.tenant)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert!(
        lease_ends_within_an_hour,
        "a century-long lease was granted"
    );
}

/// Defence in depth: the purge keeps every record trashed less than a day ago, whatever
/// retention it is asked for, so a record deleted by mistake can always be restored the
/// same day.
#[tokio::test]
async fn the_purge_keeps_a_days_trash_whatever_it_is_asked() {
    let db = database().await;
    let b = seed_b(&db.owner).await;
    let old = Uuid::now_v7();
    exec(
        &db.owner,
        "INSERT INTO contacts (id, tenant_id, first_name, deleted_at) \
         VALUES ($2, $1, 'Old', now() - interval '2 days')",
        b.tenant,
        &[old],
    )
    .await;
    let worker = &db.worker;
    let purged: i32 = sqlx::query_scalar("SELECT purge_trash(interval '0', 2147483647)")
        .fetch_one(worker)
        .await
        .unwrap();
    assert_eq!(purged, 1, "only the contact trashed two days ago goes");
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM companies WHERE deleted_at IS NOT NULL) \
              + (SELECT count(*) FROM leads WHERE deleted_at IS NOT NULL) \
              + (SELECT count(*) FROM activities WHERE deleted_at IS NOT NULL)",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(left, 3, "what was trashed two hours ago stays");
    // A negative batch is no batch, not an error.
    let none: i32 = sqlx::query_scalar("SELECT purge_trash(interval '0', -1)")
        .fetch_one(worker)
        .await
        .unwrap();
    assert_eq!(none, 0);
}

/// The worker (and the purges) start only with a role that may run the worker's
/// functions; the API's role may not, and the refusal names the ways out.
#[tokio::test]
async fn the_worker_runs_only_as_a_role_that_may_run_its_functions() {
    let db = database().await;
    db::check_worker_role(&db.worker, db::WorkerHost::Worker)
        .await
        .expect("the worker's role is accepted");
    let err = db::check_worker_role(&db.runtime, db::WorkerHost::Serve)
        .await
        .unwrap_err()
        .to_string();
    for named in [
        RUNTIME_ROLE,
        "MOMENTUM_WORKER_DATABASE_URL",
        "GRANT momentum_worker TO",
        "MOMENTUM_WEBHOOK_WORKER=false",
    ] {
        assert!(err.contains(named), "{named} in: {err}");
    }
    assert!(!db::can_run_worker_functions(&db.runtime).await.unwrap());
    assert!(db::can_run_worker_functions(&db.worker).await.unwrap());
    // The owner can run them, but is refused as any server's role all the same.
    let err = db::check_worker_role(&db.owner, db::WorkerHost::Worker)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("BYPASSRLS"), "{err}");
}

/// Upgrading a deployment whose one login role ran both the API and the worker: the
/// migration that gives the worker functions to `momentum_worker` grants that role to
/// it, so the servers keep working (and warn); the embedded set-up, which owns both of
/// its roles, then splits them. The same upgrade revokes a key that was bound to another
/// tenant's user before the reference became composite.
#[tokio::test]
async fn an_upgrade_keeps_the_runtime_role_working_until_split_and_revokes_crossed_keys() {
    // The first migration of this release: the upgrade starts from the one before.
    const FIRST_OF_THE_RELEASE: i64 = 20261202100001;
    // Its own cluster: the upgrade grants a cluster-wide role to every runtime role.
    let disposable = Disposable::start().unwrap();
    let cluster = &disposable.cluster;
    cluster.bootstrap("upgrade").await.unwrap();
    let owner = db::connect(cluster.connect_options(OWNER_ROLE, "upgrade"), 1)
        .await
        .unwrap();
    // The release before: every migration up to the worker role's, and the runtime role
    // granted `momentum_app` as the README then said.
    let before = std::env::temp_dir().join(format!("momentum-migrations-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&before).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Only migrations: the folder holds a README too.
        if !name.ends_with(".sql") {
            continue;
        }
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version < FIRST_OF_THE_RELEASE {
            std::fs::copy(&path, before.join(&name)).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(before.as_path())
        .await
        .unwrap()
        .run(&owner)
        .await
        .unwrap();
    std::fs::remove_dir_all(&before).unwrap();
    let superuser = db::connect(cluster.connect_options(SUPERUSER, "upgrade"), 1)
        .await
        .unwrap();
    sqlx::query(&format!("GRANT momentum_app TO {RUNTIME_ROLE}"))
        .execute(&superuser)
        .await
        .unwrap();
    let a = tenants::provision(&owner, "A", "owner@a.example")
        .await
        .unwrap();
    let b = tenants::provision(&owner, "B", "owner@b.example")
        .await
        .unwrap();
    let crossed = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, user_id, public_id, secret_hash, scopes) \
         VALUES ($1, $2, $3, 'crossed', decode(repeat('00', 32), 'hex'), ARRAY['admin'])",
    )
    .bind(crossed)
    .bind(b.tenant_id)
    .bind(a.user_id)
    .execute(&owner)
    .await
    .expect("the old reference let a key of B name A's user");

    db::migrate(&owner).await.expect("the upgrade migrates");
    let (user, scopes, revoked): (Option<Uuid>, Vec<String>, bool) = sqlx::query_as(
        "SELECT user_id, scopes, revoked_at IS NOT NULL FROM api_keys WHERE id = $1",
    )
    .bind(crossed)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(
        (user, scopes, revoked),
        (None, vec![], true),
        "the crossed key is revoked, detached and holds no scope"
    );
    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND user_id IS NOT NULL",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(kept, 2, "the tenants' own keys are untouched");
    let api = db::connect(cluster.connect_options(RUNTIME_ROLE, "upgrade"), 1)
        .await
        .unwrap();
    db::check_worker_role(&api, db::WorkerHost::Serve)
        .await
        .expect("the existing role still runs the worker after the upgrade");

    // Split, as the embedded set-up does on every start (and the README asks operators).
    cluster.grant_runtime_role().await.unwrap();
    assert!(!db::can_run_worker_functions(&api).await.unwrap());
    let worker = db::connect(cluster.connect_options(WORKER_ROLE, "upgrade"), 1)
        .await
        .unwrap();
    db::check_worker_role(&worker, db::WorkerHost::Worker)
        .await
        .expect("the worker's own role runs it");
}
