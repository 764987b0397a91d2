//! Migration 20261209400001: stored company domains lose one leading `www.`, except where
//! that would collide with a live company of the same tenant (issue 24). The migration's
//! own SQL runs here against rows as the previous release stored them; docs/operations.md
//! tells operators to run the same normalisation again after a rolling upgrade, so it
//! must also be safe to run twice.

use momentum_server::db::{self, embedded::OWNER_ROLE};
use momentum_server::testing::postgres::Disposable;
use uuid::Uuid;

const MIGRATION: &str =
    include_str!("../../../migrations/20261209400001_company_domains_without_www.sql");

#[tokio::test]
async fn stored_www_domains_are_normalised_unless_a_live_company_has_the_bare_one() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    // The owner role bypasses row-level security, as the migration does.
    let owner = db::connect(disposable.cluster.connect_options(OWNER_ROLE, &name), 1)
        .await
        .unwrap();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    for tenant in [a, b] {
        sqlx::query("INSERT INTO tenants (id, name) VALUES ($1, 'T')")
            .bind(tenant)
            .execute(&owner)
            .await
            .unwrap();
    }
    let company = |tenant: Uuid, domain: &'static str, trashed: bool| {
        let owner = owner.clone();
        async move {
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO companies (id, tenant_id, name, domain, deleted_at) \
                 VALUES ($1, $2, 'C', $3, CASE WHEN $4 THEN now() END)",
            )
            .bind(id)
            .bind(tenant)
            .bind(domain)
            .bind(trashed)
            .execute(&owner)
            .await
            .unwrap();
            id
        }
    };
    let plain = company(a, "www.acme.example", false).await;
    let clash = company(a, "www.globex.example", false).await;
    company(a, "globex.example", false).await;
    let trashed = company(a, "www.initech.example", true).await;
    company(a, "initech.example", false).await;
    let name_not_prefix = company(a, "www.io", false).await;
    // Another tenant's bare domain is no collision.
    let other = company(b, "www.acme.example", false).await;
    company(a, "acme.other", false).await;

    for run in ["migration", "the same again"] {
        sqlx::raw_sql(MIGRATION).execute(&owner).await.unwrap();
        let domain = |id: Uuid| {
            let owner = owner.clone();
            async move {
                sqlx::query_scalar::<_, String>("SELECT domain FROM companies WHERE id = $1")
                    .bind(id)
                    .fetch_one(&owner)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(domain(plain).await, "acme.example", "{run}");
        assert_eq!(domain(clash).await, "www.globex.example", "{run}: kept");
        assert_eq!(domain(trashed).await, "initech.example", "{run}: trash");
        assert_eq!(domain(name_not_prefix).await, "www.io", "{run}");
        assert_eq!(domain(other).await, "acme.example", "{run}");
    }
}
