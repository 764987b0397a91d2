//! `momentum tenant create --seed demo`, run as the binary: the tenant gets the demo data
//! set, the same `seed_demo` SQL function a sandbox made with `"seed": "demo"` runs
//! (`contract/sandboxes.rs` checks that side through the API).

use std::process::Command;

use momentum_server::db;
use momentum_server::db::embedded::OWNER_ROLE;
use momentum_server::testing::postgres::Disposable;
use uuid::Uuid;

/// Runs `momentum tenant create` against database `name` as the owner role with `args`;
/// its exit status, and what it printed.
fn tenant_create(name: &str, args: &[&str]) -> (bool, String, String) {
    let disposable = Disposable::shared();
    let owner_url = format!(
        "postgres://{OWNER_ROLE}@localhost/{name}?host={}&port=5432",
        disposable.cluster.socket_dir().display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .args(["tenant", "create"])
        .args(args)
        .env_remove("DATABASE_URL")
        .env("MOMENTUM_ADMIN_DATABASE_URL", owner_url)
        .env("MOMENTUM_ADMIN_LISTEN", "off")
        .output()
        .expect("run momentum");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn tenant_create_with_seed_demo_loads_the_demo_data_and_without_it_nothing() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let owner = db::connect(disposable.cluster.connect_options(OWNER_ROLE, &name), 1)
        .await
        .unwrap();

    let (ok, stdout, stderr) = tenant_create(
        &name,
        &[
            "--name",
            "Demo Co",
            "--owner-email",
            "demo@demo.example",
            "--seed",
            "demo",
        ],
    );
    assert!(ok, "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let demo: Uuid = printed["tenant_id"].as_str().unwrap().parse().unwrap();
    let user: Uuid = printed["user_id"].as_str().unwrap().parse().unwrap();
    let (ok, stdout, stderr) = tenant_create(&name, &["--name", "Plain Co"]);
    assert!(ok, "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let plain: Uuid = printed["tenant_id"].as_str().unwrap().parse().unwrap();

    let counts = |tenant: Uuid| {
        let owner = owner.clone();
        async move {
            sqlx::query_as::<_, (i64, i64, i64, i64, i64, i64)>(
                "SELECT (SELECT count(*) FROM companies WHERE tenant_id = $1),
                        (SELECT count(*) FROM contacts WHERE tenant_id = $1),
                        (SELECT count(*) FROM leads WHERE tenant_id = $1),
                        (SELECT count(*) FROM activities WHERE tenant_id = $1),
                        (SELECT count(*) FROM associations WHERE tenant_id = $1),
                        (SELECT count(DISTINCT stage_id) FROM leads WHERE tenant_id = $1)",
            )
            .bind(tenant)
            .fetch_one(&owner)
            .await
            .unwrap()
        }
    };
    // Six stages in the default pipeline: the 15 leads reach every one.
    assert_eq!(counts(demo).await, (10, 30, 15, 20, 10, 6));
    assert_eq!(counts(plain).await, (0, 0, 0, 0, 0, 0));
    let foreign_owner: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM leads WHERE tenant_id = $1 AND owner_id IS DISTINCT FROM $2",
    )
    .bind(demo)
    .bind(user)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(foreign_owner, 0, "the owner owns the demo leads");

    let (ok, _, stderr) = tenant_create(&name, &["--name", "Odd Co", "--seed", "lots"]);
    assert!(!ok);
    assert!(stderr.contains("--seed"), "{stderr}");
}
