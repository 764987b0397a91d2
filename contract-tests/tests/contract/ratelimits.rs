//! Rate limits: the headers, the 429, per-IP limits for unauthenticated calls, the
//! counters on /metrics, and limits shared by several instances through Redis (with
//! Redis killed and restarted under them).

use std::time::Duration;

use momentum_contract_tests::TestApp;
use momentum_sdk::{Client, ClientInfo};
use momentum_server::ratelimit::{RedisSettings, StoreFailure, StoreSettings};
use momentum_server::testing::redis::DisposableRedis;

use crate::{Refused, ANY_CODE};

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The value of one Prometheus sample, 0 when absent.
async fn metric(app: &TestApp, sample: &str) -> f64 {
    let (http, url) = app.raw("/metrics");
    let text = http.get(url).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(sample))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn one_request_over_the_quota_gets_exactly_one_429_and_passes_after_retry_after() {
    // A burst of 3, then one request every 3 s: slow enough that a loaded machine cannot
    // earn a cell back between the requests below.
    let app = TestApp::spawn_with_limits("read=20/min:3").await;
    let c = &app.client;
    let allowed_before = metric(&app, "momentum_ratelimit_allowed_total{class=\"read\"}").await;

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let resp = c.contacts_list().send().await.expect("within the quota");
        let h = resp.headers();
        assert_eq!(header(h, "ratelimit-policy"), "\"read\";q=20;w=60");
        assert_eq!(header(h, "x-ratelimit-limit"), "20");
        assert!(header(h, "ratelimit").starts_with("\"read\";r="));
        remaining.push(header(h, "x-ratelimit-remaining").parse::<u32>().unwrap());
    }
    assert_eq!(remaining, [2, 1, 0], "one fewer per request");

    let refused = match c.contacts_list().send().await {
        Err(momentum_sdk::Error::ErrorResponse(resp)) => resp,
        other => panic!("expected a 429, got {other:?}"),
    };
    assert_eq!(refused.status().as_u16(), 429);
    let retry_after: u64 = header(refused.headers(), "retry-after").parse().unwrap();
    assert!(
        (1..=3).contains(&retry_after),
        "a cell comes back every 3 s: {retry_after}"
    );
    assert_eq!(header(refused.headers(), "x-ratelimit-remaining"), "0");
    let body = refused.into_inner();
    assert_eq!(body.error.code, "rate_limited");
    assert!(body.error.message.contains("`read`"), "names the class");

    // Other classes are counted apart.
    c.contacts_get()
        .id(uuid::Uuid::now_v7())
        .send()
        .await
        .refused_as("contacts_get is a read too", 429, ANY_CODE);
    c.pipelines_create()
        .body(momentum_sdk::types::PipelineCreate {
            default: None,
            name: "Other class".parse().unwrap(),
            stages: vec![momentum_sdk::types::NewStage {
                name: "One".parse().unwrap(),
                kind: None,
                probability: None,
            }],
        })
        .send()
        .await
        .expect("writes have their own quota");

    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(50)).await;
    c.contacts_list()
        .send()
        .await
        .expect("passes after Retry-After");

    let allowed_after = metric(&app, "momentum_ratelimit_allowed_total{class=\"read\"}").await;
    assert_eq!(
        allowed_after - allowed_before,
        4.0,
        "/metrics counts each allowed read"
    );
    let limited = metric(&app, "momentum_ratelimit_limited_total{class=\"read\"}").await;
    assert_eq!(limited, 2.0, "and each refusal");
    let served = metric(
        &app,
        "momentum_http_requests_total{operation=\"contacts_list\",status_class=\"4xx\"}",
    )
    .await;
    assert_eq!(served, 1.0);
}

#[tokio::test]
async fn unauthenticated_login_calls_are_limited_per_client_address() {
    let app = TestApp::spawn_with_limits("auth=20/min:2").await;
    let device = Client::builder(&app.base_url).build().expect("a client");
    device.auth_qr_sessions_create().send().await.unwrap();
    device.auth_qr_sessions_create().send().await.unwrap();
    match device.auth_qr_sessions_create().send().await {
        Err(momentum_sdk::Error::ErrorResponse(resp)) => {
            assert_eq!(resp.status().as_u16(), 429);
            assert_eq!(
                header(resp.headers(), "ratelimit-policy"),
                "\"auth\";q=20;w=60"
            );
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    // Another caller (a valid key) is not affected by this address's login attempts.
    assert!(app.client.contacts_list().send().await.is_ok());
}

#[tokio::test]
async fn guessing_keys_is_limited_per_address_and_errors_carry_the_headers() {
    let app = TestApp::spawn_with_limits("read=20/min:2").await;
    let (http, url) = app.raw("/v1/contacts");
    let bogus = format!("mk_{}_{}", "a".repeat(16), "0".repeat(64));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let resp = http.get(&url).bearer_auth(&bogus).send().await.unwrap();
        assert!(resp.headers().contains_key("ratelimit"), "on errors too");
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429]);
    let missing = http.get(&url).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 401);
    assert!(missing.headers().contains_key("x-ratelimit-remaining"));
}

#[tokio::test]
async fn a_tenant_cannot_multiply_its_quota_with_more_keys() {
    // Each key may read twice at once; the tenant as a whole twice that.
    let app = TestApp::spawn_with("read=20/min:2", 2).await;
    let mut clients = vec![app.client.clone()];
    for n in 0..2 {
        let created = app
            .client
            .api_keys_create()
            .body(momentum_sdk::types::ApiKeyCreate {
                name: format!("extra {n}").parse().unwrap(),
                scopes: vec!["contacts:read".into()],
                expires_at: None,
                service: Some(true),
                user_id: None,
            })
            .send()
            .await
            .unwrap()
            .into_inner()
            .data;
        clients.push(app.client_with_key(&created.secret));
    }
    let mut statuses = Vec::new();
    for client in &clients {
        for _ in 0..2 {
            statuses.push(match client.contacts_list().send().await {
                Ok(_) => 200,
                Err(err) => err.status().map_or(0, |s| s.as_u16()),
            });
        }
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429, 429],
        "the third key meets the tenant's ceiling, not its own"
    );
}

#[tokio::test]
async fn head_options_and_unknown_methods_on_login_calls_count_against_the_auth_class() {
    // A burst of 3 per address: one to start a session, then the other methods.
    let app = TestApp::spawn_with_limits("auth=20/min:3").await;
    let session = app.start_qr_login().await;
    let (http, url) = app.raw(&format!("/v1/auth/qr-sessions/{}", session.id));
    let mut answers = Vec::new();
    for _ in 0..3 {
        let resp = http
            .head(&url)
            .header("x-poll-secret", &session.poll_secret)
            .send()
            .await
            .unwrap();
        answers.push((
            resp.status().as_u16(),
            resp.headers()
                .get("ratelimit-policy")
                .map(|v| v.to_str().unwrap().to_owned()),
        ));
    }
    let auth = Some("\"auth\";q=20;w=60".to_owned());
    assert_eq!(
        answers,
        [
            (200, auth.clone()),
            (200, auth.clone()),
            (429, auth.clone())
        ],
        "HEAD is a GET: the same class, counted per address"
    );
    // Nor do methods the path does not take get past the address's quota.
    for method in ["OPTIONS", "FOO", "DELETE"] {
        let resp = http
            .request(method.parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 429, "{method}");
        assert!(resp.headers().contains_key("retry-after"), "{method}");
    }
}

/// A key of the right form that no one was ever given: `mk_` + 16 + `_` + 64 characters.
fn random_key() -> String {
    let simple = |u: uuid::Uuid| u.simple().to_string();
    let public_id = &simple(uuid::Uuid::new_v4())[..16];
    let secret = format!(
        "{}{}",
        simple(uuid::Uuid::new_v4()),
        simple(uuid::Uuid::new_v4())
    );
    format!("mk_{public_id}_{secret}")
}

#[tokio::test]
async fn an_address_over_its_quota_costs_no_database_lookup_however_many_keys_it_makes_up() {
    // Two at once, then one every 30 s: the address stays out of quota for the whole test.
    let app = TestApp::spawn_with_limits("read=2/min:2").await;
    let (http, url) = app.raw("/v1/contacts");
    // A valid key from the same address spends its own quota, not the address's.
    let mut valid = Vec::new();
    for _ in 0..3 {
        let resp = http
            .get(&url)
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        valid.push(resp.status().as_u16());
    }
    assert_eq!(valid, [200, 200, 429]);
    let lookups = "momentum_auth_cache_misses_total";
    let before = metric(&app, lookups).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let resp = http
            .get(&url)
            .bearer_auth(random_key())
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429, 429, 429, 429, 429, 429, 429, 429]);
    assert_eq!(
        metric(&app, lookups).await - before,
        2.0,
        "one lookup per request the address's quota let through, none after"
    );
}

// Shared limits: several instances keeping their limiters' state in one Redis
// (MOMENTUM_REDIS_URL), each test with a redis-server of its own.

/// The store settings of an app whose limits live in `redis`.
fn in_redis(redis: &DisposableRedis, on_failure: StoreFailure) -> StoreSettings {
    StoreSettings::Redis(RedisSettings {
        url: redis.url(),
        timeout: Duration::from_millis(250),
        on_failure,
    })
}

/// The status and headers of one `contacts_list` through `client`.
async fn read(client: &Client) -> (u16, reqwest::header::HeaderMap) {
    match client.contacts_list().send().await {
        Ok(resp) => (resp.status().as_u16(), resp.headers().clone()),
        Err(momentum_sdk::Error::ErrorResponse(resp)) => {
            (resp.status().as_u16(), resp.headers().clone())
        }
        Err(other) => panic!("no answer: {other:?}"),
    }
}

/// Each instance's SDK client, the app's own first.
async fn instances(app: &mut TestApp, n: usize) -> Vec<Client> {
    let mut clients = vec![app.client.clone()];
    for _ in 1..n {
        let url = app.another_instance(Duration::from_secs(5)).await;
        clients.push(Client::with_api_key(&url, &app.api_key).unwrap());
    }
    clients
}

/// `/metrics` of the instance `client` talks to.
async fn metric_of(client: &Client, sample: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", client.baseurl()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(sample))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Log lines of the servers of this test (whose Redis is on `port`) that say `what`.
fn logged(port: u16, what: &str) -> usize {
    let store = format!("127.0.0.1:{port}");
    momentum_contract_tests::captured_logs()
        .lines()
        .filter(|line| line.contains(what) && line.contains(&store))
        .count()
}

const OUTAGE: &str = "the rate-limit store is unreachable";
const RECOVERY: &str = "the rate-limit store is reachable again";

#[tokio::test]
async fn three_instances_on_one_redis_hold_one_quota_between_them() {
    let redis = DisposableRedis::start().unwrap();
    let store = in_redis(&redis, StoreFailure::Allow);
    let mut app = TestApp::spawn_with_store("read=60/min", 5, store).await;
    let clients = instances(&mut app, 3).await;
    // 90 reads, a round of one per instance at a time: each instance alone would let
    // all 90 through (60 each); together they hold 60, plus the one cell a second that
    // comes back while the rounds run.
    let started = std::time::Instant::now();
    let mut allowed = [0u32; 3];
    let mut refused = [0u32; 3];
    for _ in 0..30 {
        let round = futures::future::join_all(clients.iter().map(read)).await;
        for (i, (status, _)) in round.into_iter().enumerate() {
            match status {
                200 => allowed[i] += 1,
                429 => refused[i] += 1,
                other => panic!("instance {i}: {other}"),
            }
        }
    }
    let elapsed = started.elapsed().as_secs();
    let total: u32 = allowed.iter().sum();
    let earned = u32::try_from(elapsed).unwrap();
    assert!(
        (58..=62 + earned).contains(&total),
        "{total} reads allowed of 90 in {elapsed} s, per instance {allowed:?}: the quota is 60"
    );
    assert!(
        refused.iter().all(|n| *n > 0),
        "every instance refused its share: {refused:?}"
    );
}

#[tokio::test]
async fn the_shared_limits_answer_with_the_headers_of_the_in_process_ones() {
    // One cell every 30 s: nothing comes back while the requests below run.
    let spec = "read=2/min:3,auth=2/min:2";
    let redis = DisposableRedis::start().unwrap();
    let shared = TestApp::spawn_with_store(spec, 5, in_redis(&redis, StoreFailure::Allow)).await;
    let local = TestApp::spawn_with_limits(spec).await;
    let names = [
        "ratelimit-policy",
        "ratelimit",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
    ];
    // A key's reads, an address's QR logins, made-up keys and a missing one (per address).
    let transcript = |app: &TestApp| {
        let (http, base) = (reqwest::Client::new(), app.base_url.clone());
        let key = app.api_key.clone();
        async move {
            let mut lines = Vec::new();
            let bogus = format!("mk_{}_{}", "b".repeat(16), "0".repeat(64));
            let requests = [
                ("GET", "/v1/contacts", Some(key.as_str())),
                ("GET", "/v1/contacts", Some(key.as_str())),
                ("GET", "/v1/contacts", Some(key.as_str())),
                ("GET", "/v1/contacts", Some(key.as_str())),
                ("POST", "/v1/auth/qr-sessions", None),
                ("POST", "/v1/auth/qr-sessions", None),
                ("POST", "/v1/auth/qr-sessions", None),
                ("GET", "/v1/contacts", Some(bogus.as_str())),
                ("GET", "/v1/contacts", Some(bogus.as_str())),
                ("GET", "/v1/contacts", Some(bogus.as_str())),
                ("GET", "/v1/contacts", Some(bogus.as_str())),
                ("GET", "/v1/contacts", None),
            ];
            for (method, path, bearer) in requests {
                let mut req = http.request(method.parse().unwrap(), format!("{base}{path}"));
                if let Some(bearer) = bearer {
                    req = req.bearer_auth(bearer);
                }
                let resp = req.send().await.unwrap();
                let headers: Vec<Option<String>> = names
                    .iter()
                    .map(|name| {
                        let value = resp.headers().get(*name)?;
                        Some(value.to_str().unwrap().to_owned())
                    })
                    .collect();
                lines.push((method, path, resp.status().as_u16(), headers));
            }
            lines
        }
    };
    let expected = transcript(&local).await;
    let got = transcript(&shared).await;
    for (expected, got) in expected.iter().zip(&got) {
        assert_eq!(got, expected);
    }
    let statuses: Vec<u16> = got.iter().map(|line| line.2).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 429, 201, 201, 429, 401, 401, 401, 429, 401],
        "the transcript meets every limit"
    );
}

#[tokio::test]
async fn with_redis_killed_allow_lets_reads_through_uncounted_and_a_restart_shares_again() {
    let redis = DisposableRedis::start().unwrap();
    let store = in_redis(&redis, StoreFailure::Allow);
    let mut app = TestApp::spawn_with_store("read=2/min:3", 5, store).await;
    let clients = instances(&mut app, 2).await;
    let (status, headers) = read(&clients[0]).await;
    assert_eq!(
        (status, header(&headers, "x-ratelimit-remaining")),
        (200, "2".into())
    );

    redis.kill();
    for round in 0..5 {
        for client in &clients {
            let started = std::time::Instant::now();
            let (status, headers) = read(client).await;
            assert!(started.elapsed() < Duration::from_secs(1), "never hangs");
            assert_eq!(
                status, 200,
                "round {round}: let through, past the quota of 3"
            );
            // The quota still stands; what is left of it nobody knows, so nothing says.
            assert_eq!(header(&headers, "ratelimit-policy"), "\"read\";q=2;w=60");
            assert_eq!(header(&headers, "x-ratelimit-limit"), "2");
            for unknown in ["ratelimit", "x-ratelimit-remaining", "x-ratelimit-reset"] {
                assert!(!headers.contains_key(unknown), "{unknown}");
            }
        }
    }
    for client in &clients {
        assert!(metric_of(client, "momentum_ratelimit_store_errors_total").await >= 1.0);
        assert_eq!(metric_of(client, "momentum_ratelimit_store_up").await, 0.0);
        let unchecked = "momentum_ratelimit_unchecked_total{class=\"read\",on_failure=\"allow\"}";
        assert_eq!(metric_of(client, unchecked).await, 5.0);
    }
    assert_eq!(
        logged(redis.port(), OUTAGE),
        2,
        "once per instance, not per request"
    );

    // Back, empty: each instance counts again by itself, against one shared quota.
    redis.restart().unwrap();
    let mut remaining = Vec::new();
    for client in &clients {
        remaining.push(counted_read(client).await);
    }
    remaining.push(counted_read(&clients[0]).await);
    let (status, _) = read(&clients[1]).await;
    assert_eq!(
        remaining,
        ["2", "1", "0"],
        "one quota across both instances"
    );
    assert_eq!(status, 429);
    assert_eq!(logged(redis.port(), RECOVERY), 2);
    assert_eq!(
        metric_of(&clients[0], "momentum_ratelimit_store_up").await,
        1.0
    );
}

/// Reads through `client` until one is counted (its store is back): its remaining count.
async fn counted_read(client: &Client) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, headers) = read(client).await;
        if let Some(remaining) = headers.get("x-ratelimit-remaining") {
            assert_eq!(status, 200);
            return remaining.to_str().unwrap().to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "not counted again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn with_redis_killed_deny_answers_503_until_it_is_back() {
    let redis = DisposableRedis::start().unwrap();
    let store = in_redis(&redis, StoreFailure::Deny);
    let mut app = TestApp::spawn_with_store("read=2/min:3,auth=2/min:3", 5, store).await;
    let clients = instances(&mut app, 2).await;
    assert_eq!(read(&clients[1]).await.0, 200);

    redis.kill();
    for client in &clients {
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let refused = match client.contacts_list().send().await {
                Err(momentum_sdk::Error::ErrorResponse(resp)) => resp,
                other => panic!("expected a 503, got {other:?}"),
            };
            assert!(started.elapsed() < Duration::from_secs(1), "never hangs");
            assert_eq!(refused.status().as_u16(), 503);
            let headers = refused.headers().clone();
            assert!(headers.contains_key("retry-after"));
            assert_eq!(header(&headers, "ratelimit-policy"), "\"read\";q=2;w=60");
            assert!(!headers.contains_key("x-ratelimit-remaining"));
            assert_eq!(refused.into_inner().error.code, "service_unavailable");
        }
        // Calls limited per address, before any credential, are refused alike.
        let device = Client::builder(client.baseurl()).build().expect("a client");
        let login = device.auth_qr_sessions_create().send().await;
        assert_eq!(
            login.err().and_then(|e| e.status()).map(|s| s.as_u16()),
            Some(503)
        );
        let unchecked = "momentum_ratelimit_unchecked_total{class=\"read\",on_failure=\"deny\"}";
        assert_eq!(metric_of(client, unchecked).await, 3.0);
    }
    assert_eq!(logged(redis.port(), OUTAGE), 2, "once per instance");

    redis.restart().unwrap();
    let mut remaining = Vec::new();
    for client in &clients {
        remaining.push(counted_read(client).await);
    }
    assert_eq!(remaining, ["2", "1"], "a fresh quota, shared again");
    assert_eq!(logged(redis.port(), RECOVERY), 2);
}
