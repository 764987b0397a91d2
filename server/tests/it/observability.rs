//! What an operator watches, through the real binary: the admin listener of `momentum
//! serve` and of `momentum worker` (`/metrics`, `/healthz`, `/readyz`), the series it
//! shows after real traffic, `/metrics` leaving the public listener unless asked for, and
//! an admin address that cannot be listened on stopping the start.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use momentum_server::db::embedded::{OWNER_ROLE, WORKER_ROLE};
use momentum_server::db::{self, tenants};
use momentum_server::testing::postgres::Disposable;

use crate::support::{create_contacts, create_hook, eventually, free_port, get_json};
use crate::webhooks::{start_with, tenant_database};

/// A GET's status and body (status 0: nothing answered).
async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }
        Err(_) => (0, String::new()),
    }
}

/// The value of the sample `series` (name and labels, exactly as exposed) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn serve_shows_its_metrics_on_the_admin_listener_only() {
    let (tenant, database_url) = tenant_database("Watched", "owner@watched.example").await;
    let (port, admin) = (free_port(), free_port());
    // A receiver that takes connections and never answers: with one delivery per
    // endpoint at a time, the first contact's delivery hangs in flight and the others
    // stay due behind it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let admin_listen = format!("127.0.0.1:{admin}");
    let _server = start_with(
        &database_url,
        port,
        &[
            ("MOMENTUM_ADMIN_LISTEN", &admin_listen),
            ("MOMENTUM_WEBHOOK_ENDPOINT_CONCURRENCY", "1"),
            ("MOMENTUM_WEBHOOK_TIMEOUT_SECS", "60"),
        ],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let metrics_url = format!("http://127.0.0.1:{admin}/metrics");
    let http = reqwest::Client::new();

    get_json(&http, format!("{base}/v1/contacts"), &tenant.api_key).await;
    let (status, text) = get(&metrics_url).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        sample(
            &text,
            "momentum_http_requests_total{operation=\"contacts_list\",status_class=\"2xx\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains(
            "momentum_http_request_duration_seconds_bucket{operation=\"contacts_list\",\
             status_class=\"2xx\",le=\"0.001\"}"
        ),
        "{text}"
    );
    for pool in ["api", "worker"] {
        assert_eq!(
            sample(
                &text,
                &format!("momentum_db_pool_max_connections{{pool=\"{pool}\"}}")
            ),
            Some(16.0),
            "{text}"
        );
        for state in ["idle", "in_use"] {
            let series =
                format!("momentum_db_pool_connections{{pool=\"{pool}\",state=\"{state}\"}}");
            assert!(sample(&text, &series).is_some(), "{series}: {text}");
        }
    }
    let acquired = "momentum_db_pool_acquire_duration_seconds_count{pool=\"api\"}";
    assert!(sample(&text, acquired).is_some_and(|n| n >= 1.0), "{text}");
    let build = text
        .lines()
        .find(|l| l.starts_with("momentum_build_info{"))
        .unwrap_or_else(|| panic!("no build info: {text}"));
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.contains("commit=\"")
            && build.ends_with(" 1"),
        "{build}"
    );
    for series in [
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_start_time_seconds",
        "process_max_fds",
    ] {
        assert!(
            sample(&text, series).is_some_and(|value| value > 0.0),
            "{series}: {text}"
        );
    }
    assert!(
        sample(&text, "process_open_fds").is_some_and(|n| n > 0.0),
        "{text}"
    );

    // Probes on the admin listener answer as the public ones do.
    let (status, body) = get(&format!("http://127.0.0.1:{admin}/healthz")).await;
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
    let (status, body) = get(&format!("http://127.0.0.1:{admin}/readyz")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"encrypted\":false"), "{body}");
    // The public listener has no /metrics by default.
    assert_eq!(get(&format!("{base}/metrics")).await.0, 404);

    create_hook(&http, &base, &tenant.api_key, silent_port).await;
    let emails = (0..3).map(|i| format!("c{i}@watched.example"));
    create_contacts(&http, &base, &tenant.api_key, "Due", emails).await;
    let url = metrics_url.clone();
    eventually(Duration::from_secs(20), "two deliveries due", || {
        let url = url.clone();
        async move {
            let text = get(&url).await.1;
            sample(&text, "momentum_webhook_deliveries_due") == Some(2.0)
                && sample(&text, "momentum_webhook_deliveries_in_flight") == Some(1.0)
        }
    })
    .await;
    let text = get(&metrics_url).await.1;
    assert!(
        sample(&text, "momentum_webhook_oldest_due_age_seconds").is_some_and(|age| age > 0.0),
        "{text}"
    );
    drop(silent);
}

#[tokio::test]
async fn the_public_listener_serves_metrics_when_asked() {
    let (_, database_url) = tenant_database("Public", "owner@public.example").await;
    let port = free_port();
    let _server = start_with(
        &database_url,
        port,
        &[
            ("MOMENTUM_PUBLIC_METRICS", "true"),
            ("MOMENTUM_ADMIN_LISTEN", "127.0.0.1:0"),
        ],
    )
    .await;
    let (status, text) = get(&format!("http://127.0.0.1:{port}/metrics")).await;
    assert_eq!(status, 200);
    assert!(text.contains("momentum_build_info{"), "{text}");
}

#[test]
fn an_admin_address_that_cannot_be_listened_on_stops_the_start_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for command in ["serve", "worker"] {
        for listen in ["nonsense", taken.as_str()] {
            let output = Command::new(env!("CARGO_BIN_EXE_momentum"))
                .arg(command)
                // Never reached: the admin address is checked first.
                .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
                .env("MOMENTUM_SECRET_KEY", crate::serve::TEST_SECRET_KEY)
                .env("MOMENTUM_LISTEN", "127.0.0.1:0")
                .env("MOMENTUM_ADMIN_LISTEN", listen)
                .output()
                .expect("run momentum");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{command} started on {listen}");
            assert!(
                stderr.contains("MOMENTUM_ADMIN_LISTEN"),
                "{command}, {listen}: {stderr}"
            );
        }
    }
}

/// `momentum worker`; killed when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_worker_alone_has_probes_and_metrics_and_is_unready_without_its_database() {
    // A cluster of its own: the test stops it.
    const DB: &str = "worker_watched";
    let disposable = Disposable::start().unwrap();
    let cluster = &disposable.cluster;
    cluster.bootstrap(DB).await.unwrap();
    let owner = db::connect(cluster.connect_options(OWNER_ROLE, DB), 1)
        .await
        .unwrap();
    db::migrate(&owner).await.unwrap();
    cluster.grant_runtime_role().await.unwrap();
    tenants::provision(&owner, "Worker", "owner@worker.example")
        .await
        .unwrap();
    owner.close().await;
    let options = cluster.connect_options(WORKER_ROLE, DB);
    let worker_url = format!(
        "postgres://{WORKER_ROLE}@localhost/{DB}?host={}&port={}",
        cluster.socket_dir().display(),
        options.get_port()
    );
    let admin = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .arg("worker")
        .env_remove("DATABASE_URL")
        .env("MOMENTUM_WORKER_DATABASE_URL", worker_url)
        .env("MOMENTUM_SECRET_KEY", crate::serve::TEST_SECRET_KEY)
        .env("MOMENTUM_ADMIN_LISTEN", format!("127.0.0.1:{admin}"))
        // Quick to notice the database is gone, and to give up on a connection.
        .env("MOMENTUM_DB_ACQUIRE_TIMEOUT_MS", "500")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start momentum worker");
    let _worker = Worker(child);
    let base = format!("http://127.0.0.1:{admin}");

    let ready = format!("{base}/readyz");
    eventually(Duration::from_secs(30), "the worker ready", || {
        let ready = ready.clone();
        async move { get(&ready).await.0 == 200 }
    })
    .await;
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    let text = get(&format!("{base}/metrics")).await.1;
    for series in [
        "momentum_webhook_deliveries_in_flight 0",
        "momentum_db_pool_max_connections{pool=\"worker\"} 8",
        "momentum_build_info{",
        "process_cpu_seconds_total",
    ] {
        assert!(text.contains(series), "{series}: {text}");
    }

    cluster.stop().unwrap();
    eventually(Duration::from_secs(30), "the worker unready", || {
        let ready = ready.clone();
        async move { get(&ready).await.0 == 503 }
    })
    .await;
    assert_eq!(
        get(&format!("{base}/healthz")).await.0,
        200,
        "alive all the same"
    );
}
