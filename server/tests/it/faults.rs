//! PostgreSQL stopped and started again under a running server: meanwhile every request
//! that needs the database is answered `503 service_unavailable` in the envelope, at once,
//! `/readyz` says so and `/healthz` does not; afterwards the same process serves again and
//! its webhook worker listens again, without a restart.
//!
//! The test has its own cluster: stopping the shared one would fail every other test.

use std::sync::Arc;
use std::time::Duration;

use momentum_server::db::embedded::{Cluster, OWNER_ROLE, RUNTIME_ROLE, WORKER_ROLE};
use momentum_server::db::{self, tenants};
use momentum_server::startup::{Application, HttpSettings};
use momentum_server::testing::postgres::Disposable;
use momentum_server::webhooks::WebhookSettings;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::support::{create_contacts, create_hook, eventually, get_json, recording_receiver};

const DB: &str = "momentum";

/// The API's pool (the runtime role) and the worker's (the worker role) on `name`.
async fn pools(cluster: &Cluster, name: &str, size: u32) -> (sqlx::PgPool, sqlx::PgPool) {
    let api = db::connect(cluster.connect_options(RUNTIME_ROLE, name), size)
        .await
        .unwrap();
    let worker = db::connect(cluster.connect_options(WORKER_ROLE, name), size)
        .await
        .unwrap();
    (api, worker)
}

/// Serves on the API's and the worker's pools until the returned sender is used or
/// dropped, then gives requests in flight up to `grace`; returns the base URL, that
/// sender, and the server's task.
async fn serve(
    (pool, worker_pool): (sqlx::PgPool, sqlx::PgPool),
    settings: HttpSettings,
    grace: Duration,
) -> (String, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let app = Application::build_with_worker_pool(pool, worker_pool, "127.0.0.1:0", settings)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(
        async {
            let _ = stopped.await;
        },
        grace,
    ));
    (base, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_is_a_503_meanwhile_and_the_server_recovers_by_itself() {
    let disposable = Disposable::start().unwrap();
    let cluster = &disposable.cluster;
    cluster.bootstrap(DB).await.unwrap();
    let owner = db::connect(cluster.connect_options(OWNER_ROLE, DB), 1)
        .await
        .unwrap();
    db::migrate(&owner).await.unwrap();
    cluster.grant_runtime_role().await.unwrap();
    let tenant = tenants::provision(&owner, "Faults", "owner@faults.example")
        .await
        .unwrap();
    // A key no request uses before the outage: its lookup is not cached, so the outage
    // meets it in the credential check rather than in the handler.
    let fresh = tenants::provision(&owner, "Other", "owner@other.example")
        .await
        .unwrap();
    owner.close().await;

    let (receiver_port, seen) = recording_receiver(false);

    let both = pools(cluster, DB, 4).await;
    let settings = HttpSettings {
        webhooks: WebhookSettings {
            allow_private: true,
            retry_schedule: vec![Duration::from_millis(100); 20],
            timeout: Duration::from_secs(2),
            // Far longer than the test waits: a delivery after the restart proves the
            // worker listens again, not that it polled.
            poll_interval: Duration::from_secs(120),
            ..WebhookSettings::default()
        },
        ..HttpSettings::default()
    };
    let (base, stop, _) = serve(both, settings, Duration::from_secs(1)).await;
    let http = reqwest::Client::new();
    let get = |path: &str, key: &str| {
        http.get(format!("{base}{path}"))
            .bearer_auth(key)
            .timeout(Duration::from_secs(30))
            .send()
    };
    let create = |key: &str, email: String, idempotency: Option<String>| {
        let mut req = http
            .post(format!("{base}/v1/contacts"))
            .bearer_auth(key)
            .timeout(Duration::from_secs(30))
            .json(&json!({ "first_name": "Fault", "email": email }));
        if let Some(k) = idempotency {
            req = req.header("Idempotency-Key", k);
        }
        req.send()
    };

    create_hook(&http, &base, &tenant.api_key, receiver_port).await;
    // Traffic before the outage, so the pool holds connections the stop will break.
    let mut handles = Vec::new();
    for i in 0..8 {
        handles.push(create(
            &tenant.api_key,
            format!("before{i}@f.example"),
            None,
        ));
    }
    for resp in futures::future::join_all(handles).await {
        assert_eq!(resp.unwrap().status(), 201);
    }
    eventually(
        Duration::from_secs(20),
        "the first 8 deliveries",
        || async { seen.lock().unwrap().len() >= 8 },
    )
    .await;

    // Traffic all through the outage: whatever a request meets (a query cut off by the
    // shutdown, a broken pooled connection, no database at all), it is never a 500.
    let traffic_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut traffic = Vec::new();
    for worker in 0..4 {
        let (http, base, key, done) = (
            http.clone(),
            base.clone(),
            tenant.api_key.clone(),
            Arc::clone(&traffic_stop),
        );
        traffic.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut i = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let req = if i % 2 == 0 {
                    http.get(format!("{base}/v1/contacts?limit=5"))
                } else {
                    http.post(format!("{base}/v1/contacts")).json(
                        &json!({ "first_name": "Load", "email": format!("l{worker}-{i}@f.example") }),
                    )
                };
                let resp = req.bearer_auth(&key).send().await.unwrap();
                statuses.push(resp.status().as_u16());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            statuses
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    cluster.stop().unwrap();

    // Several rounds: the first meets pooled connections the shutdown broke, later ones
    // find no database to connect to.
    for round in 0..3 {
        let started = Instant::now();
        let answers = vec![
            ("list", get("/v1/contacts", &tenant.api_key).await.unwrap()),
            (
                "uncached credential",
                get("/v1/contacts", &fresh.api_key).await.unwrap(),
            ),
            (
                "create",
                create(&tenant.api_key, format!("during{round}@f.example"), None)
                    .await
                    .unwrap(),
            ),
            (
                "idempotent create",
                create(
                    &tenant.api_key,
                    format!("idem{round}@f.example"),
                    Some(format!("key-{round}")),
                )
                .await
                .unwrap(),
            ),
            (
                "readyz",
                http.get(format!("{base}/readyz")).send().await.unwrap(),
            ),
        ];
        for (what, resp) in answers {
            assert_eq!(resp.status(), 503, "{what} in round {round}");
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            assert!(retry_after.is_some_and(|s| s >= 1), "{what}: Retry-After");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(
                body["error"]["code"], "service_unavailable",
                "{what}: {body}"
            );
            assert!(body["meta"]["request_id"].is_string(), "{what}: {body}");
        }
        // Liveness, not performance: the answers came without waiting out a long
        // connection timeout.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "round {round} took {:?}",
            started.elapsed()
        );
        let health = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200, "healthz does not need the database");
    }

    cluster.start().unwrap();

    eventually(Duration::from_secs(30), "/readyz to pass again", || async {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "a list to succeed again",
        || async {
            get("/v1/contacts", &tenant.api_key)
                .await
                .is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
    let resp = get("/v1/contacts", &fresh.api_key).await.unwrap();
    assert_eq!(resp.status(), 200, "the uncached credential works again");
    traffic_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = Vec::new();
    for worker in traffic {
        statuses.extend(worker.await.unwrap());
    }
    let unexpected: Vec<u16> = statuses
        .iter()
        .copied()
        .filter(|s| ![200, 201, 503].contains(s))
        .collect();
    assert!(
        unexpected.is_empty(),
        "answers during the outage other than 200/201/503: {unexpected:?}"
    );
    assert!(statuses.contains(&503), "the traffic met the outage");
    let resp = create(&tenant.api_key, "after@f.example".into(), None)
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let contact_id = created["data"]["id"].as_str().unwrap().to_owned();
    let events: Value = get("/v1/events?type=contact.created&limit=100", &tenant.api_key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event_id = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["id"] == contact_id.as_str())
        .and_then(|e| e["id"].as_str())
        .unwrap()
        .to_owned();
    eventually(
        Duration::from_secs(30),
        "the event committed after the restart to be delivered",
        || async { seen.lock().unwrap().iter().any(|(id, _)| *id == event_id) },
    )
    .await;
    let _ = stop.send(());
}

/// Accepts connections and reads what comes, never answering: a receiver that hangs.
async fn hanging_receiver() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut sink = tokio::io::sink();
                let _ = tokio::io::copy(&mut stream, &mut sink).await;
                std::future::pending::<()>().await;
            });
        }
    });
    port
}

/// Accepts connections and resets them at once (RST, not a clean close).
async fn resetting_receiver() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // SO_LINGER 0 makes the close a reset. It is deprecated for blocking the
            // thread on drop, which cannot happen with nothing left to send.
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_that_hang_reset_or_dawdle_do_not_hold_up_a_healthy_one() {
    const EVENTS: usize = 20;
    // Longer than the healthy endpoint may take: while the hanging receiver's requests
    // wait for it, the healthy one must already have everything.
    const HANG: Duration = Duration::from_secs(15);
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let owner = db::connect(disposable.cluster.connect_options(OWNER_ROLE, &name), 1)
        .await
        .unwrap();
    let tenant = tenants::provision(&owner, "Receivers", "owner@receivers.example")
        .await
        .unwrap();
    let both = pools(&disposable.cluster, &name, 4).await;
    let settings = HttpSettings {
        webhooks: WebhookSettings {
            allow_private: true,
            concurrency: 4,
            endpoint_concurrency: 1,
            timeout: HANG,
            retry_schedule: vec![Duration::from_millis(200); 50],
            poll_interval: Duration::from_millis(200),
            ..WebhookSettings::default()
        },
        // The test reads the deliveries (an admin operation) often.
        rate_limits: momentum_server::ratelimit::parse_quotas("admin=60000/min").unwrap(),
        ..HttpSettings::default()
    };
    let (base, stop, _) = serve(both, settings, Duration::from_secs(1)).await;
    let http = reqwest::Client::new();

    let hanging = hanging_receiver().await;
    let resetting = resetting_receiver().await;
    let (slow, slow_seen) = recording_receiver(true);
    let (healthy, healthy_seen) = recording_receiver(false);
    let mut endpoint_ids = Vec::new();
    // The bad ones first, so their deliveries are first in the queue too.
    for port in [hanging, resetting, slow, healthy] {
        endpoint_ids.push(create_hook(&http, &base, &tenant.api_key, port).await);
    }
    let created = Instant::now();
    let emails = (0..EVENTS).map(|i| format!("h{i}@receivers.example"));
    create_contacts(&http, &base, &tenant.api_key, "Hook", emails).await;

    let deadline = created + HANG;
    while healthy_seen.lock().unwrap().len() < EVENTS {
        assert!(
            Instant::now() < deadline,
            "the healthy endpoint got {} of {EVENTS} deliveries while the hanging one held \
             the worker",
            healthy_seen.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = |endpoint: &str| {
        let url = format!("{base}/v1/webhook-endpoints/{endpoint}/deliveries?limit=100");
        let key = tenant.api_key.clone();
        let http = http.clone();
        async move {
            let page = get_json(&http, url, &key).await;
            page["data"]
                .as_array()
                .unwrap_or_else(|| panic!("{page}"))
                .clone()
        }
    };
    // The resetting endpoint is retried on its schedule meanwhile, not given up on.
    eventually(
        Duration::from_secs(30),
        "retries of the resetting endpoint",
        || async {
            let list = deliveries(&endpoint_ids[1]).await;
            list.iter().any(|d| d["attempt_count"].as_i64() >= Some(2))
                && list.iter().all(|d| d["status"] == "pending")
        },
    )
    .await;
    eventually(
        Duration::from_secs(60),
        "the slow endpoint's deliveries",
        || async { slow_seen.lock().unwrap().len() >= EVENTS },
    )
    .await;
    // The hanging endpoint's first attempts end at the timeout and are retried.
    eventually(
        HANG + Duration::from_secs(30),
        "a timed-out attempt at the hanging endpoint",
        || async {
            deliveries(&endpoint_ids[0]).await.iter().any(|d| {
                d["attempt_count"].as_i64() >= Some(1)
                    && d["status"] == "pending"
                    && d["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("timed out"))
            })
        },
    )
    .await;
    let _ = stop.send(());
}

/// A server on the shared cluster with default settings; returns its address.
async fn default_server() -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let (base, stop, _) = server_with(HttpSettings::default(), Duration::from_secs(1)).await;
    (base.trim_start_matches("http://").parse().unwrap(), stop)
}

// Slow clients: poem's `Server` set no hyper timer (so no header read timeout ran) and
// kept hyper's ~400 KB head buffer; the server now drives hyper itself (serving.rs) with
// both limits.

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (addr, _stop) = default_server().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    // One header byte a second, for longer than any sane header read timeout.
    let trickle = async {
        for _ in 0..120 {
            if stream.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(90), trickle).await;
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    match read {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(_) => panic!("the connection is still open after 90 s of trickled headers"),
    }
}

#[tokio::test]
async fn an_oversized_header_is_refused_with_431() {
    let (addr, _stop) = default_server().await;
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .header("x-padding", "a".repeat(64 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 431);
}

/// A server on the shared cluster with default settings and the given shutdown grace;
/// returns its base URL, what stops it, and its task.
async fn server_with_grace(
    grace: Duration,
) -> (String, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    server_with(HttpSettings::default(), grace).await
}

async fn server_with(
    settings: HttpSettings,
    grace: Duration,
) -> (String, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let both = pools(&disposable.cluster, &name, 2).await;
    serve(both, settings, grace).await
}

/// Starts a QR login and returns a long poll of it for `wait` seconds (nobody approves
/// it), to spawn. The session is made first, so the poll alone is left in flight.
async fn long_poll(
    http: reqwest::Client,
    base: String,
    wait: u64,
) -> impl std::future::Future<Output = reqwest::Result<u16>> {
    let created: Value = http
        .post(format!("{base}/v1/auth/qr-sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let secret = created["data"]["poll_secret"].as_str().unwrap().to_owned();
    async move {
        let resp = http
            .get(format!("{base}/v1/auth/qr-sessions/{id}?wait={wait}"))
            .header("X-Poll-Secret", secret)
            .send()
            .await?;
        let status = resp.status().as_u16();
        // The whole answer, not just its head: a connection cut mid-body is an error too.
        resp.bytes().await?;
        Ok(status)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_answers_requests_in_flight_and_does_not_wait_for_idle_connections() {
    let (base, stop, server) = server_with_grace(Duration::from_secs(20)).await;
    // A client with a kept-alive connection and nothing in flight: it must not hold up
    // the shutdown.
    let idle = reqwest::Client::new();
    let resp = idle.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let poll = tokio::spawn(long_poll(reqwest::Client::new(), base.clone(), 3).await);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let asked = Instant::now();
    let _ = stop.send(());
    assert_eq!(
        poll.await.unwrap().unwrap(),
        200,
        "the long-poll is answered"
    );
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops soon after its last request, well within the grace")
        .unwrap()
        .unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "{:?}",
        asked.elapsed()
    );
    // And it accepts no more.
    let refused = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_still_running_when_the_grace_is_over_is_cut_off() {
    let (base, stop, server) = server_with_grace(Duration::from_secs(1)).await;
    let poll = tokio::spawn(long_poll(reqwest::Client::new(), base.clone(), 20).await);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let asked = Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops at the end of the grace")
        .unwrap()
        .unwrap();
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "{:?}",
        asked.elapsed()
    );
    let cut = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the client learns at once")
        .unwrap();
    assert!(cut.is_err(), "{cut:?}");
}

/// A rolling upgrade's shutdown: asked to stop, the server first drains — `/readyz`
/// answers 503 so a load balancer takes it out of rotation, while requests, on new
/// connections too, are served as usual — then closes its listener (new connections are
/// refused) and answers what is still in flight within the grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_drains_unready_while_serving_then_refuses_and_finishes_in_flight() {
    let drain = Duration::from_secs(3);
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let (pool, worker_pool) = pools(&disposable.cluster, &name, 4).await;
    let app = Application::build_with_worker_pool(
        pool,
        worker_pool,
        "127.0.0.1:0",
        HttpSettings::default(),
    )
    .await
    .unwrap()
    .with_shutdown_drain(drain, std::future::pending());
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(20),
    ));
    // Each check on a connection of its own, as a balancer's probe or a new client.
    let status = |path: &'static str| {
        let base = base.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{base}{path}"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };
    assert_eq!(status("/readyz").await.unwrap(), 200);
    // A long-poll of 6 s, still in flight when the 3 s drain ends.
    let poll = tokio::spawn(long_poll(reqwest::Client::new(), base.clone(), 6).await);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let asked = Instant::now();
    let _ = stop.send(());
    eventually(Duration::from_secs(1), "/readyz to answer 503", || async {
        status("/readyz").await.ok() == Some(503)
    })
    .await;
    let unready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(unready.status(), 503);
    assert!(unready.headers().contains_key("retry-after"));
    let body: Value = unready.json().await.unwrap();
    assert_eq!(body["error"]["code"], "service_unavailable", "{body}");
    assert_eq!(status("/healthz").await.unwrap(), 200, "alive all the same");
    // A request that writes, on a new connection, is served as usual.
    let created = reqwest::Client::new()
        .post(format!("{base}/v1/auth/qr-sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(
        asked.elapsed() < drain,
        "the checks above ran within the drain ({:?})",
        asked.elapsed()
    );

    // Then the listener closes: new connections are refused, not before the drain ends.
    eventually(
        drain + Duration::from_secs(3),
        "connections refused",
        || async { status("/healthz").await.is_err() },
    )
    .await;
    let refused_after = asked.elapsed();
    assert!(
        refused_after >= drain - Duration::from_millis(100),
        "refused after {refused_after:?}, before the drain of {drain:?} was over"
    );
    // The request in flight across the drain's end is answered.
    assert_eq!(
        poll.await.unwrap().unwrap(),
        200,
        "the long-poll is answered"
    );
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops once its last request is answered")
        .unwrap()
        .unwrap();
}

/// Reads until the server closes the connection; panics if it is still open after
/// `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> Duration {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout_at(started + within, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection is still open after {within:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_and_a_trickled_http2_preface_are_cut_off_too() {
    use tokio::io::AsyncWriteExt;
    // Before hyper knows the protocol its HTTP/1 header timer has not started: the
    // server's own bound on the first request covers that time.
    let settings = HttpSettings {
        header_read_timeout: Duration::from_secs(2),
        ..HttpSettings::default()
    };
    let (base, _stop, _server) = server_with(settings, Duration::from_secs(1)).await;
    let addr = base.trim_start_matches("http://").to_owned();

    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let took = closed_within(&mut silent, Duration::from_secs(10)).await;
    assert!(took >= Duration::from_millis(1500), "{took:?}");

    let mut trickling = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let (mut read, mut write) = trickling.split();
    let trickle = async {
        for byte in preface {
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // The whole preface, then nothing: the first request never starts.
        std::future::pending::<()>().await;
    };
    let closed = async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 512];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            () = trickle => {}
            () = closed => {}
        }
    })
    .await
    .expect("the connection trickling its preface is still open after 10 s");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}
