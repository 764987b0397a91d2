//! PostgreSQL stopped and started again under a running server: meanwhile every request
//! that needs the database is answered `503 service_unavailable` in the envelope, at once,
//! `/readyz` says so and `/healthz` does not; afterwards the same process serves again and
//! its webhook worker listens again, without a restart.
//!
//! The test has its own cluster: stopping the shared one would fail every other test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use momentum_server::db::embedded::{Disposable, OWNER_ROLE, RUNTIME_ROLE};
use momentum_server::db::{self, tenants};
use momentum_server::startup::{Application, HttpSettings};
use momentum_server::webhooks::WebhookSettings;
use poem::listener::TcpListener;
use poem::{handler, web::Data, EndpointExt, Request, Route, Server};
use serde_json::{json, Value};
use tokio::time::Instant;

const DB: &str = "momentum";

type Seen = Arc<Mutex<Vec<String>>>;

#[handler]
async fn receive(req: &Request, seen: Data<&Seen>) -> &'static str {
    let id = req.header("webhook-id").unwrap_or_default().to_owned();
    seen.lock().unwrap().push(id);
    "ok"
}

/// Polls `check` every 100 ms until it holds; panics with `what` after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

    let seen: Seen = Arc::default();
    let receiver_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let receiver = Route::new().at("/hook", receive).data(Arc::clone(&seen));
    tokio::spawn(
        Server::new(TcpListener::bind(format!("127.0.0.1:{receiver_port}"))).run(receiver),
    );

    let pool = db::connect(cluster.connect_options(RUNTIME_ROLE, DB), 4)
        .await
        .unwrap();
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
    let app = Application::build(pool, "127.0.0.1:0", settings)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
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

    let hook = json!({ "url": format!("http://127.0.0.1:{receiver_port}/hook") });
    let resp = http
        .post(format!("{base}/v1/webhook-endpoints"))
        .bearer_auth(&tenant.api_key)
        .json(&hook)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
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
        || async { seen.lock().unwrap().contains(&event_id) },
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

#[handler]
async fn receive_slowly(req: &Request, seen: Data<&Seen>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(250)).await;
    let id = req.header("webhook-id").unwrap_or_default().to_owned();
    seen.lock().unwrap().push(id);
    "ok"
}

/// A poem receiver recording `webhook-id`s, answering through `handler`.
fn recording_receiver(slow: bool) -> (u16, Seen) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let seen: Seen = Arc::default();
    let route = if slow {
        Route::new().at("/hook", receive_slowly)
    } else {
        Route::new().at("/hook", receive)
    };
    tokio::spawn(
        Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
            .run(route.data(Arc::clone(&seen))),
    );
    (port, seen)
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
    let pool = db::connect(disposable.cluster.connect_options(RUNTIME_ROLE, &name), 4)
        .await
        .unwrap();
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
    let app = Application::build(pool, "127.0.0.1:0", settings)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&tenant.api_key)
            .json(&body)
            .send()
    };

    let hanging = hanging_receiver().await;
    let resetting = resetting_receiver().await;
    let (slow, slow_seen) = recording_receiver(true);
    let (healthy, healthy_seen) = recording_receiver(false);
    let mut endpoint_ids = Vec::new();
    // The bad ones first, so their deliveries are first in the queue too.
    for port in [hanging, resetting, slow, healthy] {
        let resp = post(
            "/v1/webhook-endpoints",
            json!({ "url": format!("http://127.0.0.1:{port}/hook") }),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        endpoint_ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let created = Instant::now();
    for i in 0..EVENTS {
        let resp = post(
            "/v1/contacts",
            json!({ "first_name": "Hook", "email": format!("h{i}@receivers.example") }),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 201);
    }

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
            let page: Value = http
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
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
async fn default_server() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let pool = db::connect(disposable.cluster.connect_options(RUNTIME_ROLE, &name), 2)
        .await
        .unwrap();
    let app = Application::build(pool, "127.0.0.1:0", HttpSettings::default())
        .await
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], app.port()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    (addr, stop)
}

// The two tests below pin the slow-client gap found in this round and not yet fixed:
// poem's `Server` builds hyper's connection builder itself, without a timer (so hyper's
// header read timeout never runs) and with hyper's ~400 KB head buffer. Fixing it means
// serving through hyper-util's builder directly (see the hardening note).

#[tokio::test]
#[ignore = "slow-client limits not implemented yet: a client trickling headers is never cut off"]
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
#[ignore = "slow-client limits not implemented yet: a 64 KiB header is accepted"]
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
