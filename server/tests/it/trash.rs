//! The trash's purge, driven directly: records trashed longer ago than the retention are
//! deleted for good across tenants (their links cleared by the foreign keys), recent ones
//! and live ones are kept. Only the worker's role may run `purge_trash`; the API's
//! runtime role cannot purge at all.

use std::sync::Arc;
use std::time::Duration;

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE, WORKER_ROLE};
use momentum_server::db::{self, tenants, trash};
use momentum_server::metrics::Metrics;
use momentum_server::testing::postgres::Disposable;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

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

/// An owner transaction pinned to `tenant` (the owner bypasses row-level security; the
/// pin keeps the seeding honest about whose rows it writes).
async fn as_tenant(owner: &PgPool, tenant: Uuid) -> Transaction<'static, Postgres> {
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// Runs an INSERT taking the new id as `$1`, the tenant as `$2` and `links` after them.
async fn seed(
    tx: &mut Transaction<'static, Postgres>,
    sql: &str,
    tenant: Uuid,
    links: &[Uuid],
) -> Uuid {
    let id = Uuid::now_v7();
    let mut query = sqlx::query(sql).bind(id).bind(tenant);
    for link in links {
        query = query.bind(*link);
    }
    query
        .execute(&mut **tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    id
}

/// Moves a row to the trash `days_ago` days back, as if it had been deleted then.
async fn trash_ago(tx: &mut Transaction<'static, Postgres>, table: &str, id: Uuid, days_ago: i32) {
    let sql = match table {
        "contacts" => {
            "UPDATE contacts SET deleted_at = now() - make_interval(days => $2) WHERE id = $1"
        }
        "companies" => {
            "UPDATE companies SET deleted_at = now() - make_interval(days => $2) WHERE id = $1"
        }
        "leads" => "UPDATE leads SET deleted_at = now() - make_interval(days => $2) WHERE id = $1",
        "activities" => {
            "UPDATE activities SET deleted_at = now() - make_interval(days => $2) WHERE id = $1"
        }
        other => panic!("no table {other}"),
    };
    let n = sqlx::query(sql)
        .bind(id)
        .bind(days_ago)
        .execute(&mut **tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1, "{table} {id}");
}

async fn exists(owner: &PgPool, table: &str, id: Uuid) -> bool {
    let sql = match table {
        "contacts" => "SELECT count(*) FROM contacts WHERE id = $1",
        "companies" => "SELECT count(*) FROM companies WHERE id = $1",
        "leads" => "SELECT count(*) FROM leads WHERE id = $1",
        "activities" => "SELECT count(*) FROM activities WHERE id = $1",
        other => panic!("no table {other}"),
    };
    let n: i64 = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(owner)
        .await
        .unwrap();
    n == 1
}

async fn link(owner: &PgPool, sql: &str, id: Uuid) -> Option<Uuid> {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(owner)
        .await
        .unwrap()
}

const CONTACT: &str = "INSERT INTO contacts (id, tenant_id, first_name) VALUES ($1, $2, 'Seed')";
const COMPANY: &str = "INSERT INTO companies (id, tenant_id, name) VALUES ($1, $2, 'Seed Co')";

/// What one tenant holds: trashed long ago, trashed recently, live.
struct Seeded {
    old_contact: Uuid,
    old_company: Uuid,
    old_lead: Uuid,
    old_lead_history: Uuid,
    old_activity: Uuid,
    recent_contact: Uuid,
    live_contact: Uuid,
    live_activity: Uuid,
}

async fn seed_tenant(owner: &PgPool, tenant: Uuid) -> Seeded {
    let mut tx = as_tenant(owner, tenant).await;
    let old_company = seed(&mut tx, COMPANY, tenant, &[]).await;
    let old_contact = seed(&mut tx, CONTACT, tenant, &[]).await;
    let recent_contact = seed(&mut tx, CONTACT, tenant, &[]).await;
    let live_contact = seed(
        &mut tx,
        "INSERT INTO contacts (id, tenant_id, first_name, company_id) \
         VALUES ($1, $2, 'Live', $3)",
        tenant,
        &[old_company],
    )
    .await;
    let old_lead = seed(
        &mut tx,
        "INSERT INTO leads (id, tenant_id, title, pipeline_id, stage_id, status) \
         SELECT $1, $2, 'Old deal', pipeline_id, id, 'open' FROM stages \
          WHERE tenant_id = $2 AND position = 0",
        tenant,
        &[],
    )
    .await;
    let old_lead_history = seed(
        &mut tx,
        "INSERT INTO activities (id, tenant_id, type, system, subject, lead_id) \
         VALUES ($1, $2, 'stage_change', true, 'Stage changed', $3)",
        tenant,
        &[old_lead],
    )
    .await;
    let live_activity = seed(
        &mut tx,
        "INSERT INTO activities (id, tenant_id, type, subject, lead_id, contact_id) \
         VALUES ($1, $2, 'note', 'Kept', $3, $4)",
        tenant,
        &[old_lead, old_contact],
    )
    .await;
    let old_activity = seed(
        &mut tx,
        "INSERT INTO activities (id, tenant_id, type, subject) VALUES ($1, $2, 'call', 'Old')",
        tenant,
        &[],
    )
    .await;
    // The old contact holds a custom field value and an association with the live one:
    // both are rows of their own, which the purge must take with it.
    seed(
        &mut tx,
        "INSERT INTO custom_field_definitions (id, tenant_id, record_type, key, label, type) \
         VALUES ($1, $2, 'contact', 'tier', 'Tier', 'text')",
        tenant,
        &[],
    )
    .await;
    sqlx::query("UPDATE contacts SET custom_fields = '{\"tier\": \"gold\"}' WHERE id = $1")
        .bind(old_contact)
        .execute(&mut *tx)
        .await
        .unwrap();
    seed(
        &mut tx,
        "INSERT INTO associations (id, tenant_id, from_type, from_id, to_type, to_id) \
         VALUES ($1, $2, 'contact', $3, 'contact', $4)",
        tenant,
        &[live_contact, old_contact],
    )
    .await;
    trash_ago(&mut tx, "companies", old_company, 31).await;
    trash_ago(&mut tx, "contacts", old_contact, 40).await;
    trash_ago(&mut tx, "contacts", recent_contact, 29).await;
    trash_ago(&mut tx, "leads", old_lead, 31).await;
    trash_ago(&mut tx, "activities", old_lead_history, 31).await;
    trash_ago(&mut tx, "activities", old_activity, 90).await;
    tx.commit().await.unwrap();
    assert_eq!(
        leftovers(owner, old_contact).await,
        (1, 1),
        "seeded a value and a link"
    );
    Seeded {
        old_contact,
        old_company,
        old_lead,
        old_lead_history,
        old_activity,
        recent_contact,
        live_contact,
        live_activity,
    }
}

/// The rows that hang off a record without a foreign key: its custom field values and
/// its associations (either end).
async fn leftovers(owner: &PgPool, id: Uuid) -> (i64, i64) {
    let values: i64 =
        sqlx::query_scalar("SELECT count(*) FROM custom_field_values WHERE record_id = $1")
            .bind(id)
            .fetch_one(owner)
            .await
            .unwrap();
    let links: i64 =
        sqlx::query_scalar("SELECT count(*) FROM associations WHERE from_id = $1 OR to_id = $1")
            .bind(id)
            .fetch_one(owner)
            .await
            .unwrap();
    (values, links)
}

async fn assert_purged(owner: &PgPool, s: &Seeded) {
    assert_eq!(
        leftovers(owner, s.old_contact).await,
        (0, 0),
        "a purged contact leaves no custom field value or association behind"
    );
    assert!(!exists(owner, "contacts", s.old_contact).await);
    assert!(!exists(owner, "companies", s.old_company).await);
    assert!(!exists(owner, "leads", s.old_lead).await);
    assert!(!exists(owner, "activities", s.old_lead_history).await);
    assert!(!exists(owner, "activities", s.old_activity).await);
    assert!(
        exists(owner, "contacts", s.recent_contact).await,
        "29 days in the trash: kept"
    );
    assert!(exists(owner, "contacts", s.live_contact).await);
    assert!(exists(owner, "activities", s.live_activity).await);
    // What linked to the purged records lost the link (ON DELETE SET NULL), nothing more.
    let company = "SELECT company_id FROM contacts WHERE id = $1";
    assert_eq!(link(owner, company, s.live_contact).await, None);
    let lead = "SELECT lead_id FROM activities WHERE id = $1";
    assert_eq!(link(owner, lead, s.live_activity).await, None);
    let contact = "SELECT contact_id FROM activities WHERE id = $1";
    assert_eq!(link(owner, contact, s.live_activity).await, None);
}

#[tokio::test]
async fn the_purge_deletes_what_outlived_the_retention_in_every_tenant_and_nothing_else() {
    let db = database().await;
    let a = tenants::provision(&db.owner, "A", "owner@a.example")
        .await
        .unwrap();
    let b = tenants::provision(&db.owner, "B", "owner@b.example")
        .await
        .unwrap();
    let seeded_a = seed_tenant(&db.owner, a.tenant_id).await;
    let seeded_b = seed_tenant(&db.owner, b.tenant_id).await;

    // One batch of one row per type at a time: the function stops at its limit.
    let first: i32 = sqlx::query_scalar("SELECT purge_trash(interval '30 days', 1)")
        .fetch_one(&db.worker)
        .await
        .unwrap();
    assert_eq!(first, 4, "one activity, lead, contact and company");

    // The worker's role, which sees no tenant at all outside a tenant transaction,
    // empties the rest through the function.
    let rest = trash::purge(&db.worker, RETENTION).await.unwrap();
    assert_eq!(
        first as u64 + rest,
        2 * 5,
        "five expired rows in each of two tenants"
    );
    assert_purged(&db.owner, &seeded_a).await;
    assert_purged(&db.owner, &seeded_b).await;

    // Nothing left to do: a second run deletes nothing.
    assert_eq!(trash::purge(&db.worker, RETENTION).await.unwrap(), 0);
}

#[tokio::test]
async fn the_runtime_role_cannot_purge_another_way() {
    let db = database().await;
    let a = tenants::provision(&db.owner, "A", "owner@a.example")
        .await
        .unwrap();
    let mut tx = as_tenant(&db.owner, a.tenant_id).await;
    let contact = seed(&mut tx, CONTACT, a.tenant_id, &[]).await;
    trash_ago(&mut tx, "contacts", contact, 40).await;
    tx.commit().await.unwrap();

    // Without a tenant, row-level security shows the runtime role nothing to delete.
    let deleted = sqlx::query("DELETE FROM contacts WHERE deleted_at IS NOT NULL")
        .execute(&db.runtime)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0);
    // Within its tenant, a trashed row is hidden from DELETE too, unless asked for.
    let mut tx = db.runtime.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(a.tenant_id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let deleted = sqlx::query("DELETE FROM contacts WHERE id = $1")
        .bind(contact)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(
        deleted, 0,
        "the trash is invisible without app.include_deleted"
    );
    tx.rollback().await.unwrap();
    assert!(exists(&db.owner, "contacts", contact).await);

    // Nor through the function: it is the worker's role's alone.
    let err = trash::purge(&db.runtime, RETENTION).await.unwrap_err();
    assert!(
        matches!(&err, sqlx::Error::Database(e) if e.code().as_deref() == Some("42501")),
        "permission denied: {err}"
    );
    assert!(exists(&db.owner, "contacts", contact).await);

    // The worker's role purges what is older than the retention (a day at least,
    // whatever it asks for: this contact went 40 days ago).
    assert_eq!(trash::purge(&db.worker, Duration::ZERO).await.unwrap(), 1);
    assert!(!exists(&db.owner, "contacts", contact).await);
}

#[tokio::test]
async fn the_purge_job_runs_at_once_and_stops_when_told() {
    let db = database().await;
    let a = tenants::provision(&db.owner, "A", "owner@a.example")
        .await
        .unwrap();
    let mut tx = as_tenant(&db.owner, a.tenant_id).await;
    let contact = seed(&mut tx, CONTACT, a.tenant_id, &[]).await;
    trash_ago(&mut tx, "contacts", contact, 40).await;
    tx.commit().await.unwrap();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let settings = trash::TrashSettings {
        retention: RETENTION,
        purge_interval: Duration::from_secs(3600),
    };
    let metrics = Arc::new(Metrics::new());
    let job = tokio::spawn(trash::run(
        db.worker.clone(),
        settings,
        Arc::clone(&metrics),
        stopped,
    ));
    let owner = db.owner.clone();
    crate::support::eventually(Duration::from_secs(10), "the first purge", || {
        let owner = owner.clone();
        async move { !exists(&owner, "contacts", contact).await }
    })
    .await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), job)
        .await
        .expect("the job stops when told")
        .unwrap();
    assert!(
        metrics
            .render()
            .contains("\nmomentum_trash_purged_total 1\n"),
        "the purged record is counted"
    );
}

/// A runtime-role transaction pinned to `tenant`.
async fn tenant_tx(runtime: &PgPool, tenant: Uuid) -> Transaction<'static, Postgres> {
    let mut tx = runtime.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

fn sqlstate(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn the_policy_hides_the_trash_and_guards_the_way_into_it() {
    let db = database().await;
    let a = tenants::provision(&db.owner, "A", "owner@a.example")
        .await
        .unwrap();
    let mut tx = as_tenant(&db.owner, a.tenant_id).await;
    let company = seed(&mut tx, COMPANY, a.tenant_id, &[]).await;
    tx.commit().await.unwrap();

    // Moving a row into the trash makes its new row invisible to the SELECT policy, which
    // PostgreSQL checks for an UPDATE that reads the row: refused without the setting.
    let mut tx = tenant_tx(&db.runtime, a.tenant_id).await;
    let err = sqlx::query("UPDATE companies SET deleted_at = now() WHERE id = $1")
        .bind(company)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{err}");
    tx.rollback().await.unwrap();
    let mut tx = tenant_tx(&db.runtime, a.tenant_id).await;
    sqlx::query("SELECT set_config('app.include_deleted', 'on', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE companies SET deleted_at = now() WHERE id = $1")
        .bind(company)
        .execute(&mut *tx)
        .await
        .expect("trashing with app.include_deleted on");
    tx.commit().await.unwrap();

    // The setting was transaction-local: the next transaction sees no trash.
    let mut tx = tenant_tx(&db.runtime, a.tenant_id).await;
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM companies WHERE id = $1")
        .bind(company)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 0);

    // A new link to it breaks the foreign key's name, though the key itself (which
    // bypasses row-level security) would have accepted it.
    let err = sqlx::query(
        "INSERT INTO contacts (id, tenant_id, first_name, company_id) VALUES ($1, $2, 'X', $3)",
    )
    .bind(Uuid::now_v7())
    .bind(a.tenant_id)
    .bind(company)
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("23503"), "{err}");
    assert_eq!(
        momentum_server::db::violations::constraint(&err),
        Some("contacts_company_fkey")
    );
}
